import Foundation
import StylusML
import XCTest

/// Builds safetensors files byte by byte, so hostile cases are exactly what the test says.
enum SafetensorsBuilder {
    static func file(headerJSON: String, data: [UInt8] = [], claimedLength: UInt64? = nil) -> [UInt8] {
        let json = Array(headerJSON.utf8)
        return file(headerBytes: json, data: data, claimedLength: claimedLength)
    }

    static func file(headerBytes json: [UInt8], data: [UInt8] = [], claimedLength: UInt64? = nil) -> [UInt8] {
        let n = claimedLength ?? UInt64(json.count)
        var bytes: [UInt8] = (0..<8).map { UInt8(truncatingIfNeeded: n >> (8 * UInt64($0))) }
        bytes += json
        bytes += data
        return bytes
    }

    static func floats(_ values: [Float]) -> [UInt8] {
        values.flatMap { v -> [UInt8] in
            let b = v.bitPattern.littleEndian
            return (0..<4).map { UInt8(truncatingIfNeeded: b >> (8 * UInt32($0))) }
        }
    }
}

final class SafetensorsTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("stylus-st-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    func write(_ bytes: [UInt8], name: String = "t.safetensors") throws -> String {
        let url = directory.appendingPathComponent(name)
        try Data(bytes).write(to: url)
        return url.path
    }

    static var fixtures: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures")
    }

    // MARK: valid files

    func testReadsValidFileHeaderAndData() throws {
        let json = #"{"__metadata__":{"format":"pt","n":"2"},"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[2],"data_offsets":[16,24]}}"#
        let path = try write(SafetensorsBuilder.file(headerJSON: json, data: SafetensorsBuilder.floats([1, 2, 3, 4, -1, 0.5])))

        let header = try SafetensorsHeader.read(at: path)
        XCTAssertEqual(header.metadata, ["format": "pt", "n": "2"])
        XCTAssertEqual(header.tensorNames, ["w", "b"])
        XCTAssertEqual(header["w"]?.shape, [2, 2])
        XCTAssertEqual(header["w"]?.dtype, .f32)
        XCTAssertEqual(header["b"]?.dataOffsets, 16..<24)
        XCTAssertEqual(header.dataStart, 8 + json.utf8.count)
        XCTAssertEqual(header.dataLength, 24)

        let file = try SafetensorsFile(path: path)
        XCTAssertEqual(try file.floats("w"), [1, 2, 3, 4])
        XCTAssertEqual(try file.floats("b"), [-1, 0.5])
        let sum = try file.withFloats("w") { $0.reduce(0, +) }
        XCTAssertEqual(sum, 10)
        XCTAssertThrowsError(try file.floats("missing")) { error in
            XCTAssertEqual((error as? SafetensorsError)?.reason, .tensorNotFound("missing"))
        }
    }

    func testHeaderPaddingAndUnknownFieldsAndNonStringMetadata() throws {
        let json = #"{"__metadata__":{"dim":4,"ok":true},"x":{"dtype":"U8","shape":[3],"data_offsets":[0,3],"extra":1}}   "#
        let path = try write(SafetensorsBuilder.file(headerJSON: json, data: [1, 2, 3]))
        let header = try SafetensorsHeader.read(at: path)
        XCTAssertEqual(header.metadata, ["dim": "4", "ok": "true"])
        XCTAssertEqual(header["x"]?.dtype, .u8)
        let file = try SafetensorsFile(path: path)
        XCTAssertThrowsError(try file.floats("x")) { error in
            XCTAssertEqual((error as? SafetensorsError)?.reason, .unsupportedDType(tensor: "x", dtype: "U8"))
        }
    }

    func testEmptyHeaderObjectIsValid() throws {
        let path = try write(SafetensorsBuilder.file(headerJSON: "{}"))
        let header = try SafetensorsHeader.read(at: path)
        XCTAssertTrue(header.tensors.isEmpty)
        XCTAssertEqual(try SafetensorsFile(path: path).tensorNames, [])
    }

    func testUnknownDTypeParsesButSkipsByteCheck() throws {
        let json = #"{"x":{"dtype":"F4","shape":[4],"data_offsets":[0,2]}}"#
        let header = try SafetensorsHeader.read(at: try write(SafetensorsBuilder.file(headerJSON: json, data: [0, 0])))
        XCTAssertEqual(header["x"]?.dtype, .other("F4"))
    }

    func testMatchesPythonSafetensorsFixture() throws {
        let path = Self.fixtures.appendingPathComponent("Safetensors/small.safetensors").path
        let header = try SafetensorsHeader.read(at: path)
        XCTAssertEqual(header.metadata, ["ss_output_name": "tiny_lora", "ss_network_dim": "4", "note": "ünïcödé ✓"])
        XCTAssertEqual(Set(header.tensorNames), ["a.f32", "b.f16", "c.bf16", "d.f64", "e.i64", "f.scalar", "g.empty"])
        XCTAssertEqual(header["b.f16"]?.shape, [2, 2, 2])
        XCTAssertEqual(header["f.scalar"]?.shape, [])
        XCTAssertEqual(header["e.i64"]?.dtype, .i64)

        let file = try SafetensorsFile(path: path)
        func ramp(_ n: Int, _ scale: Float) -> [Float] { (0..<n).map { Float($0) * scale - 1 } }
        XCTAssertEqual(try file.floats("a.f32"), ramp(6, 0.25))
        XCTAssertEqual(try file.floats("b.f16"), ramp(8, 0.5))
        XCTAssertEqual(try file.floats("c.bf16"), ramp(5, 0.125))
        XCTAssertEqual(try file.floats("d.f64"), ramp(3, 0.75))
        XCTAssertEqual(try file.floats("f.scalar"), [3.5])
        XCTAssertEqual(try file.floats("g.empty"), [])
        XCTAssertEqual(try file.withFloats("c.bf16") { Array($0) }, ramp(5, 0.125))
    }

    // MARK: hostile files

    func assertRejected(_ bytes: [UInt8], file: StaticString = #filePath, line: UInt = #line,
                        _ check: (SafetensorsError.Reason) -> Bool) throws {
        let path = try write(bytes)
        for attempt in 0..<2 {
            do {
                if attempt == 0 { _ = try SafetensorsHeader.read(at: path) } else { _ = try SafetensorsFile(path: path) }
                XCTFail("accepted a bad file", file: file, line: line)
            } catch {
                XCTAssertTrue(check(error.reason), "unexpected reason \(error.reason)", file: file, line: line)
                XCTAssertEqual(error.path, path, file: file, line: line)
                XCTAssertTrue(error.description.hasPrefix(path + ": "), file: file, line: line)
            }
        }
        // The pure parser agrees with the file readers.
        XCTAssertThrowsError(try SafetensorsHeader.parse(bytes, fileSize: bytes.count), file: file, line: line)
    }

    func testRejectsTruncatedLengthPrefix() throws {
        try assertRejected([]) { if case .truncatedLengthPrefix(0) = $0 { true } else { false } }
        try assertRejected([1, 0, 0]) { if case .truncatedLengthPrefix(3) = $0 { true } else { false } }
    }

    func testRejectsHeaderLongerThanFile() throws {
        try assertRejected(SafetensorsBuilder.file(headerJSON: "{}", claimedLength: 100)) {
            if case .headerPastEndOfFile(100, 10) = $0 { true } else { false }
        }
    }

    func testRejectsHugeClaimedHeadersWithoutAllocating() throws {
        for claimed: UInt64 in [2 << 30, UInt64(SafetensorsHeader.maxHeaderLength) + 1, .max] {
            try assertRejected(SafetensorsBuilder.file(headerJSON: "{}", claimedLength: claimed)) {
                if case .headerTooLarge(claimed, SafetensorsHeader.maxHeaderLength) = $0 { true } else { false }
            }
        }
    }

    func testRejectsBadJSON() throws {
        for text in ["", "{", "not json", #"{"a":1,}"#, #"{"a" 1}"#, "{}x", #"{"a":"\x"}"#, #"{"a":"\ud800"}"#,
                     "{\"a\":\"tab\there\"}", #"{"a":01}"#, #"{"a":tru}"#,
                     String(repeating: "[", count: 5000) + String(repeating: "]", count: 5000)] {
            try assertRejected(SafetensorsBuilder.file(headerJSON: text)) {
                if case .invalidJSON = $0 { true } else { false }
            }
        }
    }

    func testRejectsDuplicateKeys() throws {
        let json = #"{"x":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"x":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}"#
        try assertRejected(SafetensorsBuilder.file(headerJSON: json, data: [0])) {
            if case let .invalidJSON(detail) = $0 { detail.contains("duplicate key") } else { false }
        }
    }

    func testRejectsInvalidUTF8() throws {
        try assertRejected(SafetensorsBuilder.file(headerBytes: Array("{\"".utf8) + [0xFF, 0xFE] + Array("\":1}".utf8))) {
            $0 == .headerNotUTF8
        }
    }

    func testRejectsNonObjectHeaders() throws {
        for text in ["[]", "42", "\"s\"", "null"] {
            try assertRejected(SafetensorsBuilder.file(headerJSON: text)) { $0 == .headerNotObject }
        }
    }

    func testRejectsMalformedEntries() throws {
        let cases: [(String, String)] = [
            (#"{"x":5}"#, "must be an object"),
            (#"{"x":{"shape":[1],"data_offsets":[0,1]}}"#, "missing \"dtype\""),
            (#"{"x":{"dtype":"U8","data_offsets":[0,1]}}"#, "missing \"shape\""),
            (#"{"x":{"dtype":"U8","shape":[1]}}"#, "missing \"data_offsets\""),
            (#"{"x":{"dtype":8,"shape":[1],"data_offsets":[0,1]}}"#, "\"dtype\" must be"),
            (#"{"x":{"dtype":"U8","shape":[-1],"data_offsets":[0,1]}}"#, "\"shape\" must be"),
            (#"{"x":{"dtype":"U8","shape":[1.0],"data_offsets":[0,1]}}"#, "\"shape\" must be"),
            (#"{"x":{"dtype":"U8","shape":[true],"data_offsets":[0,1]}}"#, "\"shape\" must be"),
            (#"{"x":{"dtype":"U8","shape":"1","data_offsets":[0,1]}}"#, "\"shape\" must be"),
            (#"{"x":{"dtype":"U8","shape":[1],"data_offsets":[0]}}"#, "\"data_offsets\" must be"),
            (#"{"x":{"dtype":"U8","shape":[1],"data_offsets":[0,1e0]}}"#, "\"data_offsets\" must be"),
            (#"{"x":{"dtype":"U8","shape":[1],"data_offsets":[0,99999999999999999999999]}}"#, "\"data_offsets\" must be"),
            (#"{"x":{"dtype":"U8","shape":[0],"data_offsets":[1,0]}}"#, "is after end"),
            (#"{"x":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,1]}}"#, "too many elements"),
            (#"{"__metadata__":["a"],"x":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}"#, "must be an object of strings"),
        ]
        for (json, expected) in cases {
            try assertRejected(SafetensorsBuilder.file(headerJSON: json, data: [0])) {
                if case let .invalidEntry(_, problem) = $0 { problem.contains(expected) } else { false }
            }
        }
    }

    func testRejectsByteCountMismatch() throws {
        let json = #"{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}"#
        try assertRejected(SafetensorsBuilder.file(headerJSON: json, data: [0, 0, 0, 0])) {
            $0 == .byteCountMismatch(tensor: "x", expected: 8, actual: 4)
        }
    }

    func testRejectsOffsetsPastEndOfFile() throws {
        let json = #"{"x":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#
        try assertRejected(SafetensorsBuilder.file(headerJSON: json, data: [0, 0, 0, 0])) {
            $0 == .dataOutOfRange(tensor: "x", end: 16, dataSize: 4)
        }
        let huge = #"{"x":{"dtype":"U8","shape":[9223372036854775807],"data_offsets":[0,9223372036854775807]}}"#
        try assertRejected(SafetensorsBuilder.file(headerJSON: huge, data: [0])) {
            if case .dataOutOfRange = $0 { true } else { false }
        }
    }

    func testRejectsOverlapsHolesAndTrailingBytes() throws {
        let overlap = #"{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"b":{"dtype":"U8","shape":[4],"data_offsets":[2,6]}}"#
        try assertRejected(SafetensorsBuilder.file(headerJSON: overlap, data: [UInt8](repeating: 0, count: 6))) {
            $0 == .overlappingTensors("a", "b")
        }
        // Listed out of order in the JSON is fine; a hole between tensors is not.
        let hole = #"{"b":{"dtype":"U8","shape":[2],"data_offsets":[4,6]},"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}}"#
        try assertRejected(SafetensorsBuilder.file(headerJSON: hole, data: [UInt8](repeating: 0, count: 6))) {
            $0 == .unclaimedData(offset: 2, length: 2)
        }
        let trailing = #"{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}}"#
        try assertRejected(SafetensorsBuilder.file(headerJSON: trailing, data: [0, 0, 9])) {
            $0 == .unclaimedData(offset: 2, length: 1)
        }
        let unordered = #"{"b":{"dtype":"U8","shape":[2],"data_offsets":[2,4]},"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}}"#
        let header = try SafetensorsHeader.read(at: try write(SafetensorsBuilder.file(headerJSON: unordered, data: [1, 2, 3, 4])))
        XCTAssertEqual(header.tensorNames, ["a", "b"])
    }

    func testMissingFileAndDirectoryGiveIOErrors() throws {
        let missing = directory.appendingPathComponent("nope.safetensors").path
        XCTAssertThrowsError(try SafetensorsHeader.read(at: missing)) { error in
            guard let e = error as? SafetensorsError, case .io = e.reason else { return XCTFail("\(error)") }
            XCTAssertTrue(e.description.contains("nope.safetensors"))
        }
        XCTAssertThrowsError(try SafetensorsFile(path: directory.path))
    }

    func testRandomGarbageNeverCrashes() throws {
        var rng = SystemRandomNumberGenerator()
        for size in [8, 9, 16, 64, 300] {
            for _ in 0..<20 {
                var bytes = (0..<size).map { _ in UInt8.random(in: 0...255, using: &rng) }
                // Keep the claimed length plausible half the time so the JSON parser sees garbage too.
                if Bool.random(using: &rng) {
                    let n = UInt64(size - 8)
                    for k in 0..<8 { bytes[k] = UInt8(truncatingIfNeeded: n >> (8 * UInt64(k))) }
                }
                XCTAssertThrowsError(try SafetensorsHeader.parse(bytes, fileSize: bytes.count))
            }
        }
    }
}
