/// The adapter model shared by the catalog, the retriever and the composer (pure values, no I/O).

/// What an adapter is about: the paper's refiner topics plus `object` and `tool`.
public enum AdapterCategory: String, Sendable, Hashable, Codable, CaseIterable {
    case style, character, celebrity, concept, clothing, background, building, vehicle
    case animal, pose, action, object, tool

    /// Character and celebrity adapters fit only prompts that name that character or person.
    public var isCharacterLike: Bool { self == .character || self == .celebrity }

    /// Reads a category name or its plural ("poses", "buildings", "celebrities", …), as Civitai
    /// category tags are written.
    public init?(tag: String) {
        if let known = Self.byTagName[tag] { self = known; return }  // as most catalogs write them
        // A lowercase ASCII tag without surrounding blanks is already in normal form (most tags
        // are subjects, and this runs for every tag of every card the composer weighs).
        let bytes = tag.utf8
        if let first = bytes.first, let last = bytes.last, first != 0x20, first != 0x09, last != 0x20, last != 0x09,
           !bytes.contains(where: { $0 >= 0x80 || (0x41...0x5A).contains($0) }) {
            return nil
        }
        guard let known = Self.byTagName[tag.lowercased().trimmingCharacters(in: .whitespaces)] else { return nil }
        self = known
    }

    /// Category names and their plurals.
    private static let byTagName: [String: AdapterCategory] = {
        var names = Dictionary(uniqueKeysWithValues: allCases.map { ($0.rawValue, $0) })
        let plurals: [String: AdapterCategory] = [
            "styles": .style, "characters": .character, "celebrities": .celebrity, "concepts": .concept,
            "clothes": .clothing, "backgrounds": .background, "buildings": .building, "vehicles": .vehicle,
            "animals": .animal, "poses": .pose, "actions": .action, "objects": .object, "tools": .tool,
        ]
        names.merge(plurals) { name, _ in name }
        return names
    }()
}

/// A base-model name in Civitai's spelling ("SD 1.5", "SDXL 1.0", "Pony", …), normalised from
/// whatever a card, a sidecar or a safetensors header says. Unknown names pass through trimmed.
public struct BaseModel: Sendable, Hashable, Codable, CustomStringConvertible {
    public let name: String

    public static let sd14 = BaseModel(canonical: "SD 1.4")
    public static let sd15 = BaseModel(canonical: "SD 1.5")
    public static let sd21 = BaseModel(canonical: "SD 2.1")
    public static let sdxl = BaseModel(canonical: "SDXL 1.0")
    public static let pony = BaseModel(canonical: "Pony")
    public static let illustrious = BaseModel(canonical: "Illustrious")
    public static let flux1D = BaseModel(canonical: "Flux.1 D")

    private init(canonical: String) { name = canonical }

    public var description: String { name }

    /// Normalises a base-model string; nil for empty or "unknown" values.
    ///
    /// Accepts Civitai names and their common misspellings, kohya `ss_base_model_version`
    /// (`sd_v1`, `sdxl_base_v1-0`, …), ModelSpec architectures (`stable-diffusion-xl-v1-base/lora`)
    /// and A1111 user-metadata `sd version` values (`SD1`, `SDXL`).
    public init?(_ raw: String) {
        let trimmed = raw.trimmingCharacters(in: .whitespacesAndNewlines)
        var key = trimmed.lowercased()
        if let slash = key.firstIndex(of: "/") { key = String(key[..<slash]) }  // modelspec "…/lora"
        let compact = Self.aliasKey(key)
        if compact.isEmpty || compact == "unknown" || compact == "other" || compact == "none" { return nil }
        if let known = BaseModel.aliases[compact] { self = known; return }
        if compact.hasPrefix("pony") { self = .pony; return }
        if compact.hasPrefix("illustrious") { self = .illustrious; return }
        if compact.hasPrefix("sdxl") || compact.hasPrefix("stablediffusionxl") { self = .sdxl; return }
        name = trimmed
    }

    /// Keys are `aliasKey`s.
    private static let aliases: [String: BaseModel] = [
        "sd1.5": .sd15, "sd15": .sd15, "sdv1.5": .sd15, "sd1": .sd15, "sdv1": .sd15, "1.5": .sd15,
        "stablediffusion1.5": .sd15, "stablediffusionv1": .sd15, "sd1.x": .sd15, "v1.5": .sd15,
        "sd1.4": .sd14, "sd14": .sd14,
        "sd2.1": .sd21, "sd21": .sd21, "sd2": .sd21, "sdv2": .sd21, "sdv2v": .sd21, "sd2.x": .sd21,
        "stablediffusionv2512": .sd21, "stablediffusionv2768v": .sd21, "sd2.1768": .sd21,
        "sdxl": .sdxl, "sdxl1.0": .sdxl, "sdxl10": .sdxl, "sdxlbasev10": .sdxl, "xl": .sdxl,
        "stablediffusionxlv1base": .sdxl,
        "pony": .pony, "ponyxl": .pony, "ponydiffusion": .pony, "ponydiffusionv6xl": .pony,
        "illustrious": .illustrious, "il": .illustrious, "illustriousxl": .illustrious,
        "flux1": .flux1D, "flux.1d": .flux1D, "flux1d": .flux1D, "flux1dev": .flux1D, "flux": .flux1D,
        "f1": .flux1D, "f.1": .flux1D, "f1d": .flux1D, "f.1d": .flux1D, "stablediffusionxl": .sdxl,
    ]

    /// Whether a text is exactly one of the base-model names above ("sdxl", "Pony XL", "F.1", "1.5"):
    /// a tag or title word that says what the adapter loads into, never what it draws. Exact names
    /// only, unlike `init` (which reads messy base-model fields): "Ponytail" is hair.
    public static func isName(_ text: String) -> Bool {
        aliases[aliasKey(text)] != nil
    }

    /// A name as the alias table keys it: lowercased, everything but letters, digits and dots
    /// removed. An ASCII text is keyed by byte, to the same result: every word of every title and
    /// tag a compose meets is asked, and Characters cost most of that.
    static func aliasKey(_ text: String) -> String {
        guard text.utf8.allSatisfy({ $0 < 0x80 }) else {
            return text.lowercased().filter { $0.isLetter || $0.isNumber || $0 == "." }
        }
        var key: [UInt8] = []
        for b in text.utf8 {
            let lower = (0x41...0x5A).contains(b) ? b + 0x20 : b
            if (0x61...0x7A).contains(lower) || (0x30...0x39).contains(lower) || lower == UInt8(ascii: ".") { key.append(lower) }
        }
        return String(decoding: key, as: UTF8.self)
    }

    /// A title word that names a base model ("Capybara F1"); a bare number ("Detail 1.5") is left to
    /// the title's own noise words.
    public static func namesKnownModel(_ word: String) -> Bool {
        word.contains(where: \.isLetter) && isName(word)
    }

    /// The UNet family: adapters of one family load into checkpoints of that family.
    /// (Pony and Illustrious are SDXL-architecture but not interchangeable for selection.)
    public var architecture: String {
        switch self {
        case .sd14, .sd15: return "sd1"
        case .sd21: return "sd2"
        case .sdxl, .pony, .illustrious: return "sdxl"
        case .flux1D: return "flux"
        default:
            let l = name.lowercased()
            if l.hasPrefix("sd 1") { return "sd1" }
            if l.hasPrefix("sd 2") { return "sd2" }
            if l.contains("xl") { return "sdxl" }
            if l.contains("flux") { return "flux" }
            return "other"
        }
    }
}

/// Where a refined recommended weight came from, in the order the refiner tries them.
public enum WeightSource: String, Sendable, Hashable, Codable {
    case field          // a structured weight (card `weight`, A1111 `preferred weight`, Lora-Manager usage tips)
    case description    // a weight stated in the description (midpoint of a range)
    case examplePrompts = "example_prompts"  // median W of <lora:alias:W> in the card's example prompts
    case llm            // the optional LLM refiner
    case defaultValue = "default"  // nothing said: 0.8, the paper's default
}

/// One adapter as a card describes it (docs/CONTRACTS.md, Adapter cards), before refinement.
public struct AdapterCard: Sendable, Hashable, Codable {
    public var adapterId: String
    public var alias: String
    public var title: String
    /// Normalised (Civitai spelling); nil when unknown.
    public var baseModel: BaseModel?
    public var type: String
    public var tags: [String]
    public var triggerWords: [String]
    /// Raw, may be HTML.
    public var description: String
    public var llmDescription: String?
    /// The card's structured weight, if any.
    public var weight: Double?
    public var nsfw: Bool
    public var downloadCount: Int?
    public var rating: Double?
    public var imagePrompts: [String]
    public var imageURLs: [String]
    public var downloadURL: String?
    public var file: String?
    /// Candidate trigger words from training tags (`ss_tag_frequency`), most frequent first;
    /// used only when the card names no trigger words.
    public var trainingTags: [String]

    public init(adapterId: String, alias: String, title: String, baseModel: BaseModel? = nil,
                type: String = "LORA", tags: [String] = [], triggerWords: [String] = [],
                description: String = "", llmDescription: String? = nil, weight: Double? = nil,
                nsfw: Bool = false, downloadCount: Int? = nil, rating: Double? = nil,
                imagePrompts: [String] = [], imageURLs: [String] = [], downloadURL: String? = nil,
                file: String? = nil, trainingTags: [String] = []) {
        self.adapterId = adapterId
        self.alias = alias
        self.title = title
        self.baseModel = baseModel
        self.type = type
        self.tags = tags
        self.triggerWords = triggerWords
        self.description = description
        self.llmDescription = llmDescription
        self.weight = weight
        self.nsfw = nsfw
        self.downloadCount = downloadCount
        self.rating = rating
        self.imagePrompts = imagePrompts
        self.imageURLs = imageURLs
        self.downloadURL = downloadURL
        self.file = file
        self.trainingTags = trainingTags
    }
}

/// What the refiner derives from a card: the fields retrieval and composition use.
public struct AdapterRefinement: Sendable, Hashable, Codable {
    public var category: AdapterCategory
    public var isCharacter: Bool
    public var weight: Double
    public var weightSource: WeightSource
    public var triggerWords: [String]
    /// Concise text saying what the adapter does; the text that gets embedded and indexed.
    public var refinedDescription: String
    /// The description with HTML and boilerplate removed.
    public var cleanDescription: String

    public init(category: AdapterCategory, isCharacter: Bool, weight: Double, weightSource: WeightSource,
                triggerWords: [String], refinedDescription: String, cleanDescription: String) {
        self.category = category
        self.isCharacter = isCharacter
        self.weight = weight
        self.weightSource = weightSource
        self.triggerWords = triggerWords
        self.refinedDescription = refinedDescription
        self.cleanDescription = cleanDescription
    }
}
