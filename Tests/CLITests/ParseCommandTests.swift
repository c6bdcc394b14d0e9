import Foundation
import XCTest
import TestSupport

final class ParseCommandTests: XCTestCase {
    func testJSONOutputHasTreeTopicsAndDiagnostics() throws {
        let url = try CLI.temporaryFile("knight.sdprompt", Data("""
        ---
        base_model: SD 1.5
        steps: 20
        ---
        an oil painting of a knight, (glowing eyes:1.2), <lora:castle:0.8> BREAK [cat|dog]
        Negative prompt: blurry, <lora:bad:1>
        """.utf8))
        let result = try CLI.run(["parse", "--json", url.path])
        XCTAssertEqual(result.status, 0, result.stderr)
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        let settings = try XCTUnwrap(json["settings"] as? [String: Any])
        XCTAssertEqual(settings["base_model"] as? String, "SD 1.5")
        XCTAssertEqual(settings["steps"] as? Int, 20)
        let topics = try XCTUnwrap(json["topics"] as? [[String: Any]])
        XCTAssertEqual(topics.compactMap { $0["keyword"] as? String }, ["oil painting", "knight", "glowing eyes", "cat", "dog"])
        let range = try XCTUnwrap(topics[2]["range"] as? [String: Any])
        XCTAssertEqual((range["start"] as? [String: Int])?["line"], 4)
        XCTAssertEqual((range["start"] as? [String: Int])?["character"], 30)
        let diagnostics = try XCTUnwrap(json["diagnostics"] as? [[String: Any]])
        XCTAssertEqual(diagnostics.compactMap { $0["code"] as? String }, ["lora-in-negative"])
        let positive = try XCTUnwrap(json["positive"] as? [String: Any])
        let sections = try XCTUnwrap(positive["sections"] as? [[String: Any]])
        let kinds = (sections[0]["nodes"] as? [[String: Any]])?.compactMap { $0["kind"] as? String }
        XCTAssertEqual(kinds, ["text", "emphasis", "text", "tag", "text", "break", "text", "alternation", "text"])
    }

    func testJSONWeightsAreA1111sOnUnbalancedPrompts() throws {
        // The issue's differential examples: `]` closes `[` across an open `(`; `:` without `)` is text.
        let result = try CLI.run(["parse", "--json", "-"], stdin: Data(#"on[x\\(a[housea][(housered fox]])x"#.utf8))
        XCTAssertEqual(result.status, 0, result.stderr)
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        let weights = try XCTUnwrap((json["weights"] as? [String: Any])?["positive"] as? [String: Any])
        XCTAssertEqual(weights["steps"] as? Int, 20)
        let section = try XCTUnwrap((weights["sections"] as? [[String: Any]])?.first)
        let schedule = try XCTUnwrap(section["schedule"] as? [[String: Any]])
        XCTAssertEqual(schedule.count, 1)
        let spans = try XCTUnwrap(schedule[0]["spans"] as? [[String: Any]])
        XCTAssertEqual(spans.last?["text"] as? String, "x")
        XCTAssertEqual(spans.last?["weight"] as? Double, 1.1)
        XCTAssertEqual(spans.first?["text"] as? String, "on")
        XCTAssertEqual(spans.first?["weight"] as? Double, 1)

        let other = try CLI.run(["parse", "--json", "-"], stdin: Data(#"\]([a:0.5), b BREAK c"#.utf8))
        let json2 = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(other.stdout.utf8)) as? [String: Any])
        let spans2 = try XCTUnwrap(((((json2["weights"] as? [String: Any])?["positive"] as? [String: Any])?["sections"] as? [[String: Any]])?
            .first?["schedule"] as? [[String: Any]])?.first?["spans"] as? [[String: Any]])
        XCTAssertEqual(spans2.compactMap { $0["text"] as? String }, ["]", "a", ", b", "BREAK", "c"])
        let expected = [1, 0.5 * (1 / 1.1), 1 / 1.1, -1 / 1.1, 1 / 1.1]
        for (span, weight) in zip(spans2, expected) { XCTAssertEqual(span["weight"] as? Double ?? .nan, weight, accuracy: 1e-15) }
        // The output carries the exact doubles (JSONSerialization on Linux reads them back less precisely).
        for weight in expected.dropFirst() { XCTAssertTrue(other.stdout.contains("\"weight\":\(weight)"), "\(weight) in \(other.stdout)") }
        XCTAssertNil(spans2[3]["break"], "a BREAK inside an unclosed group is multiplied too, so A1111 encodes it as text")
    }

    func testTreeShowsA1111WeightsWhenBracketsCross() throws {
        // `]` closes the `[` (÷1.1 over "a " and "cat"), the later `)` closes the `(` (×1.1 over "cat" and " dog").
        let result = try CLI.run(["parse", "-"], stdin: Data("[a (cat] dog)".utf8))
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stdout.contains("\" dog)\" ×1.1"), result.stdout)  // the tree keeps the `)` as text
        XCTAssertTrue(result.stdout.contains("\"a \" ×0.91"), result.stdout)
    }

    func testReadsStandardInputAndPrintsATree() throws {
        let result = try CLI.run(["parse", "-"], stdin: Data("((cat)), [dog:fox:0.5]".utf8))
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stdout.contains("text 1:3 \"cat\" ×1.21"), result.stdout)
        XCTAssertTrue(result.stdout.contains("schedule 1:10 when 0.5"), result.stdout)
    }

    func testMissingFileIsAUsageError() throws {
        let result = try CLI.run(["parse", "/nonexistent/x.sdprompt"])
        XCTAssertEqual(result.status, 2)
        XCTAssertEqual(result.stderr, "stylus parse: /nonexistent/x.sdprompt: no such file\n")
        XCTAssertEqual(result.stdout, "")
    }

    func testDirectoryAndBinaryGarbageAreClearErrors() throws {
        let dir = FileManager.default.temporaryDirectory.path
        let d = try CLI.run(["parse", dir])
        XCTAssertEqual(d.status, 2)
        XCTAssertTrue(d.stderr.contains("is a directory"), d.stderr)

        var garbage = Data((0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 131 &+ 7) })
        garbage[0] = 0xFF
        let url = try CLI.temporaryFile("garbage.sdprompt", garbage)
        let g = try CLI.run(["parse", url.path])
        XCTAssertEqual(g.status, 2)
        XCTAssertTrue(g.stderr.contains("not valid UTF-8 text (first bad byte at offset 0)"), g.stderr)
    }

    func testTenMegabytePromptAndDeepNesting() throws {
        let unit = "masterpiece, (best quality:1.2), <lora:x:0.5>, [a:b:0.5], "
        let big = String(repeating: unit, count: 10_000_000 / unit.utf8.count)
        let url = try CLI.temporaryFile("big.sdprompt", Data(big.utf8))
        // The human-readable tree (JSON for 10 MB is slow in Foundation's encoder and proves nothing more).
        let result = try CLI.run(["parse", "--timing", url.path])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stderr.hasPrefix("timing: \(big.utf8.count) bytes"), result.stderr)
        XCTAssertGreaterThan(result.stdout.utf8.count, 10_000_000)

        let deep = String(repeating: "(", count: 10_000) + "x" + String(repeating: ")", count: 10_000)
        let nested = try CLI.run(["parse", "--json", "-"], stdin: Data(deep.utf8))
        XCTAssertEqual(nested.status, 0, nested.stderr)
        XCTAssertTrue(nested.stdout.contains("nested deeper than"))
    }

    /// `stylus parse --json` succeeds on every prompt of the development benchmark.
    func testEveryDevBenchmarkPromptParses() throws {
        let data = try Data(contentsOf: try RequiredFiles.benchmarkFile("dev/queries.jsonl"))
        for line in String(decoding: data, as: UTF8.self).split(separator: "\n") {
            let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            let prompt = try XCTUnwrap(object["prompt"] as? String)
            let result = try CLI.run(["parse", "--json", "-"], stdin: Data(prompt.utf8))
            XCTAssertEqual(result.status, 0, "\(prompt): \(result.stderr)")
            let json = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
            XCTAssertNotNil(json?["topics"], prompt)
        }
    }
}

final class UsageErrorTests: XCTestCase {
    /// Usage errors exit 2 with a message (docs/CONTRACTS.md, CLI), help exits 0.
    func testUnknownOptionAndMissingArgumentExitTwo() throws {
        let unknown = try CLI.run(["parse", "--no-such-flag", "x"])
        XCTAssertEqual(unknown.status, 2)
        XCTAssertTrue(unknown.stderr.contains("--no-such-flag"), unknown.stderr)
        let missing = try CLI.run(["parse"])
        XCTAssertEqual(missing.status, 2)
        XCTAssertTrue(missing.stderr.contains("Missing expected argument"), missing.stderr)
        let help = try CLI.run(["--help"])
        XCTAssertEqual(help.status, 0)
        XCTAssertTrue(help.stdout.contains("SUBCOMMANDS"), help.stdout)
    }
}
