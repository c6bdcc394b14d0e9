import GRDB
import StylusCore

/// What an editor lists about an adapter: its names and refined card fields, without the raw
/// description and example prompts, so all of a 75,000-adapter catalog reads in a fraction of a
/// second (the language server's completion index; full cards come from `lookup`).
public struct AdapterSummary: Sendable, Hashable {
    /// The adapter's row in the catalog (joins this summary with other reads of the same catalog).
    public var rowID: Int64
    public var adapterId: String
    public var alias: String
    public var title: String
    public var baseModel: BaseModel?
    public var category: AdapterCategory
    /// Refined recommended weight and where it came from.
    public var weight: Double
    public var weightSource: WeightSource
    /// Refined trigger words.
    public var triggerWords: [String]
    /// Trigger words as the card states them.
    public var cardTriggerWords: [String]
    public var isCharacter: Bool
    public var tags: [String]
    public var refinedDescription: String
    public var nsfw: Bool
    public var downloadCount: Int
    public var downloadURL: String?
    public var source: String
    public var sourceRef: String?
    public var filePath: String?
    public var fileStem: String?
}

/// One adapter's alias as alias completion needs it before the summaries are read: its catalog
/// row (for `summaries(rowIDs:)`) and its base model.
public struct AliasEntry: Sendable, Hashable {
    public var rowID: Int64
    public var alias: String
    public var baseModel: BaseModel?
}

extension CatalogStore {
    private static let summaryColumns = """
        id, adapter_id, alias, title, base_model, category, weight, weight_source, refined_trigger_words,
        tags, refined_description, nsfw, download_count, download_url, source, source_ref, file_path, file_stem,
        trigger_words, is_character
        """

    /// Every adapter's summary, ordered by adapter id.
    public func summaries() throws -> [AdapterSummary] {
        try read { db in try summaries(db) }
    }

    func summaries(_ db: Database) throws -> [AdapterSummary] {
        try summaries(sql: "SELECT \(Self.summaryColumns) FROM adapters ORDER BY adapter_id", arguments: [], db)
    }

    /// The summaries of the adapters changed after `generation` (the catalog's change log), ordered
    /// by adapter id: the documents of a retrieval index delta.
    func summaries(changedAfter generation: UInt64, _ db: Database) throws -> [AdapterSummary] {
        try summaries(sql: """
            SELECT \(Self.summaryColumns) FROM adapters
            WHERE adapter_id IN (SELECT adapter_id FROM index_changes WHERE generation > ?) ORDER BY adapter_id
            """, arguments: [Int64(clamping: generation)], db)
    }

    private func summaries(sql: String, arguments: StatementArguments, _ db: Database) throws -> [AdapterSummary] {
        var bases = BaseModelCache()
        var out: [AdapterSummary] = []
        let rows = try Row.fetchCursor(db, sql: sql, arguments: arguments)
        while let r = try rows.next() { out.append(Self.summary(r, &bases)) }
        return out
    }

    /// The summaries of the given catalog rows, in the order given; rows that no longer exist are
    /// left out. For reading a handful of adapters (a completion list) without loading them all.
    public func summaries(rowIDs: [Int64]) throws -> [AdapterSummary] {
        guard !rowIDs.isEmpty else { return [] }
        let byRow = try read { db in
            var bases = BaseModelCache()
            var byRow: [Int64: AdapterSummary] = [:]
            let marks = Array(repeating: "?", count: rowIDs.count).joined(separator: ",")
            let rows = try Row.fetchCursor(db, sql: "SELECT \(Self.summaryColumns) FROM adapters WHERE id IN (\(marks))",
                                           arguments: StatementArguments(rowIDs))
            while let r = try rows.next() { byRow[r[0]] = Self.summary(r, &bases) }
            return byRow
        }
        return rowIDs.compactMap { byRow[$0] }
    }

    /// Every adapter's alias, row and base model, in the catalog's alias order (ASCII
    /// case-insensitive, ties by row). Read from the alias and base-model indexes alone, never
    /// the adapter rows: tens of milliseconds for 75,000 adapters.
    public func aliasDirectory() throws -> [AliasEntry] {
        try read { db in
            // Rows by base model, one query per distinct value (a catalog has a handful).
            var bases: [BaseModel?] = []
            var baseOfRow: [Int64: UInt8] = [:]
            for name in try String.fetchAll(db, sql: "SELECT DISTINCT base_model FROM adapters WHERE base_model IS NOT NULL") {
                guard let base = BaseModel(name), bases.count < Int(UInt8.max) else { continue }
                bases.append(base)
                let rows = try Int64.fetchCursor(db, sql: "SELECT id FROM adapters WHERE base_model = ?", arguments: [name])
                while let row = try rows.next() { baseOfRow[row] = UInt8(bases.count - 1) }
            }
            var out: [AliasEntry] = []
            let rows = try Row.fetchCursor(db, sql: "SELECT id, alias FROM adapters ORDER BY alias COLLATE NOCASE, id")
            while let r = try rows.next() {
                let row: Int64 = r[0]
                out.append(AliasEntry(rowID: row, alias: r[1], baseModel: baseOfRow[row].map { bases[Int($0)] } ?? nil))
            }
            return out
        }
    }

    /// Adapters in the catalog's alias order (ASCII case-insensitive, ties by row), starting at the
    /// first alias not ordered before `lowerBound`, handed to `body` one at a time until it returns
    /// false. Walks the alias index: a prefix lookup costs the rows it visits, whatever the catalog size.
    public func aliases(from lowerBound: String, _ body: (AliasEntry) -> Bool) throws {
        try read { db in
            var bases = BaseModelCache()
            let rows = try Row.fetchCursor(db, sql: """
                SELECT id, alias, base_model FROM adapters WHERE alias >= ? COLLATE NOCASE ORDER BY alias COLLATE NOCASE, id
                """, arguments: [lowerBound])
            while let r = try rows.next(), body(AliasEntry(rowID: r[0], alias: r[1], baseModel: bases[r[2]])) {}
        }
    }

    /// Whether an alias has a letter the catalog's ASCII case-insensitive order cannot place like
    /// Swift's `lowercased()`: İ (U+0130) and the Kelvin sign (U+212A), the only non-ASCII letters
    /// whose lowercase starts with an ASCII letter. Scans the alias index (milliseconds).
    public func hasAliasesLoweringToASCII() throws -> Bool {
        try read { db in
            try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM adapters WHERE instr(alias, ?) > 0 OR instr(alias, ?) > 0)",
                              arguments: ["\u{130}", "\u{212A}"]) ?? true
        }
    }

    /// A summary from a row of `summaryColumns`.
    private static func summary(_ r: Row, _ bases: inout BaseModelCache) -> AdapterSummary {
        AdapterSummary(
            rowID: r[0], adapterId: r[1], alias: r[2], title: r[3], baseModel: bases[r[4]],
            category: AdapterCategory(rawValue: r[5]) ?? .concept, weight: r[6],
            weightSource: WeightSource(rawValue: r[7]) ?? .defaultValue,
            triggerWords: stringArray(r[8]), cardTriggerWords: stringArray(r[18]), isCharacter: r[19], tags: stringArray(r[9]),
            refinedDescription: r[10], nsfw: r[11], downloadCount: r[12] ?? 0, downloadURL: r[13], source: r[14],
            sourceRef: r[15], filePath: r[16], fileStem: r[17])
    }

    /// A JSON array of strings as the catalog stores it; plain strings are split without a JSON
    /// parser (hot path), anything with escapes goes through the full decoder.
    static func stringArray(_ text: String) -> [String] {
        let b = Array(text.utf8)
        guard b.count >= 2, b.first == UInt8(ascii: "["), b.last == UInt8(ascii: "]"), !b.contains(UInt8(ascii: "\\")) else {
            return JSONText.decodeStringArray(text)
        }
        var out: [String] = []
        var i = 1
        while i < b.count - 1 {
            guard b[i] == UInt8(ascii: "\"") else { i += 1; continue }
            var j = i + 1
            while j < b.count - 1, b[j] != UInt8(ascii: "\"") { j += 1 }
            out.append(String(decoding: b[(i + 1)..<j], as: UTF8.self))
            i = j + 1
        }
        return out
    }
}

/// Base models parsed once per distinct catalog value (a catalog has a handful of them).
struct BaseModelCache {
    private var parsed: [String: BaseModel?] = [:]

    subscript(name: String?) -> BaseModel? {
        mutating get {
            guard let name else { return nil }
            if let known = parsed[name] { return known }
            let base = BaseModel(name)
            parsed[name] = base
            return base
        }
    }
}

