import Foundation
import GRDB
import StylusCatalog
import StylusCore
import XCTest

/// The SQLite store: migrations, refusal of newer schemas, FTS5, embeddings, upsert semantics,
/// and writers in other processes.
final class StoreTests: XCTestCase {
    func input(_ id: String, alias: String, description: String = "", tags: [String] = ["style"]) -> AdapterInput {
        Self.makeInput(id, alias: alias, description: description, tags: tags)
    }

    static func makeInput(_ id: String, alias: String, description: String = "", tags: [String] = ["style"]) -> AdapterInput {
        AdapterInput(card: AdapterCard(adapterId: id, alias: alias, title: alias.capitalized, baseModel: .sd15, tags: tags,
                                       description: description, imagePrompts: ["x <lora:\(alias):0.6>"]),
                     source: "test")
    }

    func testOpenCreatesWALDatabaseWithAllMigrations() throws {
        let path = try Support.tempDir() + "/sub/dir/catalog.sqlite"
        let store = try CatalogStore(path: path)
        XCTAssertEqual(try store.appliedMigrations, ["v1_adapters", "v2_fts", "v3_llm_cache", "v4_embedding_text_hash", "v5_text_vectors", "v6_index_generation", "v7_index_change_log"])
        let db = try DatabaseQueue(path: path)
        XCTAssertEqual(try db.read { try String.fetchOne($0, sql: "PRAGMA journal_mode") }, "wal")
    }

    func testOlderDatabaseIsMigratedKeepingRows() throws {
        let path = try Support.tempDir() + "/old.sqlite"
        // A catalog as the first schema version left it, with one adapter.
        do {
            let queue = try DatabaseQueue(path: path)
            try CatalogSchema.migrator.migrate(queue, upTo: "v1_adapters")
            try queue.write { db in
                try db.execute(sql: """
                    INSERT INTO adapters (adapter_id, alias, title, source, card_hash, category, weight, weight_source,
                                          refined_description, created_at, updated_at)
                    VALUES ('old-1', 'oldalias', 'Old Title', 'jsonl', 'h', 'style', 0.7, 'field', 'ancient ink wash', 0, 0)
                    """)
            }
            XCTAssertFalse(try queue.read { try $0.tableExists("adapters_fts") })
        }
        let store = try CatalogStore(path: path)
        XCTAssertEqual(try store.appliedMigrations, ["v1_adapters", "v2_fts", "v3_llm_cache", "v4_embedding_text_hash", "v5_text_vectors", "v6_index_generation", "v7_index_change_log"])
        XCTAssertEqual(try store.lookup("oldalias").first?.card.title, "Old Title")
        // The FTS index was built over the rows that were already there.
        XCTAssertEqual(try store.fullTextSearch("ancient"), ["old-1"])
    }

    /// Several openers of one new catalog at the same moment (as when an editor starts the server
    /// while a CLI command runs) all succeed: one applies each migration, the others find it done.
    func testConcurrentOpenersOfANewCatalogAllSucceed() throws {
        let dir = try Support.tempDir()
        for round in 0..<8 {
            let path = dir + "/race-\(round).sqlite"
            let failures = Failures()
            DispatchQueue.concurrentPerform(iterations: 4) { _ in
                do { _ = try CatalogStore(path: path) } catch { failures.add("\(error)") }
            }
            XCTAssertEqual(failures.all, [], "round \(round)")
        }
    }

    final class Failures: @unchecked Sendable {
        private let lock = NSLock()
        private var messages: [String] = []
        func add(_ message: String) { lock.lock(); messages.append(message); lock.unlock() }
        var all: [String] { lock.lock(); defer { lock.unlock() }; return messages }
    }

    func testNewerDatabaseIsRefused() throws {
        let path = try Support.tempDir() + "/newer.sqlite"
        _ = try CatalogStore(path: path)
        let queue = try DatabaseQueue(path: path)
        try queue.write { try $0.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES ('v9_from_the_future')") }
        XCTAssertThrowsError(try CatalogStore(path: path)) { error in
            XCTAssertEqual(error as? CatalogError, .newerSchema(path: path, unknownMigrations: ["v9_from_the_future"]))
            XCTAssertTrue("\(error)".contains("newer version of stylus"))
        }
    }

    func testNotADatabaseIsRefused() throws {
        let path = try Support.tempDir() + "/junk.sqlite"
        try Support.write(path, Array("this is not sqlite, just text that is long enough to be a header".utf8) + [UInt8](repeating: 7, count: 4096))
        XCTAssertThrowsError(try CatalogStore(path: path)) { error in
            XCTAssertEqual(error as? CatalogError, .notADatabase(path: path))
        }
    }

    func testUpsertAddsUpdatesAndKeepsUnchanged() throws {
        let store = try CatalogStore(path: try Support.tempDir() + "/c.sqlite")
        XCTAssertEqual(try store.upsert([input("a", alias: "alpha"), input("b", alias: "beta")]), [.added, .added])
        XCTAssertEqual(try store.upsert([input("a", alias: "alpha")]), [.unchanged])
        XCTAssertEqual(try store.upsert([input("a", alias: "alpha", description: "new text")]), [.updated])
        let a = try XCTUnwrap(store.lookup("a").first)
        XCTAssertEqual(a.card.description, "new text")
        XCTAssertEqual(a.card.imagePrompts, ["x <lora:alpha:0.6>"])
        XCTAssertEqual(a.refinement.weight, 0.6)
        XCTAssertEqual(try store.count, 2)
        XCTAssertEqual(try store.remove("BETA"), ["b"])  // by alias, case-insensitive
        XCTAssertEqual(try store.count, 1)
        let prompts = try DatabaseQueue(path: store.path).read { try Int.fetchOne($0, sql: "SELECT count(*) FROM example_prompts") }
        XCTAssertEqual(prompts, 1, "example prompts of a removed adapter go with it (foreign key cascade)")
    }

    func testFullTextIndexFollowsUpdates() throws {
        let store = try CatalogStore(path: try Support.tempDir() + "/fts.sqlite")
        try store.upsert([input("a", alias: "alpha", description: "glowing jellyfish"), input("b", alias: "beta", description: "rusty robots")])
        XCTAssertEqual(try store.fullTextSearch("jellyfish"), ["a"])
        XCTAssertEqual(try store.fullTextSearch("robot"), ["b"], "porter stemming: robot matches robots")
        try store.upsert([input("a", alias: "alpha", description: "paper lanterns")])
        XCTAssertEqual(try store.fullTextSearch("jellyfish"), [])
        XCTAssertEqual(try store.fullTextSearch("lanterns"), ["a"])
        try store.remove("b")
        XCTAssertEqual(try store.fullTextSearch("robots"), [])
    }

    func testEmbeddingsRoundTripAndAreDroppedWhenTextChanges() throws {
        let store = try CatalogStore(path: try Support.tempDir() + "/emb.sqlite")
        try store.upsert([input("a", alias: "alpha")])
        let v: [Float] = (0..<384).map { Float($0) / 384 - 0.5 }
        try store.setEmbedding(adapterID: "a", vector: v, model: EmbeddingVector.modelID)
        let stored = try store.embeddings(model: EmbeddingVector.modelID)
        XCTAssertEqual(stored.count, 1)
        XCTAssertEqual(stored[0].vector, v)
        XCTAssertEqual(try store.adaptersMissingEmbedding(model: EmbeddingVector.modelID).count, 0)
        try store.upsert([input("a", alias: "alpha")])  // unchanged: keeps it
        XCTAssertEqual(try store.embeddings(model: EmbeddingVector.modelID).count, 1)
        try store.upsert([input("a", alias: "alpha", description: "changed")])
        XCTAssertEqual(try store.embeddings(model: EmbeddingVector.modelID).count, 0)
        XCTAssertEqual(try store.adaptersMissingEmbedding(model: EmbeddingVector.modelID).map(\.adapterID), ["a"])
    }

    /// Vectors carry the model id and the hash of the text they were computed from: a card change
    /// that leaves the embedded text alone keeps the vector; a change of the text drops it.
    func testEmbeddingIsKeptUntilItsTextChanges() throws {
        let store = try CatalogStore(path: try Support.tempDir() + "/hash.sqlite")
        var card = input("a", alias: "alpha", description: "ink wash mountains")
        try store.upsert([card])
        let v: [Float] = (0..<384).map { Float($0 % 7) / 7 }
        try store.setEmbedding(adapterID: "a", vector: v, model: EmbeddingVector.modelID)
        let refined = try XCTUnwrap(store.lookup("a").first).refinement.refinedDescription
        let stamp = try store.embeddingStamp(adapterID: "a")
        XCTAssertEqual(stamp.model, EmbeddingVector.modelID)
        XCTAssertEqual(stamp.textHash, CatalogStore.embeddingTextHash(refined))

        // Popularity is not part of the embedded text: the card is updated, the vector stays.
        card.card.downloadCount = 1234
        card.card.rating = 4.5
        XCTAssertEqual(try store.upsert([card]), [.updated])
        XCTAssertEqual(try store.embeddings(model: EmbeddingVector.modelID).map(\.vector), [v])
        XCTAssertEqual(try store.adaptersMissingEmbedding(model: EmbeddingVector.modelID).count, 0)

        // New description text: the vector and its stamp go, the adapter is pending again.
        card.card.description = "neon city at night"
        XCTAssertEqual(try store.upsert([card]), [.updated])
        XCTAssertEqual(try store.embeddings(model: EmbeddingVector.modelID).count, 0)
        XCTAssertNil(try store.embeddingStamp(adapterID: "a").textHash)
        XCTAssertEqual(try store.adaptersMissingEmbedding(model: EmbeddingVector.modelID).map(\.adapterID), ["a"])

        // A vector of another model does not count as ours.
        try store.setEmbedding(adapterID: "a", vector: v, model: "other/model")
        XCTAssertEqual(try store.adaptersMissingEmbedding(model: EmbeddingVector.modelID).map(\.adapterID), ["a"])
    }

    /// A catalog from before the text-hash migration keeps its vectors, stamped with their text's hash.
    func testTextHashMigrationStampsExistingVectors() throws {
        let path = try Support.tempDir() + "/v3.sqlite"
        do {
            let queue = try DatabaseQueue(path: path)
            try CatalogSchema.migrator.migrate(queue, upTo: "v3_llm_cache")
            try queue.write { db in
                try db.execute(sql: """
                    INSERT INTO adapters (adapter_id, alias, title, source, card_hash, category, weight, weight_source,
                                          refined_description, embedding, embedding_model, embedding_dim, created_at, updated_at)
                    VALUES ('old-1', 'oldalias', 'Old Title', 'jsonl', 'h', 'style', 0.7, 'field', 'ancient ink wash',
                            zeroblob(1536), ?, 384, 0, 0),
                           ('old-2', 'plain', 'Plain', 'jsonl', 'h2', 'style', 0.7, 'field', 'no vector', NULL, NULL, NULL, 0, 0)
                    """, arguments: [EmbeddingVector.modelID])
            }
        }
        let store = try CatalogStore(path: path)
        XCTAssertTrue(try store.appliedMigrations.contains("v4_embedding_text_hash"))
        XCTAssertEqual(try store.embeddingStamp(adapterID: "old-1").textHash, CatalogStore.embeddingTextHash("ancient ink wash"))
        XCTAssertNil(try store.embeddingStamp(adapterID: "old-2").textHash)
        XCTAssertEqual(try store.embeddings(model: EmbeddingVector.modelID).count, 1)
    }

    /// Another connection (a second CatalogStore) and another process (python3's sqlite3) write
    /// the same catalog while an import runs; every write lands.
    func testConcurrentWritersFromAnotherConnectionAndProcess() throws {
        let dir = try Support.tempDir()
        let path = dir + "/shared.sqlite"
        let store = try CatalogStore(path: path)
        let script = """
            import sqlite3, sys, time
            con = sqlite3.connect(sys.argv[1], timeout=30)
            for i in range(200):
                with con:
                    con.execute("INSERT INTO adapters (adapter_id, alias, title, source, card_hash, category, weight, weight_source, created_at, updated_at) VALUES (?, ?, 'py', 'py', 'h', 'concept', 0.8, 'default', 0, 0)", ("py-%d" % i, "py%d" % i))
            print("ok")
            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script, path]
        let out = Pipe()
        process.standardOutput = out
        process.standardError = out
        try process.run()

        let other = try CatalogStore(path: path)
        let group = DispatchGroup()
        let failures = LockedList()
        for (k, s) in [store, other].enumerated() {
            DispatchQueue.global().async(group: group) {
                do {
                    for i in 0..<40 {
                        try s.upsert((0..<10).map { j in Self.makeInput("c\(k)-\(i)-\(j)", alias: "c\(k)_\(i)_\(j)") })
                    }
                } catch {
                    failures.append("\(error)")
                }
            }
        }
        group.wait()
        process.waitUntilExit()
        let output = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        XCTAssertEqual(process.terminationStatus, 0, output)
        XCTAssertEqual(failures.items, [])
        XCTAssertEqual(try store.count, 200 + 2 * 400)
    }
}

final class LockedList: @unchecked Sendable {
    private let lock = NSLock()
    private var list: [String] = []
    func append(_ s: String) { lock.lock(); list.append(s); lock.unlock() }
    var items: [String] { lock.lock(); defer { lock.unlock() }; return list }
}
