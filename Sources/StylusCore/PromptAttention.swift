import Foundation

/// A1111's emphasis weights on any text, balanced or not (README, "Prompt files").
///
/// A1111 does not build a tree for emphasis: it scans the text once, keeps one stack of start
/// positions per bracket type, and when a closer pops a start it multiplies every piece of text
/// emitted since then. So `]` may close a `[` across an open `(`, a closer with nothing open is
/// text, a `:` not followed by `number)` is text, and a bracket never closed applies its
/// multiplier to the rest of the prompt at the end (all open `(` first, outermost first, then all
/// open `[`). Pieces are multiplied in exactly that order, so the weights are the same doubles
/// A1111 computes and runs of equal weight merge the same way.
///
/// The parser's tree (`PromptParser`) stays for editor features; every weight the renderer, the
/// hovers, the inlay hints and `stylus parse --json` show comes from here.
public enum PromptAttention {
    /// A run of text with its weight, or A1111's `BREAK` marker (text `BREAK`, weight −1).
    public struct Span: Sendable, Equatable {
        public var text: String
        public var weight: Double

        public init(text: String, weight: Double) {
            self.text = text
            self.weight = weight
        }

        /// A1111 starts a new 75-token chunk for exactly this span (`sd_hijack_clip.tokenize_line`).
        public var isBreak: Bool { text == "BREAK" && weight == -1 }
    }

    /// One piece of text as the scan emits it, before equal weights merge. `text` indexes the
    /// scanned bytes (empty for a lone `\` and for the BREAK marker); `span` is what the piece was
    /// read from, for mapping back to the document.
    public struct Piece: Sendable, Equatable {
        public var text: Range<Int>
        public var span: Range<Int>
        public var weight: Double
        public var isBreakMarker: Bool
    }

    /// The result of one scan: pieces in order, and whether a `(x:number)` had a number A1111's
    /// `float()` rejects (`1.2.3`, `.`): A1111 stops with an error there; here it counts as 1.
    public struct Scan: Sendable {
        public var pieces: [Piece]
        public var hasInvalidNumber: Bool
        /// Weight multiplications and linear-pass steps the scan did: at most `exactWorkLimit` plus
        /// a few per piece and group, however deep the nesting (what keeps hostile prompts cheap).
        public var weightUpdates = 0
    }

    /// Multiplications past this count (deeply nested groups over many pieces, which A1111 itself
    /// does in quadratic time) switch to a linear computation whose weights may differ from
    /// A1111's in the last bits. No realistic prompt comes near it.
    public static let exactWorkLimit = 20_000_000

    /// A1111's `parse_prompt_attention` on `text`: merged spans, `BREAK` markers included.
    public static func spans(_ text: String) -> [Span] {
        let bytes = Array(text.utf8)
        return merged(scan(bytes).pieces, bytes: bytes)
    }

    /// Runs of equal weight joined, as A1111 does after the scan; `[("", 1)]` when there is nothing.
    public static func merged(_ pieces: [Piece], bytes: [UInt8]) -> [Span] {
        var out: [(bytes: [UInt8], weight: Double)] = []
        for piece in pieces {
            let text: ArraySlice<UInt8> = piece.isBreakMarker ? ArraySlice("BREAK".utf8) : bytes[piece.text]
            if let last = out.last, last.weight == piece.weight {
                out[out.count - 1].bytes.append(contentsOf: text)
            } else {
                out.append((Array(text), piece.weight))
            }
        }
        if out.isEmpty { return [Span(text: "", weight: 1)] }
        return out.map { Span(text: String(decoding: $0.bytes, as: UTF8.self), weight: $0.weight) }
    }

    /// The scan itself, over UTF-8 bytes.
    public static func scan(_ bytes: [UInt8]) -> Scan {
        var pieces: [Piece] = []
        var round: [Int] = [], square: [Int] = []
        var invalidNumber = false
        // Each close: (first piece, piece count then, multiplier), for the linear fallback.
        var closes: [(Int, Int, Double)] = []
        var work = 0, updates = 0
        var exact = true

        func multiply(from start: Int, by m: Double) {
            closes.append((start, pieces.count, m))
            guard exact else { return }
            work += pieces.count - start
            if work > exactWorkLimit {
                exact = false
                return
            }
            var p = start
            while p < pieces.count {
                pieces[p].weight *= m
                p += 1
            }
            updates += pieces.count - start
        }

        func emitText(_ r: Range<Int>) {
            for part in breakSplit(bytes, r) {
                switch part {
                case .text(let t): pieces.append(Piece(text: t, span: t, weight: 1, isBreakMarker: false))
                case .marker(let m): pieces.append(Piece(text: m.lowerBound..<m.lowerBound, span: m, weight: -1, isBreakMarker: true))
                }
            }
        }

        let n = bytes.count
        var i = 0
        while i < n {
            let b = bytes[i]
            switch b {
            case ASCII.backslash:
                if i + 1 < n, ASCII.isEscapable(bytes[i + 1]) {
                    pieces.append(Piece(text: i + 1..<i + 2, span: i..<i + 2, weight: 1, isBreakMarker: false))
                    i += 2
                } else {
                    // A lone backslash is a piece of no text (it still separates runs).
                    pieces.append(Piece(text: i + 1..<i + 1, span: i..<i + 1, weight: 1, isBreakMarker: false))
                    i += 1
                }
            case ASCII.lparen:
                round.append(pieces.count)
                i += 1
            case ASCII.lbracket:
                square.append(pieces.count)
                i += 1
            case ASCII.colon:
                if let (number, after) = weightToken(bytes, colon: i) {
                    if let start = round.popLast() {
                        let value = Double(String(decoding: bytes[number], as: UTF8.self))
                        if value == nil { invalidNumber = true }
                        multiply(from: start, by: value ?? 1)
                    } else {
                        emitText(i..<after)
                    }
                    i = after
                } else {
                    emitText(i..<i + 1)
                    i += 1
                }
            case ASCII.rparen:
                if let start = round.popLast() { multiply(from: start, by: 1.1) } else { emitText(i..<i + 1) }
                i += 1
            case ASCII.rbracket:
                if let start = square.popLast() { multiply(from: start, by: 1 / 1.1) } else { emitText(i..<i + 1) }
                i += 1
            default:
                var j = i + 1
                while j < n, !ASCII.isAttentionSpecial(bytes[j]) { j += 1 }
                emitText(i..<j)
                i = j
            }
        }
        for start in round { multiply(from: start, by: 1.1) }
        for start in square { multiply(from: start, by: 1 / 1.1) }
        if !exact {
            linearWeights(&pieces, closes)
            updates += closes.count + pieces.count
        }
        return Scan(pieces: pieces, hasInvalidNumber: invalidNumber, weightUpdates: updates)
    }

    /// Every piece's weight as the product of the multipliers covering it, in one pass over the
    /// closes (log magnitudes, sign and zero counts as differences over piece indices).
    private static func linearWeights(_ pieces: inout [Piece], _ closes: [(Int, Int, Double)]) {
        let n = pieces.count
        var logs = [Double](repeating: 0, count: n + 1)
        var negatives = [Int](repeating: 0, count: n + 1)
        var zeros = [Int](repeating: 0, count: n + 1)
        var nans = [Int](repeating: 0, count: n + 1)
        var infinities = [Int](repeating: 0, count: n + 1)
        for (start, end, m) in closes where start < end {
            if m.isNaN {
                nans[start] += 1; nans[end] -= 1
                continue
            }
            if m.isInfinite {
                infinities[start] += 1; infinities[end] -= 1
            }
            if m == 0 {
                zeros[start] += 1; zeros[end] -= 1
            } else if m.isFinite {
                logs[start] += log(abs(m)); logs[end] -= log(abs(m))
            }
            if m.sign == .minus { negatives[start] += 1; negatives[end] -= 1 }
        }
        var l = 0.0, neg = 0, zero = 0, nan = 0, infinite = 0
        for p in 0..<n {
            l += logs[p]; neg += negatives[p]; zero += zeros[p]; nan += nans[p]; infinite += infinities[p]
            let base: Double = pieces[p].isBreakMarker ? -1 : 1
            let magnitude = nan > 0 || (zero > 0 && infinite > 0) ? Double.nan
                : zero > 0 ? 0 : infinite > 0 ? Double.infinity : exp(l)
            pieces[p].weight = base * (neg % 2 == 0 ? magnitude : -magnitude)
        }
    }

    /// `:\s*([+-]?[.\d]+)\s*\)` at a colon (not past `limit`): the number's bytes and the offset after `)`.
    static func weightToken(_ bytes: [UInt8], colon: Int, limit: Int? = nil) -> (Range<Int>, Int)? {
        let n = limit ?? bytes.count
        var p = PythonText.skipSpaces(bytes, from: colon + 1, limit: n)
        let numberStart = p
        if p < n, bytes[p] == ASCII.plus || bytes[p] == ASCII.minus { p += 1 }
        let digits = p
        while p < n, ASCII.isDigit(bytes[p]) || bytes[p] == ASCII.dot { p += 1 }
        guard p > digits else { return nil }
        let numberEnd = p
        p = PythonText.skipSpaces(bytes, from: p, limit: n)
        guard p < n, bytes[p] == ASCII.rparen else { return nil }
        return (numberStart..<numberEnd, p + 1)
    }

    enum BreakPart {
        case text(Range<Int>)
        case marker(Range<Int>)
    }

    /// A1111's `re.split(r"\s*\bBREAK\b\s*", run)`: word boundaries are judged within the run.
    static func breakSplit(_ bytes: [UInt8], _ r: Range<Int>) -> [BreakPart] {
        var parts: [BreakPart] = []
        var partStart = r.lowerBound
        var q = r.lowerBound
        while q + 5 <= r.upperBound {
            guard bytes[q] == 0x42, bytes[q + 1] == 0x52, bytes[q + 2] == 0x45, bytes[q + 3] == 0x41, bytes[q + 4] == 0x4B,
                  q == r.lowerBound || !PythonText.isWord(PythonText.scalar(before: q, in: bytes)),
                  q + 5 == r.upperBound || !PythonText.isWord(PythonText.scalar(at: q + 5, in: bytes))
            else {
                q += 1
                continue
            }
            var matchStart = q
            while matchStart > partStart, let s = PythonText.scalarBefore(matchStart, in: bytes, floor: partStart),
                  PythonText.isSpace(s.scalar) {
                matchStart -= s.length
            }
            let matchEnd = PythonText.skipSpaces(bytes, from: q + 5, limit: r.upperBound)
            parts.append(.text(partStart..<matchStart))
            parts.append(.marker(matchStart..<matchEnd))
            partStart = matchEnd
            q = matchEnd
        }
        parts.append(.text(partStart..<r.upperBound))
        return parts
    }
}

/// Bytes A1111's attention scan treats specially.
enum ASCII {
    static let backslash: UInt8 = 0x5C, lparen: UInt8 = 0x28, rparen: UInt8 = 0x29
    static let lbracket: UInt8 = 0x5B, rbracket: UInt8 = 0x5D, colon: UInt8 = 0x3A
    static let plus: UInt8 = 0x2B, minus: UInt8 = 0x2D, dot: UInt8 = 0x2E, newline: UInt8 = 0x0A

    static func isDigit(_ b: UInt8) -> Bool { b >= 0x30 && b <= 0x39 }
    static func isEscapable(_ b: UInt8) -> Bool {
        b == lparen || b == rparen || b == lbracket || b == rbracket || b == backslash
    }
    static func isAttentionSpecial(_ b: UInt8) -> Bool {
        b == backslash || b == lparen || b == rparen || b == lbracket || b == rbracket || b == colon
    }
}

/// Python's `\s` and `\w` for `str` patterns, on UTF-8 bytes of a valid Swift string.
enum PythonText {
    /// `str.isspace()`: ASCII controls 0x09–0x0D and 0x1C–0x1F, the space, and Unicode White_Space.
    static func isSpace(_ s: Unicode.Scalar) -> Bool {
        let v = s.value
        if v < 0x80 { return (v >= 0x09 && v <= 0x0D) || (v >= 0x1C && v <= 0x20) }
        return s.properties.isWhitespace
    }

    /// `\w`: `_` or `str.isalnum()` (letters and numbers of any script).
    static func isWord(_ s: Unicode.Scalar?) -> Bool {
        guard let s else { return false }
        let v = s.value
        if v < 0x80 {
            return (v >= 0x30 && v <= 0x39) || (v >= 0x41 && v <= 0x5A) || (v >= 0x61 && v <= 0x7A) || v == 0x5F
        }
        switch s.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter,
             .decimalNumber, .letterNumber, .otherNumber:
            return true
        default:
            return false
        }
    }

    static func scalar(at i: Int, in bytes: [UInt8]) -> Unicode.Scalar? {
        decode(bytes, at: i)?.scalar
    }

    static func scalar(before i: Int, in bytes: [UInt8]) -> Unicode.Scalar? {
        scalarBefore(i, in: bytes, floor: 0)?.scalar
    }

    /// The scalar ending at `i` (not before `floor`) and its length in bytes.
    static func scalarBefore(_ i: Int, in bytes: [UInt8], floor: Int) -> (scalar: Unicode.Scalar, length: Int)? {
        guard i > floor else { return nil }
        var start = i - 1
        while start > floor, bytes[start] & 0xC0 == 0x80, i - start < 4 { start -= 1 }
        guard let d = decode(bytes, at: start), start + d.length == i else { return nil }
        return d
    }

    static func decode(_ bytes: [UInt8], at i: Int) -> (scalar: Unicode.Scalar, length: Int)? {
        guard i < bytes.count else { return nil }
        let b0 = bytes[i]
        if b0 < 0x80 { return (Unicode.Scalar(b0), 1) }
        let length = b0 >= 0xF0 ? 4 : b0 >= 0xE0 ? 3 : b0 >= 0xC0 ? 2 : 1
        guard length > 1, i + length <= bytes.count else { return nil }
        var v = UInt32(b0) & (length == 2 ? 0x1F : length == 3 ? 0x0F : 0x07)
        for k in 1..<length { v = (v << 6) | (UInt32(bytes[i + k]) & 0x3F) }
        guard let s = Unicode.Scalar(v) else { return nil }
        return (s, length)
    }

    /// The offset after the run of `\s` starting at `from` (not past `limit`).
    static func skipSpaces(_ bytes: [UInt8], from: Int, limit: Int? = nil) -> Int {
        let end = limit ?? bytes.count
        var p = from
        while p < end, let d = decode(bytes, at: p), p + d.length <= end, isSpace(d.scalar) { p += d.length }
        return p
    }
}
