import Foundation
import JSONRPC
import StylusCatalog
import StylusCore

/// The adapter catalog as the language server (and the render command) use it: the loaded cards,
/// small in-memory indexes for completion and hover, the lexical candidate source and the composer.
/// Built once per settings, off the message loop (`load`), then immutable and read concurrently.
///
/// API in one place:
/// - `entry(alias:)`: the card behind `<lora:alias:…>` (alias or file stem, case-insensitive)
/// - `aliases(prefix:baseModel:limit:)`: aliases for `<lora:` completion
/// - `adapters(wordPrefix:baseModel:limit:)`: adapters whose names contain a word (completion on words)
/// - `baseModel(for:)`: the file's base model (frontmatter `base_model`, else the `baseModel` setting)
/// - `compose(_:)`: the composer's adapters per topic, the final prompt and the edit that inserts the tags
public final class AdapterContext: Sendable {
    /// Where the catalog was loaded from.
    public let catalogPath: String
    /// The `baseModel` setting: used when a file has no `base_model` in its frontmatter.
    public let defaultBaseModel: BaseModel?
    /// Every adapter of the catalog, ordered by adapter id.
    public let entries: [CatalogEntry]
    /// Problems met while loading (a LoRA folder that cannot be scanned, …), one line each.
    public let warnings: [String]

    private let index: AdapterIndex

    /// A context for another `baseModel` setting, sharing this one's catalog and indexes.
    public func with(defaultBaseModel: BaseModel?) -> AdapterContext {
        AdapterContext(index: index, defaultBaseModel: defaultBaseModel, warnings: warnings)
    }

    private init(index: AdapterIndex, defaultBaseModel: BaseModel?, warnings: [String]) {
        self.index = index
        self.entries = index.entries
        self.catalogPath = index.catalogPath
        self.defaultBaseModel = defaultBaseModel
        self.warnings = warnings
    }

    public convenience init(entries: [CatalogEntry], catalogPath: String, defaultBaseModel: BaseModel?, warnings: [String] = []) {
        self.init(index: AdapterIndex(entries: entries, catalogPath: catalogPath), defaultBaseModel: defaultBaseModel, warnings: warnings)
    }

    private var byName: [String: Int] { index.byName }
    private var aliasKeys: [String] { index.aliasKeys }
    private var aliasOrder: [Int32] { index.aliasOrder }
    private var wordKeys: [String] { index.wordKeys }
    private var wordPostings: [[Int32]] { index.wordPostings }
    private var candidates: LexicalCandidates { index.candidates }
    private var lastComposition: Locked<(key: String, value: Composed)?> { index.lastComposition }

    // MARK: Loading

    public enum LoadError: Error, CustomStringConvertible {
        case catalogMissing(String)
        case catalogUnreadable(String, String)
        public var description: String {
            switch self {
            case .catalogMissing(let p):
                return "catalog \(p) does not exist; check the stylus.db setting or create it with `stylus catalog import`"
            case .catalogUnreadable(let p, let why):
                return "catalog \(p) cannot be opened: \(why)"
            }
        }
    }

    /// Opens the catalog the settings name (`db`, else `$STYLUS_DB`, else the data directory's
    /// catalog, seeded with the starter catalog when new), scans `loraDirs` into it, and builds the
    /// indexes. Slow (SQLite read, index build): call it off the message loop.
    public static func load(settings: Settings, scanFolders: Bool = true,
                            environment: [String: String] = ProcessInfo.processInfo.environment) throws -> AdapterContext {
        let store = try openStore(settings: settings, environment: environment)
        let path = store.path
        let warnings = scanFolders ? settings.loraDirs.flatMap { scan($0, into: store) } : []
        let entries: [CatalogEntry]
        do { entries = try store.allEntries() } catch { throw LoadError.catalogUnreadable(path, "\(error)") }
        return AdapterContext(entries: entries, catalogPath: path,
                              defaultBaseModel: settings.baseModel.flatMap { BaseModel($0) }, warnings: warnings)
    }

    /// Scans one LoRA folder into the catalog (incremental: unchanged files are not read again).
    /// Returns the problems, one line each.
    public static func scan(_ folder: String, into store: CatalogStore) -> [String] {
        do {
            let report = try FolderScanner(store: store).scan(expandTilde(folder))
            return report.skipped.map { "LoRA folder \(folder): \($0)" }
        } catch {
            return ["LoRA folder \(folder) was not scanned: \(error)"]
        }
    }

    /// Opens the catalog the settings name without building anything (for `stylus.reindex`).
    public static func openStore(settings: Settings,
                                 environment: [String: String] = ProcessInfo.processInfo.environment) throws -> CatalogStore {
        let explicit = settings.db.flatMap { $0.isEmpty ? nil : expandTilde($0) }
        let (path, isDefault) = StarterCatalog.location(explicit: explicit, environment: environment)
        if !isDefault, !FileManager.default.fileExists(atPath: path) { throw LoadError.catalogMissing(path) }
        do { return try StarterCatalog.open(explicit: explicit, environment: environment).store }
        catch { throw LoadError.catalogUnreadable(path, "\(error)") }
    }

    static func expandTilde(_ path: String) -> String {
        path.hasPrefix("~/") ? NSHomeDirectory() + path.dropFirst() : path
    }


    /// The words an adapter is known by: title, tags and trigger words, lowercased (3+ characters).
    static func nameWords(_ e: CatalogEntry) -> [String] {
        let texts = [e.card.title] + e.card.tags + e.refinement.triggerWords
        return texts.flatMap { $0.lowercased().split(whereSeparator: { !($0.isLetter || $0.isNumber) }) }
            .filter { $0.count >= 3 && !$0.allSatisfy(\.isNumber) }.map(String.init)
    }

    public var count: Int { entries.count }

    // MARK: Lookups

    /// The adapter a `<lora:name:…>` tag names: by alias, else by file stem (case-insensitive).
    public func entry(alias: String) -> CatalogEntry? {
        byName[alias.lowercased()].map { entries[$0] }
    }

    /// The file's base model: frontmatter `base_model`, else the `baseModel` setting.
    public func baseModel(for file: PromptFile) -> BaseModel? {
        file.settings.baseModel.flatMap { BaseModel($0) } ?? defaultBaseModel
    }

    /// Adapters whose alias starts with `prefix` (case-insensitive), in alias order, of `baseModel`
    /// (or unknown base) when given. `truncated` says that more matched than `limit`.
    public func aliases(prefix: String, baseModel: BaseModel?, limit: Int) -> (entries: [CatalogEntry], truncated: Bool) {
        let p = prefix.lowercased()
        var i = lowerBound(aliasKeys, p)
        var out: [CatalogEntry] = []
        while i < aliasKeys.count, aliasKeys[i].hasPrefix(p) {
            let e = entries[Int(aliasOrder[i])]
            i += 1
            guard fits(e, baseModel) else { continue }
            if out.count == limit { return (out, true) }
            out.append(e)
        }
        return (out, false)
    }

    /// Adapters named by a word that starts with `wordPrefix` (at least 2 characters): exact word
    /// matches first, then longer words; most downloaded first within a word. Each result carries the
    /// word it matched.
    public func adapters(wordPrefix: String, baseModel: BaseModel?, limit: Int)
        -> (matches: [(word: String, entry: CatalogEntry)], truncated: Bool) {
        let p = wordPrefix.lowercased()
        guard p.count >= 2 else { return ([], true) }
        var out: [(String, CatalogEntry)] = []
        var seen: Set<Int32> = []
        var i = lowerBound(wordKeys, p)
        // Shorter words first: "knight" before "knights" and "knightly".
        var range: [Int] = []
        while i < wordKeys.count, wordKeys[i].hasPrefix(p) { range.append(i); i += 1 }
        range.sort { (wordKeys[$0].count, wordKeys[$0]) < (wordKeys[$1].count, wordKeys[$1]) }
        for k in range {
            for d in wordPostings[k] where !seen.contains(d) {
                let e = entries[Int(d)]
                guard fits(e, baseModel), !e.card.nsfw else { continue }
                if out.count == limit { return (out, true) }
                seen.insert(d)
                out.append((wordKeys[k], e))
            }
        }
        return (out, false)
    }

    /// Aliases closest to a misspelt one (edit distance, case-insensitive), best first.
    public func closestAliases(to name: String, baseModel: BaseModel?, limit: Int = 3) -> [String] {
        let target = Array(name.lowercased().utf8)
        let budget = max(2, target.count / 3)
        var best: [(Int, String)] = []
        for (k, key) in aliasKeys.enumerated() {
            let bytes = Array(key.utf8)
            guard abs(bytes.count - target.count) <= budget else { continue }
            let e = entries[Int(aliasOrder[k])]
            guard fits(e, baseModel) else { continue }
            guard let d = Self.editDistance(target, bytes, max: budget) else { continue }
            best.append((d, e.card.alias))
        }
        best.sort { $0 < $1 }
        return best.prefix(limit).map(\.1)
    }

    /// Levenshtein distance, or nil when it exceeds `max` (rows stop early).
    static func editDistance(_ a: [UInt8], _ b: [UInt8], max limit: Int) -> Int? {
        if a.isEmpty { return b.count <= limit ? b.count : nil }
        var prev = Array(0...b.count), cur = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            cur[0] = i
            var rowMin = i
            for j in stride(from: 1, through: b.count, by: 1) {
                cur[j] = Swift.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
                rowMin = Swift.min(rowMin, cur[j])
            }
            if rowMin > limit { return nil }
            swap(&prev, &cur)
        }
        return prev[b.count] <= limit ? prev[b.count] : nil
    }

    /// Whether an adapter can be offered for a file of `baseModel`: same base, or either unknown.
    func fits(_ e: CatalogEntry, _ baseModel: BaseModel?) -> Bool {
        guard let baseModel, let own = e.card.baseModel else { return true }
        return own == baseModel
    }

    private func lowerBound(_ keys: [String], _ p: String) -> Int {
        var lo = 0, hi = keys.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if keys[mid] < p { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }

    // MARK: Composition

    /// What the composer chose for a prompt file, and how to put it into the file.
    public struct Composed: Sendable {
        public var outcome: ComposeOutcome
        public var baseModel: BaseModel?
        /// `<lora:alias:w>` tags to add (aliases already in the prompt are never added again).
        public var tags: [String]
        /// Inserts `tags` at the end of the positive prompt; nil when there is nothing to add.
        public var edit: TextEdit?
        /// The positive prompt with the composed tags appended (what a renderer should use).
        public var promptWithAdapters: String { outcome.promptWithAdapters }
    }

    /// Runs the Stylus composer on a prompt file's text (the file's base model, the `nsfw` frontmatter
    /// flag). The last result is kept, so diagnostics, hover and code actions on one version of a
    /// document share one composition.
    public func compose(_ text: String) throws -> Composed {
        let file = PromptFile(text: text)
        return try compose(file)
    }

    public func compose(_ file: PromptFile) throws -> Composed {
        let base = baseModel(for: file)
        let key = "\(base?.name ?? "")\u{0}\(file.source.text)"
        if let cached = lastComposition.withLock({ $0 }), cached.key == key { return cached.value }
        let outcome = try ComposePipeline.run(
            ComposeRequest(prompt: file.source.text, baseModel: base, includeNSFW: file.settings.nsfw ?? false,
                           debias: file.settings.debias, restoreConcepts: false, retrieveLimit: 50),
            source: candidates)
        var tags: [String] = []
        for topic in outcome.composition.topics {
            for a in topic.adapters {
                let w = PromptBuilder.weight(recommended: a.recommendedWeight, activeInTopic: topic.adapters.count)
                tags.append("<lora:\(a.alias):\(PromptBuilder.format(w))>")
            }
        }
        let composed = Composed(outcome: outcome, baseModel: base, tags: tags,
                                edit: tags.isEmpty ? nil : Self.appendEdit(tags.joined(separator: ", "), to: file))
        lastComposition.withLock { $0 = (key, composed) }
        return composed
    }

    /// An edit that appends `text` to the positive prompt, after its last non-blank character,
    /// with a comma separator when needed.
    public static func appendEdit(_ text: String, to file: PromptFile) -> TextEdit {
        let source = file.source
        let range = file.positive.range.utf8
        var end = range.upperBound
        while end > range.lowerBound, [0x20, 0x09, 0x0A, 0x0D].contains(source.bytes[end - 1]) { end -= 1 }
        let separator: String
        if end == range.lowerBound { separator = "" }
        else if source.bytes[end - 1] == UInt8(ascii: ",") { separator = " " }
        else { separator = ", " }
        let at = source.position(ofUTF8: end)
        return TextEdit(range: LSPRange(start: at, end: at), newText: separator + text)
    }
}

/// The catalog's indexes, built once and shared by contexts that differ only in the base model.
final class AdapterIndex: Sendable {
    let entries: [CatalogEntry]
    let catalogPath: String
    /// Lowercased alias and file stem → entry index (first by adapter id).
    let byName: [String: Int]
    /// Entry indices sorted by lowercased alias, with the keys alongside for binary search.
    let aliasKeys: [String]
    let aliasOrder: [Int32]
    /// Sorted distinct name words (title, tags, trigger words) with their entries, most downloaded first.
    let wordKeys: [String]
    let wordPostings: [[Int32]]
    let candidates: LexicalCandidates
    let lastComposition = Locked<(key: String, value: AdapterContext.Composed)?>(nil)

    init(entries: [CatalogEntry], catalogPath: String) {
        self.entries = entries
        self.catalogPath = catalogPath
        candidates = LexicalCandidates(entries: entries.map { ($0.card, $0.refinement) })

        var byName: [String: Int] = [:]
        for (i, e) in entries.enumerated() {
            let alias = e.card.alias.lowercased()
            if byName[alias] == nil { byName[alias] = i }
        }
        for (i, e) in entries.enumerated() {
            if let stem = e.file?.stem.lowercased(), byName[stem] == nil { byName[stem] = i }
        }
        self.byName = byName

        let sortedAliases = entries.indices.map { (entries[$0].card.alias.lowercased(), Int32($0)) }.sorted { $0.0 < $1.0 }
        aliasKeys = sortedAliases.map(\.0)
        aliasOrder = sortedAliases.map(\.1)

        var postings: [String: [Int32]] = [:]
        for (i, e) in entries.enumerated() {
            for w in Set(AdapterContext.nameWords(e)) { postings[w, default: []].append(Int32(i)) }
        }
        let downloads = entries.map { $0.card.downloadCount ?? 0 }
        let words = postings.keys.sorted()
        wordKeys = words
        wordPostings = words.map { w in postings[w]!.sorted { downloads[Int($0)] > downloads[Int($1)] } }
    }
}
