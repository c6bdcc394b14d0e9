import Foundation
import StylusCatalog
import XCTest

/// Test helpers: temporary folders, committed fixtures, tiny safetensors writers.
enum Support {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fixtures/Catalog").path

    static func fixture(_ name: String) -> String { fixtures + "/" + name }

    static func tempDir(_ name: String = #function) throws -> String {
        let safe = name.filter { $0.isLetter || $0.isNumber }
        let dir = NSTemporaryDirectory() + "stylus-catalog-tests/\(safe)-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    /// Writes a small valid LoRA-like safetensors file: `tensorBytes` of data in one U8 tensor.
    @discardableResult
    static func writeLoRA(_ path: String, metadata: [String: String], tensorBytes: [UInt8] = Array(0..<64)) throws -> [UInt8] {
        let header: [String: Any] = [
            "lora_unet_x.lora_down.weight": ["dtype": "U8", "shape": [tensorBytes.count], "data_offsets": [0, tensorBytes.count]],
            "__metadata__": metadata,
        ]
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        while json.count % 8 != 0 { json.append(0x20) }
        var bytes = [UInt8]()
        var n = UInt64(json.count).littleEndian
        withUnsafeBytes(of: &n) { bytes += $0 }
        bytes += json
        bytes += tensorBytes
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return tensorBytes
    }

    static func write(_ path: String, _ bytes: [UInt8]) throws {
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }

    static func lengthPrefix(_ n: UInt64) -> [UInt8] {
        var le = n.littleEndian
        return withUnsafeBytes(of: &le) { Array($0) }
    }

    /// sha256sum through a real process (coreutils), to check our SHA-256 against another implementation.
    static func sha256sum(_ path: String) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["sha256sum", path]
        let pipe = Pipe()
        p.standardOutput = pipe
        try p.run()
        p.waitUntilExit()
        let out = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        return String(out.prefix(64))
    }
}
