import Foundation

/// General knowledge the composer uses to judge whether an adapter fits a topic: word normalisation,
/// words that never identify an adapter, modifiers that do not narrow a concept, and synonyms /
/// hypernyms ("corgi" is a dog). General prompt-writing knowledge only: nothing here names an
/// adapter or a benchmark prompt.
enum ComposerLexicon {
    /// Lowercased words of a phrase, singularised; `-`/`'` inside words kept, `_` as a space.
    static func words(_ text: String) -> [String] {
        if isASCII(text) { return asciiWords(text) }
        var out: [String] = []
        var current = ""
        func flush() {
            while let last = current.last, last == "-" || last == "'" { current.removeLast() }
            if !current.isEmpty { out.append(singular(current)) }
            current = ""
        }
        for ch in text.lowercased() {
            if ch.isLetter || ch.isNumber {
                current.append(ch)
            } else if (ch == "-" || ch == "'") && !current.isEmpty {
                current.append(ch)
            } else {
                flush()
            }
        }
        flush()
        return out
    }

    /// `words` of an ASCII text, by byte: the same words without a Unicode property look-up per
    /// character (most of the cost of reading a catalog's names).
    private static func asciiWords(_ text: String) -> [String] {
        var out: [String] = []
        var current: [UInt8] = []
        func flush() {
            while let last = current.last, last == UInt8(ascii: "-") || last == UInt8(ascii: "'") { current.removeLast() }
            if !current.isEmpty { out.append(singular(String(decoding: current, as: UTF8.self))) }
            current.removeAll(keepingCapacity: true)
        }
        for byte in text.utf8 {
            let b = (0x41...0x5A).contains(byte) ? byte + 0x20 : byte  // lower case
            if isASCIILetterOrDigit(b) {
                current.append(b)
            } else if (b == UInt8(ascii: "-") || b == UInt8(ascii: "'")) && !current.isEmpty {
                current.append(b)
            } else {
                flush()
            }
        }
        flush()
        return out
    }

    /// Whether `text` is all ASCII: then words and names can be read byte by byte.
    static func isASCII(_ text: String) -> Bool { text.utf8.allSatisfy { $0 < 0x80 } }

    /// An ASCII letter or digit (what `Character.isLetter || isNumber` says for ASCII).
    static func isASCIILetterOrDigit(_ b: UInt8) -> Bool {
        (0x61...0x7A).contains(b) || (0x41...0x5A).contains(b) || (0x30...0x39).contains(b)
    }

    /// A crude English singular, applied to both sides of every comparison so it only has to be
    /// consistent: "hoodies"/"hoodie" → "hoody", "skies" → "sky", "foxes" → "fox", "eyes" → "eye".
    static func singular(_ word: String) -> String {
        var w = word
        if w.hasSuffix("ie") { w = String(w.dropLast(2)) + "y" }
        if w.count > 4, w.hasSuffix("ies") { return String(w.dropLast(3)) + "y" }
        // glasses → glass, foxes → fox, benches → bench; but houses → house, roses → rose.
        if w.count > 4, w.hasSuffix("sses") || w.hasSuffix("xes") || w.hasSuffix("ches") || w.hasSuffix("shes") {
            return String(w.dropLast(2))
        }
        if w.count > 3, w.hasSuffix("s"), !w.hasSuffix("ss"), !w.hasSuffix("us"), !w.hasSuffix("is") {
            return String(w.dropLast())
        }
        return w
    }

    /// Words in adapter titles that say nothing about the subject (packaging, base model, quality).
    static let titleNoise: Set<String> = [
        "style", "lora", "locon", "lycoris", "xl", "sdxl", "pony", "ponyxl", "sd", "1.5", "v1", "v2", "v3", "v4",
        "the", "a", "an", "and", "photo", "art", "image", "realistic", "photorealistic", "background",
        "bg", "look", "effect", "effects", "vfx", "pack", "series", "generator", "world", "dream", "dreams", "lite",
        "fix", "aesthetic", "mechanism", "scene", "page", "model", "version", "concept",
    ]

    /// Tags that are category names, base models or packaging, never a subject.
    static let tagNoise: Set<String> = [
        "style", "character", "celebrity", "concept", "clothing", "background", "building", "vehicle", "animal",
        "pose", "action", "object", "tool", "sdxl", "pony", "ponyxl", "xl", "sd", "sd 1.5", "sd1.5", "lora",
    ]

    /// Words too broad to be the head of a topic ("castle background" is about the castle).
    static let topicNoise: Set<String> = [
        "background", "style", "photo", "portrait", "shot", "scene", "art", "image", "view", "aesthetic",
        "effect", "picture", "render", "painting", "print", "drawing", "illustration", "photograph", "photography",
        "still", "panel", "screenshot", "shading", "texture", "grade", "look",
    ]

    /// Modifiers that describe the default form of a thing and so do not make an adapter narrower
    /// than a plain topic ("Classical Oil Painting" for "oil painting", "Realistic Dogs" for "dog").
    static let defaultModifiers: Set<String> = [
        "realistic", "photorealistic", "photo", "photography", "classic", "classical", "traditional",
        "modern", "generic", "simple", "good", "real", "basic", "natural", "better",
    ]

    /// "-ing" words that are nouns at the end of a phrase ("oil painting", "tall building"); any other
    /// final "-ing" word is a verb form and not the head ("cat waiting").
    static let ingHeadNouns: Set<String> = [
        "painting", "building", "clothing", "lighting", "ceiling", "wedding", "pudding", "dumpling", "earring",
        "stocking", "drawing", "carving", "engraving", "etching", "ring", "king", "wing", "string", "spring",
        "swing", "thing", "sibling", "duckling", "railing", "awning", "landing", "frosting", "icing", "topping",
        "filling", "bedding", "dressing", "evening", "morning", "clearing", "offering", "viking", "sapling",
        "seedling", "lightning", "rendering", "shading", "housing", "sling", "bling",
    ]

    /// Prepositions that end the head of a title or topic ("City at Night" is a city).
    static let headStops: Set<String> = ["of", "at", "on", "in", "with", "for", "over", "from", "the", "and", "by", "under"]

}

/// Word normalisation shared with retrievers so both sides compare the same forms.
public enum ComposerWords {
    public static func singular(_ word: String) -> String { ComposerLexicon.singular(word) }
    /// An adapter title without packaging ("[XL] Watercolor Style v2 | 水彩" → "watercolor"), the text
    /// whose embedding stands for the adapter's name; the raw title when nothing is left.
    public static func titleText(_ title: String) -> String {
        let names = AdapterNames.titleAlternatives(title).map { $0.joined(separator: " ") }
        return names.isEmpty ? title : names.joined(separator: " / ")
    }
    public static func words(_ text: String) -> [String] { ComposerLexicon.words(text) }

    /// The tags whose embeddings stand for what an adapter draws: its subject tags, without category
    /// names and base-model names (which say nothing about the subject), at most six.
    public static func subjectTags(_ tags: [String]) -> [String] {
        var out: [String] = []
        for raw in tags where out.count < 6 {
            if let tag = subjectTagMemo.value(raw, ComposerWords.subjectTag), !out.contains(tag) { out.append(tag) }
        }
        return out
    }

    /// A tag in normal form when it names a subject (not a category or a base model), else nil.
    static func subjectTag(_ raw: String) -> String? {
        let tag = raw.trimmingCharacters(in: .whitespaces).lowercased()
        return !tag.isEmpty && AdapterCategory(tag: tag) == nil && !isBaseModelName(tag) ? tag : nil
    }

    /// A catalog's tags repeat across thousands of cards: each is classified once per process.
    private static let subjectTagMemo = BoundedMemo<String, String?>(capacity: 100_000)

    /// A tag that names a known base model ("sdxl", "flux", "Pony XL"), not a subject.
    static func isBaseModelName(_ tag: String) -> Bool {
        BaseModel(tag).map { [BaseModel.sd14, .sd15, .sd21, .sdxl, .pony, .illustrious, .flux1D].contains($0) } ?? false
    }
}
