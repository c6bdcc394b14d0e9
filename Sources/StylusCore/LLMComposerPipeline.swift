/// The optional LLM composer after `ComposePipeline`: the built-in outcome is always made first
/// (it is the fallback and costs milliseconds; the caller makes it, with whatever retriever it
/// uses), then the model is asked in two turns; any failure keeps the built-in result and says why.
public struct LLMComposeResult: Sendable {
    public var outcome: ComposeOutcome
    /// True when the composition in `outcome` is the LLM's.
    public var usedLLM: Bool
    /// Why the built-in composition is used instead (nil when the LLM's is used or not needed).
    public var failure: LLMComposeError?
}

public enum LLMComposePipeline {
    /// Candidates shown per topic and for the whole prompt.
    public static let perTopicShown = 8
    public static let wholeShown = 30

    /// `builtIn` is `ComposePipeline.run`'s outcome for `request`; `source` gives the candidates shown.
    public static func run(_ request: ComposeRequest, builtIn: ComposeOutcome, source: any CandidateSource,
                           chat: any ChatCompleting) throws -> LLMComposeResult {
        let file = PromptFile(text: request.prompt)
        let topics = file.topics
        // Nothing to choose for: no need to ask.
        guard !topics.isEmpty else { return LLMComposeResult(outcome: builtIn, usedLLM: false, failure: nil) }
        let clock = ContinuousClock()
        let start = clock.now
        let body = file.positiveText
        let options = ComposerOptions(baseModel: builtIn.baseModel, includeNSFW: request.includeNSFW)
        let whole = try source.candidates(for: CandidateQuery(text: body, baseModel: options.baseModel,
                                                              includeNSFW: options.includeNSFW, limit: wholeShown))
        let perTopic = try topics.map { t in
            try source.candidates(for: CandidateQuery(text: t.keyword, topic: t.keyword,
                                                      baseModel: options.baseModel, includeNSFW: options.includeNSFW,
                                                      limit: perTopicShown))
        }
        let loaded = try ComposePipeline.presentAdapters(in: body, source: source)
        let shown = LLMComposer.shownCandidates(whole: whole, perTopic: perTopic, perTopicShown: perTopicShown,
                                                options: options, promptText: body)
        let composition: Composition
        do {
            composition = try ask(chat, prompt: body, topics: topics, candidates: shown, options: options, loaded: loaded)
        } catch {
            return LLMComposeResult(outcome: builtIn, usedLLM: false, failure: error)
        }
        var outcome = builtIn
        outcome.composition = composition
        (outcome.promptWithAdapters, outcome.triggerWords) = request.promptWithAdapters(composition, file: file)
        let llmMs = (clock.now - start).milliseconds.rounded(toPlaces: 3)
        outcome.timingsMs = outcome.timingsMs.map { $0.0 == "total" ? ($0.0, ($0.1 + llmMs).rounded(toPlaces: 3)) : $0 }
        outcome.timingsMs.insert(("llm", llmMs), at: max(0, outcome.timingsMs.count - 1))
        return LLMComposeResult(outcome: outcome, usedLLM: true, failure: nil)
    }

    /// The two turns: reasoning, then the JSON answer in the same conversation.
    static func ask(_ chat: any ChatCompleting, prompt: String, topics: [Topic], candidates: [CandidateAdapter],
                    options: ComposerOptions, loaded: [CandidateAdapter]) throws(LLMComposeError) -> Composition {
        func complete(_ messages: [ChatMessage]) throws(LLMComposeError) -> String {
            do { return try chat.complete(messages) } catch let e as LLMComposeError { throw e } catch {
                throw .endpoint("\(error)")
            }
        }
        var messages = LLMComposer.firstTurn(prompt: prompt, topics: topics, candidates: candidates, options: options)
        let reasoning = try complete(messages)
        if reasoning.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty { throw .emptyReply }
        messages.append(ChatMessage(role: "assistant", content: reasoning))
        messages.append(LLMComposer.secondTurn(topics: topics, options: options))
        let answer = try complete(messages)
        let selection = try LLMComposer.parseAnswer(answer, topics: topics)
        return try LLMComposer.validate(selection, topics: topics, candidates: candidates, promptText: prompt,
                                        options: options, model: chat.modelName, loaded: loaded)
    }
}

/// One LLM composer for a run of many prompts: after an endpoint failure (unreachable, HTTP error,
/// timeout) it stops asking and uses the built-in composer for the rest of the run; a bad answer
/// only affects its own prompt. `firstFailure` is set once, for the run's single warning.
public final class LLMComposerSession {
    public let chat: any ChatCompleting
    private var down: LLMComposeError?
    public private(set) var firstFailure: LLMComposeError?
    public private(set) var failures = 0

    public init(chat: any ChatCompleting) { self.chat = chat }

    public func compose(_ request: ComposeRequest, builtIn: ComposeOutcome, source: any CandidateSource) throws -> LLMComposeResult {
        let result: LLMComposeResult
        if let down {
            result = LLMComposeResult(outcome: builtIn, usedLLM: false, failure: down)
        } else {
            result = try LLMComposePipeline.run(request, builtIn: builtIn, source: source, chat: chat)
        }
        if let failure = result.failure {
            failures += 1
            if firstFailure == nil { firstFailure = failure }
            if failure.isEndpointFailure { down = failure }
        }
        return result
    }
}
