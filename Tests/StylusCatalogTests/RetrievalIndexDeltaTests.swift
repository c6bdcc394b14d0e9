import Foundation
import GRDB
import StylusCatalog
import StylusCore
import XCTest

/// The retrieval index's delta over a real SQLite catalog: a write to the catalog rewrites only the
/// small delta file (new and changed adapters, tombstones for removed and changed ones), and the
/// base and delta together answer exactly as an index rebuilt from the whole catalog (documents,
/// BM25 scores to the bit, dense rankings); a stale, truncated, damaged or foreign delta is rebuilt
/// with one note; a delta past a sixteenth of the base is compacted into a new base.
final class RetrievalIndexDeltaTests: XCTestCase {
    static let styles = ["watercolor", "ink", "pixel", "anime", "oil", "neon", "pastel", "gothic"]
    static let subjects = ["fox", "castle", "dragon", "robot", "forest", "ship", "witch", "tiger", "owl"]

    func card(_ i: Int, prefix: String = "c", extra: String = "") -> [String: Any] {
        let style = Self.styles[i % Self.styles.count], subject = Self.subjects[(i / 3) % Self.subjects.count]
        let base = ["SD 1.5", "SDXL 1.0", "Pony"][i % 3]
        return ["adapter_id": "\(prefix)-\(String(format: "%03d", i))", "alias": "\(prefix)_\(style)_\(subject)_\(i)",
                "title": "\(style.capitalized) \(subject.capitalized) \(i % 4)", "base_model": base,
                "tags": [style, subject], "trigger_words": ["\(subject)\(i)"],
                "description": "A \(style) adapter for \(subject) pictures\(extra).", "nsfw": i % 7 == 0]
    }

    func importCards(_ cards: [[String: Any]], into store: CatalogStore) throws {
        let jsonl = try Support.tempDir("cards") + "/cards-\(UUID().uuidString).jsonl"
        let lines = try cards.map { String(decoding: try JSONSerialization.data(withJSONObject: $0), as: UTF8.self) }
        try lines.joined(separator: "\n").write(toFile: jsonl, atomically: true, encoding: .utf8)
        _ = try CatalogImporter(store: store).importJSONL(jsonl)
    }

    /// A deterministic unit vector per seed.
    func vector(_ seed: Int) -> [Float] {
        var state = UInt64(seed) &* 6364136223846793005 &+ 1442695040888963407
        var v = (0..<384).map { _ -> Float in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Float(Int64(bitPattern: state >> 11) % 2001 - 1000) / 1000
        }
        let norm = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
        for j in v.indices { v[j] /= norm }
        return v
    }

    /// A catalog of 64 adapters with vectors and its base index file (a delta is allowed up to 4 changes).
    func makeStore(_ name: String = #function) throws -> CatalogStore {
        let store = try CatalogStore(path: try Support.tempDir(name) + "/catalog.sqlite")
        try importCards((0..<64).map { card($0) }, into: store)
        for i in 0..<64 { try store.setEmbedding(adapterID: card(i)["adapter_id"] as! String, vector: vector(i), model: MiniLMModelID.id) }
        XCTAssertNil(RetrievalIndex.refresh(store: store))
        return store
    }

    func open(_ store: CatalogStore) throws -> (RetrievalIndex, [String]) {
        let notes = NoteLog()
        let index = try RetrievalIndex.open(store: store, note: notes.add)
        return (index, notes.lines)
    }

    var queries: [String] { ["watercolor fox", "ink castle dragon", "neon robot", "gothic witch owl", "pixel", "tiger pictures", "nothing"] }

    /// The index answers exactly as one rebuilt from the whole catalog: same documents in the same
    /// order, BM25 scores equal to the bit, the same lexical candidates, the same dense rankings.
    func assertSameAsFullRebuild(_ index: RetrievalIndex, _ store: CatalogStore, file: StaticString = #filePath, line: UInt = #line) throws {
        let full = try RetrievalIndex.rebuiltInMemory(store: store)
        XCTAssertEqual(index.documentCount, full.documentCount, file: file, line: line)
        XCTAssertEqual(index.vectorCount, full.vectorCount, file: file, line: line)
        XCTAssertEqual(index.summaries(), full.summaries(), file: file, line: line)
        XCTAssertEqual(index.summaries(), try store.summaries(), file: file, line: line)
        // One document at a time, as the retriever reads them (kept once read: the second pass
        // answers from what the first kept); a delta document's vector is a row past the base's.
        for pass in 0..<2 {
            for doc in 0..<index.documentCount {
                XCTAssertEqual(index.summary(doc), full.summary(doc), "pass \(pass), document \(doc)", file: file, line: line)
                XCTAssertTrue(index.vector(doc) == full.vector(doc), "pass \(pass), document \(doc): another vector", file: file, line: line)
            }
        }
        for text in queries {
            let terms = Set(BM25Index.tokens(text))
            let a = BM25Index(index: index).search(terms: terms, limit: 80, allowed: { _ in true }).map { "\($0.doc) \($0.score.bitPattern)" }
            let b = BM25Index(index: full).search(terms: terms, limit: 80, allowed: { _ in true }).map { "\($0.doc) \($0.score.bitPattern)" }
            XCTAssertEqual(a, b, text, file: file, line: line)
            for base: BaseModel? in [nil, .sd15, .sdxl] {
                for nsfw in [false, true] {
                    let q = CandidateQuery(text: text, baseModel: base, includeNSFW: nsfw, limit: 10)
                    let x = try LexicalCandidates(index: index, wordNet: nil).candidates(for: q).map { "\($0.card.adapterId) \($0.score)" }
                    let y = try LexicalCandidates(index: full, wordNet: nil).candidates(for: q).map { "\($0.card.adapterId) \($0.score)" }
                    XCTAssertEqual(x, y, "\(text) \(String(describing: base)) \(nsfw)", file: file, line: line)
                }
            }
        }
        let dense = try Retriever(store: store, encoder: nil, index: index), fullDense = try Retriever(store: store, encoder: nil, index: full)
        for seed in [3, 500, 1001] {
            let q = vector(seed)
            XCTAssertEqual(dense.denseTopRows(q, depth: 20).map { "\($0.0) \($0.1)" }, fullDense.denseTopRows(q, depth: 20).map { "\($0.0) \($0.1)" },
                           file: file, line: line)
            XCTAssertEqual(dense.exactTopRows(q, depth: 20).map { "\($0.0) \($0.1)" }, fullDense.exactTopRows(q, depth: 20).map { "\($0.0) \($0.1)" },
                           file: file, line: line)
        }
    }

    func testImportWritesADeltaThatAnswersAsAFullRebuild() throws {
        let store = try makeStore()
        let path = RetrievalIndex.path(forCatalog: store.path)
        let baseBytes = try Data(contentsOf: URL(fileURLWithPath: path))
        // Two new adapters (ids sorting before, among and after the base's), one with a vector.
        try importCards([card(1, prefix: "a"), card(2, prefix: "d")], into: store)
        try store.setEmbedding(adapterID: "a-001", vector: vector(900), model: MiniLMModelID.id)
        XCTAssertNil(RetrievalIndex.refresh(store: store))
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path)), baseBytes, "the base is not rewritten")
        XCTAssertTrue(FileManager.default.fileExists(atPath: RetrievalIndex.deltaPath(forIndex: path)))
        let (index, notes) = try open(store)
        XCTAssertEqual(notes, [], "up to date: mapped as is")
        XCTAssertEqual(index.generation, try store.indexState().generation)
        XCTAssertEqual(index.deltaDocumentCount, 2)
        XCTAssertEqual(index.tombstoneCount, 0)
        XCTAssertEqual(index.documentCount, 66)
        XCTAssertEqual(index.document(adapterID: "a-001").map(index.adapterID), "a-001")
        XCTAssertEqual(index.document(adapterID: "d-002"), 65)
        try assertSameAsFullRebuild(index, store)

        // A changed adapter: its base document becomes a tombstone, the new version is in the delta.
        try importCards([card(5, extra: " with glowing runes")], into: store)
        XCTAssertNil(RetrievalIndex.refresh(store: store))
        let (changed, _) = try open(store)
        XCTAssertEqual(changed.deltaDocumentCount, 3)
        XCTAssertEqual(changed.tombstoneCount, 1)
        XCTAssertEqual(changed.documentCount, 66)
        XCTAssertEqual(try LexicalCandidates(index: changed, wordNet: nil)
            .candidates(for: CandidateQuery(text: "glowing runes", baseModel: nil, includeNSFW: true, limit: 1)).first?.card.adapterId, "c-005")
        try assertSameAsFullRebuild(changed, store)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path)), baseBytes, "the base is not rewritten")
    }

    /// The fp32 vectors are the one part of the file the open-time checksum leaves out: a damaged
    /// row is caught when it is read (its own checksum), its int8 codes stand in for it, and the
    /// file is removed so that the next open rebuilds it.
    func testADamagedVectorRowIsNeverUsedAndTheFileIsRebuilt() throws {
        let store = try makeStore()
        let path = RetrievalIndex.path(forCatalog: store.path)
        var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        let matrixSection = 17  // RetrievalIndex.Section.matrix: (offset, length) at 128 + 16 · section
        let matrixOffset = Int(bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 128 + 16 * matrixSection, as: UInt64.self) })
        let matrixLength = Int(bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 128 + 16 * matrixSection + 8, as: UInt64.self) })
        XCTAssertEqual(matrixLength, 64 * 384 * 4)
        bytes[matrixOffset + 5 * 384 * 4 + 3] ^= 0x40  // row 5, first value: its exponent
        try bytes.write(to: URL(fileURLWithPath: path))

        let (index, notes) = try open(store)
        XCTAssertEqual(notes, [], "the open-time checksum does not cover the vectors")
        let dense = try Retriever(store: store, encoder: nil, index: index)
        for seed in 0..<64 {
            let best = try XCTUnwrap(dense.exactTopRows(vector(seed), depth: 1).first)
            XCTAssertEqual(index.adapterID(best.0), card(seed)["adapter_id"] as? String)
            XCTAssertEqual(best.1, 1, accuracy: 0.01, "seed \(seed): its own vector, or the int8 codes in its place")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: path), "removed once the damage was seen")
        let (rebuilt, _) = try open(store)
        XCTAssertTrue(FileManager.default.fileExists(atPath: path))
        try assertSameAsFullRebuild(rebuilt, store)
    }

    func testRemovedAdaptersAreTombstones() throws {
        let store = try makeStore()
        try store.remove("c-010")
        XCTAssertNil(RetrievalIndex.refresh(store: store))
        let (index, _) = try open(store)
        XCTAssertEqual(index.tombstoneCount, 1)
        XCTAssertEqual(index.deltaDocumentCount, 0)
        XCTAssertEqual(index.documentCount, 63)
        XCTAssertEqual(index.vectorCount, 63)
        XCTAssertNil(index.document(adapterID: "c-010"))
        let hits = BM25Index(index: index).search(terms: Set(BM25Index.tokens("pixel castle c_pixel_castle_10")), limit: 64, allowed: { _ in true })
        XCTAssertFalse(hits.map { index.adapterID($0.doc) }.contains("c-010"))
        let dense = try Retriever(store: store, encoder: nil, index: index)
        XCTAssertFalse(dense.denseTopRows(vector(10), depth: 64).map { index.adapterID($0.0) }.contains("c-010"), "its vector is never ranked")
        try assertSameAsFullRebuild(index, store)
    }

    func testStaleDeltaIsRebuiltWithOneNote() throws {
        let store = try makeStore()
        let path = RetrievalIndex.path(forCatalog: store.path)
        try importCards([card(70)], into: store)
        XCTAssertNil(RetrievalIndex.refresh(store: store))
        let baseBytes = try Data(contentsOf: URL(fileURLWithPath: path))
        // Another writer changed the catalog without updating the index (or crashed before it could).
        try store.remove("c-020")
        let (index, notes) = try open(store)
        XCTAssertEqual(notes.count, 1, "\(notes)")
        XCTAssertTrue(notes.first?.contains("is stale") == true && notes.first?.contains("rebuilding its delta") == true, "\(notes)")
        XCTAssertEqual(index.generation, try store.indexState().generation)
        XCTAssertEqual(index.documentCount, 64)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path)), baseBytes, "only the delta is rebuilt")
        XCTAssertEqual(try open(store).1, [], "rebuilt once")
        try assertSameAsFullRebuild(index, store)
    }

    func testTruncatedDamagedOrForeignDeltasAreDetectedAndRebuilt() throws {
        let store = try makeStore()
        let deltaPath = RetrievalIndex.deltaPath(forIndex: RetrievalIndex.path(forCatalog: store.path))
        try importCards([card(3, prefix: "b"), card(4, prefix: "e")], into: store)
        XCTAssertNil(RetrievalIndex.refresh(store: store))
        let bytes = try Data(contentsOf: URL(fileURLWithPath: deltaPath))
        var flipped = bytes
        flipped[bytes.count - 70] ^= 0x20
        // The delta of another catalog with the same cards (its own base and catalog id).
        let other = try makeStore("other")
        try importCards([card(3, prefix: "b"), card(4, prefix: "e")], into: other)
        XCTAssertNil(RetrievalIndex.refresh(store: other))
        let foreign = try Data(contentsOf: URL(fileURLWithPath: RetrievalIndex.deltaPath(forIndex: RetrievalIndex.path(forCatalog: other.path))))
        let cases: [(String, Data, String)] = [
            ("empty", Data(), "is empty"),
            ("truncated", bytes.prefix(bytes.count - 64), "is truncated"),
            ("damaged", flipped, "is damaged (checksum mismatch)"),
            ("another catalog's", foreign, "extends another base index"),
        ]
        for (name, data, reason) in cases {
            try data.write(to: URL(fileURLWithPath: deltaPath))
            let (index, notes) = try open(store)
            XCTAssertEqual(notes.count, 1, name)
            XCTAssertTrue(notes.first.map { $0.contains("delta \(deltaPath) \(reason)") && $0.contains("rebuilding its delta") } == true,
                          "\(name): \(notes)")
            XCTAssertEqual(index.deltaDocumentCount, 2, name)
            try assertSameAsFullRebuild(index, store)
            XCTAssertEqual(try open(store).1, [], "\(name): the rebuilt delta is used as is")
        }
    }

    func testALargeDeltaIsCompactedIntoANewBase() throws {
        let store = try makeStore()
        let path = RetrievalIndex.path(forCatalog: store.path)
        let deltaPath = RetrievalIndex.deltaPath(forIndex: path)
        try importCards((100..<103).map { card($0) }, into: store)
        XCTAssertNil(RetrievalIndex.refresh(store: store))
        XCTAssertEqual(try open(store).0.deltaDocumentCount, 3, "3 changes of 64: a delta")
        try importCards((103..<105).map { card($0) }, into: store)
        XCTAssertNil(RetrievalIndex.refresh(store: store))
        XCTAssertFalse(FileManager.default.fileExists(atPath: deltaPath), "5 changes of 64: compacted, the delta dropped")
        let (index, notes) = try open(store)
        XCTAssertEqual(notes, [])
        XCTAssertEqual(index.deltaDocumentCount, 0)
        XCTAssertEqual(index.documentCount, 69)
        XCTAssertEqual(index.generation, try store.indexState().generation)
        try assertSameAsFullRebuild(index, store)
        // The next change is a delta over the new base again.
        try store.remove("c-103")
        XCTAssertNil(RetrievalIndex.refresh(store: store))
        XCTAssertEqual(try open(store).0.tombstoneCount, 1)
    }

    /// The embedding run derives the name texts of the adapters changed since its last run only
    /// (through the same change log), all of them the first time.
    func testNameTextsToEmbedFollowTheChangeLog() throws {
        let store = try makeStore()
        let first = try store.nameTextsToEmbed()
        XCTAssertEqual(first.generation, try store.indexState().generation)
        XCTAssertTrue(first.texts.contains(ComposerWords.titleText(card(7)["title"] as! String)), "every adapter the first time")
        XCTAssertGreaterThanOrEqual(first.texts.count, 64)
        try store.markNameTextsEmbedded(generation: first.generation)
        XCTAssertEqual(try store.nameTextsToEmbed().texts, [], "nothing changed since")
        try importCards([card(90, prefix: "n")], into: store)
        let next = try store.nameTextsToEmbed()
        XCTAssertEqual(Set(next.texts), Set([ComposerWords.titleText(card(90)["title"] as! String)] + ComposerWords.subjectTags(card(90)["tags"] as! [String])))
        // An older mark never replaces a newer one.
        try store.markNameTextsEmbedded(generation: next.generation)
        try store.markNameTextsEmbedded(generation: first.generation)
        XCTAssertEqual(try store.nameTextsToEmbed().texts, [])
    }

    /// A catalog whose change log starts after its index was built (a catalog from before the log,
    /// whose index was stale when it was migrated): the index is rebuilt whole, never patched.
    func testAnIndexOlderThanTheChangeLogIsRebuiltWhole() throws {
        let store = try makeStore()
        try importCards([card(80)], into: store)
        try DatabaseQueue(path: store.path).write {
            try $0.execute(sql: "UPDATE catalog_state SET value = (SELECT value FROM catalog_state WHERE key = 'generation') WHERE key = 'changes_since'")
        }
        let (index, notes) = try open(store)
        XCTAssertEqual(notes.count, 1)
        XCTAssertTrue(notes.first?.contains("is stale") == true && notes.first?.contains("rebuilding it (") == true, "\(notes)")
        XCTAssertEqual(index.deltaDocumentCount, 0)
        try assertSameAsFullRebuild(index, store)
    }
}
