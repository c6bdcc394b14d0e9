import ArgumentParser
import Foundation
import StylusCore

struct ParseCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "parse",
        abstract: "Parse a prompt file: syntax tree, topics and diagnostics.",
        discussion: "Reads FILE (or standard input for '-'). Exit 0 when the file was read, even if it has syntax problems; they are reported as diagnostics.")

    @Flag(name: .long, help: "Print one JSON object (tree, topics, diagnostics, settings).")
    var json = false

    @Flag(name: .long, help: "Report parse, lint and keyword times on stderr (for benchmarks).")
    var timing = false

    @Argument(help: "A .sdprompt file, or '-' for standard input.")
    var file: String

    func run() throws {
        let text: String
        do {
            text = try InputFiles.readPrompt(file)
        } catch {
            printError("stylus parse: \(error)")
            throw CLIExit.badInput
        }
        let clock = ContinuousClock()
        let t0 = clock.now
        let prompt = PromptFile(text: text)
        let t1 = clock.now
        let diagnostics = PromptLinter().diagnostics(for: prompt)
        let t2 = clock.now
        let topics = prompt.topics
        let t3 = clock.now
        if timing {
            func ms(_ d: Duration) -> String { formatNumber(d.milliseconds) }
            let mb = Double(text.utf8.count) / 1_000_000
            let parseSeconds = (t1 - t0).milliseconds / 1000
            printError("timing: \(text.utf8.count) bytes; parse \(ms(t1 - t0)) ms (\(formatNumber(mb / max(parseSeconds, 1e-9), maxDecimals: 1)) MB/s), lint \(ms(t2 - t1)) ms, topics \(ms(t3 - t2)) ms")
        }
        if json {
            let output = ParseOutput(file: file, settings: prompt.settings, frontmatter: prompt.frontmatterRange,
                                     positive: prompt.positive, negative: prompt.negative,
                                     negativeText: prompt.negativeText, topics: topics, diagnostics: diagnostics,
                                     weights: ParseWeights(positive: prompt.a1111Positive, negative: prompt.a1111Negative))
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            // JSON has no inf or nan, and a prompt may hold them (`<lora:x:inf>`); their diagnostics say so.
            encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
            printOut(String(decoding: try encoder.encode(output), as: UTF8.self))
        } else {
            printOut(TreePrinter.describe(prompt, topics: topics, diagnostics: diagnostics, file: file))
        }
    }
}

struct ParseOutput: Encodable {
    var file: String
    var settings: PromptSettings
    var frontmatter: SourceRange?
    var positive: PromptSyntax
    var negative: PromptSyntax?
    var negativeText: String?
    var topics: [Topic]
    var diagnostics: [PromptDiagnostic]
    /// A1111's effective weights (`PromptAttention`), per AND part and prompt-editing step.
    var weights: ParseWeights
}

struct ParseWeights: Encodable {
    var positive: A1111Prompt
    var negative: A1111Prompt?
}

/// The human-readable form of `stylus parse`.
enum TreePrinter {
    static func describe(_ prompt: PromptFile, topics: [Topic], diagnostics: [PromptDiagnostic], file: String) -> String {
        var lines: [String] = []
        lines.append("positive:")
        for (i, section) in prompt.positive.sections.enumerated() {
            if prompt.positive.sections.count > 1 || section.weight != nil {
                lines.append("  section \(i + 1)" + (section.weight.map { " (weight \(formatNumber($0)))" } ?? ""))
            }
            append(section.nodes, indent: 2, weight: 1, a1111: prompt.a1111Positive, to: &lines)
        }
        if let negative = prompt.negative {
            lines.append("negative:")
            for section in negative.sections { append(section.nodes, indent: 2, weight: 1, a1111: prompt.a1111Negative, to: &lines) }
        } else if let text = prompt.negativeText {
            lines.append("negative: \(quote(text))")
        }
        lines.append("topics:")
        for t in topics {
            let weight = t.weight == 1 ? "" : " ×\(formatNumber(t.weight))"
            lines.append("  \(t.range.lsp.start) \(t.keyword)\(weight)\(t.isAction ? " (action)" : "")")
        }
        if !diagnostics.isEmpty {
            lines.append("diagnostics:")
            for d in diagnostics {
                lines.append("  \(file):\(d.range.lsp.start): \(d.severity.rawValue) [\(d.code)] \(d.message)")
            }
        }
        return lines.joined(separator: "\n")
    }

    /// Text weights are A1111's (`a1111`, looked up at the text's first character); the tree's
    /// product of group multipliers only where A1111 encodes nothing.
    static func append(_ nodes: [PromptNode], indent: Int, weight: Double, a1111: A1111Prompt?, to lines: inout [String]) {
        let pad = String(repeating: "  ", count: indent)
        for node in nodes {
            let at = "\(node.range.lsp.start)"
            switch node {
            case .text(let t):
                let effective = a1111?.weight(atSourceOffset: t.range.utf8.lowerBound) ?? weight
                let w = effective == 1 ? "" : " ×\(formatNumber(effective))"
                lines.append("\(pad)text \(at) \(quote(t.value))\(w)")
            case .emphasis(let e):
                let open = e.bracket == .round ? "(" : "["
                lines.append("\(pad)\(open) \(at) ×\(formatNumber(e.multiplier))\(e.isClosed ? "" : " (unclosed)")")
                append(e.children, indent: indent + 1, weight: weight * e.multiplier, a1111: a1111, to: &lines)
            case .schedule(let s):
                lines.append("\(pad)schedule \(at) when \(formatNumber(s.when))")
                if let from = s.from {
                    lines.append("\(pad)  from:")
                    append(from, indent: indent + 2, weight: weight, a1111: a1111, to: &lines)
                }
                lines.append("\(pad)  to:")
                append(s.to, indent: indent + 2, weight: weight, a1111: a1111, to: &lines)
            case .alternation(let a):
                lines.append("\(pad)alternation \(at)")
                for option in a.options {
                    lines.append("\(pad)  option:")
                    append(option, indent: indent + 2, weight: weight, a1111: a1111, to: &lines)
                }
            case .tag(let t):
                let args = t.arguments.map { ($0.key.map { "\($0)=" } ?? "") + $0.value }.joined(separator: ":")
                lines.append("\(pad)<\(t.type)> \(at) \(t.name)\(args.isEmpty ? "" : " " + args)\(t.isClosed ? "" : " (unclosed)")")
            case .wildcard(let w):
                lines.append("\(pad)wildcard \(at) \(w.name)")
            case .breakKeyword:
                lines.append("\(pad)BREAK \(at)")
            case .comment:
                lines.append("\(pad)comment \(at)")
            }
        }
    }

    static func quote(_ s: String) -> String {
        var out = "\""
        for ch in s {
            switch ch {
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\"": out += "\\\""
            default: out.append(ch)
            }
        }
        return out + "\""
    }
}
