import Foundation
import StylusCore

/// Princeton WordNet 3.0's noun database (Debian's `wordnet-base`), read in place, and its
/// adjective, verb and adverb indexes for telling common words from names.
///
/// WordNet's files are built for lookups without loading: `index.noun` is sorted by lemma (binary
/// search), and a synset's id is the byte offset of its line in `data.noun`. Both files are mapped,
/// so opening costs nothing and a lookup touches a few pages. Used by the composer as general
/// knowledge: synonyms ("couch"/"sofa"), is-a chains ("harpy eagle" → … → "bird of prey") and the
/// lexicographer file that says what kind of thing a noun names (animal, artifact, person, act, …).
public final class WordNet: WordKnowledge, @unchecked Sendable {  // immutable after init
    public static let defaultDirectory = "/usr/share/wordnet"

    /// The installed WordNet (`$STYLUS_WORDNET`, else Debian's folder), or nil when it is not there.
    public static func installed(environment: [String: String] = ProcessInfo.processInfo.environment) -> WordNet? {
        try? WordNet(directory: environment["STYLUS_WORDNET"] ?? defaultDirectory)
    }

    let index: Data
    let data: Data
    /// Irregular plurals (`noun.exc`: "mice" → "mouse").
    let exceptions: [String: String]
    /// Index lines start after the licence header (lines that begin with two spaces).
    let firstEntry: Int
    /// The adjective, verb and adverb indexes, with their first entries.
    let otherIndexes: [(Data, Int)]
    /// Lookups already made: the composer asks about the same few words for many candidates.
    private let lock = NSLock()
    private var sensesCache: [String: [Int]] = [:]
    private var ancestorsCache: [String: [Int: Int]] = [:]
    private var lineCache: [Int: DataLine?] = [:]

    public init(directory: String = WordNet.defaultDirectory) throws {
        func open(_ name: String) throws -> Data {
            let path = directory + "/" + name
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue else {
                throw WordNetError.missing(path)
            }
            return try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped)
        }
        index = try open("index.noun")
        data = try open("data.noun")
        var exceptions: [String: String] = [:]
        if let exc = try? open("noun.exc") {
            for line in String(decoding: exc, as: UTF8.self).split(separator: "\n") {
                let parts = line.split(separator: " ")
                if parts.count >= 2 { exceptions[String(parts[0])] = String(parts[1]) }
            }
        }
        self.exceptions = exceptions
        firstEntry = Self.firstEntry(of: index)
        // Adjectives, verbs and adverbs only answer "is this a common word" (optional files).
        otherIndexes = ["index.adj", "index.verb", "index.adv"].compactMap { name in
            (try? open(name)).map { ($0, Self.firstEntry(of: $0)) }
        }
        guard index.count > firstEntry + 10, data.count > 1000 else { throw WordNetError.damaged(directory) }
    }

    // MARK: - WordKnowledge

    public func senses(of phrase: String) -> [Int] {
        remembered(phrase, in: \.sensesCache) { lookUpSenses(phrase) }
    }

    /// The answer for `key` kept in `cache` (bounded: cleared when full), computed outside the lock.
    private func remembered<Key: Hashable, Value>(_ key: Key, in cache: ReferenceWritableKeyPath<WordNet, [Key: Value]>,
                                                  _ compute: () -> Value) -> Value {
        lock.lock()
        if let known = self[keyPath: cache][key] { lock.unlock(); return known }
        lock.unlock()
        let found = compute()
        lock.lock()
        if self[keyPath: cache].count > 100_000 { self[keyPath: cache].removeAll() }
        self[keyPath: cache][key] = found
        lock.unlock()
        return found
    }

    public func ancestors(of phrase: String) -> [Int: Int] {
        remembered(phrase, in: \.ancestorsCache) { walkAncestors(of: phrase) }
    }

    func lookUpSenses(_ phrase: String) -> [Int] {
        let key = phrase.lowercased().split(whereSeparator: { $0 == " " || $0 == "-" || $0 == "_" }).joined(separator: "_")
        guard !key.isEmpty, key.utf8.count < 80 else { return [] }
        for form in Self.baseForms(key, exceptions: exceptions) {
            let found = offsets(ofLemma: form)
            if !found.isEmpty { return found }
        }
        return []
    }

    public func hypernyms(of synset: Int) -> [Int] {
        guard let line = cachedLine(synset) else { return [] }
        return line.pointers.filter { $0.symbol == "@" || $0.symbol == "@i" }.map(\.offset)
    }

    public func lexicographerFile(of synset: Int) -> Int {
        cachedLine(synset)?.lexFile ?? -1
    }

    public func isCommonWord(_ word: String) -> Bool {
        let key = word.lowercased().split(whereSeparator: { $0 == " " || $0 == "-" || $0 == "_" }).joined(separator: " ")
        let forms = Set(Self.baseForms(key.replacingOccurrences(of: " ", with: "_"), exceptions: exceptions)
            .map { $0.replacingOccurrences(of: "_", with: " ") })
        // data.noun keeps each lemma's case: proper names are written capitalised ("Einstein"). Only
        // a person's name is uncommon; capitalised days, places and events ("Wednesday", "Tokyo")
        // are words prompts use for what they mean.
        if senses(of: key).contains(where: { s in
            guard let line = cachedLine(s) else { return false }
            return line.words.contains(where: { forms.contains($0) }) || line.lexFile != LexicographerFile.person
        }) {
            return true
        }
        // An adjective, verb or adverb ("arcane", "swirling" as "swirl") is a common word too.
        let lemma = key.replacingOccurrences(of: " ", with: "_")
        let verbForms = [lemma] + [("ing", ""), ("ing", "e"), ("ed", ""), ("ed", "e"), ("s", "")].compactMap { suffix, add in
            lemma.hasSuffix(suffix) && lemma.count > suffix.count + 2 ? String(lemma.dropLast(suffix.count)) + add : nil
        }
        return otherIndexes.contains { index, first in
            verbForms.contains { Self.indexLine(of: $0, in: index, firstEntry: first) { _, _ in true } ?? false }
        }
    }

    // MARK: - Files

    /// Candidate dictionary forms of a noun: itself, its irregular base form, then regular plural rules.
    static func baseForms(_ word: String, exceptions: [String: String]) -> [String] {
        var out = [word]
        if let base = exceptions[word] { out.append(base) }
        for (suffix, replacement) in [("ies", "y"), ("ses", "s"), ("xes", "x"), ("zes", "z"), ("ches", "ch"),
                                      ("shes", "sh"), ("men", "man"), ("s", "")] where word.hasSuffix(suffix) && word.count > suffix.count + 1 {
            out.append(String(word.dropLast(suffix.count)) + replacement)
        }
        return out
    }

    /// The synset offsets listed for `lemma` in index.noun.
    func offsets(ofLemma lemma: String) -> [Int] {
        Self.indexLine(of: lemma, in: index, firstEntry: firstEntry) { b, start in Self.offsets(inIndexLine: b, from: start) } ?? []
    }

    /// Binary search over the sorted lines of a WordNet index file; `read` gets the matching line.
    static func indexLine<T>(of lemma: String, in index: Data, firstEntry: Int,
                             _ read: (UnsafeBufferPointer<UInt8>, Int) -> T) -> T? {
        let target = Array(lemma.utf8)
        return index.withUnsafeBytes { raw -> T? in
            let b = raw.bindMemory(to: UInt8.self)
            var lo = firstEntry, hi = b.count
            while lo < hi {
                let mid = (lo + hi) / 2
                var start = mid
                while start > firstEntry, b[start - 1] != 0x0A { start -= 1 }
                // Compare the lemma field of the line starting at `start`.
                var i = start, j = 0
                var order = 0
                while true {
                    let c: UInt8 = i < b.count && b[i] != 0x20 ? b[i] : 0
                    let t: UInt8 = j < target.count ? target[j] : 0
                    if c != t { order = c < t ? -1 : 1; break }
                    if c == 0 { break }
                    i += 1; j += 1
                }
                if order == 0 { return read(b, start) }
                var end = start
                while end < b.count, b[end] != 0x0A { end += 1 }
                if order < 0 { lo = end + 1 } else { hi = start }
            }
            return nil
        }
    }

    /// Index lines start after the licence header (lines that begin with two spaces).
    static func firstEntry(of index: Data) -> Int {
        var p = 0
        index.withUnsafeBytes { raw in
            let b = raw.bindMemory(to: UInt8.self)
            while p + 1 < b.count, b[p] == 0x20, b[p + 1] == 0x20 {
                while p < b.count, b[p] != 0x0A { p += 1 }
                p += 1
            }
        }
        return p
    }

    /// index.noun line: lemma pos synset_cnt p_cnt [ptr_symbol]{p_cnt} sense_cnt tagsense_cnt offset{synset_cnt}.
    static func offsets(inIndexLine b: UnsafeBufferPointer<UInt8>, from start: Int) -> [Int] {
        var end = start
        while end < b.count, b[end] != 0x0A { end += 1 }
        let fields = String(decoding: UnsafeBufferPointer(rebasing: b[start..<end]), as: UTF8.self).split(separator: " ")
        guard fields.count >= 4, let synsetCount = Int(fields[2]), let pointerCount = Int(fields[3]) else { return [] }
        let first = 4 + pointerCount + 2
        guard synsetCount > 0, fields.count >= first + synsetCount else { return [] }
        return fields[first..<(first + synsetCount)].compactMap { Int($0) }
    }

    func cachedLine(_ offset: Int) -> DataLine? {
        remembered(offset, in: \.lineCache) { dataLine(offset) }
    }

    struct DataLine {
        var lexFile: Int
        var words: [String]
        var pointers: [(symbol: String, offset: Int)]
    }

    /// data.noun line: offset lex_filenum ss_type w_cnt(hex) [word lex_id]{w_cnt} p_cnt [symbol offset pos st]{p_cnt} | gloss.
    func dataLine(_ offset: Int) -> DataLine? {
        guard offset >= 0, offset < data.count else { return nil }
        return data.withUnsafeBytes { raw -> DataLine? in
            let b = raw.bindMemory(to: UInt8.self)
            var end = offset
            while end < b.count, b[end] != 0x0A, b[end] != 0x7C { end += 1 }  // stop at the gloss
            let fields = String(decoding: UnsafeBufferPointer(rebasing: b[offset..<end]), as: UTF8.self).split(separator: " ")
            guard fields.count >= 4, Int(fields[0]) == offset, let lexFile = Int(fields[1]),
                  let wordCount = Int(fields[3], radix: 16) else { return nil }
            var i = 4
            var words: [String] = []
            for _ in 0..<wordCount where i + 1 < fields.count {
                // Adjective markers like "(a)" only occur in data.adj; strip any to be safe.
                let w = fields[i].split(separator: "(").first.map(String.init) ?? String(fields[i])
                words.append(w.replacingOccurrences(of: "_", with: " "))
                i += 2
            }
            guard i < fields.count, let pointerCount = Int(fields[i]) else { return DataLine(lexFile: lexFile, words: words, pointers: []) }
            i += 1
            var pointers: [(String, Int)] = []
            for _ in 0..<pointerCount where i + 3 < fields.count {
                if fields[i + 2] == "n", let target = Int(fields[i + 1]) { pointers.append((String(fields[i]), target)) }
                i += 4
            }
            return DataLine(lexFile: lexFile, words: words, pointers: pointers)
        }
    }
}

public enum WordNetError: Error, CustomStringConvertible {
    case missing(String)
    case damaged(String)

    public var description: String {
        switch self {
        case .missing(let path): return "WordNet file missing: \(path) (install Debian's wordnet-base: scripts/setup does)"
        case .damaged(let dir): return "WordNet files in \(dir) are not WordNet 3.0 noun databases"
        }
    }
}
