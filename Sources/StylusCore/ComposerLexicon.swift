/// General knowledge the composer uses to judge whether an adapter fits a topic: word normalisation,
/// words that never identify an adapter, modifiers that do not narrow a concept, and synonyms /
/// hypernyms ("corgi" is a dog). General prompt-writing knowledge only: nothing here names an
/// adapter or a benchmark prompt.
enum ComposerLexicon {
    /// Lowercased words of a phrase, singularised; `-`/`'` inside words kept, `_` as a space.
    static func words(_ text: String) -> [String] {
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
        "realistic", "photorealistic", "photo", "photography", "classic", "classical", "traditional", "western",
        "fantasy", "medieval", "knight", "plate", "business", "formal", "modern", "generic", "simple",
        "good", "boy", "real", "painterly", "paint", "painting", "impasto", "outfit", "costume", "clothe",
        "wear", "8-bit", "8bit", "16-bit", "basic", "casual", "natural", "better",
    ]

    /// Fixed phrases whose words must not be read alone ("empty space" is composition, not outer space).
    static let compounds: Set<[String]> = [
        ["negative", "space"], ["empty", "space"], ["copy", "space"], ["hot", "dog"], ["mushroom", "cloud"],
        ["red", "panda"], ["sea", "horse"], ["dragon", "fruit"], ["catfish"], ["star", "fish"],
    ]

    /// Broad class nouns: a topic "bonsai tree" or "corgi dog" is about its specific modifier, while
    /// "ramen shop" or "cat ears" is about the head.
    static let classNouns: Set<String> = [
        "tree", "plant", "flower", "animal", "creature", "bird", "fish", "dog", "cat", "girl", "boy", "man",
        "woman", "person", "people", "car", "vehicle", "building", "house", "food", "dish", "bike", "robot",
    ]

    /// Animal words (singular), for telling an animal scene from one with people.
    static let animals: Set<String> = [
        "dog", "cat", "corgi", "puppy", "kitten", "fox", "wolf", "horse", "pony", "bird", "owl", "parrot", "panda",
        "bear", "rabbit", "bunny", "deer", "hedgehog", "squirrel", "lion", "tiger", "elephant", "cow", "sheep",
        "pig", "duck", "goose", "crane", "retriever", "husky", "shiba", "beagle", "poodle", "labrador", "hamster",
        "mouse", "turtle", "frog", "fish", "whale", "dolphin", "shark", "monkey", "giraffe", "zebra", "goat",
    ]

    /// Person words (singular), including booru counts and common roles.
    static let people: Set<String> = [
        "1girl", "1boy", "2girl", "2boy", "girl", "boy", "man", "woman", "men", "women", "person", "people",
        "couple", "lady", "guy", "child", "kid", "knight", "samurai", "warrior", "soldier", "wizard", "witch",
        "mage", "sorceress", "ninja", "pilot", "astronaut", "chef", "maid", "friend", "crowd", "student",
        "princess", "prince", "king", "queen", "character", "human", "humans", "elf", "archer", "boxer",
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

    /// Cues that an adapter is an anthropomorphic or monster-girl variant of an animal or creature.
    static let anthropomorphicCues: Set<String> = [
        "anthro", "furry", "kemonomimi", "catgirl", "foxgirl", "dog girl", "doggirl", "wolfgirl", "bunny girl",
        "monster girl", "musume", "nekomimi", "kitsune", "dragon girl", "animal ear", "girl", "boy",
    ]

    /// Words in a topic that ask for an anthropomorphic form.
    static let anthropomorphicTopicWords: Set<String> = [
        "anthro", "furry", "ear", "tail", "catgirl", "foxgirl", "girl", "musume", "kemonomimi", "nekomimi", "kitsune",
    ]

    /// Other names for a topic phrase: synonyms, the medium a phrase implies, and the class of a
    /// species or type ("corgi" → "dog"), so a species keyword accepts the generic class adapter.
    static let expansions: [[String]: [String]] = [
        ["cat", "ear"]: ["catgirl", "nekomimi"], ["cat", "tail"]: ["catgirl", "nekomimi"],
        ["fox", "ear"]: ["foxgirl", "kitsune"], ["fox", "tail"]: ["foxgirl", "kitsune"],
        ["elf", "ear"]: ["elf"], ["pointy", "ear"]: ["elf"], ["elven"]: ["elf"],
        ["depth", "of", "field"]: ["bokeh"], ["film", "grain"]: ["film photography"], ["35mm"]: ["film photography"],
        ["intricate"]: ["detail"], ["detailed"]: ["detail"], ["thunderstorm"]: ["storm", "lightning"],
        ["golden", "afternoon", "light"]: ["golden hour"], ["vibrant", "color"]: ["saturation"],
        ["dim", "light"]: ["dark"], ["low", "light"]: ["dark"], ["darkness"]: ["dark"], ["deep", "shadow"]: ["dark"],
        ["1980"]: ["80s"], ["1980s"]: ["80s"], ["1990s"]: ["90s"], ["1990"]: ["90s"],
        ["bedroom"]: ["room"], ["living", "room"]: ["room"],
        ["corgi"]: ["dog"], ["retriever"]: ["dog"], ["husky"]: ["dog"], ["labrador"]: ["dog"], ["poodle"]: ["dog"],
        ["beagle"]: ["dog"], ["puppy"]: ["dog"], ["maine", "coon"]: ["cat"], ["tabby"]: ["cat"], ["kitten"]: ["cat"],
        ["siamese"]: ["cat"], ["stallion"]: ["horse"], ["pony"]: ["horse"], ["parrot"]: ["bird"], ["owl"]: ["bird"],
        ["elderly"]: ["old"], ["hugging"]: ["hug"], ["crackling", "electricity"]: ["lightning"],
        ["casting", "a", "spell"]: ["spellcasting"], ["spell"]: ["spellcasting"],
        ["clashing", "sword"]: ["sword fight"], ["motorbike"]: ["motorcycle"], ["backroom"]: ["liminal"],
        ["brutalist"]: ["brutalism"], ["gear"]: ["clockwork"], ["ember"]: ["fire"], ["rose"]: ["flower"],
        ["pickup", "truck"]: ["car"], ["kodak"]: ["film photography"], ["studio", "ghibli"]: ["ghibli"],
        ["neon", "city"]: ["neon"], ["mansion"]: ["house"], ["cottage"]: ["house"], ["villa"]: ["house"],
        ["cabin"]: ["house"], ["thunder"]: ["storm", "lightning"], ["anthro"]: ["furry"], ["kemonomimi"]: ["catgirl"], ["ink", "painting"]: ["ink wash"],
    ]
}

/// Word normalisation shared with retrievers so both sides compare the same forms.
public enum ComposerWords {
    /// A topic with the other names the composer knows for it, as retrieval query text.
    public static func queryText(forTopic keyword: String) -> String {
        let words = ComposerLexicon.words(keyword)
        var text = keyword
        for (key, names) in ComposerLexicon.expansions where TopicWords.contiguous(key, in: words) != nil {
            text += " " + names.joined(separator: " ")
        }
        return text
    }

    public static func singular(_ word: String) -> String { ComposerLexicon.singular(word) }
    public static func words(_ text: String) -> [String] { ComposerLexicon.words(text) }
}
