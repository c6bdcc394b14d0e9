import Foundation
import GRDB
import StylusCore
import StylusML

/// Hybrid retrieval over the catalog (docs/ARCHITECTURE.md): dense cosine between the query's
/// MiniLM embedding and every adapter vector (one contiguous matrix, brute force with SIMD, split
/// over the cores), plus in-memory BM25 (`BM25Index`, the composer's index type) over title, alias,
/// tags, trigger words and refined description, fused by rank.
///
/// Built once from a snapshot of the catalog; queries are read-only and thread-safe. Without the
/// model files it ranks by BM25 alone and says why in `warning`.
public final class Retriever: CandidateSource, Sendable {
    public enum Fusion: String, Sendable, CaseIterable {
        /// Reciprocal-rank fusion: Σ 1/(60 + rank) over the two lists.
        case reciprocalRank = "rrf"
        /// Calibrated scores: cosine + `bm25Weight` × BM25 / best BM25 of the query.
        case score
    }

    public let store: CatalogStore
    public let encoder: MiniLMEncoder?
    /// One line saying why retrieval is BM25-only (nil when dense retrieval is on).
    public let warning: String?
    public var fusion: Fusion { options.fusion }

    public struct Options: Sendable {
        public var fusion: Fusion = .reciprocalRank
        /// How deep each list is read before fusing (at least the requested K).
        public var depth = 100
        public var bm25Weight: Float = 0.3
        /// Word pieces of the query the dense side embeds ([CLS] and [SEP] included). Prompts put
        /// their subject first and BM25 still reads every word; on the dev set recall@K was the
        /// same at 32 as at 256, and the cap bounds the encoder's cost for long prompts.
        public var queryTokenLimit = 32
        public init() {}
    }
    let options: Options

    /// The catalog's retrieval index: summaries, BM25 postings, vectors and their int8 codes.
    public let index: RetrievalIndex
    /// BM25 over the index; document i is the index's document i.
    let lexical: BM25Index
    /// WordNet for the composer (nil when not installed; the composer then has no knowledge features).
    public let wordNet: WordNet?
    /// Embeddings of short texts already seen (titles, tags, topics, category descriptions), bounded.
    package let textVectors = BoundedMemo<String, [Float]>(capacity: 50_000)
    /// Embeddings of longer texts (whole prompts and queries), kept apart and fewer: an editor
    /// composes every version of a document it types, and 50,000 of those would hold ~200 MB.
    package let queryVectors = BoundedMemo<String, [Float]>(capacity: 1_000)
    /// Texts longer than this (UTF-8 bytes) are cached in `queryVectors`.
    static let shortTextBytes = 160

    /// The cache that holds `text`'s vector.
    package func vectorCache(for text: String) -> BoundedMemo<String, [Float]> {
        text.utf8.count > Self.shortTextBytes ? queryVectors : textVectors
    }
    /// Why the vectors of new adapters could not be stored in the catalog (they are embedded in
    /// memory for this retriever instead), for the front end to show once.
    public let storeProblem: String?

    /// The texts that name an adapter for the composer's embeddings (cleaned title, subject tags),
    /// per adapter id: cleaning titles is string work the pool would otherwise repeat on every
    /// compose. This retriever's index never changes, so neither do its cards' names.
    let nameTexts = BoundedMemo<String, (title: String, tags: [String])>(capacity: 200_000)
    /// The composer's vectors of recently met adapters, per adapter id: a long prompt's pool holds
    /// the same adapters many times over (a whole-prompt list and two lists per topic), and the next
    /// keystroke holds them again. Bounded, so a large catalog's card vectors stay on disk.
    let adapterVectors = BoundedMemo<String, AdapterVectors>(capacity: 4096)

    /// Opens the encoder from `modelDirectory` (nil: BM25 only) and snapshots the catalog. Reads
    /// only: store missing vectors first with `CatalogEmbedder.storeMissingVectors`.
    public convenience init(store: CatalogStore, modelDirectory: String?, options: Options = Options(),
                            index: RetrievalIndex? = nil) throws {
        let (encoder, warning) = Self.openEncoder(modelDirectory: modelDirectory)
        try self.init(store: store, encoder: encoder, warning: warning, options: options, index: index)
    }

    /// The sentence encoder in `modelDirectory`, or nil and the warning a retriever without it gives.
    public static func openEncoder(modelDirectory: String?) -> (encoder: MiniLMEncoder?, warning: String?) {
        guard let modelDirectory else { return (nil, "no sentence-embedding model configured; ranking by keywords (BM25) only") }
        do { return (try MiniLMEncoder(directory: modelDirectory), nil) } catch {
            return (nil, "sentence embeddings unavailable (\(error)); ranking by keywords (BM25) only")
        }
    }

    /// Over the catalog's retrieval index (`index`, else opened or rebuilt here); never writes to
    /// the catalog. Adapters without a stored vector get one in memory for this retriever's life.
    public init(store: CatalogStore, encoder: MiniLMEncoder?, warning: String? = nil, options: Options = Options(),
                index: RetrievalIndex? = nil, storeProblem: String? = nil) throws {
        self.storeProblem = storeProblem
        self.store = store
        self.encoder = encoder
        self.warning = encoder == nil ? (warning ?? "no sentence-embedding model; ranking by keywords (BM25) only") : nil
        self.options = options
        var index = try index ?? RetrievalIndex.open(store: store)
        if let encoder, index.vectorCount < index.documentCount {
            // Vectors the catalog does not have (not stored yet, or a read-only file): this session only.
            let summaries = index.summaries()
            var vectors = try store.embeddings(model: MiniLMEncoder.modelID)
            let have = Set(vectors.map(\.adapterID))
            let missing = summaries.filter { !have.contains($0.adapterId) }
            let computed = encoder.embed(missing.map { CatalogEmbedder.embeddedText($0.refinedDescription) })
            for (s, v) in zip(missing, computed) { vectors.append((s.adapterId, v)) }
            index = RetrievalIndex.inMemory(RetrievalIndex.contents(summaries: summaries, vectors: vectors,
                                                                     catalogID: index.catalogID, generation: index.generation))
        }
        self.index = index
        lexical = BM25Index(index: index)
        wordNet = WordNet.installed()
    }

    public var adapterCount: Int { index.documentCount }
    public var vectorCount: Int { index.vectorCount }

    // MARK: - Querying

    /// Ranks adapters for `query`, best first, at most `query.limit`.
    public func candidates(for query: CandidateQuery) throws -> [CandidateAdapter] {
        try search(query).map { candidate($0) }
    }

    public var wordKnowledge: (any WordKnowledge)? { wordNet }

    /// Unit embeddings of short texts, cached (topics and titles repeat across prompts and keystrokes).
    public func embed(_ texts: [String]) -> [[Float]]? {
        guard let encoder else { return nil }
        var out = [[Float]?](repeating: nil, count: texts.count)
        var missing: [Int] = []
        for (i, t) in texts.enumerated() {
            if let v = vectorCache(for: t)[t] { out[i] = v } else { missing.append(i) }
        }
        if !missing.isEmpty {
            // Titles and tags were embedded with the catalog; only the rest is encoded now.
            var fresh = (try? store.textVectors(for: missing.map { texts[$0] }, model: MiniLMEncoder.modelID)) ?? [:]
            let unique = Array(Set(missing.map { texts[$0] }.filter { fresh[$0] == nil }))
            let vectors = encoder.embed(tokenIDs: unique.map { Self.shortTextTokens($0, encoder: encoder, limit: options.queryTokenLimit) })
            for (t, v) in zip(unique, vectors) { fresh[t] = v }
            textVectors.store(fresh.filter { $0.key.utf8.count <= Self.shortTextBytes })
            queryVectors.store(fresh.filter { $0.key.utf8.count > Self.shortTextBytes })
            for i in missing { out[i] = fresh[texts[i]] }
        }
        return out.map { $0 ?? [] }
    }

    /// How a text (a query, a topic, a title, a tag) is tokenised for its embedding: cleaned of prompt
    /// syntax, cut like a query.
    package static func shortTextTokens(_ text: String, encoder: MiniLMEncoder, limit: Int = Options().queryTokenLimit) -> [Int32] {
        let cleaned = QueryText.clean(text)
        return cutTokens(encoder.tokenizer.encode(cleaned.isEmpty ? text : cleaned), limit: limit)
    }

    /// Card vectors from the matrix; title and subject-tag vectors embedded on first use, then cached.
    public func attachVectors(_ candidates: inout [CandidateAdapter]) {
        guard encoder != nil else { return }
        var positions: [String: [Int]] = [:]  // adapters not kept yet → their entries in the pool
        var firsts: [Int] = []
        for i in candidates.indices where candidates[i].vectors == nil {
            let id = candidates[i].card.adapterId
            if let kept = adapterVectors[id] {
                candidates[i].vectors = kept
            } else {
                if positions[id] == nil { firsts.append(i) }
                positions[id, default: []].append(i)
            }
        }
        guard !firsts.isEmpty else { return }
        let names = firsts.map { i in
            let c = candidates[i]
            return nameTexts.value(c.card.adapterId) { _ in (ComposerWords.titleText(c.card.title), ComposerWords.subjectTags(c.card.tags)) }
        }
        let titles = names.map(\.title), tags = names.map(\.tags)
        let distinct = Array(Set(titles + tags.joined()))
        guard let vectors = embed(distinct) else { return }
        var byText: [String: [Float]] = [:]
        for (t, v) in zip(distinct, vectors) { byText[t] = v }
        let d = MiniLMEncoder.dimension
        var fresh: [String: AdapterVectors] = [:]
        for (k, i) in firsts.enumerated() {
            let id = candidates[i].card.adapterId
            guard let doc = index.document(adapterID: id), let vector = index.vector(doc), vector.count == d,
                  let title = byText[titles[k]] else { continue }
            let found = AdapterVectors(card: vector, title: title, tags: tags[k].compactMap { byText[$0] })
            fresh[id] = found
            for j in positions[id] ?? [] { candidates[j].vectors = found }
        }
        adapterVectors.store(fresh)
    }

    public struct Hit: Sendable, Equatable {
        public var index: Int
        public var score: Double
        public var adapterID: String
    }

    /// Where a query's time went, in milliseconds (for the benchmark).
    public struct Timings: Sendable {
        public var embed = 0.0, dense = 0.0, bm25 = 0.0
        public init() {}
    }

    /// The fused ranking as entry indices with scores.
    public func search(_ query: CandidateQuery) throws -> [Hit] {
        var t = Timings()
        return try search(query, timings: &t)
    }

    public func search(_ query: CandidateQuery, timings: inout Timings) throws -> [Hit] {
        try search(query, denseVector: nil, timings: &timings)
    }

    /// Ranks with a query vector the caller already has (the composer embeds all its topics in one pass).
    public func candidates(for query: CandidateQuery, denseVector: [Float]) throws -> [CandidateAdapter] {
        var t = Timings()
        return try search(query, denseVector: denseVector, timings: &t)
            .map { candidate($0) }
    }

    /// Rankings for several queries whose dense vectors the caller has (a prompt's topics): one
    /// int8 scan serves them all. Each ranking is the one `candidates(for:denseVector:)` gives.
    public func candidates(for queries: [(query: CandidateQuery, denseVector: [Float])]) throws -> [[CandidateAdapter]] {
        var timings = Timings()  // not reported: one request times nothing on its own
        // The topics of a prompt share its text: cleaned once, not once per topic.
        var cleanedTexts: [String: String] = [:]
        let plans = queries.map { q in
            let text = q.query.text
            let cleaned = cleanedTexts[text] ?? QueryText.clean(text)
            cleanedTexts[text] = cleaned
            return plan(q.query, cleanedText: cleaned)
        }
        let vectors = zip(plans, queries).map { plan, query in denseVector(plan, given: query.denseVector, timings: &timings) }
        let dense = topRows(zip(plans, vectors).map { plan, v in (v ?? [], v == nil ? 0 : plan.depth, plan.allowed, plan.base) })
        return try zip(plans, dense).map { plan, dense in try fused(plan, dense: dense, timings: &timings).map { candidate($0) } }
    }

    func search(_ query: CandidateQuery, denseVector given: [Float]?, timings: inout Timings) throws -> [Hit] {
        let plan = plan(query)
        var dense: [(Int, Float)] = []
        if let q = denseVector(plan, given: given, timings: &timings) {
            let start = DispatchTime.now().uptimeNanoseconds
            dense = topRows(q, depth: plan.depth, allowed: plan.allowed, base: plan.base)
            timings.dense += Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
        }
        return try fused(plan, dense: dense, timings: &timings)
    }

    /// What a query asks, as the search uses it.
    private struct QueryPlan {
        var k: Int
        /// The query's text and topic as asked (the cache's keys), and cleaned.
        var text: String
        var topicText: String?
        var cleaned: String
        var topic: String?
        var depth: Int
        var allowed: (Int) -> Bool
        /// The base model id `allowed` requires, if any (-2: one no document has).
        var base: Int32?
    }

    /// `cleanedText`, when given, is `QueryText.clean(query.text)` computed by the caller.
    private func plan(_ query: CandidateQuery, cleanedText: String? = nil) -> QueryPlan {
        // -2 matches no entry (a base model no adapter has).
        let wanted: Int32? = query.baseModel.map(index.baseID)
        let only = index.documents(adapterIDs: query.onlyAdapterIDs)
        let allowed: (Int) -> Bool = { [index, includeNSFW = query.includeNSFW] i in
            (only?.contains(i) ?? true) && (wanted == nil || index.baseOfDoc[i] == wanted) && (includeNSFW || index.nsfwOfDoc[i] == 0)
        }
        let k = max(0, query.limit)
        return QueryPlan(k: k, text: query.text, topicText: query.topic, cleaned: cleanedText ?? QueryText.clean(query.text),
                         topic: query.topic.map(QueryText.clean), depth: max(options.depth, k), allowed: allowed, base: wanted)
    }

    /// The dense query vector: `given` when it has the model's dimension, else embedded here; nil
    /// when there is no dense search (no model, no vectors, nothing asked).
    private func denseVector(_ plan: QueryPlan, given: [Float]?, timings: inout Timings) -> [Float]? {
        guard plan.k > 0, encoder != nil, index.vectorCount > 0, !plan.cleaned.isEmpty else { return nil }
        if let given, given.count == MiniLMEncoder.dimension { return given }
        let start = DispatchTime.now().uptimeNanoseconds
        defer { timings.embed += Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6 }
        // Through the text-vector cache: an agent or editor asks about the same prompt again and
        // again (search, then compose), and the encoder pass is most of a search's time.
        guard let topic = plan.topic, !topic.isEmpty, let topicText = plan.topicText else {
            return embed([plan.text])?.first
        }
        // The topic itself weighs more than the prompt around it (both in one encoder pass).
        guard let both = embed([plan.text, topicText]), both.count == 2 else { return nil }
        var q = both[0]
        let t = both[1]
        for j in q.indices { q[j] = 2 * t[j] + q[j] }
        let n = (q.reduce(0) { $0 + $1 * $1 }).squareRoot()
        if n > 0 { for j in q.indices { q[j] /= n } }
        return q
    }

    /// BM25 for the plan, fused with its dense ranking.
    private func fused(_ plan: QueryPlan, dense: [(Int, Float)], timings: inout Timings) throws -> [Hit] {
        guard plan.k > 0 else { return [] }
        let start = DispatchTime.now().uptimeNanoseconds
        let terms = Set(QueryText.words(plan.topic ?? plan.cleaned).flatMap(BM25Index.tokens))
        let lexical = self.lexical.search(terms: terms, limit: plan.depth, allowed: plan.allowed).map { ($0.doc, $0.score) }
        timings.bm25 += Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6

        var fused: [Int: Double] = [:]
        switch options.fusion {
        case .reciprocalRank:
            for (r, (i, _)) in dense.enumerated() { fused[i, default: 0] += 1 / Double(61 + r) }
            for (r, (i, _)) in lexical.enumerated() { fused[i, default: 0] += 1 / Double(61 + r) }
        case .score:
            for (i, s) in dense { fused[i, default: 0] += Double(s) }
            if let best = lexical.first?.1, best > 0 {
                for (i, s) in lexical { fused[i, default: 0] += Double(options.bm25Weight * s / best) }
            }
        }
        return fused.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
            .prefix(plan.k).map { Hit(index: $0.key, score: $0.value, adapterID: index.adapterID($0.key)) }
    }

    /// The query's word pieces as `embed` encodes them (`shortTextTokens`), cut to `queryTokenLimit`
    /// as sentence-transformers cuts to its max_seq_length (the first pieces, then [SEP]).
    package func queryTokens(_ text: String, _ encoder: MiniLMEncoder) -> [Int32] {
        Self.shortTextTokens(text, encoder: encoder, limit: options.queryTokenLimit)
    }

    static func cutTokens(_ ids: [Int32], limit: Int) -> [Int32] {
        let limit = max(2, limit)
        guard ids.count > limit, let last = ids.last else { return ids }
        return Array(ids.prefix(limit - 1)) + [last]
    }

    /// The `depth` allowed entries with the highest cosine to `q` (both unit length), best first.
    ///
    /// Two stages: an exact integer scan over the int8 codes (a quarter of the fp32 bytes; the
    /// scan is memory-bound) keeps the best `rescoreDepth(depth)` rows by approximate cosine, then
    /// those are rescored with the fp32 vectors. The approximation errs by a few thousandths in cosine,
    /// much less than the score gap between rank `depth` and rank `rescoreDepth` in practice, so the
    /// result is the exact ranking (a test compares it with a full fp32 scan).
    /// `base`: the base model id `allowed` requires, if any; only that model's rows are scanned.
    func topRows(_ q: [Float], depth: Int, allowed: (Int) -> Bool, base: Int32? = nil) -> [(Int, Float)] {
        withoutActuallyEscaping(allowed) { topRows([(q, depth, $0, base)])[0] }
    }

    /// `topRows` for several queries: each pass over the int8 codes serves up to
    /// `queriesPerScan` of them (a prompt's topics), so the codes are read from memory once per
    /// pass rather than once per query. Each result is the one `topRows` gives for its query alone.
    /// A group of queries that all require one base model scans only the rows of that model's
    /// documents (`RetrievalIndex.rows(ofBase:)`): the others could never be selected.
    func topRows(_ queries: [(vector: [Float], depth: Int, allowed: (Int) -> Bool, base: Int32?)]) -> [[(Int, Float)]] {
        let d = MiniLMEncoder.dimension
        let rows = index.vectorRows  // base rows then delta rows, those of removed documents included
        var results = [[(Int, Float)]](repeating: [], count: queries.count)
        let wanted = queries.indices.filter { queries[$0].depth > 0 }
        guard rows > 0, !wanted.isEmpty else { return results }
        let matrixEntry = UnsafeBufferPointer(start: index.matrixEntry, count: rows)
        // Equal passes: 17 queries go as 6 + 6 + 5, not 16 + 1.
        let passes = (wanted.count + Self.queriesPerScan - 1) / Self.queriesPerScan
        let perPass = (wanted.count + passes - 1) / passes
        // Every position a pass reads back is written by its scan first: no need to zero 10–40 MB.
        var approximate = [Float](unsafeUninitializedCapacity: rows * perPass) { _, count in count = rows * perPass }
        let blocks = index.codeBlocks
        for first in stride(from: 0, to: wanted.count, by: perPass) {
            let group = Array(wanted[first..<min(wanted.count, first + perPass)])
            let bases = Set(group.map { queries[$0].base })
            let listed = bases.count == 1 ? bases.first!.map(index.rows(ofBase:)) : nil
            let scanned = listed?.all.count ?? rows  // score positions per query
            // The queries' scales are common to all rows: order only.
            let q8 = group.flatMap { Kernels.int8QueryCodes(queries[$0].vector).codes }
            q8.withUnsafeBufferPointer { qp in
                approximate.withUnsafeMutableBufferPointer { out in
                    var position = 0  // of the block's first listed row among the scanned
                    for (b, block) in blocks.enumerated() where block.rows > 0 {
                        let (q, c, s) = (UncheckedSendable(qp.baseAddress!), UncheckedSendable(block.codes), UncheckedSendable(block.scales))
                        guard let listed else {
                            let o = UncheckedSendable(out.baseAddress! + block.firstRow)
                            Kernels.parallelFor(block.rows, minimumChunk: 16384) { range in
                                Kernels.scanInt8(queries: q.value, count: group.count, c.value + range.lowerBound * d,
                                                 scales: s.value + range.lowerBound, rows: range.count, dim: d,
                                                 into: o.value + range.lowerBound, stride: scanned)
                            }
                            continue
                        }
                        let o = UncheckedSendable(out.baseAddress! + position)
                        listed.perBlock[b].withUnsafeBufferPointer { list in
                            let list = UncheckedSendable(list)
                            Kernels.parallelFor(list.value.count, minimumChunk: 16384) { range in
                                Kernels.scanInt8(queries: q.value, count: group.count, c.value, scales: s.value,
                                                 listedRows: UnsafeBufferPointer(rebasing: list.value[range]), dim: d,
                                                 into: o.value + range.lowerBound, stride: scanned)
                            }
                        }
                        position += listed.perBlock[b].count
                    }
                }
            }
            let selected = approximate.withUnsafeBufferPointer { scores in
                let perQuery = group.indices.map { slot in
                    (UnsafeBufferPointer(rebasing: scores[slot * scanned..<(slot + 1) * scanned]),
                     Self.rescoreDepth(queries[group[slot]].depth), queries[group[slot]].allowed)
                }
                guard let listed else { return bestApproximateRows(perQuery, rowAt: nil, matrixEntry: matrixEntry) }
                return listed.all.withUnsafeBufferPointer { bestApproximateRows(perQuery, rowAt: $0, matrixEntry: matrixEntry) }
            }
            let exact = exactScores(group.map { queries[$0].vector }, rows: selected, matrixEntry: matrixEntry)
            for (slot, i) in group.enumerated() { results[i] = Array(exact[slot].prefix(queries[i].depth)) }
        }
        return results
    }

    /// For each query, the rows with the best approximate scores among allowed documents (a bounded
    /// min-heap per query; the queries on the worker threads). Score k is row k's, or row
    /// `rowAt[k]`'s when the scan read listed rows only.
    private func bestApproximateRows(_ queries: [(scores: UnsafeBufferPointer<Float>, keep: Int, allowed: (Int) -> Bool)],
                                     rowAt: UnsafeBufferPointer<Int32>?, matrixEntry: UnsafeBufferPointer<Int32>) -> [[Int32]] {
        var selected = [[Int32]](repeating: [], count: queries.count)
        selected.withUnsafeMutableBufferPointer { out in
            let (out, queries, rowAt) = (UncheckedSendable(out), UncheckedSendable(queries), UncheckedSendable(rowAt))
            Kernels.parallelFor(queries.value.count) { range in
                for q in range {
                    let (scores, keep, allowed) = queries.value[q]
                    var heap = BoundedMinHeap(capacity: keep)
                    var threshold = -Float.infinity  // the heap's minimum once it is full
                    for k in scores.indices where scores[k] > threshold {
                        let r = rowAt.value.map { Int($0[k]) } ?? k
                        let doc = matrixEntry[r]
                        guard doc >= 0, allowed(Int(doc)) else { continue }  // -1: a document the delta removed
                        heap.insert(scores[k], Int32(r))
                        if heap.isFull { threshold = heap.minimum }
                    }
                    out.value[q] = heap.items
                }
            }
        }
        return selected
    }

    /// Exact fp32 cosines of each query with its selected rows, best first (ties by document).
    /// A prompt's topic queries share most of their rows: each row is read (and its checksum
    /// checked) once.
    private func exactScores(_ vectors: [[Float]], rows selected: [[Int32]], matrixEntry: UnsafeBufferPointer<Int32>) -> [[(Int, Float)]] {
        let d = MiniLMEncoder.dimension
        var slotOfRow: [Int32: Int] = [:]
        var rows: [Int32] = []
        for r in selected.joined() where slotOfRow[r] == nil {
            slotOfRow[r] = rows.count
            rows.append(r)
        }
        var rowVectors = [[Float]](repeating: [], count: rows.count)
        rowVectors.withUnsafeMutableBufferPointer { out in
            let out = UncheckedSendable(out)
            Kernels.parallelFor(rows.count, minimumChunk: 64) { range in
                for slot in range { out.value[slot] = index.matrixRow(Int(rows[slot])) }
            }
        }
        return zip(vectors, selected).map { q, rowsOfQuery in
            var exact: [(Int, Float)] = []
            exact.reserveCapacity(rowsOfQuery.count)
            q.withUnsafeBufferPointer { qp in
                for r in rowsOfQuery {
                    exact.append((Int(matrixEntry[Int(r)]), Kernels.dot(qp.baseAddress!, rowVectors[slotOfRow[r]!], count: d)))
                }
            }
            exact.sort { $0.1 != $1.1 ? $0.1 > $1.1 : $0.0 < $1.0 }
            return exact
        }
    }

    /// At most this many queries per pass of the int8 scan: their approximate scores are held for
    /// every row (4 bytes each), so this bounds that buffer (32 × 300K rows: 38 MB). A prompt and
    /// its topics (up to ~20) go in one pass: the scan is bound by reading the codes from memory.
    static let queriesPerScan = 32

    /// How many rows the int8 scan keeps for fp32 rescoring when `depth` are wanted.
    static func rescoreDepth(_ depth: Int) -> Int { 2 * depth + 100 }

    /// The exact fp32 ranking by a full scan (reference for tests of `topRows`).
    package func exactTopRows(_ q: [Float], depth: Int, base: BaseModel? = nil) -> [(Int, Float)] {
        let d = MiniLMEncoder.dimension
        let wanted = base.map(index.baseID)
        var all: [(Int, Float)] = []
        q.withUnsafeBufferPointer { qp in
            for r in 0..<index.vectorRows where index.matrixEntry[r] >= 0
                && (wanted == nil || index.baseOfDoc[Int(index.matrixEntry[r])] == wanted) {
                all.append((Int(index.matrixEntry[r]), Kernels.dot(qp.baseAddress!, index.matrixRow(r), count: d)))
            }
        }
        all.sort { $0.1 != $1.1 ? $0.1 > $1.1 : $0.0 < $1.0 }
        return Array(all.prefix(depth))
    }

    /// The query's embedding as the dense search uses it, computed afresh (not from the text-vector
    /// cache; nil without the model or for a query with nothing left after cleaning).
    package func queryVector(_ text: String) -> [Float]? {
        guard let encoder, !QueryText.clean(text).isEmpty else { return nil }
        return encoder.embed(tokenIDs: [queryTokens(text, encoder)])[0]
    }

    /// Dense top rows for a query vector with the production (int8 + rescore) path.
    package func denseTopRows(_ q: [Float], depth: Int) -> [(Int, Float)] {
        topRows(q, depth: depth, allowed: { _ in true })
    }

    /// `denseTopRows` among one base model's adapters (the scan reads only their rows).
    package func denseTopRows(_ q: [Float], depth: Int, base: BaseModel) -> [(Int, Float)] {
        let wanted = index.baseID(base)
        return topRows(q, depth: depth, allowed: { [index] in index.baseOfDoc[$0] == wanted }, base: wanted)
    }
}

/// The `capacity` largest scores seen, as a binary min-heap (the smallest kept is at the root).
struct BoundedMinHeap {
    let capacity: Int
    private(set) var scores: [Float] = []
    private(set) var items: [Int32] = []
    init(capacity: Int) {
        self.capacity = capacity
        scores.reserveCapacity(capacity)
        items.reserveCapacity(capacity)
    }
    var count: Int { scores.count }
    var isFull: Bool { scores.count >= capacity }
    var minimum: Float { scores.first ?? -.infinity }

    mutating func insert(_ score: Float, _ item: Int32) {
        guard capacity > 0 else { return }
        if !isFull {
            scores.append(score)
            items.append(item)
            var i = scores.count - 1
            while i > 0 {
                let parent = (i - 1) / 2
                guard scores[parent] > scores[i] else { break }
                scores.swapAt(parent, i)
                items.swapAt(parent, i)
                i = parent
            }
            return
        }
        guard score > scores[0] else { return }
        scores[0] = score
        items[0] = item
        var i = 0
        let n = scores.count
        while true {
            let l = 2 * i + 1, r = l + 1
            var smallest = i
            if l < n && scores[l] < scores[smallest] { smallest = l }
            if r < n && scores[r] < scores[smallest] { smallest = r }
            if smallest == i { break }
            scores.swapAt(smallest, i)
            items.swapAt(smallest, i)
            i = smallest
        }
    }
}

/// Turning prompt text into retrieval queries.
package enum QueryText {
    /// At most this many characters are embedded or matched: the tokenizer keeps 256 word pieces anyway.
    static let maxCharacters = 4096

    /// The prompt without A1111 syntax noise (`<lora:…>`/`<lyco:…>` tags, `:1.2` weights, brackets)
    /// and without quality boilerplate tags (`masterpiece`, `best quality`, …).
    package static func clean(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(min(text.utf8.count, maxCharacters))
        var inTag = false
        var count = 0
        var chars = text.unicodeScalars.makeIterator()
        var pendingColon = false
        while let c = chars.next(), count < maxCharacters {
            if inTag { if c == ">" { inTag = false; out.append(" ") }; continue }
            if c == "<" { inTag = true; continue }
            if pendingColon {
                pendingColon = false
                if c == "." || ("0"..."9").contains(c) {  // drop a ":1.2" weight
                    while let n = chars.next() {
                        if !(n == "." || ("0"..."9").contains(n)) { out.unicodeScalars.append(n == ")" || n == "]" ? " " : n); break }
                    }
                    continue
                }
                out.append(" ")
            }
            switch c {
            case ":": pendingColon = true
            case "(", ")", "[", "]", "{", "}", "\\", "|": out.append(" ")
            default:
                // Control characters and replacement characters (binary input) become spaces. ASCII is
                // decided without the Unicode property look-up, which costs more than the rest of the loop.
                let isControl = c.isASCII ? c.value < 0x20 || c.value == 0x7F : c.properties.generalCategory == .control
                if isControl || c == "\u{FFFD}" { out.append(" ") } else { out.unicodeScalars.append(c) }
            }
            count += 1
        }
        return Lexicon.withoutBoilerplateTags(out.split(whereSeparator: { $0.isWhitespace }).joined(separator: " "))
    }

    static let stopWords: Set<String> = [
        "a", "an", "the", "of", "and", "or", "in", "on", "at", "with", "to", "for", "by", "from", "is", "are",
        "his", "her", "its", "their", "it", "as", "into", "up", "very",
    ]

    /// Distinct lower-case words for the FTS5 query (letters and digits only, so no FTS syntax gets
    /// through), without stop words, at most 32.
    static func words(_ text: String) -> [String] {
        var seen = Set<String>()
        var out: [String] = []
        for w in text.lowercased().split(whereSeparator: { !($0.isLetter || $0.isNumber) }) {
            let s = String(w)
            guard s.count >= 2, !stopWords.contains(s), seen.insert(s).inserted else { continue }
            out.append(s)
            if out.count == 32 { break }
        }
        return out
    }
}

extension Retriever {
    /// The summary of the adapter behind a hit's index.
    public func summary(_ doc: Int) -> AdapterSummary { index.summary(doc) }

    /// The candidate behind a hit (card and refinement as the composer reads them).
    func candidate(_ hit: Hit) -> CandidateAdapter {
        let (card, refinement) = index.summary(hit.index).candidateEntry
        return CandidateAdapter(card: card, refinement: refinement, score: hit.score)
    }

    /// The composer's lexical candidate source over the same index.
    public var lexicalCandidates: LexicalCandidates { LexicalCandidates(index: index, wordNet: wordNet) }

    /// Through the keyword index (the pipeline asks its lexical source, whose lookups are remembered).
    public func adapters(withAlias alias: String) throws -> [CandidateAdapter] { try lexicalCandidates.adapters(withAlias: alias) }
}
