import Foundation
import JSONRPC
import LSP
import StylusCore
import TestSupport
import XCTest

/// The server survives documents whose numbers are huge or not finite, and keeps answering.
final class HostileNumberLSPTests: XCTestCase {
    static let prompts = HostilePrompts.numbers

    func testEveryFeatureAnswersOnHostileNumbers() async throws {
        var options = LanguageServer.Options()
        options.diagnosticsDelay = .milliseconds(1)
        let client = TestClient(options: options)
        defer { client.stop() }
        try await client.initialize(capabilities: [
            "textDocument": ["documentSymbol": ["hierarchicalDocumentSymbolSupport": true]],
        ])
        let all = LSPRange(start: Position(line: 0, character: 0), end: Position(line: 10, character: 0))
        for (i, text) in Self.prompts.enumerated() {
            let uri = "file:///hostile-\(i).sdprompt"
            client.openDocument(text, uri: uri)
            var published = try await client.nextDiagnostics()
            while published.uri != uri { published = try await client.nextDiagnostics() }
            let doc: JSONValue = ["textDocument": ["uri": .string(uri)]]
            _ = try await client.request("textDocument/documentSymbol", doc)
            _ = try await client.request("textDocument/inlayHint", InlayHintParams(textDocument: TextDocumentIdentifier(uri: uri), range: all))
            _ = try await client.request("textDocument/semanticTokens/full", doc)
            _ = try await client.request("textDocument/formatting", JSONValue.object([
                "textDocument": ["uri": .string(uri)], "options": ["tabSize": 2, "insertSpaces": true],
            ]))
            let line = text.hasPrefix("---") ? 3 : 0
            for character in [1, 8, 15] {
                _ = try await client.request("textDocument/hover", JSONValue.object([
                    "textDocument": ["uri": .string(uri)], "position": ["line": .int(line), "character": .int(character)],
                ]))
            }
        }
        // Still alive: a hover on an ordinary document answers.
        client.openDocument("a knight, <lora:x:0.5>", uri: "file:///after.sdprompt")
        let hover = try await client.request("textDocument/hover", JSONValue.object([
            "textDocument": ["uri": "file:///after.sdprompt"], "position": ["line": 0, "character": 3],
        ]))
        XCTAssertNotNil(hover)
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
