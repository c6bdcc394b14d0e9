import GRDB
import StylusCore

/// What an editor lists about an adapter: its names and refined card fields, without the raw
/// description and example prompts, so all of a 75,000-adapter catalog reads in a fraction of a
/// second (the language server's completion index; full cards come from `lookup`).
public struct AdapterSummary: Sendable, Hashable {
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

extension CatalogStore {
    /// Every adapter's summary, ordered by adapter id.
    public func summaries() throws -> [AdapterSummary] {
        try read { db in
            var bases: [String: BaseModel?] = [:]
            var out: [AdapterSummary] = []
            let rows = try Row.fetchCursor(db, sql: """
                SELECT adapter_id, alias, title, base_model, category, weight, weight_source, refined_trigger_words,
                       tags, refined_description, nsfw, download_count, download_url, source, source_ref, file_path, file_stem,
                       trigger_words, is_character
                FROM adapters ORDER BY adapter_id
                """)
            while let r = try rows.next() {
                let baseName: String? = r[3]
                var base: BaseModel?
                if let baseName {
                    if let known = bases[baseName] { base = known } else { base = BaseModel(baseName); bases[baseName] = base }
                }
                out.append(AdapterSummary(
                    adapterId: r[0], alias: r[1], title: r[2], baseModel: base,
                    category: AdapterCategory(rawValue: r[4]) ?? .concept, weight: r[5],
                    weightSource: WeightSource(rawValue: r[6]) ?? .defaultValue,
                    triggerWords: Self.stringArray(r[7]), cardTriggerWords: Self.stringArray(r[17]), isCharacter: r[18], tags: Self.stringArray(r[8]), refinedDescription: r[9],
                    nsfw: r[10], downloadCount: r[11] ?? 0, downloadURL: r[12], source: r[13], sourceRef: r[14],
                    filePath: r[15], fileStem: r[16]))
            }
            return out
        }
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
