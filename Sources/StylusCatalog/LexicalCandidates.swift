import Foundation
import StylusCore

/// BM25 over each adapter's title, alias, tags, trigger words and refined description: the
/// retrieval index's postings lists (term counts, weighted per query with the index's statistics),
/// so a query only touches the documents that share a term with it. One index type serves both the
/// composer's lexical candidates and the hybrid retriever's keyword list.
public struct BM25Index: Sendable {
    /// The postings, in the retrieval index's layout (a mapped file or memory).
    let index: RetrievalIndex
    public var documentCount: Int { index.documentCount }

    /// One document per entry, in order (document i is entries[i]), held in memory.
    public init(entries: [(AdapterCard, AdapterRefinement)]) {
        index = RetrievalIndex.inMemory(entries: entries)
    }

    /// The postings of a retrieval index.
    public init(index: RetrievalIndex) { self.index = index }

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
        scores.withUnsafeMutableBufferPointer { s in
            // In a fixed order: a Set's order changes from process to process, and float sums in
            // another order can differ in the last bit, which reorders near-equal documents.
            for term in terms.sorted() { index.addScores(term: term, to: s, touched: &touched) }
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

/// The composer's lexical retriever: BM25 (`BM25Index`) over the catalog. Over a retrieval index
/// (`RetrievalIndex`), candidates are decoded from the index as queries need them.
public final class LexicalCandidates: CandidateSource, Sendable {
    /// The candidates when built from cards (document i is adapters[i]); nil: decoded from the index.
    let adapters: [CandidateAdapter]?
    public let index: BM25Index
    /// WordNet for the composer, when installed.
    public let wordNet: WordNet?
    public var wordKnowledge: (any WordKnowledge)? { wordNet }
    /// The documents of each alias looked up (`adapters(withAlias:)`), by lower-case alias.
    let aliasDocuments = BoundedMemo<String, [Int]>(capacity: 1024)

    public convenience init(store: CatalogStore) throws {
        self.init(index: try RetrievalIndex.open(store: store), wordNet: WordNet.installed())
    }

    public convenience init(entries: [(AdapterCard, AdapterRefinement)]) {
        self.init(entries: entries, index: BM25Index(entries: entries), wordNet: WordNet.installed())
    }

    /// Over an index already built from the same entries.
    init(entries: [(AdapterCard, AdapterRefinement)], index: BM25Index, wordNet: WordNet?) {
        precondition(index.documentCount == entries.count)
        self.index = index
        self.wordNet = wordNet
        adapters = entries.map { CandidateAdapter(card: $0.0, refinement: $0.1, score: 0) }
    }

    /// Over a retrieval index (the catalog's, as `CatalogIndex` opens it).
    public init(index: RetrievalIndex, wordNet: WordNet?) {
        self.index = BM25Index(index: index)
        self.wordNet = wordNet
        adapters = nil
    }

    static func tokens(_ text: String) -> [String] { BM25Index.tokens(text) }

    /// The candidate of document `doc` (score 0).
    func adapter(_ doc: Int) -> CandidateAdapter {
        if let adapters { return adapters[doc] }
        let (card, refinement) = index.index.summary(doc).candidateEntry
        return CandidateAdapter(card: card, refinement: refinement, score: 0)
    }

    /// The documents whose alias is `alias`, found through the postings: an alias's words are among
    /// its document's terms, so only the documents holding its rarest word are read. Kept per alias
    /// (a prompt's `<lora:…>` tags are looked up again on every keystroke).
    public func adapters(withAlias alias: String) throws -> [CandidateAdapter] {
        let docs = aliasDocuments.value(alias.lowercased()) { key in
            let index = self.index.index
            guard let rarest = Set(BM25Index.tokens(key)).min(by: { a, b in
                let (fa, fb) = (index.documentsHoldingAtMost(term: a), index.documentsHoldingAtMost(term: b))
                return fa != fb ? fa < fb : a < b
            }) else { return [] }
            var scores = [Float](repeating: 0, count: index.documentCount)
            var touched: [Int32] = []
            scores.withUnsafeMutableBufferPointer { index.addScores(term: rarest, to: $0, touched: &touched) }
            return touched.map(Int.init).sorted().filter { adapter($0).card.alias.lowercased() == key }
        }
        return docs.map(adapter)
    }

    public func candidates(for query: CandidateQuery) throws -> [CandidateAdapter] {
        let index = self.index.index
        let wanted = query.baseModel.map(index.baseID)
        let only = index.documents(adapterIDs: query.onlyAdapterIDs)
        let hits = self.index.search(terms: Set(BM25Index.tokens(query.text)), limit: query.limit, allowed: { d in
            if let only, !only.contains(d) { return false }
            if let wanted, index.baseOfDoc[d] != wanted { return false }
            return query.includeNSFW || index.nsfwOfDoc[d] == 0
        }, tieBreak: { a, b in index.adapterID(a) < index.adapterID(b) })
        return hits.map { d, s in
            var c = adapter(d)
            c.score = Double(s)
            return c
        }
    }
}
