import Foundation
import GRDB
import StylusCatalog
import StylusCore
import XCTest
import TestSupport

/// The hybrid retriever on a real SQLite catalog: BM25 fallback, filters, hostile queries, and
/// (with the MiniLM files installed) dense retrieval with stored, reused embeddings.
final class RetrieverTests: XCTestCase {
    nonisolated(unsafe) static let cards: [[String: Any]] = [
        ["adapter_id": "a-water", "alias": "wtrcolor", "title": "Watercolor Dream", "base_model": "SD 1.5",
         "tags": ["style", "watercolor", "painting"], "trigger_words": ["wtrclr"],
         "description": "Soft watercolor painting style with paper texture and bleeding pigments."],
        ["adapter_id": "a-water-xl", "alias": "wtrcolor_xl", "title": "Watercolor Dream XL", "base_model": "SDXL 1.0",
         "tags": ["style", "watercolor"], "trigger_words": [], "description": "Watercolor painting style for SDXL."],
        ["adapter_id": "a-dog", "alias": "dogs_v1", "title": "Dogs", "base_model": "SD 1.5",
         "tags": ["animal", "dog", "puppy"], "trigger_words": [], "description": "Realistic dogs of many breeds: corgi, husky, retriever."],
        ["adapter_id": "a-castle", "alias": "castle_bg", "title": "Castle Backgrounds", "base_model": "SD 1.5",
         "tags": ["background", "castle", "medieval"], "trigger_words": [], "description": "Medieval castles and fortress walls as scenery."],
        ["adapter_id": "a-nsfw-water", "alias": "wet_water", "title": "Watercolor Pinups", "base_model": "SD 1.5",
         "tags": ["style", "watercolor"], "nsfw": true, "trigger_words": [], "description": "Watercolor pinup style."],
        ["adapter_id": "a-car", "alias": "cars_real", "title": "Realistic Cars", "base_model": "SD 1.5",
         "tags": ["vehicle", "car", "automobile"], "trigger_words": [], "description": "Photorealistic automobiles: sedans, trucks, sports cars."],
    ]

    func makeStore() throws -> CatalogStore {
        let dir = try Support.tempDir()
        let jsonl = dir + "/cards.jsonl"
        let lines = try Self.cards.map { String(decoding: try JSONSerialization.data(withJSONObject: $0), as: UTF8.self) }
        try lines.joined(separator: "\n").write(toFile: jsonl, atomically: true, encoding: .utf8)
        let store = try CatalogStore(path: dir + "/catalog.sqlite")
        let report = try CatalogImporter(store: store).importJSONL(jsonl)
        XCTAssertEqual(report.added, Self.cards.count)
        return store
    }

    func ids(_ r: Retriever, _ text: String, base: BaseModel? = .sd15, nsfw: Bool = false, k: Int = 10, topic: String? = nil) throws -> [String] {
        try r.candidates(for: CandidateQuery(text: text, topic: topic, baseModel: base, includeNSFW: nsfw, limit: k)).map(\.card.adapterId)
    }

    // MARK: - Without model files: BM25 only

    func testMissingModelFallsBackToBM25WithOneWarning() throws {
        let store = try makeStore()
        let r = try Retriever(store: store, modelDirectory: try Support.tempDir() + "/no-model")
        let warning = try XCTUnwrap(r.warning)
        XCTAssertTrue(warning.contains("BM25"), warning)
        XCTAssertTrue(warning.contains("model.safetensors"), warning)
        XCTAssertEqual(r.vectorCount, 0)
        XCTAssertEqual(try ids(r, "a watercolor painting of a fox").first, "a-water")
        XCTAssertEqual(try ids(r, "a castle at night"), ["a-castle"])
    }

    func testFiltersByBaseModelAndNSFW() throws {
        let r = try Retriever(store: try makeStore(), modelDirectory: nil)
        XCTAssertEqual(try ids(r, "watercolor"), ["a-water"])
        XCTAssertEqual(try ids(r, "watercolor", base: .sdxl), ["a-water-xl"])
        XCTAssertEqual(Set(try ids(r, "watercolor", nsfw: true)), ["a-water", "a-nsfw-water"])
        XCTAssertEqual(Set(try ids(r, "watercolor", base: nil)), ["a-water", "a-water-xl"])
        XCTAssertEqual(try ids(r, "watercolor", k: 0), [])
        XCTAssertEqual(try ids(r, "watercolor", base: .flux1D), [])  // a base model no adapter has
    }

    /// One BM25 index type serves the composer's lexical source and the retriever's keyword list:
    /// without embeddings both rank the same adapters in the same order.
    func testLexicalSourceAndRetrieverShareTheBM25Ranking() throws {
        let store = try makeStore()
        let lexical = try LexicalCandidates(store: store)
        let r = try Retriever(store: store, modelDirectory: nil)
        for text in ["watercolor dogs", "castle cars", "realistic watercolor painting"] {
            let q = CandidateQuery(text: text, baseModel: nil, includeNSFW: true, limit: 4)
            XCTAssertEqual(try lexical.candidates(for: q).map(\.card.adapterId), try r.candidates(for: q).map(\.card.adapterId), text)
        }
    }

    /// The index itself: postings only for shared terms, names weigh more than descriptions,
    /// the bound holds, filters apply, plural and singular forms meet, ties keep document order.
    func testBM25IndexRanksBoundsAndFilters() throws {
        func card(_ id: String, _ title: String, tags: [String] = [], description: String = "") -> (AdapterCard, AdapterRefinement) {
            (AdapterCard(adapterId: id, alias: id, title: title, baseModel: .sd15, tags: tags, description: description),
             AdapterRefinement(category: .concept, isCharacter: false, weight: 0.8, weightSource: .defaultValue,
                               triggerWords: [], refinedDescription: description, cleanDescription: description))
        }
        let index = BM25Index(entries: [
            card("d0", "Foxes", description: "red foxes in snow"),
            card("d1", "Snow Village", description: "a village; a fox appears once"),
            card("d2", "Castle", tags: ["medieval"]),
            card("d3", "Castle", tags: ["medieval"]),
        ])
        XCTAssertEqual(index.search(terms: ["fox"], limit: 10, allowed: { _ in true }).map(\.doc), [0, 1])
        XCTAssertEqual(index.search(terms: Set(BM25Index.tokens("Fox")), limit: 1, allowed: { _ in true }).map(\.doc), [0])
        XCTAssertEqual(index.search(terms: ["fox"], limit: 10, allowed: { $0 != 0 }).map(\.doc), [1])
        XCTAssertEqual(index.search(terms: Set(BM25Index.tokens("castle")), limit: 10, allowed: { _ in true }).map(\.doc), [2, 3])
        XCTAssertEqual(index.search(terms: Set(BM25Index.tokens("castle")), limit: 10, allowed: { _ in true }, tieBreak: { $0 > $1 }).map(\.doc), [3, 2])
        XCTAssertEqual(index.search(terms: ["unicorn"], limit: 10, allowed: { _ in true }).count, 0)
        XCTAssertEqual(index.search(terms: ["fox"], limit: 0, allowed: { _ in true }).count, 0)
        XCTAssertEqual(BM25Index(entries: []).search(terms: ["fox"], limit: 5, allowed: { _ in true }).count, 0)
    }

    func testScoresDescendAndLimitHolds() throws {
        let r = try Retriever(store: try makeStore(), modelDirectory: nil)
        let hits = try r.candidates(for: CandidateQuery(text: "watercolor dogs castle cars", baseModel: nil, includeNSFW: true, limit: 3))
        XCTAssertEqual(hits.count, 3)
        XCTAssertEqual(hits.map(\.score), hits.map(\.score).sorted(by: >))
    }

    func testCorruptModelFileFallsBack() throws {
        let store = try makeStore()
        let dir = try Support.tempDir()
        try Data([UInt8](repeating: 0xFF, count: 64)).write(to: URL(fileURLWithPath: dir + "/model.safetensors"))
        try "[PAD]\n[UNK]\n".write(toFile: dir + "/vocab.txt", atomically: true, encoding: .utf8)
        let r = try Retriever(store: store, modelDirectory: dir)
        XCTAssertNotNil(r.warning)
        XCTAssertEqual(try ids(r, "medieval castle"), ["a-castle"])
    }

    func testHostileQueriesNeverThrow() throws {
        let r = try Retriever(store: try makeStore(), modelDirectory: nil)
        XCTAssertEqual(try ids(r, ""), [])
        XCTAssertEqual(try ids(r, "   \n\t "), [])
        // FTS5 syntax, quotes, A1111 syntax and control characters are plain words to the retriever.
        XCTAssertEqual(try ids(r, "\"castle\" AND NEAR( OR * ^ - : {cars}"), try ids(r, "castle cars"))
        XCTAssertEqual(try ids(r, "(castle:1.3), <lora:castle_bg:0.8>, [dogs]"), try ids(r, "castle dogs"))
        var g = SeededGenerator(seed: 42)
        let bytes = (0..<4096).map { _ in UInt8.random(in: .min ... .max, using: &g) }
        _ = try ids(r, String(decoding: bytes, as: UTF8.self))
        let huge = String(repeating: "castle ", count: 100_000 / 7)  // 100 KB
        XCTAssertEqual(try ids(r, huge), ["a-castle"])
    }

    func testQueryCleaningDropsSyntaxAndControlCharacters() {
        XCTAssertEqual(QueryText.clean("(castle:1.3), <lora:castle_bg:0.8>, [dogs]"), "castle, dogs")
        // ASCII controls (tab, escape, DEL), C1 controls and replacement characters become spaces;
        // other scalars, ASCII or not, stay.
        XCTAssertEqual(QueryText.clean("red\tcastle\u{1B}x\u{7F}y\u{85}z\u{FFFD}é~"), "red castle x y z é~")
        XCTAssertEqual(QueryText.clean("café, 東京 tower"), "café, 東京 tower")
    }

    // MARK: - With the real MiniLM weights

    func testDenseRetrievalStoresAndReusesEmbeddings() throws {
        let dir = try RequiredFiles.miniLMDirectory()
        let store = try makeStore()
        // Opening a retriever only reads: the vectors it lacks live in memory for its session.
        let unstored = try Retriever(store: store, modelDirectory: dir)
        XCTAssertEqual(unstored.vectorCount, Self.cards.count)
        XCTAssertEqual(try store.adaptersMissingEmbedding(model: "sentence-transformers/all-MiniLM-L6-v2").count, Self.cards.count)
        XCTAssertNil(CatalogEmbedder(store: store, encoder: try XCTUnwrap(unstored.encoder)).storeMissingVectors())
        let r = try Retriever(store: store, modelDirectory: dir)
        XCTAssertNil(r.warning)
        XCTAssertEqual(r.vectorCount, Self.cards.count)
        // Computed once and stored: nothing is missing for the next session.
        XCTAssertEqual(try store.adaptersMissingEmbedding(model: "sentence-transformers/all-MiniLM-L6-v2").count, 0)
        XCTAssertEqual(try store.stats().withEmbedding, Self.cards.count)
        // No shared word with any card: only the dense side can find these.
        XCTAssertEqual(try ids(r, "a fluffy canine").first, "a-dog")
        XCTAssertEqual(try ids(r, "an automobile parked on a street").first, "a-car")
        // Topic queries favour the topic over the rest of the prompt.
        XCTAssertEqual(try ids(r, "a puppy in front of a fortress", topic: "fortress").first, "a-castle")
        XCTAssertEqual(try ids(r, "a puppy in front of a fortress", topic: "puppy").first, "a-dog")

        // A changed card drops its vector; the next retriever re-embeds only that one.
        var changed = Self.cards[2]
        changed["description"] = "Wolves and dogs in snowy forests."
        let jsonl = try Support.tempDir() + "/changed.jsonl"
        try String(decoding: try JSONSerialization.data(withJSONObject: changed), as: UTF8.self).write(toFile: jsonl, atomically: true, encoding: .utf8)
        XCTAssertEqual(try CatalogImporter(store: store).importJSONL(jsonl).updated, 1)
        XCTAssertEqual(try store.adaptersMissingEmbedding(model: "sentence-transformers/all-MiniLM-L6-v2").map(\.adapterID), ["a-dog"])
        XCTAssertEqual(try CatalogEmbedder(store: store, encoder: XCTUnwrap(r.encoder)).embedMissing(), 1)
        let again = try Retriever(store: store, modelDirectory: dir)
        XCTAssertEqual(again.vectorCount, Self.cards.count)
        XCTAssertEqual(try store.adaptersMissingEmbedding(model: "sentence-transformers/all-MiniLM-L6-v2").count, 0)
    }

    /// A search keeps its query's and topic's vectors in the retriever's text cache, the one the
    /// composer reads: asking again (search, then compose the same prompt) runs no encoder pass.
    func testSearchKeepsItsQueryVectorsInTheTextCache() throws {
        let r = try Retriever(store: try makeStore(), modelDirectory: try RequiredFiles.miniLMDirectory())
        let prompt = "a puppy in front of a (fortress:1.2)"
        XCTAssertNil(r.vectorCache(for: prompt)[prompt])
        let first = try ids(r, prompt, topic: "fortress")
        XCTAssertEqual(first.first, "a-castle")
        let cached = try XCTUnwrap(r.vectorCache(for: prompt)[prompt])
        XCTAssertNotNil(r.textVectors["fortress"])
        // The cached vector is the query's own embedding (syntax cleaned as before).
        let direct = try XCTUnwrap(r.queryVector(prompt))
        XCTAssertEqual(cached.count, direct.count)
        XCTAssertLessThan(zip(cached, direct).map { abs($0 - $1) }.max() ?? 1, 1e-6)
        XCTAssertEqual(try ids(r, prompt, topic: "fortress"), first)
        XCTAssertEqual(try ids(r, prompt), try ids(r, "a puppy in front of a fortress"))
        // A whole prompt goes to the smaller cache of long texts, a topic to the short texts'.
        let long = String(repeating: "a puppy in front of a fortress, ", count: 8)
        _ = try ids(r, long, topic: "puppy")
        XCTAssertNotNil(r.queryVectors[long])
        XCTAssertNil(r.textVectors[long])
        XCTAssertNotNil(r.textVectors["puppy"])
        XCTAssertNil(r.queryVectors["puppy"])
        XCTAssertTrue(r.vectorCache(for: long) === r.queryVectors)
    }

    /// The composer's warm-up goes through the retriever (its topics' vectors are kept afterwards)
    /// and changes no choice: a prompt composes the same on a warmed retriever as on a fresh one.
    func testComposerWarmUpFillsCachesOnly() throws {
        let store = try makeStore()
        let dir = try RequiredFiles.miniLMDirectory()
        let warmed = ComposerSources(try Retriever(store: store, modelDirectory: dir))
        let topic = try XCTUnwrap(PromptFile(text: ComposePipeline.warmUpPrompt).topics.first?.keyword)
        XCTAssertNil(warmed.hybrid?.textVectors[topic])
        ComposePipeline.warmUp(source: warmed.lexical, retriever: warmed.hybrid)
        XCTAssertNotNil(warmed.hybrid?.textVectors[topic])
        let fresh = ComposerSources(try Retriever(store: store, modelDirectory: dir))
        let request = ComposeRequest(prompt: "a watercolor castle on a hill, a realistic car")
        let a = try ComposePipeline.run(request, source: warmed.lexical, retriever: warmed.hybrid)
        let b = try ComposePipeline.run(request, source: fresh.lexical, retriever: fresh.hybrid)
        XCTAssertTrue(a.promptWithAdapters.contains("<lora:"), a.promptWithAdapters)
        XCTAssertEqual(a.promptWithAdapters, b.promptWithAdapters)
        let scored = { (o: ComposeOutcome) in o.composition.topics.map { $0.scored.map { "\($0.adapterID) \($0.probability)" } } }
        XCTAssertEqual(scored(a), scored(b))
    }

    /// A catalog that refuses the vectors: one line naming the catalog and what to do, and
    /// retrieval still works from vectors computed in memory.
    func testVectorsTheCatalogRefusesAreReportedAndKeptInMemory() throws {
        let dir = try RequiredFiles.miniLMDirectory()
        let store = try makeStore()
        let refusing = try DatabaseQueue(path: store.path)
        try refusing.write { db in
            try db.execute(sql: "CREATE TRIGGER refuse_vectors BEFORE UPDATE OF embedding ON adapters BEGIN SELECT RAISE(FAIL, 'disk is full'); END")
        }
        let encoder = try XCTUnwrap(Retriever.openEncoder(modelDirectory: dir).encoder)
        let problem = try XCTUnwrap(CatalogEmbedder(store: store, encoder: encoder).storeMissingVectors())
        XCTAssertTrue(problem.contains(store.path) && problem.contains("disk is full") && problem.contains("permissions"), problem)
        let r = try Retriever(store: store, encoder: encoder)
        XCTAssertEqual(r.vectorCount, Self.cards.count)
        XCTAssertEqual(try ids(r, "a fluffy canine").first, "a-dog")
    }

    /// Titles and subject tags are embedded with the catalog, the way the retriever embeds short
    /// texts at query time, so a compose finds them stored instead of running the encoder.
    func testCandidateNamesAreEmbeddedWithTheCatalog() throws {
        let dir = try RequiredFiles.miniLMDirectory()
        let store = try makeStore()
        let r = try Retriever(store: store, modelDirectory: dir)
        try CatalogEmbedder(store: store, encoder: XCTUnwrap(r.encoder)).embedMissing()
        let title = ComposerWords.titleText("Watercolor Dream")
        let stored = try store.textVectors(for: [title, "watercolor", "painting", "style", "sdxl 1.0"],
                                           model: "sentence-transformers/all-MiniLM-L6-v2")
        XCTAssertEqual(Set(stored.keys), [title, "watercolor", "painting"], "category and base-model tags are not subjects")
        // The category descriptions every compose weighs are stored too, and a catalog embedded
        // before they were gets them when a retriever opens it through `CatalogIndex`.
        let composerTexts = CatalogEmbedder.composerTexts
        XCTAssertEqual(try store.textsWithVectors(composerTexts, model: "sentence-transformers/all-MiniLM-L6-v2"), Set(composerTexts))
        try DatabaseQueue(path: store.path).write { try $0.execute(sql: "DELETE FROM text_vectors") }
        _ = try CatalogIndex(store: store).retriever(modelDirectory: dir)
        XCTAssertEqual(try store.textsWithVectors(composerTexts, model: "sentence-transformers/all-MiniLM-L6-v2"), Set(composerTexts))
        let fresh = try XCTUnwrap(r.encoder).embed(tokenIDs: [Retriever.shortTextTokens(title, encoder: XCTUnwrap(r.encoder))])[0]
        let storedVector = try XCTUnwrap(stored[title])
        XCTAssertEqual(storedVector.count, fresh.count)
        XCTAssertLessThan(zip(storedVector, fresh).map { abs($0 - $1) }.max() ?? 1, 1e-5)
        var candidates = try r.candidates(for: CandidateQuery(text: "watercolor", baseModel: nil, limit: 2))
        r.attachVectors(&candidates)
        let water = try XCTUnwrap(candidates.first { $0.card.adapterId == "a-water" }?.vectors)
        XCTAssertEqual(water.tags.count, 2, "watercolor and painting")

        // A prompt's pool holds the same adapter once per list that found it: every entry gets the
        // vectors, whether they are worked out now or were kept from an earlier pool.
        let lists = try ["a fluffy canine", "watercolor", "medieval castle", "a fluffy dog in watercolor"].map {
            try r.candidates(for: CandidateQuery(text: $0, baseModel: nil, limit: 4))
        }
        let reference = try Retriever(store: store, modelDirectory: dir)  // each adapter on its own
        for pool in [lists.joined(), lists.reversed().joined()] {
            var entries = Array(pool)
            XCTAssertGreaterThan(entries.count, Set(entries.map(\.card.adapterId)).count, "the pool repeats adapters")
            XCTAssertTrue(entries.allSatisfy { $0.vectors == nil }, "candidates come without vectors")
            r.attachVectors(&entries)
            for entry in entries {
                var alone = [entry]
                alone[0].vectors = nil
                reference.attachVectors(&alone)
                XCTAssertNotNil(entry.vectors, entry.card.adapterId)
                XCTAssertTrue(entry.vectors == alone[0].vectors, "\(entry.card.adapterId): other vectors than on its own")
            }
        }
    }

    func testDenseRetrievalSurvivesHostileQueries() throws {
        let dir = try RequiredFiles.miniLMDirectory()
        let r = try Retriever(store: try makeStore(), modelDirectory: dir)
        XCTAssertEqual(try ids(r, ""), [])
        let huge = String(repeating: "medieval castle walls ", count: 100_000 / 22)
        XCTAssertEqual(try ids(r, huge).first, "a-castle")
        XCTAssertFalse(try ids(r, "\u{0}\u{1}\u{FFFD}🙂 城 \"(\u{7F}").isEmpty)
    }
}
