import Foundation
import GRDB
import StylusCore
import StylusML

/// Hybrid retrieval over the catalog (DESIGN §2, issue 4): dense cosine between the query's
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
        public init() {}
    }
    let options: Options

    let entries: [CatalogEntry]
    let indexOfRow: [Int64: Int]
    /// BM25 over the snapshot; document i is entries[i].
    let lexical: BM25Index
    /// Row-major [count × 384] unit vectors; `matrixEntry[r]` is the entry of row r.
    let matrix: [Float]
    let matrixEntry: [Int32]
    let baseModels: [String?]
    let nsfw: [Bool]

    /// Opens the encoder from `modelDirectory` (nil: BM25 only) and snapshots the catalog.
    /// Adapters still without a vector get one now (and it is stored when the catalog is writable).
    public convenience init(store: CatalogStore, modelDirectory: String?, options: Options = Options()) throws {
        var encoder: MiniLMEncoder?
        var warning: String?
        if let modelDirectory {
            do { encoder = try MiniLMEncoder(directory: modelDirectory) } catch {
                warning = "sentence embeddings unavailable (\(error)); ranking by keywords (BM25) only"
            }
        } else {
            warning = "no sentence-embedding model configured; ranking by keywords (BM25) only"
        }
        try self.init(store: store, encoder: encoder, warning: warning, options: options)
    }

    public init(store: CatalogStore, encoder: MiniLMEncoder?, warning: String? = nil, options: Options = Options()) throws {
        self.store = store
        self.encoder = encoder
        self.warning = encoder == nil ? (warning ?? "no sentence-embedding model; ranking by keywords (BM25) only") : nil
        self.options = options
        if let encoder {
            // Best effort: a read-only catalog still gets vectors, in memory below.
            _ = try? CatalogEmbedder(store: store, encoder: encoder).embedMissing()
        }
        let entries = try store.allEntries()
        self.entries = entries
        var indexOfRow: [Int64: Int] = [:]
        var indexOfID: [String: Int] = [:]
        for (i, e) in entries.enumerated() {
            indexOfRow[e.rowID] = i
            indexOfID[e.card.adapterId] = i
        }
        self.indexOfRow = indexOfRow
        lexical = BM25Index(entries: entries.map { ($0.card, $0.refinement) })
        baseModels = entries.map { $0.card.baseModel?.name }
        nsfw = entries.map(\.card.nsfw)

        var matrix: [Float] = []
        var matrixEntry: [Int32] = []
        if let encoder {
            let d = MiniLMEncoder.dimension
            var stored = try store.embeddings(model: MiniLMEncoder.modelID)
            var have = Set(stored.map(\.adapterID))
            // Vectors the catalog could not store (read-only file): compute them for this session.
            let missing = entries.filter { !have.contains($0.card.adapterId) }
            if !missing.isEmpty {
                let vectors = encoder.embed(missing.map { CatalogEmbedder.embeddedText($0.refinement.refinedDescription) })
                for (e, v) in zip(missing, vectors) { stored.append((e.card.adapterId, v)); have.insert(e.card.adapterId) }
            }
            matrix.reserveCapacity(stored.count * d)
            for (id, v) in stored where v.count == d {
                guard let i = indexOfID[id] else { continue }
                matrix += v
                matrixEntry.append(Int32(i))
            }
        }
        self.matrix = matrix
        self.matrixEntry = matrixEntry
    }

    public var adapterCount: Int { entries.count }
    public var vectorCount: Int { matrixEntry.count }

    // MARK: - Querying

    /// Ranks adapters for `query`, best first, at most `query.limit`.
    public func candidates(for query: CandidateQuery) throws -> [CandidateAdapter] {
        try search(query).map { CandidateAdapter(card: entries[$0.index].card, refinement: entries[$0.index].refinement, score: $0.score) }
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
        func ms(since start: UInt64) -> Double { Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6 }
        let k = max(0, query.limit)
        guard k > 0 else { return [] }
        let cleaned = QueryText.clean(query.text)
        let topic = query.topic.map(QueryText.clean)
        let depth = max(options.depth, k)
        let allowed: (Int) -> Bool = { [baseModels, nsfw] i in
            (query.baseModel == nil || baseModels[i] == query.baseModel?.name) && (query.includeNSFW || !nsfw[i])
        }

        var dense: [(Int, Float)] = []
        if let encoder, !matrixEntry.isEmpty, !cleaned.isEmpty {
            var start = DispatchTime.now().uptimeNanoseconds
            var q = encoder.embed(cleaned)
            if let topic, !topic.isEmpty {
                // The topic itself weighs more than the prompt around it.
                let t = encoder.embed(topic)
                for j in q.indices { q[j] = 2 * t[j] + q[j] }
                let n = (q.reduce(0) { $0 + $1 * $1 }).squareRoot()
                if n > 0 { for j in q.indices { q[j] /= n } }
            }
            timings.embed += ms(since: start)
            start = DispatchTime.now().uptimeNanoseconds
            dense = topRows(q, depth: depth, allowed: allowed)
            timings.dense += ms(since: start)
        }
        let start = DispatchTime.now().uptimeNanoseconds
        let terms = Set(QueryText.words(topic ?? cleaned).flatMap(BM25Index.tokens))
        let lexical = self.lexical.search(terms: terms, limit: depth, allowed: allowed).map { ($0.doc, $0.score) }
        timings.bm25 += ms(since: start)

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
            .prefix(k).map { Hit(index: $0.key, score: $0.value, adapterID: entries[$0.key].card.adapterId) }
    }

    /// The `depth` allowed entries with the highest cosine to `q` (both unit length), best first.
    func topRows(_ q: [Float], depth: Int, allowed: (Int) -> Bool) -> [(Int, Float)] {
        let d = MiniLMEncoder.dimension
        let rows = matrixEntry.count
        var scores = [Float](repeating: 0, count: rows)
        q.withUnsafeBufferPointer { qp in
            matrix.withUnsafeBufferPointer { mp in
                scores.withUnsafeMutableBufferPointer { sp in
                    // Memory-bound: at 75K rows (115 MB) two cores read it about twice as fast as one.
                    let (q, m, out) = (UncheckedPointers(qp.baseAddress!), UncheckedPointers(mp.baseAddress!), UncheckedPointers(sp.baseAddress!))
                    Kernels.parallelFor(rows, minimumChunk: 8192) { range in
                        Self.dotRows(q.p, m.p + range.lowerBound * d, rows: range.count, dim: d, into: out.mutable + range.lowerBound)
                    }
                }
            }
        }
        // Keep the best `depth` with a small sorted buffer (depth ≪ rows).
        var best: [(Int, Float)] = []
        best.reserveCapacity(depth + 1)
        var floor = -Float.infinity
        for r in 0..<rows {
            let s = scores[r]
            if best.count == depth && s <= floor { continue }
            let i = Int(matrixEntry[r])
            guard allowed(i) else { continue }
            var pos = best.count
            while pos > 0 && best[pos - 1].1 < s { pos -= 1 }
            best.insert((i, s), at: pos)
            if best.count > depth { best.removeLast() }
            if best.count == depth { floor = best[depth - 1].1 }
        }
        return best
    }

    /// scores[r] = Σ_j q[j] · m[r·dim + j], 16 lanes at a time (dim is a multiple of 16).
    static func dotRows(_ q: UnsafePointer<Float>, _ m: UnsafePointer<Float>, rows: Int, dim: Int, into out: UnsafeMutablePointer<Float>) {
        let chunks = dim / 16
        var qv = [SIMD16<Float>]()
        qv.reserveCapacity(chunks)
        for c in 0..<chunks { qv.append(UnsafeRawPointer(q + c * 16).loadUnaligned(as: SIMD16<Float>.self)) }
        qv.withUnsafeBufferPointer { qvp in
            for r in 0..<rows {
                let row = UnsafeRawPointer(m + r * dim)
                var acc0 = SIMD16<Float>(), acc1 = SIMD16<Float>()
                var c = 0
                while c + 1 < chunks {
                    acc0 += qvp[c] * row.loadUnaligned(fromByteOffset: c * 64, as: SIMD16<Float>.self)
                    acc1 += qvp[c + 1] * row.loadUnaligned(fromByteOffset: (c + 1) * 64, as: SIMD16<Float>.self)
                    c += 2
                }
                if c < chunks { acc0 += qvp[c] * row.loadUnaligned(fromByteOffset: c * 64, as: SIMD16<Float>.self) }
                var tail: Float = 0
                for j in (chunks * 16)..<dim { tail += q[j] * m[r * dim + j] }
                out[r] = (acc0 + acc1).sum() + tail
            }
        }
    }
}

/// Pointers handed to the parallel dense scan (disjoint output ranges, read-only inputs).
struct UncheckedPointers<T>: @unchecked Sendable {
    let raw: UnsafeMutablePointer<T>
    init(_ p: UnsafePointer<T>) { raw = UnsafeMutablePointer(mutating: p) }
    init(_ p: UnsafeMutablePointer<T>) { raw = p }
    var p: UnsafePointer<T> { UnsafePointer(raw) }
    var mutable: UnsafeMutablePointer<T> { raw }
}

/// Turning prompt text into retrieval queries.
enum QueryText {
    /// At most this many characters are embedded or matched: the tokenizer keeps 256 word pieces anyway.
    static let maxCharacters = 4096

    /// The prompt without A1111 syntax noise: `<lora:…>`/`<lyco:…>` tags, `:1.2` weights and brackets.
    static func clean(_ text: String) -> String {
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
                // Control characters and replacement characters (binary input) become spaces.
                if c.properties.generalCategory == .control || c == "\u{FFFD}" { out.append(" ") } else { out.unicodeScalars.append(c) }
            }
            count += 1
        }
        return out.split(whereSeparator: { $0.isWhitespace }).joined(separator: " ")
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
    /// The catalog entry behind a hit's index.
    public func entry(_ index: Int) -> CatalogEntry { entries[index] }
}
