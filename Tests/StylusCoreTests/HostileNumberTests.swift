import StylusCore
import TestSupport
import XCTest

/// Numbers a prompt file may carry (huge, tiny, not finite) never trap and are reported.
final class HostileNumberTests: XCTestCase {
    static let prompts = HostilePrompts.numbers

    func testFormatNumberHandlesEveryDouble() {
        XCTAssertEqual(formatNumber(1.2), "1.2")
        XCTAssertEqual(formatNumber(0.755), "0.76")
        XCTAssertEqual(formatNumber(1), "1")
        XCTAssertEqual(formatNumber(-0.001), "0")
        XCTAssertEqual(formatNumber(0.1 + 0.2, maxDecimals: 4), "0.3")
        XCTAssertEqual(formatNumber(1e30), "1e30")
        XCTAssertEqual(formatNumber(-1e308), "-1e308")
        XCTAssertEqual(formatNumber(Double("99999999999999999999")!), "1e20")
        XCTAssertEqual(formatNumber(9.2233720368547758e18), "9.223372036854776e18")
        XCTAssertEqual(formatNumber(.infinity), "inf")
        XCTAssertEqual(formatNumber(-.infinity), "-inf")
        XCTAssertEqual(formatNumber(.nan), "nan")
        XCTAssertEqual(formatNumber(.greatestFiniteMagnitude, maxDecimals: 4), "1.7976931348623157e308")
        XCTAssertEqual(formatNumber(123_456_789_012_345), "123456789012345")
        XCTAssertEqual(formatNumber(2.5, maxDecimals: -3), "3")
        XCTAssertEqual(formatNumber(2.5, maxDecimals: 1000), "2.5")
    }

    func testShortestNumberTextRoundTrips() {
        for x in [0, 7, 7.5, 1e15, 1e30, 1e-5, -3.25e-300, .greatestFiniteMagnitude, .leastNonzeroMagnitude, 0.1] {
            let text = shortestNumberText(x)
            XCTAssertEqual(Double(text), x, text)
            XCTAssertFalse(text.contains("+"), text)
        }
        XCTAssertEqual(shortestNumberText(1e-5), "1e-5")
        XCTAssertEqual(shortestNumberText(.nan), "nan")
        XCTAssertEqual(wholeNumber(1e30), nil)
        XCTAssertEqual(wholeNumber(.nan), nil)
        XCTAssertEqual(wholeNumber(41.6), 42)
    }

    func testHostilePromptsParseLintAndDescribeWithoutTrapping() {
        for text in Self.prompts {
            let file = PromptFile(text: text)
            for d in PromptLinter().diagnostics(for: file) { XCTAssertFalse(d.message.isEmpty, text) }
            for section in file.positive.sections {
                PromptNode.walk(section.nodes) { node, weight in _ = formatNumber(weight, maxDecimals: 4) }
            }
        }
    }

    func testOutOfRangeWeightsAreErrors() {
        func rangeErrors(_ text: String) -> [String] {
            PromptLinter().diagnostics(for: PromptFile(text: text))
                .filter { $0.code == .weightRange && $0.severity == .error }.map(\.message)
        }
        XCTAssertEqual(rangeErrors("a cat, <lora:x:1e30>"), ["LoRA text-encoder weight 1e30 is out of range; write a number in -2…2."])
        XCTAssertEqual(rangeErrors("<lora:x:inf>"), ["LoRA text-encoder weight inf is out of range; write a number in -2…2."])
        XCTAssertEqual(rangeErrors("<lora:x:1:1e30>"), ["LoRA UNet weight 1e30 is out of range; write a number in -2…2."])
        XCTAssertEqual(rangeErrors("<lora:x:te=0.5:unet=nan>"), ["LoRA UNet weight nan is out of range; write a number in -2…2."])
        XCTAssertEqual(rangeErrors("(knight:99999999999999999999)"), ["Emphasis weight 1e20 is out of range; write a number in 0…2."])
        XCTAssertEqual(rangeErrors("(knight:1.2), <lora:x:3>"), [], "ordinary mistakes stay warnings")
    }

    func testHugeFrontmatterNumbersAreReported() {
        for (value, shown) in [("1e300", "1e300"), (".inf", "inf"), ("-.inf", "-inf")] {
            let file = PromptFile(text: "---\ncfg: \(value)\n---\na cat")
            XCTAssertNil(file.settings.cfg, value)
            XCTAssertTrue(file.diagnostics.contains { $0.message == "'cfg' must be between 0 and 100 (got \(shown))." },
                          "\(value): \(file.diagnostics.map(\.message))")
        }
    }
}

/// Random prompt files with numbers in every notation through the parser, the linter, keywords
/// and A1111's weights: nothing traps, every diagnostic lies inside the text.
final class RandomPromptFileTests: XCTestCase {
    func testRandomFilesWithNumbersInEveryNotation() {
        var rng = SeededGenerator(seed: 1234)
        var withFrontmatter = 0, withErrors = 0
        for _ in 0..<3000 {
            let text = RandomPrompts.file(&rng)
            let file = PromptFile(text: text)
            let count = file.source.utf8Count
            let diagnostics = PromptLinter().diagnostics(for: file)
            for d in diagnostics { XCTAssertLessThanOrEqual(d.range.utf8.upperBound, count, text.debugDescription) }
            if file.frontmatterRange != nil { withFrontmatter += 1 }
            if diagnostics.contains(where: { $0.severity == .error }) { withErrors += 1 }
            _ = file.topics
            let weights = file.a1111Positive
            XCTAssertFalse(weights.sections.isEmpty)
            for offset in stride(from: 0, to: count, by: 5) { _ = weights.weight(atSourceOffset: offset) }
            _ = file.a1111Negative?.sections.map { $0.schedule.count }
            for d in diagnostics { _ = d.message }
        }
        XCTAssertGreaterThan(withFrontmatter, 1000)
        XCTAssertGreaterThan(withErrors, 1000)
    }
}
