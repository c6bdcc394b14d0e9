import Foundation
import StylusCatalog
import StylusCore
import TestSupport
import XCTest

/// A FIFO in a LoRA folder (as a model or as a sidecar) is reported by path and skipped; the
/// scan finishes.
final class ScannerFIFOTests: XCTestCase {
    func testScanSkipsFIFOsAndFinishes() throws {
        let dir = try Support.tempDir()
        let folder = dir + "/loras"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try Support.writeLoRA(folder + "/real.safetensors", metadata: ["ss_output_name": "real"])
        try FIFO.make(folder + "/trap.safetensors")
        try FIFO.make(folder + "/real.civitai.info")
        let store = try CatalogStore(path: dir + "/c.sqlite")
        let report = try Deadline.run(within: 20, "scanning a folder with FIFOs", unblock: {
            FIFO.releaseReaders(folder + "/trap.safetensors")
            FIFO.releaseReaders(folder + "/real.civitai.info")
        }) {
            Result { try FolderScanner(store: store).scan(folder) }
        }.get()
        XCTAssertEqual(report.added, 1)
        XCTAssertEqual(report.skipped.map(\.location), [folder + "/trap.safetensors"])
        XCTAssertEqual(report.skipped.first?.reason, "a FIFO, not a regular file; skipped")
    }
}
