import Foundation
import JSONRPC
import LSP
import StylusCore
import XCTest

/// Documents far larger than any prompt file: the server stops following them past
/// `DocumentSnapshot.maxFollowedBytes`, so an edit costs the same whatever the size (a 20 MB
/// document once blocked the server 34–140 ms per keystroke), says so in one diagnostic, refuses
/// commands on them with a reason, and follows the document again after a small full-text change.
final class LargeDocumentTests: XCTestCase {
    private var client: TestClient?

    override func tearDown() { client?.stop() }

    private func start() async throws -> TestClient {
        var options = LanguageServer.Options()
        options.diagnosticsDelay = .milliseconds(10)
        let client = TestClient(options: options)
        self.client = client
        try await client.initialize()
        return client
    }

    private static func text(bytes: Int) -> String {
        let line = "masterpiece, (best quality:1.2), a knight in a castle, <lora:castle_v2:0.8>\n"
        return String(repeating: line, count: bytes / line.utf8.count + 1)
    }

    /// didOpen without the test client's marker search (slow on tens of MB).
    private func open(_ client: TestClient, _ text: String, uri: String) {
        client.notify("textDocument/didOpen", DidOpenTextDocumentParams(
            textDocument: TextDocumentItem(uri: uri, languageId: "sdprompt", version: 1, text: text)))
    }

    private func change(_ client: TestClient, _ uri: String, version: Int, line: Int, character: Int = 3, insert: String) {
        let at = Position(line: line, character: character)
        client.notify("textDocument/didChange", DidChangeTextDocumentParams(
            textDocument: VersionedTextDocumentIdentifier(uri: uri, version: version),
            contentChanges: [TextDocumentContentChangeEvent(range: LSPRange(start: at, end: at), text: insert)]))
    }

    /// Seconds for `edits` keystrokes in the middle of a document of `bytes`, until the server has
    /// applied them all (a request after them is answered in order); best of three rounds.
    private func editSeconds(_ client: TestClient, bytes: Int, edits: Int = 100) async throws -> Double {
        let uri = "file:///large-\(bytes).sdprompt"
        let text = Self.text(bytes: bytes)
        let lines = text.utf8.count / 80
        open(client, text, uri: uri)
        var version = 1
        var best = Double.infinity
        for _ in 0..<3 {
            let clock = ContinuousClock()
            let start = clock.now
            for _ in 0..<edits {
                version += 1
                change(client, uri, version: version, line: lines / 2, insert: "x")
            }
            let r = try await client.request("stylus/debugDocument", TextDocumentIdentifier(uri: uri))
            XCTAssertEqual(r["version"], .int(version))
            let d = clock.now - start
            best = min(best, Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18)
        }
        client.notify("textDocument/didClose", DidCloseTextDocumentParams(textDocument: TextDocumentIdentifier(uri: uri)))
        return best
    }

    func testEditCostDoesNotGrowWithTheDocumentPastTheLimit() async throws {
        let client = try await start()
        let limit = DocumentSnapshot.maxFollowedBytes
        // Growth, not speed: a document 8 times larger may not make an edit 3 times slower.
        let small = try await editSeconds(client, bytes: limit + limit / 2)
        let large = try await editSeconds(client, bytes: 8 * (limit + limit / 2))
        XCTAssertLessThan(large / small, 3, "edits of \(limit * 3 / 2 >> 20) MB: \(small) s, of \(limit * 12 >> 20) MB: \(large) s")
    }

    func testTooLargeDocumentIsReportedAndFollowedAgainWhenSmall() async throws {
        let client = try await start()
        let uri = "file:///huge.sdprompt"
        let huge = Self.text(bytes: DocumentSnapshot.maxFollowedBytes + 1000)
        open(client, huge, uri: uri)
        var r = try await client.request("stylus/debugDocument", TextDocumentIdentifier(uri: uri))
        XCTAssertEqual(r["followed"], .bool(false))
        XCTAssertEqual(r["bytes"], .int(huge.utf8.count))
        let diagnostics = try await client.nextDiagnostics()
        XCTAssertEqual(diagnostics.diagnostics.map(\.code), ["document-too-large"])
        let message = diagnostics.diagnostics.first?.message ?? ""
        XCTAssertTrue(message.contains("does not follow edits of files over 4.0 MB") && message.contains("Reopen it"), message)

        // Commands say why they cannot run.
        let error = await client.requestError("workspace/executeCommand", ExecuteCommandParams(
            command: "stylus.compose", arguments: [["uri": .string(uri)]]))
        XCTAssertEqual(error?.code, ErrorCode.invalidParams)
        XCTAssertTrue(error?.message.contains("over the 4.0 MB the editor integration follows") ?? false, "\(String(describing: error))")

        // Ranged edits are dropped; a whole-text change under the limit is followed again.
        change(client, uri, version: 2, line: 10, insert: "x")
        client.notify("textDocument/didChange", DidChangeTextDocumentParams(
            textDocument: VersionedTextDocumentIdentifier(uri: uri, version: 3),
            contentChanges: [TextDocumentContentChangeEvent(range: nil, text: "a knight")]))
        change(client, uri, version: 4, line: 0, character: 8, insert: ", castle")
        r = try await client.request("stylus/debugDocument", TextDocumentIdentifier(uri: uri))
        XCTAssertEqual(r["followed"], .bool(true))
        XCTAssertEqual(r["text"], .string("a knight, castle"))

        // An edit that takes a followed document past the limit stops following it.
        let grow = String(repeating: "y", count: DocumentSnapshot.maxFollowedBytes)
        change(client, uri, version: 5, line: 0, character: 0, insert: grow)
        r = try await client.request("stylus/debugDocument", TextDocumentIdentifier(uri: uri))
        XCTAssertEqual(r["followed"], .bool(false))
        XCTAssertEqual(r["bytes"], .int(grow.utf8.count + "a knight, castle".utf8.count))
    }
}
