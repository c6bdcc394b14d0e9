import Dispatch

/// The whole Stylus selection for one prompt: topics → retrieval → composer → prompt builder.
public struct ComposeRequest: Sendable {
    public var prompt: String
    /// Overrides the prompt file's `base_model`.
    public var baseModel: BaseModel?
    public var includeNSFW: Bool
    public var debias: String?
    public var restoreConcepts: Bool
    /// How many whole-prompt retrieval results to rank (the paper's retriever output); the lexical
    /// candidate pool is its first `ComposePipeline.wholePromptPoolLimit`.
    public var retrieveLimit: Int
    /// `retrieveLimit`'s default, and the most `stylus compose --retrieved` / MCP `retrieved` show.
    public static let defaultRetrieveLimit = 150
    /// Add the trigger words the chosen adapters need and the prompt lacks, before the tags.
    public var addTriggerWords: Bool

    public init(prompt: String, baseModel: BaseModel? = nil, includeNSFW: Bool = false, debias: String? = nil,
                restoreConcepts: Bool = false, retrieveLimit: Int = defaultRetrieveLimit, addTriggerWords: Bool = true) {
        self.prompt = prompt
        self.baseModel = baseModel
        self.includeNSFW = includeNSFW
        self.debias = debias
        self.restoreConcepts = restoreConcepts
        self.retrieveLimit = retrieveLimit
        self.addTriggerWords = addTriggerWords
    }

    /// The final prompt for a composition of this request's prompt file: the prompt, debias text,
    /// the missing trigger words (unless turned off) and the tags. Both pipelines build it here.
    func promptWithAdapters(_ composition: Composition, file: PromptFile) -> (text: String, triggerWords: [String]) {
        let (body, triggers) = PromptBuilder.composedBody(file, composition: composition, debias: debias,
                                                          restoreConcepts: restoreConcepts, addTriggerWords: addTriggerWords)
        return (ComposedPrompt(body: body, adapters: composition.weightedAdapters()).text(), triggers)
    }
}

public struct ComposeOutcome: Sendable {
    public var prompt: String
    public var baseModel: BaseModel?
    public var retrieved: [String]
    public var composition: Composition
    /// UTF-16 offsets of each topic in the prompt text.
    public var topicRanges: [[Int]]
    /// The prompt, debias text, missing trigger words and `<lora:…>` tags.
    public var promptWithAdapters: String
    /// The trigger words `promptWithAdapters` adds (none when the request turns them off).
    public var triggerWords: [String] = []
    /// Milliseconds per stage: topics, retrieve, compose, hybrid_wait (what was left of the hybrid
    /// whole-prompt retrieval, which runs beside the others), total.
    public var timingsMs: [(String, Double)]
}

public enum ComposePipeline {
    /// Candidates asked per topic (any base model, so rejections can say why and compounds are known).
    public static let perTopicLimit = 40
    /// Whole-prompt candidates the composer weighs (the per-topic lists bring the rest).
    public static let wholePromptPoolLimit = 40
    /// Hybrid (dense + BM25) candidates asked per topic.
    public static let perTopicHybridLimit = 20

    /// Embeddings (topics, prompt, category descriptions) and WordNet for the composer. Without an
    /// encoder the evidence is lexical only and the composer uses its lexical model.
    static func composeEvidence(topics: [Topic], body: String, source: any CandidateSource,
                                retriever: (any CandidateSource)?) -> ComposeEvidence {
        let knowledge = retriever?.wordKnowledge ?? source.wordKnowledge
        guard let retriever, !topics.isEmpty else { return ComposeEvidence(knowledge: knowledge) }
        let categories = ComposerFeatures.categoryDescriptions
        let texts = topics.map(\.keyword) + [body] + categories.map(\.1)
        guard let vectors = retriever.embed(texts), vectors.count == texts.count, vectors.allSatisfy({ !$0.isEmpty }) else {
            return ComposeEvidence(knowledge: knowledge)
        }
        var categoryVectors: [AdapterCategory: [Float]] = [:]
        for (k, (c, _)) in categories.enumerated() { categoryVectors[c] = vectors[topics.count + 1 + k] }
        return ComposeEvidence(topicVectors: Array(vectors[0..<topics.count]), promptVector: vectors[topics.count],
                               categoryVectors: categoryVectors, knowledge: knowledge)
    }

    /// The catalog's adapters for the `<lora:…>` tags already in `body`, by alias (case-insensitive).
    package static func presentAdapters(in body: String, source: any CandidateSource) throws -> [CandidateAdapter] {
        try Composer.presentLoraAliases(in: body).flatMap { try source.adapters(withAlias: $0) }
    }

    /// The dense query for a topic in its prompt: 2 × topic + prompt, normalised.
    static func topicQueryVector(_ topic: [Float], _ prompt: [Float]) -> [Float] {
        var q = prompt
        for j in q.indices where j < topic.count { q[j] += 2 * topic[j] }
        let n = q.reduce(0) { $0 + $1 * $1 }.squareRoot()
        return n > 0 ? q.map { $0 / n } : q
    }

    /// A prompt whose composition takes each stage's first-use costs: WordNet and the lexicons
    /// loaded, the scorer decoded, the category descriptions embedded, the encoder's and the
    /// retriever's buffers and threads started. Sentences and tags, a style, verbs and an -ing word.
    package static let warmUpPrompt = "a knight in silver armor rides a horse through a misty forest at sunset, "
        + "casting a spell, watercolor, highly detailed"

    /// Composes `warmUpPrompt` and drops the result, so that a `--batch` run or the MCP server (idle
    /// until an agent asks) does not charge its one-time costs to its first prompts. The language
    /// server does not: its first diagnostics compose the opened file at once, and a warm-up beside
    /// them only competed for the cores (first completion 47 → 68 ms on the starter catalog).
    /// In a `--batch` run on the dev set the first prompt took 40 ms and the next three over 20 ms,
    /// against 10–13 ms once warm. Choices do not depend on it (what it fills are caches).
    public static func warmUp(source: any CandidateSource, retriever: (any CandidateSource)? = nil, model: ComposerModel = .shipped) {
        _ = try? run(ComposeRequest(prompt: warmUpPrompt), source: source, retriever: retriever, model: model)
    }

    /// `source` (BM25) feeds the composer lexical candidates for the whole prompt and each topic.
    /// `retriever`, when given, is the hybrid dense + BM25 retriever: its whole-prompt ranking is what
    /// `retrieved` reports, its per-topic rankings add semantic candidates, and its encoder gives the
    /// composer's semantic evidence. Without it the composer runs on its lexical model (degraded mode).
    public static func run(_ request: ComposeRequest, source: any CandidateSource,
                           retriever: (any CandidateSource)? = nil, model: ComposerModel = .shipped) throws -> ComposeOutcome {
        let clock = ContinuousClock()
        let t0 = clock.now
        let file = PromptFile(text: request.prompt)
        let base = request.baseModel ?? file.settings.baseModel.flatMap { BaseModel($0) }
        let body = file.positiveText
        let topics = file.topics
        let t1 = clock.now
        let wholeQuery = CandidateQuery(text: body, baseModel: base, includeNSFW: request.includeNSFW, limit: request.retrieveLimit)
        // Topics, the prompt and the category descriptions are embedded in one encoder pass.
        var evidence = composeEvidence(topics: topics, body: body, source: source, retriever: retriever)
        let whole = try source.candidates(for: wholeQuery)
        var pool = Array(whole.prefix(wholePromptPoolLimit))
        let lexical = try topics.map { topic in
            try source.candidates(for: CandidateQuery(text: topic.keyword, topic: topic.keyword, baseModel: nil,
                                                      includeNSFW: true, limit: perTopicLimit))
        }
        var perTopicHybrid: [[CandidateAdapter]]?
        var hybrid: Background<[CandidateAdapter]>?
        if let retriever, evidence.isSemantic, let prompt = evidence.promptVector {
            // The whole-prompt ranking (what `retrieved` reports) and the hybrid ranking for each
            // topic in its prompt (the topic counts twice: semantic neighbours its names miss), in
            // one request: one pass over the vectors serves them all.
            let rankings = try retriever.candidates(for: [(query: wholeQuery, denseVector: prompt)] + topics.indices.map { t in
                (query: CandidateQuery(text: body, topic: topics[t].keyword, baseModel: base, includeNSFW: request.includeNSFW,
                                       limit: perTopicHybridLimit),
                 denseVector: topicQueryVector(evidence.topicVectors[t], prompt))
            })
            hybrid = Background.done(rankings[0])
            perTopicHybrid = Array(rankings.dropFirst())
        } else if let retriever {
            // Without the prompt's vector the whole-prompt ranking runs beside the composer's work.
            hybrid = Background { try retriever.candidates(for: wholeQuery) }
        }
        for t in topics.indices { pool += lexical[t] + (perTopicHybrid?[t] ?? []) }
        // The adapters the prompt already loads serve their topics and count against the style cap,
        // even where no ranking put them in the pool.
        pool += try presentAdapters(in: body, source: source)
        evidence.topicRankings = (perTopicHybrid ?? lexical).map { $0.map(\.card.adapterId) }
        retriever?.attachVectors(&pool)
        let t2 = clock.now
        let composition = Composer.compose(topics: topics, candidates: pool, promptText: body,
                                           options: ComposerOptions(baseModel: base, includeNSFW: request.includeNSFW, model: model),
                                           evidence: evidence)
        let built = request.promptWithAdapters(composition, file: file)
        let t3 = clock.now
        let retrieved = try hybrid?.value() ?? whole
        let t4 = clock.now
        func ms(_ d: Duration) -> Double { d.milliseconds.rounded(toPlaces: 3) }
        return ComposeOutcome(prompt: request.prompt, baseModel: base, retrieved: retrieved.map(\.card.adapterId),
                              composition: composition,
                              topicRanges: topics.map { [file.source.utf16Offset(ofUTF8: $0.range.utf8.lowerBound), file.source.utf16Offset(ofUTF8: $0.range.utf8.upperBound)] },
                              promptWithAdapters: built.text, triggerWords: built.triggerWords,
                              timingsMs: [("topics", ms(t1 - t0)), ("retrieve", ms(t2 - t1)), ("compose", ms(t3 - t2)),
                                          ("hybrid_wait", ms(t4 - t3)), ("total", ms(t4 - t0))])
    }
}

/// A computation started on another thread at once; `value()` waits for it.
final class Background<T: Sendable>: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)
    private var result: Result<T, Error>?  // written once before `done` is signalled

    init(_ body: @escaping @Sendable () throws -> T) {
        DispatchQueue.global(qos: .userInitiated).async {
            self.result = Result { try body() }
            self.done.signal()
        }
    }

    private init(result: T) {
        self.result = .success(result)
        done.signal()
    }

    /// A computation already done.
    static func done(_ value: T) -> Background { Background(result: value) }

    func value() throws -> T {
        done.wait()
        done.signal()  // later calls return at once
        return try result!.get()
    }
}

extension Double {
    func rounded(toPlaces n: Int) -> Double {
        var p = 1.0
        for _ in 0..<n { p *= 10 }
        return (self * p).rounded() / p
    }
}

/// What a render needs to compose a prompt file: the composer, and local files of adapters by
/// alias (`RenderSession.render` in StylusRender; built over a catalog with `init(catalog:)`).
public struct RenderComposer: Sendable {
    /// Composes a prompt file with its request's settings.
    public var compose: @Sendable (PromptRequest) throws -> ComposeOutcome
    /// The catalog's `file` for an alias, nil when it has none.
    public var adapterFile: @Sendable (String) -> String?
    /// Composes from installed adapters only (a local file in the catalog, or a name among the
    /// given lowercased file stems and aliases of the render's LoRA folders); nil: `compose`.
    public var composeInstalled: (@Sendable (PromptRequest, Set<String>) throws -> ComposeOutcome)?

    public init(compose: @escaping @Sendable (PromptRequest) throws -> ComposeOutcome,
                adapterFile: @escaping @Sendable (String) -> String?) {
        self.compose = compose
        self.adapterFile = adapterFile
    }

    /// The Stylus pipeline over `source`.
    public init(source: any CandidateSource, adapterFile: @escaping @Sendable (String) -> String?) {
        self.init(compose: { try ComposePipeline.run($0.composeRequest, source: source) }, adapterFile: adapterFile)
    }
}
