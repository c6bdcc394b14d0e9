// BERT WordPiece tokenisation, matching Hugging Face's BertTokenizer (the `tokenizers` BertNormalizer,
// BertPreTokenizer and WordPiece model) as used by sentence-transformers for all-MiniLM-L6-v2:
//
// 1. clean: drop NUL, U+FFFD and "other" characters (Cc, Cf, Cs, Co; but not unassigned code
//    points), turn every whitespace character into a space;
// 2. put spaces around CJK ideographs so each becomes its own word;
// 3. strip accents (NFD, then drop nonspacing marks), then lowercase character by character;
// 4. split on whitespace, and make every punctuation character its own word;
// 5. greedy longest-match-first WordPiece per word with "##" continuations; a word longer than
//    100 characters or with an unmatched part becomes [UNK];
// 6. [CLS] pieces [SEP], truncated to `maxLength` ids in total.

import Foundation

/// Why a vocabulary could not be loaded.
public struct TokenizerError: Error, Equatable, Sendable, CustomStringConvertible {
    public let path: String?
    public let message: String
    public var description: String { path.map { "\($0): \(message)" } ?? message }
}

/// A BERT WordPiece tokenizer for an uncased vocabulary (`vocab.txt`, one token per line, id = line).
public struct WordPieceTokenizer: Sendable {
    public static let maxCharactersPerWord = 100

    /// Token strings by id.
    public let vocabulary: [String]
    public let unknownID: Int32
    public let classifierID: Int32
    public let separatorID: Int32
    public let paddingID: Int32
    /// Most ids one text produces, [CLS] and [SEP] included (sentence-transformers' max_seq_length).
    public let maxLength: Int

    private let trie: Trie
    /// Trie node of the "##" continuation prefix.
    private let continuationNode: Int32

    /// Loads `vocab.txt`.
    public init(vocabularyFile path: String, maxLength: Int = 256) throws(TokenizerError) {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw TokenizerError(path: path, message: "cannot read the vocabulary file; run scripts/setup to install the model")
        }
        // One token per line; only "\n" separates (as Hugging Face's loader), a final newline ends the list.
        var lines: [String] = []
        data.withUnsafeBytes { raw in
            let bytes = raw.bindMemory(to: UInt8.self)
            lines.reserveCapacity(bytes.count / 6)
            var start = 0
            for i in bytes.indices where bytes[i] == UInt8(ascii: "\n") {
                lines.append(String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<i]), as: UTF8.self))
                start = i + 1
            }
            lines.append(String(decoding: UnsafeBufferPointer(rebasing: bytes[start...]), as: UTF8.self))
        }
        if lines.last == "" { lines.removeLast() }
        do throws(TokenizerError) {
            try self.init(vocabulary: lines, maxLength: maxLength)
        } catch {
            throw TokenizerError(path: path, message: error.message)
        }
    }

    /// Builds a tokenizer from tokens in id order.
    public init(vocabulary: [String], maxLength: Int = 256) throws(TokenizerError) {
        guard maxLength >= 2 else { throw TokenizerError(path: nil, message: "maxLength must be at least 2") }
        guard vocabulary.count < Int(Int32.max) else { throw TokenizerError(path: nil, message: "vocabulary too large") }
        var trie = Trie(capacity: vocabulary.count * 4)  // BERT's 30,522 tokens make ~3 edges each: no rehashing
        for (id, token) in vocabulary.enumerated() {
            trie.insert(token.unicodeScalars, id: Int32(id))  // a repeated token keeps its last id, as HF
        }
        func special(_ name: String) throws(TokenizerError) -> Int32 {
            guard let id = vocabulary.lastIndex(of: name).map(Int32.init) else {
                throw TokenizerError(path: nil, message: "the vocabulary has no \(name) token; it is not a BERT vocabulary")
            }
            return id
        }
        self.vocabulary = vocabulary
        self.maxLength = maxLength
        unknownID = try special("[UNK]")
        classifierID = try special("[CLS]")
        separatorID = try special("[SEP]")
        paddingID = try special("[PAD]")
        continuationNode = trie.walk(from: 0, "##".unicodeScalars) ?? -1
        self.trie = trie
    }

    /// Token ids for `text`: [CLS], at most `maxLength − 2` word pieces, [SEP].
    public func encode(_ text: String) -> [Int32] {
        var ids: [Int32] = [classifierID]
        let budget = maxLength - 2
        outer: for word in basicTokens(text) {
            for id in wordPieceIDs(word) {
                if ids.count - 1 == budget { break outer }
                ids.append(id)
            }
        }
        ids.append(separatorID)
        return ids
    }

    /// The word pieces of `text` as strings, without [CLS]/[SEP] or truncation (for inspection).
    public func wordPieces(_ text: String) -> [String] {
        basicTokens(text).flatMap { wordPieceIDs($0) }.map { vocabulary[Int($0)] }
    }

    /// Steps 1–4: normalised words, each a run of Unicode scalars.
    package func basicTokens(_ text: String) -> [[Unicode.Scalar]] {
        // 1–2: clean and isolate CJK ideographs.
        var cleaned: [Unicode.Scalar] = []
        cleaned.reserveCapacity(text.unicodeScalars.count)
        var ascii = true
        for s in text.unicodeScalars {
            let v = s.value
            if v < 0x80 {
                if v == 0x09 || v == 0x0A || v == 0x0D || v == 0x20 { cleaned.append(" ") }
                else if v < 0x20 || v == 0x7F { continue }
                else { cleaned.append(s) }
                continue
            }
            ascii = false
            if v == 0xFFFD || Self.isOther(s) { continue }
            if s.properties.isWhitespace { cleaned.append(" "); continue }
            if Self.isCJK(v) { cleaned.append(" "); cleaned.append(s); cleaned.append(" "); continue }
            cleaned.append(s)
        }

        // 3: strip accents, then lowercase.
        var normalized: [Unicode.Scalar] = []
        normalized.reserveCapacity(cleaned.count)
        if ascii {
            for s in cleaned {
                let v = s.value
                normalized.append(v >= 0x41 && v <= 0x5A ? Unicode.Scalar(v + 32)! : s)
            }
        } else {
            var view = String.UnicodeScalarView()
            view.append(contentsOf: cleaned)
            let decomposed = String(view).decomposedStringWithCanonicalMapping
            for s in decomposed.unicodeScalars where s.properties.generalCategory != .nonspacingMark {
                if s.value < 0x80 {
                    normalized.append(s.value >= 0x41 && s.value <= 0x5A ? Unicode.Scalar(s.value + 32)! : s)
                } else if s.properties.changesWhenLowercased {
                    normalized.append(contentsOf: s.properties.lowercaseMapping.unicodeScalars)
                } else {
                    normalized.append(s)
                }
            }
        }

        // 4: split on spaces, isolate punctuation.
        var words: [[Unicode.Scalar]] = []
        var current: [Unicode.Scalar] = []
        for s in normalized {
            if s == " " {
                if !current.isEmpty { words.append(current); current.removeAll(keepingCapacity: true) }
            } else if Self.isPunctuation(s) {
                if !current.isEmpty { words.append(current); current.removeAll(keepingCapacity: true) }
                words.append([s])
            } else {
                current.append(s)
            }
        }
        if !current.isEmpty { words.append(current) }
        return words
    }

    /// Step 5 for one word.
    package func wordPieceIDs(_ word: [Unicode.Scalar]) -> [Int32] {
        if word.count > Self.maxCharactersPerWord { return [unknownID] }
        var pieces: [Int32] = []
        var start = 0
        while start < word.count {
            let root: Int32 = start == 0 ? 0 : continuationNode
            guard root >= 0, let (id, end) = trie.longestMatch(from: root, word, start: start) else { return [unknownID] }
            pieces.append(id)
            start = end
        }
        return pieces
    }

    // MARK: character classes

    /// Unicode "other" categories that BERT's cleaning drops (unassigned code points are kept).
    static func isOther(_ s: Unicode.Scalar) -> Bool {
        switch s.properties.generalCategory {
        case .control, .format, .surrogate, .privateUse: return true
        default: return false
        }
    }

    /// CJK Unified Ideographs blocks, as BERT defines "Chinese characters".
    static func isCJK(_ v: UInt32) -> Bool {
        (0x4E00...0x9FFF).contains(v) || (0x3400...0x4DBF).contains(v) || (0x20000...0x2A6DF).contains(v)
            || (0x2A700...0x2B73F).contains(v) || (0x2B740...0x2B81F).contains(v) || (0x2B820...0x2CEAF).contains(v)
            || (0xF900...0xFAFF).contains(v) || (0x2F800...0x2FA1F).contains(v)
    }

    /// ASCII punctuation and symbols (!"#$%&'()*+,-./:;<=>?@[\]^_`{|}~) and Unicode punctuation (P*).
    static func isPunctuation(_ s: Unicode.Scalar) -> Bool {
        let v = s.value
        if v < 0x80 {
            return (0x21...0x2F).contains(v) || (0x3A...0x40).contains(v) || (0x5B...0x60).contains(v) || (0x7B...0x7E).contains(v)
        }
        switch s.properties.generalCategory {
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation,
             .initialPunctuation, .finalPunctuation, .otherPunctuation:
            return true
        default:
            return false
        }
    }
}

/// A prefix tree over Unicode scalars, for exact (not canonical-equivalence) longest-match lookup.
/// Node 0 is the root; edges live in one open-addressing hash table keyed by (node, scalar), with a
/// multiplicative hash: building BERT's ~100,000 edges with `Dictionary` (SipHash) was most of a
/// cold start's tokenizer load.
private struct Trie: Sendable {
    private static let empty = UInt64.max  // no edge: node ids stay below 2^31
    private var keys: [UInt64]
    private var targets: [Int32]
    private var shift: UInt64
    private var edgeCount = 0
    private var tokenIDs: [Int32] = [-1]

    init(capacity: Int) {
        var size = 16
        while size < 2 * capacity { size *= 2 }
        keys = [UInt64](repeating: Self.empty, count: size)
        targets = [Int32](repeating: 0, count: size)
        shift = UInt64(64 - size.trailingZeroBitCount)
        tokenIDs.reserveCapacity(capacity)
    }

    private static func key(_ node: Int32, _ scalar: Unicode.Scalar) -> UInt64 {
        UInt64(UInt32(node)) << 32 | UInt64(scalar.value)
    }

    /// The slot holding `key`, or the empty slot where it belongs.
    private func slot(_ key: UInt64) -> Int {
        let mask = keys.count - 1
        var i = Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> shift)
        while keys[i] != key && keys[i] != Self.empty { i = (i + 1) & mask }
        return i
    }

    private func target(_ node: Int32, _ scalar: Unicode.Scalar) -> Int32? {
        let i = slot(Self.key(node, scalar))
        return keys[i] == Self.empty ? nil : targets[i]
    }

    private mutating func grow() {
        let (oldKeys, oldTargets) = (keys, targets)
        keys = [UInt64](repeating: Self.empty, count: 2 * oldKeys.count)
        targets = [Int32](repeating: 0, count: 2 * oldKeys.count)
        shift -= 1
        for (k, t) in zip(oldKeys, oldTargets) where k != Self.empty {
            let i = slot(k)
            keys[i] = k
            targets[i] = t
        }
    }

    mutating func insert(_ scalars: String.UnicodeScalarView, id: Int32) {
        var node: Int32 = 0
        for s in scalars {
            if let next = target(node, s) {
                node = next
                continue
            }
            if 2 * (edgeCount + 1) > keys.count { grow() }
            let next = Int32(tokenIDs.count)
            tokenIDs.append(-1)
            let k = Self.key(node, s), i = slot(k)
            keys[i] = k
            targets[i] = next
            edgeCount += 1
            node = next
        }
        if node != 0 { tokenIDs[Int(node)] = id }
    }

    func walk(from node: Int32, _ scalars: String.UnicodeScalarView) -> Int32? {
        var node = node
        for s in scalars {
            guard let next = target(node, s) else { return nil }
            node = next
        }
        return node
    }

    /// The longest token spelled by `word[start...]` after `root`'s prefix: its id and end index.
    func longestMatch(from root: Int32, _ word: [Unicode.Scalar], start: Int) -> (Int32, Int)? {
        var node = root
        var best: (Int32, Int)?
        var i = start
        while i < word.count, let next = target(node, word[i]) {
            node = next
            i += 1
            let id = tokenIDs[Int(node)]
            if id >= 0 { best = (id, i) }
        }
        return best
    }
}
