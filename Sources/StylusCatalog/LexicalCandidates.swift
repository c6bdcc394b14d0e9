import Foundation
import StylusCore

/// BM25 over each adapter's title, alias, tags, trigger words and refined description, held in
/// memory: postings lists with precomputed weights, so a query only touches the documents that
/// share a term with it. One index type serves both the composer's lexical candidates and the
/// hybrid retriever's keyword list.
public struct BM25Index: Sendable {
    struct Posting {
        var doc: Int32
        /// The term's BM25 weight in this document (idf × saturated tf), precomputed.
        var weight: Float
    }

    let postings: [String: [Posting]]
    public let documentCount: Int

    /// One document per entry, in order (document i is entries[i]).
    public init(entries: [(AdapterCard, AdapterRefinement)]) {
        var termCounts: [[String: Int]] = []
        termCounts.reserveCapacity(entries.count)
        var documentFrequency: [String: Int] = [:]
        for (card, refinement) in entries {
            var terms: [String: Int] = [:]
            // Names count more than the description.
            let named = [card.title, card.alias.replacingOccurrences(of: "_", with: " ")] + card.tags + card.triggerWords
            for w in named.flatMap({ BM25Index.tokens($0) }) { terms[w, default: 0] += 3 }
            for w in BM25Index.tokens(refinement.refinedDescription) { terms[w, default: 0] += 1 }
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
        documentCount = entries.count
    }

    /// Lower-case letter/digit words, singular and stemmed (`stem`): the index's terms.
    public static func tokens(_ text: String) -> [String] {
        text.lowercased().split(whereSeparator: { !($0.isLetter || $0.isNumber) }).map { stem(String($0)) }
    }

    /// Light English suffix folding so inflections meet: the singular (`ComposerWords.singular`), then
    /// "-ness", "-ing" or "-ed" off when a stem with a vowel and at least three letters remains
    /// ("darkness"/"dark", "detailed"/"detail", "glowing"/"glow"), a doubled final consonant undone
    /// ("running"/"run"), and a final "e" off words of five letters or more ("carved"/"carve" both
    /// give "carv"). Documents and queries go through the same rules, so an imperfect stem only
    /// matters when two different words collide.
    public static func stem(_ word: String) -> String {
        var w = Array(ComposerWords.singular(word).unicodeScalars)
        func isVowel(_ c: Unicode.Scalar) -> Bool { "aeiouy".unicodeScalars.contains(c) }
        for suffix in ["ness", "ing", "ed"] {
            let s = Array(suffix.unicodeScalars)
            guard w.count > s.count, Array(w.suffix(s.count)) == s else { continue }
            var base = Array(w.dropLast(s.count))
            // "-eed" is a root ("steed", "tweed"), not a past tense.
            guard base.count >= 3, base.contains(where: isVowel), !(suffix == "ed" && base.last == "e") else { break }
            if suffix != "ness", let last = base.last, base.count >= 4, base[base.count - 2] == last,
               !isVowel(last), !"lsz".unicodeScalars.contains(last) {
                base.removeLast()
            }
            w = base
            break
        }
        if w.count >= 5, w.last == "e" { w.removeLast() }
        var out = ""
        out.unicodeScalars.append(contentsOf: w)
        return out
    }

    /// The `limit` best documents for the distinct `terms` among those `allowed`, best first, as
    /// (document, score); equal scores keep `tieBreak` order (true: a before b).
    public func search(terms: Set<String>, limit: Int, allowed: (Int) -> Bool,
                       tieBreak: (Int, Int) -> Bool = { $0 < $1 }) -> [(doc: Int, score: Float)] {
        guard limit > 0, documentCount > 0 else { return [] }
        var scores = [Float](repeating: 0, count: documentCount)
        var touched: [Int32] = []
        for term in terms {
            guard let list = postings[term] else { continue }
            scores.withUnsafeMutableBufferPointer { s in
                for p in list {
                    let d = Int(p.doc)
                    if s[d] == 0 { touched.append(p.doc) }
                    s[d] += p.weight
                }
            }
        }
        // A bounded sorted list of the best `limit` (limit ≪ touched): no full sort.
        var best: [(doc: Int, score: Float)] = []
        best.reserveCapacity(limit + 1)
        for d32 in touched {
            let d = Int(d32)
            let s = scores[d]
            if best.count == limit, let last = best.last, s < last.score || (s == last.score && !tieBreak(d, last.doc)) { continue }
            guard allowed(d) else { continue }
            var lo = 0, hi = best.count
            while lo < hi {
                let mid = (lo + hi) / 2
                let m = best[mid]
                if m.score > s || (m.score == s && tieBreak(m.doc, d)) { lo = mid + 1 } else { hi = mid }
            }
            best.insert((d, s), at: lo)
            if best.count > limit { best.removeLast() }
        }
        return best
    }
}

/// The composer's lexical retriever: BM25 (`BM25Index`) over the catalog, loaded once.
public final class LexicalCandidates: CandidateSource, Sendable {
    let adapters: [CandidateAdapter]
    public let index: BM25Index
    /// WordNet for the composer, when installed.
    public let wordNet: WordNet?
    public var wordKnowledge: (any WordKnowledge)? { wordNet }

    public convenience init(store: CatalogStore) throws {
        self.init(entries: try store.allEntries().map { ($0.card, $0.refinement) })
    }

    public convenience init(entries: [(AdapterCard, AdapterRefinement)]) {
        self.init(entries: entries, index: BM25Index(entries: entries), wordNet: WordNet.installed())
    }

    /// Over an index already built from the same entries (the hybrid retriever shares its own).
    init(entries: [(AdapterCard, AdapterRefinement)], index: BM25Index, wordNet: WordNet?) {
        precondition(index.documentCount == entries.count)
        self.index = index
        self.wordNet = wordNet
        adapters = entries.map { CandidateAdapter(card: $0.0, refinement: $0.1, score: 0) }
    }

    static func tokens(_ text: String) -> [String] { BM25Index.tokens(text) }

    public func candidates(for query: CandidateQuery) throws -> [CandidateAdapter] {
        let hits = index.search(terms: Set(BM25Index.tokens(query.text)), limit: query.limit, allowed: { [adapters] d in
            let a = adapters[d]
            if let base = query.baseModel, a.card.baseModel != base { return false }
            return query.includeNSFW || !a.card.nsfw
        }, tieBreak: { [adapters] a, b in adapters[a].card.adapterId < adapters[b].card.adapterId })
        return hits.map { d, s in
            var c = adapters[d]
            c.score = Double(s)
            return c
        }
    }
}
