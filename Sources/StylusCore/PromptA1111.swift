/// A prompt as A1111 conditions on it, step by step (README, "Prompt files"): comments stripped,
/// extra-network tags removed, the positive prompt split at `AND` with each part's trailing
/// `:weight`, prompt editing and alternation resolved per sampling step, and the emphasis weights
/// of each step's text computed by `PromptAttention`. Every piece of text keeps the document
/// offset it came from, so editor features can show the weight A1111 gives a word.
public struct A1111Prompt: Sendable {
    /// The text A1111 encodes until `endStep` (inclusive) and its emphasis scan.
    public struct Step: Sendable {
        public var endStep: Int
        public var text: MappedText
        public var scan: PromptAttention.Scan

        /// A1111's merged `[text, weight]` list for this step.
        public var spans: [PromptAttention.Span] { PromptAttention.merged(scan.pieces, bytes: text.bytes) }
    }

    /// One `AND` part (the whole prompt when there is none).
    public struct Section: Sendable {
        /// The part's `:weight` (1 when it has none).
        public var weight: Double
        /// The steps at which the text changes, in order; the last one ends at the step count.
        public var schedule: [Step]

        /// The step whose text A1111 uses at sampling step `step` (1-based).
        public func step(at step: Int) -> Step {
            schedule.first { step <= $0.endStep } ?? schedule[schedule.count - 1]
        }
    }

    public var sections: [Section]
    public var steps: Int

    /// A1111's view of `range` of `source` (a positive or negative prompt) for `steps` steps.
    public init(source: SourceText, range: Range<Int>, isNegative: Bool, steps: Int) {
        self.steps = max(1, steps)
        let whole = MappedText(bytes: Array(source.bytes[range]), sourceStart: range.lowerBound)
        let text = A1111Text.removeExtraNetworks(A1111Text.stripComments(whole))
        let parts: [(MappedText, Double)] = isNegative ? [(text, 1)] : A1111Text.splitAND(text).map(A1111Text.sectionWeight)
        sections = parts.map { part, weight in
            Section(weight: weight, schedule: A1111Schedule.steps(part, steps: max(1, steps)))
        }
    }

    /// A standalone prompt text (document offsets are offsets in `text`).
    public init(_ text: String, isNegative: Bool = false, steps: Int = 20) {
        let source = SourceText(text)
        self.init(source: source, range: 0..<source.utf8Count, isNegative: isNegative, steps: steps)
    }

    /// `text` with `#` comments and extra-network tags (`<lora:…>`, `<hypernet:…>`, …) removed as
    /// A1111 removes them before parsing; everything else as written (for servers that read the
    /// emphasis syntax themselves, e.g. ComfyUI).
    public static func withoutExtraNetworks(_ text: String) -> String {
        let whole = MappedText(bytes: Array(text.utf8), sourceStart: 0)
        return A1111Text.removeExtraNetworks(A1111Text.stripComments(whole)).string
    }

    /// The emphasis weight A1111 gives the text at document offset `offset`, from the first step
    /// whose text contains it; nil where A1111 encodes nothing (tags, comments, brackets, weights).
    public func weight(atSourceOffset offset: Int) -> Double? {
        for section in sections {
            for step in section.schedule {
                guard let i = step.text.index(ofSource: offset) else { continue }
                let pieces = step.scan.pieces
                var lo = 0, hi = pieces.count
                while lo < hi {
                    let mid = (lo + hi) / 2
                    if pieces[mid].text.upperBound <= i { lo = mid + 1 } else { hi = mid }
                }
                // Pieces that hold text are in order and do not overlap; skip empty ones.
                var k = lo
                while k < pieces.count, pieces[k].text.isEmpty, pieces[k].text.lowerBound <= i { k += 1 }
                if k < pieces.count, pieces[k].text.contains(i), !pieces[k].isBreakMarker { return pieces[k].weight }
            }
        }
        return nil
    }
}

/// Text derived from a document by deleting and moving pieces, with the document offset of every
/// byte (stored as contiguous stretches).
public struct MappedText: Sendable, Equatable {
    public private(set) var bytes: [UInt8]
    /// Where each stretch starts in `bytes` and in the document.
    private var starts: [Int]
    private var sources: [Int]

    public init(bytes: [UInt8], sourceStart: Int) {
        self.bytes = bytes
        starts = bytes.isEmpty ? [] : [0]
        sources = bytes.isEmpty ? [] : [sourceStart]
    }

    init() {
        bytes = []
        starts = []
        sources = []
    }

    public var string: String { String(decoding: bytes, as: UTF8.self) }

    /// The document offset of byte `i`.
    public func sourceOffset(_ i: Int) -> Int {
        let k = stretch(containing: i)
        return sources[k] + (i - starts[k])
    }

    /// The index of the byte that came from document offset `offset`, if it was kept.
    public func index(ofSource offset: Int) -> Int? {
        // Stretches are in document order (text only ever moves forward).
        var lo = 0, hi = sources.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if sources[mid] <= offset { lo = mid + 1 } else { hi = mid }
        }
        guard lo > 0 else { return nil }
        let k = lo - 1
        let length = (k + 1 < starts.count ? starts[k + 1] : bytes.count) - starts[k]
        let i = starts[k] + (offset - sources[k])
        return offset - sources[k] < length ? i : nil
    }

    private func stretch(containing i: Int) -> Int {
        var lo = 0, hi = starts.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if starts[mid] <= i { lo = mid + 1 } else { hi = mid }
        }
        return max(0, lo - 1)
    }

    /// Appends `range` of `other`, keeping its document offsets.
    mutating func append(_ other: MappedText, _ range: Range<Int>) {
        var i = range.lowerBound
        while i < range.upperBound {
            let k = other.stretch(containing: i)
            let stretchEnd = k + 1 < other.starts.count ? other.starts[k + 1] : other.bytes.count
            let end = min(range.upperBound, stretchEnd)
            appendStretch(other.bytes[i..<end], source: other.sources[k] + (i - other.starts[k]))
            i = end
        }
    }

    /// Appends `byte` as if it stood at document offset `source` (A1111's replacement newlines).
    mutating func append(byte: UInt8, source: Int) {
        appendStretch([byte], source: source)
    }

    private mutating func appendStretch<C: Collection>(_ slice: C, source: Int) where C.Element == UInt8 {
        guard !slice.isEmpty else { return }
        if let lastStart = starts.last, let lastSource = sources.last, lastSource + (bytes.count - lastStart) == source {
            bytes.append(contentsOf: slice)
            return
        }
        starts.append(bytes.count)
        sources.append(source)
        bytes.append(contentsOf: slice)
    }

    func slice(_ range: Range<Int>) -> MappedText {
        var out = MappedText()
        out.append(self, range)
        return out
    }
}

/// A1111's text passes before emphasis: comments, extra-network tags, `AND` and part weights.
enum A1111Text {
    /// `strip_comments`: `(^|\n)#[^\n]*(\n|$)` then `#[^\n]*(\n|$)`, each replaced by a newline.
    static func stripComments(_ t: MappedText) -> MappedText {
        let pass1 = replaceComments(t) { bytes, i in
            (i == 0 && bytes[i] == 0x23) || (bytes[i] == ASCII.newline && i + 1 < bytes.count && bytes[i + 1] == 0x23)
        }
        return replaceComments(pass1) { bytes, i in bytes[i] == 0x23 }
    }

    private static func replaceComments(_ t: MappedText, startsAt: ([UInt8], Int) -> Bool) -> MappedText {
        let b = t.bytes
        guard b.contains(0x23) else { return t }
        var out = MappedText()
        var copied = 0, i = 0
        while i < b.count {
            guard startsAt(b, i) else {
                i += 1
                continue
            }
            out.append(t, copied..<i)
            var j = b[i] == ASCII.newline ? i + 2 : i + 1
            while j < b.count, b[j] != ASCII.newline { j += 1 }
            if j < b.count { j += 1 }
            out.append(byte: ASCII.newline, source: t.sourceOffset(i))
            i = j
            copied = j
        }
        out.append(t, copied..<b.count)
        return out
    }

    /// `re.sub(r"<(\w+):([^>]+)>", "", prompt)`.
    static func removeExtraNetworks(_ t: MappedText) -> MappedText {
        let b = t.bytes
        guard b.contains(0x3C) else { return t }
        var out = MappedText()
        var copied = 0, i = 0
        var nextGreater = 0
        while i < b.count {
            guard b[i] == 0x3C else {
                i += 1
                continue
            }
            var j = i + 1
            while let d = PythonText.decode(b, at: j), PythonText.isWord(d.scalar) { j += d.length }
            guard j > i + 1, j < b.count, b[j] == ASCII.colon else {
                i += 1
                continue
            }
            if nextGreater <= j { nextGreater = j + 1 }
            while nextGreater < b.count, b[nextGreater] != 0x3E { nextGreater += 1 }
            guard nextGreater < b.count, nextGreater > j + 1 else {
                i += 1
                continue
            }
            out.append(t, copied..<i)
            i = nextGreater + 1
            copied = i
        }
        out.append(t, copied..<b.count)
        return out
    }

    /// `re.split(r"\bAND\b", prompt)`.
    static func splitAND(_ t: MappedText) -> [MappedText] {
        let b = t.bytes
        var parts: [MappedText] = []
        var partStart = 0, q = 0
        while q + 3 <= b.count {
            if b[q] == 0x41, b[q + 1] == 0x4E, b[q + 2] == 0x44,
               q == 0 || !PythonText.isWord(PythonText.scalar(before: q, in: b)),
               !PythonText.isWord(PythonText.scalar(at: q + 3, in: b)) {
                parts.append(t.slice(partStart..<q))
                q += 3
                partStart = q
            } else {
                q += 1
            }
        }
        parts.append(t.slice(partStart..<b.count))
        return parts
    }

    /// `re_weight = ^(\s*.*?)(?:\s*:\s*([-+]?(?:\d+\.?|\d*\.\d+)))?\s*$`: the text and its weight;
    /// the whole part with weight 1 when the pattern does not match (text over several lines).
    static func sectionWeight(_ t: MappedText) -> (MappedText, Double) {
        let b = t.bytes
        let leading = PythonText.skipSpaces(b, from: 0)
        var end = b.count
        while let s = PythonText.scalarBefore(end, in: b, floor: leading), PythonText.isSpace(s.scalar) { end -= s.length }
        if let (numberStart, colon) = trailingWeight(b, end: end),
           let w = Double(String(decoding: b[numberStart..<end], as: UTF8.self)) {
            var e = colon
            while let s = PythonText.scalarBefore(e, in: b, floor: leading), PythonText.isSpace(s.scalar) { e -= s.length }
            if !b[leading..<max(leading, e)].contains(ASCII.newline) { return (t.slice(0..<e), w) }
        }
        if b[leading..<end].contains(ASCII.newline) { return (t, 1) }
        return (t.slice(0..<end), 1)
    }

    /// A number `[-+]?(\d+\.?|\d*\.\d+)` ending at `end`, after `\s*:\s*`: its start and the colon.
    private static func trailingWeight(_ b: [UInt8], end: Int) -> (Int, Int)? {
        var p = end
        while p > 0, ASCII.isDigit(b[p - 1]) || b[p - 1] == ASCII.dot { p -= 1 }
        let run = b[p..<end]
        let dots = run.filter { $0 == ASCII.dot }.count
        guard !run.isEmpty, dots <= 1, run.contains(where: ASCII.isDigit) else { return nil }
        var numberStart = p
        if p > 0, b[p - 1] == ASCII.plus || b[p - 1] == ASCII.minus {
            p -= 1
            numberStart = p
        }
        while let s = PythonText.scalarBefore(p, in: b, floor: 0), PythonText.isSpace(s.scalar) { p -= s.length }
        guard p > 0, b[p - 1] == ASCII.colon else { return nil }
        return (numberStart, p - 1)
    }
}

/// A1111's prompt editing and alternation (`get_learned_conditioning_prompt_schedules`), on the
/// parser's tree of one part: the steps at which the text changes and the text of each.
enum A1111Schedule {
    static func steps(_ text: MappedText, steps: Int) -> [A1111Prompt.Step] {
        let source = SourceText(text.string)
        let syntax = PromptParser.parse(source, isNegative: true)
        let nodes = syntax.sections.flatMap(\.nodes)
        var stepSet: Set<Int> = [steps]
        var hasAlternation = false
        var separators = 0
        var failed = false
        PromptNode.walk(nodes) { node, _ in
            switch node {
            case .schedule(let s): stepSet.insert(switchStep(s.when, steps: steps))
            case .alternation(let a):
                hasAlternation = true
                separators += a.options.count - 1
                if !a.isClosed { failed = true }
            default: break
            }
        }
        // Lark's grammar has no place for a `|` outside an alternation: the prompt is then used as is.
        if failed || text.bytes.lazy.filter({ $0 == 0x7C }).count != separators {
            return [step(text, end: steps)]
        }
        if hasAlternation { stepSet.formUnion(1...steps) }
        var out: [A1111Prompt.Step] = []
        var previous: MappedText?
        var previousScan: PromptAttention.Scan?
        for t in stepSet.sorted() {
            var rendered = MappedText()
            render(0..<text.bytes.count, nodes, step: t, steps: steps, from: text, into: &rendered)
            if let previous, let previousScan, previous.bytes == rendered.bytes, previous == rendered {
                out.append(A1111Prompt.Step(endStep: t, text: rendered, scan: previousScan))
            } else {
                let s = step(rendered, end: t)
                out.append(s)
                previousScan = s.scan
            }
            previous = rendered
        }
        return out
    }

    private static func step(_ text: MappedText, end: Int) -> A1111Prompt.Step {
        A1111Prompt.Step(endStep: end, text: text, scan: PromptAttention.scan(text.bytes))
    }

    /// `when` as a step: a fraction of `steps` below 1, truncated, at most `steps`.
    static func switchStep(_ when: Double, steps: Int) -> Int {
        let w = when < 1 ? when * Double(steps) : when
        return w >= Double(steps) ? steps : max(0, Int(w))
    }

    /// Copies `range` of `text`, replacing each schedule and alternation by its branch at `step`.
    private static func render(_ range: Range<Int>, _ nodes: [PromptNode], step: Int, steps: Int,
                               from text: MappedText, into out: inout MappedText) {
        var p = range.lowerBound
        for node in nodes {
            switch node {
            case .schedule(let s):
                out.append(text, p..<s.range.utf8.lowerBound)
                if step <= switchStep(s.when, steps: steps) {
                    if let from = s.from, let r = s.fromRange { render(r.utf8, from, step: step, steps: steps, from: text, into: &out) }
                } else {
                    render(s.toRange.utf8, s.to, step: step, steps: steps, from: text, into: &out)
                }
                p = s.range.utf8.upperBound
            case .alternation(let a):
                out.append(text, p..<a.range.utf8.lowerBound)
                let k = (step - 1) % a.options.count
                let option = k < 0 ? 0 : k
                render(a.optionRanges[option].utf8, a.options[option], step: step, steps: steps, from: text, into: &out)
                p = a.range.utf8.upperBound
            case .emphasis(let e):
                out.append(text, p..<e.range.utf8.lowerBound)
                render(e.range.utf8, e.children, step: step, steps: steps, from: text, into: &out)
                p = e.range.utf8.upperBound
            default:
                break
            }
        }
        out.append(text, p..<range.upperBound)
    }
}

extension PromptFile {
    /// A1111's view of the positive prompt for the file's step count (20 when unset).
    public var a1111Positive: A1111Prompt {
        A1111Prompt(source: source, range: positive.range.utf8, isNegative: false, steps: settings.steps ?? 20)
    }

    /// A1111's view of the negative prompt, when there is one.
    public var a1111Negative: A1111Prompt? {
        negative.map { A1111Prompt(source: source, range: $0.range.utf8, isNegative: true, steps: settings.steps ?? 20) }
    }
}
