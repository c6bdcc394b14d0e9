import Foundation

/// The optional LLM composer (docs/COMPOSER.md), pure parts: the two-turn
/// conversation, strict parsing of the final answer and its mechanical validation against the
/// candidates. The transport lives in StylusCatalog (`ChatClient`); the orchestration and the
/// fallback to the built-in composer in `LLMComposePipeline`.

/// One chat message of an OpenAI-compatible conversation.
public struct ChatMessage: Sendable, Hashable, Codable {
    public var role: String
    public var content: String

    public init(role: String, content: String) {
        self.role = role
        self.content = content
    }
}

/// Anything that answers a chat conversation with the assistant's text (an HTTP endpoint in
/// production). Failures are thrown; the composer treats every one as "use the built-in composer".
public protocol ChatCompleting: Sendable {
    /// The model's name, shown in decision reasons.
    var modelName: String { get }
    func complete(_ messages: [ChatMessage]) throws -> String
}

/// Why the LLM's composition was not used.
public enum LLMComposeError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The endpoint failed (unreachable, HTTP error, timeout, response without content).
    case endpoint(String)
    case emptyReply
    /// The final answer is not the JSON object asked for.
    case malformed(String)
    /// The JSON names a topic or adapter that does not exist.
    case invalid(String)

    /// Endpoint failures are not worth retrying for the next prompt of a batch.
    public var isEndpointFailure: Bool {
        if case .endpoint = self { return true }
        return false
    }

    public var description: String {
        switch self {
        case let .endpoint(m): return m
        case .emptyReply: return "the LLM gave an empty answer"
        case let .malformed(m): return "the LLM's answer is not the JSON asked for: \(m)"
        case let .invalid(m): return "the LLM's answer is invalid: \(m)"
        }
    }
}

public enum LLMComposer {
    /// At most this many characters of each refined description go into the candidate list.
    public static let descriptionLimit = 300

    static let system = """
        You select LoRA adapters for Stable Diffusion prompts from a list of candidates. An adapter \
        is only worth adding when it draws exactly what a part of the prompt asks for; adding none \
        is better than adding a poor fit. You never use an adapter that is not in the list.
        """

    /// Turn 1: the prompt, its topics and the candidates; asks for reasoning, not yet the answer.
    public static func firstTurn(prompt: String, topics: [Topic], candidates: [CandidateAdapter],
                                 options: ComposerOptions) -> [ChatMessage] {
        var lines = ["Prompt: \"\(prompt.trimmingCharacters(in: .whitespacesAndNewlines))\""]
        if let base = options.baseModel { lines.append("Base model: \(base.name)") }
        lines.append("")
        lines.append("Topics of the prompt (write them exactly like this):")
        for (i, t) in topics.enumerated() { lines.append("\(i + 1). \"\(t.keyword)\"") }
        lines.append("")
        lines.append("Candidate adapters:")
        for c in candidates { lines.append(contentsOf: entry(c)) }
        lines.append("")
        lines.append("""
            For every topic, think about which candidates fit it, following these rules:
            - The adapter's main subject must be exactly the topic, in the sense the prompt uses it.
            - Not broader than the topic (a general "food" adapter for "hot dog") and not narrower \
            (a famous named dog for "dog"); a breed or variant is fine when the topic allows it.
            - The same kind of thing as the topic: a style for a style or medium word, a piece of \
            clothing for clothing, a place for a background, and so on.
            - Character and celebrity adapters only when the prompt names that character or person, \
            never for generic words such as man, woman, girl or boy.
            - No anthropomorphic versions of animals (cat girls, furries) unless the prompt asks for \
            them, and nothing sexually explicit.
            - Each adapter for at most one topic, at most \(options.maxPerTopic) adapters per topic, \
            at most \(options.maxStyles) style adapters in the whole answer.
            - When one adapter covers several topics (such as "black" and "cat"), give it to one of them.
            - A topic may get no adapter at all; that is often the right answer.
            Explain your reasoning briefly, topic by topic. Do not give the final answer yet.
            """)
        return [ChatMessage(role: "system", content: system), ChatMessage(role: "user", content: lines.joined(separator: "\n"))]
    }

    /// Turn 2: the final answer as strict JSON. `example` shows the exact keys expected.
    public static func secondTurn(topics: [Topic], options: ComposerOptions) -> ChatMessage {
        var seen: Set<String> = []
        let keys = topics.map(\.keyword).filter { seen.insert($0).inserted }
        let example = "{" + keys.map { jsonStringLiteral($0) + ": []" }.joined(separator: ", ") + "}"
        return ChatMessage(role: "user", content: """
            Now check your choices once more and drop every adapter that is only similar to its topic, \
            broader or narrower than it, only indirectly related, or a character or celebrity the \
            prompt does not name. Then answer with one JSON object and nothing else (no prose, no code \
            fence): its keys are the topics exactly as listed, each value an array of 0 to \
            \(options.maxPerTopic) adapter ids (strings) from the candidate list. Empty, it looks like this:
            \(example)
            """)
    }

    static func entry(_ c: CandidateAdapter) -> [String] {
        var head = "- id \(jsonStringLiteral(c.card.adapterId)): \(c.card.title) (\(c.refinement.category.rawValue)"
        if let base = c.card.baseModel { head += ", \(base.name)" }
        head += ")"
        if !c.refinement.triggerWords.isEmpty { head += "; trigger words: " + c.refinement.triggerWords.prefix(5).joined(separator: ", ") }
        var desc = c.refinement.refinedDescription.replacingOccurrences(of: "\n", with: " ")
        if desc.count > descriptionLimit { desc = String(desc.prefix(descriptionLimit)) + "…" }
        return desc.isEmpty ? [head] : [head, "  " + desc]
    }

    /// Parses the final answer: one JSON object (a surrounding code fence is tolerated) whose keys
    /// are topics and whose values are arrays of adapter ids. Returns the ids per topic index, in
    /// the order given. Keys match topics exactly, else ignoring case and spacing.
    public static func parseAnswer(_ text: String, topics: [Topic]) throws(LLMComposeError) -> [[String]] {
        var body = text.trimmingCharacters(in: .whitespacesAndNewlines)
        if body.isEmpty { throw .emptyReply }
        if body.hasPrefix("```") {
            // ```json\n{…}\n```: strip the fence lines only.
            guard let firstNewline = body.firstIndex(of: "\n"), body.hasSuffix("```"), body.count > 6 else {
                throw .malformed("an unterminated code fence")
            }
            body = String(body[body.index(after: firstNewline)..<body.index(body.endIndex, offsetBy: -3)])
                .trimmingCharacters(in: .whitespacesAndNewlines)
        }
        guard body.hasPrefix("{"), body.hasSuffix("}") else { throw .malformed("expected one JSON object, got \"\(body.prefix(60))\"") }
        guard !hasTrailingComma(body) else { throw .malformed("a trailing comma") }
        let parsed: Any
        do { parsed = try JSONSerialization.jsonObject(with: Data(body.utf8)) } catch {
            throw .malformed("not valid JSON")
        }
        guard let object = parsed as? [String: Any] else { throw .malformed("expected one JSON object") }
        func normal(_ s: String) -> String { s.lowercased().split(whereSeparator: \.isWhitespace).joined(separator: " ") }
        var out = Array(repeating: [String](), count: topics.count)
        var filled = Array(repeating: false, count: topics.count)
        // Sorted keys keep the outcome independent of dictionary order.
        for key in object.keys.sorted() {
            guard let index = topics.firstIndex(where: { $0.keyword == key })
                    ?? topics.firstIndex(where: { normal($0.keyword) == normal(key) }) else {
                throw .invalid("\"\(key)\" is not one of the prompt's topics")
            }
            if filled[index] { throw .invalid("topic \"\(topics[index].keyword)\" is given twice") }
            guard let values = object[key] as? [Any] else { throw .malformed("the value of \"\(key)\" is not an array of ids") }
            out[index] = try values.map { v throws(LLMComposeError) -> String in
                if let s = v as? String { return s.trimmingCharacters(in: .whitespaces) }
                // Civitai ids are numbers; a model may write them unquoted.
                if let n = v as? NSNumber, !n.stringValue.isEmpty, n.stringValue.allSatisfy(\.isASCII), n.stringValue.allSatisfy(\.isNumber) {
                    return n.stringValue
                }
                throw .malformed("the value of \"\(key)\" holds \(v), not an adapter id")
            }
            filled[index] = true
        }
        return out
    }

    /// Foundation's JSON parser accepts `[1,]` and `{"a": 1,}`; RFC 8259 does not.
    static func hasTrailingComma(_ text: String) -> Bool {
        var inString = false, escaped = false, afterComma = false
        for byte in text.utf8 {
            if inString {
                if escaped { escaped = false } else if byte == UInt8(ascii: "\\") { escaped = true } else if byte == UInt8(ascii: "\"") { inString = false }
                continue
            }
            switch byte {
            case UInt8(ascii: "\""): inString = true; afterComma = false
            case UInt8(ascii: ","): afterComma = true
            case UInt8(ascii: "]"), UInt8(ascii: "}"): if afterComma { return true }
            case UInt8(ascii: " "), UInt8(ascii: "\n"), UInt8(ascii: "\r"), UInt8(ascii: "\t"): break
            default: afterComma = false
            }
        }
        return false
    }

    /// Turns the parsed answer into a `Composition`, checking what can be checked mechanically:
    /// every id must be a known candidate (else the whole answer is invalid); an adapter of another
    /// base model, NSFW (unless enabled), already in the prompt, already used, beyond the per-topic
    /// limit or beyond the style limit is dropped with its reason.
    /// `loaded`: the catalog's adapters for the prompt's `<lora:…>` tags (its style adapters count
    /// against the style limit).
    public static func validate(_ selection: [[String]], topics: [Topic], candidates: [CandidateAdapter],
                                promptText: String, options: ComposerOptions, model: String,
                                loaded: [CandidateAdapter] = []) throws(LLMComposeError) -> Composition {
        var byID: [String: CandidateAdapter] = [:]
        for c in candidates where byID[c.card.adapterId] == nil { byID[c.card.adapterId] = c }
        for ids in selection {
            if let bad = ids.first(where: { byID[$0] == nil }) {
                throw .invalid("adapter id \"\(bad)\" is not among the candidates")
            }
        }
        let present = Composer.presentLoraAliases(in: promptText)
        let presentSet = Set(present.map { $0.lowercased() })
        var usedBy: [String: String] = [:]
        let loadedStyles = Composer.loadedStyles(loaded, present: presentSet, options: options)
        var styles = loadedStyles
        var out: [ComposedTopic] = []
        for (index, topic) in topics.enumerated() {
            var chosen: [ComposedAdapter] = []
            var decisions: [AdapterDecision] = []
            for id in index < selection.count ? selection[index] : [] {
                let c = byID[id]!
                let r = c.refinement
                func reject(_ why: String) {
                    decisions.append(AdapterDecision(adapterID: id, alias: c.card.alias, accepted: false, reason: "llm: chosen by \(model), dropped: \(why)"))
                }
                if let base = options.baseModel, c.card.baseModel != base {
                    reject("base model \(c.card.baseModel?.name ?? "unknown") differs from the prompt's \(base.name)")
                } else if c.card.nsfw && !options.includeNSFW {
                    reject("NSFW adapter (NSFW not enabled)")
                } else if presentSet.contains(c.card.alias.lowercased()) {
                    reject("already in the prompt")
                } else if let other = usedBy[id] {
                    reject(other == topic.keyword ? "named twice for this topic" : "already used for \"\(other)\"")
                } else if chosen.count >= options.maxPerTopic {
                    reject("topic already has \(options.maxPerTopic) adapters")
                } else if r.category == .style && styles >= options.maxStyles {
                    reject(Composer.styleCapReason(options, loaded: loadedStyles))
                } else {
                    if r.category == .style { styles += 1 }
                    usedBy[id] = topic.keyword
                    chosen.append(ComposedAdapter(adapterID: id, alias: c.card.alias, recommendedWeight: r.weight, category: r.category,
                                                  triggerWords: r.triggerWords))
                    decisions.append(AdapterDecision(adapterID: id, alias: c.card.alias, accepted: true,
                                                     reason: "llm: chosen by \(model) for \"\(topic.keyword)\"; \(r.category.rawValue) adapter of \(c.card.baseModel?.name ?? "unknown base")"))
                }
            }
            out.append(ComposedTopic(keyword: topic.keyword, range: topic.range, adapters: chosen, decisions: decisions))
        }
        return Composition(topics: out, presentAliases: present)
    }

    /// The candidates shown to the model: each topic's best few, then the whole prompt's retrieval,
    /// without adapters the mechanical rules would drop anyway, at most `limit`.
    public static func shownCandidates(whole: [CandidateAdapter], perTopic: [[CandidateAdapter]], perTopicShown: Int = 8,
                                       options: ComposerOptions, promptText: String, limit: Int = 60) -> [CandidateAdapter] {
        let present = Set(Composer.presentLoraAliases(in: promptText).map { $0.lowercased() })
        func allowed(_ c: CandidateAdapter) -> Bool {
            (options.baseModel == nil || c.card.baseModel == options.baseModel) && (options.includeNSFW || !c.card.nsfw)
                && !present.contains(c.card.alias.lowercased())
        }
        var seen: Set<String> = []
        var out: [CandidateAdapter] = []
        // Topics first, so no topic is crowded out by a long whole-prompt list.
        let lists = perTopic.map { Array($0.filter(allowed).prefix(perTopicShown)) } + [whole.filter(allowed)]
        for c in lists.joined() where out.count < limit && seen.insert(c.card.adapterId).inserted { out.append(c) }
        return out
    }
}
