/// Word classes for keyword extraction. General English and prompt-writing knowledge only:
/// nothing here names an adapter or a benchmark prompt.
package enum Lexicon {
    static let determiners: Set<String> = [
        "a", "an", "the", "this", "that", "these", "those", "his", "her", "its", "their", "my", "your", "our",
        "some", "any", "each", "every", "another", "such", "both", "either", "whose", "one", "two", "three",
        "four", "five", "six", "seven", "eight", "nine", "ten", "several", "many", "few", "multiple",
        "numerous", "various", "lots", "plenty",
    ]

    /// The determiners and pronouns that open a verb's object ("strikes *her* pose", "circles *the*
    /// wreck", "filling *the* sky"): a noun phrase is seldom followed straight by one.
    static let objectOpeners: Set<String> = [
        "a", "an", "the", "his", "her", "its", "their", "my", "your", "our", "this", "these", "those", "him", "them",
    ]

    static let prepositions: Set<String> = [
        "of", "in", "on", "at", "by", "with", "without", "from", "to", "into", "onto", "over", "under",
        "above", "below", "behind", "beside", "besides", "between", "among", "amongst", "through", "throughout",
        "across", "against", "along", "alongside", "around", "near", "inside", "outside", "toward", "towards",
        "upon", "within", "during", "after", "before", "beneath", "underneath", "beyond", "past", "via", "like",
        "as", "for", "about", "atop", "amid", "amidst", "off", "out", "up", "down", "unto", "till",
        "until", "per", "versus", "vs", "next",
        // Relational verbs work like prepositions: "a window depicting a fox" is about the fox.
        "depicting", "showing", "featuring", "containing", "including", "portraying", "representing",
    ]

    static let conjunctions: Set<String> = [
        "and", "&", "or", "but", "nor", "while", "whilst", "whereas", "than", "then", "so", "yet", "where",
        "when", "which", "who", "whom", "because", "although", "though", "if", "unless", "whether",
    ]

    /// Pronouns, auxiliaries and adverbs: never part of a topic.
    static let functionWords: Set<String> = Set([
        "he", "she", "it", "they", "him", "them", "i", "me", "you", "we", "us", "himself", "herself",
        "itself", "themselves", "someone", "something", "everything", "nothing", "everyone", "anyone",
        "is", "are", "was", "were", "be", "been", "being", "am", "has", "have", "had", "do", "does", "did",
        "can", "could", "will", "would", "shall", "should", "may", "might", "must",
        "just", "only", "also", "too", "all",
        "even", "here", "there", "away", "together", "again", "ever", "never", "not", "always",
        "overhead", "alone", "nearby", "afar", "everywhere", "outdoors", "indoors", "upward", "upwards", "downward",
        "doing", "making", "having", "getting", "going", "becoming",
    ]).union(degreeAdverbs)

    /// Adverbs of degree: function words ("a very old tree" → "old tree", "slightly faded colors" →
    /// "faded colors"), but a two-word tag of one and the word it grades stays whole ("highly
    /// detailed", "fully armored"), as "extremely detailed" does; cut from it, a lone participle
    /// would leave no topic at all.
    static let degreeAdverbs: Set<String> = [
        "very", "really", "quite", "rather", "almost", "nearly", "slightly", "somewhat", "barely", "mostly",
        "partly", "fully", "highly", "super", "overly",
    ]

    /// The function words that are a clause's subject: what follows one is its verb, not a thing.
    static let subjectPronouns: Set<String> = ["he", "she", "it", "they", "we", "i", "you"]

    /// Praise that does not change what is drawn ("an epic painting" is a painting).
    static let fillerAdjectives: Set<String> = [
        "epic", "lone", "beautiful", "stunning", "gorgeous", "amazing", "awesome", "incredible", "breathtaking",
        "magnificent", "lovely", "nice", "cool", "great", "fantastic", "wonderful", "superb", "majestic",
        "spectacular", "impressive", "marvelous", "marvellous", "fabulous", "brilliant", "perfectly",
    ]

    /// "-ing" words that are nouns, not verbs.
    static let ingNouns: Set<String> = [
        "living", "dining", "parking", "swimming", "waiting", "painting", "paintings", "building", "buildings", "clothing", "lighting", "ceiling", "evening", "morning",
        "wedding", "pudding", "dumpling", "dumplings", "stocking", "stockings", "earring", "earrings", "bedding",
        "railing", "railings", "landing", "stuffing", "icing", "frosting", "sibling", "darling",
        "duckling", "seedling", "sapling", "viking", "vikings", "awning", "crossing", "dwelling", "opening",
        "offering", "sketching", "drawing", "drawings", "carving", "carvings", "etching", "engraving", "rendering",
        "shading", "plating", "lightning", "spring", "string", "swing", "thing",
        "anything", "ring", "king", "wing", "sling", "sting", "bling", "ping", "ling",
        "housing", "ending", "beginning", "feeling", "meeting", "clearing", "filling", "topping",
        "toppings", "seasoning", "dressing", "flooring", "siding", "fencing", "roofing", "piping", "lining",
        "bunting", "trimming", "trimmings", "scaffolding", "mooring", "pairing", "serving", "inkling",
        "hatchling", "fledgling", "youngling", "halfling", "changeling", "earthling", "starling", "gosling",
        "sterling", "bowling", "camping", "fishing", "hiking", "skiing", "surfing", "boxing", "wrestling",
        "sewing", "knitting", "cooking", "baking", "gardening", "shopping",
    ]

    /// "-ing" words that describe rather than act ("glowing eyes", "flowing hair").
    static let ingAdjectives: Set<String> = [
        "glowing", "flowing", "shining", "sparkling", "glittering", "twinkling", "swirling", "rolling", "towering",
        "looming", "soaring", "floating", "blazing", "burning", "smoking", "steaming", "dripping", "shimmering",
        "gleaming", "crumbling", "buzzing", "flickering", "roaring", "falling", "rising", "setting", "winding",
        "sprawling", "striking", "stunning", "amazing", "interesting", "charming", "enchanting", "haunting",
        "moving", "living", "dying", "sleeping", "flying", "running", "hanging", "standing", "sitting",
        "matching", "contrasting", "clashing", "piercing", "billowing", "sweeping", "rushing", "melting",
        "freezing", "boiling", "raging", "howling", "thundering", "weeping", "wilting", "blooming", "growing",
        "overflowing", "cascading", "gaping", "yawning", "smiling", "grinning", "laughing", "crying",
    ]

    /// "-ed" words that are nouns or fixed adjectives, never verbs.
    static let edWords: Set<String> = [
        "steed", "speed", "breed", "tweed", "creed", "greed", "weed", "embed", "hundred", "sacred", "naked",
        "wicked", "rugged", "jagged", "ragged", "beloved", "crooked", "wretched", "aged", "bed", "red", "shed",
        "sled", "seed", "reed", "reeds", "seabed", "flowerbed", "hotbed", "daybed", "sunbed",
    ]

    /// Irregular participles that act as verbs when no noun follows and that WordNet also lists as
    /// nouns, so the generated `VerbForms.irregularPast` leaves them out ("a lantern set on a table").
    static let irregularParticiples: Set<String> = [
        "lit", "left", "given", "bound", "found", "wound", "felt", "sent", "bent", "lent", "dug", "fed", "led", "sat", "set",
    ]

    /// Heads that take "of" inside one topic: containers, quantities, forms, "style of".
    static let ofJoiners: Set<String> = [
        "cup", "mug", "glass", "bowl", "plate", "ball", "pile", "stack", "heap", "bunch", "bouquet", "basket",
        "jar", "bottle", "slice", "piece", "box", "bag", "sack", "crowd", "crowds", "field", "fields", "sea",
        "swarm", "flock", "herd", "pack", "cloud", "clouds", "wall", "river", "pool", "trail", "ring",
        "circle", "spiral", "shower", "rain", "storm", "burst", "explosion", "splash", "pair", "set", "row",
        "rows", "line", "lines", "sheet", "wave", "waves", "style", "made", "kind", "type", "bowls", "cups",
        "plates", "glasses", "bottles", "baskets", "piles", "stacks", "tray", "pot", "kettle", "teapot", "loaf",
        "bar", "can", "carton", "handful", "drop", "drops", "puddle", "stream", "carpet", "blanket", "veil",
        "halo", "crown", "wreath", "tide", "army", "legion", "fleet", "cluster", "depth", "point", "state",
    ]

    /// Words too broad to be a topic on their own.
    static let genericWords: Set<String> = [
        "image", "images", "picture", "pictures", "photo", "photograph", "portrait", "artwork", "art",
        "illustration", "scene", "view", "background", "thing", "things", "stuff", "style", "quality",
        "detail", "details", "one", "version", "render", "rendering", "composition", "design", "concept",
        "prompt", "subject", "object", "objects", "front", "side", "top", "bottom", "left", "right", "middle",
        "center", "distance", "foreground", "ground", "way", "time", "day", "lot", "bit", "kind", "type",
        "made", "full", "little", "big", "small", "large", "huge", "tiny", "giant", "new", "old", "other",
        "own", "same", "different", "first", "last", "next", "single", "double",
    ]

    /// Quality and score boilerplate that is never a topic (compared lowercased, words single-spaced).
    static let boilerplate: Set<String> = [
        "masterpiece", "best quality", "high quality", "highest quality", "top quality", "good quality",
        "normal quality", "low quality", "worst quality", "bad quality", "amazing quality", "great quality",
        "ultra quality", "very aesthetic", "aesthetic", "best aesthetic", "absurdres", "absurd res",
        "highres", "high res", "hires", "incredibly absurdres", "ultra high res", "ultra high resolution",
        "high resolution", "8k", "4k", "2k", "16k", "uhd", "8k uhd", "4k uhd", "hd", "fhd", "official art",
        "museum quality", "award winning", "award-winning", "trending on artstation", "artstation",
        "newest", "masterwork", "masterpieces", "best_quality", "high_quality", "8k wallpaper",
        "4k wallpaper", "wallpaper", "raw photo", "photorealistic quality", "very awa", "lowres",
    ]

    /// The text's comma-separated tags without quality boilerplate (`masterpiece`, `best quality`,
    /// `score_9`, …), for retrieval queries: such tags open most prompts and say nothing about which
    /// adapter fits, and each costs the encoder a few word pieces.
    package static func withoutBoilerplateTags(_ text: String) -> String {
        guard text.contains(",") || isBoilerplate(text.lowercased()) else { return text }
        return text.split(separator: ",")
            .map { $0.split(whereSeparator: { $0.isWhitespace }).joined(separator: " ") }
            .filter { !$0.isEmpty && !isBoilerplate($0.lowercased()) }
            .joined(separator: ", ")
    }

    /// Boilerplate phrases, including the Pony/Illustrious score, source and rating tags.
    static func isBoilerplate(_ phrase: String) -> Bool {
        guard phrase.utf8.count <= 40 else { return false }  // boilerplate tags are short
        let p = phrase.replacingUnderscores
        if boilerplate.contains(p) { return true }
        for prefix in ["score ", "source ", "rating "] where p.hasPrefix(prefix) {
            let rest = p.dropFirst(prefix.count)
            if prefix == "score " {
                // score_9, score_8_up, score_7_up
                if let first = rest.first, first.isNumber { return true }
            } else if !rest.isEmpty, !rest.contains(" ") {
                return true  // source_anime, rating_safe
            }
        }
        return false
    }
}

extension String {
    var replacingUnderscores: String {
        guard utf8.contains(0x5F) else { return self }
        return String(decoding: utf8.map { $0 == 0x5F ? 0x20 : $0 }, as: UTF8.self)
    }
}
