/// Parser for the A1111 prompt grammar (README, "Prompt files").
///
/// One pass over UTF-8 bytes, recursive descent with a nesting cap, error recovery everywhere:
/// it always returns a tree. Where A1111 would treat malformed syntax as literal text, so do we,
/// and we say so in a diagnostic.
public enum PromptParser {
    /// Brackets nested deeper than this are kept as literal text (with one diagnostic). Real prompts
    /// rarely exceed five levels; the cap keeps every recursive consumer of the tree shallow.
    public static let maxDepth = 32
    /// Diagnostics past this count are summarised in one final diagnostic.
    public static let maxDiagnostics = 200

    /// Parses the prompt text in `range` of `source` (the whole text when nil).
    /// `AND` sections and a trailing `:weight` are recognised in positive prompts only, as in A1111.
    public static func parse(_ source: SourceText, range: Range<Int>? = nil, isNegative: Bool = false) -> PromptSyntax {
        let r = range ?? 0..<source.utf8Count
        var parser = Parser(source: source, start: r.lowerBound, end: r.upperBound)
        let nodes = parser.parseSequence(depth: 0, stop: .top)
        var sections = parser.splitSections(nodes, range: r, isNegative: isNegative)
        if !isNegative { parser.extractSectionWeights(&sections) }
        parser.finishDiagnostics()
        return PromptSyntax(sections: sections, diagnostics: parser.diagnostics, range: source.range(r), isNegative: isNegative)
    }

    /// Parses a standalone prompt string (ranges are relative to it).
    public static func parse(_ text: String, isNegative: Bool = false) -> PromptSyntax {
        parse(SourceText(text), isNegative: isNegative)
    }
}

// MARK: - Bytes

private enum Byte {
    static let backslash: UInt8 = 0x5C, lparen: UInt8 = 0x28, rparen: UInt8 = 0x29
    static let lbracket: UInt8 = 0x5B, rbracket: UInt8 = 0x5D, colon: UInt8 = 0x3A
    static let pipe: UInt8 = 0x7C, less: UInt8 = 0x3C, greater: UInt8 = 0x3E, hash: UInt8 = 0x23
    static let newline: UInt8 = 0x0A, cr: UInt8 = 0x0D, equals: UInt8 = 0x3D, underscore: UInt8 = 0x5F
    static let space: UInt8 = 0x20, tab: UInt8 = 0x09, plus: UInt8 = 0x2B, minus: UInt8 = 0x2D, dot: UInt8 = 0x2E

    static func isSpace(_ b: UInt8) -> Bool { b == space || b == tab || b == newline || b == cr || b == 0x0B || b == 0x0C }
    static func isDigit(_ b: UInt8) -> Bool { b >= 0x30 && b <= 0x39 }
    static func isASCIIWord(_ b: UInt8) -> Bool {
        isDigit(b) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == underscore
    }
    /// Word characters for `\b`: ASCII word bytes and any non-ASCII byte (letters in other scripts).
    static func isWord(_ b: UInt8) -> Bool { isASCIIWord(b) || b >= 0x80 }
    static func isEscapable(_ b: UInt8) -> Bool {
        b == lparen || b == rparen || b == lbracket || b == rbracket || b == backslash
    }
}

// MARK: - Parser

private struct Parser {
    /// What ends the sequence being parsed (the closer is left for the caller).
    struct Stop {
        var closer: UInt8?
        var colon: Bool
        var pipe: Bool

        static let top = Stop(closer: nil, colon: false, pipe: false)
        static let round = Stop(closer: Byte.rparen, colon: true, pipe: false)  // colon only before a weight
        static let square = Stop(closer: Byte.rbracket, colon: true, pipe: true)
        static let option = Stop(closer: Byte.rbracket, colon: false, pipe: true)
        static let schedulePart = Stop(closer: Byte.rbracket, colon: true, pipe: false)
        static let scheduleLast = Stop(closer: Byte.rbracket, colon: false, pipe: false)
    }

    let source: SourceText
    let bytes: [UInt8]
    let end: Int
    var pos: Int
    var open: [UInt8] = []  // closers of the groups currently open, innermost last
    var diagnostics: [PromptDiagnostic] = []
    var droppedDiagnostics = 0
    var reportedDepth = false

    init(source: SourceText, start: Int, end: Int) {
        self.source = source
        self.bytes = source.bytes
        self.pos = start
        self.end = end
    }

    mutating func diagnose(_ severity: PromptDiagnostic.Severity, _ message: String, _ range: Range<Int>, code: DiagnosticCode = .syntax) {
        guard diagnostics.count < PromptParser.maxDiagnostics else {
            droppedDiagnostics += 1
            return
        }
        diagnostics.append(PromptDiagnostic(code: code, severity: severity, message: message, range: source.range(range)))
    }

    mutating func finishDiagnostics() {
        if droppedDiagnostics > 0, let last = diagnostics.last {
            diagnostics.append(PromptDiagnostic(
                code: .syntax, severity: .warning,
                message: "\(droppedDiagnostics) more syntax problems not listed", range: last.range))
        }
    }

    // MARK: Sequences

    mutating func parseSequence(depth: Int, stop: Stop) -> [PromptNode] {
        var nodes: [PromptNode] = []
        var textStart: Int?

        func flush(_ nodes: inout [PromptNode], _ textStart: inout Int?, upTo: Int, parser: inout Parser) {
            if let s = textStart, s < upTo { nodes.append(contentsOf: parser.textNodes(s..<upTo)) }
            textStart = nil
        }

        while pos < end {
            let b = bytes[pos]
            switch b {
            case Byte.backslash:
                if textStart == nil { textStart = pos }
                pos += (pos + 1 < end && Byte.isEscapable(bytes[pos + 1])) ? 2 : 1
            case Byte.lparen, Byte.lbracket:
                if depth >= PromptParser.maxDepth {
                    if !reportedDepth {
                        reportedDepth = true
                        diagnose(.warning, "Brackets nested deeper than \(PromptParser.maxDepth) levels are treated as text.", pos..<pos + 1)
                    }
                    if textStart == nil { textStart = pos }
                    pos += 1
                    continue
                }
                flush(&nodes, &textStart, upTo: pos, parser: &self)
                nodes.append(b == Byte.lparen ? parseRound(depth: depth + 1) : parseSquare(depth: depth + 1))
            case Byte.rparen, Byte.rbracket:
                if stop.closer == b || open.contains(b) {
                    flush(&nodes, &textStart, upTo: pos, parser: &self)
                    return nodes  // ours, or an outer group's (the inner ones close implicitly)
                }
                let ch = b == Byte.rparen ? ")" : "]"
                diagnose(.warning, "Unmatched '\(ch)' is literal text; escape it as \\\(ch) if that is intended.", pos..<pos + 1)
                if textStart == nil { textStart = pos }
                pos += 1
            case Byte.colon:
                let ends = stop.closer == Byte.rparen ? weightSuffix(at: pos) != nil : stop.colon
                if ends {
                    flush(&nodes, &textStart, upTo: pos, parser: &self)
                    return nodes
                }
                if textStart == nil { textStart = pos }
                pos += 1
            case Byte.pipe where stop.pipe:
                flush(&nodes, &textStart, upTo: pos, parser: &self)
                return nodes
            case Byte.less:
                if let tagEnd = tagNameEnd(at: pos) {
                    flush(&nodes, &textStart, upTo: pos, parser: &self)
                    nodes.append(.tag(parseTag(nameStart: pos + 1, colon: tagEnd)))
                } else {
                    if textStart == nil { textStart = pos }
                    pos += 1
                }
            case Byte.hash:
                flush(&nodes, &textStart, upTo: pos, parser: &self)
                let start = pos
                while pos < end, bytes[pos] != Byte.newline, bytes[pos] != Byte.cr { pos += 1 }
                nodes.append(.comment(source.range(start..<pos)))
            default:
                if textStart == nil { textStart = pos }
                pos += 1
            }
        }
        flush(&nodes, &textStart, upTo: pos, parser: &self)
        return nodes
    }

    /// `(x)` or `(x:1.3)`; `pos` is at `(`.
    mutating func parseRound(depth: Int) -> PromptNode {
        let start = pos
        pos += 1
        open.append(Byte.rparen)
        let children = parseSequence(depth: depth, stop: .round)
        open.removeLast()
        var weight: Double?
        var weightRange: SourceRange?
        var closed = false
        if pos < end, bytes[pos] == Byte.rparen {
            pos += 1
            closed = true
        } else if pos < end, bytes[pos] == Byte.colon, let (numberRange, after) = weightSuffix(at: pos) {
            let literal = source.slice(numberRange)
            if let w = Double(literal) {
                weight = w
            } else {
                diagnose(.error, "Bad weight '\(literal)': write a number such as 1.2.", numberRange)
            }
            weightRange = source.range(numberRange)
            pos = after
            closed = true
        }
        if !closed {
            diagnose(.error, "'(' is never closed; add ')' (A1111 applies ×1.1 to the rest of the prompt).", start..<start + 1)
        }
        return .emphasis(Emphasis(bracket: .round, children: children, explicitWeight: weight, weightRange: weightRange,
                                  isClosed: closed, range: source.range(start..<pos)))
    }

    /// `[x]`, `[a|b]`, `[to:when]` or `[from:to:when]`; `pos` is at `[`.
    mutating func parseSquare(depth: Int) -> PromptNode {
        let start = pos
        pos += 1
        open.append(Byte.rbracket)
        defer { open.removeLast() }
        let first = parseSequence(depth: depth, stop: .square)

        func closes(_ p: Parser) -> Bool { p.pos < p.end && p.bytes[p.pos] == Byte.rbracket }

        if pos < end, bytes[pos] == Byte.pipe {
            var options = [first]
            var optionRanges = [source.range(start + 1..<pos)]
            while pos < end, bytes[pos] == Byte.pipe {
                pos += 1
                let optionStart = pos
                options.append(parseSequence(depth: depth, stop: .option))
                optionRanges.append(source.range(optionStart..<pos))
            }
            let closed = closes(self)
            if closed { pos += 1 } else {
                diagnose(.error, "Alternation '[a|b]' is never closed; add ']'.", start..<start + 1)
            }
            return .alternation(Alternation(options: options, range: source.range(start..<pos),
                                            optionRanges: optionRanges, isClosed: closed))
        }

        if pos < end, bytes[pos] == Byte.colon {
            let firstColon = pos
            pos += 1
            let second = parseSequence(depth: depth, stop: .schedulePart)
            let secondStart = firstColon + 1, secondEnd = pos
            var secondColon: Int?
            var third: [PromptNode]?
            if pos < end, bytes[pos] == Byte.colon {
                secondColon = pos
                pos += 1
                third = parseSequence(depth: depth, stop: .scheduleLast)
            }
            let closed = closes(self)
            let whenNodes = third ?? second
            if closed, let (when, whenRange) = scheduleNumber(whenNodes) {
                pos += 1
                let range = source.range(start..<pos)
                if third == nil {
                    if when < 1 {
                        diagnose(.hint,
                                 "[x:\(formatNumber(when))] is prompt editing (x is added after \(formatNumber(when * 100, maxDecimals: 0))% of the steps), not a weight; for a weight write (x:\(formatNumber(when))).",
                                 start..<pos)
                    }
                    return .schedule(Schedule(from: nil, to: first, when: when, whenRange: whenRange, range: range,
                                              fromRange: nil, toRange: source.range(start + 1..<firstColon)))
                }
                return .schedule(Schedule(from: first, to: second, when: when, whenRange: whenRange, range: range,
                                          fromRange: source.range(start + 1..<firstColon), toRange: source.range(secondStart..<secondEnd)))
            }
            // Not prompt editing: A1111 falls back to plain emphasis with literal colons.
            var children = first
            children.append(.text(PromptText(value: ":", range: source.range(firstColon..<firstColon + 1))))
            children.append(contentsOf: second)
            if let c = secondColon, let third {
                children.append(.text(PromptText(value: ":", range: source.range(c..<c + 1))))
                children.append(contentsOf: third)
            }
            if closed {
                pos += 1
                diagnose(.warning,
                         "Prompt editing needs a number at the end: [to:when] or [from:to:when]. As written, A1111 ignores all prompt editing in this prompt.",
                         start..<pos)
            } else {
                diagnose(.error, "'[' is never closed; add ']'.", start..<start + 1)
            }
            return .emphasis(Emphasis(bracket: .square, children: children, explicitWeight: nil, weightRange: nil,
                                      isClosed: closed, range: source.range(start..<pos)))
        }

        let closed = closes(self)
        if closed { pos += 1 } else {
            diagnose(.error, "'[' is never closed; add ']' (A1111 applies ÷1.1 to the rest of the prompt).", start..<start + 1)
        }
        return .emphasis(Emphasis(bracket: .square, children: first, explicitWeight: nil, weightRange: nil,
                                  isClosed: closed, range: source.range(start..<pos)))
    }

    /// The `when` of prompt editing: a lone unsigned number (Lark's NUMBER), spaces allowed around it.
    func scheduleNumber(_ nodes: [PromptNode]) -> (Double, SourceRange)? {
        guard nodes.count == 1, case .text(let t) = nodes[0] else { return nil }
        let trimmed = t.value.trimmingSpaces
        guard let first = trimmed.utf8.first, Byte.isDigit(first) || first == Byte.dot,
              let value = Double(trimmed), value.isFinite else { return nil }
        return (value, t.range)
    }

    /// A1111's `:\s*([+-]?[.\d]+)\s*\)` at `colon` (`PromptAttention`): the number's range and the offset after `)`.
    func weightSuffix(at colon: Int) -> (Range<Int>, Int)? {
        PromptAttention.weightToken(bytes, colon: colon, limit: end)
    }

    // MARK: Extra-network tags

    /// If `<` at `at` starts `<type:`, the offset of that colon.
    func tagNameEnd(at: Int) -> Int? {
        var p = at + 1
        while p < end, Byte.isASCIIWord(bytes[p]) { p += 1 }
        guard p > at + 1, p < end, bytes[p] == Byte.colon else { return nil }
        return p
    }

    /// `<type:name:arg…>`. Stops at `>`; a line end or another `<` first means the tag is unterminated.
    mutating func parseTag(nameStart: Int, colon: Int) -> ExtraNetworkTag {
        let start = nameStart - 1
        let type = String(decoding: bytes[nameStart..<colon], as: UTF8.self).lowercased()
        var p = colon + 1
        while p < end, bytes[p] != Byte.greater, bytes[p] != Byte.newline, bytes[p] != Byte.cr, bytes[p] != Byte.less { p += 1 }
        let closed = p < end && bytes[p] == Byte.greater
        let contentEnd = p
        pos = closed ? p + 1 : p

        // Split the content on ':' into the name and arguments.
        var parts: [Range<Int>] = []
        var partStart = colon + 1
        for i in (colon + 1)..<contentEnd where bytes[i] == Byte.colon {
            parts.append(partStart..<i)
            partStart = i + 1
        }
        parts.append(partStart..<contentEnd)
        let nameRange = trimmed(parts[0])
        let name = source.slice(nameRange)
        var arguments: [TagArgument] = []
        for part in parts.dropFirst() {
            let r = trimmed(part)
            let text = source.slice(r)
            if let eq = text.firstIndex(of: "="), text[..<eq].allSatisfy({ $0.isLetter || $0 == "_" }), eq != text.startIndex {
                arguments.append(TagArgument(key: String(text[..<eq]).lowercased(), value: String(text[text.index(after: eq)...]), range: source.range(r)))
            } else {
                arguments.append(TagArgument(key: nil, value: text, range: source.range(r)))
            }
        }
        let tag = ExtraNetworkTag(type: type, name: name, nameRange: source.range(nameRange), arguments: arguments,
                                  isClosed: closed, range: source.range(start..<pos))
        if !closed {
            diagnose(.error, "<\(type):…> tag is never closed; add '>'.", start..<contentEnd)
        }
        if name.isEmpty {
            diagnose(.error, "<\(type):…> tag has no name; write <\(type):NAME:WEIGHT>.", start..<pos)
        }
        if tag.isLoRA {
            for (index, arg) in tag.positional.prefix(2).enumerated() where arg.number == nil {
                // The second positional may be a block-weight preset (lbw extension); only the first must be numeric.
                if index == 0 || arg.value.isEmpty {
                    diagnose(.error, "Bad LoRA weight '\(arg.value)': write a number, e.g. <\(type):\(name):0.8>.", arg.range.utf8)
                }
            }
            for key in ["te", "unet", "dyn"] {
                if let arg = tag.named(key), arg.number == nil {
                    diagnose(.error, "Bad \(key)= value '\(arg.value)': write a number.", arg.range.utf8)
                }
            }
        }
        return tag
    }

    func trimmed(_ r: Range<Int>) -> Range<Int> {
        var lo = r.lowerBound, hi = r.upperBound
        while lo < hi, Byte.isSpace(bytes[lo]) { lo += 1 }
        while hi > lo, Byte.isSpace(bytes[hi - 1]) { hi -= 1 }
        return lo..<hi
    }

    // MARK: Text, BREAK and wildcards

    /// Turns a raw text run into text nodes, splitting out `BREAK` keywords and `__wildcards__`.
    func textNodes(_ r: Range<Int>) -> [PromptNode] {
        var out: [PromptNode] = []
        var runStart = r.lowerBound
        var p = r.lowerBound
        while p < r.upperBound {
            if bytes[p] == Byte.backslash {
                p += (p + 1 < r.upperBound && Byte.isEscapable(bytes[p + 1])) ? 2 : 1
                continue
            }
            if let breakEnd = keyword("BREAK", at: p, in: r) {
                if runStart < p { out.append(.text(text(runStart..<p))) }
                out.append(.breakKeyword(source.range(p..<breakEnd)))
                p = breakEnd
                runStart = p
                continue
            }
            if let (nameRange, wildEnd) = wildcard(at: p, in: r) {
                if runStart < p { out.append(.text(text(runStart..<p))) }
                out.append(.wildcard(Wildcard(name: source.slice(nameRange), range: source.range(p..<wildEnd))))
                p = wildEnd
                runStart = p
                continue
            }
            p += 1
        }
        if runStart < r.upperBound { out.append(.text(text(runStart..<r.upperBound))) }
        return out
    }

    /// An uppercase keyword with word boundaries on both sides (`\bBREAK\b`).
    func keyword(_ word: StaticString, at p: Int, in r: Range<Int>) -> Int? {
        let n = word.utf8CodeUnitCount
        guard p + n <= r.upperBound else { return nil }
        let w = word.utf8Start
        for i in 0..<n where bytes[p + i] != w[i] { return nil }
        if p > 0, Byte.isWord(bytes[p - 1]) { return nil }
        if p + n < bytes.count, Byte.isWord(bytes[p + n]) { return nil }
        return p + n
    }

    /// `__name__` with name characters [A-Za-z0-9_/.-*]: the name's range and the end offset.
    func wildcard(at p: Int, in r: Range<Int>) -> (Range<Int>, Int)? {
        guard p + 4 < r.upperBound, bytes[p] == Byte.underscore, bytes[p + 1] == Byte.underscore,
              p == 0 || !Byte.isASCIIWord(bytes[p - 1]) else { return nil }
        var q = p + 2
        while q + 1 < r.upperBound {
            let b = bytes[q]
            if b == Byte.underscore, bytes[q + 1] == Byte.underscore, q > p + 2 { return ((p + 2)..<q, q + 2) }
            guard Byte.isASCIIWord(b) || b == 0x2F || b == Byte.minus || b == Byte.dot || b == 0x2A else { return nil }
            q += 1
        }
        return nil
    }

    func text(_ r: Range<Int>) -> PromptText {
        var value: [UInt8] = []
        value.reserveCapacity(r.count)
        var p = r.lowerBound
        while p < r.upperBound {
            if bytes[p] == Byte.backslash, p + 1 < r.upperBound, Byte.isEscapable(bytes[p + 1]) {
                value.append(bytes[p + 1])
                p += 2
            } else {
                value.append(bytes[p])
                p += 1
            }
        }
        return PromptText(value: String(decoding: value, as: UTF8.self), range: source.range(r))
    }

    // MARK: AND sections

    /// Splits top-level nodes at `AND` (positive prompts only) into sections.
    func splitSections(_ nodes: [PromptNode], range r: Range<Int>, isNegative: Bool) -> [PromptSection] {
        var sections: [PromptSection] = []
        var current: [PromptNode] = []
        var sectionStart = r.lowerBound
        var andRange: SourceRange?

        func close(at offset: Int) {
            sections.append(PromptSection(nodes: current, range: source.range(sectionStart..<offset), weight: nil,
                                          weightRange: nil, andRange: andRange))
            current = []
        }

        for node in nodes {
            guard !isNegative, case .text(let t) = node else {
                current.append(node)
                continue
            }
            var runStart = t.range.utf8.lowerBound
            var p = runStart
            let tr = t.range.utf8
            while p < tr.upperBound {
                if bytes[p] == Byte.backslash {
                    p += 2
                    continue
                }
                if let andEnd = keyword("AND", at: p, in: tr) {
                    if runStart < p { current.append(.text(text(runStart..<p))) }
                    close(at: p)
                    andRange = source.range(p..<andEnd)
                    sectionStart = andEnd
                    p = andEnd
                    runStart = p
                    continue
                }
                p += 1
            }
            if runStart < tr.upperBound { current.append(.text(text(runStart..<tr.upperBound))) }
        }
        close(at: r.upperBound)
        return sections
    }

    /// A1111 reads a trailing `:number` of each sub-prompt as its weight (`re_weight`).
    mutating func extractSectionWeights(_ sections: inout [PromptSection]) {
        let hasAND = sections.count > 1
        for i in sections.indices {
            guard let lastIndex = sections[i].nodes.lastIndex(where: { if case .comment = $0 { false } else { true } }),
                  case .text(let t) = sections[i].nodes[lastIndex] else { continue }
            let r = t.range.utf8
            var p = r.upperBound
            while p > r.lowerBound, Byte.isSpace(bytes[p - 1]) { p -= 1 }
            let numberEnd = p
            while p > r.lowerBound, Byte.isDigit(bytes[p - 1]) || bytes[p - 1] == Byte.dot { p -= 1 }
            guard p < numberEnd else { continue }
            if p > r.lowerBound, bytes[p - 1] == Byte.plus || bytes[p - 1] == Byte.minus { p -= 1 }
            let numberStart = p
            while p > r.lowerBound, Byte.isSpace(bytes[p - 1]) { p -= 1 }
            guard p > r.lowerBound, bytes[p - 1] == Byte.colon else { continue }
            let colon = p - 1
            guard colon == r.lowerBound || bytes[colon - 1] != Byte.backslash,
                  let weight = Double(source.slice(numberStart..<numberEnd)) else { continue }
            var start = colon
            while start > r.lowerBound, Byte.isSpace(bytes[start - 1]) { start -= 1 }
            sections[i].weight = weight
            sections[i].weightRange = source.range(numberStart..<numberEnd)
            if start > r.lowerBound {
                sections[i].nodes[lastIndex] = .text(text(r.lowerBound..<start))
            } else {
                sections[i].nodes.remove(at: lastIndex)
            }
            if !hasAND {
                diagnose(.information,
                         "':\(formatNumber(weight))' at the end of the prompt sets the weight of the whole prompt (A1111 composable diffusion), not of the last tag.",
                         colon..<numberEnd)
            }
        }
    }
}
