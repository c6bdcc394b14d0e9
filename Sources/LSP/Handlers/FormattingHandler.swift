import StylusCore

/// Tidies commas and spaces in prompt text, and nothing else: one space after a comma, none
/// before it, empty items (`, ,`) dropped, runs of spaces collapsed, trailing spaces removed.
/// Tags, weights, brackets, comments, line breaks and the frontmatter are left as written.
/// Edits cover only the text runs that change (none when the file is already tidy).
enum FormattingHandler {
    static func edits(_ snapshot: DocumentSnapshot) -> [TextEdit] {
        let file = snapshot.file
        let source = file.source
        var runs: [SourceRange] = []
        for syntax in [file.positive] + (file.negative.map { [$0] } ?? []) {
            for section in syntax.sections { collectRuns(section.nodes, into: &runs) }
        }
        let bytes = source.bytes
        func isLineBreak(_ i: Int) -> Bool { bytes[i] == 0x0A || bytes[i] == 0x0D }
        var edits: [TextEdit] = []
        for run in runs {
            let r = run.utf8
            let startsMidLine = r.lowerBound > 0 && !isLineBreak(r.lowerBound - 1)
            let followedOnLine = r.upperBound < bytes.count && !isLineBreak(r.upperBound)
            let old = source.slice(r)
            let new = tidy(old, startsMidLine: startsMidLine, followedOnLine: followedOnLine)
            if new != old { edits.append(TextEdit(range: run.lsp, newText: new)) }
        }
        return edits
    }

    /// Text runs in source order, at any depth.
    private static func collectRuns(_ nodes: [PromptNode], into runs: inout [SourceRange]) {
        for node in nodes {
            switch node {
            case .text(let t): runs.append(t.range)
            case .emphasis(let e): collectRuns(e.children, into: &runs)
            case .schedule(let s):
                if let from = s.from { collectRuns(from, into: &runs) }
                collectRuns(s.to, into: &runs)
            case .alternation(let a):
                for option in a.options { collectRuns(option, into: &runs) }
            default: break
            }
        }
    }

    /// The rules, line by line (line breaks are kept as they are). `startsMidLine`: the run
    /// follows another node on its first line (its leading space separates them);
    /// `followedOnLine`: another node follows on its last line (its trailing space separates them).
    static func tidy(_ text: String, startsMidLine: Bool, followedOnLine: Bool) -> String {
        var lines: [Substring] = []
        var terminators: [String] = []
        var lineStart = text.startIndex
        var i = text.startIndex
        while i < text.endIndex {
            let c = text[i]
            if c == "\r\n" || c == "\n" || c == "\r" {
                lines.append(text[lineStart..<i])
                terminators.append(String(c))
                lineStart = text.index(after: i)
            }
            i = text.index(after: i)
        }
        lines.append(text[lineStart...])
        var out = ""
        for (n, line) in lines.enumerated() {
            let isLast = n == lines.count - 1
            out += tidyLine(line, midLine: n == 0 && startsMidLine, atLineEnd: !isLast || !followedOnLine)
            if !isLast { out += terminators[n] }
        }
        return out
    }

    private static func tidyLine(_ line: Substring, midLine: Bool, atLineEnd: Bool) -> String {
        let leading = line.prefix { $0 == " " || $0 == "\t" }
        var out = midLine ? "" : String(leading)   // indentation at a line start is kept
        var pendingSpace = midLine && !leading.isEmpty
        var lastWasComma = false
        for c in line.dropFirst(leading.count) {
            if c == " " || c == "\t" {
                pendingSpace = true
            } else if c == "," {
                pendingSpace = true                 // no space before a comma, one after
                if lastWasComma { continue }        // empty item: drop it
                out.append(",")
                lastWasComma = true
            } else {
                if pendingSpace { out.append(" ") }
                out.append(c)
                pendingSpace = false
                lastWasComma = false
            }
        }
        // A trailing space separates this run from the next node on the line; at a line end it goes.
        if pendingSpace, !atLineEnd { out.append(" ") }
        return out
    }
}
