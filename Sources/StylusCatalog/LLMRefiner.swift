import Foundation
import GRDB
import StylusCore

/// The optional LLM refiner: sends an adapter's card to any OpenAI-compatible chat endpoint
/// and asks for the paper's refiner output (a description of what the adapter does and one
/// recommended weight). Never required: any failure leaves the offline refinement in place.
/// Answers are cached per adapter, model and input text.
public struct LLMRefiner {
    /// The endpoint, shared with the LLM composer (`ChatEndpoint`, configured from `STYLUS_LLM_*`).
    public typealias Configuration = ChatEndpoint

    public struct Result: Sendable, Equatable {
        public var refined = 0
        public var cached = 0
        public var failed = 0

        public init(refined: Int = 0, cached: Int = 0, failed: Int = 0) {
            self.refined = refined
            self.cached = cached
            self.failed = failed
        }
    }

    /// The answer came back but is not in the asked-for form (endpoint failures are `ChatError`s).
    public enum LLMError: Error, CustomStringConvertible {
        case badAnswer(String)

        public var description: String {
            switch self {
            case let .badAnswer(m): return "LLM answer not in the expected two-bullet form: \(m)"
            }
        }
    }

    public let configuration: Configuration
    public let store: CatalogStore

    public init(configuration: Configuration, store: CatalogStore) {
        self.configuration = configuration
        self.store = store
    }

    /// Refines the given adapters (all when `keys` is empty). Problems go to `log`, one line each.
    public func refine(keys: [String] = [], limit: Int? = nil, log: (String) -> Void) throws -> Result {
        var entries = keys.isEmpty ? try store.allEntries() : try keys.flatMap { try store.lookup($0) }
        if let limit { entries = Array(entries.prefix(limit)) }
        var result = Result()
        for entry in entries {
            let prompt = Self.userPrompt(entry)
            let inputHash = fingerprint(Array((configuration.model + "\n" + prompt).utf8))
            let answer: (description: String, weight: Double?)
            if let hit = try cachedAnswer(entry.card.adapterId, inputHash) {
                answer = hit
                result.cached += 1
            } else {
                do {
                    let text = try complete(prompt)
                    answer = try Self.parseAnswer(text)
                    try store.write { db in
                        try db.execute(sql: """
                            INSERT OR REPLACE INTO llm_refinements (adapter_id, model, input_hash, description, weight, created_at)
                            VALUES (?, ?, ?, ?, ?, ?)
                            """, arguments: [entry.card.adapterId, configuration.model, inputHash, answer.description,
                                             answer.weight, Date().timeIntervalSince1970])
                    }
                    result.refined += 1
                } catch {
                    log("\(entry.card.adapterId): \(error); keeping the offline refinement")
                    result.failed += 1
                    continue
                }
            }
            try apply(answer, to: entry)
        }
        return result
    }

    func cachedAnswer(_ adapterID: String, _ inputHash: String) throws -> (description: String, weight: Double?)? {
        try store.read { db in
            try Row.fetchOne(db, sql: "SELECT description, weight FROM llm_refinements WHERE adapter_id = ? AND model = ? AND input_hash = ?",
                             arguments: [adapterID, configuration.model, inputHash])
                .map { ($0["description"], $0["weight"]) }
        }
    }

    /// The LLM's description replaces the summary in the refined description; its weight is used
    /// only when the card gave no evidence at all (explicit card weights beat a model's guess).
    func apply(_ answer: (description: String, weight: Double?), to entry: CatalogEntry) throws {
        var card = entry.card
        card.llmDescription = answer.description
        let r = entry.refinement
        let refined = OfflineRefiner.refinedDescription(card, category: r.category, triggers: r.triggerWords, clean: r.cleanDescription)
        var weight = r.weight, source = r.weightSource
        if source == .defaultValue, let w = answer.weight, WeightEvidence.plausible.contains(w), w != 0 {
            weight = w
            source = .llm
        }
        try store.write { db in
            try db.execute(sql: """
                UPDATE adapters SET refined_description = ?, weight = ?, weight_source = ?, refined_by = ?,
                    embedding = CASE WHEN refined_description = ? THEN embedding END,
                    embedding_model = CASE WHEN refined_description = ? THEN embedding_model END,
                    embedding_dim = CASE WHEN refined_description = ? THEN embedding_dim END,
                    embedding_text_hash = CASE WHEN refined_description = ? THEN embedding_text_hash END
                WHERE id = ?
                """, arguments: [refined, weight, source.rawValue, "llm:" + configuration.model, refined, refined, refined, refined, entry.rowID])
        }
    }

    // MARK: - Protocol

    static let instructions = """
        You are cataloguing LoRA adapters for Stable Diffusion so that a search engine can match them to prompts.
        Read the adapter card below. Authors' cards are often wrong or padded; the example prompts show how the
        adapter is really used, so trust them over the prose.
        1. Work out the one main subject of the adapter (a style, a character or real person, a concept, clothing,
           a background, a building, a vehicle, an animal, a pose, an action, an object or a utility) and how it
           changes an image. Leave out training details, version history, links and requests for support.
           Do not invent facts; if the card says little, use what is commonly known about the subject.
        2. Recommend one weight: a weight the author recommends (the middle of a range), else the typical
           <lora:NAME:W> weight in the example prompts, else 0.8.
        Answer with exactly two lines and nothing else:
        - <description, at most 120 words>
        - <weight as a decimal number>
        """

    static func userPrompt(_ e: CatalogEntry) -> String {
        var lines = ["Title: \(e.card.title)"]
        if !e.card.tags.isEmpty { lines.append("Tags: \(e.card.tags.joined(separator: ", "))") }
        if !e.refinement.triggerWords.isEmpty { lines.append("Trigger words: \(e.refinement.triggerWords.joined(separator: ", "))") }
        if let base = e.card.baseModel { lines.append("Base model: \(base.name)") }
        let desc = CardText.clean(e.card.description)
        lines.append("Description: \(desc.isEmpty ? "(none)" : String(desc.prefix(4000)))")
        for (i, p) in e.card.imagePrompts.prefix(10).enumerated() { lines.append("Example prompt \(i + 1): \(p.prefix(1000))") }
        return lines.joined(separator: "\n")
    }

    /// "- description…\n- 0.7": the last bullet is the weight, the ones before it the description.
    public static func parseAnswer(_ text: String) throws -> (description: String, weight: Double?) {
        let bullets = text.components(separatedBy: "\n")
            .map { $0.trimmingCharacters(in: .whitespaces) }
            .reduce(into: [String]()) { acc, line in
                if line.hasPrefix("- ") || line.hasPrefix("* ") {
                    acc.append(String(line.dropFirst(2)))
                } else if !line.isEmpty, !acc.isEmpty {
                    acc[acc.count - 1] += " " + line  // a wrapped description line
                }
            }
        guard bullets.count >= 2 else { throw LLMError.badAnswer(String(text.prefix(120))) }
        let weightText = bullets.last!.filter { $0.isNumber || $0 == "." || $0 == "-" }
        let description = bullets.dropLast().joined(separator: " ").trimmingCharacters(in: .whitespaces)
        guard !description.isEmpty else { throw LLMError.badAnswer("empty description") }
        var weight = Double(weightText)
        if weight == nil, weightText.hasSuffix(".") { weight = Double(weightText + "0") }  // "0." as in the paper's example
        return (description, weight.flatMap { $0.isFinite ? $0 : nil })
    }

    func complete(_ userPrompt: String) throws -> String {
        try ChatClient(endpoint: configuration).complete([
            ChatMessage(role: "system", content: Self.instructions),
            ChatMessage(role: "user", content: userPrompt),
        ])
    }
}
