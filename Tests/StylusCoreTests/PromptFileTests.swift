import StylusCore
import XCTest

final class PromptFileTests: XCTestCase {
    func testFrontmatterSettingsAndBody() {
        let file = PromptFile(text: """
        ---
        base_model: SD 1.5
        steps: 25
        cfg: 6.5
        seed: 1234
        size: 512x768
        sampler: DPM++ 2M
        lora_dirs: [~/loras, /data/loras]
        masks: one_hot_loras
        restore_concepts: true
        ---
        a knight, castle
        """)
        XCTAssertEqual(file.settings.baseModel, "SD 1.5")
        XCTAssertEqual(file.settings.steps, 25)
        XCTAssertEqual(file.settings.cfg, 6.5)
        XCTAssertEqual(file.settings.seed, 1234)
        XCTAssertEqual(file.settings.size, ImageSize(width: 512, height: 768))
        XCTAssertEqual(file.settings.sampler, "DPM++ 2M")
        XCTAssertEqual(file.settings.loraDirs, ["~/loras", "/data/loras"])
        XCTAssertEqual(file.settings.masks, "one_hot_loras")
        XCTAssertEqual(file.settings.restoreConcepts, true)
        XCTAssertTrue(file.diagnostics.isEmpty, "\(file.diagnostics)")
        XCTAssertEqual(file.positiveText, "a knight, castle")
        XCTAssertEqual(file.positive.range.lsp.start, Position(line: 11, character: 0))
        XCTAssertEqual(file.frontmatterRange?.lsp.start.line, 0)
        XCTAssertNil(file.negativeText)
    }

    func testUnknownKeyAndWrongTypesReportTheirLines() {
        let file = PromptFile(text: "---\nbase_model: SD 1.5\nstpes: 20\ncfg: lots\nsteps: -3\nsize: huge\n---\ncat\n")
        let byLine = Dictionary(grouping: file.diagnostics, by: { $0.range.lsp.start.line })
        XCTAssertEqual(byLine[2]?.first?.code, .frontmatter)
        XCTAssertTrue(byLine[2]?.first?.message.contains("Did you mean 'steps'") ?? false, "\(file.diagnostics)")
        XCTAssertEqual(byLine[2]?.first?.severity, .warning)
        XCTAssertEqual(byLine[3]?.first?.message, "'cfg' must be a number.")
        XCTAssertTrue(byLine[4]?.first?.message.contains("between 1 and 150") ?? false)
        XCTAssertTrue(byLine[5]?.first?.message.contains("WIDTHxHEIGHT") ?? false)
        XCTAssertNil(file.settings.cfg)
        XCTAssertEqual(file.positiveText, "cat\n")
    }

    func testInvalidYAMLIsOneClearError() {
        let file = PromptFile(text: "---\nsteps: [1, 2\nseed: 3\n---\ncat")
        XCTAssertEqual(file.diagnostics.count, 1)
        XCTAssertEqual(file.diagnostics[0].severity, .error)
        XCTAssertTrue(file.diagnostics[0].message.hasPrefix("Frontmatter is not valid YAML"))
        XCTAssertEqual(file.positiveText, "cat")
    }

    func testUnclosedFrontmatter() {
        let file = PromptFile(text: "---\nsteps: 20\n")
        XCTAssertEqual(file.diagnostics.first?.message, "Frontmatter is not closed: add a line '---' after the settings.")
        XCTAssertEqual(file.settings.steps, 20)
    }

    func testNoFrontmatterWhenFirstLineIsNotDashes() {
        let file = PromptFile(text: "a --- b\n---\nc")
        XCTAssertNil(file.frontmatterRange)
        XCTAssertEqual(file.positiveText, "a --- b\n---\nc")
    }

    func testNegativePromptInBody() {
        let file = PromptFile(text: "a cat, (fluffy:1.2)\nNegative prompt: blurry, <lora:bad:1>\nlowres")
        XCTAssertEqual(file.positiveText, "a cat, (fluffy:1.2)\n")
        XCTAssertEqual(file.negativeText, "blurry, <lora:bad:1>\nlowres")
        XCTAssertEqual(file.negative?.tags.map(\.name), ["bad"])
        XCTAssertEqual(file.negative?.isNegative, true)
        XCTAssertEqual(file.negative?.tags.first?.range.lsp.start, Position(line: 1, character: 25))
    }

    func testNegativeInFrontmatterIsParsedInPlace() {
        let file = PromptFile(text: "---\nnegative: blurry, (lowres:1.2), <lora:x:1>\n---\ncat")
        XCTAssertEqual(file.negativeText, "blurry, (lowres:1.2), <lora:x:1>")
        let tag = file.negative?.tags.first
        XCTAssertEqual(tag?.range.lsp.start, Position(line: 1, character: 32))
        let linted = PromptLinter().diagnostics(for: file)
        XCTAssertEqual(codes(linted), ["lora-in-negative"])
    }

    func testQuotedNegativeInFrontmatterStillGetsItsDiagnosticsOnTheKeyLine() {
        let file = PromptFile(text: "---\nnegative: \"blurry, (unclosed\"\n---\ncat")
        XCTAssertEqual(file.negativeText, "blurry, (unclosed")
        XCTAssertNil(file.negative)
        XCTAssertEqual(file.diagnostics.map(\.range.lsp.start.line), [1])
    }

    func testNegativeGivenTwiceWarns() {
        let file = PromptFile(text: "---\nnegative: blurry\n---\ncat\nNegative prompt: lowres")
        XCTAssertEqual(file.negativeText, "lowres")
        XCTAssertEqual(file.diagnostics.map(\.code), [.frontmatter])
        XCTAssertEqual(file.diagnostics[0].range.lsp.start.line, 1)
    }

    func testCRLFFile() {
        let file = PromptFile(text: "---\r\nsteps: 30\r\n---\r\n(cat:1.2), dog\r\nNegative prompt: ugly\r\n")
        XCTAssertEqual(file.settings.steps, 30)
        XCTAssertEqual(file.positiveText, "(cat:1.2), dog\r\n")
        XCTAssertEqual(file.positive.sections[0].nodes.first?.range.lsp.start, Position(line: 3, character: 0))
        XCTAssertEqual(file.negativeText, "ugly")
    }

    func testDecodeRejectsInvalidUTF8WithOffset() throws {
        XCTAssertEqual(try PromptFile.decode(Array("héllo".utf8)), "héllo")
        XCTAssertEqual(try PromptFile.decode([0xEF, 0xBB, 0xBF] + Array("x".utf8)), "x")
        XCTAssertThrowsError(try PromptFile.decode(Array("ab".utf8) + [0xFF, 0x41])) { error in
            XCTAssertEqual(error as? PromptFileError, .invalidUTF8(byteOffset: 2))
        }
    }

    func testImageSizeParsing() {
        XCTAssertEqual(ImageSize(parsing: "512x768"), ImageSize(width: 512, height: 768))
        XCTAssertEqual(ImageSize(parsing: "640"), ImageSize(width: 640, height: 640))
        XCTAssertEqual(ImageSize(parsing: "512 × 512"), ImageSize(width: 512, height: 512))
        XCTAssertNil(ImageSize(parsing: "big"))
    }

    func testSizeLimitsAndMultipleOfEight() {
        let tooBig = PromptFile(text: "---\nsize: 10000x10000\n---\nx")
        XCTAssertNil(tooBig.settings.size)
        XCTAssertEqual(tooBig.diagnostics.first?.severity, .error)
        // What every render refuses is an error here too (the renderer's limits, one place).
        let beyondRender = PromptFile(text: "---\nsize: 4096x4096\n---\nx")
        XCTAssertNil(beyondRender.settings.size)
        XCTAssertEqual(beyondRender.diagnostics.first?.message, "'size' must be between 64 and 2048 pixels per side (got 4096x4096).")
        let odd = PromptFile(text: "---\nsize: [500, 500]\n---\nx")
        XCTAssertNil(odd.settings.size)
        XCTAssertEqual(odd.diagnostics.first?.severity, .error)
        XCTAssertEqual(odd.diagnostics.first?.message, "'size' 500x500 is not a multiple of 8 (one latent cell); use e.g. 496x496.")
    }
}

final class PromptLinterTests: XCTestCase {
    struct WordCounter: PromptTokenCounter {
        // Stands in for CLIP BPE in these tests: one token per space-separated word.
        func tokenCount(of text: String) -> Int { text.split(whereSeparator: { $0 == " " || $0 == "," }).count }
    }

    func testDuplicateLoRA() {
        let file = PromptFile(text: "<lora:a:0.5>, cat, <lora:a:0.3>, <lora:b:1>")
        let d = PromptLinter().diagnostics(for: file)
        XCTAssertEqual(codes(d), ["duplicate-lora"])
        XCTAssertEqual(d[0].range.utf8, 19..<31)
        XCTAssertTrue(d[0].message.contains("0.5 + 0.3 = 0.8"), d[0].message)
    }

    func testWeightRange() {
        let file = PromptFile(text: "<lora:a:3>, (cat:2.5), (dog:1.4), <lora:b:0.8:-2.5>")
        let d = PromptLinter().diagnostics(for: file)
        XCTAssertEqual(codes(d), ["weight-range", "weight-range", "weight-range"])
        XCTAssertEqual(d.map(\.range.utf8.lowerBound), [0, 17, 34])
    }

    func testTokenLimitPerBreakChunk() {
        let long = (1...80).map { "w\($0)" }.joined(separator: " ")
        let file = PromptFile(text: "short part BREAK \(long)")
        let d = PromptLinter(tokenCounter: WordCounter()).diagnostics(for: file)
        XCTAssertEqual(codes(d), ["token-limit"])
        XCTAssertTrue(d[0].message.hasPrefix("80 CLIP tokens"))
        XCTAssertEqual(d[0].range.utf8.lowerBound, 16)
        // Without a counter the check is skipped.
        XCTAssertTrue(PromptLinter().diagnostics(for: file).isEmpty)
    }
}

final class EditDistanceTests: XCTestCase {
    func testDistanceAndLimit() {
        XCTAssertEqual(editDistance(Array("kitten"), Array("sitting")), 3)
        XCTAssertEqual(editDistance(Array("kitten"), Array("sitting"), max: 3), 3)
        XCTAssertNil(editDistance(Array("kitten"), Array("sitting"), max: 2))
        XCTAssertEqual(editDistance(Array(""), Array("abc")), 3)
        XCTAssertEqual(editDistance(Array("abc"), Array("")), 3)
        XCTAssertNil(editDistance(Array("abc"), Array(""), max: 1))
    }
}
