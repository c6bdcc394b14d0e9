import Foundation
import JSONRPC
import LSP
import StylusCore
import TestSupport
import XCTest

/// Random prompt files (numbers in every notation, unbalanced brackets, tags, frontmatter)
/// through every language feature of a running server; it must answer each request and stay up.
final class RandomDocumentLSPTests: XCTestCase {
    func testEveryFeatureAnswersOnRandomDocuments() async throws {
        var options = LanguageServer.Options()
        options.diagnosticsDelay = .milliseconds(1)
        let client = TestClient(options: options)
        defer { client.stop() }
        try await client.initialize(capabilities: [
            "textDocument": ["documentSymbol": ["hierarchicalDocumentSymbolSupport": true]],
        ])
        var rng = FixedSeedGenerator(seed: 99)
        let all = LSPRange(start: Position(line: 0, character: 0), end: Position(line: 100, character: 0))
        for i in 0..<60 {
            let text = RandomPrompts.file(&rng)
            let uri = "file:///random-\(i).sdprompt"
            client.openDocument(text, uri: uri)
            let doc: JSONValue = ["textDocument": ["uri": .string(uri)]]
            _ = try await client.request("textDocument/documentSymbol", doc)
            _ = try await client.request("textDocument/inlayHint", InlayHintParams(textDocument: TextDocumentIdentifier(uri: uri), range: all))
            _ = try await client.request("textDocument/semanticTokens/full", doc)
            _ = try await client.request("textDocument/formatting", JSONValue.object([
                "textDocument": ["uri": .string(uri)], "options": ["tabSize": 2, "insertSpaces": true],
            ]))
            let lines = text.split(separator: "\n", omittingEmptySubsequences: false).count
            for _ in 0..<3 {
                let position: JSONValue = ["line": .int(Int.random(in: 0..<max(1, lines), using: &rng)),
                                           "character": .int(Int.random(in: 0..<40, using: &rng))]
                _ = try await client.request("textDocument/hover", JSONValue.object(["textDocument": ["uri": .string(uri)], "position": position]))
                _ = try await client.request("textDocument/completion", JSONValue.object(["textDocument": ["uri": .string(uri)], "position": position]))
                _ = try await client.request("textDocument/codeAction", JSONValue.object([
                    "textDocument": ["uri": .string(uri)], "range": ["start": position, "end": position],
                    "context": ["diagnostics": []],
                ]))
            }
        }
        client.openDocument("a knight, <lora:x:0.5>", uri: "file:///after.sdprompt")
        let hover = try await client.request("textDocument/hover", JSONValue.object([
            "textDocument": ["uri": "file:///after.sdprompt"], "position": ["line": 0, "character": 3],
        ]))
        XCTAssertNotNil(hover)
    }
}
