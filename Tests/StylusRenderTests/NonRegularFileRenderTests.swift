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
