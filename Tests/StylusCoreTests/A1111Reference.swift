import Foundation

/// An independent model of A1111's prompt handling, written for the tests from the description of
/// its algorithm (docs: README "Prompt files"; the issue's description of the position stacks),
/// over Unicode scalars and by brute force where the production code is clever: each regular
/// expression is emulated by trying every start position (and every backtracking choice) in order.
/// It shares no code with `PromptAttention` / `A1111Prompt`.
enum A1111Reference {
    typealias Scalars = [Unicode.Scalar]

    static func isSpace(_ c: Unicode.Scalar) -> Bool {
        // Python's str.isspace(): White_Space plus the information separators 0x1C-0x1F.
        c.properties.isWhitespace || (0x1C...0x1F).contains(c.value)
    }

    static func isWord(_ c: Unicode.Scalar) -> Bool {
        if c == "_" { return true }
        switch c.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter,
             .decimalNumber, .letterNumber, .otherNumber: return true
        default: return false
        }
    }

    /// `\b` at `i` of `s` (outside the string counts as non-word).
    static func boundary(_ s: Scalars, _ i: Int) -> Bool {
        let before = i > 0 && isWord(s[i - 1])
        let after = i < s.count && isWord(s[i])
        return before != after
    }

    static func isASCIIDigit(_ c: Unicode.Scalar) -> Bool { c.value >= 48 && c.value <= 57 }

    /// Python's `float()` on text matching `[+-]?[.\d]+`: nil where Python raises.
    static func pythonFloat(_ s: String) -> Double? {
        var body = Substring(s)
        if body.first == "+" || body.first == "-" { body = body.dropFirst() }
        guard body.filter({ $0 == "." }).count <= 1, body.contains(where: { $0.isASCII && $0.isNumber }) else { return nil }
        return Double(s)
    }

    // MARK: re.split(r"\s*\bBREAK\b\s*", text)

    static func splitBreak(_ s: Scalars) -> [Scalars] {
        var parts: [Scalars] = []
        var last = 0
        var p = 0
        let word = Array("BREAK".unicodeScalars)
        search: while p <= s.count {
            var q = p
            while q < s.count, isSpace(s[q]) { q += 1 }
            // Backtrack the leading \s* from the longest run to the empty one.
            var e = q
            while e >= p {
                if boundary(s, e), e + 5 <= s.count, Array(s[e..<e + 5]) == word, boundary(s, e + 5) {
                    var end = e + 5
                    while end < s.count, isSpace(s[end]) { end += 1 }
                    parts.append(Array(s[last..<p]))
                    last = end
                    p = end
                    continue search
                }
                e -= 1
            }
            p += 1
        }
        parts.append(Array(s[last...]))
        return parts
    }

    // MARK: parse_prompt_attention

    /// nil when A1111 would raise (a `(x:number)` whose number `float()` rejects).
    static func attention(_ text: String) -> [(String, Double)]? {
        let s = Array(text.unicodeScalars)
        var res: [(Scalars, Double)] = []
        var roundStack: [Int] = [], squareStack: [Int] = []
        func multiply(_ start: Int, _ m: Double) {
            for p in start..<res.count { res[p].1 *= m }
        }
        func addText(_ t: Scalars) {
            for (k, part) in splitBreak(t).enumerated() {
                if k > 0 { res.append((Array("BREAK".unicodeScalars), -1)) }
                res.append((part, 1))
            }
        }
        let specials: Set<Unicode.Scalar> = ["\\", "(", ")", "[", "]", ":"]
        var i = 0
        while i < s.count {
            let c = s[i]
            if c == "\\" {
                if i + 1 < s.count, ["(", ")", "[", "]", "\\"].contains(s[i + 1]) {
                    res.append(([s[i + 1]], 1))
                    i += 2
                } else {
                    res.append(([], 1))
                    i += 1
                }
            } else if c == "(" {
                roundStack.append(res.count); i += 1
            } else if c == "[" {
                squareStack.append(res.count); i += 1
            } else if c == ":", let (number, end) = weightAt(s, i) {
                if let start = roundStack.popLast() {
                    guard let v = pythonFloat(number) else { return nil }
                    multiply(start, v)
                } else {
                    addText(Array(s[i..<end]))
                }
                i = end
            } else if c == ")", let start = roundStack.popLast() {
                multiply(start, 1.1); i += 1
            } else if c == "]", let start = squareStack.popLast() {
                multiply(start, 1 / 1.1); i += 1
            } else if !specials.contains(c) {
                var j = i
                while j < s.count, !specials.contains(s[j]) { j += 1 }
                addText(Array(s[i..<j]))
                i = j
            } else {
                addText([c]); i += 1
            }
        }
        for start in roundStack { multiply(start, 1.1) }
        for start in squareStack { multiply(start, 1 / 1.1) }
        if res.isEmpty { res = [([], 1)] }
        var k = 0
        while k + 1 < res.count {
            if res[k].1 == res[k + 1].1 {
                res[k].0 += res[k + 1].0
                res.remove(at: k + 1)
            } else {
                k += 1
            }
        }
        return res.map { (String(String.UnicodeScalarView($0.0)), $0.1) }
    }

    /// `:\s*([+-]?[.\d]+)\s*\)` at `i`.
    static func weightAt(_ s: Scalars, _ i: Int) -> (String, Int)? {
        var j = i + 1
        while j < s.count, isSpace(s[j]) { j += 1 }
        let start = j
        if j < s.count, s[j] == "+" || s[j] == "-" { j += 1 }
        let digits = j
        while j < s.count, isASCIIDigit(s[j]) || s[j] == "." { j += 1 }
        guard j > digits else { return nil }
        let number = String(String.UnicodeScalarView(s[start..<j]))
        while j < s.count, isSpace(s[j]) { j += 1 }
        guard j < s.count, s[j] == ")" else { return nil }
        return (number, j + 1)
    }

    // MARK: the text passes before emphasis

    /// `strip_comments`: `(^|\n)#[^\n]*(\n|$)` → "\n", then `#[^\n]*(\n|$)` → "\n".
    static func stripComments(_ text: String) -> String {
        func pass(_ s: Scalars, lineStartOnly: Bool) -> Scalars {
            var out: Scalars = []
            var i = 0
            while i < s.count {
                var hash: Int?
                if lineStartOnly {
                    if i == 0, s[0] == "#" { hash = 0 } else if s[i] == "\n", i + 1 < s.count, s[i + 1] == "#" { hash = i + 1 }
                } else if s[i] == "#" {
                    hash = i
                }
                guard let h = hash else {
                    out.append(s[i]); i += 1
                    continue
                }
                var j = h + 1
                while j < s.count, s[j] != "\n" { j += 1 }
                if j < s.count { j += 1 }
                out.append("\n")
                i = j
            }
            return out
        }
        let s = pass(pass(Array(text.unicodeScalars), lineStartOnly: true), lineStartOnly: false)
        return String(String.UnicodeScalarView(s))
    }

    /// `re.sub(r"<(\w+):([^>]+)>", "", text)`.
    static func removeTags(_ text: String) -> String {
        let s = Array(text.unicodeScalars)
        var out: Scalars = []
        var i = 0
        outer: while i < s.count {
            if s[i] == "<" {
                var j = i + 1
                while j < s.count, isWord(s[j]) { j += 1 }
                if j > i + 1, j < s.count, s[j] == ":" {
                    var k = j + 1
                    while k < s.count, s[k] != ">" { k += 1 }
                    if k < s.count, k > j + 1 {
                        i = k + 1
                        continue outer
                    }
                }
            }
            out.append(s[i])
            i += 1
        }
        return String(String.UnicodeScalarView(out))
    }

    /// `re.split(r"\bAND\b", text)`.
    static func splitAND(_ text: String) -> [String] {
        let s = Array(text.unicodeScalars)
        var parts: [String] = []
        var last = 0, p = 0
        while p + 3 <= s.count {
            if s[p] == "A", s[p + 1] == "N", s[p + 2] == "D", boundary(s, p), boundary(s, p + 3) {
                parts.append(String(String.UnicodeScalarView(s[last..<p])))
                p += 3
                last = p
            } else {
                p += 1
            }
        }
        parts.append(String(String.UnicodeScalarView(s[last...])))
        return parts
    }

    /// `re_weight.search(part)` by trying the choices of the regex engine in its order: the
    /// leading `\s*` from longest to shortest, then the lazy `.*?` from shortest to longest.
    static func partWeight(_ text: String) -> (String, Double) {
        let s = Array(text.unicodeScalars)
        var maxLead = 0
        while maxLead < s.count, isSpace(s[maxLead]) { maxLead += 1 }
        for lead in stride(from: maxLead, through: 0, by: -1) {
            var k = lead
            while true {
                let rest = Array(s[k...])
                if let w = weightSuffix(rest) { return (String(String.UnicodeScalarView(s[..<k])), w) }
                if rest.allSatisfy(isSpace) { return (String(String.UnicodeScalarView(s[..<k])), 1) }
                if k == s.count || s[k] == "\n" { break }
                k += 1
            }
        }
        return (text, 1)
    }

    /// `\s*:\s*([-+]?(?:\d+\.?|\d*\.\d+))\s*$` matching all of `r`: the number.
    static func weightSuffix(_ r: Scalars) -> Double? {
        var j = 0
        while j < r.count, isSpace(r[j]) { j += 1 }
        guard j < r.count, r[j] == ":" else { return nil }
        j += 1
        while j < r.count, isSpace(r[j]) { j += 1 }
        let start = j
        if j < r.count, r[j] == "+" || r[j] == "-" { j += 1 }
        // Try every end of the number and accept one that the pattern allows and leaves only spaces.
        var end = j
        while end < r.count, isASCIIDigit(r[end]) || r[end] == "." { end += 1 }
        for e in stride(from: end, through: j + 1, by: -1) {
            let body = String(String.UnicodeScalarView(r[j..<e]))
            let digitsDot = body.range(of: #"^(\d+\.?|\d*\.\d+)$"#, options: .regularExpression) != nil
            guard digitsDot, r[e...].allSatisfy(isSpace) else { continue }
            return Double(String(String.UnicodeScalarView(r[start..<e])))
        }
        return nil
    }

    /// The positive prompt's parts: (text, weight) after comments, tags and AND.
    static func parts(_ prompt: String) -> [(String, Double)] {
        splitAND(removeTags(stripComments(prompt))).map(partWeight)
    }
}
