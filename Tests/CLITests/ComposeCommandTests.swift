import Foundation
import StylusCore
import XCTest
import TestSupport

/// `stylus compose` as a real process over a real imported catalog.
final class ComposeCommandTests: XCTestCase {
    static let cards = """
    {"adapter_id": "a1", "alias": "dogs_v1", "title": "Realistic Dogs", "base_model": "SD 1.5", "type": "LORA", "tags": ["animal", "dog"], "trigger_words": [], "description": "dogs", "weight": 0.8, "nsfw": false}
    {"adapter_id": "a2", "alias": "dogs_xl", "title": "Dogs XL", "base_model": "SDXL 1.0", "type": "LORA", "tags": ["animal", "dog"], "trigger_words": [], "description": "dogs", "weight": 0.8, "nsfw": false}
    {"adapter_id": "a3", "alias": "clifford", "title": "Clifford the Big Red Dog", "base_model": "SD 1.5", "type": "LORA", "tags": ["character", "clifford", "dog"], "trigger_words": ["clifford"], "description": "the cartoon dog", "weight": 0.9, "nsfw": false}
    {"adapter_id": "a4", "alias": "wc_style", "title": "Watercolor Dream", "base_model": "SD 1.5", "type": "LORA", "tags": ["style", "watercolor"], "trigger_words": [], "description": "watercolor", "weight": 0.6, "nsfw": false}

    """

    func catalog() throws -> String { try Self.importedCatalog() }

    /// A new catalog database with `cards` imported by the CLI; its path.
    static func importedCatalog() throws -> String {
        let jsonl = try CLI.temporaryFile("compose-cards-\(UUID().uuidString).jsonl", Data(cards.utf8))
        let db = jsonl.deletingLastPathComponent().appendingPathComponent("compose-\(UUID().uuidString).sqlite").path
        let imported = try CLI.run(["catalog", "import", "--db", db, jsonl.path])
        XCTAssertEqual(imported.status, 0, imported.stderr)
        return db
    }

    func testJSONOutputFollowsTheContract() throws {
        let db = try catalog()
        let r = try CLI.run(["compose", "--json", "--db", db, "--base-model", "SD 1.5", "a watercolor painting of a dog"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let obj = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(obj["base_model"] as? String, "SD 1.5")
        XCTAssertEqual(obj["prompt"] as? String, "a watercolor painting of a dog")
        XCTAssertNotNil(obj["retrieved"] as? [String])
        XCTAssertNotNil((obj["timings_ms"] as? [String: Any])?["total"])
        let topics = try XCTUnwrap(obj["topics"] as? [[String: Any]])
        let dog = try XCTUnwrap(topics.first { $0["keyword"] as? String == "dog" })
        XCTAssertEqual(dog["range"] as? [Int], [27, 30])
        let adapters = try XCTUnwrap(dog["adapters"] as? [[String: Any]])
        XCTAssertEqual(adapters.map { $0["adapter_id"] as? String }, ["a1"])
        XCTAssertEqual(adapters.first?["weight"] as? Double, 0.64)
        XCTAssertEqual(obj["prompt_with_adapters"] as? String,
                       "a watercolor painting of a dog, <lora:wc_style:0.48>, <lora:dogs_v1:0.64>")
    }

    /// What `stylus compose` writes raises no note in `stylus check`: the trigger words the chosen
    /// adapters need come before their tags, once, and not when the prompt already has them.
    /// `--no-trigger-words` leaves them out, and then check says what is missing.
    func testComposedPromptCarriesItsTriggerWordsAndPassesCheck() throws {
        let cards = """
        {"adapter_id": "t1", "alias": "linoprint_v1", "title": "Linocut Print", "base_model": "SD 1.5", "type": "LORA", "tags": ["style", "linocut", "printmaking"], "trigger_words": ["linoprint"], "description": "bold carved linocut print style", "weight": 0.6, "nsfw": false}
        {"adapter_id": "t2", "alias": "lighthouse_v3", "title": "Lighthouse", "base_model": "SD 1.5", "type": "LORA", "tags": ["building", "lighthouse"], "trigger_words": ["lighthse", "coastal beacon"], "description": "lighthouses on rocky coasts", "weight": 0.8, "nsfw": false}
        """
        let jsonl = try CLI.temporaryFile("trigger-cards-\(UUID().uuidString).jsonl", Data(cards.utf8))
        let db = jsonl.deletingLastPathComponent().appendingPathComponent("trigger-\(UUID().uuidString).sqlite").path
        XCTAssertEqual(try CLI.run(["catalog", "import", "--db", db, jsonl.path]).status, 0)
        let header = "---\nbase_model: SD 1.5\n---\n"

        func composed(_ prompt: String, _ flags: [String] = []) throws -> String {
            let file = try CLI.temporaryFile("trigger-\(UUID().uuidString).sdprompt", Data((header + prompt + "\n").utf8))
            let r = try CLI.run(["compose", "--json", "--db", db] + flags + [file.path])
            XCTAssertEqual(r.status, 0, r.stderr)
            let obj = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
            let chosen = (obj["topics"] as? [[String: Any]] ?? []).flatMap { $0["adapters"] as? [[String: Any]] ?? [] }
            XCTAssertEqual(Set(chosen.compactMap { $0["adapter_id"] as? String }), ["t1", "t2"], r.stdout)
            return try XCTUnwrap(obj["prompt_with_adapters"] as? String)
        }
        func checkNotes(_ prompt: String) throws -> String {
            let file = try CLI.temporaryFile("checked-\(UUID().uuidString).sdprompt", Data((header + prompt + "\n").utf8))
            let r = try CLI.run(["check", "--db", db, file.path])
            XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
            return r.stdout
        }

        let withTriggers = try composed("linocut print of a lighthouse")
        XCTAssertEqual(withTriggers, "linocut print of a lighthouse, linoprint, lighthse, <lora:linoprint_v1:0.48>, <lora:lighthouse_v3:0.64>")
        XCTAssertFalse(try checkNotes(withTriggers).contains("[missing-trigger]"), withTriggers)

        // One of its trigger words is enough; the other adapter's is still added.
        let partly = try composed("linocut print of a lighthouse, coastal beacon")
        XCTAssertEqual(partly, "linocut print of a lighthouse, coastal beacon, linoprint, <lora:linoprint_v1:0.48>, <lora:lighthouse_v3:0.64>")

        let without = try composed("linocut print of a lighthouse", ["--no-trigger-words"])
        XCTAssertEqual(without, "linocut print of a lighthouse, <lora:linoprint_v1:0.48>, <lora:lighthouse_v3:0.64>")
        let notes = try checkNotes(without)
        XCTAssertTrue(notes.contains("'linoprint_v1' works best") && notes.contains("'lighthouse_v3' works best"), notes)
    }

    func testBatchWritesOneLinePerQueryWithItsID() throws {
        let db = try catalog()
        let queries = """
        {"id": "q1", "prompt": "a dog on a porch", "base_model": "SDXL 1.0"}
        not json
        {"id": "q2", "prompt": "Clifford the big red dog", "base_model": "SD 1.5"}
        """
        let file = try CLI.temporaryFile("compose-queries.jsonl", Data(queries.utf8))
        let r = try CLI.run(["compose", "--batch", file.path, "--json", "--db", db])
        XCTAssertEqual(r.status, 2, "a bad line is reported and the run says so")
        XCTAssertTrue(r.stderr.contains("compose-queries.jsonl:2"), r.stderr)
        let lines = r.stdout.split(separator: "\n").map { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        XCTAssertEqual(lines.count, 2)
        XCTAssertEqual(lines[0]?["id"] as? String, "q1")
        let ids0 = (lines[0]?["topics"] as? [[String: Any]])?.flatMap { ($0["adapters"] as? [[String: Any]]) ?? [] }.compactMap { $0["adapter_id"] as? String }
        XCTAssertEqual(ids0, ["a2"], "the SDXL query gets the SDXL adapter")
        let ids1 = (lines[1]?["topics"] as? [[String: Any]])?.flatMap { ($0["adapters"] as? [[String: Any]]) ?? [] }.compactMap { $0["adapter_id"] as? String }
        XCTAssertEqual(ids1, ["a3"], "a named character, and no generic dog for its description")
    }

    func testExplainMasksAndUsageErrors() throws {
        let db = try catalog()
        let r = try CLI.run(["compose", "--explain", "--db", db, "--base-model", "SD 1.5", "a dog on a porch"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("+ dogs_v1"), r.stdout)
        XCTAssertTrue(r.stdout.contains("- dogs_xl"), r.stdout)
        let m1 = try CLI.run(["compose", "--db", db, "--base-model", "SD 1.5", "--masks", "one_hot_loras", "--samples", "4", "--seed", "7", "a dog"])
        let m2 = try CLI.run(["compose", "--db", db, "--base-model", "SD 1.5", "--masks", "one_hot_loras", "--samples", "4", "--seed", "7", "a dog"])
        XCTAssertEqual(m1.status, 0, m1.stderr)
        XCTAssertEqual(m1.stdout, m2.stdout)
        XCTAssertEqual(m1.stdout.split(separator: "\n").filter { $0.hasPrefix("a dog") }.count, 4)
        XCTAssertEqual(try CLI.run(["compose", "--db", db, "--masks", "bogus", "a dog"]).status, 2)
        XCTAssertEqual(try CLI.run(["compose", "--db", db]).status, 2)
        XCTAssertEqual(try CLI.run(["compose", "--db", db, "--base-model", "", "a dog"]).status, 2)
    }

    func testExplanationsGiveTheScoreThresholdAndEvidence() throws {
        let db = try catalog()
        let r = try CLI.run(["compose", "--explain", "--db", db, "--base-model", "SD 1.5", "a dog on a porch"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let accepted = try XCTUnwrap(r.stdout.split(separator: "\n").first { $0.contains("+ dogs_v1") }, r.stdout)
        // "+ dogs_v1 [a1]: score 0.93 ≥ 0.66: cosine 0.74 with the title; …; animal adapter of SD 1.5"
        XCTAssertNotNil(accepted.range(of: #"score \d\.\d\d ≥ \d\.\d\d: "#, options: .regularExpression), String(accepted))
        XCTAssertTrue(accepted.contains("animal adapter of SD 1.5"), String(accepted))
    }

    func testComposerModelFileAndFeatureDump() throws {
        let db = try catalog()
        let queries = try CLI.temporaryFile("dump-queries-\(UUID().uuidString).jsonl", Data(#"{"id": "q1", "prompt": "a dog on a porch", "base_model": "SD 1.5"}"#.utf8))
        let dump = queries.deletingLastPathComponent().appendingPathComponent("dump-\(UUID().uuidString).jsonl")
        let r = try CLI.run(["compose", "--batch", queries.path, "--json", "--db", db, "--dump-features", dump.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        let lines = try String(contentsOf: dump, encoding: .utf8).split(separator: "\n")
            .map { try XCTUnwrap(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
        let names = try XCTUnwrap(lines.first?["feature_names"] as? [String])
        XCTAssertTrue(names.contains("cos_title") && names.contains("wn_topic_narrower"), "\(names)")
        let rows = lines.dropFirst()
        XCTAssertFalse(rows.isEmpty)
        for row in rows {
            XCTAssertEqual((row["x"] as? [Double])?.count, names.count)
            XCTAssertEqual(row["id"] as? String, "q1")
            XCTAssertNotNil(row["adapter_id"] as? String)
        }
        XCTAssertTrue(rows.contains { $0["adapter_id"] as? String == "a1" && $0["keyword"] as? String == "dog" })

        let bad = try CLI.temporaryFile("bad-model-\(UUID().uuidString).json", Data(#"{"semantic": 1}"#.utf8))
        let rejected = try CLI.run(["compose", "--db", db, "--composer-model", bad.path, "a dog"])
        XCTAssertEqual(rejected.status, 2)
        XCTAssertTrue(rejected.stderr.contains("--composer-model") && rejected.stderr.contains("invalid"), rejected.stderr)
        XCTAssertEqual(try CLI.run(["compose", "--db", db, "--composer-model", "/nonexistent/model.json", "a dog"]).status, 2)
    }
}

/// The whole-prompt `retrieved` list comes from the hybrid retriever when the embedding model is
/// installed (dense finds what shares no word), and from BM25 with one warning without it.
final class ComposeRetrievalTests: XCTestCase {
    func catalog() throws -> String { try ComposeCommandTests.importedCatalog() }

    func retrieved(_ r: CLIResult) throws -> [String] {
        XCTAssertEqual(r.status, 0, r.stderr)
        let obj = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        return try XCTUnwrap(obj["retrieved"] as? [String])
    }

    func testRetrievedUsesDenseRetrievalWhenTheModelIsInstalled() throws {
        _ = try RequiredFiles.miniLMDirectory()
        let db = try catalog()
        // No word in common with any card: only the dense side can rank the dog adapters.
        let r = try CLI.run(["compose", "--json", "--db", db, "--base-model", "SD 1.5", "a fluffy canine"])
        let ids = try retrieved(r)
        XCTAssertEqual(ids.first, "a1", r.stdout)
        XCTAssertFalse(ids.contains("a2"), "another base model must be filtered out")
        XCTAssertFalse(r.stderr.contains("warning"), r.stderr)
        // --retrieved lists the head of the same ranking; the composition does not change.
        let one = try CLI.run(["compose", "--json", "--retrieved", "1", "--db", db, "--base-model", "SD 1.5", "a fluffy canine"])
        XCTAssertEqual(try retrieved(one), ["a1"])
        XCTAssertEqual(try XCTUnwrap(JSONSerialization.jsonObject(with: Data(one.stdout.utf8)) as? [String: Any])["prompt_with_adapters"] as? String,
                       try XCTUnwrap(JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])["prompt_with_adapters"] as? String)
        XCTAssertEqual(try retrieved(try CLI.run(["compose", "--json", "--retrieved", "0", "--db", db, "a fluffy canine"])), [])
        let bad = try CLI.run(["compose", "--json", "--retrieved", "151", "--db", db, "a dog"])
        XCTAssertEqual(bad.status, 2)
        XCTAssertTrue(bad.stderr.contains("--retrieved must be between 0 and 150"), bad.stderr)
    }

    func testRetrievedFallsBackToBM25WithOneWarningWithoutTheModel() throws {
        let db = try catalog()
        let home = FileManager.default.temporaryDirectory.appendingPathComponent("stylus-nomodel-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: home) }
        let env = ["STYLUS_HOME": home]
        XCTAssertEqual(try retrieved(try CLI.run(["compose", "--json", "--db", db, "--base-model", "SD 1.5", "a fluffy canine"], environment: env)), [])
        let r = try CLI.run(["compose", "--json", "--db", db, "--base-model", "SD 1.5", "a watercolor painting of a dog"], environment: env)
        XCTAssertEqual(Set(try retrieved(r)), ["a1", "a3", "a4"])
        XCTAssertEqual(r.stderr.components(separatedBy: "warning").count - 1, 1, r.stderr)
    }
}
