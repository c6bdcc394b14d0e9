import StylusCatalog
import StylusCore

/// How an adapter is shown to people (hover, completion documentation, diagnostics), and byte
/// helpers that locate what the cursor is in. Shared by the catalog handlers.
enum AdapterCards {
    /// The adapter card: title and alias, refined description, trigger words, recommended
    /// weight, base model, tags, source link. Markdown or plain text.
    static func card(_ a: AdapterSummary, markdown: Bool) -> String {
        func code(_ s: String) -> String { markdown ? "`\(s)`" : s }
        var head: [String] = []
        head.append(markdown ? "**\(escape(a.title))** \(code(a.alias))" : "\(a.title) (\(a.alias))")
        head.append("\(a.category.rawValue) · \(a.baseModel?.name ?? "unknown base model") · weight \(formatNumber(a.weight))"
                    + (a.weightSource == .defaultValue ? " (default)" : " (from \(a.weightSource.rawValue.replacingOccurrences(of: "_", with: " ")))")
                    + (a.nsfw ? " · NSFW" : ""))
        var facts: [String] = []
        if !a.triggerWords.isEmpty { facts.append("Trigger words: " + a.triggerWords.map(code).joined(separator: ", ")) }
        if !a.tags.isEmpty { facts.append("Tags: " + a.tags.joined(separator: ", ")) }
        facts.append("Use: " + code("<lora:\(a.alias):\(formatNumber(a.weight))>"))
        if let link = sourceLink(a) { facts.append(markdown ? "[Source](\(link))" : "Source: \(link)") }
        if let file = a.filePath { facts.append("File: " + code(file)) }
        let lineBreak = markdown ? "  \n" : "\n"
        var blocks = [head.joined(separator: lineBreak)]
        if !a.refinedDescription.isEmpty { blocks.append(markdown ? escape(a.refinedDescription) : a.refinedDescription) }
        blocks.append(facts.joined(separator: lineBreak))
        return blocks.joined(separator: "\n\n")
    }

    /// One line for completion `detail`: title · category · weight.
    static func detail(_ a: AdapterSummary) -> String {
        "\(a.title) · \(a.category.rawValue) · \(formatNumber(a.weight))"
    }

    static func sourceLink(_ a: AdapterSummary) -> String? {
        if let url = a.downloadURL, url.hasPrefix("http") { return url }
        if a.source.lowercased().contains("civitai"), let ref = a.sourceRef, !ref.isEmpty, ref.allSatisfy(\.isNumber) {
            return "https://civitai.com/models/\(ref)"
        }
        return nil
    }

    /// Escapes the Markdown characters that would change the meaning of catalog text.
    static func escape(_ s: String) -> String {
        var out = ""
        for ch in s {
            if "\\`*_[]<>#|".contains(ch) { out.append("\\") }
            out.append(ch)
        }
        return out
    }

    /// The recommended weight of an adapter as the tag would show it.
    static func weightText(_ a: AdapterSummary) -> String { formatNumber(a.weight) }

    /// LoRA tags of both prompts, with whether each is in the negative prompt.
    static func loraTags(_ file: PromptFile) -> [(tag: ExtraNetworkTag, negative: Bool)] {
        file.positive.tags.filter(\.isLoRA).map { ($0, false) } + (file.negative?.tags ?? []).filter(\.isLoRA).map { ($0, true) }
    }

    /// The positive prompt with its `<…>` tags blanked out: where trigger words are looked for
    /// (a tag's own alias must not count as its trigger word).
    static func promptWords(_ file: PromptFile) -> String {
        var bytes = Array(file.source.bytes[file.positive.range.utf8])
        let offset = file.positive.range.utf8.lowerBound
        for tag in file.positive.tags {
            for i in (tag.range.utf8.lowerBound - offset)..<(tag.range.utf8.upperBound - offset) where bytes.indices.contains(i) {
                bytes[i] = 0x20
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Answers "is this trigger word in the prompt?" once per distinct word, so a document with
    /// thousands of tags costs one scan per trigger word, not one per tag.
    final class PhraseLookup {
        let text: String
        private var known: [String: Bool] = [:]
        init(_ text: String) { self.text = text }
        func contains(_ phrase: String) -> Bool {
            let key = phrase.lowercased()
            if let k = known[key] { return k }
            let found = AdapterCards.containsPhrase(text, key)
            known[key] = found
            return found
        }
    }

    /// Whether `phrase` appears in `text` as a whole word or phrase (case-insensitive).
    static func containsPhrase(_ text: String, _ phrase: String) -> Bool {
        let hay = Array(text.lowercased().utf8), needle = Array(phrase.lowercased().utf8)
        guard !needle.isEmpty, needle.count <= hay.count else { return false }
        func isWord(_ b: UInt8) -> Bool { b >= 0x80 || (b >= 0x30 && b <= 0x39) || (b >= 0x61 && b <= 0x7A) || b == 0x5F }
        var i = 0
        while i + needle.count <= hay.count {
            if hay[i] == needle[0], Array(hay[i..<i + needle.count]) == needle,
               i == 0 || !isWord(hay[i - 1]), i + needle.count == hay.count || !isWord(hay[i + needle.count]) {
                return true
            }
            i += 1
        }
        return false
    }

    /// A tag's removal: the tag plus one separating comma and spaces, so no ", ," is left.
    static func removalRange(_ tag: ExtraNetworkTag, in source: SourceText) -> Range<Int> {
        let b = source.bytes
        var lo = tag.range.utf8.lowerBound, hi = tag.range.utf8.upperBound
        func isSpace(_ x: UInt8) -> Bool { x == 0x20 || x == 0x09 }
        var j = hi
        while j < b.count, isSpace(b[j]) { j += 1 }
        if j < b.count, b[j] == UInt8(ascii: ",") {
            j += 1
            while j < b.count, isSpace(b[j]) { j += 1 }
            return lo..<j
        }
        var k = lo
        while k > 0, isSpace(b[k - 1]) { k -= 1 }
        if k > 0, b[k - 1] == UInt8(ascii: ",") { lo = k - 1 } else { hi = j }
        return lo..<hi
    }
}
