import Foundation
import StylusML
import TestSupport
import XCTest

/// A FIFO named like a model is refused at once (opening it for reading used to wait forever).
final class NonRegularFileTests: XCTestCase {
    var dir = ""

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "stylus-fifo-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    func testFIFOIsRefusedWithoutBlocking() throws {
        let fifo = dir + "/trap.safetensors"
        try FIFO.make(fifo)
        let header = try Deadline.run(within: 10, "reading a FIFO's header", unblock: { FIFO.releaseReaders(fifo) }) {
            Result { try SafetensorsHeader.read(at: fifo) }
        }
        XCTAssertThrowsError(try header.get()) { e in
            XCTAssertEqual("\(e)", "\(fifo): a FIFO, not a regular file; name a .safetensors file")
        }
        let mapped = try Deadline.run(within: 10, "mapping a FIFO", unblock: { FIFO.releaseReaders(fifo) }) {
            Result { try SafetensorsFile(path: fifo) }
        }
        XCTAssertThrowsError(try mapped.get())
        let hash = try Deadline.run(within: 10, "hashing a FIFO", unblock: { FIFO.releaseReaders(fifo) }) {
            Result { try SHA256.hexOfFile(fifo) }
        }
        XCTAssertThrowsError(try hash.get()) { e in XCTAssertTrue("\(e)".contains("a FIFO, not a regular file"), "\(e)") }
    }

    func testFoldersAndDevicesAreNamed() throws {
        XCTAssertEqual(RegularFile.problem(at: dir), "a folder, not a regular file")
        XCTAssertEqual(RegularFile.problem(at: "/dev/null"), "a device, not a regular file")
        XCTAssertNotNil(RegularFile.problem(at: dir + "/missing"))
        XCTAssertTrue(FileManager.default.createFile(atPath: dir + "/plain", contents: Data([1])))
        XCTAssertNil(RegularFile.problem(at: dir + "/plain"))
        XCTAssertThrowsError(try SafetensorsHeader.read(at: "/dev/zero")) { e in
            XCTAssertTrue("\(e)".contains("a device, not a regular file"), "\(e)")
        }
    }
}
