import Foundation
import JSONRPC
import LSP
import StylusCore
import TestSupport
import XCTest

/// The server survives documents whose numbers are huge or not finite, and keeps answering.
final class HostileNumberLSPTests: XCTestCase {
    static let prompts = HostilePrompts.numbers

    /// A started server whose diagnostics come at once, with hierarchical symbols.
    static func startedClient() async throws -> TestClient {
        var options = LanguageServer.Options()
        options.diagnosticsDelay = .milliseconds(1)
        let client = TestClient(options: options)
        try await client.initialize(capabilities: [
            "textDocument": ["documentSymbol": ["hierarchicalDocumentSymbolSupport": true]],
        ])
        return client
    }

    /// Symbols, inlay hints, semantic tokens and formatting of `uri`, and hover, completion and
    /// code actions at `positions`: each request must be answered.
    static func requestEveryFeature(_ client: TestClient, uri: String, positions: [Position]) async throws {
        let all = LSPRange(start: Position(line: 0, character: 0), end: Position(line: 100, character: 0))
        let doc: JSONValue = ["textDocument": ["uri": .string(uri)]]
        _ = try await client.request("textDocument/documentSymbol", doc)
        _ = try await client.request("textDocument/inlayHint", InlayHintParams(textDocument: TextDocumentIdentifier(uri: uri), range: all))
        _ = try await client.request("textDocument/semanticTokens/full", doc)
        _ = try await client.request("textDocument/formatting", JSONValue.object([
            "textDocument": ["uri": .string(uri)], "options": ["tabSize": 2, "insertSpaces": true],
        ]))
        for p in positions {
            let position: JSONValue = ["line": .int(p.line), "character": .int(p.character)]
            _ = try await client.request("textDocument/hover", JSONValue.object(["textDocument": ["uri": .string(uri)], "position": position]))
            _ = try await client.request("textDocument/completion", JSONValue.object(["textDocument": ["uri": .string(uri)], "position": position]))
            _ = try await client.request("textDocument/codeAction", JSONValue.object([
                "textDocument": ["uri": .string(uri)], "range": ["start": position, "end": position], "context": ["diagnostics": []],
            ]))
        }
    }

    /// After the abuse, a hover on an ordinary document still answers.
    static func assertAlive(_ client: TestClient) async throws {
        client.openDocument("a knight, <lora:x:0.5>", uri: "file:///after.sdprompt")
        let hover = try await client.request("textDocument/hover", JSONValue.object([
            "textDocument": ["uri": "file:///after.sdprompt"], "position": ["line": 0, "character": 3],
        ]))
        XCTAssertNotNil(hover)
    }

    func testEveryFeatureAnswersOnHostileNumbers() async throws {
        let client = try await Self.startedClient()
        defer { client.stop() }
        for (i, text) in Self.prompts.enumerated() {
            let uri = "file:///hostile-\(i).sdprompt"
            client.openDocument(text, uri: uri)
            var published = try await client.nextDiagnostics()
            while published.uri != uri { published = try await client.nextDiagnostics() }
            let line = text.hasPrefix("---") ? 3 : 0
            try await Self.requestEveryFeature(client, uri: uri, positions: [1, 8, 15].map { Position(line: line, character: $0) })
        }
        try await Self.assertAlive(client)
    }

    func testEveryFeatureAnswersOnRandomDocuments() async throws {
        // Random prompt files: numbers in every notation, unbalanced brackets, tags, frontmatter.
        let client = try await Self.startedClient()
        defer { client.stop() }
        var rng = SeededGenerator(seed: 99)
        for i in 0..<60 {
            let text = RandomPrompts.file(&rng)
            let uri = "file:///random-\(i).sdprompt"
            client.openDocument(text, uri: uri)
            let lines = text.split(separator: "\n", omittingEmptySubsequences: false).count
            let positions = (0..<3).map { _ in
                Position(line: Int.random(in: 0..<max(1, lines), using: &rng), character: Int.random(in: 0..<40, using: &rng))
            }
            try await Self.requestEveryFeature(client, uri: uri, positions: positions)
        }
        try await Self.assertAlive(client)
    }

    func testOutOfRangeWeightIsAnErrorDiagnostic() async throws {
        var options = LanguageServer.Options()
        options.diagnosticsDelay = .milliseconds(1)
        let client = TestClient(options: options)
        defer { client.stop() }
        try await client.initialize()
        client.openDocument("a cat, <lora:x:1e30>", uri: "file:///range.sdprompt")
        var d = try await client.nextDiagnostics()
        while d.uri != "file:///range.sdprompt" { d = try await client.nextDiagnostics() }
        let range = d.diagnostics.filter { $0.code == "weight-range" }
        XCTAssertEqual(range.map(\.message), ["LoRA text-encoder weight 1e30 is out of range; write a number in -2…2."])
        XCTAssertEqual(range.first?.severity, .error)
    }
}
