/// A general lexical resource the composer consults: senses of a noun phrase, their is-a parents
/// and what kind of thing each names. StylusCatalog's `WordNet` reads Princeton WordNet 3.0;
/// tests may give a small in-memory one. Synset ids are opaque integers.
public protocol WordKnowledge: Sendable {
    /// Noun senses of a word or phrase, most frequent first (empty when unknown).
    func senses(of phrase: String) -> [Int]
    /// Direct is-a parents (hypernyms and instance hypernyms).
    func hypernyms(of synset: Int) -> [Int]
    /// WordNet's lexicographer file number (5 noun.animal, 6 noun.artifact, 18 noun.person, …), -1 unknown.
    func lexicographerFile(of synset: Int) -> Int
    /// True when the word is an ordinary noun ("fern", "power"), adjective ("arcane") or verb,
    /// false for names only ("Einstein": WordNet writes those capitalised) and for words the
    /// resource does not know.
    func isCommonWord(_ word: String) -> Bool
    /// Ancestors of the phrase's first senses with their is-a distance (0 for the senses
    /// themselves). Has a default; a resource may keep the answers (the composer asks again for
    /// the same words on every prompt).
    func ancestors(of phrase: String) -> [Int: Int]
}

/// How two noun phrases relate through the resource.
public enum WordRelation: Sendable, Equatable {
    case unrelated
    /// They share a sense ("couch" and "sofa").
    case same
    /// The first is a kind of the second, `depth` is-a steps up ("corgi" → "dog" is 2).
    case narrower(depth: Int)
    /// The second is a kind of the first.
    case broader(depth: Int)
}

extension WordKnowledge {
    /// Senses looked at per phrase: rarer senses mostly add noise ("dog" as a "frump").
    static var senseLimit: Int { 3 }
    static var maxDepth: Int { 8 }

    public func ancestors(of phrase: String) -> [Int: Int] { walkAncestors(of: phrase) }

    /// The is-a walk behind `ancestors(of:)`: breadth first from the first `senseLimit` senses, at
    /// most `maxDepth` steps.
    public func walkAncestors(of phrase: String) -> [Int: Int] {
        var depth: [Int: Int] = [:]
        var frontier = Array(senses(of: phrase).prefix(Self.senseLimit))
        for s in frontier { depth[s] = 0 }
        var d = 0
        while !frontier.isEmpty, d < Self.maxDepth {
            d += 1
            var next: [Int] = []
            for s in frontier {
                for h in hypernyms(of: s) where depth[h] == nil {
                    depth[h] = d
                    next.append(h)
                }
            }
            frontier = next
        }
        return depth
    }

    public func relation(_ a: String, _ b: String) -> WordRelation {
        var memo = WordRelationMemo()
        return memo.relation(a, b, self)
    }

    /// The lexicographer file of the phrase's most frequent sense.
    public func kind(of phrase: String) -> Int {
        senses(of: phrase).first.map { lexicographerFile(of: $0) } ?? -1
    }
}

/// WordNet lexicographer files the composer's features name.
public enum LexicographerFile {
    public static let act = 4, animal = 5, artifact = 6, attribute = 7, communication = 10, food = 13
    public static let location = 15, object = 17, person = 18, phenomenon = 19, plant = 20
}

/// Senses and ancestors of phrases already looked at, for many relations in one pass.
struct WordRelationMemo {
    private var known: [String: (senses: [Int], ancestors: [Int: Int])] = [:]

    mutating func entry(_ phrase: String, _ k: any WordKnowledge) -> (senses: [Int], ancestors: [Int: Int]) {
        if let e = known[phrase] { return e }
        let e = (Array(k.senses(of: phrase).prefix(3)), k.ancestors(of: phrase))
        known[phrase] = e
        return e
    }

    mutating func relation(_ a: String, _ b: String, _ k: any WordKnowledge) -> WordRelation {
        let ea = entry(a, k), eb = entry(b, k)
        guard !ea.senses.isEmpty, !eb.senses.isEmpty else { return .unrelated }
        if ea.senses.contains(where: eb.senses.contains) { return .same }  // at most 3 senses each
        if let d = eb.senses.compactMap({ ea.ancestors[$0] }).min() { return .narrower(depth: d) }
        if let d = ea.senses.compactMap({ eb.ancestors[$0] }).min() { return .broader(depth: d) }
        return .unrelated
    }
}
