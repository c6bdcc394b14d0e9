import Foundation
import JSONRPC
import StylusCatalog
import StylusCore

/// The adapter catalog as the language server (and the render command) use it: adapter
/// summaries with small in-memory indexes for completion, hover and diagnostics, full cards from
/// the store, and the composer with its candidate index. Built once per settings, off the message
/// loop (`load`), then immutable and read concurrently.
///
/// Loading has three phases so a large catalog is usable at once:
/// 1. `load` returns once the catalog is open. `aliases(prefix:…)` works from then on: until the
///    summaries are loaded it walks the catalog's alias index (`aliasesFromStore`).
/// 2. The summaries and the name indexes follow on a thread of their own (`isLoaded`, `loaded()`,
///    about a second for 75,000 adapters); every other lookup needs them (the server hands out
///    contexts after `loaded()`).
/// 3. Then the word index and the composer's candidate index (`isComposerReady`, `composerReady()`).
///
/// API in one place:
/// - `summary(alias:)` / `entry(alias:)`: the adapter behind `<lora:alias:…>` (alias or file stem,
///   case-insensitive); the summary from memory, the full catalog entry from the store
/// - `aliases(prefix:baseModel:limit:)`: aliases for `<lora:` completion
/// - `adapters(wordPrefix:baseModel:limit:)`: adapters named by a word (completion on words)
/// - `closestAliases(to:baseModel:)`: for misspelt tags
/// - `baseModel(for:)`: the file's base model (frontmatter `base_model`, else the `baseModel` setting)
/// - `compose(_:)`: the composer's adapters per topic, the final prompt and the edit inserting the tags
public final class AdapterContext: Sendable {
    /// The `baseModel` setting: used when a file has no `base_model` in its frontmatter.
    public let defaultBaseModel: BaseModel?
    /// Problems met while loading (a LoRA folder that cannot be scanned, …), one line each.
    public let warnings: [String]
    private let index: AdapterIndex

    private init(index: AdapterIndex, defaultBaseModel: BaseModel?, warnings: [String]) {
        self.index = index
        self.defaultBaseModel = defaultBaseModel
        self.warnings = warnings
    }

    /// A context for another `baseModel` setting, sharing this one's catalog and indexes.
    public func with(defaultBaseModel: BaseModel?) -> AdapterContext {
        AdapterContext(index: index, defaultBaseModel: defaultBaseModel, warnings: warnings)
    }

    /// Where the catalog was loaded from.
    public var catalogPath: String { index.store.path }
    public var count: Int { index.catalog.summaries.count }
    /// Every adapter, ordered by adapter id.
    public var summaries: [AdapterSummary] { index.catalog.summaries }

    /// Whether the summaries are loaded (phase 2); before, only `aliases(prefix:…)` answers at once.
    public var isLoaded: Bool { index.loaded.peek() != nil }

    /// Waits (without blocking a Swift concurrency thread) for the summaries; throws when they
    /// cannot be read.
    public func loaded() async throws {
        _ = try await index.loaded.value().get()
    }

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
    /// catalog, seeded with the starter catalog when new) and scans `loraDirs` into it; the
    /// summaries and the composer's index follow in the background (see the type's comment).
    /// Blocks: call it off the message loop. `beforeSummaries` runs on the background thread before
    /// it reads the catalog (tests hold it there to see the first phase).
    public static func load(settings: Settings, scanFolders: Bool = true,
                            environment: [String: String] = ProcessInfo.processInfo.environment,
                            beforeSummaries: (@Sendable () -> Void)? = nil) throws -> AdapterContext {
        let store = try openStore(settings: settings, environment: environment)
        let warnings = scanFolders ? settings.loraDirs.flatMap { scan($0, into: store) } : []
        let storeOrderIsExact: Bool
        do { storeOrderIsExact = try !store.hasAliasesLoweringToASCII() } catch { throw LoadError.catalogUnreadable(store.path, "\(error)") }
        return AdapterContext(index: AdapterIndex(store: store, storeOrderIsExact: storeOrderIsExact, beforeSummaries: beforeSummaries),
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
        DataPaths.expandingTilde(path, environment: ProcessInfo.processInfo.environment)
    }

    // MARK: Lookups

    /// The adapter a `<lora:name:…>` tag names: by alias, else by file stem (case-insensitive).
    public func summary(alias: String) -> AdapterSummary? {
        let catalog = index.catalog
        return catalog.byName[alias.lowercased()].map { catalog.summaries[Int($0)] }
    }

    /// The full catalog entry (raw description, example prompts, file hashes) for a tag's name.
    public func entry(alias: String) -> CatalogEntry? {
        guard let s = summary(alias: alias) else { return nil }
        return (try? index.store.lookup(s.adapterId))?.first
    }

    /// The file's base model: frontmatter `base_model`, else the `baseModel` setting.
    public func baseModel(for file: PromptFile) -> BaseModel? {
        file.settings.baseModel.flatMap { BaseModel($0) } ?? defaultBaseModel
    }

    /// Adapters whose alias starts with `prefix` (case-insensitive), in alias order, of `baseModel`
    /// (or unknown base) when given. `truncated` says that more matched than `limit`. Answers at
    /// once after `load`: until the summaries are loaded, from the catalog file (`aliasesFromStore`),
    /// or, in the rare cases that cannot answer, by waiting for them.
    public func aliases(prefix: String, baseModel: BaseModel?, limit: Int) -> (adapters: [AdapterSummary], truncated: Bool) {
        if !isLoaded, let early = aliasesFromStore(prefix: prefix, baseModel: baseModel, limit: limit) { return early }
        let catalog = index.catalog
        let (positions, truncated) = catalog.aliases.matches(prefix: prefix, baseModel: baseModel, limit: limit)
        return (positions.compactMap { catalog.summary(atAlias: $0) }, truncated)
    }

    /// `aliases(prefix:…)` straight from the catalog's alias index, for the time before the
    /// summaries are loaded. That index orders aliases ASCII case-insensitively: the in-memory order
    /// (lowercased UTF-8, ties by row) for ASCII aliases; an ASCII and a non-ASCII alias are in the
    /// same order in both; and the aliases starting with an ASCII prefix are one run in both. Only
    /// two non-ASCII aliases may swap. So while the aliases it lists are ASCII, the answer is the
    /// one memory gives. Nil (ask memory) when it would list a non-ASCII alias, for a non-ASCII
    /// prefix, when the catalog has aliases with İ or the Kelvin sign (see
    /// `CatalogStore.hasAliasesLoweringToASCII`), or when the catalog cannot be read.
    package func aliasesFromStore(prefix: String, baseModel: BaseModel?, limit: Int) -> (adapters: [AdapterSummary], truncated: Bool)? {
        let p = prefix.lowercased()
        guard index.storeOrderIsExact, p.utf8.allSatisfy({ $0 < 0x80 }) else { return nil }
        var rows: [Int64] = []
        var truncated = false, exact = true
        do {
            try index.store.aliases(from: p) { e in
                guard AliasIndex.key(e.alias).utf8.starts(with: p.utf8) else { return false }  // past the prefix
                guard Self.fits(e.baseModel, baseModel) else { return true }
                if rows.count == limit { truncated = true; return false }
                guard e.alias.utf8.allSatisfy({ $0 < 0x80 }) else { exact = false; return false }
                rows.append(e.rowID)
                return true
            }
            guard exact else { return nil }
            let adapters = try index.store.summaries(rowIDs: rows)
            return adapters.count == rows.count ? (adapters, truncated) : nil
        } catch {
            return nil
        }
    }

    /// Adapters named (title, tags, trigger words) by a word starting with `wordPrefix` (2+
    /// characters): shorter words first, most downloaded first within a word; NSFW adapters left
    /// out. Each result carries the word it matched.
    public func adapters(wordPrefix: String, baseModel: BaseModel?, limit: Int)
        -> (matches: [(word: String, adapter: AdapterSummary)], truncated: Bool) {
        let p = wordPrefix.lowercased()
        guard p.count >= 2 else { return ([], true) }
        let wordIndex = index.words.wait()
        let summaries = index.catalog.summaries
        var words: [Int] = []
        var i = AliasIndex.lowerBound(wordIndex.keys, p)
        while i < wordIndex.keys.count, wordIndex.keys[i].utf8.starts(with: p.utf8) { words.append(i); i += 1 }
        words.sort { (wordIndex.keys[$0].utf8.count, $0) < (wordIndex.keys[$1].utf8.count, $1) }
        var out: [(String, AdapterSummary)] = []
        var seen: Set<Int32> = []
        for k in words {
            for d in wordIndex.postings[k] where !seen.contains(d) {
                let s = summaries[Int(d)]
                guard Self.fits(s.baseModel, baseModel), !s.nsfw else { continue }
                if out.count == limit { return (out, true) }
                seen.insert(d)
                out.append((wordIndex.keys[k], s))
            }
        }
        return (out, false)
    }

    /// Aliases closest to a misspelt one (edit distance, case-insensitive), best first.
    public func closestAliases(to name: String, baseModel: BaseModel?, limit: Int = 3) -> [String] {
        let target = Array(name.lowercased().utf8)
        let budget = max(2, target.count / 3)
        let histogram = LoadedCatalog.histogram(target)
        let catalog = index.catalog, aliases = catalog.aliases
        var best: [(Int, String)] = []
        for k in catalog.aliasOrder.indices {
            let length = Int(catalog.aliasLengths[k])
            guard abs(length - target.count) <= budget else { continue }
            // Each edit changes the letter histogram by at most 2: a cheap lower bound first.
            var l1 = 0
            let base = k * LoadedCatalog.bins
            for b in 0..<LoadedCatalog.bins { l1 += abs(Int(catalog.aliasHistograms[base + b]) - Int(histogram[b])) }
            guard l1 <= 2 * budget, Self.fits(aliases.baseModel(at: k), baseModel), let s = catalog.summary(atAlias: k),
                  let d = editDistance(target, Array(aliases.keys[k].utf8), max: budget) else { continue }
            best.append((d, s.alias))
        }
        best.sort { $0 < $1 }
        return best.prefix(limit).map(\.1)
    }

    /// Whether an adapter of base `own` can be offered for a file of `baseModel`: same base, or
    /// either unknown.
    static func fits(_ own: BaseModel?, _ baseModel: BaseModel?) -> Bool {
        guard let baseModel, let own else { return true }
        return own == baseModel
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

    /// Whether the composer's candidate index is built (it is built in the background after load).
    public var isComposerReady: Bool { index.candidates.peek() != nil }

    /// Waits (without blocking a Swift concurrency thread) until the composer can run.
    public func composerReady() async {
        _ = await index.candidates.value()
    }

    /// Runs the Stylus composer on a prompt file (its base model, its `nsfw` and `debias`
    /// settings). Waits for the composer's index when it is still being built (from async code,
    /// `await composerReady()` first so no concurrency thread blocks). The last result is
    /// kept, so diagnostics, hover and code actions on one version of a document share it.
    public func compose(_ text: String) throws -> Composed {
        try compose(PromptFile(text: text))
    }

    public func compose(_ file: PromptFile) throws -> Composed {
        try compose(file, candidates: index.candidates.wait().get())
    }

    /// Prompts longer than this are not composed for diagnostics and hovers (a prompt is a few
    /// hundred bytes; composing a megabyte of text would cost seconds per keystroke).
    public static let maxComposedBytes = 16 << 10

    /// The composition if the composer is ready, else nil (for work that must not wait).
    public func composeIfReady(_ file: PromptFile) -> Composed? {
        guard file.positive.range.utf8.count <= Self.maxComposedBytes, let ready = index.candidates.peek(), let candidates = try? ready.get() else { return nil }
        return try? compose(file, candidates: candidates)
    }

    /// The composer's decisions for one topic of a file, for hovers: the file's whole composition
    /// when it is already computed for this text (diagnostics compute it after each pause), else
    /// the topic composed on its own (its own candidates; no cross-topic limits or merges). Nil
    /// while the composer's index is being built.
    public func composeTopic(containing utf8Offset: Int, in file: PromptFile) -> ComposedTopic? {
        guard file.positive.range.utf8.count <= Self.maxComposedBytes,
              let ready = index.candidates.peek(), let candidates = try? ready.get() else { return nil }
        func contains(_ r: SourceRange) -> Bool { r.utf8.contains(utf8Offset) || r.utf8.upperBound == utf8Offset }
        let base = baseModel(for: file)
        if let cached = index.lastComposition.withLock({ $0 }), cached.key == compositionKey(file, base) {
            return cached.value.outcome.composition.topics.first { contains($0.range) }
        }
        guard let topic = file.topics.first(where: { contains($0.range) }),
              let pool = try? candidates.candidates(for: CandidateQuery(
                  text: topic.keyword, topic: topic.keyword, baseModel: nil,
                  includeNSFW: true, limit: ComposePipeline.perTopicLimit)) else { return nil }
        let composition = Composer.compose(topics: [topic], candidates: pool, promptText: file.positiveText,
                                           options: ComposerOptions(baseModel: base, includeNSFW: file.settings.nsfw ?? false),
                                           evidence: ComposeEvidence(knowledge: candidates.wordKnowledge))
        return composition.topics.first
    }

    private func compositionKey(_ file: PromptFile, _ base: BaseModel?) -> String {
        "\(base?.name ?? "")\u{0}\(file.source.text)"
    }

    private func compose(_ file: PromptFile, candidates: LexicalCandidates) throws -> Composed {
        let base = baseModel(for: file)
        let key = compositionKey(file, base)
        if let cached = index.lastComposition.withLock({ $0 }), cached.key == key { return cached.value }
        let outcome = try ComposePipeline.run(
            ComposeRequest(prompt: file.source.text, baseModel: base, includeNSFW: file.settings.nsfw ?? false,
                           debias: file.settings.debias, restoreConcepts: false),
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
        index.lastComposition.withLock { $0 = (key, composed) }
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

/// The catalog's indexes, built once on a thread of their own (summaries and aliases, then words,
/// then the composer's candidates) and shared by contexts that differ only in the base model.
final class AdapterIndex: Sendable {
    let store: CatalogStore
    /// Whether `aliasesFromStore` may answer (no alias the catalog's order cannot place).
    let storeOrderIsExact: Bool
    /// The summaries and the indexes built from them (phase 2).
    let loaded = OnceValue<Result<LoadedCatalog, Error>>()
    /// Adapters by the words of their names.
    let words = OnceValue<WordIndex>()
    /// The composer's candidate source.
    let candidates = OnceValue<Result<LexicalCandidates, Error>>()
    let lastComposition = Locked<(key: String, value: AdapterContext.Composed)?>(nil)

    init(store: CatalogStore, storeOrderIsExact: Bool, beforeSummaries: (@Sendable () -> Void)?) {
        self.store = store
        self.storeOrderIsExact = storeOrderIsExact
        let loaded = self.loaded, words = self.words, candidates = self.candidates
        Thread.detachNewThread {
            beforeSummaries?()
            let result = Result {
                // The aliases come sorted from the catalog's index (no sort of 75,000 strings here).
                do { return LoadedCatalog(summaries: try store.summaries(), aliases: AliasIndex(try store.aliasDirectory())) }
                catch { throw AdapterContext.LoadError.catalogUnreadable(store.path, "\(error)") }
            }
            loaded.set(result)
            let summaries = (try? result.get())?.summaries ?? []
            words.set(WordIndex(summaries))
            // From the summaries: the fields retrieval and the composer read, without a second
            // read of the catalog (raw descriptions, example prompts).
            candidates.set(result.map { LexicalCandidates(entries: $0.summaries.map(\.candidateEntry)) })
        }
    }

    /// The loaded catalog, waiting (blocking) while it loads; empty when it could not be read.
    var catalog: LoadedCatalog { (try? loaded.wait().get()) ?? LoadedCatalog.empty }
}

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
            guard AdapterContext.fits(self.baseModel(at: i), baseModel) else { continue }
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
    static let bins = 32

    static let empty = LoadedCatalog(summaries: [], aliases: AliasIndex([]))

    init(summaries: [AdapterSummary], aliases: AliasIndex) {
        self.summaries = summaries
        self.aliases = aliases
        var byName: [String: Int32] = [:]
        byName.reserveCapacity(summaries.count * 2)
        var byRow: [Int64: Int32] = [:]
        byRow.reserveCapacity(summaries.count)
        for (i, s) in summaries.enumerated() {
            byRow[s.rowID] = Int32(i)
            let alias = s.alias.lowercased()
            if byName[alias] == nil { byName[alias] = Int32(i) }
        }
        for (i, s) in summaries.enumerated() {
            if let stem = s.fileStem?.lowercased(), byName[stem] == nil { byName[stem] = Int32(i) }
        }
        self.byName = byName
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

