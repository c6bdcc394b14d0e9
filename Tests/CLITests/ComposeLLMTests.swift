import Foundation
import HTTPTestSupport
import XCTest

/// `stylus compose --llm` as a real process against a scripted local chat endpoint.
final class ComposeLLMTests: XCTestCase {
    func catalog() throws -> String {
        let jsonl = try CLI.temporaryFile("compose-llm-cards.jsonl", Data(ComposeCommandTests.cards.utf8))
        let db = jsonl.deletingLastPathComponent().appendingPathComponent("compose-llm-\(UUID().uuidString).sqlite").path
        let imported = try CLI.run(["catalog", "import", "--db", db, jsonl.path])
        XCTAssertEqual(imported.status, 0, imported.stderr)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: db) }
        return db
    }

    static func chat(_ content: String) -> ScriptedHTTPServer.Reply {
        .json(200, ["choices": [["message": ["role": "assistant", "content": content]] as [String: Any]]] as [String: Any])
    }

    /// Turn 1: some reasoning; turn 2: the topic containing "dog" (read from the composer's own
    /// example JSON) gets `dogIDs`.
    func server(dogIDs: [String]) throws -> ScriptedHTTPServer {
        try ScriptedHTTPServer { r in
            let messages = (r.json["messages"] as? [[String: String]]) ?? []
            if messages.count == 2 { return Self.chat("The dog topic is served by Realistic Dogs.") }
            let line = (messages.last?["content"] ?? "").split(separator: "\n").last.map(String.init) ?? "{}"
            var answer = (try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]) ?? [:]
            for key in answer.keys where key.contains("dog") { answer[key] = dogIDs }
            return Self.chat(String(decoding: try! JSONSerialization.data(withJSONObject: answer), as: UTF8.self))
        }
    }

    func env(_ server: ScriptedHTTPServer) -> [String: String] {
        ["STYLUS_LLM_URL": server.url.absoluteString + "/v1", "STYLUS_LLM_MODEL": "scripted", "STYLUS_LLM_API_KEY": "k"]
    }

    func adapters(_ line: Substring) -> [String] {
        let obj = (try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]) ?? [:]
        return ((obj["topics"] as? [[String: Any]]) ?? []).flatMap { ($0["adapters"] as? [[String: Any]]) ?? [] }.compactMap { $0["adapter_id"] as? String }
    }

    func field(_ line: Substring, _ key: String) -> String? {
        ((try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]) ?? [:])[key] as? String
    }

    func testLLMChoiceIsUsedAndExplained() throws {
        let db = try catalog()
        let server = try server(dogIDs: ["a1"])
        defer { server.stop() }
        let r = try CLI.run(["compose", "--llm", "--json", "--explain", "--db", db, "--base-model", "SD 1.5", "a dog on a porch"], environment: env(server))
        XCTAssertEqual(r.status, 0, r.stderr)
        let line = try XCTUnwrap(r.stdout.split(separator: "\n").first)
        XCTAssertEqual(field(line, "composer"), "llm")
        XCTAssertEqual(adapters(line), ["a1"])
        XCTAssertEqual(field(line, "prompt_with_adapters"), "a dog on a porch, <lora:dogs_v1:0.64>")
        XCTAssertTrue(r.stderr.contains("+ dogs_v1 [a1]: llm: chosen by scripted"), r.stderr)
        XCTAssertFalse(r.stderr.contains("warning"), r.stderr)
        XCTAssertEqual(server.requests.count, 2)
        XCTAssertEqual(server.requests.first?.headers["authorization"], "Bearer k")

        // Flags override the environment.
        let other = try self.server(dogIDs: [])
        defer { other.stop() }
        let f = try CLI.run(["compose", "--llm", "--llm-url", other.url.absoluteString, "--llm-model", "flagged", "--json", "--db", db,
                             "--base-model", "SD 1.5", "a dog on a porch"], environment: env(server))
        XCTAssertEqual(f.status, 0, f.stderr)
        XCTAssertEqual(adapters(try XCTUnwrap(f.stdout.split(separator: "\n").first)), [], "the LLM chose nothing for the dog")
        XCTAssertEqual(other.requests.first?.json["model"] as? String, "flagged")
        XCTAssertEqual(server.requests.count, 2)
    }

    func testBatchFallsBackWithOneWarning() throws {
        let db = try catalog()
        let queries = """
        {"id": "q1", "prompt": "a dog on a porch", "base_model": "SD 1.5"}
        {"id": "q2", "prompt": "a watercolor painting of a dog", "base_model": "SD 1.5"}
        {"id": "q3", "prompt": "a dog", "base_model": "SDXL 1.0"}
        """
        let file = try CLI.temporaryFile("compose-llm-queries.jsonl", Data(queries.utf8))
        let plain = try CLI.run(["compose", "--batch", file.path, "--json", "--db", db])
        XCTAssertEqual(plain.status, 0, plain.stderr)
        let expected = plain.stdout.split(separator: "\n").map(adapters)

        // Invented ids on every prompt, then an endpoint that refuses connections.
        let inventing = try server(dogIDs: ["no-such-adapter"])
        defer { inventing.stop() }
        let closed = try ScriptedHTTPServer { _ in .hang }
        closed.stop()
        for environment in [env(inventing), env(closed)] {
            let r = try CLI.run(["compose", "--llm", "--batch", file.path, "--json", "--db", db], environment: environment)
            XCTAssertEqual(r.status, 0, r.stderr)
            let lines = r.stdout.split(separator: "\n")
            XCTAssertEqual(lines.map(adapters), expected, "the built-in composition, for every prompt")
            XCTAssertEqual(lines.map { field($0, "composer") }, ["built-in", "built-in", "built-in"])
            let warnings = r.stderr.split(separator: "\n").filter { $0.contains("warning") }
            XCTAssertEqual(warnings.count, 1, r.stderr)
            XCTAssertTrue(warnings.first?.contains("built-in composer") == true, r.stderr)
        }
        XCTAssertEqual(inventing.requests.count, 6, "a bad answer does not stop later prompts from asking")
    }

    func testWithoutLLMNothingTouchesTheNetworkAndUsageErrors() throws {
        let db = try catalog()
        let server = try server(dogIDs: ["a1"])
        defer { server.stop() }
        let r = try CLI.run(["compose", "--json", "--db", db, "--base-model", "SD 1.5", "a dog"], environment: env(server))
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(server.requests.count, 0)
        XCTAssertNil(field(try XCTUnwrap(r.stdout.split(separator: "\n").first), "composer"), "the output is unchanged without --llm")

        let unset = ["STYLUS_LLM_URL": "", "STYLUS_LLM_MODEL": ""]
        let missing = try CLI.run(["compose", "--llm", "--db", db, "a dog"], environment: unset)
        XCTAssertEqual(missing.status, 2)
        XCTAssertTrue(missing.stderr.contains("STYLUS_LLM_URL"), missing.stderr)
        XCTAssertEqual(try CLI.run(["compose", "--llm-url", "http://127.0.0.1:1", "--db", db, "a dog"]).status, 2)
        XCTAssertEqual(try CLI.run(["compose", "--llm", "--llm-url", "not a url", "--llm-model", "m", "--db", db, "a dog"]).status, 2)
        XCTAssertEqual(try CLI.run(["compose", "--llm", "--llm-timeout", "0", "--db", db, "a dog"], environment: env(server)).status, 2)
    }
}
