/// Counts CLIP tokens of plain prompt text (no BOS/EOS). The renderer's CLIP BPE tokenizer
/// implements it; without one, the `token-limit` check is skipped.
public protocol PromptTokenCounter: Sendable {
    func tokenCount(of text: String) -> Int
}

/// Checks on a prompt file that need no adapter catalog: `duplicate-lora`, `lora-in-negative`,
/// `weight-range` and `token-limit` (docs/CONTRACTS.md, Language server). Syntax and frontmatter diagnostics come from the
/// parse itself (`PromptFile.diagnostics`); catalog checks live with the catalog.
public struct PromptLinter: Sendable {
    /// CLIP reads prompts in chunks of this many tokens (plus BOS and EOS).
    public static let chunkTokens = 75
    /// LoRA multipliers outside this range are almost always a typo.
    public static let loraWeightRange: ClosedRange<Double> = -2...2
    /// Explicit emphasis weights outside this range distort images badly.
    public static let emphasisWeightRange: ClosedRange<Double> = 0...2
    /// Past this magnitude (or not finite) no weight can be meant: the conditioning turns to noise
    /// or NaN, so it is an error rather than a warning.
    public static let usableWeightLimit = 100.0

    /// Prompt files are a few KB; past this size no front end analyses a text (a parse tree of a
    /// huge file costs seconds and hundreds of MB for no use).
    public static let maxAnalyzedBytes = 1 << 20

    public var tokenCounter: (any PromptTokenCounter)?

    public init(tokenCounter: (any PromptTokenCounter)? = nil) {
        self.tokenCounter = tokenCounter
    }

    /// The file's parse diagnostics plus these checks, in document order.
    public func diagnostics(for file: PromptFile) -> [PromptDiagnostic] {
        var out = file.diagnostics
        out += loraChecks(file)
        out += weightChecks(file.positive)
        if let negative = file.negative { out += weightChecks(negative) }
        if let tokenCounter { out += tokenChecks(file.positive, counter: tokenCounter) }
        return out.sorted { ($0.range.utf8.lowerBound, $0.severity) < ($1.range.utf8.lowerBound, $1.severity) }
    }

    /// The one diagnostic of a text longer than `maxAnalyzedBytes` (nil for a shorter one), at its start.
    public static func tooLargeToAnalyze(byteCount: Int) -> PromptDiagnostic? {
        guard byteCount > maxAnalyzedBytes else { return nil }
        let start = Position(line: 0, character: 0)
        return PromptDiagnostic(
            code: .documentTooLarge, severity: .information,
            message: "This file has \(byteCount / 1024) KB; prompt checks, highlighting and formatting are off above \(maxAnalyzedBytes / 1024) KB.",
            range: SourceRange(utf8: 0..<0, lsp: LSPRange(start: start, end: start)))
    }

    func loraChecks(_ file: PromptFile) -> [PromptDiagnostic] {
        var out: [PromptDiagnostic] = []
        var first: [String: ExtraNetworkTag] = [:]
        for tag in file.positive.tags where tag.isLoRA && !tag.name.isEmpty {
            if let earlier = first[tag.name] {
                let a = earlier.textEncoderWeight.map { formatNumber($0) } ?? "?"
                let b = tag.textEncoderWeight.map { formatNumber($0) } ?? "?"
                var sum = "?"
                if let x = earlier.textEncoderWeight, let y = tag.textEncoderWeight { sum = formatNumber(x + y) }
                out.append(PromptDiagnostic(
                    code: .duplicateLoRA, severity: .warning,
                    message: "LoRA '\(tag.name)' is already in the prompt; A1111 adds the multipliers (\(a) + \(b) = \(sum)). Remove one tag.",
                    range: tag.range))
            } else {
                first[tag.name] = tag
            }
        }
        for tag in file.negative?.tags ?? [] where tag.isLoRA {
            out.append(PromptDiagnostic(
                code: .loraInNegative, severity: .warning,
                message: "LoRA tags in the negative prompt are not applied (A1111 reads networks from the positive prompt only). Move it to the prompt or remove it.",
                range: tag.range))
        }
        return out
    }

    func weightChecks(_ syntax: PromptSyntax) -> [PromptDiagnostic] {
        var out: [PromptDiagnostic] = []
        for section in syntax.sections {
            PromptNode.walk(section.nodes) { node, _ in
                switch node {
                case .tag(let tag) where tag.isLoRA && !syntax.isNegative:
                    let weights = [("text-encoder", tag.textEncoderWeight), ("UNet", tag.unetWeight)]
                    for (what, weight) in weights {
                        guard let w = weight, !Self.loraWeightRange.contains(w) else { continue }
                        if let d = Self.outOfRange("LoRA \(what) weight", w, usual: Self.loraWeightRange, range: tag.range) {
                            out.append(d)
                            break
                        }
                        out.append(PromptDiagnostic(
                            code: .weightRange, severity: .warning,
                            message: "LoRA \(what) weight \(formatNumber(w)) is outside \(formatNumber(Self.loraWeightRange.lowerBound))…\(formatNumber(Self.loraWeightRange.upperBound)); most adapters break images above about 1.2.",
                            range: tag.range))
                        break
                    }
                case .emphasis(let e):
                    if let w = e.explicitWeight, let r = e.weightRange,
                       let d = Self.outOfRange("Emphasis weight", w, usual: Self.emphasisWeightRange, range: r) {
                        out.append(d)
                    } else if let w = e.explicitWeight, !Self.emphasisWeightRange.contains(w), let r = e.weightRange {
                        out.append(PromptDiagnostic(
                            code: .weightRange, severity: .warning,
                            message: "Emphasis weight \(formatNumber(w)) is outside \(formatNumber(Self.emphasisWeightRange.lowerBound))…\(formatNumber(Self.emphasisWeightRange.upperBound)); values above about 1.5 usually distort the image.",
                            range: r))
                    }
                default:
                    break
                }
            }
        }
        return out
    }

    /// An error for a weight that is not finite or beyond `usableWeightLimit`; nil for any other.
    static func outOfRange(_ what: String, _ w: Double, usual: ClosedRange<Double>, range: SourceRange) -> PromptDiagnostic? {
        guard !w.isFinite || w.magnitude > usableWeightLimit else { return nil }
        return PromptDiagnostic(
            code: .weightRange, severity: .error,
            message: "\(what) \(formatNumber(w)) is out of range; write a number in \(formatNumber(usual.lowerBound))…\(formatNumber(usual.upperBound)).",
            range: range)
    }

    /// One diagnostic per BREAK chunk that spills past 75 CLIP tokens.
    func tokenChecks(_ syntax: PromptSyntax, counter: any PromptTokenCounter) -> [PromptDiagnostic] {
        var out: [PromptDiagnostic] = []
        for section in syntax.sections {
            for chunk in syntax.chunks(of: section) {
                let count = counter.tokenCount(of: chunk.text)
                guard count > Self.chunkTokens, let range = chunk.range else { continue }
                let chunks = (count + Self.chunkTokens - 1) / Self.chunkTokens
                out.append(PromptDiagnostic(
                    code: .tokenLimit, severity: .information,
                    message: "\(count) CLIP tokens: A1111 encodes prompts in 75-token chunks, so this part spans \(chunks) chunks and words near a boundary lose context. Put BREAK where you want the split.",
                    range: range))
            }
        }
        return out
    }
}

/// Plain text between `BREAK`s, as CLIP sees it (tags and comments removed).
public struct PromptChunk: Sendable, Equatable {
    public var text: String
    public var range: SourceRange?
}

extension PromptSyntax {
    /// Splits a section at top-level and nested `BREAK`s into the text CLIP encodes.
    /// Prompt editing contributes its longer branch, alternation its longest option (the token
    /// counter of A1111 counts the longest scheduled variant).
    public func chunks(of section: PromptSection) -> [PromptChunk] {
        var chunks: [PromptChunk] = []
        var text = ""
        var first: SourceRange?, last: SourceRange?

        func close() {
            var range: SourceRange?
            if let first, let last {
                range = SourceRange(utf8: first.utf8.lowerBound..<last.utf8.upperBound,
                                    lsp: LSPRange(start: first.lsp.start, end: last.lsp.end))
            }
            chunks.append(PromptChunk(text: text, range: range))
            text = ""
            first = nil
            last = nil
        }
        func add(_ nodes: [PromptNode]) {
            for node in nodes {
                switch node {
                case .text(let t):
                    text += t.value
                    if first == nil { first = t.range }
                    last = t.range
                case .wildcard(let w):
                    text += "__\(w.name)__"
                case .emphasis(let e):
                    add(e.children)
                case .schedule(let s):
                    let from = s.from.map { Self.plainText($0) } ?? ""
                    add(from.count >= Self.plainText(s.to).count ? (s.from ?? []) : s.to)
                case .alternation(let a):
                    if let longest = a.options.max(by: { Self.plainText($0).count < Self.plainText($1).count }) { add(longest) }
                case .breakKeyword:
                    close()
                case .tag, .comment:
                    break
                }
            }
        }
        add(section.nodes)
        close()
        return chunks
    }

    /// The text of nodes with tags and comments removed (every branch; for measuring only).
    static func plainText(_ nodes: [PromptNode]) -> String {
        var out = ""
        PromptNode.walk(nodes) { node, _ in
            if case .text(let t) = node { out += t.value }
        }
        return out
    }
}
