import Foundation
import StylusCore

/// The adapter catalog as front ends use it (the language server, `stylus check`, `stylus render
/// --compose`, an MCP server): adapter summaries with small in-memory indexes for completion,
/// hover and diagnostics, full cards from the store, and the composer with its candidate pool.
/// Built once per catalog, then immutable and read concurrently.
///
/// Loading has three phases so a large catalog is usable at once:
/// 1. `init` returns once the catalog is open. `aliases(prefix:…)` works from then on: until the
///    summaries are loaded it walks the catalog's alias index (`aliasesFromStore`).
/// 2. On a thread of their own: the retrieval index file beside the catalog is mapped
///    (`RetrievalIndex`; rebuilt first when it does not match the catalog), then the composer's
///    candidates are made ready (`isComposerReady`, `composerReady()`): with the sentence-embedding
///    model (`encoderDirectory`), the hybrid retriever that `stylus compose` uses, so the editor,
///    `stylus check` and `stylus render --compose` choose the same adapters as the CLI; without it
///    the keyword pool (the degraded mode, `composerWarning`).
/// 3. Then the summaries (decoded from the index) and the name and word indexes (`isLoaded`,
///    `loaded()`); every other lookup waits for them. With `loadSummaries: false` (one-shot
///    commands) this phase starts only when a lookup needs it.
///
/// The CLI (`stylus compose`, `search`, `check`, `render --compose`), the language server and the
/// MCP server all open the retrieval index this way (`retriever(modelDirectory:)`).
///
/// Lookups:
/// - `summary(alias:)` / `entry(alias:)`: the adapter behind `<lora:alias:…>` (alias or file stem,
///   case-insensitive); the summary from memory, the full catalog entry from the store
/// - `aliases(prefix:baseModel:limit:)`: aliases for `<lora:` completion
/// - `adapters(wordPrefix:baseModel:limit:)`: adapters named by a word (completion on words)
/// - `closestAliases(to:baseModel:)`: for misspelt tags
/// - `compose(_:)`: the composer's outcome for a `PromptRequest` (the last one is kept)
public final class CatalogIndex: Sendable {
    public let store: CatalogStore
    /// Whether `aliasesFromStore` may answer (no alias the catalog's order cannot place).
    private let storeOrderIsExact: Bool
    /// The mapped retrieval index (phase 2).
    private let retrieval = OnceValue<Result<RetrievalIndex, Error>>()
    /// The summaries and the indexes built from them (phase 3).
    private let loadedCatalog = OnceValue<Result<LoadedCatalog, Error>>()
    /// Adapters by the words of their names.
    private let words = OnceValue<WordIndex>()
    /// The composer's candidate sources.
    private let candidates = OnceValue<Result<ComposerSources, Error>>()
    private let lastComposition = LastValueCache<String, ComposeOutcome>()
    private let lastInstalledComposition = LastValueCache<String, ComposeOutcome>()
    /// Which adapters have a local file (phase 1).
    public let installed: InstalledAdapters
    /// Whether phase 3 has started.
    private let summariesStarted = OnceFlag()

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

    /// Indexes `store`; the retrieval index, the composer's candidates and (unless `loadSummaries`
    /// is false) the summaries follow on a thread of their own. `beforeSummaries` runs on that
    /// thread before it reads anything (tests hold it there to see the first phase). `note` gets
    /// the one line saying that the index file was missing, stale or damaged and is rebuilt.
    public init(store: CatalogStore, encoderDirectory: String? = nil, loadSummaries: Bool = true,
                note: @escaping @Sendable (String) -> Void = RetrievalIndex.stderrNote,
                beforeSummaries: (@Sendable () -> Void)? = nil) throws {
        self.store = store
        do {
            storeOrderIsExact = try !store.hasAliasesLoweringToASCII()
            installed = try InstalledAdapters(store: store)
        } catch { throw LoadError.catalogUnreadable(store.path, "\(error)") }
        let retrieval = self.retrieval, candidates = self.candidates
        Thread.detachNewThread { [weak self] in
            beforeSummaries?()
            let index = Result {
                do { return try RetrievalIndex.open(store: store, note: note) }
                catch { throw LoadError.catalogUnreadable(store.path, "\(error)") }
            }
            retrieval.set(index)
            if loadSummaries { self?.startSummaries() }
            candidates.set(index.map { index in
                // Without a model directory the caller asked for the keyword pool alone.
                guard let self, let encoderDirectory else {
                    return ComposerSources(lexical: LexicalCandidates(index: index, wordNet: WordNet.installed()), warning: nil)
                }
                do { return ComposerSources(try self.retriever(modelDirectory: encoderDirectory)) } catch {
                    return ComposerSources(lexical: LexicalCandidates(index: index, wordNet: WordNet.installed()),
                                           warning: "the retriever could not open \(store.path) (\(error)); composing by keywords only")
                }
            })
        }
    }

    /// Phase 3: summaries from the retrieval index, the alias directory from the store.
    private func loadSummaries(_ index: Result<RetrievalIndex, Error>) {
        guard summariesStarted.claim() else { return }
        let result = Result {
            // The alias directory (from SQLite, on a thread of its own) while the summaries are decoded
            // from the index. The aliases come sorted from the catalog's index (no sort of 75,000 strings here).
            let store = self.store
            let aliases = OnceValue<Result<AliasIndex, Error>>()
            Thread.detachNewThread { aliases.set(Result { AliasIndex(try store.aliasDirectory()) }) }
            do {
                let summaries = try index.get().summaries()
                return LoadedCatalog(summaries: summaries, aliases: try aliases.wait().get())
            }
            catch let error as LoadError { throw error }
            catch { throw LoadError.catalogUnreadable(store.path, "\(error)") }
        }
        loadedCatalog.set(result)
        words.set(WordIndex((try? result.get())?.summaries ?? []))
    }

    /// Starts phase 3 (on a thread of its own) if it has not started.
    private func startSummaries() {
        guard loadedCatalog.peek() == nil, !summariesStarted.isSet else { return }
        let retrieval = self.retrieval
        Thread.detachNewThread { [self] in loadSummaries(retrieval.wait()) }
    }

    /// The mapped retrieval index, waiting (blocking) while it is opened or rebuilt.
    public func retrievalIndex() throws -> RetrievalIndex { try retrieval.wait().get() }

    /// The hybrid retriever (MiniLM + BM25) over this catalog's retrieval index, with the encoder
    /// from `modelDirectory` (nil: BM25 only, with a warning), as `stylus search`/`compose` and the
    /// MCP server use it.
    /// Adapters without a vector get one first, stored in the catalog (the index is then brought up
    /// to date); when that fails they are embedded in memory and `storeProblem` says why.
    public func retriever(modelDirectory: String?, options: Retriever.Options = Retriever.Options()) throws -> Retriever {
        // The encoder loads here while the loading thread maps (and checks) the index file.
        let (encoder, warning) = Retriever.openEncoder(modelDirectory: modelDirectory)
        var index = try retrievalIndex()
        var problem: String?
        if let encoder, index.vectorCount < index.documentCount {
            problem = CatalogEmbedder(store: store, encoder: encoder).storeMissingVectors()
            if problem == nil { index = try RetrievalIndex.open(store: store, note: { _ in }) }  // the new vectors made it stale
        } else if let encoder {
            // Catalogs embedded before the composer's texts were stored with them get them once
            // (not an error when the catalog is read-only: compose then encodes them itself).
            try? CatalogEmbedder(store: store, encoder: encoder).embedMissingTexts(CatalogEmbedder.composerTexts)
        }
        return try Retriever(store: store, encoder: encoder, warning: warning, options: options, index: index, storeProblem: problem)
    }

    /// Opens the catalog `explicit` names (else `$STYLUS_DB`, else the data directory's catalog,
    /// seeded with the starter catalog when new). A catalog named explicitly must exist.
    public static func openStore(explicit: String?,
                                 environment: [String: String] = ProcessInfo.processInfo.environment) throws -> CatalogStore {
        let explicit = explicit.flatMap { $0.isEmpty ? nil : DataPaths.expandingTilde($0, environment: environment) }
        let (path, isDefault) = StarterCatalog.location(explicit: explicit, environment: environment)
        if !isDefault, !FileManager.default.fileExists(atPath: path) { throw LoadError.catalogMissing(path) }
        do { return try StarterCatalog.open(explicit: explicit, environment: environment).store }
        catch { throw LoadError.catalogUnreadable(path, "\(error)") }
    }

    /// Opens the catalog `explicit` names (see `openStore`), scans `loraFolders` into it and indexes
    /// it: what the editor and `stylus mcp` start from. Returns the scan's problems, one line each.
    public static func open(explicit: String?, scanning loraFolders: [String], encoderDirectory: String? = nil,
                            environment: [String: String] = ProcessInfo.processInfo.environment,
                            beforeSummaries: (@Sendable () -> Void)? = nil) throws -> (index: CatalogIndex, problems: [String]) {
        let store = try openStore(explicit: explicit, environment: environment)
        let problems = loraFolders.flatMap { scan($0, into: store, environment: environment) }
        return (try CatalogIndex(store: store, encoderDirectory: encoderDirectory, beforeSummaries: beforeSummaries), problems)
    }

    /// Scans one LoRA folder into the catalog (incremental: unchanged files are not read again).
    /// Returns the problems, one line each.
    public static func scan(_ folder: String, into store: CatalogStore,
                            environment: [String: String] = ProcessInfo.processInfo.environment) -> [String] {
        do {
            let before = try? store.indexState().generation
            let report = try FolderScanner(store: store).scan(DataPaths.expandingTilde(folder, environment: environment))
            var problems = report.skipped.map { "LoRA folder \(folder): \($0)" }
            // The scan changed the catalog: bring the retrieval index up to date now (an expected
            // rebuild, without the note a reader gives when it finds the index stale).
            if let before, (try? store.indexState().generation) != before, let problem = RetrievalIndex.refresh(store: store) {
                problems.append(problem)
            }
            return problems
        } catch {
            return ["LoRA folder \(folder) was not scanned: \(error)"]
        }
    }

    /// Where the catalog was loaded from.
    public var path: String { store.path }
    public var count: Int { catalog.summaries.count }
    /// Every adapter, ordered by adapter id.
    public var summaries: [AdapterSummary] { catalog.summaries }
    /// How many adapters each base model has.
    public var baseModelCounts: [BaseModel: Int] { catalog.baseModelCounts }

    /// Whether the summaries are loaded (phase 3); before, only `aliases(prefix:…)` answers at once.
    public var isLoaded: Bool { loadedCatalog.peek() != nil }

    /// Waits (blocking) for the summaries; throws when they cannot be read.
    public func waitUntilLoaded() throws { startSummaries(); _ = try loadedCatalog.wait().get() }

    /// Waits (without blocking a Swift concurrency thread) for the summaries; throws when they
    /// cannot be read.
    public func loaded() async throws { startSummaries(); _ = try await loadedCatalog.value().get() }

    /// The loaded catalog, waiting (blocking) while it loads; empty when it could not be read.
    private var catalog: LoadedCatalog {
        startSummaries()
        return (try? loadedCatalog.wait().get()) ?? LoadedCatalog.empty
    }

    // MARK: Lookups

    /// The adapter a `<lora:name:…>` tag names: by alias, else by file stem (case-insensitive).
    public func summary(alias: String) -> AdapterSummary? {
        let catalog = self.catalog
        return catalog.byName[alias.lowercased()].map { catalog.summaries[Int($0)] }
    }

    /// The full catalog entry (raw description, example prompts, file hashes) for a tag's name.
    public func entry(alias: String) -> CatalogEntry? {
        guard let s = summary(alias: alias) else { return nil }
        return (try? store.lookup(s.adapterId))?.first
    }

    /// Adapters whose alias starts with `prefix` (case-insensitive), in alias order, of `baseModel`
    /// (or unknown base) when given. `truncated` says that more matched than `limit`. Answers at
    /// once: until the summaries are loaded, from the catalog file (`aliasesFromStore`), or, in the
    /// rare cases that cannot answer, by waiting for them.
    public func aliases(prefix: String, baseModel: BaseModel?, limit: Int) -> (adapters: [AdapterSummary], truncated: Bool) {
        if !isLoaded, let early = aliasesFromStore(prefix: prefix, baseModel: baseModel, limit: limit) { return early }
        let catalog = self.catalog
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
        guard storeOrderIsExact, p.utf8.allSatisfy({ $0 < 0x80 }) else { return nil }
        var rows: [Int64] = []
        var truncated = false, exact = true
        do {
            try store.aliases(from: p) { e in
                guard AliasIndex.key(e.alias).utf8.starts(with: p.utf8) else { return false }  // past the prefix
                guard Self.fits(e.baseModel, baseModel) else { return true }
                if rows.count == limit { truncated = true; return false }
                guard e.alias.utf8.allSatisfy({ $0 < 0x80 }) else { exact = false; return false }
                rows.append(e.rowID)
                return true
            }
            guard exact else { return nil }
            let adapters = try store.summaries(rowIDs: rows)
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
        startSummaries()
        let wordIndex = words.wait()
        let summaries = catalog.summaries
        var found: [Int] = []
        var i = AliasIndex.lowerBound(wordIndex.keys, p)
        while i < wordIndex.keys.count, wordIndex.keys[i].utf8.starts(with: p.utf8) { found.append(i); i += 1 }
        found.sort { (wordIndex.keys[$0].utf8.count, $0) < (wordIndex.keys[$1].utf8.count, $1) }
        var out: [(String, AdapterSummary)] = []
        var seen: Set<Int32> = []
        for k in found {
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
        let catalog = self.catalog, aliases = catalog.aliases
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

    /// The same adapter for another base model: same trigger word, for `base`, at most two.
    public func siblings(of e: AdapterSummary, base: BaseModel) -> [AdapterSummary] {
        var out: [AdapterSummary] = []
        for word in e.triggerWords.prefix(2) {
            for m in adapters(wordPrefix: word, baseModel: base, limit: 20).matches
            where m.word == word.lowercased() && m.adapter.baseModel == base && m.adapter.triggerWords.contains(word) {
                if !out.contains(where: { $0.adapterId == m.adapter.adapterId }) { out.append(m.adapter) }
            }
        }
        return Array(out.prefix(2))
    }

    /// Whether an adapter of base `own` can be offered for a file of `baseModel`: same base, or
    /// either unknown.
    static func fits(_ own: BaseModel?, _ baseModel: BaseModel?) -> Bool {
        guard let baseModel, let own else { return true }
        return own == baseModel
    }

    // MARK: Installed adapters

    /// The local file of the adapter a `<lora:name:…>` tag names: its installed file, else a
    /// local file with that stem or `ss_output_name` the catalog knows; nil when none.
    public func installedFile(alias: String) -> String? {
        let installed = self.installed
        if let s = summary(alias: alias), let path = installed.file(adapterID: s.adapterId) { return path }
        return installed.fileByName[alias.lowercased()]
    }

    /// Whether the adapter has a local file.
    public func isInstalled(_ s: AdapterSummary) -> Bool { installed.isInstalled(s.adapterId) }

    /// The ids of the installed adapters, plus those whose alias or file stem is in `localNames`
    /// (lowercased file stems and `ss_output_name` aliases of LoRA folders a render searches).
    public func installedIDs(localNames: Set<String> = []) -> Set<String> {
        var ids = Set(installed.fileByID.keys)
        if !localNames.isEmpty {
            for s in summaries where localNames.contains(s.alias.lowercased()) || s.fileStem.map({ localNames.contains($0.lowercased()) }) == true {
                ids.insert(s.adapterId)
            }
        }
        return ids
    }

    // MARK: Composing

    /// Whether the composer's candidate pool is ready (phase 2).
    public var isComposerReady: Bool { candidates.peek() != nil }

    /// Waits (without blocking a Swift concurrency thread) until the composer can run.
    public func composerReady() async { _ = await candidates.value() }

    /// The composer's keyword pool (BM25 over names, tags, trigger words and descriptions), waiting
    /// (blocking) while the composer's sources are built.
    public func candidatePool() throws -> LexicalCandidates { try candidates.wait().get().lexical }

    /// Once the composer is ready, a problem of its sources worth telling the user: it decides by
    /// keywords only (no sentence-embedding model, or it failed to load), or the vectors of new
    /// adapters could not be stored (they are embedded in memory instead).
    public var composerWarning: String? { (try? candidates.peek()?.get())?.warning }

    /// Prompts longer than this are not composed for diagnostics and hovers (a prompt is a few
    /// hundred bytes; composing a megabyte of text would cost seconds per keystroke).
    public static let maxComposedBytes = 16 << 10

    /// Runs the Stylus composer on a request. Waits for the candidate pool when it is still being
    /// built (from async code, `await composerReady()` first so no concurrency thread blocks). The
    /// last result is kept, so diagnostics, hover and code actions on one text share it.
    public func compose(_ request: PromptRequest) throws -> ComposeOutcome {
        try compose(request, sources: candidates.wait().get())
    }

    /// Composes from installed adapters only (`installedIDs(localNames:)`): the composition a local
    /// render uses. A hard filter on the candidates, before the composer ranks them.
    public func composeInstalled(_ request: PromptRequest, localNames: Set<String> = []) throws -> ComposeOutcome {
        try compose(request, sources: candidates.wait().get(), only: installedIDs(localNames: localNames))
    }

    /// `composeInstalled` if the composer is ready, else nil (for work that must not wait).
    public func composeInstalledIfReady(_ request: PromptRequest) -> ComposeOutcome? {
        guard request.file.positive.range.utf8.count <= Self.maxComposedBytes,
              let ready = candidates.peek(), let sources = try? ready.get() else { return nil }
        return try? compose(request, sources: sources, only: installedIDs())
    }

    /// The composition if the composer is ready and the prompt is not too long, else nil (for
    /// work that must not wait).
    public func composeIfReady(_ request: PromptRequest) -> ComposeOutcome? {
        guard request.file.positive.range.utf8.count <= Self.maxComposedBytes,
              let ready = candidates.peek(), let sources = try? ready.get() else { return nil }
        return try? compose(request, sources: sources)
    }

    /// The composer's decisions for the topic at `utf8Offset`, for hovers: from the request's whole
    /// composition (computed now with embeddings, a few milliseconds), else, in the keyword-only
    /// mode, the topic composed on its own (its own candidates; no cross-topic limits or merges).
    /// Nil while the composer's sources are being built.
    public func composeTopic(containing utf8Offset: Int, in request: PromptRequest) -> ComposedTopic? {
        let file = request.file
        guard file.positive.range.utf8.count <= Self.maxComposedBytes,
              let ready = candidates.peek(), let sources = try? ready.get() else { return nil }
        func contains(_ r: SourceRange) -> Bool { r.utf8.contains(utf8Offset) || r.utf8.upperBound == utf8Offset }
        if let cached = lastComposition.value(for: Self.key(request)) {
            return cached.composition.topics.first { contains($0.range) }
        }
        if sources.hybrid != nil {
            return (try? compose(request, sources: sources))?.composition.topics.first { contains($0.range) }
        }
        let pool = sources.lexical
        guard let topic = file.topics.first(where: { contains($0.range) }),
              let found = try? pool.candidates(for: CandidateQuery(
                  text: topic.keyword, topic: topic.keyword, baseModel: nil,
                  includeNSFW: true, limit: ComposePipeline.perTopicLimit)) else { return nil }
        let composition = Composer.compose(topics: [topic], candidates: found, promptText: file.positiveText,
                                           options: ComposerOptions(baseModel: request.baseModel, includeNSFW: request.includeNSFW),
                                           evidence: ComposeEvidence(knowledge: pool.wordKnowledge))
        return composition.topics.first
    }

    private func compose(_ request: PromptRequest, sources: ComposerSources, only: Set<String>? = nil) throws -> ComposeOutcome {
        if let only {
            // Kept apart from the composition over all known adapters, which hovers and hints share.
            let key = Self.key(request) + "\u{1}" + only.sorted().joined(separator: "\u{0}")
            if let cached = lastInstalledComposition.value(for: key) { return cached }
            let lexical = OnlySomeAdapters(base: sources.lexical, allowed: only)
            let outcome = try ComposePipeline.run(request.composeRequest, source: lexical,
                                                  retriever: sources.hybrid.map { OnlySomeAdapters(base: $0, allowed: only) })
            lastInstalledComposition.set(outcome, for: key)
            return outcome
        }
        let key = Self.key(request)
        if let cached = lastComposition.value(for: key) { return cached }
        let outcome = try ComposePipeline.run(request.composeRequest, source: sources.lexical, retriever: sources.hybrid)
        lastComposition.set(outcome, for: key)
        return outcome
    }

    /// Everything a composition depends on besides the catalog.
    private static func key(_ r: PromptRequest) -> String {
        "\(r.baseModel?.name ?? "")\u{0}\(r.includeNSFW)\u{0}\(r.debias ?? "")\u{0}\(r.restoreConcepts)\u{0}\(r.addTriggerWords)\u{0}\(r.text)"
    }
}

/// A flag that one caller claims.
final class OnceFlag: @unchecked Sendable {  // state behind `lock`
    private let lock = NSLock()
    private var set = false

    /// True for the first caller only.
    func claim() -> Bool {
        lock.lock(); defer { lock.unlock() }
        if set { return false }
        set = true
        return true
    }

    var isSet: Bool {
        lock.lock(); defer { lock.unlock() }
        return set
    }
}

/// The last value computed for a key, shared between threads.
final class LastValueCache<Key: Equatable & Sendable, Value: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var last: (key: Key, value: Value)?

    func value(for key: Key) -> Value? {
        lock.lock(); defer { lock.unlock() }
        return last?.key == key ? last?.value : nil
    }

    func set(_ value: Value, for key: Key) {
        lock.lock(); last = (key, value); lock.unlock()
    }
}

extension RenderComposer {
    /// The composer over a catalog index, with its adapters' local files: what every front end
    /// renders composed prompts with.
    public init(catalog: CatalogIndex) {
        self.init(compose: { try catalog.compose($0) }, adapterFile: { catalog.installedFile(alias: $0) })
        composeInstalled = { try catalog.composeInstalled($0, localNames: $1) }
    }
}

/// What the composer draws candidates from: the keyword pool, and the hybrid (dense + BM25)
/// retriever when the sentence-embedding model is installed, the way `stylus compose` opens them.
public struct ComposerSources: Sendable {
    public var lexical: LexicalCandidates
    public var hybrid: Retriever?
    /// Why the composer decides by keywords only, or why new adapters' vectors were not stored.
    public var warning: String?

    /// The sources every front end composes from: the retriever's keyword pool, and the retriever
    /// itself as the hybrid source when it has the sentence encoder.
    public init(_ retriever: Retriever) {
        lexical = retriever.lexicalCandidates
        hybrid = retriever.warning == nil ? retriever : nil
        warning = retriever.warning ?? retriever.storeProblem
    }

    init(lexical: LexicalCandidates, warning: String?) {
        self.lexical = lexical
        hybrid = nil
        self.warning = warning
    }
}
