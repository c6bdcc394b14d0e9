import Foundation
import StylusCore
import TestSupport
import XCTest

/// FIFOs where files are expected: `catalog scan` and `render` finish and name them.
final class FIFOCommandTests: XCTestCase {
    var dir = ""

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "stylus-cli-fifo-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir + "/loras", withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    func testScanReportsAFIFOAndFinishes() throws {
        try FIFO.make(dir + "/loras/trap.safetensors")
        let r = try CLI.run(["catalog", "scan", "--db", dir + "/c.sqlite", dir + "/loras"], environment: ["STYLUS_HOME": dir], timeout: 60)
        XCTAssertFalse(r.timedOut, "catalog scan hung on a FIFO")
        XCTAssertTrue(r.stderr.contains("\(dir)/loras/trap.safetensors: a FIFO, not a regular file; skipped"), r.stderr)
    }

    func testRenderWithAFIFOCheckpointFails() throws {
        // Render loads the CLIP vocabulary before it reaches the checkpoint.
        _ = try RequiredFiles.clipVocabulary()
        try FIFO.make(dir + "/model.safetensors")
        let prompt = dir + "/p.sdprompt"
        try "---\ncheckpoint: \(dir)/model.safetensors\nsteps: 1\nsize: 64x64\n---\na cat\n".write(toFile: prompt, atomically: true, encoding: .utf8)
        let r = try CLI.run(["render", prompt], timeout: 60)
        XCTAssertFalse(r.timedOut, "render hung on a FIFO checkpoint")
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains("\(dir)/model.safetensors: a FIFO, not a regular file"), r.stderr)
    }
}
