import StylusCore
import StylusRender
import XCTest

final class PromptFragmentsTests: XCTestCase {
    func testA1111Fragments() {
        let syntax = PromptParser.parse("a (red:1.3) cat BREAK on a [blue] mat <lora:foo:0.5>, ((sharp))")
        let f = syntax.fragments(steps: 20)
        XCTAssertEqual(f.count, 8, "\(f)")
        XCTAssertEqual(f[1], .text("red", weight: 1.3))
        XCTAssertEqual(f[3], .chunkBreak)
        guard case let .text(blue, w) = f[5] else { return XCTFail("\(f)") }
        XCTAssertEqual(blue, "blue")
        XCTAssertEqual(w, Float(1 / 1.1), accuracy: 1e-6)
        guard case let .text(last, w2) = f[7] else { return XCTFail("\(f)") }
        XCTAssertEqual(last, "sharp")
        XCTAssertEqual(w2, Float(1.1 * 1.1), accuracy: 1e-6)
        // the LoRA tag leaves only its surrounding text
        guard case let .text(mid, _) = f[6] else { return XCTFail("\(f)") }
        XCTAssertEqual(mid, " mat , ")
    }

    func testPromptEditingPicksTheBranchActiveForMostSteps() {
        XCTAssertEqual(PromptParser.parse("[cat:dog:0.8]").fragments(steps: 20), [.text("cat", weight: 1)])
        XCTAssertEqual(PromptParser.parse("[cat:dog:0.2]").fragments(steps: 20), [.text("dog", weight: 1)])
        XCTAssertEqual(PromptParser.parse("[cat:dog:15]").fragments(steps: 20), [.text("cat", weight: 1)])
        XCTAssertEqual(PromptParser.parse("[cat|dog]").fragments(steps: 20), [.text("cat", weight: 1)])
    }
}
