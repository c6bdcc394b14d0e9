import Foundation

/// The CLIP BPE tokenizer of SD 1.x, with the preprocessing of the HF
/// `CLIPTokenizer` that A1111 and diffusers run: NFC, whitespace collapsed, lowercase.
///
/// Vocabulary ids: 0–255 the byte characters, 256–511 the same with `</w>`, 512–49405 the first
/// 48,894 merges in rank order, 49406 BOS, 49407 EOS. Pieces are worked on as ids: a byte's id
/// is its place in the `bytes_to_unicode` table and a merge's id is 512 + its rank, so no strings
/// are built while encoding.
public final class ClipTokenizer: Sendable {
    public static let vocabularySize = 49408
    public static let mergeCount = 48894
    public static let bos: Int32 = 49406
    public static let eos: Int32 = 49407

    /// Token text by id (the `</w>` suffix marks a word end).
    public let vocabulary: [String]
    /// Vocabulary position of each byte value (its `</w>` form is 256 more).
    private let byteIds: [Int32]
    /// (left id << 32 | right id) -> merge rank.
    private let mergeRanks: [UInt64: Int32]

    public convenience init(vocabularyPath: String) throws {
        let bytes = try readGzipFile(vocabularyPath)
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw RenderError.badVocabulary(path: vocabularyPath, reason: "not UTF-8 text")
        }
        try self.init(mergesText: text, path: vocabularyPath)
    }

    /// `mergesText` is the decompressed `bpe_simple_vocab_16e6.txt`: a header line, then `a b` pairs.
    public init(mergesText: String, path: String = "<merges>") throws {
        var lines = mergesText.split(separator: "\n", omittingEmptySubsequences: false).dropFirst().makeIterator()
        // bytes_to_unicode: printable bytes keep their code point, the rest map to U+0100... in byte
        // order. Vocabulary order is by that character.
        let printable = Set(Array(33...126) + Array(161...172) + Array(174...255))
        var charOfByte = [UInt32](repeating: 0, count: 256)
        var extra: UInt32 = 0
        for b in 0..<256 {
            if printable.contains(b) { charOfByte[b] = UInt32(b) } else { charOfByte[b] = 256 + extra; extra += 1 }
        }
        let order = (0..<256).sorted { charOfByte[$0] < charOfByte[$1] }
        var byteIds = [Int32](repeating: 0, count: 256)
        var vocabulary: [String] = []
        vocabulary.reserveCapacity(Self.vocabularySize)
        for (i, b) in order.enumerated() {
            byteIds[b] = Int32(i)
            vocabulary.append(String(Character(Unicode.Scalar(charOfByte[b])!)))
        }
        vocabulary += vocabulary.map { $0 + "</w>" }
        var idOf = [String: Int32](minimumCapacity: Self.vocabularySize)
        for (i, t) in vocabulary.enumerated() { idOf[t] = Int32(i) }

        var ranks = [UInt64: Int32](minimumCapacity: Self.mergeCount)
        for rank in 0..<Self.mergeCount {
            guard let line = lines.next() else {
                throw RenderError.badVocabulary(path: path, reason: "only \(rank) merges, need \(Self.mergeCount)")
            }
            let parts = line.split(separator: " ")
            guard parts.count == 2, let a = idOf[String(parts[0])], let b = idOf[String(parts[1])] else {
                throw RenderError.badVocabulary(path: path, reason: "merge line \(rank + 2) is not a pair of known tokens")
            }
            let merged = String(parts[0]) + String(parts[1])
            let id = Int32(vocabulary.count)
            vocabulary.append(merged)
            if idOf[merged] == nil { idOf[merged] = id }
            ranks[UInt64(UInt32(a)) << 32 | UInt64(UInt32(b))] = Int32(rank)
        }
        vocabulary += ["<|startoftext|>", "<|endoftext|>"]
        self.vocabulary = vocabulary
        self.byteIds = byteIds
        self.mergeRanks = ranks
    }

    /// The id of `,</w>`, where A1111 prefers to break chunks.
    public var commaId: Int32 { byteIds[Int(UInt8(ascii: ","))] + 256 }

    /// Token ids of `text`, without BOS/EOS.
    public func encode(_ text: String) -> [Int32] {
        var ids: [Int32] = []
        for piece in Self.pieces(of: Self.normalise(text)) {
            switch piece {
            case "<|startoftext|>": ids.append(Self.bos)
            case "<|endoftext|>": ids.append(Self.eos)
            default: ids += bpe(Array(piece.utf8))
            }
        }
        return ids
    }

    private func bpe(_ bytes: [UInt8]) -> [Int32] {
        var parts = bytes.map { byteIds[Int($0)] }
        parts[parts.count - 1] += 256  // the word-end form
        while parts.count > 1 {
            var best = Int32.max
            for i in 0..<(parts.count - 1) {
                if let r = mergeRanks[Self.pairKey(parts[i], parts[i + 1])], r < best { best = r }
            }
            if best == Int32.max { break }
            // Merge every non-overlapping occurrence of the best pair, left to right.
            let merged = 512 + best
            var out: [Int32] = []
            out.reserveCapacity(parts.count)
            var i = 0
            while i < parts.count {
                if i + 1 < parts.count, mergeRanks[Self.pairKey(parts[i], parts[i + 1])] == best {
                    out.append(merged)
                    i += 2
                } else {
                    out.append(parts[i])
                    i += 1
                }
            }
            parts = out
        }
        return parts
    }

    private static func pairKey(_ a: Int32, _ b: Int32) -> UInt64 { UInt64(UInt32(a)) << 32 | UInt64(UInt32(b)) }

    /// NFC, whitespace runs to one space, trimmed, lowercased.
    static func normalise(_ text: String) -> String {
        var out = String.UnicodeScalarView()
        var pendingSpace = false
        for s in text.precomposedStringWithCanonicalMapping.unicodeScalars {
            if isSpace(s) {
                pendingSpace = !out.isEmpty
            } else {
                if pendingSpace { out.append(" ") }
                pendingSpace = false
                out.append(s)
            }
        }
        return String(out).lowercased()
    }

    /// Splits like CLIP's pattern
    /// `<|startoftext|>|<|endoftext|>|'s|'t|'re|'ve|'m|'ll|'d|\p{L}+|\p{N}|[^\s\p{L}\p{N}]+`.
    static func pieces(of text: String) -> [String] {
        let s = Array(text.unicodeScalars)
        var out: [String] = []
        var i = 0
        func take(_ n: Int) { out.append(String(String.UnicodeScalarView(s[i..<(i + n)]))); i += n }
        func hasPrefix(_ p: String) -> Bool {
            let ps = Array(p.unicodeScalars)
            return i + ps.count <= s.count && Array(s[i..<(i + ps.count)]) == ps
        }
        while i < s.count {
            let c = s[i]
            if isSpace(c) { i += 1; continue }
            if c == "<", let special = ["<|startoftext|>", "<|endoftext|>"].first(where: hasPrefix) {
                take(special.unicodeScalars.count); continue
            }
            if c == "'", let contraction = ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d"].first(where: hasPrefix) {
                take(contraction.unicodeScalars.count); continue
            }
            var n = 1
            if isLetter(c) {
                while i + n < s.count, isLetter(s[i + n]) { n += 1 }
            } else if !isNumber(c) {
                while i + n < s.count, !isSpace(s[i + n]), !isLetter(s[i + n]), !isNumber(s[i + n]) { n += 1 }
            }
            take(n)
        }
        return out
    }

    private static func isSpace(_ s: Unicode.Scalar) -> Bool {
        s.properties.isWhitespace || (0x1C...0x1F).contains(s.value)
    }

    private static func isLetter(_ s: Unicode.Scalar) -> Bool {
        switch s.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return true
        default: return false
        }
    }

    private static func isNumber(_ s: Unicode.Scalar) -> Bool {
        switch s.properties.generalCategory {
        case .decimalNumber, .letterNumber, .otherNumber: return true
        default: return false
        }
    }
}
