import Foundation
import StylusRender
import TestSupport
import XCTest

/// A FIFO given as the checkpoint or found in a LoRA folder is an error naming it, never a hang.
final class NonRegularFileRenderTests: XCTestCase {
    var dir = ""

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "stylus-render-fifo-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    func testFIFOCheckpointIsAnError() throws {
        let fifo = dir + "/model.safetensors"
        try FIFO.make(fifo)
        let opened = try Deadline.run(within: 10, "opening a FIFO checkpoint", unblock: { FIFO.releaseReaders(fifo) }) {
            Result { try Checkpoint(path: fifo) }
        }
        XCTAssertThrowsError(try opened.get()) { e in XCTAssertTrue("\(e)".contains("a FIFO, not a regular file"), "\(e)") }
    }

    func testLoRANameResolutionPassesFIFOs() throws {
        let folder = dir, fifo = dir + "/trap.safetensors"
        try FIFO.make(fifo)
        let found = try Deadline.run(within: 10, "resolving a LoRA name beside a FIFO", unblock: { FIFO.releaseReaders(fifo) }) {
            LoRALibrary(directories: [folder]).resolve("by-output-name")
        }
        XCTAssertNil(found)
        let loaded = try Deadline.run(within: 10, "loading a FIFO LoRA", unblock: { FIFO.releaseReaders(fifo) }) {
            Result { try LoRAFile(path: fifo) }
        }
        XCTAssertThrowsError(try loaded.get()) { e in XCTAssertTrue("\(e)".contains("a FIFO, not a regular file"), "\(e)") }
    }
}

/// `lora_dirs: [/]` is refused with a message instead of walking the disk, and nothing is walked
/// until a name must be resolved.
final class LoRAFolderBoundaryTests: XCTestCase {
    func testRootFolderIsRefusedWithAMessage() throws {
        let library = LoRALibrary(directories: ["/"])
        let files = try Deadline.run(within: 10, "resolving a LoRA with lora_dirs: [/]") { library.files }
        XCTAssertEqual(files, [])
        XCTAssertEqual(library.notes.count, 1)
        XCTAssertTrue(library.notes[0].contains("whole disk"), "\(library.notes)")
        XCTAssertNil(library.resolve("anything"))
    }

    func testSafetensorsErrorsDoNotEchoFileBytes() throws {
        let path = NSTemporaryDirectory() + "stylus-passwd-\(UUID().uuidString).safetensors"
        let text = "root:x:0:0:root:/root:/bin/bash\n"
        XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data(text.utf8)))
        defer { try? FileManager.default.removeItem(atPath: path) }
        var n: UInt64 = 0
        for (i, b) in text.utf8.prefix(8).enumerated() { n |= UInt64(b) << (8 * UInt64(i)) }
        XCTAssertThrowsError(try LoRAFile(path: path)) { e in
            XCTAssertFalse("\(e)".contains("\(n)"), "\(e)")
            XCTAssertFalse("\(e)".contains("root:x"), "\(e)")
            XCTAssertTrue("\(e)".contains("not safetensors"), "\(e)")
        }
    }
}
