import Foundation
import GRDB
import StylusCatalog
import StylusCore
import XCTest

/// The retrieval index file beside a real SQLite catalog: written on first use, reused while the
/// catalog's generation matches, rebuilt (with one note) when it is stale, damaged, truncated,
/// empty, foreign, of another version or of another catalog; crash-safe replacement seen by a
/// concurrent reader; the same rankings as an index built in memory from the catalog's cards.
final class RetrievalIndexTests: XCTestCase {
    func card(_ id: String, _ title: String, base: String = "SD 1.5", tags: [String], description: String, nsfw: Bool = false) -> [String: Any] {
        ["adapter_id": id, "alias": id.replacingOccurrences(of: "-", with: "_"), "title": title, "base_model": base,
         "tags": tags, "trigger_words": [], "description": description, "nsfw": nsfw]
    }

    var cards: [[String: Any]] {
        [card("a-water", "Watercolor Dream", tags: ["style", "watercolor"], description: "Soft watercolor painting with bleeding pigments."),
         card("a-water-xl", "Watercolor Dream XL", base: "SDXL 1.0", tags: ["style", "watercolor"], description: "Watercolor for SDXL."),
         card("a-dog", "Dogs", tags: ["animal", "dog"], description: "Realistic dogs: corgi, husky, retriever."),
         card("a-castle", "Castle Backgrounds", tags: ["background", "castle"], description: "Medieval castles as scenery."),
         card("a-pinup", "Watercolor Pinups", tags: ["style", "watercolor"], description: "Watercolor pinups.", nsfw: true),
         card("a-car", "Realistic Cars", tags: ["vehicle", "car"], description: "Photorealistic cars and trucks.")]
    }

    func importCards(_ cards: [[String: Any]], into store: CatalogStore, file: String? = nil) throws {
        let jsonl = try file ?? Support.tempDir("cards") + "/cards.jsonl"
        let lines = try cards.map { String(decoding: try JSONSerialization.data(withJSONObject: $0), as: UTF8.self) }
        try lines.joined(separator: "\n").write(toFile: jsonl, atomically: true, encoding: .utf8)
        _ = try CatalogImporter(store: store).importJSONL(jsonl)
    }

    func makeStore(_ name: String = #function) throws -> CatalogStore {
        let store = try CatalogStore(path: try Support.tempDir(name) + "/catalog.sqlite")
        try importCards(cards, into: store)
        return store
    }

    /// Opens the index, collecting notes.
    func open(_ store: CatalogStore) throws -> (RetrievalIndex, [String]) {
        let notes = NoteLog()
        let index = try RetrievalIndex.open(store: store, note: notes.add)
        return (index, notes.lines)
    }

    func ranking(_ index: RetrievalIndex, _ text: String, base: BaseModel? = nil) throws -> [String] {
        try LexicalCandidates(index: index, wordNet: nil)
            .candidates(for: CandidateQuery(text: text, baseModel: base, includeNSFW: true, limit: 10))
            .map { "\($0.card.adapterId):\($0.score)" }
    }

    func testWrittenOnFirstUseThenMappedAsIs() throws {
        let store = try makeStore()
        let path = RetrievalIndex.path(forCatalog: store.path)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path))
        let (first, notes) = try open(store)
        XCTAssertEqual(notes, [], "a first build is silent")
        XCTAssertEqual(first.path, path)
        XCTAssertEqual(first.documentCount, cards.count)
        XCTAssertEqual(first.generation, try store.indexState().generation)
        let modified = try FileManager.default.attributesOfItem(atPath: path)[.modificationDate] as? Date
        let (second, again) = try open(store)
        XCTAssertEqual(again, [])
        XCTAssertEqual(try FileManager.default.attributesOfItem(atPath: path)[.modificationDate] as? Date, modified, "not rewritten")
        XCTAssertEqual(try ranking(second, "watercolor"), try ranking(first, "watercolor"))
        // Summaries decode to what the catalog holds.
        XCTAssertEqual(second.summaries(), try store.summaries())
        XCTAssertEqual(second.document(adapterID: "a-dog").map(second.adapterID), "a-dog")
        XCTAssertNil(second.document(adapterID: "a-nope"))
    }

    /// The index answers exactly as BM25 built in memory from the catalog's cards (scores included).
    func testSameRankingAndScoresAsAnIndexBuiltFromTheCards() throws {
        let store = try makeStore()
        let (index, _) = try open(store)
        let memory = LexicalCandidates(entries: try store.allEntries().map { ($0.card, $0.refinement) })
        for text in ["watercolor dogs", "castle cars", "realistic watercolor painting", "corgi", "nothing matches this"] {
            for base: BaseModel? in [nil, .sd15, .sdxl, .flux1D] {
                for nsfw in [false, true] {
                    let q = CandidateQuery(text: text, baseModel: base, includeNSFW: nsfw, limit: 4)
                    let a = try LexicalCandidates(index: index, wordNet: nil).candidates(for: q).map { "\($0.card.adapterId) \($0.score)" }
                    let b = try memory.candidates(for: q).map { "\($0.card.adapterId) \($0.score)" }
                    XCTAssertEqual(a, b, "\(text) \(String(describing: base)) \(nsfw)")
                }
            }
        }
    }

    /// A prompt's `<lora:alias>` is found through the postings of the index file, its base and its
    /// delta alike, case-insensitively; a card sharing the alias's words but not the alias is not.
    func testAnAliasIsFoundThroughTheIndexFile() throws {
        let store = try makeStore()
        _ = try open(store)
        try importCards([card("a-water-2", "Watercolor Dream Two", tags: ["style", "watercolor"], description: "A second watercolor.")],
                        into: store)
        let (index, _) = try open(store)
        let lexical = LexicalCandidates(index: index, wordNet: nil)
        XCTAssertEqual(try lexical.adapters(withAlias: "A_Water").map(\.card.adapterId), ["a-water"])
        XCTAssertEqual(try lexical.adapters(withAlias: "a_water_2").map(\.card.adapterId), ["a-water-2"], "from the delta")
        XCTAssertEqual(try lexical.adapters(withAlias: "a_water_3").count, 0)
        XCTAssertEqual(try lexical.adapters(withAlias: "water").count, 0, "a word of aliases is no alias")
    }

    /// Every write path bumps the generation (SQLite triggers), and the next open rebuilds with one note.
    func testWritesBumpTheGenerationAndTheIndexFollows() throws {
        let store = try makeStore()
        _ = try open(store)
        var generation = try store.indexState().generation
        func bumped(_ what: String, file: StaticString = #filePath, line: UInt = #line) throws {
            let now = try store.indexState().generation
            XCTAssertGreaterThan(now, generation, what, file: file, line: line)
            generation = now
        }
        try importCards([card("a-fox", "Fox Friends", tags: ["animal", "fox"], description: "Foxes in snowy forests.")], into: store)
        try bumped("import")
        let (afterImport, notes) = try open(store)
        XCTAssertEqual(notes.count, 1)
        XCTAssertTrue(notes[0].contains("is stale") && notes[0].contains("rebuilding"), notes[0])
        XCTAssertEqual(afterImport.documentCount, cards.count + 1)
        XCTAssertEqual(try ranking(afterImport, "fox").first?.hasPrefix("a-fox:"), true)
        XCTAssertEqual(try open(store).1, [], "rebuilt once")

        try store.setEmbedding(adapterID: "a-dog", vector: [Float](repeating: 0.05, count: 384), model: MiniLMModelID.id)
        try bumped("embedding")
        XCTAssertEqual(try open(store).0.vectorCount, 1)
        try store.remove("a-car")
        try bumped("remove")
        XCTAssertEqual(try open(store).0.documentCount, cards.count)
        // A re-import that changes nothing does not (the same file: the source line is indexed).
        let same = try Support.tempDir("same") + "/cards.jsonl"
        try importCards(cards, into: store, file: same)
        try bumped("import of a removed card")
        try importCards(cards, into: store, file: same)
        XCTAssertEqual(try store.indexState().generation, generation)
        // Nor does caching a file hash (not an indexed field), from another connection.
        try DatabaseQueue(path: store.path).write { try $0.execute(sql: "UPDATE adapters SET sha256 = 'abc', autov2 = 'def'") }
        XCTAssertEqual(try store.indexState().generation, generation)
        try DatabaseQueue(path: store.path).write { try $0.execute(sql: "UPDATE adapters SET title = title || '!' WHERE adapter_id = 'a-dog'") }
        try bumped("a title changed by another connection")
    }

    func testBadFilesAreDetectedAndRebuilt() throws {
        let store = try makeStore()
        let path = RetrievalIndex.path(forCatalog: store.path)
        let (good, _) = try open(store)
        let expected = try ranking(good, "watercolor")
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        var oldVersion = bytes
        oldVersion[8] = 0
        var flipped = bytes
        flipped[bytes.count - 100] ^= 0x40
        var otherGeneration = bytes
        otherGeneration[16] ^= 0x01
        let other = try makeStore("other")
        _ = try open(other)
        let foreignCatalog = try Data(contentsOf: URL(fileURLWithPath: RetrievalIndex.path(forCatalog: other.path)))
        let cases: [(String, Data, String)] = [
            ("zero-length", Data(), "is empty"),
            ("truncated header", bytes.prefix(40), "is truncated"),
            ("truncated", bytes.prefix(bytes.count / 2), "is truncated"),
            ("foreign", Data(String(repeating: "not an index, just text. ", count: 20).utf8), "is not a stylus retrieval index"),
            ("old version", oldVersion, "has format version 0"),
            ("damaged payload", flipped, "is damaged (checksum mismatch)"),
            ("damaged header", otherGeneration, "is damaged (header checksum mismatch)"),
            ("another catalog", foreignCatalog, "belongs to another catalog"),
        ]
        for (name, data, reason) in cases {
            try data.write(to: URL(fileURLWithPath: path))
            let (index, notes) = try open(store)
            XCTAssertEqual(notes.count, 1, name)
            XCTAssertTrue(notes.first?.contains(reason) == true && notes.first?.contains("rebuilding") == true, "\(name): \(notes)")
            XCTAssertEqual(try ranking(index, "watercolor"), expected, name)
            XCTAssertEqual(try open(store).1, [], "\(name): the rebuilt file is used as is")
        }
        // A directory where the file should be: reported, and an index in memory answers.
        try FileManager.default.removeItem(atPath: path)
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
        let (inMemory, notes) = try open(store)
        XCTAssertNil(inMemory.path)
        XCTAssertEqual(notes.count, 1)
        XCTAssertTrue(notes.first?.contains("using an index in memory") == true, "\(notes)")
        XCTAssertEqual(try ranking(inMemory, "watercolor"), expected)
    }

    /// A reader mapping the file while a writer replaces it again and again always gets a whole,
    /// valid index: the old one or the new one.
    func testConcurrentReaderSeesTheOldOrTheNewIndex() throws {
        let store = try makeStore()
        let path = RetrievalIndex.path(forCatalog: store.path)
        _ = try open(store)
        let done = OnceFlagForTests()
        let failures = NoteLog()
        let reads = Counter()
        let reader = Thread {
            while !done.isSet {
                do {
                    let index = try RetrievalIndex.mapAny(path: path)
                    guard index.documentCount >= 6, index.documentCount <= 6 + 20,
                          index.summaries().count == index.documentCount else {
                        failures.add("inconsistent index: \(index.documentCount) documents"); continue
                    }
                    reads.increment()
                } catch {
                    failures.add("\(error)")
                }
            }
        }
        reader.start()
        for i in 0..<20 {
            try importCards([card("b-\(i)", "Extra \(i)", tags: ["extra"], description: "Extra adapter \(i).")], into: store)
            XCTAssertNil(RetrievalIndex.refresh(store: store))
        }
        let deadline = Date().addingTimeInterval(30)
        while reads.value < 20 && Date() < deadline { usleep(1000) }
        done.set()
        XCTAssertEqual(failures.lines, [])
        XCTAssertGreaterThanOrEqual(reads.value, 20, "the reader must have read while the writer wrote")
        XCTAssertEqual(try open(store).0.documentCount, cards.count + 20)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: (path as NSString).deletingLastPathComponent).filter { $0.contains(".tmp-") }
        XCTAssertEqual(leftovers, [], "no temporary files left")
    }

    /// `CatalogIndex` (the language server's and MCP server's catalog) opens the same file and its
    /// composer is ready from it; summaries come from it too.
    func testCatalogIndexOpensTheIndexFile() async throws {
        let store = try makeStore()
        let catalog = try CatalogIndex(store: store, note: { _ in })
        await catalog.composerReady()
        XCTAssertTrue(FileManager.default.fileExists(atPath: RetrievalIndex.path(forCatalog: store.path)))
        let pool = try catalog.candidatePool()
        XCTAssertEqual(try pool.candidates(for: CandidateQuery(text: "castle", baseModel: nil, includeNSFW: false, limit: 3)).first?.card.adapterId, "a-castle")
        try await catalog.loaded()
        XCTAssertEqual(catalog.summaries, try store.summaries())
        XCTAssertEqual(catalog.summary(alias: "a_dog")?.adapterId, "a-dog")
        // One-shot commands: no summaries until a lookup needs them.
        let cli = try CatalogIndex(store: store, loadSummaries: false, note: { _ in })
        let retriever = try cli.retriever(modelDirectory: nil)
        XCTAssertEqual(retriever.adapterCount, cards.count)
        XCTAssertFalse(cli.isLoaded)
        XCTAssertEqual(cli.summary(alias: "a_car")?.adapterId, "a-car")
    }
}

enum MiniLMModelID { static let id = "sentence-transformers/all-MiniLM-L6-v2" }

final class NoteLog: @unchecked Sendable {
    private let lock = NSLock()
    private var list: [String] = []
    func add(_ line: String) { lock.lock(); list.append(line); lock.unlock() }
    var lines: [String] { lock.lock(); defer { lock.unlock() }; return list }
}

final class OnceFlagForTests: @unchecked Sendable {
    private let lock = NSLock()
    private var flag = false
    func set() { lock.lock(); flag = true; lock.unlock() }
    var isSet: Bool { lock.lock(); defer { lock.unlock() }; return flag }
}

final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var n = 0
    func increment() { lock.lock(); n += 1; lock.unlock() }
    var value: Int { lock.lock(); defer { lock.unlock() }; return n }
}
