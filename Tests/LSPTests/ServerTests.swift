import Foundation
import JSONRPC
import LSP
import StylusCore
import XCTest

/// The server in-process, driven by `TestClient` over the real JSON-RPC connection.
final class ServerTests: XCTestCase {
    private func fastOptions() -> LanguageServer.Options {
        var o = LanguageServer.Options()
        o.diagnosticsDelay = .milliseconds(20)
        return o
    }

    func testLifecycle() async throws {
        let client = TestClient(options: fastOptions())
        // Requests before initialize: -32002. Notifications before initialize are dropped.
        let code1 = await client.requestError("stylus/debugDocument", TextDocumentIdentifier(uri: "u"))?.code
        XCTAssertEqual(code1,
                       ErrorCode.serverNotInitialized)
        client.openDocument("dropped", uri: "file:///early.sdprompt")

        let result = try await client.initialize()
        XCTAssertEqual(result.at("capabilities.textDocumentSync.change"), 2)
        XCTAssertEqual(result.at("capabilities.positionEncoding"), "utf-16")
        XCTAssertEqual(result.at("serverInfo.name"), "stylus")
        let code2 = await client.requestError("stylus/debugDocument", TextDocumentIdentifier(uri: "file:///early.sdprompt"))?.code
        XCTAssertEqual(code2,
                       ErrorCode.invalidParams, "the didOpen before initialize was dropped")
        let code3 = await client.requestError("initialize", ["capabilities": [:]] as JSONValue)?.code
        XCTAssertEqual(code3, ErrorCode.invalidRequest)

        let shutdownResult = try await client.request("shutdown", JSONValue.null)
        XCTAssertEqual(shutdownResult, .null)
        let code4 = await client.requestError("stylus/debugDocument", TextDocumentIdentifier(uri: "u"))?.code
        XCTAssertEqual(code4,
                       ErrorCode.invalidRequest)
        let code5 = await client.requestError("shutdown", JSONValue.null)?.code
        XCTAssertEqual(code5, ErrorCode.invalidRequest)
        client.connection.sendNotification("exit")
        let code = await client.serverExitCode()
        XCTAssertEqual(code, 0)
        client.stop()
    }

    func testExitWithoutShutdownIsCodeOne() async throws {
        let client = TestClient()
        try await client.initialize()
        client.connection.sendNotification("exit")
        let code = await client.serverExitCode()
        XCTAssertEqual(code, 1)
        client.stop()
    }

    func testEndOfInputEndsTheServer() async throws {
        let a = TestClient()
        try await a.initialize()
        a.closeInput()
        let codeA = await a.serverExitCode()
        XCTAssertEqual(codeA, 1)
        a.stop()

        let b = TestClient()
        try await b.initialize()
        _ = try await b.request("shutdown", JSONValue.null)
        b.closeInput()   // VS Code may close the pipe after shutdown without sending exit
        let codeB = await b.serverExitCode()
        XCTAssertEqual(codeB, 0)
        b.stop()
    }

    /// A document over the analysis limit: each document request gets its empty answer from the
    /// request table, without parsing; the one diagnostic says why.
    func testRequestsOnADocumentTooLargeToAnalyse() async throws {
        let client = TestClient(options: fastOptions())
        try await client.initialize()
        let uri = "file:///huge.sdprompt"
        let text = String(repeating: "a castle, (glowing eyes:1.2), <lora:castle:0.8>\n", count: 25_000)
        XCTAssertGreaterThan(text.utf8.count, PromptLinter.maxAnalyzedBytes)
        client.notify("textDocument/didOpen", ["textDocument": ["uri": .string(uri), "languageId": "sdprompt", "version": 1, "text": .string(text)]] as JSONValue)
        let document: JSONValue = ["uri": .string(uri)]
        let position: JSONValue = ["line": 3, "character": 12]
        let range: JSONValue = ["start": ["line": 0, "character": 0], "end": ["line": 9, "character": 0]]
        let answers: [(String, JSONValue, JSONValue)] = [
            ("textDocument/semanticTokens/full", ["textDocument": document], ["data": []]),
            ("textDocument/inlayHint", ["textDocument": document, "range": range], []),
            ("textDocument/documentSymbol", ["textDocument": document], []),
            ("textDocument/formatting", ["textDocument": document, "options": ["tabSize": 4, "insertSpaces": true]], []),
            ("textDocument/completion", ["textDocument": document, "position": position], ["isIncomplete": false, "items": []]),
            ("textDocument/hover", ["textDocument": document, "position": position], .null),
            ("textDocument/codeAction", ["textDocument": document, "range": range, "context": ["diagnostics": []]], []),
        ]
        for (method, params, expected) in answers {
            let got = try await client.request(method, params)
            XCTAssertEqual(got, expected, method)
        }
        let published = try await client.nextDiagnostics()
        XCTAssertEqual(published.diagnostics.compactMap(\.code), [DiagnosticCode.documentTooLarge.rawValue])
        _ = try await client.shutdownAndExit()
        client.stop()
    }

    func testUnknownMethodsBadParamsAndUnopenedDocuments() async throws {
        let client = TestClient()
        try await client.initialize()
        let code6 = await client.requestError("textDocument/nonsense", JSONValue.null)?.code
        XCTAssertEqual(code6, ErrorCode.methodNotFound)
        let code7 = await client.requestError("$/dollarRequest", JSONValue.null)?.code
        XCTAssertEqual(code7, ErrorCode.methodNotFound)
        client.notify("$/unknownNotification", ["x": 1] as JSONValue)
        client.notify("custom/unknown", JSONValue.null)
        // Params of the wrong type: an error naming the field, and the server keeps serving.
        let bad = await client.requestError("stylus/debugDocument", ["uri": 42] as JSONValue)
        XCTAssertEqual(bad?.code, ErrorCode.invalidParams)
        XCTAssertTrue(bad?.message.contains("uri") ?? false, bad?.message ?? "")
        client.notify("textDocument/didOpen", ["textDocument": "not an object"] as JSONValue)
        client.notify("textDocument/didChange", DidChangeTextDocumentParams(
            textDocument: VersionedTextDocumentIdentifier(uri: "file:///never-opened", version: 2),
            contentChanges: [TextDocumentContentChangeEvent(text: "x")]))
        client.notify("textDocument/didClose", DidCloseTextDocumentParams(textDocument: TextDocumentIdentifier(uri: "file:///never-opened")))
        let notOpen = await client.requestError("stylus/debugDocument", TextDocumentIdentifier(uri: "file:///never-opened"))
        XCTAssertEqual(notOpen?.code, ErrorCode.invalidParams)
        XCTAssertTrue(notOpen?.message.contains("not open") ?? false)
        // Raw garbage between messages.
        client.sendRaw(Array("Content-Length: 3\r\n\r\n{x}".utf8))
        client.sendRaw(Array("Content-Length: 2\r\n\r\n[]".utf8))
        client.openDocument("still works")
        let (_, text) = try await client.serverText()
        XCTAssertEqual(text, "still works")
        let code = try await client.shutdownAndExit()
        XCTAssertEqual(code, 0)
        client.stop()
    }

    func testIncrementalSyncKeepsTheServerCopyExact() async throws {
        let client = TestClient(options: fastOptions())
        try await client.initialize()
        let uri = "file:///sync.sdprompt"
        let positions = client.openDocument("🐱 1️⃣cat,\r\n(master2️⃣piece:1.2)", uri: uri)
        XCTAssertEqual(positions["1️⃣"], Position(line: 0, character: 3))
        XCTAssertEqual(positions["2️⃣"], Position(line: 1, character: 7))
        var version = 1
        func change(_ changes: [TextDocumentContentChangeEvent]) {
            version += 1
            client.notify("textDocument/didChange", DidChangeTextDocumentParams(
                textDocument: VersionedTextDocumentIdentifier(uri: uri, version: version), contentChanges: changes))
        }
        change([TextDocumentContentChangeEvent(range: LSPRange(start: positions["1️⃣"]!, end: positions["1️⃣"]!), text: "fluffy ")])
        change([TextDocumentContentChangeEvent(range: LSPRange(start: positions["2️⃣"]!, end: Position(line: 1, character: 12)), text: "")])
        let (v, text) = try await client.serverText(uri)
        XCTAssertEqual(v, 3)
        XCTAssertEqual(text, "🐱 fluffy cat,\r\n(master:1.2)")

        // 1,000 single-character edits sent as fast as possible, then checked.
        var expected = text
        for i in 0..<1000 {
            let ch = i % 10 == 9 ? "\n" : "x"
            let lines = SourceText(expected)
            let end = lines.position(ofUTF8: lines.utf8Count)
            change([TextDocumentContentChangeEvent(range: LSPRange(start: end, end: end), text: ch)])
            expected += ch
        }
        let (v2, text2) = try await client.serverText(uri)
        XCTAssertEqual(v2, 1003)
        XCTAssertEqual(text2, expected)
        client.stop()
    }

    func testDiagnosticsArePublishedForOpenAndClearedOnClose() async throws {
        let client = TestClient(options: fastOptions())
        try await client.initialize(capabilities: ["textDocument": ["publishDiagnostics": ["versionSupport": true]]])
        client.openDocument("a cat", uri: "file:///d.sdprompt", version: 7)
        let first = try await client.nextDiagnostics()
        XCTAssertEqual(first.uri, "file:///d.sdprompt")
        XCTAssertEqual(first.version, 7)
        client.notify("textDocument/didClose", DidCloseTextDocumentParams(textDocument: TextDocumentIdentifier(uri: "file:///d.sdprompt")))
        let cleared = try await client.nextDiagnostics()
        XCTAssertEqual(cleared.diagnostics, [])
        XCTAssertNil(cleared.version)
        client.stop()
    }

    func testSettingsFromInitializationOptionsAndConfigurationPull() async throws {
        let client = TestClient()
        client.answer("workspace/configuration") { params in
            XCTAssertEqual(params.at("items")?.arrayValue?.first?["section"], "stylus")
            return [["baseModel": "SD 1.5", "loraDirs": ["/loras"], "renderer": 5]]
        }
        client.answer("client/registerCapability") { _ in .null }
        try await client.initialize(
            capabilities: ["workspace": ["configuration": true, "didChangeConfiguration": ["dynamicRegistration": true]]],
            initializationOptions: ["stylus": ["db": "/tmp/cat.sqlite", "baseModel": "SDXL 1.0"]])
        let deadline = ContinuousClock.now + .seconds(5)
        var settings = await client.server.currentSettings()
        while settings.baseModel != "SD 1.5", ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(5))
            settings = await client.server.currentSettings()
        }
        XCTAssertEqual(settings.db, "/tmp/cat.sqlite")       // from initializationOptions
        XCTAssertEqual(settings.baseModel, "SD 1.5")         // pulled value wins
        XCTAssertEqual(settings.loraDirs, ["/loras"])
        XCTAssertNil(settings.renderer)                      // wrong type ignored, and reported
        // Among the logged problems (the missing /tmp/cat.sqlite catalog is one) is the bad setting.
        var log = try await client.nextNotification("window/logMessage")
        while !(log["message"]?.stringValue?.contains("stylus.renderer") ?? false) {
            log = try await client.nextNotification("window/logMessage")
        }
        let methods = client.serverRequests.current.map(\.method)
        XCTAssertTrue(methods.contains("client/registerCapability"), "\(methods)")

        // A pushed change (flat section) is applied.
        client.answer("workspace/configuration") { _ in [.null] }
        client.notify("workspace/didChangeConfiguration", DidChangeConfigurationParams(settings: ["stylus": ["checkpoint": "/m.safetensors"]]))
        _ = await client.requestError("stylus/debugDocument", TextDocumentIdentifier(uri: "x"))  // orders after the notification
        let after = await client.server.currentSettings()
        XCTAssertEqual(after.checkpoint, "/m.safetensors")
        XCTAssertEqual(after.baseModel, "SD 1.5")
        client.stop()
    }

    func testNoConfigurationRequestWithoutTheCapability() async throws {
        let client = TestClient()
        try await client.initialize(capabilities: [:], initializationOptions: ["baseModel": "Pony"])
        _ = await client.requestError("stylus/debugDocument", TextDocumentIdentifier(uri: "x"))
        try await Task.sleep(for: .milliseconds(50))
        XCTAssertEqual(client.serverRequests.current.count, 0)
        let s = await client.server.currentSettings()
        XCTAssertEqual(s.baseModel, "Pony")
        client.stop()
    }

    func testSettingsParsing() {
        let (s, problems) = Settings.parse(["loraDirs": "/one", "db": ["x"], "baseModel": nil])
        XCTAssertEqual(s.loraDirs, ["/one"])
        XCTAssertNil(s.db)
        XCTAssertEqual(problems.count, 1)
        XCTAssertEqual(Settings.parse("nonsense").1.count, 1)
        // Several render servers as a list; a list with something else in it is refused.
        let (servers, none) = Settings.parse(["renderer": ["comfyui http://a:8188", "http://b:7860"]])
        XCTAssertEqual(servers.renderer, "comfyui http://a:8188, http://b:7860")
        XCTAssertEqual(none, [])
        let (kept, bad) = Settings.parse(["renderer": ["comfyui", 3]], over: servers)
        XCTAssertEqual(kept.renderer, servers.renderer)
        XCTAssertEqual(bad, ["setting stylus.renderer must be a string or a list of strings"])
        // The render precision: auto, bf16 or fp32 (any case); anything else keeps the old value.
        let (bf16, fine) = Settings.parse(["precision": "BF16"])
        XCTAssertEqual(bf16.precision, "bf16")
        XCTAssertEqual(fine, [])
        let (same, wrong) = Settings.parse(["precision": "fp16"], over: bf16)
        XCTAssertEqual(same.precision, "bf16")
        XCTAssertEqual(wrong, ["setting stylus.precision must be auto, bf16 or fp32"])
        XCTAssertNil(Settings.parse(["precision": nil], over: bf16).0.precision)
    }

    func testClientCapabilitiesAreReadLeniently() {
        let caps = ClientCapabilities(json: [
            "textDocument": [
                "completion": ["completionItem": ["snippetSupport": true, "documentationFormat": ["markdown", "plaintext"]]],
                "hover": ["contentFormat": "markdown"],   // wrong shape: treated as unsupported
                "publishDiagnostics": ["relatedInformation": true, "tagSupport": ["valueSet": [1, 2]]],
            ],
            "window": ["workDoneProgress": true, "showDocument": ["support": false]],
        ])
        XCTAssertTrue(caps.snippets)
        XCTAssertTrue(caps.completionMarkdown)
        XCTAssertFalse(caps.hoverMarkdown)
        XCTAssertTrue(caps.relatedInformation)
        XCTAssertEqual(caps.diagnosticTags, [1, 2])
        XCTAssertTrue(caps.workDoneProgress)
        XCTAssertFalse(caps.showDocument)
        XCTAssertFalse(caps.configuration)
        XCTAssertEqual(ClientCapabilities(json: "garbage"), ClientCapabilities())
    }
}
