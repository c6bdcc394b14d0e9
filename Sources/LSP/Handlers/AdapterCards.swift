import StylusCatalog
import StylusCore

/// How an adapter is shown to people (hover, completion documentation, diagnostics), and byte
/// helpers that locate what the cursor is in. Shared by the catalog handlers.
enum AdapterCards {
    /// The adapter card: title and alias, refined description, trigger words, recommended
    /// weight, base model, tags, source link. Markdown or plain text.
    /// `installed`: the adapter's local file, nil when it has none (known, not installed); the
    /// card says which, and how to install it.
    static func card(_ a: AdapterSummary, markdown: Bool, installed: String?? = .none) -> String {
        func code(_ s: String) -> String { markdown ? "`\(s)`" : s }
        var head: [String] = []
        head.append(markdown ? "**\(escape(a.title))** \(code(a.alias))" : "\(a.title) (\(a.alias))")
        head.append("\(a.category.rawValue) · \(a.baseModel?.name ?? "unknown base model") · weight \(formatNumber(a.weight))"
                    + (a.weightSource == .defaultValue ? " (default)" : " (from \(a.weightSource.rawValue.replacingOccurrences(of: "_", with: " ")))")
                    + (a.nsfw ? " · NSFW" : ""))
        var facts: [String] = []
        if !a.triggerWords.isEmpty { facts.append("Trigger words: " + a.triggerWords.map(code).joined(separator: ", ")) }
        if !a.tags.isEmpty { facts.append("Tags: " + a.tags.joined(separator: ", ")) }
        facts.append("Use: " + code("<lora:\(a.alias):\(weightText(a))>")
                     + " (recommended \(formatNumber(a.weight)) × 0.8, as the composer weighs an adapter alone in its topic)")
        if let link = sourceLink(a) { facts.append(markdown ? "[Source](\(link))" : "Source: \(link)") }
        switch installed {
        case .some(.some(let file)): facts.append("Installed: " + code(file))
        case .some(.none):
            facts.append("Not installed: no local file; put \(code(a.alias + ".safetensors")) in a LoRA folder (loraDirs) to render with it")
        case .none: if let file = a.filePath { facts.append("File: " + code(file)) }
        }
        let lineBreak = markdown ? "  \n" : "\n"
        var blocks = [head.joined(separator: lineBreak)]
        if !a.refinedDescription.isEmpty { blocks.append(markdown ? escape(a.refinedDescription) : a.refinedDescription) }
        blocks.append(facts.joined(separator: lineBreak))
        return blocks.joined(separator: "\n\n")
    }

    /// One line for completion `detail`: installed or not (when known) · title · category · weight.
    static func detail(_ a: AdapterSummary, installed: Bool? = nil) -> String {
        (installed.map { $0 ? "installed · " : "not installed · " } ?? "") + "\(a.title) · \(a.category.rawValue) · \(weightText(a))"
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

    /// The weight a tag of this adapter gets: the composer's rule (`PromptBuilder.weight`) for an
    /// adapter alone in its topic, so completion, hover, quick fix and "Compose adapters" agree.
    static func weightText(_ a: AdapterSummary) -> String { formatNumber(suggestedWeight(a)) }

    static func suggestedWeight(_ a: AdapterSummary) -> Double { PromptBuilder.weight(recommended: a.weight, activeInTopic: 1) }

    /// Whether a tag's weight is one the composer gives this adapter (alone or sharing its topic
    /// with up to three others): no quick fix contradicts it.
    static func isComposerWeight(_ w: Double, of a: AdapterSummary) -> Bool {
        (1...4).contains { abs(PromptBuilder.weight(recommended: a.weight, activeInTopic: $0) - w) < 0.005 }
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
