import StylusCore

/// Semantic tokens for the prompt syntax: network tags, weights, emphasis brackets, BREAK/AND,
/// wildcards and comments. Tokens are single-line, sorted and non-overlapping.
enum SemanticTokensHandler {
    /// Standard token type names, so every theme colours them.
    static let legend = SemanticTokensLegend(
        tokenTypes: ["keyword", "function", "number", "operator", "variable", "comment", "parameter"],
        tokenModifiers: [])

    enum Kind: Int { case keyword, function, number, `operator`, variable, comment, parameter }

    struct Token { var range: LSPRange; var kind: Kind }

    static func tokens(_ snapshot: DocumentSnapshot) -> SemanticTokens {
        let file = snapshot.file
        var out: [Token] = []
        let source = file.source
        func add(_ r: SourceRange?, _ kind: Kind) {
            guard let r, !r.utf8.isEmpty else { return }
            out.append(Token(range: r.lsp, kind: kind))
        }
        func add(utf8 r: Range<Int>, _ kind: Kind) {
            guard !r.isEmpty else { return }
            add(source.range(r), kind)
        }
        for syntax in [file.positive] + (file.negative.map { [$0] } ?? []) {
            for section in syntax.sections {
                if let and = section.andRange { add(and, .keyword) }
                add(section.weightRange, .number)
                PromptNode.walk(section.nodes) { node, _ in
                    switch node {
                    case .tag(let tag):
                        let start = tag.range.utf8.lowerBound
                        add(utf8: (start + 1)..<min(tag.range.utf8.upperBound, start + 1 + tag.type.utf8.count), .keyword)
                        add(tag.nameRange, .function)
                        for arg in tag.arguments { addArgument(arg, source: source, add: add) }
                    case .emphasis(let e):
                        let lo = e.range.utf8.lowerBound
                        add(utf8: lo..<lo + 1, .operator)
                        add(e.weightRange, .number)
                        if e.isClosed { add(utf8: (e.range.utf8.upperBound - 1)..<e.range.utf8.upperBound, .operator) }
                    case .schedule(let s):
                        add(s.whenRange, .number)
                    case .breakKeyword(let r):
                        add(r, .keyword)
                    case .wildcard(let w):
                        add(w.range, .variable)
                    case .comment(let r):
                        add(r, .comment)
                    case .text, .alternation:
                        break
                    }
                }
            }
        }
        return encode(out)
    }

    /// `0.8` → number; `te=0.8` → parameter name and number.
    private static func addArgument(_ arg: TagArgument, source: SourceText, add: (Range<Int>, Kind) -> Void) {
        let bytes = source.bytes
        var lo = arg.range.utf8.lowerBound, hi = arg.range.utf8.upperBound
        while lo < hi, bytes[lo] == 0x20 { lo += 1 }
        while hi > lo, bytes[hi - 1] == 0x20 { hi -= 1 }
        if let key = arg.key {
            let keyEnd = min(hi, lo + key.utf8.count)
            add(lo..<keyEnd, .parameter)
            lo = keyEnd
            while lo < hi, bytes[lo] == UInt8(ascii: "=") || bytes[lo] == 0x20 { lo += 1 }
        }
        if arg.number != nil { add(lo..<hi, .number) }
    }

    /// Relative encoding; drops multi-line and overlapping tokens.
    static func encode(_ tokens: [Token]) -> SemanticTokens {
        let sorted = tokens.sorted { $0.range.start < $1.range.start }
        var data: [Int] = []
        data.reserveCapacity(sorted.count * 5)
        var line = 0, char = 0
        var lastEnd = Position(line: 0, character: 0)
        for t in sorted {
            let s = t.range.start, e = t.range.end
            guard s.line == e.line, e.character > s.character, !(s < lastEnd) else { continue }
            data += [s.line - line, s.line == line ? s.character - char : s.character, e.character - s.character, t.kind.rawValue, 0]
            line = s.line
            char = s.character
            lastEnd = e
        }
        return SemanticTokens(data: data)
    }
}
