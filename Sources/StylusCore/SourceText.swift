/// A zero-based LSP position: line and UTF-16 code-unit column.
public struct Position: Sendable, Hashable, Codable, Comparable, CustomStringConvertible {
    public var line: Int
    public var character: Int

    public init(line: Int, character: Int) {
        self.line = line
        self.character = character
    }

    public static func < (a: Position, b: Position) -> Bool {
        (a.line, a.character) < (b.line, b.character)
    }

    public var description: String { "\(line + 1):\(character + 1)" }
}

/// A range in LSP terms (start inclusive, end exclusive).
public struct LSPRange: Sendable, Hashable, Codable {
    public var start: Position
    public var end: Position

    public init(start: Position, end: Position) {
        self.start = start
        self.end = end
    }
}

/// Where a piece of syntax sits in its document: UTF-8 byte offsets and LSP positions.
public struct SourceRange: Sendable, Hashable, Codable {
    public var utf8: Range<Int>
    public var lsp: LSPRange

    public init(utf8: Range<Int>, lsp: LSPRange) {
        self.utf8 = utf8
        self.lsp = lsp
    }

    enum CodingKeys: String, CodingKey { case utf8, start, end }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let offsets = try c.decode([Int].self, forKey: .utf8)
        guard offsets.count == 2, offsets[0] <= offsets[1] else {
            throw DecodingError.dataCorruptedError(forKey: .utf8, in: c, debugDescription: "expected [start, end]")
        }
        utf8 = offsets[0]..<offsets[1]
        lsp = LSPRange(start: try c.decode(Position.self, forKey: .start), end: try c.decode(Position.self, forKey: .end))
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode([utf8.lowerBound, utf8.upperBound], forKey: .utf8)
        try c.encode(lsp.start, forKey: .start)
        try c.encode(lsp.end, forKey: .end)
    }
}

/// The text of a document with a line table for UTF-8 offset ↔ LSP position conversion.
///
/// Line ends are `\n`, `\r\n` and lone `\r` (as LSP defines them). Conversions clamp: a column
/// past the end of its line maps to the line end, a line past the end maps to the document end,
/// and a column inside a surrogate pair rounds down to the character start.
/// UTF-16 columns are found from checkpoints every 64 bytes, so each conversion is O(1)
/// even on a 10 MB single-line document.
public struct SourceText: Sendable {
    public let text: String
    public let bytes: [UInt8]
    /// UTF-8 offset of the first byte of each line.
    public let lineStarts: [Int]
    /// UTF-16 units before byte `i * checkpointStride` (counted from document start), at character boundaries.
    private let utf16Checkpoints: [Int]
    private static let checkpointStride = 64

    public init(_ text: String) {
        self.text = text
        let bytes = Array(text.utf8)
        self.bytes = bytes
        var starts = [0]
        var checkpoints: [Int] = []
        checkpoints.reserveCapacity(bytes.count / Self.checkpointStride + 1)
        var units = 0
        var i = 0
        while i < bytes.count {
            if i % Self.checkpointStride == 0 { checkpoints.append(units) }
            let b = bytes[i]
            if b == 0x0A {
                starts.append(i + 1)
            } else if b == 0x0D {
                if i + 1 >= bytes.count || bytes[i + 1] != 0x0A { starts.append(i + 1) }
            }
            // UTF-16 units: a lead byte of a 4-byte sequence counts 2, continuation bytes 0.
            if b & 0xC0 != 0x80 { units += b >= 0xF0 ? 2 : 1 }
            i += 1
        }
        if bytes.count % Self.checkpointStride == 0 { checkpoints.append(units) }
        self.lineStarts = starts
        self.utf16Checkpoints = checkpoints
    }

    public var utf8Count: Int { bytes.count }
    public var lineCount: Int { lineStarts.count }

    /// UTF-16 units from document start to `offset` (which is clamped and rounded down to a character start).
    public func utf16Offset(ofUTF8 offset: Int) -> Int {
        let offset = characterStart(atOrBefore: min(max(0, offset), bytes.count))
        let block = offset / Self.checkpointStride
        var units = utf16Checkpoints[block]
        var i = block * Self.checkpointStride
        while i < offset {
            let b = bytes[i]
            if b & 0xC0 != 0x80 { units += b >= 0xF0 ? 2 : 1 }
            i += 1
        }
        return units
    }

    /// Rounds an offset down to the start of the UTF-8 sequence it points into.
    func characterStart(atOrBefore offset: Int) -> Int {
        var o = offset
        while o > 0, o < bytes.count, bytes[o] & 0xC0 == 0x80 { o -= 1 }
        return o
    }

    /// The line containing `offset` (binary search over line starts).
    public func line(ofUTF8 offset: Int) -> Int {
        var lo = 0, hi = lineStarts.count - 1
        while lo < hi {
            let mid = (lo + hi + 1) / 2
            if lineStarts[mid] <= offset { lo = mid } else { hi = mid - 1 }
        }
        return lo
    }

    public func position(ofUTF8 offset: Int) -> Position {
        let offset = min(max(0, offset), bytes.count)
        let line = line(ofUTF8: offset)
        let column = utf16Offset(ofUTF8: offset) - utf16Offset(ofUTF8: lineStarts[line])
        return Position(line: line, character: column)
    }

    public func range(_ utf8: Range<Int>) -> SourceRange {
        SourceRange(utf8: utf8, lsp: LSPRange(start: position(ofUTF8: utf8.lowerBound), end: position(ofUTF8: utf8.upperBound)))
    }

    /// UTF-8 offset where a line's content ends (before its line terminator).
    public func lineContentEnd(_ line: Int) -> Int {
        let next = line + 1 < lineStarts.count ? lineStarts[line + 1] : bytes.count
        var end = next
        if end > lineStarts[line], end <= bytes.count, line + 1 < lineStarts.count {
            end -= 1  // the \n or lone \r
            if end > lineStarts[line], bytes[end] == 0x0A, bytes[end - 1] == 0x0D { end -= 1 }
        }
        return end
    }

    /// UTF-8 offset of an LSP position, clamped to the document and to the line's content.
    public func utf8Offset(of position: Position) -> Int {
        if position.line < 0 { return 0 }
        if position.line >= lineStarts.count { return bytes.count }
        let start = lineStarts[position.line]
        let end = lineContentEnd(position.line)
        var units = 0
        var i = start
        let target = max(0, position.character)
        while i < end {
            let b = bytes[i]
            let width = b < 0x80 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4
            let u = b >= 0xF0 ? 2 : 1
            if units + u > target { break }  // target inside this character (or a surrogate pair): round down
            units += u
            i += width
        }
        return min(i, end)
    }

    /// The text between two UTF-8 offsets (clamped to character boundaries).
    public func slice(_ range: Range<Int>) -> String {
        let lo = characterStart(atOrBefore: min(max(0, range.lowerBound), bytes.count))
        let hi = characterStart(atOrBefore: min(max(lo, range.upperBound), bytes.count))
        return String(decoding: bytes[lo..<hi], as: UTF8.self)
    }
}
