import Foundation
import StylusCore

/// A small lexical retriever: BM25 over each adapter's title, alias, tags, trigger words and refined
/// description, held in memory (catalog loaded once). It stands in until the hybrid retriever
/// (dense + FTS5) lands, and can be fused with it later.
public final class LexicalCandidates: CandidateSource, Sendable {
    struct Posting {
        var doc: Int32
        /// The term's BM25 weight in this document (idf × saturated tf), precomputed.
        var weight: Float
    }

    let adapters: [CandidateAdapter]
    let postings: [String: [Posting]]

    public convenience init(store: CatalogStore) throws {
        self.init(entries: try store.allEntries().map { ($0.card, $0.refinement) })
    }

    public init(entries: [(AdapterCard, AdapterRefinement)]) {
        var termCounts: [[String: Int]] = []
        var documentFrequency: [String: Int] = [:]
        for (card, refinement) in entries {
            var terms: [String: Int] = [:]
            // Names count more than the description.
            let named = [card.title, card.alias.replacingOccurrences(of: "_", with: " ")] + card.tags + card.triggerWords
            for w in named.flatMap({ LexicalCandidates.tokens($0) }) { terms[w, default: 0] += 3 }
            for w in LexicalCandidates.tokens(refinement.refinedDescription) { terms[w, default: 0] += 1 }
            for t in terms.keys { documentFrequency[t, default: 0] += 1 }
            termCounts.append(terms)
        }
        let n = Double(max(1, entries.count))
        let lengths = termCounts.map { Double($0.values.reduce(0, +)) }
        let averageLength = max(1, lengths.reduce(0, +) / n)
        let k1 = 1.2, b = 0.75
        var postings: [String: [Posting]] = [:]
        for (i, terms) in termCounts.enumerated() {
            for (t, count) in terms {
                let df = Double(documentFrequency[t] ?? 1)
                let idf = log(1 + (n - df + 0.5) / (df + 0.5))
                let tf = Double(count)
                let w = idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * lengths[i] / averageLength))
                postings[t, default: []].append(Posting(doc: Int32(i), weight: Float(w)))
            }
        }
        self.postings = postings
        self.adapters = entries.map { CandidateAdapter(card: $0.0, refinement: $0.1, score: 0) }
    }

    static func tokens(_ text: String) -> [String] {
        text.lowercased().split(whereSeparator: { !($0.isLetter || $0.isNumber) }).map { ComposerWords.singular(String($0)) }
    }

    public func candidates(for query: CandidateQuery) throws -> [CandidateAdapter] {
        guard query.limit > 0 else { return [] }
        var scores = [Float](repeating: 0, count: adapters.count)
        var touched: [Int32] = []
        for term in Set(LexicalCandidates.tokens(query.text)) {
            guard let list = postings[term] else { continue }
            for p in list {
                if scores[Int(p.doc)] == 0 { touched.append(p.doc) }
                scores[Int(p.doc)] += p.weight
            }
        }
        // Keep the best `limit` of the admissible documents (a bounded insertion list, no full sort).
        var best: [(Float, Int32)] = []
        best.reserveCapacity(query.limit + 1)
        for d in touched {
            let s = scores[Int(d)]
            if best.count == query.limit, let last = best.last, s <= last.0 { continue }
            let a = adapters[Int(d)]
            if let base = query.baseModel, a.card.baseModel != base { continue }
            if !query.includeNSFW, a.card.nsfw { continue }
            var lo = 0, hi = best.count
            while lo < hi {
                let mid = (lo + hi) / 2
                let m = best[mid]
                if m.0 > s || (m.0 == s && adapters[Int(m.1)].card.adapterId < a.card.adapterId) { lo = mid + 1 } else { hi = mid }
            }
            best.insert((s, d), at: lo)
            if best.count > query.limit { best.removeLast() }
        }
        return best.map { s, d in
            var c = adapters[Int(d)]
            c.score = Double(s)
            return c
        }
    }
}
