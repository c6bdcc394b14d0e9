import Foundation
import StylusCore

/// A small lexical retriever: BM25 over each adapter's title, alias, tags, trigger words and refined
/// description, held in memory (catalog loaded once). It stands in until the hybrid retriever
/// (dense + FTS5) lands, and can be fused with it later.
public final class LexicalCandidates: CandidateSource, @unchecked Sendable {
    struct Doc {
        var adapter: CandidateAdapter
        var terms: [String: Int]
        var length: Int
    }

    let docs: [Doc]
    let postings: [String: [Int]]
    let idf: [String: Double]
    let averageLength: Double

    public convenience init(store: CatalogStore) throws {
        self.init(entries: try store.allEntries().map { ($0.card, $0.refinement) })
    }

    public init(entries: [(AdapterCard, AdapterRefinement)]) {
        var docs: [Doc] = []
        var postings: [String: [Int]] = [:]
        for (i, (card, refinement)) in entries.enumerated() {
            var terms: [String: Int] = [:]
            // Names count more than the description.
            let named = [card.title, card.alias.replacingOccurrences(of: "_", with: " ")] + card.tags + card.triggerWords
            for w in named.flatMap({ LexicalCandidates.tokens($0) }) { terms[w, default: 0] += 3 }
            for w in LexicalCandidates.tokens(refinement.refinedDescription) { terms[w, default: 0] += 1 }
            for t in terms.keys { postings[t, default: []].append(i) }
            docs.append(Doc(adapter: CandidateAdapter(card: card, refinement: refinement, score: 0),
                            terms: terms, length: terms.values.reduce(0, +)))
        }
        let n = Double(max(1, docs.count))
        self.idf = postings.mapValues { log(1 + (n - Double($0.count) + 0.5) / (Double($0.count) + 0.5)) }
        self.docs = docs
        self.postings = postings
        self.averageLength = docs.isEmpty ? 1 : Double(docs.map(\.length).reduce(0, +)) / n
    }

    static func tokens(_ text: String) -> [String] {
        text.lowercased().split(whereSeparator: { !($0.isLetter || $0.isNumber) }).map { ComposerWords.singular(String($0)) }
    }

    public func candidates(for query: CandidateQuery) throws -> [CandidateAdapter] {
        var scores: [Int: Double] = [:]
        let k1 = 1.2, b = 0.75
        for term in Set(LexicalCandidates.tokens(query.text)) {
            guard let list = postings[term], let w = idf[term] else { continue }
            for i in list {
                let d = docs[i]
                let tf = Double(d.terms[term] ?? 0)
                scores[i, default: 0] += w * tf * (k1 + 1) / (tf + k1 * (1 - b + b * Double(d.length) / averageLength))
            }
        }
        var out: [CandidateAdapter] = []
        for (i, s) in scores {
            let a = docs[i].adapter
            if let base = query.baseModel, a.card.baseModel != base { continue }
            if !query.includeNSFW, a.card.nsfw { continue }
            var c = a
            c.score = s
            out.append(c)
        }
        out.sort { $0.score != $1.score ? $0.score > $1.score : $0.card.adapterId < $1.card.adapterId }
        return Array(out.prefix(query.limit))
    }
}
