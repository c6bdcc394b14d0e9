import Foundation
import JSONRPC
import LSP
import StylusCore
import XCTest

/// Diagnostics, semantic tokens, inlay hints, symbols and formatting through the server,
/// on documents with position markers. The prompt logic is StylusCore's; these tests check
/// the translation to LSP (ranges in UTF-16, codes, encodings, capability gating).
final class FeatureTests: XCTestCase {
    private var client: TestClient!
    private let uri = "file:///feature.sdprompt"

    override func setUp() async throws {
        var options = LanguageServer.Options()
        options.diagnosticsDelay = .milliseconds(10)
        client = TestClient(options: options)
        try await client.initialize(capabilities: [
            "textDocument": [
                "documentSymbol": ["hierarchicalDocumentSymbolSupport": true],
                "publishDiagnostics": ["versionSupport": true],
            ],
        ])
        // The catalog loads in the background; once it has reported, no refresh of a document's
        // diagnostics from it can interleave with what a test expects.
        await client.server.catalogSettled()
    }

    override func tearDown() async throws { client.stop() }

    private var doc: JSONValue { ["textDocument": ["uri": .string(uri)]] }

    func testCapabilitiesAdvertiseTheFeatures() async throws {
        let other = TestClient()
        let result = try await other.initialize()
        XCTAssertEqual(result.at("capabilities.documentSymbolProvider"), true)
        XCTAssertEqual(result.at("capabilities.documentFormattingProvider"), true)
        XCTAssertEqual(result.at("capabilities.inlayHintProvider"), true)
        XCTAssertEqual(result.at("capabilities.semanticTokensProvider.full"), true)
        XCTAssertEqual(result.at("capabilities.semanticTokensProvider.legend.tokenTypes")?.arrayValue?.count, 7)
        other.stop()
    }

    func testDiagnosticsCarryCoreCodesAtUTF16Ranges() async throws {
        let p = client.openDocument("🐱 cat, 1️⃣(masterpiece, 2️⃣<lora:x:0.8>3️⃣, 4️⃣<lora:x:0.5>5️⃣\nNegative prompt: blurry, 6️⃣<lora:y:1>7️⃣", uri: uri)
        let d = try await client.nextDiagnostics()
        XCTAssertEqual(d.version, 1)
        let byCode = Dictionary(grouping: d.diagnostics, by: { $0.code ?? "" })
        XCTAssertEqual(byCode["syntax"]?.first?.range.start, p["1️⃣"])
        XCTAssertEqual(byCode["syntax"]?.first?.severity, .error)
        XCTAssertEqual(byCode["duplicate-lora"]?.first?.range, LSPRange(start: p["4️⃣"]!, end: p["5️⃣"]!))
        XCTAssertEqual(byCode["lora-in-negative"]?.first?.range, LSPRange(start: p["6️⃣"]!, end: p["7️⃣"]!))
        XCTAssertTrue(d.diagnostics.allSatisfy { $0.source == "stylus" })

        // Fixing the text republishes; unchanged diagnostics are not sent again.
        client.notify("textDocument/didChange", DidChangeTextDocumentParams(
            textDocument: VersionedTextDocumentIdentifier(uri: uri, version: 2),
            contentChanges: [TextDocumentContentChangeEvent(text: "a cat, (masterpiece)")]))
        let fixed = try await client.nextDiagnostics()
        XCTAssertEqual(fixed.version, 2)
        XCTAssertEqual(fixed.diagnostics, [])
        client.notify("textDocument/didChange", DidChangeTextDocumentParams(
            textDocument: VersionedTextDocumentIdentifier(uri: uri, version: 3),
            contentChanges: [TextDocumentContentChangeEvent(text: "a dog, (masterpiece)")]))
        _ = try await client.serverText(uri)
        try await Task.sleep(for: .milliseconds(100))
        XCTAssertEqual(client.pendingNotifications("textDocument/publishDiagnostics"), 0)
    }

    /// Decodes the relative encoding back into (line, start, length, type).
    private func decodeTokens(_ data: [Int]) -> [(Int, Int, Int, String)] {
        let types = ["keyword", "function", "number", "operator", "variable", "comment", "parameter"]
        var out: [(Int, Int, Int, String)] = []
        var line = 0, char = 0
        for i in stride(from: 0, to: data.count, by: 5) {
            line += data[i]
            char = data[i] == 0 ? char + data[i + 1] : data[i + 1]
            out.append((line, char, data[i + 2], types[data[i + 3]]))
        }
        return out
    }

    func testSemanticTokens() async throws {
        let p = client.openDocument("🐱 1️⃣(cat:2️⃣1.2) 3️⃣<4️⃣lora:5️⃣x:6️⃣0.8> 7️⃣BREAK 8️⃣__hair__ # 9️⃣note", uri: uri)
        let tokens = decodeTokens(try await client.request("textDocument/semanticTokens/full", doc, as: SemanticTokens.self).data)
        func at(_ m: String) -> (Int, Int, Int, String)? { tokens.first { $0.0 == p[m]!.line && $0.1 == p[m]!.character } }
        XCTAssertEqual(at("1️⃣")?.3, "operator")
        XCTAssertEqual(at("2️⃣")?.3, "number")
        XCTAssertEqual(at("2️⃣")?.2, 3)
        XCTAssertEqual(at("4️⃣")?.3, "keyword")
        XCTAssertEqual(at("5️⃣")?.3, "function")
        XCTAssertEqual(at("6️⃣")?.3, "number")
        XCTAssertEqual(at("7️⃣")?.3, "keyword")
        XCTAssertEqual(at("7️⃣")?.2, 5)
        XCTAssertEqual(at("8️⃣")?.3, "variable")
        XCTAssertNotNil(tokens.first { $0.3 == "comment" })
        // Sorted and non-overlapping.
        for (a, b) in zip(tokens, tokens.dropFirst()) {
            XCTAssertTrue(a.0 < b.0 || (a.0 == b.0 && a.1 + a.2 <= b.1), "\(a) \(b)")
        }
    }

    func testInlayHintsShowEffectiveNestedWeights() async throws {
        let p = client.openDocument("((masterpiece))1️⃣, (cat:1.2), [dim]2️⃣, (a (b:1.5)3️⃣)4️⃣, (open", uri: uri)
        let all = LSPRange(start: Position(line: 0, character: 0), end: Position(line: 5, character: 0))
        let hints = try await client.request("textDocument/inlayHint", InlayHintParams(textDocument: TextDocumentIdentifier(uri: uri), range: all), as: [InlayHint].self)
        let labels = Dictionary(hints.map { ($0.position, $0.label) }, uniquingKeysWith: { a, _ in a })
        XCTAssertEqual(labels[p["1️⃣"]!], "×1.21")
        XCTAssertEqual(labels[p["2️⃣"]!], "×0.91")
        XCTAssertEqual(labels[p["3️⃣"]!], "×1.65")
        XCTAssertEqual(labels[p["4️⃣"]!], "×1.1")
        XCTAssertEqual(hints.count, 4, "no hint for the literal (cat:1.2) nor the unclosed group: \(hints)")
        // Only hints inside the requested range.
        let first = LSPRange(start: Position(line: 0, character: 0), end: p["1️⃣"]!)
        let some = try await client.request("textDocument/inlayHint", InlayHintParams(textDocument: TextDocumentIdentifier(uri: uri), range: first), as: [InlayHint].self)
        XCTAssertEqual(some.map(\.label), ["×1.21"])
    }

    func testInlayHintsShowA1111WeightsWhenBracketsCross() async throws {
        // A1111: the `]` closes `[`, so the first `)` closes (cat) and the last `)` closes `(b`,
        // which multiplies cat again: ×1.21 (the tree alone would say ×1.1).
        let p = client.openDocument("[a (b] (cat)1️⃣ c)", uri: uri)
        let all = LSPRange(start: Position(line: 0, character: 0), end: Position(line: 1, character: 0))
        let hints = try await client.request("textDocument/inlayHint", InlayHintParams(textDocument: TextDocumentIdentifier(uri: uri), range: all), as: [InlayHint].self)
        let labels = Dictionary(hints.map { ($0.position, $0.label) }, uniquingKeysWith: { a, _ in a })
        XCTAssertEqual(labels[p["1️⃣"]!], "×1.21", "\(hints)")
    }

    func testDocumentSymbolsHierarchicalAndFlat() async throws {
        let text = "---\nbase_model: SD 1.5\n---\n1️⃣a knight, <lora:armor:0.7>2️⃣\nBREAK\n3️⃣castle at dusk4️⃣\nNegative prompt: 5️⃣blurry6️⃣\n"
        let p = client.openDocument(text, uri: uri)
        let result = try await client.request("textDocument/documentSymbol", doc, as: DocumentSymbolResult.self)
        guard case .hierarchical(let top) = result else { return XCTFail("expected hierarchical symbols") }
        XCTAssertEqual(top.map(\.name), ["Frontmatter", "Prompt", "Negative prompt"])
        XCTAssertEqual(top[0].detail, "SD 1.5")
        let chunks = top[1].children ?? []
        XCTAssertEqual(chunks.map(\.name), ["Chunk 1", "Chunk 2"])
        XCTAssertEqual(chunks[0].range, LSPRange(start: p["1️⃣"]!, end: p["2️⃣"]!))
        XCTAssertEqual(chunks[1].range, LSPRange(start: p["3️⃣"]!, end: p["4️⃣"]!))
        XCTAssertEqual(chunks[0].children?.map(\.name), ["<lora:armor>"])
        XCTAssertEqual(top[2].range, LSPRange(start: p["5️⃣"]!, end: p["6️⃣"]!))
        // selectionRange inside range, everywhere.
        func check(_ s: [DocumentSymbol]) {
            for x in s {
                XCTAssertTrue(x.range.start <= x.selectionRange.start && x.selectionRange.end <= x.range.end || x.selectionRange.end == x.range.end, x.name)
                check(x.children ?? [])
            }
        }
        check(top)

        let flatClient = TestClient()
        try await flatClient.initialize()
        flatClient.openDocument(TestClient.extractMarkers(text).0, uri: uri)
        let flat = try await flatClient.request("textDocument/documentSymbol", doc, as: DocumentSymbolResult.self)
        guard case .flat(let infos) = flat else { return XCTFail("expected SymbolInformation") }
        XCTAssertEqual(infos.first { $0.name == "Chunk 2" }?.containerName, "Prompt")
        flatClient.stop()
    }

    private func format(_ text: String) async throws -> String {
        client.openDocument(text, uri: uri, version: 1)
        let edits = try await client.request("textDocument/formatting",
            DocumentFormattingParams(textDocument: TextDocumentIdentifier(uri: uri), options: FormattingOptions(tabSize: 2, insertSpaces: true)),
            as: [TextEdit].self)
        // Apply back to front (ranges refer to the original and do not overlap).
        var source = SourceText(text)
        for e in edits.sorted(by: { $0.range.start > $1.range.start }) {
            source = DocumentStore.apply(TextDocumentContentChangeEvent(range: e.range, text: e.newText), to: source)
        }
        return source.text
    }

    func testFormattingTidiesCommasAndSpacesOnly() async throws {
        let formatted = try await format("a  cat ,dog,,  (red  hat:1.2) ,<lora:x:0.8>,🐱 , ((b))  \nNegative prompt:   blurry ,  lowres")
        XCTAssertEqual(formatted, "a cat, dog, (red hat:1.2), <lora:x:0.8>, 🐱, ((b))\nNegative prompt: blurry, lowres")
        // Frontmatter, line breaks, comments and tags are untouched; tidy input gives no edits.
        let tidy = "---\nsteps:   20\n---\na cat, <lora:x:0.8> dog\n# keep  ,  this\nBREAK\n  indented, line\n"
        let again = try await format(tidy)
        XCTAssertEqual(again, tidy)
        let edits = try await client.request("textDocument/formatting",
            DocumentFormattingParams(textDocument: TextDocumentIdentifier(uri: uri), options: FormattingOptions(tabSize: 2, insertSpaces: true)),
            as: [TextEdit].self)
        XCTAssertEqual(edits, [])
    }

    /// A request computed on a snapshot that an edit has replaced is answered ContentModified.
    func testStaleResultsAreNotReturned() async throws {
        let big = String(repeating: "((masterpiece)), <lora:x:0.8>, a 🐱 cat BREAK\n", count: 20_000)
        client.openDocument(big, uri: uri)
        let c: TestClient = client, params = doc
        let tokens = Task { await c.requestError("textDocument/semanticTokens/full", params) }
        // The edit goes out only after the request (the transport keeps write order).
        while c.connection.requestsAwaitingReply == 0 { try await Task.sleep(for: .milliseconds(1)) }
        client.notify("textDocument/didChange", DidChangeTextDocumentParams(
            textDocument: VersionedTextDocumentIdentifier(uri: uri, version: 2),
            contentChanges: [TextDocumentContentChangeEvent(range: LSPRange(start: Position(line: 0, character: 0), end: Position(line: 0, character: 0)), text: "x")]))
        let error = await tokens.value
        XCTAssertEqual(error?.code, ErrorCode.contentModified)
        // Asked again, it answers for the new text.
        let fresh = try await client.request("textDocument/semanticTokens/full", doc, as: SemanticTokens.self)
        XCTAssertFalse(fresh.data.isEmpty)
    }

    func testFeatureRequestsOnUnopenedDocumentsAndPositionsPastTheEnd() async throws {
        for method in ["textDocument/semanticTokens/full", "textDocument/documentSymbol", "textDocument/formatting"] {
            let e = await client.requestError(method, ["textDocument": ["uri": "file:///nope"], "options": ["tabSize": 2, "insertSpaces": true]] as JSONValue)
            XCTAssertEqual(e?.code, ErrorCode.invalidParams, method)
        }
        client.openDocument("(a)", uri: uri)
        let far = LSPRange(start: Position(line: 100, character: 100), end: Position(line: 200, character: 0))
        let hints = try await client.request("textDocument/inlayHint", InlayHintParams(textDocument: TextDocumentIdentifier(uri: uri), range: far), as: [InlayHint].self)
        XCTAssertEqual(hints, [])
    }
}
