/// The seam between retrieval (StylusCatalog) and composition (StylusCore).
///
/// The retriever ranks adapters for a query text; the composer asks it once for the whole prompt
/// (the paper's retriever) and once per topic with the prompt as context, then decides per
/// candidate with explainable rules. Keeping the protocol here lets the composer stay pure and be
/// tested with small in-memory catalogs.

/// An adapter as composition sees it: its card, what the refiner derived, and a retrieval score.
public struct CandidateAdapter: Sendable, Hashable {
    public var card: AdapterCard
    public var refinement: AdapterRefinement
    /// Higher is better; comparable only within one retrieval call.
    public var score: Double
    /// Embeddings of the card and its title, when the source has them (the composer's semantic evidence).
    public var vectors: AdapterVectors?

    public init(card: AdapterCard, refinement: AdapterRefinement, score: Double, vectors: AdapterVectors? = nil) {
        self.card = card
        self.refinement = refinement
        self.score = score
        self.vectors = vectors
    }
}

/// What to retrieve: the query text, the topic it is for (nil for the whole prompt) and filters.
public struct CandidateQuery: Sendable, Hashable {
    public var text: String
    /// The topic keyword when the query is for one topic (its prompt context is in `text`).
    public var topic: String?
    /// Only adapters of this base model; nil for any.
    public var baseModel: BaseModel?
    public var includeNSFW: Bool
    public var limit: Int
    /// Only these adapters (by adapter id), a hard filter applied before ranking; nil for all.
    /// Set by a source that composes from installed adapters only (`InstalledOnlySource` in StylusCatalog).
    public var onlyAdapterIDs: Set<String>?

    public init(text: String, topic: String? = nil, baseModel: BaseModel?, includeNSFW: Bool = false, limit: Int,
                onlyAdapterIDs: Set<String>? = nil) {
        self.text = text
        self.topic = topic
        self.baseModel = baseModel
        self.includeNSFW = includeNSFW
        self.limit = limit
        self.onlyAdapterIDs = onlyAdapterIDs
    }
}

/// Ranks adapters for a query, best first.
public protocol CandidateSource: Sendable {
    func candidates(for query: CandidateQuery) throws -> [CandidateAdapter]
    /// Unit sentence embeddings of `texts`, or nil when the source has no encoder.
    func embed(_ texts: [String]) -> [[Float]]?
    /// The lexical resource the composer consults (WordNet), when installed.
    var wordKnowledge: (any WordKnowledge)? { get }
    /// Fills in `vectors` of candidates this source knows (no-op without embeddings).
    func attachVectors(_ candidates: inout [CandidateAdapter])
    /// Ranks with a dense query vector already computed (sources without embeddings ignore it).
    func candidates(for query: CandidateQuery, denseVector: [Float]) throws -> [CandidateAdapter]
    /// `candidates(for:denseVector:)` for several queries at once (a prompt's topics), which a
    /// source may serve with one pass over its vectors.
    func candidates(for queries: [(query: CandidateQuery, denseVector: [Float])]) throws -> [[CandidateAdapter]]
    /// The adapters whose alias is `alias` (case-insensitive, any base model): what a `<lora:alias:…>`
    /// tag already in a prompt loads.
    func adapters(withAlias alias: String) throws -> [CandidateAdapter]
}

extension CandidateSource {
    public func attachVectors(_ candidates: inout [CandidateAdapter]) {}
    public func candidates(for query: CandidateQuery, denseVector: [Float]) throws -> [CandidateAdapter] {
        try candidates(for: query)
    }
    public func candidates(for queries: [(query: CandidateQuery, denseVector: [Float])]) throws -> [[CandidateAdapter]] {
        try queries.map { try candidates(for: $0.query, denseVector: $0.denseVector) }
    }
    public func embed(_ texts: [String]) -> [[Float]]? { nil }
    public var wordKnowledge: (any WordKnowledge)? { nil }
}
