/// The `<lora:…>` tags of a prompt file and the text trigger words are looked for in: what the
/// catalog checks, hovers and code actions read.
extension PromptFile {
    /// LoRA tags of both prompts, in order, with whether each is in the negative prompt.
    public var loraTags: [(tag: ExtraNetworkTag, negative: Bool)] {
        positive.tags.filter(\.isLoRA).map { ($0, false) } + (negative?.tags ?? []).filter(\.isLoRA).map { ($0, true) }
    }

    /// The positive prompt with its `<…>` tags blanked out: where trigger words are looked for
    /// (a tag's own alias must not count as its trigger word).
    public var triggerSearchText: String {
        var bytes = Array(source.bytes[positive.range.utf8])
        let offset = positive.range.utf8.lowerBound
        for tag in positive.tags {
            for i in (tag.range.utf8.lowerBound - offset)..<(tag.range.utf8.upperBound - offset) where bytes.indices.contains(i) {
                bytes[i] = 0x20
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// Answers "is this phrase in the text?" once per distinct phrase, so a document with thousands
/// of tags costs one scan per trigger word, not one per tag.
public final class PhraseLookup {
    public let text: String
    private var known: [String: Bool] = [:]

    public init(_ text: String) { self.text = text }

    public func contains(_ phrase: String) -> Bool {
        let key = phrase.lowercased()
        if let k = known[key] { return k }
        let found = Self.containsPhrase(text, key)
        known[key] = found
        return found
    }

    /// Whether `phrase` appears in `text` as a whole word or phrase (case-insensitive).
    public static func containsPhrase(_ text: String, _ phrase: String) -> Bool {
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
}

/// The one rule for trigger words of chosen adapters, shared by the `missing-trigger` check and
/// every composer front end: an adapter is happy when one of its trigger words is in the prompt.
public enum TriggerWords {
    /// The trigger words to add to `text` so that each of `aliases` has one: the first trigger
    /// word of each adapter that has none in the text, in order, without repeats.
    public static func missing(for aliases: [String], in text: String, triggerWords: (String) -> [String]) -> [String] {
        let lookup = PhraseLookup(text)
        var out: [String] = []
        for alias in aliases {
            let triggers = triggerWords(alias).filter { !$0.isEmpty }
            guard let first = triggers.first, !triggers.contains(where: lookup.contains),
                  !out.contains(where: { $0.lowercased() == first.lowercased() }) else { continue }
            out.append(first)
        }
        return out
    }
}
