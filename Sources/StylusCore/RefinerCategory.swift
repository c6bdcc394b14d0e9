import Foundation

/// Which topic an adapter is about. An explicit category tag wins (Civitai's own category tags
/// and their plurals); otherwise cue words in tags, title, trigger words and description vote.
public enum CategoryRules {
    public static func category(tags: [String], title: String, triggerWords: [String], description: String) -> AdapterCategory {
        for tag in tags {
            if let c = AdapterCategory(tag: tag) { return c }
        }
        for tag in tags {
            if let c = tagSynonyms[tag.lowercased().trimmingCharacters(in: .whitespaces)] { return c }
        }
        return inferred(tags: tags, title: title, triggerWords: triggerWords, description: description)
    }

    /// Tags that name a category in other words (second pass, after exact category tags).
    static let tagSynonyms: [String: AdapterCategory] = [
        "art style": .style, "artstyle": .style, "artist style": .style,
        "anime character": .character, "game character": .character, "original character": .character,
        "real person": .celebrity, "likeness": .celebrity, "real people": .celebrity,
        "outfit": .clothing, "outfits": .clothing, "costume": .clothing, "fashion": .clothing,
        "scenery": .background, "environment": .background,
        "architecture": .building,
        "slider": .tool, "sliders": .tool, "utility": .tool, "enhancer": .tool,
        "creature": .animal, "creatures": .animal,
        "prop": .object, "props": .object, "item": .object, "items": .object,
    ]

    /// The cue-word vote alone (used when no tag names a category).
    public static func inferred(tags: [String], title: String, triggerWords: [String], description: String) -> AdapterCategory {
        var score: [AdapterCategory: Double] = [:]
        func vote(_ text: String, weight: Double) {
            let words = wordsOf(text)
            guard !words.isEmpty else { return }
            let joined = " " + words.joined(separator: " ") + " "
            for (category, cues) in cueTable {
                for cue in cues where joined.hasBytes(" " + cue + " ") {
                    score[category, default: 0] += weight
                }
            }
        }
        for t in tags { vote(t, weight: 3) }
        vote(title, weight: 2.5)
        for t in triggerWords { vote(t, weight: 1) }
        vote(description, weight: 1)
        // Booru-style character triggers: "rem_(re:zero)", "raiden shogun (genshin impact)".
        if triggerWords.contains(where: { $0.contains("_(") || $0.range(of: #"\w \([^)]+\)$"#, options: .regularExpression) != nil }) {
            score[.character, default: 0] += 3
        }
        guard let best = score.max(by: { ($0.value, priority($0.key)) < ($1.value, priority($1.key)) }) else { return .concept }
        return best.key
    }

    /// Tie-break: narrow, specific categories before broad ones.
    static func priority(_ c: AdapterCategory) -> Int {
        switch c {
        case .celebrity: return 13
        case .character: return 12
        case .tool: return 11
        case .pose: return 10
        case .action: return 9
        case .clothing: return 8
        case .vehicle: return 7
        case .building: return 6
        case .animal: return 5
        case .object: return 4
        case .background: return 3
        case .style: return 2
        case .concept: return 1
        }
    }

    public static func wordsOf(_ text: String) -> [String] {
        text.lowercased().split(whereSeparator: { !($0.isLetter || $0.isNumber || $0 == "-") }).map(String.init)
    }

    /// Cue words per category (lowercase; multi-word cues match as phrases).
    static let cueTable: [AdapterCategory: [String]] = [
        .style: ["style", "styles", "art style", "artstyle", "painting", "watercolor", "watercolour", "oil painting",
                 "ink", "sketch", "lineart", "line art", "illustration", "aesthetic", "pixel art", "anime style",
                 "cel", "comic", "manga", "film", "analog", "retro", "vaporwave", "synthwave", "ukiyo-e", "impasto",
                 "look", "render", "3d", "low poly", "claymation", "clay", "felt", "papercut", "stained glass",
                 "art", "drawing", "pastel", "photography", "cinematic", "artist", "woodblock", "gouache",
                 "charcoal", "pencil", "crayon", "cyberpunk", "steampunk", "grunge", "noir", "vintage"],
        .character: ["character", "characters", "oc", "waifu", "husbando", "canon outfit", "from the anime",
                     "from the game", "protagonist", "villain", "heroine", "mascot", "fan art", "series"],
        .celebrity: ["celebrity", "celebrities", "actor", "actress", "singer", "likeness", "real person",
                     "idol", "rapper", "politician", "athlete", "musician", "footballer", "youtuber", "streamer",
                     "person"],
        .concept: ["concept", "effect", "effects", "vfx", "glow", "glowing", "particles", "magic", "fire", "lightning",
                   "explosion", "food", "weather", "rain", "snow", "smoke", "hologram", "creature", "monster",
                   "fantasy", "sci-fi", "horror", "robot", "mecha", "emotion", "expression", "lighting"],
        .clothing: ["clothing", "clothes", "outfit", "outfits", "dress", "dresses", "uniform", "uniforms", "kimono",
                    "armor", "armour", "suit", "suits", "jacket", "hoodie", "shirt", "skirt", "swimsuit", "costume",
                    "hat", "hats", "shoes", "boots", "gloves", "hanfu", "bodysuit", "sweater", "coat", "fashion",
                    "wear", "apron", "cloak", "robe", "robes", "scarf", "jeans", "sneakers", "lingerie", "bikini",
                    "gown", "cosplay", "hairstyle"],
        .background: ["background", "backgrounds", "scenery", "landscape", "landscapes", "forest", "city",
                      "cityscape", "sky", "space", "nebula", "interior", "interiors", "room", "beach", "ocean",
                      "mountains", "environment", "street", "streets", "village", "garden", "desert", "underwater",
                      "jungle", "night sky", "skyline", "alley", "meadow", "scene", "scenes", "world"],
        .building: ["building", "buildings", "architecture", "architectural", "house", "houses", "castle", "castles",
                    "temple", "temples", "tower", "towers", "church", "cathedral", "skyscraper", "skyscrapers",
                    "shrine", "pagoda", "villa", "villas", "ruins", "palace", "cottage", "brutalism", "brutalist",
                    "lighthouse", "mansion", "facade"],
        .vehicle: ["vehicle", "vehicles", "car", "cars", "motorcycle", "motorcycles", "motorbike", "truck", "trucks",
                   "train", "trains", "spaceship", "spaceships", "starship", "ship", "ships", "airplane",
                   "aircraft", "plane", "tank", "tanks", "bus", "boat", "boats", "bicycle", "jet", "helicopter",
                   "submarine", "locomotive", "supercar"],
        .animal: ["animal", "animals", "dog", "dogs", "cat", "cats", "horse", "horses", "bird", "birds", "fox",
                  "foxes", "wolf", "wolves", "dragon", "dragons", "fish", "lion", "tiger", "pet", "pets", "feral",
                  "bear", "bears", "rabbit", "bunny", "owl", "owls", "puppy", "kitten", "shark", "whale", "insect",
                  "butterfly", "butterflies", "deer", "wildlife", "reptile", "snake"],
        .pose: ["pose", "poses", "posing", "sitting", "lying", "kneeling", "squatting", "from behind",
                "foreshortening", "hands on hips", "crossed arms", "looking back", "dynamic pose", "stance"],
        .action: ["action", "running", "jumping", "fighting", "dancing", "eating", "swimming", "riding", "flying",
                  "casting", "punching", "kicking", "sword fight", "drinking", "singing", "hugging", "surfing",
                  "skateboarding", "motion"],
        .object: ["object", "objects", "item", "items", "prop", "props", "weapon", "weapons", "sword", "swords",
                  "gun", "guns", "book", "books", "cup", "jewelry", "guitar", "furniture", "bottle", "potion",
                  "crystal", "crown", "mask", "toy", "toys", "plush", "clock", "lamp", "flower", "flowers",
                  "bouquet", "cake", "instrument"],
        .tool: ["tool", "tools", "slider", "sliders", "detail", "detailer", "details", "enhancer", "fix", "fixer",
                "offset noise", "noise offset", "lcm", "turbo", "helper", "quality", "add detail", "contrast",
                "brightness", "utility", "negative weight", "hands fix", "hand fix", "sharpness", "sharpen",
                "exposure", "saturation", "adjuster", "tweaker"],
    ]
}
