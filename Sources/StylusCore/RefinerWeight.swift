import Foundation

/// Recommended-weight evidence in card text and example prompts.
public enum WeightEvidence {
    /// The paper's default when a card says nothing.
    public static let defaultWeight = 0.8

    /// Weights beyond ±2 are never a recommendation (sliders top out there).
    public static let plausible: ClosedRange<Double> = -2...2

    /// A weight the author states in the description: the midpoint of a range ("0.6-0.8",
    /// "0.6〜0.8", "0.5 to 1") or a single value ("weight 0.7", "<p>0.8</p>"). Ranges win over
    /// single values; a value next to a cue word ("weight", "strength", "recommended", "推荐", …)
    /// wins over a bare one; otherwise the first one in the text.
    ///
    /// Numbers that are not weights are skipped: versions (v1.1, sd1.5, epoch 10), counts
    /// with units (300 imgs, 10k, 1024px, 8x), ratios (2.39:1), and a bare 1.5/2.1 that names
    /// a base model ("my 1.5 lora", "1.5 is bad at cars") rather than a strength.
    public static func statedWeight(in description: String, alias: String? = nil) -> Double? {
        let text = CardText.stripHTML(description)
        let scalars = Array(text.unicodeScalars)
        let numbers = scanNumbers(scalars)
        var ranges: [(value: Double, cued: Bool, at: Int)] = []
        var singles: [(value: Double, cued: Bool, at: Int)] = []
        var inRange = Set<Int>()

        // Ranges: A sep B with A < B, both plausible, at least one written with a decimal point.
        for k in 0..<numbers.count where k + 1 < numbers.count {
            let a = numbers[k], b = numbers[k + 1]
            guard a.isCandidate, b.isCandidateRangeEnd, a.value >= 0, a.value < b.value,
                  a.hasDecimal || b.hasDecimal, isRangeSeparator(scalars, from: a.end, to: b.start)
            else { continue }
            let mid = ((a.value + b.value) / 2 * 1000).rounded() / 1000
            ranges.append((mid, isCued(scalars, before: a.start, after: b.end), a.start))
            inRange.insert(k)
            inRange.insert(k + 1)
        }
        for (k, n) in numbers.enumerated() where !inRange.contains(k) && n.isCandidate && n.hasDecimal {
            let cued = isCued(scalars, before: n.start, after: n.end)
            if n.negative { continue }
            if !cued && baseModelVersions.contains(n.value) { continue }  // "for 1.5", "1.5 models"
            singles.append((n.value, cued, n.start))
        }
        // `<lora:alias:W>` written in the description is a statement of W.
        if let alias, let w = medianLoraWeight(in: [text], alias: alias) {
            singles.append((w, true, -1))
        }
        func best(_ list: [(value: Double, cued: Bool, at: Int)]) -> Double? {
            list.first(where: { $0.cued })?.value ?? list.first?.value
        }
        return best(ranges) ?? best(singles)
    }

    /// Median `W` of `<lora:ALIAS:W…>` (or `<lyco:…>`) tags that name this adapter; nil if none.
    public static func medianLoraWeight(in prompts: [String], alias: String, otherNames: [String] = []) -> Double? {
        let names = Set(([alias] + otherNames).map { $0.lowercased() })
        var weights: [Double] = []
        for prompt in prompts {
            var rest = Substring(prompt)
            while let open = rest.range(of: "<") {
                let after = rest[open.upperBound...]
                guard let close = after.firstIndex(of: ">") else { break }
                let parts = after[..<close].split(separator: ":", omittingEmptySubsequences: false)
                rest = after[after.index(after: close)...]
                guard parts.count >= 2 else { continue }
                let kind = parts[0].lowercased()
                guard kind == "lora" || kind == "lyco" else { continue }
                guard names.contains(parts[1].trimmingCharacters(in: .whitespaces).lowercased()) else { continue }
                if parts.count >= 3, let w = Double(parts[2].trimmingCharacters(in: .whitespaces)), plausible.contains(w) {
                    weights.append(w)
                } else if parts.count == 2 {
                    weights.append(1.0)  // A1111: a missing multiplier means 1
                }
            }
        }
        guard !weights.isEmpty else { return nil }
        weights.sort()
        let m = weights.count / 2
        let median = weights.count % 2 == 1 ? weights[m] : (weights[m - 1] + weights[m]) / 2
        return (median * 1000).rounded() / 1000
    }

    // MARK: - Number scanning

    /// SD versions people mention in passing; as bare single numbers they name a model, not a weight.
    static let baseModelVersions: Set<Double> = [1.4, 1.5, 2.1]

    struct Number {
        var value: Double
        var start: Int
        var end: Int
        var hasDecimal: Bool
        var negative: Bool
        /// Not a version, a count with a unit, a ratio or out of range.
        var isCandidate: Bool
        /// Like isCandidate, but integers such as the "1" of "0.5-1" are fine.
        var isCandidateRangeEnd: Bool
    }

    static func scanNumbers(_ s: [Unicode.Scalar]) -> [Number] {
        var out: [Number] = []
        var i = 0
        while i < s.count {
            guard isDigit(s[i]) || (s[i] == "." && i + 1 < s.count && isDigit(s[i + 1]) && (i == 0 || !isDigit(s[i - 1]))) else {
                i += 1
                continue
            }
            let start = i
            var dots = 0
            while i < s.count, isDigit(s[i]) || (s[i] == "." && i + 1 < s.count && isDigit(s[i + 1])) {
                if s[i] == "." { dots += 1 }
                i += 1
            }
            let literal = String(String.UnicodeScalarView(s[start..<i]))
            let value = Double(literal.hasPrefix(".") ? "0" + literal : literal) ?? .nan
            // "-0.5" is negative; the "-1" of "0.5-1" is a range end.
            let negative = start > 0 && (s[start - 1] == "-" || s[start - 1] == "−") && (start < 2 || !isDigit(s[start - 2]))
            var ok = dots <= 1 && value.isFinite && plausible.contains(value)
            if ok, isVersionLike(s, start: start) { ok = false }
            if ok, hasUnitAfter(s, end: i) { ok = false }
            out.append(Number(value: negative ? -value : value, start: start, end: i, hasDecimal: dots == 1,
                              negative: negative, isCandidate: ok, isCandidateRangeEnd: ok))
        }
        return out
    }

    static func isDigit(_ c: Unicode.Scalar) -> Bool { c >= "0" && c <= "9" }
    /// Only Latin letters glue to numbers as units or version prefixes; CJK text around a
    /// number ("ウェイト0.7前後") is ordinary prose.
    static func isLatinLetter(_ c: Unicode.Scalar) -> Bool { (c >= "a" && c <= "z") || (c >= "A" && c <= "Z") }

    /// "v1.1", "sd1.5", "SD 1.5", "ver 2", "epoch 10", "No.2", "x1.5".
    static func isVersionLike(_ s: [Unicode.Scalar], start: Int) -> Bool {
        var j = start - 1
        if j >= 0, isLatinLetter(s[j]) || s[j] == "." || s[j] == "_" || s[j] == "#" { return true }
        while j >= 0, s[j] == " " { j -= 1 }
        var word = ""
        while j >= 0, isLatinLetter(s[j]), word.count < 12 {
            word = String(Character(s[j])) + word
            j -= 1
        }
        return ["v", "ver", "version", "sd", "sdxl", "epoch", "epochs", "step", "steps", "dim", "rank", "alpha",
                "cfg", "seed", "clip", "skip", "x", "no", "vol", "part", "chapter", "ep", "lr", "fp"].contains(word.lowercased())
    }

    /// "300 imgs", "10k", "1024px", "8x", "2.39:1", "50%", "45°", "16bit".
    static func hasUnitAfter(_ s: [Unicode.Scalar], end: Int) -> Bool {
        guard end < s.count else { return false }
        if isLatinLetter(s[end]) { return true }
        if s[end] == "%" || s[end] == "°" || s[end] == "x" || s[end] == "×" { return true }
        if s[end] == ":", end + 1 < s.count, isDigit(s[end + 1]) { return true }
        var j = end
        while j < s.count, s[j] == " " { j += 1 }
        var word = ""
        while j < s.count, isLatinLetter(s[j]), word.count < 10 {
            word.unicodeScalars.append(s[j])
            j += 1
        }
        return ["k", "m", "imgs", "img", "images", "image", "pics", "photos", "epochs", "epoch", "steps", "step",
                "px", "mb", "gb", "kb", "x", "times", "repeats", "dim", "rank", "seconds", "s", "frames",
                "percent", "degrees", "years", "yo", "bit", "mp"].contains(word.lowercased())
    }

    /// The text between two numbers of a range: "-", "~", "〜", "～", "–", "—", "to", "a" (es), "bis", "から".
    static func isRangeSeparator(_ s: [Unicode.Scalar], from: Int, to: Int) -> Bool {
        guard from < to, to - from <= 6 else { return false }
        let between = String(String.UnicodeScalarView(s[from..<to])).trimmingCharacters(in: .whitespaces).lowercased()
        return ["-", "~", "〜", "～", "–", "—", "to", "−", "から", "至", "-~"].contains(between)
    }

    static let cueWords = [
        "weight", "strength", "recommend", "suggest", "use ", "use:", "try ", "around", "sweet spot", "default",
        "multiplier", "works best", "best at", "at ", "between", "range", "推荐", "推奨", "权重", "權重", "ウェイト",
        "ウエイト", "가중치", "おすすめ", "建议", "強度", "强度", "weights", "scale",
    ]
    static let trailingCues = ["recommended", "is a good default", "is the sweet spot", "default", "works", "is best",
                               "推奨", "推荐", "前後", "くらい", "左右", "추천"]

    /// Whether a cue word sits just before (24 characters) or just after (20) the number.
    static func isCued(_ s: [Unicode.Scalar], before start: Int, after end: Int) -> Bool {
        let lo = max(0, start - 24)
        let before = String(String.UnicodeScalarView(s[lo..<start])).lowercased()
        if cueWords.contains(where: { before.hasBytes($0) }) { return true }
        let hi = min(s.count, end + 20)
        let after = String(String.UnicodeScalarView(s[end..<hi])).lowercased()
        return trailingCues.contains(where: { after.hasBytes($0) })
    }
}
