import Foundation
import GRDB
import StylusCore

/// The adapter catalog: one SQLite file (WAL, foreign keys, versioned migrations), safe to share
/// with other processes (writers wait for each other up to `busyTimeout`).
public final class CatalogStore: Sendable {
    public let path: String
    let pool: DatabasePool

    /// Bumped when the offline refiner's rules change, so re-imports refresh refined fields.
    static let refinerVersion = "offline-1"

    /// How long a writer waits for another process's transaction before failing.
    public static let busyTimeout: TimeInterval = 30

    /// Opens (creating if needed) and migrates the catalog at `path`.
    public init(path: String) throws {
        self.path = path
        let dir = (path as NSString).deletingLastPathComponent
        if !dir.isEmpty, !FileManager.default.fileExists(atPath: dir) {
            do {
                try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            } catch {
                throw CatalogError.cannotOpen(path: path, reason: "cannot create directory \(dir): \(error.localizedDescription)")
            }
        }
        var config = Configuration()
        config.foreignKeysEnabled = true
        config.busyMode = .timeout(Self.busyTimeout)
        config.label = "stylus.catalog"
        do {
            pool = try Self.openPool(path: path, configuration: config)
        } catch let error as DatabaseError where error.resultCode == .SQLITE_NOTADB {
            throw CatalogError.notADatabase(path: path)
        } catch {
            throw CatalogError.cannotOpen(path: path, reason: Self.message(error))
        }
        let migrator = CatalogSchema.migrator
        do {
            let applied = try pool.read { try migrator.appliedIdentifiers($0) }
            let known = Set(migrator.migrations)
            let unknown = applied.subtracting(known).sorted()
            if !unknown.isEmpty { throw CatalogError.newerSchema(path: path, unknownMigrations: unknown) }
            // Another process opening the same new catalog can apply a migration between GRDB's read
            // of the applied list and its own attempt ("table already exists"). Each such failure means
            // the other side made progress, so try again (at most once per migration) until complete.
            for attempt in 0... {
                do {
                    try migrator.migrate(pool)
                    break
                } catch let error as DatabaseError {
                    if try pool.read(migrator.hasCompletedMigrations) { break }
                    if attempt >= migrator.migrations.count { throw error }
                }
            }
        } catch let error as CatalogError {
            throw error
        } catch let error as DatabaseError where error.resultCode == .SQLITE_NOTADB {
            throw CatalogError.notADatabase(path: path)
        } catch {
            throw CatalogError.database(path: path, message: Self.message(error))
        }
    }

    /// Opens the pool, waiting up to `busyTimeout` while another connection holds the lock that
    /// switching a new file to WAL needs (SQLite reports that at once, without the busy handler).
    private static func openPool(path: String, configuration: Configuration) throws -> DatabasePool {
        let deadline = Date().addingTimeInterval(busyTimeout)
        while true {
            do {
                return try DatabasePool(path: path, configuration: configuration)
            } catch let error as DatabaseError where [.SQLITE_BUSY, .SQLITE_LOCKED].contains(error.resultCode) && Date() < deadline {
                usleep(5_000)
            }
        }
    }

    static func message(_ error: Error) -> String {
        if let e = error as? DatabaseError { return e.message ?? "\(e.resultCode)" }
        return "\(error)"
    }

    /// Runs a write transaction, mapping SQLite errors to `CatalogError`.
    func write<T>(_ body: (Database) throws -> T) throws -> T {
        do { return try pool.write(body) } catch let e as CatalogError { throw e } catch {
            throw CatalogError.database(path: path, message: Self.message(error))
        }
    }

    func read<T>(_ body: (Database) throws -> T) throws -> T {
        do { return try pool.read(body) } catch let e as CatalogError { throw e } catch {
            throw CatalogError.database(path: path, message: Self.message(error))
        }
    }

    public var appliedMigrations: [String] {
        get throws { try read { try CatalogSchema.migrator.appliedMigrations($0) } }
    }

    // MARK: - Writing

    public enum UpsertOutcome: Sendable, Equatable { case added, updated, unchanged }

    /// Adds or updates adapters in one transaction, refining each with the offline refiner.
    /// Returns one outcome per input, in order.
    @discardableResult
    public func upsert(_ inputs: [AdapterInput]) throws -> [UpsertOutcome] {
        try write { db in try inputs.map { try upsert($0, db) } }
    }

    func upsert(_ input: AdapterInput, _ db: Database) throws -> UpsertOutcome {
        let hash = Self.hash(input)
        let existing = try Row.fetchOne(
            db.cachedStatement(sql: "SELECT id, card_hash, embedding_model FROM adapters WHERE adapter_id = ?"),
            arguments: [input.card.adapterId])
        let embedding = input.embedding.flatMap { $0.isUsable ? $0 : nil }
        if let existing, (existing["card_hash"] as String?) == hash {
            if let embedding, (existing["embedding_model"] as String?) == nil {
                try storeEmbedding(rowID: existing["id"], vector: embedding.values, model: EmbeddingVector.modelID, db)
            }
            return .unchanged
        }
        var refinement = OfflineRefiner.refine(input.card, fileStem: input.file?.stem)
        if let stated = input.statedCategory {
            refinement.category = stated
            refinement.isCharacter = stated.isCharacterLike
        }
        let card = input.card
        let now = Date().timeIntervalSince1970
        var args: [(String, (any DatabaseValueConvertible)?)] = [
            ("adapter_id", card.adapterId), ("alias", card.alias), ("title", card.title),
            ("base_model", card.baseModel?.name), ("base_model_raw", input.baseModelRaw), ("type", card.type),
            ("tags", JSONText.array(card.tags)), ("trigger_words", JSONText.array(card.triggerWords)),
            ("description", card.description), ("llm_description", card.llmDescription),
            ("card_weight", card.weight), ("nsfw", card.nsfw), ("download_count", card.downloadCount),
            ("rating", card.rating), ("image_urls", JSONText.array(card.imageURLs)),
            ("download_url", card.downloadURL), ("training_tags", JSONText.array(card.trainingTags)),
            ("extra", input.extra), ("source", input.source), ("source_ref", input.sourceRef), ("card_hash", hash),
            ("category", refinement.category.rawValue), ("is_character", refinement.isCharacter),
            ("weight", refinement.weight), ("weight_source", refinement.weightSource.rawValue),
            ("refined_trigger_words", JSONText.array(refinement.triggerWords)),
            ("refined_description", refinement.refinedDescription), ("refined_by", "offline"),
            ("file_path", input.file?.path ?? card.file), ("file_stem", input.file?.stem),
            ("file_size", input.file?.size), ("file_mtime", input.file?.mtime),
            ("preview_path", input.file?.previewPath), ("autov3", input.file?.autov3),
            ("autov2", input.file?.autov2), ("sha256", input.file?.sha256),
            ("scan_signature", input.file?.scanSignature), ("updated_at", now),
        ]
        let rowID: Int64
        let outcome: UpsertOutcome
        if let existing {
            rowID = existing["id"]
            // The vector stays only while the embedded text is unchanged (a new download count or
            // rating does not need a new vector); otherwise it is dropped unless a fresh one came along.
            let textHash = Self.embeddingTextHash(refinement.refinedDescription)
            let keep = ["embedding", "embedding_model", "embedding_dim", "embedding_text_hash"]
                .map { "\($0) = CASE WHEN embedding_text_hash = ? THEN \($0) END" }
            let sets = (args.map { "\($0.0) = ?" } + keep).joined(separator: ", ")
            // SQLite evaluates every SET expression against the old row, so the CASEs see the old hash.
            try db.cachedStatement(sql: "UPDATE adapters SET \(sets) WHERE id = ?")
                .execute(arguments: Self.arguments(args.map { $0.1 } + Array(repeating: textHash, count: keep.count) + [rowID]))
            try db.cachedStatement(sql: "DELETE FROM example_prompts WHERE adapter = ?").execute(arguments: [rowID])
            outcome = .updated
        } else {
            args.append(("created_at", now))
            let cols = args.map(\.0).joined(separator: ", ")
            let marks = Array(repeating: "?", count: args.count).joined(separator: ", ")
            try db.cachedStatement(sql: "INSERT INTO adapters (\(cols)) VALUES (\(marks))")
                .execute(arguments: Self.arguments(args.map { $0.1 }))
            rowID = db.lastInsertedRowID
            outcome = .added
        }
        let insertPrompt = try db.cachedStatement(
            sql: "INSERT INTO example_prompts (adapter, position, prompt, negative_prompt) VALUES (?, ?, ?, ?)")
        for (i, prompt) in card.imagePrompts.enumerated() {
            let negative = i < input.negativePrompts.count ? input.negativePrompts[i] : nil
            try insertPrompt.execute(arguments: [rowID, i, prompt, negative])
        }
        if let embedding {
            try storeEmbedding(rowID: rowID, vector: embedding.values, model: EmbeddingVector.modelID, db)
        }
        return outcome
    }

    /// Typed on purpose: GRDB's failable `StatementArguments([Any])` would otherwise win overload resolution.
    static func arguments(_ values: [(any DatabaseValueConvertible)?]) -> StatementArguments {
        StatementArguments(values)
    }

    static func hash(_ input: AdapterInput) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        var stripped = input
        stripped.embedding = nil  // embeddings are handled separately
        let data = (try? encoder.encode(stripped)) ?? Data()
        return refinerVersion + ":" + fingerprint(data)
    }

    // MARK: - Embeddings (filled by the retriever; imported when precomputed by our model)

    public func setEmbedding(adapterID: String, vector: [Float], model: String) throws {
        try write { db in
            guard let rowID = try Int64.fetchOne(db, sql: "SELECT id FROM adapters WHERE adapter_id = ?", arguments: [adapterID]) else {
                throw CatalogError.badInput(path: path, reason: "no adapter \(adapterID)")
            }
            try storeEmbedding(rowID: rowID, vector: vector, model: model, db)
        }
    }

    func storeEmbedding(rowID: Int64, vector: [Float], model: String, _ db: Database) throws {
        let data = Self.blob(vector)
        // Stamped with the hash of the text the vector is for: the adapter's current refined description.
        let text = try String.fetchOne(db.cachedStatement(sql: "SELECT refined_description FROM adapters WHERE id = ?"),
                                       arguments: [rowID]) ?? ""
        try db.cachedStatement(sql: """
            UPDATE adapters SET embedding = ?, embedding_model = ?, embedding_dim = ?, embedding_text_hash = ? WHERE id = ?
            """).execute(arguments: [data, model, vector.count, Self.embeddingTextHash(text), rowID])
    }

    /// The model and text hash stamped on an adapter's stored vector (nils when it has none).
    package func embeddingStamp(adapterID: String) throws -> (model: String?, textHash: String?) {
        try read { db in
            let row = try Row.fetchOne(db, sql: "SELECT embedding_model, embedding_text_hash FROM adapters WHERE adapter_id = ?",
                                       arguments: [adapterID])
            return (row?["embedding_model"], row?["embedding_text_hash"])
        }
    }

    /// Fingerprint of the text embedded for an adapter with this refined description.
    package static func embeddingTextHash(_ refinedDescription: String) -> String {
        fingerprint(Array(CatalogEmbedder.embeddedText(refinedDescription).utf8))
    }

    /// All stored vectors of one model, row-aligned with their adapter ids.
    public func embeddings(model: String) throws -> [(adapterID: String, vector: [Float])] {
        try read { db in try embeddings(model: model, db) }
    }

    func embeddings(model: String, _ db: Database) throws -> [(adapterID: String, vector: [Float])] {
        try embeddings(sql: "SELECT adapter_id, embedding, embedding_dim FROM adapters WHERE embedding_model = ? ORDER BY id",
                       arguments: [model], db)
    }

    /// The stored vectors of the adapters changed after `generation` (`adaptersChanged`), in row order.
    func embeddings(model: String, changedAfter generation: UInt64, _ db: Database) throws -> [(adapterID: String, vector: [Float])] {
        try embeddings(sql: """
            SELECT adapter_id, embedding, embedding_dim FROM adapters WHERE embedding_model = ?
            AND adapter_id IN (SELECT adapter_id FROM index_changes WHERE generation > ?) ORDER BY id
            """, arguments: [model, Int64(clamping: generation)], db)
    }

    private func embeddings(sql: String, arguments: StatementArguments, _ db: Database) throws -> [(adapterID: String, vector: [Float])] {
        let rows = try Row.fetchCursor(db, sql: sql, arguments: arguments)
        var out: [(String, [Float])] = []
        while let row = try rows.next() {
            out.append((row["adapter_id"], Self.floats(row["embedding"], count: row["embedding_dim"])))
        }
        return out
    }

    /// The generation from which the change log (`index_changes`, kept by the same triggers that
    /// bump the generation) is complete; nil for a catalog without one.
    func changeLogStart(_ db: Database) throws -> UInt64? {
        try Int64.fetchOne(db, sql: "SELECT value FROM catalog_state WHERE key = 'changes_since'").map { UInt64(max(0, $0)) }
    }

    /// The adapter ids added, changed or removed after `generation` (each once).
    func adaptersChanged(after generation: UInt64, _ db: Database) throws -> [String] {
        try String.fetchAll(db, sql: "SELECT adapter_id FROM index_changes WHERE generation > ?", arguments: [Int64(clamping: generation)])
    }

    /// What the retrieval index file must match: the catalog's id and its generation (bumped by
    /// triggers on every change to indexed fields; see the `v6_index_generation` migration).
    public func indexState() throws -> (catalogID: String, generation: UInt64) {
        try read { db in try indexState(db) }
    }

    func indexState(_ db: Database) throws -> (catalogID: String, generation: UInt64) {
        let id = try String.fetchOne(db, sql: "SELECT value FROM catalog_state WHERE key = 'catalog_id'") ?? ""
        let generation = try Int64.fetchOne(db, sql: "SELECT value FROM catalog_state WHERE key = 'generation'") ?? 0
        return (id, UInt64(max(0, generation)))
    }

    /// Runs `body` in one read transaction (one consistent snapshot of the catalog).
    func snapshot<T>(_ body: (Database) throws -> T) throws -> T { try read(body) }

    /// Little-endian Float32 bytes, as vectors are stored.
    static func blob(_ vector: [Float]) -> Data {
        var data = Data(capacity: vector.count * 4)
        for v in vector {
            var le = v.bitPattern.littleEndian
            withUnsafeBytes(of: &le) { data.append(contentsOf: $0) }
        }
        return data
    }

    static func floats(_ data: Data, count: Int? = nil) -> [Float] {
        let n = min(count ?? data.count / 4, data.count / 4)
        return data.withUnsafeBytes { raw in
            (0..<n).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self))) }
        }
    }

    /// Stored embeddings of short texts (titles, tags) by `model`, for those of `texts` that have one.
    public func textVectors(for texts: [String], model: String) throws -> [String: [Float]] {
        guard !texts.isEmpty else { return [:] }
        return try read { db in
            var out: [String: [Float]] = [:]
            try Self.inChunks(texts) { chunk, marks in
                let rows = try Row.fetchCursor(db, sql: "SELECT text, vector FROM text_vectors WHERE model = ? AND text IN (\(marks))",
                                               arguments: StatementArguments([model] + chunk))
                while let row = try rows.next() { out[row["text"]] = Self.floats(row["vector"]) }
            }
            return out
        }
    }

    public func setTextVectors(_ vectors: [(text: String, vector: [Float])], model: String) throws {
        try write { db in
            for (text, vector) in vectors {
                try db.cachedStatement(sql: "INSERT OR REPLACE INTO text_vectors (model, text, vector) VALUES (?, ?, ?)")
                    .execute(arguments: [model, text, Self.blob(vector)])
            }
        }
    }

    /// Those of `texts` that have a stored vector of `model` (without reading the vectors).
    public func textsWithVectors(_ texts: [String], model: String) throws -> Set<String> {
        guard !texts.isEmpty else { return [] }
        return try read { db in
            var out = Set<String>()
            try Self.inChunks(texts) { chunk, marks in
                let rows = try String.fetchCursor(db, sql: "SELECT text FROM text_vectors WHERE model = ? AND text IN (\(marks))",
                                                  arguments: StatementArguments([model] + chunk))
                while let text = try rows.next() { out.insert(text) }
            }
            return out
        }
    }

    /// The distinct `texts` in chunks of 500 with their "?,?,…" placeholders (SQLite limits the
    /// number of bound parameters per statement).
    private static func inChunks(_ texts: [String], _ body: ([String], String) throws -> Void) rethrows {
        let unique = Array(Set(texts))
        for start in stride(from: 0, to: unique.count, by: 500) {
            let chunk = Array(unique[start..<min(start + 500, unique.count)])
            try body(chunk, Array(repeating: "?", count: chunk.count).joined(separator: ","))
        }
    }

    /// The short texts that name every adapter (cleaned title, subject tags).
    public func allNameTexts() throws -> [String] {
        try read { db in
            var out: [String] = []
            let rows = try Row.fetchCursor(db, sql: "SELECT title, tags FROM adapters")
            while let row = try rows.next() {
                out.append(ComposerWords.titleText(row["title"]))
                out += ComposerWords.subjectTags(JSONText.decodeStringArray(row["tags"]))
            }
            return out
        }
    }

    /// The name texts (`allNameTexts`) of the adapters changed since the last `markNameTextsEmbedded`,
    /// found through the catalog's change log, with the generation to mark once they are embedded.
    /// Every adapter's when nothing was marked yet or the log does not reach back to the mark.
    /// (Deriving the texts of all 75,000 adapters costs seconds; an import of 100 needs 100.)
    public func nameTextsToEmbed() throws -> (texts: [String], generation: UInt64) {
        try read { db in
            let generation = try indexState(db).generation
            var sql = "SELECT title, tags FROM adapters"
            var arguments: StatementArguments = []
            if let marked = try Int64.fetchOne(db, sql: "SELECT value FROM catalog_state WHERE key = 'name_texts_embedded'"),
               let logStart = try changeLogStart(db), logStart <= UInt64(max(0, marked)) {
                sql += " WHERE adapter_id IN (SELECT adapter_id FROM index_changes WHERE generation > ?)"
                arguments = [marked]
            }
            var out: [String] = []
            let rows = try Row.fetchCursor(db, sql: sql, arguments: arguments)
            while let row = try rows.next() {
                out.append(ComposerWords.titleText(row["title"]))
                out += ComposerWords.subjectTags(JSONText.decodeStringArray(row["tags"]))
            }
            return (out, generation)
        }
    }

    /// Records that the name texts of every adapter as of `generation` have vectors.
    public func markNameTextsEmbedded(generation: UInt64) throws {
        try write { db in
            try db.execute(sql: """
                INSERT INTO catalog_state (key, value) VALUES ('name_texts_embedded', ?)
                ON CONFLICT (key) DO UPDATE SET value = max(value, excluded.value)
                """, arguments: [Int64(clamping: generation)])
        }
    }

    /// The short texts that name each adapter (cleaned title, subject tags), for `adapterIDs`.
    public func nameTexts(adapterIDs: [String]) throws -> [String] {
        guard !adapterIDs.isEmpty else { return [] }
        return try read { db in
            var out: [String] = []
            for start in stride(from: 0, to: adapterIDs.count, by: 500) {
                let chunk = Array(adapterIDs[start..<min(start + 500, adapterIDs.count)])
                let marks = Array(repeating: "?", count: chunk.count).joined(separator: ",")
                let rows = try Row.fetchCursor(db, sql: "SELECT title, tags FROM adapters WHERE adapter_id IN (\(marks))",
                                               arguments: StatementArguments(chunk))
                while let row = try rows.next() {
                    let tagsJSON: String = row["tags"]
                    let tags = (try? JSONDecoder().decode([String].self, from: Data(tagsJSON.utf8))) ?? []
                    out.append(ComposerWords.titleText(row["title"]))
                    out += ComposerWords.subjectTags(tags)
                }
            }
            return out
        }
    }

    /// Adapters without a vector from `model`, with the text to embed (refined description).
    public func adaptersMissingEmbedding(model: String) throws -> [(adapterID: String, text: String)] {
        try read { db in
            try Row.fetchAll(db, sql: "SELECT adapter_id, refined_description FROM adapters WHERE embedding_model IS NOT ? ORDER BY id", arguments: [model])
                .map { ($0["adapter_id"], $0["refined_description"]) }
        }
    }

    // MARK: - Reading

    public var count: Int {
        get throws { try read { try Int.fetchOne($0, sql: "SELECT count(*) FROM adapters") ?? 0 } }
    }

    /// Every adapter, ordered by adapter id.
    public func allEntries() throws -> [CatalogEntry] {
        try read { db in try fetchEntries(db, whereSQL: "1", arguments: []) }
    }

    /// Adapters matching an id, an alias or a file stem (in that order of preference).
    public func lookup(_ key: String) throws -> [CatalogEntry] {
        try read { db in
            for clause in ["adapter_id = ?", "alias = ? COLLATE NOCASE", "file_stem = ? COLLATE NOCASE"] {
                let found = try fetchEntries(db, whereSQL: clause, arguments: [key])
                if !found.isEmpty { return found }
            }
            return []
        }
    }

    func fetchEntries(_ db: Database, whereSQL: String, arguments: StatementArguments) throws -> [CatalogEntry] {
        let rows = try Row.fetchAll(db, sql: "SELECT * FROM adapters WHERE \(whereSQL) ORDER BY adapter_id", arguments: arguments)
        var prompts: [Int64: [(String, String?)]] = [:]
        if !rows.isEmpty {
            let ids = rows.map { $0["id"] as Int64 }
            let promptRows: [Row]
            if ids.count > 500 {
                promptRows = try Row.fetchAll(db, sql: "SELECT adapter, prompt, negative_prompt FROM example_prompts ORDER BY adapter, position")
            } else {
                let marks = Array(repeating: "?", count: ids.count).joined(separator: ",")
                promptRows = try Row.fetchAll(db, sql: "SELECT adapter, prompt, negative_prompt FROM example_prompts WHERE adapter IN (\(marks)) ORDER BY adapter, position", arguments: Self.arguments(ids.map { $0 }))
            }
            for r in promptRows { prompts[r["adapter"], default: []].append((r["prompt"], r["negative_prompt"])) }
        }
        return rows.map { row in
            let id: Int64 = row["id"]
            let p = prompts[id] ?? []
            let baseName: String? = row["base_model"]
            let card = AdapterCard(
                adapterId: row["adapter_id"], alias: row["alias"], title: row["title"],
                baseModel: baseName.flatMap(BaseModel.init), type: row["type"],
                tags: JSONText.decodeStringArray(row["tags"]), triggerWords: JSONText.decodeStringArray(row["trigger_words"]),
                description: row["description"], llmDescription: row["llm_description"], weight: row["card_weight"],
                nsfw: row["nsfw"], downloadCount: row["download_count"], rating: row["rating"],
                imagePrompts: p.map(\.0), imageURLs: JSONText.decodeStringArray(row["image_urls"]),
                downloadURL: row["download_url"], file: row["file_path"],
                trainingTags: JSONText.decodeStringArray(row["training_tags"]))
            let refinement = AdapterRefinement(
                category: AdapterCategory(rawValue: row["category"]) ?? .concept, isCharacter: row["is_character"],
                weight: row["weight"], weightSource: WeightSource(rawValue: row["weight_source"]) ?? .defaultValue,
                triggerWords: JSONText.decodeStringArray(row["refined_trigger_words"]),
                refinedDescription: row["refined_description"], cleanDescription: CardText.clean(card.description))
            var file: AdapterFile?
            if let stem: String = row["file_stem"], let path: String = row["file_path"] {
                file = AdapterFile(path: path, stem: stem, size: row["file_size"] ?? 0, mtime: row["file_mtime"] ?? 0,
                                   previewPath: row["preview_path"], autov3: row["autov3"], autov2: row["autov2"],
                                   sha256: row["sha256"], scanSignature: row["scan_signature"])
            }
            return CatalogEntry(rowID: id, card: card, refinement: refinement, refinedBy: row["refined_by"],
                                baseModelRaw: row["base_model_raw"], negativePrompts: p.map(\.1), extra: row["extra"],
                                source: row["source"], sourceRef: row["source_ref"], file: file,
                                embeddingModel: row["embedding_model"], embeddingDimension: row["embedding_dim"])
        }
    }

    /// `stylus catalog export --jsonl`: one line per adapter with exactly the docs/CONTRACTS.md, CLI fields.
    public func exportJSONL(to sink: (String) -> Void) throws {
        try read { db in
            let rows = try Row.fetchCursor(db, sql: """
                SELECT adapter_id, alias, title, base_model, category, weight, refined_trigger_words,
                       refined_description, nsfw FROM adapters ORDER BY adapter_id
                """)
            while let r = try rows.next() {
                let base: String? = r["base_model"]
                sink(JSONText.object([
                    ("adapter_id", JSONText.quote(r["adapter_id"])),
                    ("alias", JSONText.quote(r["alias"])),
                    ("title", JSONText.quote(r["title"])),
                    ("base_model", base.map(JSONText.quote) ?? "null"),
                    ("category", JSONText.quote(r["category"])),
                    ("weight", JSONText.number(r["weight"])),
                    ("trigger_words", r["refined_trigger_words"] as String),
                    ("refined_description", JSONText.quote(r["refined_description"])),
                    ("nsfw", (r["nsfw"] as Bool) ? "true" : "false"),
                ]))
            }
        }
    }

    /// Removes adapters by id, alias or file stem; returns the removed adapter ids.
    @discardableResult
    public func remove(_ key: String) throws -> [String] {
        try write { db in
            for clause in ["adapter_id = ?", "alias = ? COLLATE NOCASE", "file_stem = ? COLLATE NOCASE"] {
                let ids = try String.fetchAll(db, sql: "SELECT adapter_id FROM adapters WHERE \(clause)", arguments: [key])
                if !ids.isEmpty {
                    try db.execute(sql: "DELETE FROM adapters WHERE \(clause)", arguments: [key])
                    return ids
                }
            }
            return []
        }
    }

    public func stats() throws -> CatalogStats {
        try read { db in
            var s = CatalogStats()
            s.adapters = try Int.fetchOne(db, sql: "SELECT count(*) FROM adapters") ?? 0
            func grouped(_ column: String) throws -> [String: Int] {
                var out: [String: Int] = [:]
                for r in try Row.fetchAll(db, sql: "SELECT coalesce(\(column), '(unknown)') AS k, count(*) AS n FROM adapters GROUP BY 1") {
                    out[r["k"]] = r["n"]
                }
                return out
            }
            s.byBaseModel = try grouped("base_model")
            s.byCategory = try grouped("category")
            s.bySource = try grouped("source")
            s.weightSources = try grouped("weight_source")
            s.nsfw = try Int.fetchOne(db, sql: "SELECT count(*) FROM adapters WHERE nsfw") ?? 0
            s.characters = try Int.fetchOne(db, sql: "SELECT count(*) FROM adapters WHERE is_character") ?? 0
            s.withFile = try Int.fetchOne(db, sql: "SELECT count(*) FROM adapters WHERE file_stem IS NOT NULL") ?? 0
            s.withEmbedding = try Int.fetchOne(db, sql: "SELECT count(*) FROM adapters WHERE embedding IS NOT NULL") ?? 0
            s.schemaMigrations = try CatalogSchema.migrator.appliedMigrations(db)
            return s
        }
    }

    /// Full-text search (BM25) over title, alias, tags, trigger words and refined description.
    /// `query` is FTS5 syntax; returns adapter ids, best first.
    public func fullTextSearch(_ query: String, limit: Int = 20) throws -> [String] {
        try read { db in
            try String.fetchAll(db, sql: """
                SELECT a.adapter_id FROM adapters_fts JOIN adapters a ON a.id = adapters_fts.rowid
                WHERE adapters_fts MATCH ? ORDER BY bm25(adapters_fts) LIMIT ?
                """, arguments: [query, limit])
        }
    }
}
