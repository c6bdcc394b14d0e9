import Foundation
import HTTPTestSupport
import StylusCatalog
import StylusCore
import XCTest

/// The LLM composer over real HTTP: `ChatClient` against a scripted local server, candidates from a
/// real lexical index, and the fallback to the built-in composer on every kind of failure.
final class LLMComposerHTTPTests: XCTestCase {
    static let cards: [AdapterCard] = [
        AdapterCard(adapterId: "a1", alias: "dogs_v1", title: "Realistic Dogs", baseModel: .sd15, tags: ["animal", "dog"], description: "photos of dogs", weight: 0.8),
        AdapterCard(adapterId: "a2", alias: "dogs_xl", title: "Dogs XL", baseModel: .sdxl, tags: ["animal", "dog"], description: "dogs", weight: 0.8),
        AdapterCard(adapterId: "a3", alias: "corgi", title: "Corgi", baseModel: .sd15, tags: ["animal", "corgi", "dog"], description: "corgi dogs", weight: 0.7),
        AdapterCard(adapterId: "a4", alias: "wc_style", title: "Watercolor Dream", baseModel: .sd15, tags: ["style", "watercolor"], description: "watercolor", weight: 0.6),
        AdapterCard(adapterId: "a5", alias: "lace", title: "Lace Dog Harness", baseModel: .sd15, tags: ["clothing", "dog"], description: "lace", nsfw: true),
    ]
    let source = LexicalCandidates(entries: LLMComposerHTTPTests.cards.map { ($0, OfflineRefiner.refine($0)) })
    let prompt = "a watercolor painting of a dog"
    var request: ComposeRequest { ComposeRequest(prompt: prompt, baseModel: .sd15) }
    let reasoning = "The dog topic fits Realistic Dogs; the watercolor topic fits Watercolor Dream."

    static func chat(_ content: String) -> ScriptedHTTPServer.Reply {
        .json(200, ["choices": [["index": 0, "message": ["role": "assistant", "content": content]] as [String: Any]]] as [String: Any])
    }

    /// Answers turn 1 with `reasoning` and turn 2 with `answer`, whose "DOG"/"WATERCOLOR" keys are
    /// replaced by the topics the composer listed (read from its example).
    func twoTurnServer(answer: [String: [String]]) throws -> ScriptedHTTPServer {
        let reasoning = self.reasoning
        return try ScriptedHTTPServer { r in
            let messages = (r.json["messages"] as? [[String: String]]) ?? []
            if messages.count == 2 { return Self.chat(reasoning) }
            let topics = Self.exampleTopics(messages.last?["content"] ?? "")
            var out: [String: [String]] = [:]
            for (word, ids) in answer {
                if let t = topics.first(where: { $0.uppercased().contains(word) }) { out[t] = ids } else { out[word] = ids }
            }
            let text = String(decoding: try! JSONSerialization.data(withJSONObject: out, options: .sortedKeys), as: UTF8.self)
            return Self.chat(text)
        }
    }

    static func exampleTopics(_ secondTurn: String) -> [String] {
        guard let line = secondTurn.split(separator: "\n").last,
              let obj = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else { return [] }
        return Array(obj.keys)
    }

    func endpoint(_ server: ScriptedHTTPServer, timeout: TimeInterval = 10) -> ChatEndpoint {
        ChatEndpoint(url: server.url.appendingPathComponent("v1"), model: "test-model", apiKey: "sk-test", timeout: timeout)
    }

    func run(_ endpoint: ChatEndpoint) throws -> LLMComposeResult {
        try LLMComposePipeline.run(request, builtIn: try builtIn(), source: source, chat: ChatClient(endpoint: endpoint))
    }

    func ids(_ o: ComposeOutcome) -> [String] { o.composition.topics.flatMap(\.adapters).map(\.adapterID) }

    func testAValidAnswerBecomesTheComposition() throws {
        let server = try twoTurnServer(answer: ["DOG": ["a1", "a3"], "WATERCOLOR": ["a4"]])
        defer { server.stop() }
        let result = try run(endpoint(server))
        XCTAssertTrue(result.usedLLM, "\(String(describing: result.failure))")
        XCTAssertNil(result.failure)
        let dog = try XCTUnwrap(result.outcome.composition.topics.first { $0.keyword.contains("dog") })
        XCTAssertEqual(dog.adapters.map(\.adapterID), ["a1", "a3"])
        XCTAssertTrue(dog.decisions.allSatisfy { $0.reason.hasPrefix("llm: chosen by test-model") }, "\(dog.decisions)")
        let built = result.outcome.promptWithAdapters
        XCTAssertTrue(built.hasPrefix(prompt + ", <lora:"), built)
        for tag in ["<lora:wc_style:0.48>", "<lora:dogs_v1:0.32>", "<lora:corgi:0.28>"] { XCTAssertTrue(built.contains(tag), built) }
        XCTAssertNotNil(result.outcome.timingsMs.first { $0.0 == "llm" })

        // Two turns of one conversation, each a POST with the model and the bearer key.
        let requests = server.requests
        XCTAssertEqual(requests.count, 2)
        for r in requests {
            XCTAssertEqual(r.method, "POST")
            XCTAssertEqual(r.path, "/v1/chat/completions")
            XCTAssertEqual(r.headers["authorization"], "Bearer sk-test")
            XCTAssertEqual(r.json["model"] as? String, "test-model")
        }
        let first = try XCTUnwrap(requests[0].json["messages"] as? [[String: String]])
        XCTAssertEqual(first.map { $0["role"] }, ["system", "user"])
        let shown = first[1]["content"] ?? ""
        XCTAssertTrue(shown.contains("Prompt: \"\(prompt)\""), shown)
        XCTAssertTrue(shown.contains("- id \"a1\": Realistic Dogs (animal, SD 1.5)"), shown)
        XCTAssertFalse(shown.contains("\"a2\""), "an SDXL adapter is not offered for an SD 1.5 prompt")
        XCTAssertFalse(shown.contains("\"a5\""), "nor an NSFW one")
        let second = try XCTUnwrap(requests[1].json["messages"] as? [[String: String]])
        XCTAssertEqual(second.map { $0["role"] }, ["system", "user", "assistant", "user"])
        XCTAssertEqual(Array(second.prefix(2)), first)
        XCTAssertEqual(second[2]["content"], reasoning)
        XCTAssertTrue(second[3]["content"]?.contains("one JSON object") == true)
    }

    func builtIn() throws -> ComposeOutcome { try ComposePipeline.run(request, source: source) }

    func assertFellBack(_ result: LLMComposeResult, _ check: (LLMComposeError) -> Bool, file: StaticString = #filePath, line: UInt = #line) throws {
        XCTAssertFalse(result.usedLLM, file: file, line: line)
        let failure = try XCTUnwrap(result.failure, file: file, line: line)
        XCTAssertTrue(check(failure), "\(failure)", file: file, line: line)
        XCTAssertEqual(result.outcome.composition, try builtIn().composition, "the built-in composition is used", file: file, line: line)
        XCTAssertEqual(result.outcome.promptWithAdapters, try builtIn().promptWithAdapters, file: file, line: line)
    }

    func testMalformedJSONFallsBack() throws {
        let server = try ScriptedHTTPServer(replies: [Self.chat(reasoning), Self.chat("Sure! {dog: [a1]}")])
        defer { server.stop() }
        try assertFellBack(try run(endpoint(server))) { if case .malformed = $0 { return true }; return false }
    }

    func testInventedOrOtherBaseModelIDsFallBack() throws {
        for bad in ["a9", "a2"] {  // a2 exists but is SDXL, so it was never offered
            let server = try twoTurnServer(answer: ["DOG": ["a1", bad]])
            defer { server.stop() }
            try assertFellBack(try run(endpoint(server))) { $0 == .invalid("adapter id \"\(bad)\" is not among the candidates") }
        }
    }

    func testEmptyReplyAndHTTPErrorFallBack() throws {
        let empty = try ScriptedHTTPServer(replies: [Self.chat("")])
        defer { empty.stop() }
        try assertFellBack(try run(endpoint(empty))) { $0 == .emptyReply }
        let failing = try ScriptedHTTPServer(replies: [.raw(503, "{\"error\": \"overloaded\"}")])
        defer { failing.stop() }
        try assertFellBack(try run(endpoint(failing))) { $0.isEndpointFailure && $0.description.contains("HTTP 503") && $0.description.contains("overloaded") }
        let noChoices = try ScriptedHTTPServer(replies: [.json(200, ["object": "error"] as [String: Any])])
        defer { noChoices.stop() }
        try assertFellBack(try run(endpoint(noChoices))) { $0.isEndpointFailure && $0.description.contains("not a chat completion") }
    }

    func testTimeoutFallsBackWithinTheTimeout() throws {
        let server = try ScriptedHTTPServer { _ in .hang }
        defer { server.stop() }
        let start = Date()
        let result = try run(endpoint(server, timeout: 1.5))
        let elapsed = Date().timeIntervalSince(start)
        try assertFellBack(result) { $0.isEndpointFailure && $0.description.contains("within 2 s") }
        XCTAssertLessThan(elapsed, 1.5 + 1 + 1.5, "the timeout bounds the wait (plus one second of grace)")
    }

    func testConnectionRefusedFallsBack() throws {
        let server = try ScriptedHTTPServer { _ in .hang }
        let closed = endpoint(server)
        server.stop()  // nothing listens on that port any more
        try assertFellBack(try run(closed)) { $0.isEndpointFailure && $0.description.contains("unreachable") }
    }

    func testSessionStopsAskingAfterAnEndpointFailureButNotAfterABadAnswer() throws {
        let down = try ScriptedHTTPServer(replies: [.raw(500, "{}")])
        defer { down.stop() }
        let s1 = LLMComposerSession(chat: ChatClient(endpoint: endpoint(down)))
        for _ in 0..<3 { XCTAssertFalse(try s1.compose(request, builtIn: try builtIn(), source: source).usedLLM) }
        XCTAssertEqual(down.requests.count, 1, "one failed request, then the built-in composer only")
        XCTAssertEqual(s1.failures, 3)
        XCTAssertTrue(s1.firstFailure?.isEndpointFailure == true)

        let badAnswers = try ScriptedHTTPServer { r in
            ((r.json["messages"] as? [Any])?.count ?? 0) == 2 ? Self.chat("thinking") : Self.chat("no JSON here")
        }
        defer { badAnswers.stop() }
        let s2 = LLMComposerSession(chat: ChatClient(endpoint: endpoint(badAnswers)))
        for _ in 0..<2 { XCTAssertFalse(try s2.compose(request, builtIn: try builtIn(), source: source).usedLLM) }
        XCTAssertEqual(badAnswers.requests.count, 4, "a bad answer does not stop the next prompt from asking")
        XCTAssertEqual(s2.failures, 2)
    }

    func testEndpointConfigurationFromEnvironment() throws {
        XCTAssertNil(ChatEndpoint(environment: [:]), "never required")
        let e = try XCTUnwrap(ChatEndpoint(environment: ["STYLUS_LLM_URL": "http://h:1/v1", "STYLUS_LLM_MODEL": "m", "STYLUS_LLM_API_KEY": ""], defaultTimeout: 30))
        XCTAssertEqual(e.completionsURL.absoluteString, "http://h:1/v1/chat/completions")
        XCTAssertNil(e.apiKey)
        XCTAssertEqual(e.timeout, 30)
        let full = try XCTUnwrap(ChatEndpoint(environment: ["STYLUS_LLM_URL": "http://h:1/v1/chat/completions", "STYLUS_LLM_MODEL": "m", "STYLUS_LLM_TIMEOUT": "7"]))
        XCTAssertEqual(full.completionsURL.absoluteString, "http://h:1/v1/chat/completions")
        XCTAssertEqual(full.timeout, 7)
    }
}
