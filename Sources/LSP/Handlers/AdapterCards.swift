import StylusCatalog
import StylusCore

/// How an adapter is shown to people (hover, completion documentation, diagnostics), and byte
/// helpers that locate what the cursor is in. Shared by the catalog handlers.
enum AdapterCards {
    /// The adapter card: title and alias, refined description, trigger words, recommended
    /// weight, base model, tags, source link. Markdown or plain text.
    static func card(_ e: CatalogEntry, markdown: Bool) -> String {
        let c = e.card, r = e.refinement
        func code(_ s: String) -> String { markdown ? "`\(s)`" : s }
        var lines: [String] = []
        lines.append(markdown ? "**\(escape(c.title))** \(code(c.alias))" : "\(c.title) (\(c.alias))")
        lines.append("\(r.category.rawValue) · \(c.baseModel?.name ?? "unknown base model") · weight \(PromptBuilder.format(r.weight))"
                     + (r.weightSource == .defaultValue ? " (default)" : " (from \(r.weightSource.rawValue.replacingOccurrences(of: "_", with: " ")))")
                     + (c.nsfw ? " · NSFW" : ""))
        if !r.refinedDescription.isEmpty { lines.append(""); lines.append(markdown ? escape(r.refinedDescription) : r.refinedDescription) }
        lines.append("")
        if !r.triggerWords.isEmpty { lines.append("Trigger words: " + r.triggerWords.map(code).joined(separator: ", ")) }
        if !c.tags.isEmpty { lines.append("Tags: " + c.tags.joined(separator: ", ")) }
        lines.append("Use: " + code("<lora:\(c.alias):\(PromptBuilder.format(r.weight))>"))
        if let link = sourceLink(e) { lines.append(markdown ? "[Source](\(link))" : "Source: \(link)") }
        if let file = e.file?.path { lines.append("File: " + code(file)) }
        return lines.joined(separator: markdown ? "  \n" : "\n").replacingOccurrences(of: "  \n  \n", with: "\n\n")
    }

    /// One line for completion `detail`: title · category · weight.
    static func detail(_ e: CatalogEntry) -> String {
        "\(e.card.title) · \(e.refinement.category.rawValue) · \(PromptBuilder.format(e.refinement.weight))"
    }

    static func sourceLink(_ e: CatalogEntry) -> String? {
        if let url = e.card.downloadURL, url.hasPrefix("http") { return url }
        if e.source.lowercased().contains("civitai"), let ref = e.sourceRef, !ref.isEmpty, ref.allSatisfy(\.isNumber) {
            return "https://civitai.com/models/\(ref)"
        }
        return e.card.imageURLs.first { $0.hasPrefix("http") }
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
    static func weightText(_ e: CatalogEntry) -> String { PromptBuilder.format(e.refinement.weight) }

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
