/// Settings a front end gives on top of a prompt file's frontmatter when composing (CLI flags,
/// `stylus.render` arguments, an MCP call). Nil leaves the frontmatter's value.
public struct ComposeOverrides: Sendable, Equatable {
    public var baseModel: BaseModel?
    public var includeNSFW: Bool?
    public var debias: String?
    public var restoreConcepts: Bool?
    /// Whether a composed prompt gets the trigger words its adapters need (default: yes).
    public var addTriggerWords: Bool?

    public init(baseModel: BaseModel? = nil, includeNSFW: Bool? = nil, debias: String? = nil, restoreConcepts: Bool? = nil,
                addTriggerWords: Bool? = nil) {
        self.baseModel = baseModel
        self.includeNSFW = includeNSFW
        self.debias = debias
        self.restoreConcepts = restoreConcepts
        self.addTriggerWords = addTriggerWords
    }
}

/// A prompt file with the overrides of the front end that asks about it: the one place where the
/// composing settings are read, so `stylus compose`, `stylus render`, the language server and
/// any other front end read them the same way. Each setting is the override, else the
/// frontmatter, else the front end's default (`defaultBaseModel`: the editor's `baseModel` setting).
public struct PromptRequest: Sendable {
    public let file: PromptFile
    public var overrides: ComposeOverrides
    /// The base model when neither the overrides nor the frontmatter name one.
    public var defaultBaseModel: BaseModel?

    public init(text: String, overrides: ComposeOverrides = ComposeOverrides(), defaultBaseModel: BaseModel? = nil) {
        self.init(file: PromptFile(text: text), overrides: overrides, defaultBaseModel: defaultBaseModel)
    }

    public init(file: PromptFile, overrides: ComposeOverrides = ComposeOverrides(), defaultBaseModel: BaseModel? = nil) {
        self.file = file
        self.overrides = overrides
        self.defaultBaseModel = defaultBaseModel
    }

    public var text: String { file.source.text }
    public var baseModel: BaseModel? {
        overrides.baseModel ?? file.settings.baseModel.flatMap { BaseModel($0) } ?? defaultBaseModel
    }
    public var includeNSFW: Bool { overrides.includeNSFW ?? file.settings.nsfw ?? false }
    public var debias: String? { overrides.debias ?? file.settings.debias }
    public var restoreConcepts: Bool { overrides.restoreConcepts ?? file.settings.restoreConcepts ?? false }
    public var addTriggerWords: Bool { overrides.addTriggerWords ?? true }

    /// What the composer pipeline is asked.
    public var composeRequest: ComposeRequest {
        ComposeRequest(prompt: text, baseModel: baseModel, includeNSFW: includeNSFW, debias: debias, restoreConcepts: restoreConcepts,
                       addTriggerWords: addTriggerWords)
    }

    /// The positive prompt with a composition's adapters (all, or those `mask` keeps), built with
    /// this request's `debias`, `restoreConcepts` and `addTriggerWords`: the same text as the
    /// pipeline's `promptWithAdapters` for the same mask.
    public func composedPrompt(_ composition: Composition, mask: [[Bool]]? = nil) -> ComposedPrompt {
        ComposedPrompt(body: PromptBuilder.composedBody(file, composition: composition, mask: mask, debias: debias,
                                                        restoreConcepts: restoreConcepts, addTriggerWords: addTriggerWords).body,
                       adapters: composition.weightedAdapters(mask: mask))
    }

    /// The positive prompt as written, when nothing is composed.
    public var writtenPrompt: ComposedPrompt {
        ComposedPrompt(body: file.positiveText.trimmingCharacters(in: .whitespacesAndNewlines), adapters: [])
    }
}

/// One composed adapter with its final weight: the weight its `<lora:alias:w>` tag carries.
public struct WeightedAdapter: Sendable, Hashable {
    public var adapterID: String
    public var alias: String
    public var weight: Double
    /// The index of its topic in the composition.
    public var topic: Int

    public init(adapterID: String, alias: String, weight: Double, topic: Int) {
        self.adapterID = adapterID
        self.alias = alias
        self.weight = weight
        self.topic = topic
    }

    /// `<lora:alias:w>`.
    public var tag: String { "<lora:\(alias):\(PromptBuilder.format(weight))>" }
}

extension ComposedTopic {
    /// The topic's adapters that `active` keeps (nil: all) with their final weights: the paper's
    /// weight is shared by the adapters active in the topic (`PromptBuilder.weight`).
    public func weightedAdapters(topic index: Int, active: [Bool]? = nil) -> [WeightedAdapter] {
        let kept = adapters.enumerated().filter { i, _ in active?[i] ?? true }.map(\.element)
        return kept.map {
            WeightedAdapter(adapterID: $0.adapterID, alias: $0.alias,
                            weight: PromptBuilder.weight(recommended: $0.recommendedWeight, activeInTopic: kept.count), topic: index)
        }
    }
}

extension Composition {
    /// Every adapter `mask` keeps (nil: all), in topic order, with its final weight.
    public func weightedAdapters(mask: [[Bool]]? = nil) -> [WeightedAdapter] {
        topics.enumerated().flatMap { t, topic in topic.weightedAdapters(topic: t, active: mask?[t]) }
    }

    /// The `<lora:alias:w>` tags of `weightedAdapters(mask:)`.
    public func tags(mask: [[Bool]]? = nil) -> [String] { weightedAdapters(mask: mask).map(\.tag) }
}

/// A prompt ready to render: its text without composed tags, and the composed adapters as values
/// (a renderer resolves them to files and may leave some out without editing text).
public struct ComposedPrompt: Sendable, Equatable {
    /// The positive prompt as written (with its own `<lora:…>` tags), plus debias text, restored
    /// concepts and the trigger words the composed adapters need.
    public var body: String
    public var adapters: [WeightedAdapter]

    public init(body: String, adapters: [WeightedAdapter]) {
        self.body = body
        self.adapters = adapters
    }

    /// The prompt with the tags of `adapters` (or of `keeping` of them) after the body.
    public func text(keeping kept: [WeightedAdapter]? = nil) -> String {
        (kept ?? adapters).reduce(body) { $0 + ", " + $1.tag }
    }
}
