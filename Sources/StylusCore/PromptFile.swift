import Yams

/// Render and composition settings from a prompt file's YAML frontmatter (docs/CONTRACTS.md, Files).
public struct PromptSettings: Sendable, Equatable, Codable {
    /// Sampling steps a render accepts, wherever they are set (frontmatter, CLI, editor, MCP).
    public static let stepRange = 1...150
    /// Image sides a render accepts, in pixels, multiples of 8 (one latent cell) as diffusers and
    /// A1111 take them; 2048 is already 4× the pixels SD 1.x was trained on.
    public static let sideRange = 64...2048
    /// Classifier-free guidance scales a render accepts.
    public static let cfgRange: ClosedRange<Double> = 0...100

    public var baseModel: String?
    public var checkpoint: String?
    public var negative: String?
    public var steps: Int?
    public var cfg: Double?
    public var sampler: String?
    public var scheduler: String?
    public var seed: Int?
    public var size: ImageSize?
    public var loraDirs: [String]?
    public var masks: String?
    public var samples: Int?
    public var clipSkip: Int?
    public var debias: String?
    public var restoreConcepts: Bool?
    public var renderer: String?
    public var nsfw: Bool?
    /// What the checkpoint's UNet predicts: "v" or "eps" (otherwise read from the checkpoint).
    public var prediction: String?
    /// What a local render multiplies in: "auto", "bf16" or "fp32".
    public var precision: String?

    public init() {}

    enum CodingKeys: String, CodingKey {
        case baseModel = "base_model", checkpoint, negative, steps, cfg, sampler, scheduler, seed, size
        case loraDirs = "lora_dirs", masks, samples, clipSkip = "clip_skip", debias
        case restoreConcepts = "restore_concepts", renderer, nsfw, prediction, precision
    }

    /// Every key the frontmatter accepts.
    public static let knownKeys: [String] = [
        "base_model", "checkpoint", "negative", "steps", "cfg", "sampler", "scheduler", "seed", "size",
        "lora_dirs", "masks", "samples", "clip_skip", "debias", "restore_concepts", "renderer", "nsfw", "prediction",
        "precision",
    ]
}

public struct ImageSize: Sendable, Equatable, Codable, CustomStringConvertible {
    public var width: Int
    public var height: Int

    public init(width: Int, height: Int) {
        self.width = width
        self.height = height
    }

    /// Parses `512x768` (also `512×768`, `512*768`) or a single number for a square.
    public init?(parsing text: String) {
        let parts = text.lowercased().split(whereSeparator: { $0 == "x" || $0 == "×" || $0 == "*" })
            .map { String($0).trimmingSpaces }
        if parts.count == 1, let side = Int(parts[0]) {
            self.init(width: side, height: side)
        } else if parts.count == 2, let w = Int(parts[0]), let h = Int(parts[1]) {
            self.init(width: w, height: h)
        } else {
            return nil
        }
    }

    public var description: String { "\(width)x\(height)" }
}

/// An `.sdprompt` file: optional YAML frontmatter between `---` lines, then an A1111 prompt.
/// A line starting `Negative prompt:` begins the negative prompt (the A1111 infotext convention).
public struct PromptFile: Sendable {
    public let source: SourceText
    public let settings: PromptSettings
    /// The frontmatter block including its `---` lines.
    public let frontmatterRange: SourceRange?
    /// The frontmatter line that sets `base_model`, when one does (catalog checks point at it).
    public let baseModelRange: SourceRange?
    public let positive: PromptSyntax
    /// The negative prompt's tree when it is in the body (or verbatim in the frontmatter).
    public let negative: PromptSyntax?
    /// The negative prompt text from either place (the body wins).
    public let negativeText: String?
    /// Frontmatter and syntax diagnostics, in document order.
    public let diagnostics: [PromptDiagnostic]

    /// The largest frontmatter read, in bytes (YAML between the `---` lines). Settings take a few
    /// hundred bytes, a long negative prompt a few KB; past this the block is reported, not parsed.
    public static let maxFrontmatterBytes = 64 * 1024

    /// The positive prompt's source text (tags and all).
    public var positiveText: String { source.slice(positive.range.utf8) }

    public init(text: String) {
        let source = SourceText(text)
        self.source = source
        var diagnostics: [PromptDiagnostic] = []

        let front = Frontmatter.locate(in: source)
        var settings = PromptSettings()
        var frontNegative: (text: String, range: Range<Int>?, lineRange: Range<Int>)?
        var baseModelLine: Range<Int>?
        if let front {
            let parsed = Frontmatter.parse(front, in: source)
            settings = parsed.settings
            diagnostics += parsed.diagnostics
            frontNegative = parsed.negative
            baseModelLine = parsed.baseModelLine
        }
        frontmatterRange = front.map { source.range($0.block) }
        baseModelRange = baseModelLine.map { source.range($0) }

        // The body: positive prompt, then an optional `Negative prompt:` section.
        let bodyStart = front?.block.upperBound ?? 0
        var positiveEnd = source.utf8Count
        var negativeRange: Range<Int>?
        let marker = Array("Negative prompt:".utf8)
        var line = source.line(ofUTF8: bodyStart)
        if source.lineStarts[line] < bodyStart { line += 1 }
        while line < source.lineCount {
            let start = source.lineStarts[line]
            if start + marker.count <= source.utf8Count, Array(source.bytes[start..<start + marker.count]) == marker {
                positiveEnd = start
                negativeRange = (start + marker.count)..<source.utf8Count
                break
            }
            line += 1
        }
        positive = PromptParser.parse(source, range: bodyStart..<positiveEnd, isNegative: false)
        diagnostics += positive.diagnostics

        if let negativeRange {
            let syntax = PromptParser.parse(source, range: negativeRange, isNegative: true)
            negative = syntax
            negativeText = source.slice(negativeRange).trimmingSpaces
            diagnostics += syntax.diagnostics
            if let frontNegative {
                diagnostics.append(PromptDiagnostic(
                    code: .frontmatter, severity: .warning,
                    message: "The negative prompt is given twice; the body's 'Negative prompt:' is used and the frontmatter 'negative' is ignored.",
                    range: source.range(frontNegative.lineRange)))
            }
        } else if let frontNegative {
            negativeText = frontNegative.text
            if let inPlace = frontNegative.range {
                let syntax = PromptParser.parse(source, range: inPlace, isNegative: true)
                negative = syntax
                diagnostics += syntax.diagnostics
            } else {
                // Quoted or block YAML: the text is not verbatim in the file, so report on the key's line.
                negative = nil
                let syntax = PromptParser.parse(SourceText(frontNegative.text), isNegative: true)
                for d in syntax.diagnostics {
                    diagnostics.append(PromptDiagnostic(code: d.code, severity: d.severity, message: d.message,
                                                        range: source.range(frontNegative.lineRange)))
                }
            }
        } else {
            negative = nil
            negativeText = nil
        }
        self.settings = settings
        self.diagnostics = diagnostics.sorted { $0.range.utf8.lowerBound < $1.range.utf8.lowerBound }
    }

    /// Decodes file bytes as UTF-8 (an optional BOM is dropped), or says where the first bad byte is.
    public static func decode(_ bytes: [UInt8]) throws(PromptFileError) -> String {
        var body = bytes[...]
        if body.starts(with: [0xEF, 0xBB, 0xBF]) { body = body.dropFirst(3) }
        if let text = String(validating: body, as: UTF8.self) { return text }
        // Find the offending byte for the message.
        var offset = body.startIndex
        var decoder = UTF8()
        var iterator = body.makeIterator()
        loop: while true {
            switch decoder.decode(&iterator) {
            case .scalarValue(let s): offset += UTF8.width(s)
            case .emptyInput: break loop
            case .error: break loop
            }
        }
        throw .invalidUTF8(byteOffset: offset)
    }
}

public enum PromptFileError: Error, Equatable, CustomStringConvertible {
    case invalidUTF8(byteOffset: Int)

    public var description: String {
        switch self {
        case .invalidUTF8(let offset):
            "not valid UTF-8 text (first bad byte at offset \(offset)); save the prompt file as UTF-8"
        }
    }
}

// MARK: - Frontmatter

enum Frontmatter {
    struct Location {
        /// The whole block, from the opening `---` through the closing line's end.
        var block: Range<Int>
        /// The YAML between the delimiters.
        var yaml: Range<Int>
        /// Document line of the first YAML line.
        var firstLine: Int
        var closed: Bool
    }

    static func isDelimiter(_ source: SourceText, line: Int, _ marks: [String]) -> Bool {
        let text = source.slice(source.lineStarts[line]..<source.lineContentEnd(line))
        let trimmed = text.trimmingSpaces
        return marks.contains(trimmed) && text.hasPrefix(trimmed)
    }

    static func locate(in source: SourceText) -> Location? {
        guard source.lineCount > 0, isDelimiter(source, line: 0, ["---"]) else { return nil }
        var line = 1
        while line < source.lineCount {
            if isDelimiter(source, line: line, ["---", "..."]) {
                let end = line + 1 < source.lineCount ? source.lineStarts[line + 1] : source.utf8Count
                return Location(block: 0..<end, yaml: source.lineStarts[1]..<source.lineStarts[line], firstLine: 1, closed: true)
            }
            line += 1
        }
        let yamlStart = source.lineCount > 1 ? source.lineStarts[1] : source.utf8Count
        return Location(block: 0..<source.utf8Count, yaml: yamlStart..<source.utf8Count, firstLine: 1, closed: false)
    }

    struct Result {
        var settings = PromptSettings()
        var diagnostics: [PromptDiagnostic] = []
        /// The negative prompt: its text, its verbatim range in the document if it has one, and its line.
        var negative: (text: String, range: Range<Int>?, lineRange: Range<Int>)?
        /// The line of a readable `base_model` setting.
        var baseModelLine: Range<Int>?
    }

    static var maxBytes: Int { PromptFile.maxFrontmatterBytes }

    static func parse(_ location: Location, in source: SourceText) -> Result {
        var result = Result()
        func report(_ severity: PromptDiagnostic.Severity, _ message: String, _ range: Range<Int>) {
            result.diagnostics.append(PromptDiagnostic(code: .frontmatter, severity: severity, message: message, range: source.range(range)))
        }
        if !location.closed {
            report(.error, "Frontmatter is not closed: add a line '---' after the settings.", 0..<source.lineContentEnd(0))
        }
        if location.yaml.count > maxBytes {
            // A YAML parse costs time and memory per key (700k keys: 25 s, 1.75 GB), so a block far
            // beyond any real settings is not read at all.
            report(.error, "Frontmatter is too large to read (\(location.yaml.count / 1024) KB; the limit is \(maxBytes / 1024) KB): "
                   + "its settings are ignored. Keep only the settings (\(PromptSettings.knownKeys.joined(separator: ", "))) between the '---' lines.",
                   0..<source.lineContentEnd(0))
            return result
        }
        let yaml = source.slice(location.yaml)
        if yaml.trimmingSpaces.isEmpty { return result }

        /// Maps a Yams mark (1-based line, column in Unicode scalars) to a document offset and its line's range.
        func offsets(_ mark: Mark?) -> (start: Int, line: Range<Int>) {
            guard let mark else { return (location.yaml.lowerBound, location.yaml) }
            let line = min(location.firstLine + mark.line - 1, source.lineCount - 1)
            let lineStart = source.lineStarts[line], lineEnd = source.lineContentEnd(line)
            var offset = lineStart
            var column = 1
            while offset < lineEnd, column < mark.column {
                let b = source.bytes[offset]
                offset += b < 0x80 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4
                column += 1
            }
            return (min(offset, lineEnd), lineStart..<lineEnd)
        }

        let root: Node?
        do {
            root = try Yams.compose(yaml: yaml)
        } catch let error as YamlError {
            let (message, mark) = describe(error)
            let at = offsets(mark)
            report(.error, "Frontmatter is not valid YAML: \(message).", at.line)
            return result
        } catch {
            report(.error, "Frontmatter is not valid YAML: \(error).", location.yaml)
            return result
        }
        guard let root else { return result }
        guard let mapping = root.mapping else {
            report(.error, "Frontmatter must be 'key: value' lines (a YAML mapping).", offsets(root.mark).line)
            return result
        }

        var seen: Set<String> = []
        for (keyNode, value) in mapping {
            let keyAt = offsets(keyNode.mark)
            guard let key = keyNode.string else {
                report(.error, "Frontmatter keys must be plain words.", keyAt.line)
                continue
            }
            if !seen.insert(key).inserted {
                report(.warning, "'\(key)' is set twice; the last value wins.", keyAt.line)
            }
            let valueAt = offsets(value.mark)
            let lineRange = keyAt.line
            func typeError(_ expected: String) {
                report(.error, "'\(key)' must be \(expected).", lineRange)
            }
            func string() -> String? {
                guard let s = value.scalar?.string, value.scalar != nil else { typeError("text"); return nil }
                return s
            }
            func int(_ range: ClosedRange<Int>, _ what: String) -> Int? {
                guard let s = value.scalar, let n = Int(s.string.trimmingSpaces) else { typeError("a whole number"); return nil }
                guard range.contains(n) else {
                    report(.error, "'\(key)' must be \(what) (got \(n)).", lineRange)
                    return nil
                }
                return n
            }
            func bool() -> Bool? {
                guard let b = value.bool else { typeError("true or false"); return nil }
                return b
            }
            var s = result.settings
            switch key {
            case "base_model":
                s.baseModel = string()
                if s.baseModel != nil { result.baseModelLine = lineRange }
            case "checkpoint": s.checkpoint = string()
            case "sampler": s.sampler = string()
            case "scheduler": s.scheduler = string()
            case "masks":
                if let m = string() {
                    if ["all", "one_hot_loras", "one_hot_concepts"].contains(m) { s.masks = m } else {
                        report(.error, "'masks' must be all, one_hot_loras or one_hot_concepts (got '\(m)').", lineRange)
                    }
                }
            case "debias": s.debias = string()
            case "prediction":
                if let p = string() {
                    switch p.lowercased() {
                    case "v", "v_prediction", "v-prediction": s.prediction = "v"
                    case "eps", "epsilon": s.prediction = "eps"
                    default: report(.error, "'prediction' must be v or eps (got '\(p)').", lineRange)
                    }
                }
            case "precision":
                if let p = string() {
                    let value = p.trimmingCharacters(in: .whitespaces).lowercased()
                    if ["auto", "bf16", "fp32"].contains(value) { s.precision = value } else {
                        report(.error, "'precision' must be auto, bf16 or fp32 (got '\(p)').", lineRange)
                    }
                }
            case "renderer":
                // One setting or a list of them (several servers); RendererSetting checks the grammar.
                var text: String?
                if let seq = value.sequence {
                    let items = seq.compactMap { $0.scalar?.string }
                    if items.count == seq.count, !items.isEmpty { text = items.joined(separator: ", ") } else {
                        typeError("local, a1111, comfyui, a server URL, or a list of servers")
                    }
                } else {
                    text = string()
                }
                if let r = text {
                    switch RendererSetting.parse(r) {
                    case .success: s.renderer = r
                    case .failure(let e): report(.error, "'renderer': \(e.message).", lineRange)
                    }
                }
            case "negative":
                if let text = string() {
                    s.negative = text
                    // A plain scalar on one line stands verbatim in the file: parse it in place.
                    let bytes = Array(text.utf8)
                    let start = valueAt.start
                    var inPlace: Range<Int>?
                    if value.scalar?.style == .plain, start + bytes.count <= source.utf8Count,
                       Array(source.bytes[start..<start + bytes.count]) == bytes {
                        inPlace = start..<start + bytes.count
                    }
                    result.negative = (text, inPlace, lineRange)
                }
            case "steps": s.steps = int(PromptSettings.stepRange, "between \(PromptSettings.stepRange.lowerBound) and \(PromptSettings.stepRange.upperBound)")
            case "seed": s.seed = int(-1...Int(UInt32.max) * 2, "-1 (random) or a non-negative number")
            case "samples": s.samples = int(1...1000, "between 1 and 1000")
            case "clip_skip": s.clipSkip = int(1...12, "between 1 and 12")
            case "cfg":
                if let x = value.float ?? value.int.map(Double.init) {
                    let range = PromptSettings.cfgRange
                    if range.contains(x) { s.cfg = x } else {
                        report(.error, "'cfg' must be between \(formatNumber(range.lowerBound)) and \(formatNumber(range.upperBound)) (got \(formatNumber(x))).", lineRange)
                    }
                } else { typeError("a number") }
            case "size":
                var size: ImageSize?
                if let seq = value.sequence, seq.count == 2, let w = seq[0].int, let h = seq[1].int {
                    size = ImageSize(width: w, height: h)
                } else if let text = value.scalar?.string {
                    size = ImageSize(parsing: text)
                }
                if let size {
                    let sides = PromptSettings.sideRange
                    if !sides.contains(size.width) || !sides.contains(size.height) {
                        report(.error, "'size' must be between \(sides.lowerBound) and \(sides.upperBound) pixels per side (got \(size)).", lineRange)
                    } else if size.width % 8 != 0 || size.height % 8 != 0 {
                        report(.error, "'size' \(size) is not a multiple of 8 (one latent cell); use e.g. "
                               + "\(max(sides.lowerBound, size.width / 8 * 8))x\(max(sides.lowerBound, size.height / 8 * 8)).", lineRange)
                    } else {
                        s.size = size
                    }
                } else { typeError("WIDTHxHEIGHT, e.g. 512x768") }
            case "lora_dirs":
                if let text = value.scalar?.string {
                    s.loraDirs = [text]
                } else if let seq = value.sequence, let dirs = Optional(seq.compactMap { $0.scalar?.string }), dirs.count == seq.count {
                    s.loraDirs = dirs
                } else { typeError("a folder or a list of folders") }
            case "restore_concepts": s.restoreConcepts = bool()
            case "nsfw": s.nsfw = bool()
            default:
                let suggestion = closestKey(to: key).map { " Did you mean '\($0)'?" } ?? ""
                report(.warning, "Unknown setting '\(key)'.\(suggestion) Known: \(PromptSettings.knownKeys.joined(separator: ", ")).", keyAt.line)
            }
            result.settings = s
        }
        return result
    }

    static func describe(_ error: YamlError) -> (String, Mark?) {
        switch error {
        case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _), .composer(_, let problem, let mark, _):
            return (problem, mark)
        case .duplicatedKeysInMapping(let duplicates, let context):
            return ("duplicate keys \(duplicates.joined(separator: ", "))", context.mark)
        default:
            return ("\(error)", nil)
        }
    }

    static func closestKey(to key: String) -> String? {
        let scored = PromptSettings.knownKeys.map { ($0, editDistance(Array(key.lowercased()), Array($0)) ?? .max) }
        guard let best = scored.min(by: { $0.1 < $1.1 }), best.1 <= max(2, key.count / 3) else { return nil }
        return best.0
    }
}
