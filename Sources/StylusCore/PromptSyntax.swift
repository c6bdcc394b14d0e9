/// The syntax tree of an A1111-style prompt (README, "Prompt files").
///
/// Every node keeps its source range in the document, so editors can point at it. The tree is
/// what the parser recovered: unbalanced brackets still give groups (marked `isClosed == false`)
/// and a diagnostic, never a failure.

/// A message about the prompt with a stable `code` (docs/CONTRACTS.md, Language server), e.g. `syntax` or `duplicate-lora`.
public struct PromptDiagnostic: Sendable, Equatable, Codable {
    public enum Severity: String, Sendable, Codable, Comparable {
        case error, warning, information, hint

        private var rank: Int {
            switch self {
            case .error: 0
            case .warning: 1
            case .information: 2
            case .hint: 3
            }
        }

        public static func < (a: Severity, b: Severity) -> Bool { a.rank < b.rank }

        /// The number LSP gives this severity (1 error … 4 hint): editors and MCP's `check_prompt` carry it.
        public var lspValue: Int { rank + 1 }
    }

    /// The `source` editors show beside the diagnostic (code actions fix only their own).
    public static let source = "stylus"

    public var code: DiagnosticCode
    public var severity: Severity
    public var message: String
    public var range: SourceRange
    /// What a quick fix needs (e.g. `alias`, `trigger`, `aliases`); nil for most diagnostics.
    public var data: [String: DiagnosticValue]?

    public init(code: DiagnosticCode, severity: Severity, message: String, range: SourceRange,
                data: [String: DiagnosticValue]? = nil) {
        self.code = code
        self.severity = severity
        self.message = message
        self.range = range
        self.data = data
    }
}

/// A run of plain prompt text. `value` has escapes (`\(` …) resolved; `range` covers the source.
public struct PromptText: Sendable, Equatable {
    public var value: String
    public var range: SourceRange
}

/// `(x)`, `(x:1.3)` or `[x]`.
public struct Emphasis: Sendable, Equatable {
    public enum Bracket: String, Sendable, Codable { case round, square }

    public var bracket: Bracket
    public var children: [PromptNode]
    /// The number in `(x:1.3)`, when present and valid.
    public var explicitWeight: Double?
    public var weightRange: SourceRange?
    /// False when the group was closed implicitly (end of text or a mismatched bracket).
    public var isClosed: Bool
    public var range: SourceRange

    /// The factor this group applies to its content, as A1111 does: ×1.1 for `( )`, ÷1.1 for `[ ]`,
    /// or the explicit weight.
    public var multiplier: Double {
        if let explicitWeight { return explicitWeight }
        return bracket == .round ? 1.1 : 1 / 1.1
    }
}

/// Prompt editing `[from:to:when]`, `[to:when]` or `[from::when]`.
public struct Schedule: Sendable, Equatable {
    /// Text used before the switch; nil for `[to:when]` (nothing before).
    public var from: [PromptNode]?
    /// Text used after the switch (empty for `[from::when]`).
    public var to: [PromptNode]
    /// A fraction of the steps when < 1, otherwise a step number.
    public var when: Double
    public var whenRange: SourceRange
    public var range: SourceRange
    /// The source of `from` (between `[` and the first `:`), nil for `[to:when]`.
    public var fromRange: SourceRange?
    /// The source of `to`.
    public var toRange: SourceRange
}

/// Alternation `[a|b|c]`: a different option on each sampling step.
public struct Alternation: Sendable, Equatable {
    public var options: [[PromptNode]]
    public var range: SourceRange
    /// The source of each option (between `[`, `|` and `]`).
    public var optionRanges: [SourceRange]
    /// False when the closing `]` is missing.
    public var isClosed: Bool
}

/// One argument of an extra-network tag: positional (`0.8`) or named (`te=0.8`).
public struct TagArgument: Sendable, Equatable {
    public var key: String?
    public var value: String
    public var range: SourceRange

    public var number: Double? { Double(value.trimmingSpaces) }
}

/// `<lora:name:te[:unet]>`, `<lyco:…>`, `<hypernet:…>` and other `<type:args>` tags.
public struct ExtraNetworkTag: Sendable, Equatable {
    /// `lora`, `lyco`, `hypernet`, … (lowercased).
    public var type: String
    public var name: String
    public var nameRange: SourceRange
    /// Arguments after the name, in order.
    public var arguments: [TagArgument]
    public var isClosed: Bool
    public var range: SourceRange

    /// LoRA and LyCORIS tags share A1111's network arguments.
    public var isLoRA: Bool { type == "lora" || type == "lyco" }

    public var positional: [TagArgument] { arguments.filter { $0.key == nil } }

    public func named(_ key: String) -> TagArgument? { arguments.first { $0.key == key } }

    /// Text-encoder multiplier: first positional or `te=`, default 1.0 (A1111).
    public var textEncoderWeight: Double? {
        if let te = named("te") { return te.number }
        guard let first = positional.first else { return 1.0 }
        return first.number
    }

    /// UNet multiplier: second positional or `unet=`, default the text-encoder weight (A1111).
    public var unetWeight: Double? {
        if let unet = named("unet") { return unet.number }
        let pos = positional
        if pos.count >= 2, let n = pos[1].number { return n }
        return textEncoderWeight
    }
}

/// `__name__` from the wildcard extensions: tolerated and kept whole.
public struct Wildcard: Sendable, Equatable {
    public var name: String
    public var range: SourceRange
}

public indirect enum PromptNode: Sendable, Equatable {
    case text(PromptText)
    case emphasis(Emphasis)
    case schedule(Schedule)
    case alternation(Alternation)
    case tag(ExtraNetworkTag)
    case wildcard(Wildcard)
    /// `BREAK`: pads the current 75-token chunk and starts a new one.
    case breakKeyword(SourceRange)
    /// `# …` to the end of the line (removed before generation).
    case comment(SourceRange)

    public var range: SourceRange {
        switch self {
        case .text(let t): t.range
        case .emphasis(let e): e.range
        case .schedule(let s): s.range
        case .alternation(let a): a.range
        case .tag(let t): t.range
        case .wildcard(let w): w.range
        case .breakKeyword(let r), .comment(let r): r
        }
    }
}

/// One sub-prompt of composable diffusion (`a :1.2 AND b :0.8`); most prompts have one.
public struct PromptSection: Sendable, Equatable {
    public var nodes: [PromptNode]
    public var range: SourceRange
    /// The trailing `:weight` of the sub-prompt, if any.
    public var weight: Double?
    public var weightRange: SourceRange?
    /// The `AND` keyword that starts this section (nil for the first).
    public var andRange: SourceRange?
}

/// The parse of one prompt text (a positive or a negative prompt).
public struct PromptSyntax: Sendable, Equatable {
    public var sections: [PromptSection]
    public var diagnostics: [PromptDiagnostic]
    public var range: SourceRange
    public var isNegative: Bool

    /// All extra-network tags in source order, at any depth.
    public var tags: [ExtraNetworkTag] {
        var out: [ExtraNetworkTag] = []
        for section in sections {
            PromptNode.walk(section.nodes) { node, _ in
                if case .tag(let t) = node { out.append(t) }
            }
        }
        return out
    }
}

extension PromptNode {
    /// Visits nodes depth-first in source order with the effective emphasis weight around each.
    /// Schedules visit both `from` and `to`; alternations visit every option.
    public static func walk(_ nodes: [PromptNode], weight: Double = 1, _ visit: (PromptNode, Double) -> Void) {
        for node in nodes {
            visit(node, weight)
            switch node {
            case .emphasis(let e):
                walk(e.children, weight: weight * e.multiplier, visit)
            case .schedule(let s):
                if let from = s.from { walk(from, weight: weight, visit) }
                walk(s.to, weight: weight, visit)
            case .alternation(let a):
                for option in a.options { walk(option, weight: weight, visit) }
            default:
                break
            }
        }
    }
}

extension String {
    /// Trims ASCII spaces, tabs and line ends (cheaper and more predictable than Foundation here).
    var trimmingSpaces: String {
        // ASCII fast path: most prompt text has no leading/trailing Unicode spaces.
        let bytes = utf8
        if let first = bytes.first, let last = bytes.last, first > 0x20, first < 0x80, last > 0x20, last < 0x80 {
            return self
        }
        let scalars = unicodeScalars
        var lo = scalars.startIndex, hi = scalars.endIndex
        while lo < hi, scalars[lo].properties.isWhitespace { lo = scalars.index(after: lo) }
        while hi > lo, scalars[scalars.index(before: hi)].properties.isWhitespace { hi = scalars.index(before: hi) }
        return String(scalars[lo..<hi])
    }
}
