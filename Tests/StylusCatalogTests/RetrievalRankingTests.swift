import Foundation
import StylusCatalog
import StylusCore
import StylusML
import XCTest
import TestSupport

/// Ranking details of the retriever: BM25's stemming, and the int8 dense scan with fp32 rescoring
/// giving exactly the ranking of a full fp32 scan.
final class RetrievalRankingTests: XCTestCase {
    func testStemmingFoldsCommonInflections() {
        let pairs: [(String, String)] = [
            ("detailed", "detail"), ("details", "detail"), ("darkness", "dark"), ("glowing", "glow"),
            ("running", "run"), ("painted", "paint"), ("painting", "paint"), ("carved", "carv"), ("carve", "carv"),
            ("foxes", "fox"), ("puppies", "puppy"),
        ]
        for (word, stem) in pairs { XCTAssertEqual(BM25Index.stem(word), stem, word) }
        // Too short, no vowel in the stem, or a root ending in "-eed": left alone.
        for word in ["red", "king", "string", "steed", "ring", "fire", "rose", "dress", "glass"] {
            XCTAssertEqual(BM25Index.stem(word), ComposerWords.singular(word), word)
        }
        XCTAssertEqual(BM25Index.tokens("Extremely DETAILED, glowing eyes"), ["extremely", "detail", "glow", "eye"])
    }

    func testStemmedQueriesMeetInflectedCards() throws {
        let card = AdapterCard(adapterId: "t1", alias: "add_detail", title: "Detail Tweaker", baseModel: .sd15,
                               tags: ["tool", "detail"], triggerWords: [])
        let other = AdapterCard(adapterId: "t2", alias: "darker", title: "Dark Mood", baseModel: .sd15,
                                tags: ["tool", "dark"], triggerWords: [])
        let lexical = LexicalCandidates(entries: [card, other].map { ($0, OfflineRefiner.refine($0)) })
        func top(_ text: String) throws -> String? {
            try lexical.candidates(for: CandidateQuery(text: text, baseModel: nil, limit: 5)).first?.card.adapterId
        }
        XCTAssertEqual(try top("extremely detailed"), "t1")
        XCTAssertEqual(try top("darkness everywhere"), "t2")
    }

    /// 600 adapters with precomputed vectors in clusters (many near ties), so the int8 stage must
    /// cut close to the true order; its result must equal a full fp32 scan for many queries.
    func testQuantizedScanGivesTheExactRanking() throws {
        let dir = try RequiredFiles.miniLMDirectory()
        var g = SeededGenerator(seed: 5)
        let centres = (0..<6).map { _ in Self.unit((0..<384).map { _ in Float.random(in: -1...1, using: &g) }) }
        var lines: [String] = []
        for n in 0..<600 {
            let v = Self.unit(zip(centres[n % 6], (0..<384).map { _ in Float.random(in: -1...1, using: &g) * 0.15 }).map { $0 + $1 })
            let card: [String: Any] = [
                "adapter_id": "v\(n)", "alias": "v\(n)", "title": "Vector \(n)", "base_model": n % 3 == 0 ? "SDXL 1.0" : "SD 1.5",
                "tags": [], "trigger_words": [], "description": "card \(n)",
                "embedding": v.map(Double.init), "embedding_model": MiniLMEncoder.modelID,
            ]
            lines.append(String(decoding: try JSONSerialization.data(withJSONObject: card), as: UTF8.self))
        }
        let tmp = try Support.tempDir()
        try lines.joined(separator: "\n").write(toFile: tmp + "/vectors.jsonl", atomically: true, encoding: .utf8)
        let store = try CatalogStore(path: tmp + "/catalog.sqlite")
        XCTAssertEqual(try CatalogImporter(store: store).importJSONL(tmp + "/vectors.jsonl").added, 600)
        let r = try Retriever(store: store, modelDirectory: dir)
        XCTAssertEqual(r.vectorCount, 600)
        for trial in 0..<20 {
            let q = Self.unit(zip(centres[trial % 6], (0..<384).map { _ in Float.random(in: -1...1, using: &g) * 0.2 }).map { $0 + $1 })
            for depth in [1, 10, 150] {
                let fast = r.denseTopRows(q, depth: depth), exact = r.exactTopRows(q, depth: depth)
                XCTAssertEqual(fast.map { $0.0 }, exact.map { $0.0 }, "trial \(trial) depth \(depth)")
                for (a, b) in zip(fast, exact) { XCTAssertEqual(a.1, b.1, accuracy: 1e-6) }
                // One base model's rows only (every third card is SDXL): the same ranking among them.
                let sdxl = try XCTUnwrap(BaseModel("SDXL 1.0"))
                let fastBase = r.denseTopRows(q, depth: depth, base: sdxl), exactBase = r.exactTopRows(q, depth: depth, base: sdxl)
                XCTAssertEqual(fastBase.map { $0.0 }, exactBase.map { $0.0 }, "trial \(trial) depth \(depth), SDXL")
                XCTAssertEqual(exactBase.count, min(depth, 200))
            }
        }
        // Real query text through the encoder: same agreement.
        let q = try XCTUnwrap(r.queryVector("a castle in the mountains"))
        XCTAssertEqual(r.denseTopRows(q, depth: 50).map { $0.0 }, r.exactTopRows(q, depth: 50).map { $0.0 })

        // A prompt's topics in one request (more than one scan's worth, each with its own base model,
        // limit and filters) rank as each does alone.
        let queries = (0..<11).map { n in
            (query: CandidateQuery(text: "card \(n)", topic: "vector \(n)", baseModel: n % 2 == 0 ? BaseModel("SD 1.5") : nil,
                                   includeNSFW: n % 3 == 0, limit: [1, 20, 150][n % 3],
                                   onlyAdapterIDs: n == 4 ? Set((0..<50).map { "v\($0)" }) : nil),
             denseVector: Self.unit(zip(centres[n % 6], (0..<384).map { _ in Float.random(in: -1...1, using: &g) * 0.2 }).map { $0 + $1 }))
        }
        // A prompt's own request: all its queries ask for its base model, so the pass reads only those rows.
        let oneBase = (0..<7).map { n in
            (query: CandidateQuery(text: "card \(n)", topic: "vector \(n)", baseModel: BaseModel("SD 1.5"), includeNSFW: false,
                                   limit: [1, 20, 150][n % 3]),
             denseVector: Self.unit(zip(centres[n % 6], (0..<384).map { _ in Float.random(in: -1...1, using: &g) * 0.2 }).map { $0 + $1 }))
        }
        for batch in [queries, oneBase] {
            let together = try r.candidates(for: batch)
            XCTAssertEqual(together.count, batch.count)
            for (n, q) in batch.enumerated() {
                let alone = try r.candidates(for: q.query, denseVector: q.denseVector)
                XCTAssertFalse(alone.isEmpty)
                XCTAssertEqual(together[n].map(\.card.adapterId), alone.map(\.card.adapterId), "query \(n)")
            }
        }
        XCTAssertTrue(try r.candidates(for: oneBase).joined().allSatisfy { $0.card.baseModel == BaseModel("SD 1.5") })
    }

    func testLongQueriesAreCutToTheTokenLimit() throws {
        let dir = try RequiredFiles.miniLMDirectory()
        let store = try CatalogStore(path: try Support.tempDir() + "/empty.sqlite")
        let r = try Retriever(store: store, modelDirectory: dir)
        let encoder = try XCTUnwrap(r.encoder)
        let long = Array(repeating: "castle", count: 100).joined(separator: " ")
        let ids = r.queryTokens(long, encoder)
        XCTAssertEqual(ids.count, 32)
        XCTAssertEqual(ids.first, encoder.tokenizer.encode("")[0])  // [CLS]
        XCTAssertEqual(ids.last, encoder.tokenizer.encode("").last)  // [SEP]
        XCTAssertEqual(r.queryTokens("a castle", encoder), encoder.tokenizer.encode("a castle"))
        XCTAssertEqual(try r.search(CandidateQuery(text: long, baseModel: nil, limit: 5)).count, 0)
    }

    static func unit(_ v: [Float]) -> [Float] {
        let n = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
        return v.map { $0 / n }
    }
}
