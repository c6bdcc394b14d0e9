import StylusCore
import StylusRender
import XCTest

final class PromptFragmentsTests: XCTestCase {
    func testA1111Fragments() {
        let f = A1111Prompt("a (red:1.3) cat BREAK on a [blue] mat <lora:foo:0.5>, ((sharp))", steps: 20).fragments()
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

    func testPromptEditingTakesTheTextOfTheMiddleStep() {
        func f(_ p: String) -> [PromptFragment] { A1111Prompt(p, steps: 20).fragments() }
        XCTAssertEqual(f("[cat:dog:0.8]"), [.text("cat", weight: 1)])
        XCTAssertEqual(f("[cat:dog:0.2]"), [.text("dog", weight: 1)])
        XCTAssertEqual(f("[cat:dog:15]"), [.text("cat", weight: 1)])
        XCTAssertEqual(f("[cat:dog:10]"), [.text("cat", weight: 1)], "step 10 of 20 still uses 'from'")
        XCTAssertEqual(f("[cat:dog:9]"), [.text("dog", weight: 1)])
        // Step 10 of [cat|dog] is the second option (A1111 alternates from step 1).
        XCTAssertEqual(f("[cat|dog]"), [.text("dog", weight: 1)])
    }

    func testUnbalancedBracketsWeighAsInA1111() {
        // The example: `:0.5)` closes the `(`, the `[` is closed implicitly at the end.
        let f = A1111Prompt("\\]([a:0.5), ", steps: 20).fragments()
        XCTAssertEqual(f.count, 3, "\(f)")
        XCTAssertEqual(f[0], .text("]", weight: 1))
        XCTAssertEqual(f[1], .text("a", weight: Float(0.5 * (1 / 1.1))))
        // A1111 trims the end of each AND part (`re_weight`), hence "," without its space.
        XCTAssertEqual(f[2], .text(",", weight: Float(1 / 1.1)))
    }
}
