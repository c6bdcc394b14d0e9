import Foundation
import StylusRender
import XCTest

/// `<stem>-<n>.png` numbering: the next number after the highest, and a clear error (no overflow
/// trap) when a file already carries the largest number.
final class RenderOutputTests: XCTestCase {
    var dir = ""

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "stylus-render-output-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    func touch(_ name: String) { XCTAssertTrue(FileManager.default.createFile(atPath: dir + "/" + name, contents: Data())) }

    func testNumbersFollowTheHighest() throws {
        XCTAssertEqual(try RenderOutput.nextNumber(directory: dir, stem: "p"), 1)
        for name in ["p-3.png", "p-007.PNG", "p-x.png", "p--9.png", "p-+12.png", "q-50.png", "p-.png"] { touch(name) }
        XCTAssertEqual(try RenderOutput.nextNumber(directory: dir, stem: "p"), 8)
        touch("p-99999999999999999999999.png")  // beyond Int: not a number of the series
        XCTAssertEqual(try RenderOutput.nextNumber(directory: dir, stem: "p"), 8)
    }

    func testLargestNumberIsAClearErrorNotATrap() throws {
        touch("p-9223372036854775807.png")
        XCTAssertThrowsError(try RenderOutput.nextNumber(directory: dir, stem: "p")) { e in
            XCTAssertEqual("\(e)", "\(dir)/p-9223372036854775807.png: no p-<n>.png number is left after this one; rename or move it, or render with --out")
        }
        XCTAssertThrowsError(try RenderOutput.writeNew([1, 2, 3], beside: dir + "/p.sdprompt"))
    }

    func testOneBelowTheLargestTakesTheLastNumberThenStops() throws {
        touch("p-9223372036854775806.png")
        XCTAssertEqual(try RenderOutput.writeNew([1, 2, 3], beside: dir + "/p.sdprompt"), dir + "/p-9223372036854775807.png")
        XCTAssertThrowsError(try RenderOutput.writeNew([1, 2, 3], beside: dir + "/p.sdprompt")) { e in
            XCTAssertTrue("\(e)".contains("no p-<n>.png number is left"), "\(e)")
        }
    }
}
