import Foundation
import StylusCore

// The in-memory indexes behind `CatalogIndex`: aliases, adapter names by word, the closest-alias
// search's prefilter, and the value that phases of loading publish.

/// Every alias, lowercased and sorted (UTF-8 byte order, ties by catalog row), with its catalog
/// row and base model: all that `<lora:` completion needs to pick its adapters.
final class AliasIndex: Sendable {
    let keys: [String]
    let rowIDs: [Int64]
    /// Per alias, its base model as an index into `bases` (a catalog has a handful of them).
    private let baseIDs: [UInt32]
    private let bases: [BaseModel?]

    /// `entries` as the catalog lists them (`aliasDirectory`): for ASCII aliases that is already the
    /// final order, so the sort has little to do.
    init(_ entries: [AliasEntry]) {
        let sorted = entries.map { (Self.key($0.alias), $0) }.sorted { Self.precedes($0.0, $0.1.rowID, $1.0, $1.1.rowID) }
        keys = sorted.map(\.0)
        rowIDs = sorted.map(\.1.rowID)
        var bases: [BaseModel?] = []
        var ids: [BaseModel?: UInt32] = [:]
        baseIDs = sorted.map { _, e in
            if let id = ids[e.baseModel] { return id }
            bases.append(e.baseModel)
            ids[e.baseModel] = UInt32(bases.count - 1)
            return UInt32(bases.count - 1)
        }
        self.bases = bases
    }

    func baseModel(at position: Int) -> BaseModel? { bases[Int(baseIDs[position])] }

    /// The lowercased alias (the alias itself when it has no uppercase or non-ASCII letters: most do).
    static func key(_ alias: String) -> String {
        alias.utf8.contains { $0 >= 0x80 || ($0 >= 0x41 && $0 <= 0x5A) } ? alias.lowercased() : alias
    }

    static func precedes(_ a: String, _ rowA: Int64, _ b: String, _ rowB: Int64) -> Bool {
        var i = a.utf8.makeIterator(), j = b.utf8.makeIterator()
        while true {
            switch (i.next(), j.next()) {
            case let (x?, y?): if x != y { return x < y }
            case (nil, nil): return rowA < rowB
            case (nil, _?): return true
            case (_?, nil): return false
            }
        }
    }

    /// Positions of the aliases starting with `prefix` (case-insensitive) whose adapters fit
    /// `baseModel`, in order, at most `limit`; `truncated` says that more matched.
    func matches(prefix: String, baseModel: BaseModel?, limit: Int) -> (positions: [Int], truncated: Bool) {
        let p = prefix.lowercased()
        var out: [Int] = []
        var i = Self.lowerBound(keys, p)
        while i < keys.count, keys[i].utf8.starts(with: p.utf8) {
            defer { i += 1 }
            guard CatalogIndex.fits(self.baseModel(at: i), baseModel) else { continue }
            if out.count == limit { return (out, true) }
            out.append(i)
        }
        return (out, false)
    }

    /// The first key not ordered before `p` (byte order).
    static func lowerBound(_ keys: [String], _ p: String) -> Int {
        var lo = 0, hi = keys.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if keys[mid].utf8.lexicographicallyPrecedes(p.utf8) { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }
}

/// The summaries (ordered by adapter id) and the indexes built from them.
struct LoadedCatalog: Sendable {
    let summaries: [AdapterSummary]
    let aliases: AliasIndex
    /// Lowercased alias and file stem → summary index (first by adapter id).
    let byName: [String: Int32]
    /// Per `AliasIndex` position: the summary index (-1 when the row was deleted between the
    /// two reads), its UTF-8 length and a folded byte histogram (`bins` counts each), so the
    /// closest-alias search skips most aliases without an edit distance.
    let aliasOrder: [Int32]
    let aliasLengths: [UInt16]
    let aliasHistograms: [UInt8]
    /// How many adapters each base model has (adapters of an unknown base not counted).
    let baseModelCounts: [BaseModel: Int]
    static let bins = 32

    static let empty = LoadedCatalog(summaries: [], aliases: AliasIndex([]))

    init(summaries: [AdapterSummary], aliases: AliasIndex) {
        self.summaries = summaries
        self.aliases = aliases
        var byName: [String: Int32] = [:]
        byName.reserveCapacity(summaries.count * 2)
        var byRow: [Int64: Int32] = [:]
        byRow.reserveCapacity(summaries.count)
        var baseModelCounts: [BaseModel: Int] = [:]
        for (i, s) in summaries.enumerated() {
            byRow[s.rowID] = Int32(i)
            if let base = s.baseModel { baseModelCounts[base, default: 0] += 1 }
            let alias = s.alias.lowercased()
            if byName[alias] == nil { byName[alias] = Int32(i) }
        }
        for (i, s) in summaries.enumerated() {
            if let stem = s.fileStem?.lowercased(), byName[stem] == nil { byName[stem] = Int32(i) }
        }
        self.byName = byName
        self.baseModelCounts = baseModelCounts
        aliasOrder = aliases.rowIDs.map { byRow[$0] ?? -1 }
        aliasLengths = aliases.keys.map { UInt16(min($0.utf8.count, Int(UInt16.max))) }
        var histograms = [UInt8](repeating: 0, count: aliases.keys.count * Self.bins)
        for (k, key) in aliases.keys.enumerated() {
            for b in key.utf8 { histograms[k * Self.bins + Int(b) % Self.bins] &+= 1 }
        }
        aliasHistograms = histograms
    }

    /// The summary at an `AliasIndex` position.
    func summary(atAlias position: Int) -> AdapterSummary? {
        guard aliasOrder.indices.contains(position), aliasOrder[position] >= 0 else { return nil }
        return summaries[Int(aliasOrder[position])]
    }

    static func histogram(_ bytes: [UInt8]) -> [UInt8] {
        var h = [UInt8](repeating: 0, count: bins)
        for b in bytes { h[Int(b) % bins] &+= 1 }
        return h
    }
}

/// Sorted distinct name words (title, tags, trigger words) with their adapters, most downloaded first.
struct WordIndex: Sendable {
    let keys: [String]
    let postings: [[Int32]]

    init(_ summaries: [AdapterSummary]) {
        var postings: [String: [Int32]] = [:]
        for (i, s) in summaries.enumerated() {
            for w in Self.nameWords(s) {
                let doc = Int32(i)
                postings[w, default: []].appendUnlessLast(doc)
            }
        }
        keys = postings.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        self.postings = keys.map { w in
            postings[w]!.sorted { summaries[Int($0)].downloadCount > summaries[Int($1)].downloadCount }
        }
    }

    /// The words an adapter is known by: title, tags and trigger words, lowercased, 3+ bytes, not
    /// all digits. Split on ASCII punctuation and spaces; non-ASCII letters stay inside words.
    static func nameWords(_ s: AdapterSummary) -> [String] {
        var out: [String] = []
        var word: [UInt8] = []
        func flush() {
            if word.count >= 3, !word.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) { out.append(String(decoding: word, as: UTF8.self)) }
            word.removeAll(keepingCapacity: true)
        }
        for text in [s.title] + s.tags + s.triggerWords {
            for b in text.utf8 {
                switch b {
                case 0x41...0x5A: word.append(b + 0x20)
                case 0x30...0x39, 0x61...0x7A, 0x80...: word.append(b)
                default: flush()
                }
            }
            flush()
        }
        return out.contains(where: { $0.utf8.contains { $0 >= 0x80 } }) ? out.map { $0.lowercased() } : out
    }

}

extension AdapterSummary {
    /// The card and refinement as retrieval and the composer see them (they read names, tags,
    /// trigger words, base model, category, weight, NSFW, downloads and the refined description).
    var candidateEntry: (AdapterCard, AdapterRefinement) {
        (AdapterCard(adapterId: adapterId, alias: alias, title: title, baseModel: baseModel, tags: tags,
                     triggerWords: cardTriggerWords, nsfw: nsfw, downloadCount: downloadCount, downloadURL: downloadURL),
         AdapterRefinement(category: category, isCharacter: isCharacter, weight: weight, weightSource: weightSource,
                           triggerWords: triggerWords, refinedDescription: refinedDescription, cleanDescription: ""))
    }
}

extension Array where Element == Int32 {
    /// Appends unless the last element is already `x` (postings are built in document order).
    mutating func appendUnlessLast(_ x: Int32) { if last != x { append(x) } }
}

/// A value set once by one thread and read by others, who may wait for it.
final class OnceValue<Value: Sendable>: @unchecked Sendable {
    private let condition = NSCondition()
    private var value: Value?

    func set(_ v: Value) {
        condition.lock()
        value = v
        condition.broadcast()
        condition.unlock()
    }

    func peek() -> Value? {
        condition.lock()
        defer { condition.unlock() }
        return value
    }

    func wait() -> Value {
        condition.lock()
        defer { condition.unlock() }
        while value == nil { condition.wait() }
        return value!
    }

    /// Waits for the value without blocking a Swift concurrency thread: those are Dispatch's
    /// global queue threads on Linux, and blocking them could starve message handling.
    func value() async -> Value {
        if let v = peek() { return v }
        return await withCheckedContinuation { done in
            Thread.detachNewThread { done.resume(returning: self.wait()) }
        }
    }
}

