import StylusCore
import XCTest

final class PromptParserTests: XCTestCase {
    func assertWeights(_ prompt: String, _ expected: [(String, Double)], file: StaticString = #filePath, line: UInt = #line) {
        let got = weightedTexts(PromptParser.parse(prompt))
        XCTAssertEqual(got.map(\.0), expected.map(\.0), file: file, line: line)
        for (g, e) in zip(got, expected) {
            XCTAssertEqual(g.1, e.1, accuracy: 1e-9, "weight of \(e.0)", file: file, line: line)
        }
    }

    func testPlainText() {
        let syntax = PromptParser.parse("a cat, a dog")
        XCTAssertEqual(syntax.nodes.count, 1)
        XCTAssertTrue(syntax.diagnostics.isEmpty)
        guard case .text(let t) = syntax.nodes[0] else { return XCTFail() }
        XCTAssertEqual(t.value, "a cat, a dog")
        XCTAssertEqual(t.range.utf8, 0..<12)
    }

    func testEmphasisMultipliesLikeA1111() {
        assertWeights("(a)", [("a", 1.1)])
        assertWeights("((a))", [("a", 1.21)])
        assertWeights("[a]", [("a", 1 / 1.1)])
        assertWeights("(a:1.5)", [("a", 1.5)])
        assertWeights("(((house:1.3)))", [("house", 1.3 * 1.1 * 1.1)])
        assertWeights("x (a [b] c:0.5) y", [("x ", 1), ("a ", 0.5), ("b", 0.5 / 1.1), (" c", 0.5), (" y", 1)])
        assertWeights("( a : 1.2 )", [(" a ", 1.2)])
        assertWeights("(a:-0.5)", [("a", -0.5)])
    }

    func testExplicitWeightRecordsItsRange() {
        let syntax = PromptParser.parse("(cat:1.25)")
        guard case .emphasis(let e) = syntax.nodes[0] else { return XCTFail() }
        XCTAssertEqual(e.explicitWeight, 1.25)
        XCTAssertEqual(e.weightRange?.utf8, 5..<9)
        XCTAssertTrue(e.isClosed)
        XCTAssertEqual(e.range.utf8, 0..<10)
    }

    func testColonWithoutNumberIsLiteral() {
        let syntax = PromptParser.parse("(a:b) c:d")
        XCTAssertTrue(syntax.diagnostics.isEmpty)
        assertWeights("(a:b) c:d", [("a:b", 1.1), (" c:d", 1)])
    }

    func testEscapes() {
        let syntax = PromptParser.parse(#"miku \(vocaloid\), \[x\], a\\b"#)
        XCTAssertEqual(weightedTexts(syntax).map(\.0), [#"miku (vocaloid), [x], a\b"#])
        XCTAssertTrue(syntax.diagnostics.isEmpty)
    }

    func testPromptEditing() {
        let syntax = PromptParser.parse("a [cat:dog:0.5] b [fox:10] [owl::3]")
        let schedules = syntax.nodes.compactMap { node -> Schedule? in
            if case .schedule(let s) = node { return s }
            return nil
        }
        XCTAssertEqual(schedules.count, 3)
        XCTAssertEqual(schedules[0].when, 0.5)
        XCTAssertEqual(schedules[0].from.map(weightedTextsOf), "cat")
        XCTAssertEqual(weightedTextsOf(schedules[0].to), "dog")
        XCTAssertNil(schedules[1].from)
        XCTAssertEqual(weightedTextsOf(schedules[1].to), "fox")
        XCTAssertEqual(schedules[1].when, 10)
        XCTAssertEqual(schedules[2].from.map(weightedTextsOf), "owl")
        XCTAssertEqual(schedules[2].to, [])
        XCTAssertEqual(schedules[2].when, 3)
    }

    func testNestedEditingWithEmphasis() {
        let syntax = PromptParser.parse("a[b:[c:(d):2]:1]e")
        XCTAssertTrue(syntax.diagnostics.isEmpty)
        guard case .schedule(let outer) = syntax.nodes[1] else { return XCTFail("\(syntax.nodes)") }
        guard case .schedule(let inner) = outer.to[0] else { return XCTFail() }
        guard case .emphasis(let e) = inner.to[0] else { return XCTFail() }
        XCTAssertEqual(e.multiplier, 1.1)
    }

    func testScheduleWithSmallNumberGetsAHint() {
        let syntax = PromptParser.parse("[cat:0.5]")
        guard case .schedule = syntax.nodes[0] else { return XCTFail() }
        XCTAssertEqual(syntax.diagnostics.map(\.severity), [.hint])
        XCTAssertTrue(syntax.diagnostics[0].message.contains("(x:0.5)"))
    }

    func testBracketWithColonButNoNumberFallsBackToEmphasis() {
        let syntax = PromptParser.parse("[a:b]")
        guard case .emphasis(let e) = syntax.nodes[0] else { return XCTFail() }
        XCTAssertEqual(e.bracket, .square)
        XCTAssertEqual(weightedTextsOf(e.children), "a:b")
        XCTAssertEqual(codes(syntax.diagnostics), ["syntax"])
    }

    func testAlternation() {
        let syntax = PromptParser.parse("[cat|dog|(fox)] x")
        guard case .alternation(let a) = syntax.nodes[0] else { return XCTFail() }
        XCTAssertEqual(a.options.count, 3)
        XCTAssertEqual(weightedTextsOf(a.options[1]), "dog")
        XCTAssertEqual(a.range.utf8, 0..<15)
        XCTAssertTrue(syntax.diagnostics.isEmpty)
    }

    func testBreakKeyword() {
        let syntax = PromptParser.parse("a, b BREAK c BREAKING (x BREAK y)")
        let breaks = syntax.nodes.filter { if case .breakKeyword = $0 { true } else { false } }
        XCTAssertEqual(breaks.count, 1)
        XCTAssertEqual(breaks[0].range.utf8, 5..<10)
        // BREAK inside emphasis counts too (A1111 splits attention text on it).
        guard case .emphasis(let e) = syntax.nodes.last else { return XCTFail() }
        XCTAssertTrue(e.children.contains { if case .breakKeyword = $0 { true } else { false } })
    }

    func testANDSectionsWithWeights() {
        let syntax = PromptParser.parse("a cat :1.2 AND a dog :0.8 AND bird")
        XCTAssertEqual(syntax.sections.count, 3)
        XCTAssertEqual(syntax.sections.map(\.weight), [1.2, 0.8, nil])
        XCTAssertNil(syntax.sections[0].andRange)
        XCTAssertEqual(syntax.sections[1].andRange?.utf8, 11..<14)
        XCTAssertEqual(weightedTexts(syntax).map(\.0), ["a cat", " a dog", " bird"])
        XCTAssertTrue(syntax.diagnostics.isEmpty)
    }

    func testANDIsLiteralInNegativePromptsAndLowercase() {
        XCTAssertEqual(PromptParser.parse("cats AND dogs", isNegative: true).sections.count, 1)
        XCTAssertEqual(PromptParser.parse("cats and dogs").sections.count, 1)
        XCTAssertEqual(PromptParser.parse("SANDY").sections.count, 1)
    }

    func testTrailingWeightWithoutANDIsExplained() {
        let syntax = PromptParser.parse("1girl, score:9")
        XCTAssertEqual(syntax.sections[0].weight, 9)
        XCTAssertEqual(syntax.diagnostics.map(\.severity), [.information])
    }

    func testComments() {
        let syntax = PromptParser.parse("a cat # (unclosed comment\nb")
        XCTAssertTrue(syntax.diagnostics.isEmpty)
        XCTAssertTrue(syntax.nodes.contains { if case .comment(let r) = $0 { r.utf8 == 6..<25 } else { false } })
        XCTAssertEqual(weightedTexts(syntax).map(\.0), ["a cat ", "\nb"])
    }

    func testLoRATags() {
        let syntax = PromptParser.parse("x <lora:add_detail:0.8> <lora:my lora v2:0.5:1.2> <lyco:foo:te=0.3:unet=0.7:lbw=IN02> <hypernet:h:0.6> <lora:bare>")
        let tags = syntax.tags
        XCTAssertEqual(tags.map(\.type), ["lora", "lora", "lyco", "hypernet", "lora"])
        XCTAssertEqual(tags.map(\.name), ["add_detail", "my lora v2", "foo", "h", "bare"])
        XCTAssertEqual(tags[0].textEncoderWeight, 0.8)
        XCTAssertEqual(tags[0].unetWeight, 0.8)
        XCTAssertEqual(tags[1].textEncoderWeight, 0.5)
        XCTAssertEqual(tags[1].unetWeight, 1.2)
        XCTAssertEqual(tags[2].textEncoderWeight, 0.3)
        XCTAssertEqual(tags[2].unetWeight, 0.7)
        XCTAssertEqual(tags[2].named("lbw")?.value, "IN02")
        XCTAssertEqual(tags[4].textEncoderWeight, 1.0)
        XCTAssertTrue(tags[2].isLoRA)
        XCTAssertFalse(tags[3].isLoRA)
        XCTAssertEqual(tags[0].range.utf8, 2..<23)
        XCTAssertEqual(tags[0].nameRange.utf8, 8..<18)
        XCTAssertTrue(syntax.diagnostics.isEmpty, "\(syntax.diagnostics)")
    }

    func testTagsInsideEmphasisKeepTheirColons() {
        let syntax = PromptParser.parse("(<lora:a:0.5> cat:1.2)")
        guard case .emphasis(let e) = syntax.nodes[0] else { return XCTFail() }
        XCTAssertEqual(e.explicitWeight, 1.2)
        XCTAssertEqual(syntax.tags.map(\.name), ["a"])
    }

    func testBadLoRAWeightAndUnclosedTag() {
        let bad = PromptParser.parse("<lora:x:abc>")
        XCTAssertEqual(codes(bad.diagnostics), ["syntax"])
        XCTAssertEqual(bad.diagnostics[0].severity, .error)
        XCTAssertEqual(bad.diagnostics[0].range.utf8, 8..<11)

        let unclosed = PromptParser.parse("<lora:x:0.5, cat\ndog")
        XCTAssertEqual(unclosed.tags.first?.isClosed, false)
        XCTAssertEqual(unclosed.diagnostics.first?.message.contains("never closed"), true)
        // The text after the line break is still parsed.
        XCTAssertEqual(weightedTexts(unclosed).map(\.0).last, "\ndog")
    }

    func testAngleBracketThatIsNotATag() {
        let syntax = PromptParser.parse("a < b, <3, x>y")
        XCTAssertTrue(syntax.tags.isEmpty)
        XCTAssertTrue(syntax.diagnostics.isEmpty)
    }

    func testWildcards() {
        let syntax = PromptParser.parse("a __hair/color__ girl, __x__")
        let names = syntax.nodes.compactMap { node -> String? in
            if case .wildcard(let w) = node { return w.name }
            return nil
        }
        XCTAssertEqual(names, ["hair/color", "x"])
        XCTAssertTrue(syntax.diagnostics.isEmpty)
    }

    // MARK: Error recovery

    func testUnclosedParenAppliesToTheRest() {
        let syntax = PromptParser.parse("a (b, c")
        XCTAssertEqual(codes(syntax.diagnostics), ["syntax"])
        XCTAssertEqual(syntax.diagnostics[0].range.utf8, 2..<3)
        XCTAssertEqual(syntax.diagnostics[0].range.lsp.start, Position(line: 0, character: 2))
        assertWeights("a (b, c", [("a ", 1), ("b, c", 1.1)])
        guard case .emphasis(let e) = syntax.nodes[1] else { return XCTFail() }
        XCTAssertFalse(e.isClosed)
    }

    func testStrayClosersAreLiteral() {
        let syntax = PromptParser.parse("a) b]")
        XCTAssertEqual(codes(syntax.diagnostics), ["syntax", "syntax"])
        XCTAssertEqual(weightedTexts(syntax).map(\.0), ["a) b]"])
    }

    func testMismatchedBracketsRecover() {
        let syntax = PromptParser.parse("([a) b")
        // '[' closes implicitly at ')', which closes '('.
        guard case .emphasis(let round) = syntax.nodes[0], case .emphasis(let square) = round.children[0] else {
            return XCTFail("\(syntax.nodes)")
        }
        XCTAssertTrue(round.isClosed)
        XCTAssertFalse(square.isClosed)
        XCTAssertEqual(syntax.diagnostics.count, 1)
        XCTAssertEqual(weightedTexts(syntax).last?.0, " b")
    }

    func testBadWeightNumber() {
        let syntax = PromptParser.parse("(a:1.2.3)")
        XCTAssertEqual(codes(syntax.diagnostics), ["syntax"])
        guard case .emphasis(let e) = syntax.nodes[0] else { return XCTFail() }
        XCTAssertNil(e.explicitWeight)
        XCTAssertTrue(e.isClosed)
    }

    func testTenThousandNestedBracketsAreCappedWithADiagnostic() {
        let depth = 10_000
        let text = String(repeating: "(", count: depth) + "x" + String(repeating: ")", count: depth)
        let syntax = PromptParser.parse(text)
        XCTAssertTrue(syntax.diagnostics.contains { $0.message.contains("nested deeper") })
        XCTAssertLessThanOrEqual(syntax.diagnostics.count, PromptParser.maxDiagnostics + 1)
        var maxDepth = 0
        func depthOf(_ nodes: [PromptNode], _ d: Int) {
            maxDepth = max(maxDepth, d)
            for n in nodes { if case .emphasis(let e) = n { depthOf(e.children, d + 1) } }
        }
        depthOf(syntax.nodes, 0)
        XCTAssertEqual(maxDepth, PromptParser.maxDepth)
    }

    func testPositionsOnEmojiAndCRLF() {
        let text = "🐱 (cat:1.2),\r\n🐶 <lora:dog:0.5>"
        let syntax = PromptParser.parse(text)
        guard case .emphasis(let e) = syntax.nodes[1] else { return XCTFail("\(syntax.nodes)") }
        XCTAssertEqual(e.range.lsp.start, Position(line: 0, character: 3))
        XCTAssertEqual(e.range.lsp.end, Position(line: 0, character: 12))
        let tag = syntax.tags[0]
        XCTAssertEqual(tag.range.lsp.start, Position(line: 1, character: 3))
        XCTAssertEqual(tag.range.lsp.end, Position(line: 1, character: 17))
    }

    /// Parsing never crashes on random input, and every node range is well-formed, inside the
    /// text, and nested inside its parent.
    func testRandomInputNeverBreaksTheTree() {
        var rng = SeededGenerator(seed: 42)
        let alphabet: [String] = ["(", ")", "[", "]", ":", "|", "<", ">", "\\", "#", "\n", "\r", " ", ",", "a", "b",
                                  "1", ".", "0.5", "BREAK", "AND", "lora", "<lora:", "__", "é", "🐱", "=", "te"]
        for _ in 0..<2000 {
            var text = ""
            for _ in 0..<Int(rng.next() % 60) { text += alphabet[Int(rng.next() % UInt64(alphabet.count))] }
            let source = SourceText(text)
            let syntax = PromptParser.parse(source)
            func check(_ nodes: [PromptNode], within outer: Range<Int>) {
                var last = outer.lowerBound
                for node in nodes {
                    let r = node.range.utf8
                    XCTAssertTrue(r.lowerBound >= last && r.upperBound <= outer.upperBound, "\(text.debugDescription): \(node)")
                    XCTAssertEqual(node.range.lsp.start, source.position(ofUTF8: r.lowerBound))
                    last = r.upperBound
                    switch node {
                    case .emphasis(let e): check(e.children, within: r)
                    case .alternation(let a): for o in a.options { check(o, within: r) }
                    case .schedule(let s):
                        if let f = s.from { check(f, within: r) }
                        check(s.to, within: r)
                    default: break
                    }
                }
            }
            for section in syntax.sections { check(section.nodes, within: 0..<source.utf8Count) }
            for d in syntax.diagnostics { XCTAssertTrue(d.range.utf8.upperBound <= source.utf8Count) }
        }
    }

    func testLargePromptParsesInLinearTime() {
        // Growth, not speed: 8 MB may take at most 3x the time per byte of 1 MB (parse, lint and
        // A1111's weights). Best of three runs each, so a busy machine does not decide.
        let unit = "masterpiece, (best quality:1.2), 1girl, [silver armor], <lora:castle_v2:0.8>, [cat:dog:0.5] BREAK (a [b) c] "
        func seconds(_ megabytes: Int) -> Double {
            let text = String(repeating: unit, count: megabytes * 1_000_000 / unit.utf8.count)
            var best = Double.infinity
            for _ in 0..<3 {
                let clock = ContinuousClock()
                let start = clock.now
                let file = PromptFile(text: text)
                _ = PromptLinter().diagnostics(for: file)
                let weights = file.a1111Positive
                XCTAssertEqual(weights.sections.count, 1)
                let d = clock.now - start
                best = min(best, Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18)
            }
            return best
        }
        let small = seconds(1), large = seconds(8)
        XCTAssertLessThan(large / small, 8 * 3, "1 MB: \(small) s, 8 MB: \(large) s")
    }
}

func weightedTextsOf(_ nodes: [PromptNode]) -> String {
    var out = ""
    PromptNode.walk(nodes) { node, _ in if case .text(let t) = node { out += t.value } }
    return out
}
