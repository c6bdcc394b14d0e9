import Foundation

/// Turns an author's model card (HTML soup, link dumps, donation plugs, changelogs) into plain
/// sentences about what the adapter does. Pure text logic; the offline refiner's first step.
public enum CardText {
    /// Plain text from HTML: block elements become line breaks, list items "- ", scripts and
    /// styles vanish, entities are decoded. `<lora:…>` tags in the text are kept as written.
    public static func stripHTML(_ html: String) -> String {
        if !html.contains("<") && !html.contains("&") { return html }
        var out = ""
        out.reserveCapacity(html.utf8.count)
        let chars = Array(html.unicodeScalars)
        var i = 0
        var skipUntil: String? = nil  // inside <script>/<style>
        while i < chars.count {
            let c = chars[i]
            if c == "<", let close = chars[i...].firstIndex(of: ">"), close - i < 2000 {
                let inner = String(String.UnicodeScalarView(chars[(i + 1)..<close]))
                let lower = inner.lowercased()
                let name = lower.drop(while: { $0 == "/" }).prefix(while: { $0.isLetter || $0.isNumber })
                if let until = skipUntil {
                    if lower.hasPrefix("/") && name == until { skipUntil = nil }
                    i = close + 1
                    continue
                }
                if name.isEmpty || !(inner.first?.isLetter ?? false) && !inner.hasPrefix("/") && !inner.hasPrefix("!") {
                    // Not a tag ("a < b", "<3"): keep the text.
                    out.unicodeScalars.append(c)
                    i += 1
                    continue
                }
                if lower.hasPrefix("lora:") || lower.hasPrefix("lyco:") {
                    out += "<" + inner + ">"
                } else if name == "script" || name == "style", !lower.hasPrefix("/") {
                    skipUntil = String(name)
                } else if name == "li", !lower.hasPrefix("/") {
                    out += "\n- "
                } else if Self.blockTags.contains(String(name)) {
                    out += "\n"
                } else if name == "img" || name == "a" || name == "span" || name == "b" || name == "i"
                            || name == "strong" || name == "em" || name == "u" || name == "code" {
                    // inline: no separator needed beyond what the text has
                } else {
                    out += " "
                }
                i = close + 1
                continue
            }
            if skipUntil != nil { i += 1; continue }
            out.unicodeScalars.append(c)
            i += 1
        }
        return decodeEntities(out)
    }

    private static let blockTags: Set<String> = [
        "p", "br", "div", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "table", "blockquote",
        "hr", "pre", "section", "article", "header", "footer",
    ]

    private static let namedEntities: [String: String] = [
        "amp": "&", "lt": "<", "gt": ">", "quot": "\"", "apos": "'", "nbsp": " ", "mdash": "—",
        "ndash": "–", "hellip": "…", "rsquo": "’", "lsquo": "‘", "rdquo": "”", "ldquo": "“",
        "times": "×", "middot": "·", "bull": "•", "copy": "©", "reg": "®", "trade": "™", "deg": "°",
    ]

    /// Decodes `&name;`, `&#123;` and `&#x1F600;`; unknown or malformed entities stay as written.
    public static func decodeEntities(_ s: String) -> String {
        guard s.contains("&") else { return s }
        var out = ""
        var rest = Substring(s)
        while let amp = rest.firstIndex(of: "&") {
            out += rest[..<amp]
            let after = rest[rest.index(after: amp)...]
            if let semi = after.prefix(12).firstIndex(of: ";") {
                let body = after[..<semi]
                var decoded: String? = namedEntities[String(body).lowercased()]
                if decoded == nil, body.hasPrefix("#") {
                    let num = body.dropFirst()
                    let value = num.lowercased().hasPrefix("x") ? UInt32(num.dropFirst(), radix: 16) : UInt32(num)
                    if let value, let scalar = Unicode.Scalar(value) { decoded = String(Character(scalar)) }
                }
                if let decoded {
                    out += decoded
                    rest = after[after.index(after: semi)...]
                    continue
                }
            }
            out += "&"
            rest = after
        }
        out += rest
        return out
    }

    /// Lines that carry no information about what the adapter does: link dumps, donation plugs,
    /// social handles, changelog entries, license boilerplate.
    public static func isBoilerplate(_ line: String) -> Bool {
        let l = line.lowercased().trimmingCharacters(in: .whitespaces)
        if l.isEmpty { return true }
        for plug in boilerplateMarkers where l.hasBytes(plug) { return true }
        if isChangelogLine(l) { return true }
        // A line that is only a URL or only punctuation/emoji.
        let withoutURLs = removeURLs(l).trimmingCharacters(in: .whitespacesAndNewlines.union(.punctuationCharacters).union(.symbols))
        return withoutURLs.isEmpty
    }

    private static let boilerplateMarkers = [
        "ko-fi", "kofi", "patreon", "buymeacoffee", "buy me a coffee", "support me", "tip jar", "donat",
        "discord.gg", "join my discord", "follow me", "my twitter", "twitter.com", "my instagram",
        "please rate", "leave a review", "leave a like", "like and follow", "check out my other",
        "check my other", "license:", "do not resell", "don't resell", "no commercial",
        "creativeml", "openrail", "thanks to", "thank you for", "credits:", "early access",
    ]

    /// "v2 - fixed hands", "v1.1: less pink", "changelog", "update 3/4: …".
    static func isChangelogLine(_ l: String) -> Bool {
        var s = Substring(l)
        while let f = s.first, f == "-" || f == "*" || f == "•" || f == " " || f == "[" || f == "(" { s = s.dropFirst() }
        if s.hasPrefix("changelog") || s.hasPrefix("change log") || s.hasPrefix("update") || s.hasPrefix("patch notes") { return true }
        for prefix in ["version", "ver", "v"] where s.hasPrefix(prefix) {
            let tail = s.dropFirst(prefix.count).drop(while: { $0 == " " || $0 == "." })
            guard let d = tail.first, d.isNumber else { continue }
            let afterNum = tail.drop(while: { $0.isNumber || $0 == "." })
                .drop(while: { $0 == " " || $0 == ")" || $0 == "]" })
            if afterNum.isEmpty { return true }  // a bare "v1.0"
            if let sep = afterNum.first, ":-–—=>".contains(sep) { return true }
            // "v2 changelog", "v3 trained on…", "v4 has better scales": release notes about a version
            let word = afterNum.prefix(while: { $0.isLetter })
            if ["changelog", "changes", "trained", "retrained", "has", "is", "now", "fixed", "fixes", "adds", "added",
                "released", "uploaded", "update", "patterns", "dataset"].contains(String(word)) { return true }
        }
        return false
    }

    /// Removes http(s) and www links from running text.
    public static func removeURLs(_ s: String) -> String {
        guard s.hasBytes("http") || s.hasBytes("www.") else { return s }
        var out = ""
        for token in s.split(separator: " ", omittingEmptySubsequences: false) {
            let t = token.lowercased()
            if t.hasBytes("http://") || t.hasBytes("https://") || t.hasPrefix("www.") { continue }
            if !out.isEmpty { out += " " }
            out += token
        }
        return out
    }

    /// The description as plain sentences about the adapter: HTML stripped, boilerplate lines and
    /// links removed, whitespace collapsed, each kept line on its own line.
    public static func clean(_ description: String) -> String {
        let plain = stripHTML(description)
        var kept: [String] = []
        for rawLine in plain.split(whereSeparator: { $0 == "\n" || $0 == "\r" }) {
            var line = collapseWhitespace(removeURLs(String(rawLine)))
            if line.hasPrefix("- ") { line.removeFirst(2) }
            if isBoilerplate(line) { continue }
            kept.append(line)
        }
        return kept.joined(separator: "\n")
    }

    public static func collapseWhitespace(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.utf8.count)
        var lastSpace = true
        for ch in s {
            if ch.isWhitespace {
                if !lastSpace { out.append(" ") }
                lastSpace = true
            } else {
                out.append(ch)
                lastSpace = false
            }
        }
        if out.hasSuffix(" ") { out.removeLast() }
        return out
    }
}

extension StringProtocol {
    /// Substring test on UTF-8 bytes. Foundation's `contains` goes through CFString and
    /// dominated import time; byte search is exact for valid UTF-8 on both sides.
    @inlinable
    public func hasBytes(_ needle: String) -> Bool {
        var n = needle
        return n.withUTF8 { nb in
            guard let first = nb.first else { return true }
            return self.utf8.withContiguousStorageIfAvailable { hb -> Bool in
                guard hb.count >= nb.count else { return false }
                var i = 0
                let last = hb.count - nb.count
                while i <= last {
                    if hb[i] == first {
                        var j = 1
                        while j < nb.count && hb[i + j] == nb[j] { j += 1 }
                        if j == nb.count { return true }
                    }
                    i += 1
                }
                return false
            } ?? String(self).hasBytes(needle)
        }
    }
}
