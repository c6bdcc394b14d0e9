import StylusCore
import XCTest

/// The weights every feature shows (renderer, hovers, inlay hints, `parse --json`) against an
/// independent model of A1111 (`A1111Reference`): random prompts, balanced or not, must give the
/// identical spans and doubles.
final class A1111WeightsPropertyTests: XCTestCase {
    static let pieces: [String] = [
        "(", "(", ")", ")", "[", "[", "]", "]", ":", ":", "\\(", "\\)", "\\[", "\\]", "\\\\", "\\", "\\x",
        "a", "cat", "red fox", "house", ", ", ",", ".", " ", "  ", "\n", "\t", "\u{3000}", "\u{A0}", "\u{1C}",
        "BREAK", " BREAK ", "xBREAK", "BREAKy", "_BREAK", "éBREAK", "🙂BREAK", "BREAK\n", "AND", " AND ",
        ":1.2)", ": 0.5 )", ":-1)", ":+.5)", ":1.)", ":0)", ":1.2.3)", ":.)", ":1e3)", ":2", "1.5", "0.5", "3",
        "é", "猫", "🙂", "|", "<", ">", "#", "__w__",
    ]

    static func randomPrompt(_ rng: inout SeededGenerator, pieces: [String], maxLength: Int = 40) -> String {
        var text = ""
        for _ in 0..<Int(rng.next() % UInt64(maxLength)) { text += pieces[Int(rng.next() % UInt64(pieces.count))] }
        return text
    }

    /// Whether a closer pops a bracket while a bracket of the other kind opened after it is still open.
    static func closesAcross(_ text: String) -> Bool {
        var open: [Character] = []
        var escaped = false
        for c in text {
            if escaped { escaped = false; continue }
            switch c {
            case "\\": escaped = true
            case "(", "[": open.append(c)
            case ")", "]":
                let opener: Character = c == ")" ? "(" : "["
                guard let i = open.lastIndex(of: opener) else { continue }
                if i != open.count - 1 { return true }
                open.remove(at: i)
            default: break
            }
        }
        return false
    }

    static func same(_ a: Double, _ b: Double) -> Bool { a == b || (a.isNaN && b.isNaN) }

    func testTenThousandRandomPromptsWeighExactlyAsA1111() {
        var rng = SeededGenerator(seed: 2211)
        var compared = 0, a1111Errors = 0, unbalanced = 0, crossing = 0
        for _ in 0..<10_000 {
            let text = Self.randomPrompt(&rng, pieces: Self.pieces)
            let scan = PromptAttention.scan(Array(text.utf8))
            guard let expected = A1111Reference.attention(text) else {
                a1111Errors += 1
                XCTAssertTrue(scan.hasInvalidNumber, "A1111 raises on \(text.debugDescription); the scan must flag it")
                continue
            }
            XCTAssertFalse(scan.hasInvalidNumber, text.debugDescription)
            compared += 1
            let got = PromptAttention.spans(text)
            let equal = got.count == expected.count
                && zip(got, expected).allSatisfy { $0.text == $1.0 && Self.same($0.weight, $1.1) }
            if !equal {
                XCTFail("\(text.debugDescription):\n ours  \(got.map { ($0.text, $0.weight) })\n A1111 \(expected)")
                return
            }
            let opens = text.filter { $0 == "(" || $0 == "[" }.count, closes = text.filter { $0 == ")" || $0 == "]" }.count
            if opens != closes { unbalanced += 1 }
            if Self.closesAcross(text) { crossing += 1 }
        }
        // The generator must exercise what the property is about.
        XCTAssertGreaterThan(compared, 9_000)
        XCTAssertGreaterThan(unbalanced, 5_000)
        XCTAssertGreaterThan(crossing, 300)
        XCTAssertGreaterThan(a1111Errors, 10)
    }

    func testTenThousandRandomPromptsSplitAtANDWithPartWeightsAsA1111() {
        // No square brackets or `|`: prompt editing (checked separately) stays out of the way.
        let pieces = Self.pieces.filter { !$0.contains("[") && !$0.contains("]") && !$0.contains("|") }
            + ["<lora:x:0.5>", "<hypernet:y:1>", "<lora:>", "# comment\n", "#c", "\n#c\n", " :1.3", ": 0.7 ", "\n:2", " AND ", "AND:"]
        var rng = SeededGenerator(seed: 7)
        var multiPart = 0, weighted = 0
        for _ in 0..<10_000 {
            let text = Self.randomPrompt(&rng, pieces: pieces)
            let expected = A1111Reference.parts(text)
            let got = A1111Prompt(text, steps: 20)
            guard got.sections.count == expected.count else {
                return XCTFail("\(text.debugDescription): \(got.sections.count) parts, A1111 \(expected.count)")
            }
            if expected.count > 1 { multiPart += 1 }
            for (section, (partText, partWeight)) in zip(got.sections, expected) {
                if partWeight != 1 { weighted += 1 }
                XCTAssertEqual(section.schedule.count, 1, text.debugDescription)
                let step = section.schedule[0]
                XCTAssertEqual(step.text.string, partText, text.debugDescription)
                XCTAssertTrue(Self.same(section.weight, partWeight), "\(text.debugDescription): weight \(section.weight) vs \(partWeight)")
                guard let spans = A1111Reference.attention(partText) else { continue }
                XCTAssertEqual(step.spans.map(\.text), spans.map(\.0), text.debugDescription)
                XCTAssertTrue(zip(step.spans, spans).allSatisfy { Self.same($0.weight, $1.1) }, text.debugDescription)
            }
        }
        XCTAssertGreaterThan(multiPart, 2_000)
        XCTAssertGreaterThan(weighted, 500)
    }

    /// A1111's own examples of `parse_prompt_attention` and of the issue.
    func testDocumentedAttentionCases() {
        func check(_ text: String, _ expected: [(String, Double)], line: UInt = #line) {
            let got = PromptAttention.spans(text)
            XCTAssertEqual(got.map(\.text), expected.map(\.0), line: line)
            XCTAssertEqual(got.map(\.weight), expected.map(\.1), line: line)
        }
        check("normal text", [("normal text", 1)])
        check("an (important) word", [("an ", 1), ("important", 1.1), (" word", 1)])
        check("(unbalanced", [("unbalanced", 1.1)])
        check("\\(literal\\]", [("(literal]", 1)])
        check("(unnecessary)(parens)", [("unnecessaryparens", 1.1)])
        check("a (((house:1.3)) [on] a (hill:0.5), sun, (((sky))).", [
            ("a ", 1), ("house", 1.5730000000000004), (" ", 1.1), ("on", 1), (" a ", 1.1), ("hill", 0.55),
            (", sun, ", 1.1), ("sky", 1.4641000000000006), (".", 1.1),
        ])
        check("\\]([a:0.5), ", [("]", 1), ("a", 0.5 * (1 / 1.1)), (", ", 1 / 1.1)])
        check("a BREAK b", [("a", 1), ("BREAK", -1), ("b", 1)])
        XCTAssertTrue(PromptAttention.spans("a BREAK b")[1].isBreak)
        check("", [("", 1)])
    }

    /// `get_learned_conditioning_prompt_schedules(["…"], 10)` as A1111 documents it.
    func testDocumentedScheduleCases() {
        func g(_ prompt: String) -> [[String]] {
            A1111Prompt(prompt, isNegative: true, steps: 10).sections[0].schedule.map { ["\($0.endStep)", $0.text.string] }
        }
        XCTAssertEqual(g("test"), [["10", "test"]])
        XCTAssertEqual(g("a [b:3]"), [["3", "a "], ["10", "a b"]])
        XCTAssertEqual(g("a [b: 3]"), [["3", "a "], ["10", "a b"]])
        XCTAssertEqual(g("a [[[b]]:2]"), [["2", "a "], ["10", "a [[b]]"]])
        XCTAssertEqual(g("[(a:2):3]"), [["3", ""], ["10", "(a:2)"]])
        XCTAssertEqual(g("a [b : c : 1] d"), [["1", "a b  d"], ["10", "a  c  d"]])
        XCTAssertEqual(g("a[b:[c:d:2]:1]e"), [["1", "abe"], ["2", "ace"], ["10", "ade"]])
        XCTAssertEqual(g("a [unbalanced"), [["10", "a [unbalanced"]])
        XCTAssertEqual(g("a [b:.5] c"), [["5", "a  c"], ["10", "a b c"]])
        XCTAssertEqual(g("((a][:b:c [d:3]"), [["3", "((a][:b:c "], ["10", "((a][:b:c d"]])
        XCTAssertEqual(g("[a|(b:1.1)]"), (1...10).map { ["\($0)", $0 % 2 == 1 ? "a" : "(b:1.1)"] })
        // The prompt from the comment at the top of A1111's prompt_parser.py, 100 steps.
        let landscape = A1111Prompt(
            "fantasy landscape with a [mountain:lake:0.25] and [an oak:a christmas tree:0.75][ in foreground::0.6][: in background:0.25] [shoddy:masterful:0.5]",
            isNegative: true, steps: 100).sections[0].schedule.map { ["\($0.endStep)", $0.text.string] }
        XCTAssertEqual(landscape, [
            ["25", "fantasy landscape with a mountain and an oak in foreground shoddy"],
            ["50", "fantasy landscape with a lake and an oak in foreground in background shoddy"],
            ["60", "fantasy landscape with a lake and an oak in foreground in background masterful"],
            ["75", "fantasy landscape with a lake and an oak in background masterful"],
            ["100", "fantasy landscape with a lake and a christmas tree in background masterful"],
        ])
        // Each step's text is weighed on its own: emphasis inside a branch counts only there.
        let steps = A1111Prompt("[(a:2):3] b", isNegative: true, steps: 10).sections[0].schedule
        XCTAssertEqual(steps[0].spans.map(\.text), [" b"])
        XCTAssertEqual(steps[1].spans.map(\.weight), [2, 1])
    }

    func testWeightsMapBackToTheDocument() {
        let text = "a (cat <lora:x:1> fox # note\n) [dog BREAK bird"
        let prompt = A1111Prompt(text, steps: 20)
        func offset(_ s: String) -> Int { text.utf8.count - text[text.range(of: s)!.lowerBound...].utf8.count }
        XCTAssertEqual(prompt.weight(atSourceOffset: offset("cat")), 1.1)
        XCTAssertEqual(prompt.weight(atSourceOffset: offset("fox")), 1.1)
        XCTAssertEqual(prompt.weight(atSourceOffset: offset("dog")), 1 / 1.1)
        XCTAssertEqual(prompt.weight(atSourceOffset: offset("bird")), 1 / 1.1)
        XCTAssertEqual(prompt.weight(atSourceOffset: 0), 1)
        XCTAssertNil(prompt.weight(atSourceOffset: offset("lora")), "tags are removed before weighting")
        XCTAssertNil(prompt.weight(atSourceOffset: offset("note")), "comments are removed before weighting")
    }

    func testDeepNestingStaysLinear() {
        // A1111 multiplies every open group over the rest: quadratic (5·10⁹ multiplications here);
        // past the work limit the weights come from a linear computation (equal up to the last bits).
        // The work is counted, not timed.
        let n = 100_000
        let text = String(repeating: "(a", count: n) + String(repeating: ")", count: n)
        let scan = PromptAttention.scan(Array(text.utf8))
        XCTAssertEqual(scan.pieces.count, n)
        XCTAssertLessThanOrEqual(scan.weightUpdates, PromptAttention.exactWorkLimit + 2 * n)
        XCTAssertGreaterThan(scan.weightUpdates, 2 * n, "the exact products run up to the limit first")
        let spans = PromptAttention.merged(scan.pieces, bytes: Array(text.utf8))
        XCTAssertEqual(spans.map(\.text).joined(), String(repeating: "a", count: n))
        XCTAssertGreaterThan(spans.count, 1000)
        XCTAssertEqual(spans[0].weight, 1.1, accuracy: 1e-12)
        XCTAssertEqual(spans[2].weight, 1.1 * 1.1 * 1.1, accuracy: 1e-12)
        XCTAssertEqual(spans.last?.weight, .infinity, "1.1^100000 overflows, as in A1111")
    }
}
