import Foundation
import StylusCatalog
import StylusCore
import StylusML
import TestSupport
import XCTest

/// The scan stays inside the folder it was given: symlinks out are reported and not followed,
/// loops end, names that are not UTF-8 are reported by path, `/` is refused.
final class ScannerBoundaryTests: XCTestCase {
    func testSymlinksAreFollowedOnlyInsideTheFolderAndLoopsEnd() throws {
        let dir = try Support.tempDir()
        let folder = dir + "/loras", outside = dir + "/outside"
        for d in [folder + "/sub", outside] { try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true) }
        _ = try Support.writeLoRA(folder + "/sub/inner.safetensors", metadata: ["ss_output_name": "inner"])
        _ = try Support.writeLoRA(outside + "/secret.safetensors", metadata: ["ss_output_name": "secret"])
        let fm = FileManager.default
        try fm.createSymbolicLink(atPath: folder + "/out", withDestinationPath: outside)       // leads out
        try fm.createSymbolicLink(atPath: folder + "/root", withDestinationPath: "/")          // the disk
        try fm.createSymbolicLink(atPath: folder + "/sub/loop", withDestinationPath: folder)  // a loop
        try fm.createSymbolicLink(atPath: folder + "/alias.safetensors", withDestinationPath: folder + "/sub/inner.safetensors")
        try fm.createSymbolicLink(atPath: folder + "/escape.safetensors", withDestinationPath: outside + "/secret.safetensors")
        let store = try CatalogStore(path: dir + "/c.sqlite")
        let report = try Deadline.run(within: 30, "scanning a folder with symlinks out and a loop") {
            Result { try FolderScanner(store: store).scan(folder) }
        }.get()
        let skipped = Dictionary(report.skipped.map { ($0.location, $0.reason) }, uniquingKeysWith: { a, _ in a })
        XCTAssertTrue(skipped[folder + "/out"]?.contains("outside") == true, "\(report.skipped)")
        XCTAssertTrue(skipped[folder + "/root"]?.contains("outside") == true, "\(report.skipped)")
        XCTAssertTrue(skipped[folder + "/escape.safetensors"]?.contains("outside") == true, "\(report.skipped)")
        XCTAssertTrue(skipped[folder + "/sub/loop"]?.contains("already walked") == true, "\(report.skipped)")
        let paths = try store.allEntries().compactMap { $0.file?.path }
        XCTAssertFalse(paths.contains { $0.contains("secret") || $0.hasPrefix(outside) }, "\(paths)")
        XCTAssertTrue(paths.contains { $0.hasSuffix("inner.safetensors") }, "\(paths)")
    }

    func testNamesThatAreNotUTF8AreReportedByPath() throws {
        let dir = try Support.tempDir()
        let folder = dir + "/loras"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        _ = try Support.writeLoRA(folder + "/good.safetensors", metadata: ["ss_output_name": "good"])
        // "bad\xFF.safetensors" through the C API (Swift strings cannot hold the byte).
        var name = Array((folder + "/bad").utf8) + [0xFF] + Array(".safetensors".utf8) + [0]
        let fd = name.withUnsafeMutableBufferPointer { p in
            p.baseAddress!.withMemoryRebound(to: CChar.self, capacity: p.count) { open($0, O_CREAT | O_WRONLY, 0o644) }
        }
        XCTAssertGreaterThanOrEqual(fd, 0)
        close(fd)
        let store = try CatalogStore(path: dir + "/c.sqlite")
        let report = try FolderScanner(store: store).scan(folder)
        XCTAssertEqual(report.added, 1)
        XCTAssertEqual(report.skipped.map(\.location), [folder + "/bad\\xFF.safetensors"])
        XCTAssertTrue(report.skipped.first?.reason.contains("not valid UTF-8") == true)
    }

    func testTheWholeDiskIsRefused() throws {
        let dir = try Support.tempDir()
        let store = try CatalogStore(path: dir + "/c.sqlite")
        XCTAssertThrowsError(try FolderScanner(store: store).scan("/")) { e in
            XCTAssertTrue("\(e)".contains("whole disk"), "\(e)")
        }
        XCTAssertThrowsError(try FolderScanner(store: store).scan("/proc/..")) { e in
            XCTAssertTrue("\(e)".contains("whole disk"), "\(e)")
        }
    }

    func testTheWalkIsBounded() throws {
        let dir = try Support.tempDir()
        for i in 0..<50 { XCTAssertTrue(FileManager.default.createFile(atPath: dir + "/f\(i).safetensors", contents: Data())) }
        let walk = DirectoryWalk(root: dir, maxEntries: 20, matches: { _ in true }, reportable: { _ in true })
        XCTAssertTrue(walk.truncated)
        XCTAssertEqual(walk.files.count, 20)
        XCTAssertTrue(walk.skipped.last?.reason.contains("stopped after 20 entries") == true)
    }
}
