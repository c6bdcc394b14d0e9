import Foundation
import StylusCore
import XCTest

/// A frontmatter with 700k keys once took 25 s and 1.75 GB to read: past
/// `PromptFile.maxFrontmatterBytes` it is reported, not parsed, and reading a prompt file stays
/// linear in its size whatever the frontmatter holds.
final class FrontmatterLimitTests: XCTestCase {
    private static func frontmatter(keys: Int) -> String {
        var text = "---\nsteps: 20\n"
        text.reserveCapacity(keys * 14)
        for i in 0..<keys { text += "key\(i): \(i)\n" }
        return text + "---\na knight in a castle"
    }

    private static func seconds(_ body: () -> Void) -> Double {
        var best = Double.infinity
        for _ in 0..<3 {
            let clock = ContinuousClock()
            let start = clock.now
            body()
            let d = clock.now - start
            best = min(best, Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18)
        }
        return best
    }

    func testHugeFrontmatterIsReportedNotParsed() {
        let file = PromptFile(text: Self.frontmatter(keys: 700_000))
        let errors = file.diagnostics.filter { $0.severity == .error }
        XCTAssertEqual(errors.count, 1, "\(errors.prefix(3))")
        let message = errors.first?.message ?? ""
        XCTAssertTrue(message.hasPrefix("Frontmatter is too large to read (") && message.contains("the limit is 64 KB"), message)
        XCTAssertEqual(errors.first?.range.lsp.start.line, 0, "reported on the opening '---'")
        XCTAssertEqual(file.diagnostics.count, 1, "no diagnostic per key")
        XCTAssertNil(file.settings.steps, "settings of an unread frontmatter are not used")
        XCTAssertEqual(file.positiveText, "a knight in a castle", "the body is still read")
    }

    func testFrontmatterJustUnderTheLimitIsRead() {
        var text = "---\nsteps: 20\nnegative: " + String(repeating: "blurry, ", count: (PromptFile.maxFrontmatterBytes - 100) / 8) + "\n---\na knight"
        XCTAssertLessThan(text.utf8.count, PromptFile.maxFrontmatterBytes + 20)
        var file = PromptFile(text: text)
        XCTAssertEqual(file.settings.steps, 20)
        XCTAssertEqual(file.diagnostics.filter { $0.severity == .error }.count, 0)
        text = "---\nsteps: 20\nnegative: " + String(repeating: "blurry, ", count: PromptFile.maxFrontmatterBytes / 8 + 1) + "\n---\na knight"
        file = PromptFile(text: text)
        XCTAssertNil(file.settings.steps)
    }

    /// Growth, not speed: reading a prompt file whose frontmatter has 700k keys costs at most 3x
    /// reading a prompt body of the same size (the YAML parse it replaced took 25 s).
    func testHugeFrontmatterCostsNoMoreThanABodyOfTheSameSize() {
        let front = Self.frontmatter(keys: 700_000)
        let unit = "masterpiece, (best quality:1.2), a knight, "
        let body = String(repeating: unit, count: front.utf8.count / unit.utf8.count)
        let frontSeconds = Self.seconds { _ = PromptFile(text: front) }
        let bodySeconds = Self.seconds { _ = PromptFile(text: body) }
        XCTAssertLessThan(frontSeconds / bodySeconds, 3, "\(front.utf8.count >> 20) MB: frontmatter \(frontSeconds) s, body \(bodySeconds) s")
    }

    /// Within the limit, reading stays linear in the number of keys (unknown keys are each reported).
    func testFrontmatterKeysAreReadInLinearTime() {
        let small = Self.frontmatter(keys: 500), large = Self.frontmatter(keys: 4_000)
        XCTAssertLessThan(large.utf8.count - 8, PromptFile.maxFrontmatterBytes)
        let s = Self.seconds { _ = PromptFile(text: small) }, l = Self.seconds { _ = PromptFile(text: large) }
        XCTAssertLessThan(l / s, 8 * 3, "500 keys: \(s) s, 4000 keys: \(l) s")
    }
}
