import Foundation
import StylusCore
import XCTest

/// The fuzz seeds and every crash `scripts/fuzz` kept (fuzz/crashers/) replayed through what the
/// prompt and frontmatter targets run, so a fixed crash stays fixed without running libFuzzer.
final class FuzzRegressionTests: XCTestCase {
    static func inputs(_ target: String, file: String = #filePath) -> [URL] {
        let fuzz = URL(fileURLWithPath: file).deletingLastPathComponent().appendingPathComponent("../../fuzz").standardized
        return ["corpus", "crashers"].flatMap { kind in
            (try? FileManager.default.contentsOfDirectory(at: fuzz.appendingPathComponent(kind + "/" + target),
                                                          includingPropertiesForKeys: nil)) ?? []
        }
    }

    func testPromptInputs() throws {
        let files = Self.inputs("FuzzPrompt")
        XCTAssertGreaterThan(files.count, 5, "the seed corpus is in fuzz/corpus/FuzzPrompt")
        for url in files {
            let text = String(decoding: try Data(contentsOf: url), as: UTF8.self)
            let file = PromptFile(text: text)
            for d in PromptLinter().diagnostics(for: file) { XCTAssertLessThanOrEqual(d.range.utf8.upperBound, file.source.utf8Count) }
            _ = file.topics
            XCTAssertFalse(file.a1111Positive.sections.isEmpty, url.lastPathComponent)
            _ = PromptAttention.spans(text)
        }
    }

    func testFrontmatterInputs() throws {
        let files = Self.inputs("FuzzFrontmatter")
        XCTAssertGreaterThan(files.count, 3)
        for url in files {
            let body = String(decoding: try Data(contentsOf: url), as: UTF8.self)
            let file = PromptFile(text: "---\n" + body + "\n---\na cat")
            if let steps = file.settings.steps { XCTAssertTrue((1...1000).contains(steps)) }
            for d in file.diagnostics { XCTAssertLessThanOrEqual(d.range.utf8.upperBound, file.source.utf8Count) }
        }
    }
}
