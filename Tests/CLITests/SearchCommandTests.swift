import Foundation
import StylusCore
import XCTest
import TestSupport

/// `stylus search` as a real process on a real catalog (docs/CONTRACTS.md, CLI).
final class SearchCommandTests: XCTestCase {
    /// Temp paths this test made, removed in tearDown.
    private var made: [String] = []

    override func tearDown() {
        for path in made { try? FileManager.default.removeItem(atPath: path) }
        made = []
    }

    let cards = """
        {"adapter_id": "s-water", "alias": "wtrcolor", "title": "Watercolor Dream", "base_model": "SD 1.5", "tags": ["style", "watercolor"], "description": "Soft watercolor painting style."}
        {"adapter_id": "s-water-xl", "alias": "wtrcolor_xl", "title": "Watercolor XL", "base_model": "SDXL 1.0", "tags": ["style", "watercolor"], "description": "Watercolor for SDXL."}
        {"adapter_id": "s-castle", "alias": "castle_bg", "title": "Castle Backgrounds", "base_model": "SD 1.5", "tags": ["background", "castle"], "description": "Medieval castles."}
        """

    /// A catalog in a temp dir, and a data dir without models (the BM25 fallback) unless `models`.
    func setUp(models: Bool = false) throws -> (db: String, env: [String: String]) {
        let dir = NSTemporaryDirectory() + "stylus-search-tests-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        made.append(dir)
        try cards.write(toFile: dir + "/cards.jsonl", atomically: true, encoding: .utf8)
        let env = models ? [:] : ["STYLUS_HOME": dir + "/home"]
        let db = dir + "/catalog.sqlite"
        let imported = try CLI.run(["catalog", "import", "--db", db, dir + "/cards.jsonl"], environment: env)
        XCTAssertEqual(imported.status, 0, imported.stderr)
        if !models {
            XCTAssertEqual(imported.stderr.components(separatedBy: "embeddings skipped").count, 2, imported.stderr)
        }
        return (db, env)
    }

    /// The retrieval index file: written by the import, used as is by later searches (nothing on
    /// stderr but the BM25 warning), rebuilt with one line when damaged, and kept up to date by
    /// `catalog remove`.
    func testRetrievalIndexFileIsWrittenReusedAndRebuiltWhenDamaged() throws {
        let (db, env) = try setUp()
        let index = db + ".index"
        XCTAssertTrue(FileManager.default.fileExists(atPath: index), "the import writes the index")
        let query = ["search", "--json", "--db", db, "--k", "3", "watercolor castle"]
        let first = try CLI.run(query, environment: env)
        XCTAssertEqual(first.status, 0, first.stderr)
        XCTAssertFalse(first.stderr.contains("retrieval index"), first.stderr)
        var damaged = try Data(contentsOf: URL(fileURLWithPath: index))
        damaged[damaged.count / 2] ^= 0xFF
        try damaged.write(to: URL(fileURLWithPath: index))
        let again = try CLI.run(query, environment: env)
        XCTAssertEqual(again.status, 0, again.stderr)
        XCTAssertEqual(again.stdout, first.stdout)
        let notes = again.stderr.split(separator: "\n").filter { $0.contains("retrieval index") }
        XCTAssertEqual(notes.count, 1, again.stderr)
        XCTAssertTrue(notes.first?.contains("is damaged (checksum mismatch); rebuilding it") == true, again.stderr)
        XCTAssertFalse(try CLI.run(query, environment: env).stderr.contains("retrieval index"), "rebuilt once")
        // Truncated to nothing: the same.
        try Data().write(to: URL(fileURLWithPath: index))
        let empty = try CLI.run(query, environment: env)
        XCTAssertEqual(empty.stdout, first.stdout)
        XCTAssertTrue(empty.stderr.contains("is empty; rebuilding it"), empty.stderr)
        let removed = try CLI.run(["catalog", "remove", "--db", db, "s-castle"], environment: env)
        XCTAssertEqual(removed.status, 0, removed.stderr)
        let after = try CLI.run(query, environment: env)
        XCTAssertFalse(after.stderr.contains("retrieval index"), "remove updated the index: \(after.stderr)")
        XCTAssertFalse(after.stdout.contains("s-castle"), after.stdout)
    }

    func testJSONResultsWithBM25Fallback() throws {
        let (db, env) = try setUp()
        let r = try CLI.run(["search", "--json", "--db", db, "--base-model", "SD 1.5", "a watercolor castle"], environment: env)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stderr.components(separatedBy: "warning").count, 2, "one warning: \(r.stderr)")
        let obj = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let results = try XCTUnwrap(obj["results"] as? [[String: Any]])
        XCTAssertEqual(Set(results.compactMap { $0["adapter_id"] as? String }), ["s-water", "s-castle"])
        for item in results {
            XCTAssertNotNil(item["alias"] as? String)
            XCTAssertNotNil(item["score"] as? Double)
        }
        let one = try CLI.run(["search", "--json", "--k", "1", "--db", db, "watercolor"], environment: env)
        let top = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(one.stdout.utf8)) as? [String: Any])
        XCTAssertEqual((top["results"] as? [Any])?.count, 1)
    }

    func testBadInputsExitTwo() throws {
        let (db, env) = try setUp()
        for args in [["search", "--db", db, ""], ["search", "--db", db, "  "], ["search", "--db", db],
                     ["search", "--db", db, "--base-model", "", "cat"], ["search", "--db", db, "--k", "0", "cat"]] {
            let r = try CLI.run(args, environment: env)
            XCTAssertEqual(r.status, 2, args.joined(separator: " "))
            XCTAssertEqual(r.stdout, "")
            XCTAssertFalse(r.stderr.isEmpty)
        }
    }

    func testHugeAndBinaryPromptsAreAnswered() throws {
        let (db, env) = try setUp()
        let huge = String(repeating: "castle ", count: 100_000 / 7)
        let r = try CLI.run(["search", "--json", "--db", db, huge], environment: env)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("s-castle"))
        let binary = String(decoding: (0..<2000).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 1) }, as: UTF8.self)
            .replacingOccurrences(of: "\0", with: "")
        let b = try CLI.run(["search", "--json", "--db", db, binary], environment: env)
        XCTAssertEqual(b.status, 0, b.stderr)
        XCTAssertNotNil(try JSONSerialization.jsonObject(with: Data(b.stdout.utf8)))
    }

    func testBatchModeWritesOneLinePerQueryAndTimings() throws {
        let (db, env) = try setUp()
        let batch = NSTemporaryDirectory() + "stylus-search-batch-\(UUID().uuidString.prefix(8)).jsonl"
        try """
            {"id": "q1", "prompt": "watercolor", "base_model": "SDXL 1.0"}
            not json
            {"id": "q2", "prompt": "castle"}
            """.write(toFile: batch, atomically: true, encoding: .utf8)
        let r = try CLI.run(["search", "--json", "--db", db, "--batch", batch], environment: env)
        XCTAssertEqual(r.status, 0, r.stderr)
        let lines = r.stdout.split(separator: "\n").map { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        XCTAssertEqual(lines.count, 2)
        XCTAssertEqual(lines[0]?["id"] as? String, "q1")
        XCTAssertEqual(((lines[0]?["results"] as? [[String: Any]])?.first?["adapter_id"]) as? String, "s-water-xl")
        XCTAssertTrue(r.stderr.contains(":2: expected a JSON object"), r.stderr)
        XCTAssertTrue(r.stderr.contains("p95"), r.stderr)
    }

    func testDenseSearchWithInstalledModel() throws {
        _ = try RequiredFiles.miniLMDirectory()
        let (db, env) = try setUp(models: true)
        let r = try CLI.run(["search", "--json", "--db", db, "--base-model", "SD 1.5", "a fortress on a hill"], environment: env)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertFalse(r.stderr.contains("warning"), r.stderr)
        let obj = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(((obj["results"] as? [[String: Any]])?.first?["adapter_id"]) as? String, "s-castle")
    }
}
