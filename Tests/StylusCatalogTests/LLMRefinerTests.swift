import Foundation
import HTTPTestSupport
import StylusCatalog
import StylusCore
import XCTest

final class LLMRefinerTests: XCTestCase {
    static func chat(_ content: String) -> String {
        let object: [String: Any] = ["choices": [["message": ["role": "assistant", "content": content]]]]
        return String(decoding: try! JSONSerialization.data(withJSONObject: object), as: UTF8.self)
    }

    func testParseAnswer() throws {
        let a = try LLMRefiner.parseAnswer("- Glowing paper lanterns floating at night,\nwarm light.\n- 0.7")
        XCTAssertEqual(a.description, "Glowing paper lanterns floating at night, warm light.")
        XCTAssertEqual(a.weight, 0.7)
        XCTAssertEqual(try LLMRefiner.parseAnswer("- Sean-like likeness\n- 0.").weight, 0)
        XCTAssertThrowsError(try LLMRefiner.parseAnswer("I cannot help with that."))
    }

    func testRefinesCachesAndFallsBack() throws {
        let server = try ScriptedHTTPServer(replies: [
            .raw(200, Self.chat("- Paper lanterns glowing over a misty river at night.\n- 0.6")),
            .raw(200, Self.chat("no bullets at all")),
        ])
        defer { server.stop() }
        let store = try CatalogStore(path: try Support.tempDir() + "/c.sqlite")
        try store.upsert([
            AdapterInput(card: AdapterCard(adapterId: "a", alias: "lanterns", title: "Lanterns", tags: ["object"], description: "lanterns"), source: "t"),
            AdapterInput(card: AdapterCard(adapterId: "b", alias: "boats", title: "Boats", tags: ["vehicle"], description: "boats. weight 0.9"), source: "t"),
        ])
        try store.setEmbedding(adapterID: "a", vector: [Float](repeating: 0.1, count: 384), model: EmbeddingVector.modelID)
        let env = ["STYLUS_LLM_URL": "http://127.0.0.1:\(server.port)/v1", "STYLUS_LLM_MODEL": "test-model", "STYLUS_LLM_API_KEY": "k123"]
        let config = try XCTUnwrap(LLMRefiner.Configuration(environment: env))
        var logged: [String] = []
        let result = try LLMRefiner(configuration: config, store: store).refine { logged.append($0) }
        XCTAssertEqual(result, LLMRefiner.Result(refined: 1, cached: 0, failed: 1))
        XCTAssertEqual(logged.count, 1)
        XCTAssertTrue(logged[0].hasPrefix("b: LLM answer not in the expected two-bullet form"), logged[0])

        let a = try XCTUnwrap(store.lookup("a").first)
        XCTAssertEqual(a.refinedBy, "llm:test-model")
        XCTAssertTrue(a.refinement.refinedDescription.contains("Paper lanterns glowing over a misty river"))
        XCTAssertEqual(a.refinement.weight, 0.6)  // the card said nothing, so the LLM's weight is used
        XCTAssertEqual(a.refinement.weightSource, .llm)
        XCTAssertNil(a.embeddingModel, "the embedding of the old text is dropped")
        let b = try XCTUnwrap(store.lookup("b").first)
        XCTAssertEqual(b.refinedBy, "offline")
        XCTAssertEqual(b.refinement.weight, 0.9)

        let first = server.requests[0]
        XCTAssertEqual(first.method, "POST")
        XCTAssertEqual(first.path, "/v1/chat/completions")
        XCTAssertEqual(first.headers["authorization"], "Bearer k123")
        XCTAssertEqual(first.json["model"] as? String, "test-model")
        XCTAssertTrue(first.bodyText.contains("Title: Lanterns"))

        // Second run: "a" comes from the cache (no request), "b" is asked again and now the server fails.
        let again = try LLMRefiner(configuration: config, store: store).refine { logged.append($0) }
        XCTAssertEqual(again, LLMRefiner.Result(refined: 0, cached: 1, failed: 1))
        XCTAssertEqual(server.requests.count, 3)
        XCTAssertTrue(logged.last?.contains("HTTP 500") == true, "\(logged)")
    }

    func testUnreachableEndpointKeepsOfflineRefinement() throws {
        let store = try CatalogStore(path: try Support.tempDir() + "/c.sqlite")
        try store.upsert([AdapterInput(card: AdapterCard(adapterId: "a", alias: "x", title: "X"), source: "t")])
        // Port 9 on loopback: nothing listens there.
        let config = LLMRefiner.Configuration(url: URL(string: "http://127.0.0.1:9/v1")!, model: "m", timeout: 5)
        var logged: [String] = []
        let r = try LLMRefiner(configuration: config, store: store).refine { logged.append($0) }
        XCTAssertEqual(r.failed, 1)
        XCTAssertTrue(logged[0].contains("unreachable"), "\(logged)")
        XCTAssertEqual(try store.lookup("a").first?.refinedBy, "offline")
        XCTAssertNil(LLMRefiner.Configuration(environment: [:]), "never required: no env, no LLM")
    }
}
