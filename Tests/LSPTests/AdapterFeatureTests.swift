import Foundation
import JSONRPC
import LSP
import StylusCore
import XCTest

/// Completion, hover, catalog diagnostics, code actions and commands against a real catalog:
/// the shipped starter catalog, seeded by the server into a fresh SQLite file (a temporary
/// `STYLUS_HOME`), exactly as on a fresh install.
final class AdapterFeatureTests: XCTestCase {
    private var home = ""
    private var client: TestClient!
    private let uri = "file:///adapters.sdprompt"

    static let markdownClient: JSONValue = [
        "textDocument": [
            "completion": ["completionItem": ["snippetSupport": true, "documentationFormat": ["markdown", "plaintext"]]],
            "hover": ["contentFormat": ["markdown", "plaintext"]],
            "codeAction": ["codeActionLiteralSupport": ["codeActionKind": ["valueSet": ["quickfix", "refactor", "source"]]]],
            "publishDiagnostics": ["versionSupport": true],
        ],
        "workspace": ["applyEdit": true],
    ]

    override func setUp() async throws {
        home = NSTemporaryDirectory() + "stylus-lsp-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
    }

    override func tearDown() async throws {
        client?.stop()
        try? FileManager.default.removeItem(atPath: home)
    }

    private func start(capabilities: JSONValue = [:], settings: JSONValue = ["baseModel": "SD 1.5"],
                       render: (any ServerCommand)? = nil, environment: [String: String] = [:]) async throws {
        var options = LanguageServer.Options()
        options.diagnosticsDelay = .milliseconds(10)
        options.environment = environment.merging(["STYLUS_HOME": home]) { a, _ in a }
        options.renderCommand = render
        client = TestClient(options: options)
        try await client.initialize(capabilities: capabilities, initializationOptions: ["stylus": settings])
        // Completion is ready with the context; composing (keyword hovers, hints) once its index is built.
        await client.server.adapterContext()?.composerReady()
    }

    private func decode<T: Decodable>(_ json: JSONValue, as: T.Type) throws -> T {
        try JSONDecoder().decode(T.self, from: JSONEncoder().encode(json))
    }

    private func complete(_ p: Position) async throws -> CompletionList {
        try await client.request("textDocument/completion", JSONValue.object([
            "textDocument": ["uri": .string(uri)], "position": ["line": .int(p.line), "character": .int(p.character)],
        ]), as: CompletionList.self)
    }

    private func hover(_ p: Position) async throws -> Hover? {
        let r = try await client.request("textDocument/hover", JSONValue.object([
            "textDocument": ["uri": .string(uri)], "position": ["line": .int(p.line), "character": .int(p.character)],
        ]))
        return r == .null ? nil : try decode(r, as: Hover.self)
    }

    /// Diagnostics once the catalog checks ran (the first publish may predate the catalog load).
    private func catalogDiagnostics(_ codes: Set<String>) async throws -> [Diagnostic] {
        while true {
            let d = try await client.nextDiagnostics()
            if d.uri == uri, codes.isSubset(of: Set(d.diagnostics.compactMap(\.code))) { return d.diagnostics }
        }
    }

    private func codeActions(_ range: LSPRange, _ diagnostics: [Diagnostic], only: [String]? = nil) async throws -> JSONValue {
        var context: [String: JSONValue] = ["diagnostics": try JSONValue(encoding: diagnostics)]
        if let only { context["only"] = .array(only.map { .string($0) }) }
        return try await client.request("textDocument/codeAction", JSONValue.object([
            "textDocument": ["uri": .string(uri)], "range": try JSONValue(encoding: range), "context": .object(context),
        ]))
    }

    /// Applies LSP text edits (non-overlapping, any order) to a text.
    private func apply(_ edits: [TextEdit], to text: String) -> String {
        let source = SourceText(text)
        var bytes = source.bytes
        for e in edits.sorted(by: { $0.range.start > $1.range.start }) {
            let a = source.utf8Offset(of: e.range.start), b = source.utf8Offset(of: e.range.end)
            bytes.replaceSubrange(a..<b, with: Array(e.newText.utf8))
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    // MARK: Completion

    func testAliasCompletionInsideLoraTagFiltersByBaseModel() async throws {
        try await start()
        let p = client.openDocument("a fox, 1️⃣<lora:2️⃣gou3️⃣", uri: uri)
        let list = try await complete(p["3️⃣"]!)
        XCTAssertFalse(list.isIncomplete)
        XCTAssertEqual(list.items.map(\.label), ["gouachebook_v2"], "only the SD 1.5 variant, not gouachebookXL / _pony")
        let item = try XCTUnwrap(list.items.first)
        XCTAssertEqual(item.textEdit?.range, LSPRange(start: p["2️⃣"]!, end: p["3️⃣"]!))
        // The composer's weight for an adapter alone in its topic: recommended 0.7 × 0.8.
        XCTAssertEqual(item.textEdit?.newText, "gouachebook_v2:0.56>", "no snippets: plain text closing the tag")
        XCTAssertNil(item.insertTextFormat)
        XCTAssertEqual(item.detail, "not installed · Gouache Storybook · style · 0.56")
        guard case .plain(let doc) = item.documentation else { return XCTFail("a client without formats gets a plain string") }
        XCTAssertTrue(doc.contains("Trigger words: gouachebook"), doc)
    }

    func testAliasCompletionSnippetsMarkdownAndWholeNameRange() async throws {
        try await start(capabilities: Self.markdownClient)
        // The cursor is inside an existing, closed name: the edit replaces the whole name only.
        let p = client.openDocument("a fox, <lora:1️⃣lino2️⃣prnt3️⃣:0.5>, <lora:4️⃣", uri: uri)
        let inName = try await complete(p["2️⃣"]!)
        XCTAssertEqual(inName.items.map(\.label), ["linoprint_v1"])
        XCTAssertEqual(inName.items[0].textEdit, TextEdit(range: LSPRange(start: p["1️⃣"]!, end: p["3️⃣"]!), newText: "linoprint_v1"))
        guard case .markup(let doc) = inName.items[0].documentation else { return XCTFail("markdown documentation expected") }
        XCTAssertEqual(doc.kind, .markdown)
        XCTAssertTrue(doc.value.contains("**Linocut Print**"), doc.value)

        // An empty name lists every SD 1.5 alias, capped: the list says it is incomplete.
        let open = try await complete(p["4️⃣"]!)
        XCTAssertTrue(open.isIncomplete)
        XCTAssertEqual(open.items.count, 50)
        XCTAssertEqual(open.items.first?.insertTextFormat, 2)
        XCTAssertTrue(open.items.allSatisfy { $0.textEdit?.newText.contains(":${1:") == true })
        XCTAssertFalse(open.items.contains { $0.label.hasSuffix("XL") || $0.label.hasSuffix("_pony") })
    }

    func testDocumentationOnResolveForClientsThatResolveIt() async throws {
        try await start(capabilities: ["textDocument": ["completion": ["completionItem": [
            "documentationFormat": ["markdown"], "resolveSupport": ["properties": ["documentation", "detail"]],
        ]]]])
        let p = client.openDocument("<lora:lino1️⃣", uri: uri)
        let list = try await complete(p["1️⃣"]!)
        let item = try XCTUnwrap(list.items.first)
        XCTAssertNil(item.documentation, "sent lazily")
        XCTAssertEqual(item.detail, "not installed · Linocut Print · style · 0.48")
        let resolved = try await client.request("completionItem/resolve", item, as: CompletionItem.self)
        guard case .markup(let doc) = resolved.documentation else { return XCTFail("no documentation on resolve") }
        XCTAssertEqual(doc.kind, .markdown)
        XCTAssertTrue(doc.value.contains("**Linocut Print**"), doc.value)
        XCTAssertEqual(resolved.textEdit, item.textEdit)
    }

    func testTriggerWordsAfterATag() async throws {
        try await start()
        let p = client.openDocument("a fox, <lora:gouachebook_v2:0.7>, 1️⃣gou2️⃣", uri: uri)
        let list = try await complete(p["2️⃣"]!)
        XCTAssertEqual(list.items.map(\.label), ["gouachebook"])
        XCTAssertEqual(list.items[0].textEdit, TextEdit(range: LSPRange(start: p["1️⃣"]!, end: p["2️⃣"]!), newText: "gouachebook"))
    }

    func testWordCompletionAddsTagAndTriggerAsSeparateEdits() async throws {
        try await start()
        let text = "a 1️⃣lightho2️⃣ at dusk, oil painting"
        let p = client.openDocument(text, uri: uri)
        let list = try await complete(p["2️⃣"]!)
        let item = try XCTUnwrap(list.items.first { $0.label == "lighthse_v3" }, "\(list.items.map(\.label))")
        XCTAssertEqual(item.filterText, "lighthouse")
        XCTAssertEqual(item.textEdit, TextEdit(range: LSPRange(start: p["1️⃣"]!, end: p["2️⃣"]!), newText: "lighthouse"))
        let extra = try XCTUnwrap(item.additionalTextEdits)
        XCTAssertEqual(extra.count, 2, "trigger word and tag are separate edits: \(extra)")
        let (plain, _) = TestClient.extractMarkers(text)
        let edited = apply([item.textEdit!] + extra, to: plain)
        XCTAssertTrue(edited.hasPrefix("lighthse, a lighthouse at dusk, oil painting, <lora:lighthse_v3:"), edited)
        XCTAssertFalse(list.items.contains { $0.label.hasSuffix("XL") })

        // One character is too little to search: an empty list the client must ask again for.
        let q = client.openDocument("l1️⃣", uri: uri, version: 2)
        let short = try await complete(q["1️⃣"]!)
        XCTAssertTrue(short.isIncomplete)
        XCTAssertEqual(short.items, [])
    }

    func testSettingsChangeRebasesCompletion() async throws {
        try await start()
        let p = client.openDocument("<lora:gouache1️⃣", uri: uri)
        let sd15 = try await complete(p["1️⃣"]!)
        XCTAssertEqual(sd15.items.map(\.label), ["gouachebook_v2"])
        client.notify("workspace/didChangeConfiguration", DidChangeConfigurationParams(settings: ["stylus": ["baseModel": "SDXL 1.0"]]))
        _ = try await client.serverText(uri)  // ordered after the notification
        let xl = try await complete(p["1️⃣"]!)
        XCTAssertEqual(xl.items.map(\.label), ["gouachebookXL"])
        // The file's frontmatter wins over the setting.
        let q = client.openDocument("---\nbase_model: Pony\n---\n<lora:gouache1️⃣", uri: uri, version: 2)
        let pony = try await complete(q["1️⃣"]!)
        XCTAssertEqual(pony.items.map(\.label), ["gouachebook_pony"])
    }

    // MARK: Hover

    func testHoverShowsTheAdapterCardAndKeywordAdapters() async throws {
        try await start(capabilities: Self.markdownClient)
        let p = client.openDocument("1️⃣lino2️⃣cut print of a light3️⃣house, 4️⃣<lora:gouache5️⃣book_v2:0.5>6️⃣, <lora:nosuch7️⃣:1>", uri: uri)
        let cardHover = try await hover(p["5️⃣"]!)
        let card = try XCTUnwrap(cardHover)
        XCTAssertEqual(card.range, LSPRange(start: p["4️⃣"]!, end: p["6️⃣"]!))
        XCTAssertEqual(card.contents.kind, .markdown)
        for part in ["**Gouache Storybook**", "Trigger words: `gouachebook`", "weight 0.7", "SD 1.5", "Tags: style, gouache", "style"] {
            XCTAssertTrue(card.contents.value.contains(part), "\(part) missing in \(card.contents.value)")
        }
        let keywordHover = try await hover(p["2️⃣"]!)
        let keyword = try XCTUnwrap(keywordHover)
        XCTAssertEqual(keyword.range?.start, p["1️⃣"]!)
        XCTAssertTrue(keyword.contents.value.contains("<lora:linoprint_v1:"), keyword.contents.value)
        XCTAssertTrue(keyword.contents.value.contains("score "), "the composer's reason: \(keyword.contents.value)")
        XCTAssertTrue(keyword.contents.value.contains("linoprintXL`: base model SDXL 1.0 differs"), keyword.contents.value)
        let lighthouseHover = try await hover(p["3️⃣"]!)
        let lighthouse = try XCTUnwrap(lighthouseHover)
        XCTAssertTrue(lighthouse.contents.value.contains("lighthse_v3"), lighthouse.contents.value)
        let unknownHover = try await hover(p["7️⃣"]!)
        let unknown = try XCTUnwrap(unknownHover)
        XCTAssertTrue(unknown.contents.value.hasPrefix("Unknown LoRA `nosuch`"), unknown.contents.value)
    }

    func testHoverPlainTextForClientsWithoutMarkdown() async throws {
        try await start()
        // No card of the starter catalog names a ladder ("cat" has a "big cat" snow leopard, which a
        // hover rightly lists as not used).
        let p = client.openDocument("<lora:linoprint_v1:0.6>1️⃣ a 2️⃣ladder", uri: uri)
        let cardHover = try await hover(Position(line: 0, character: 3))
        let card = try XCTUnwrap(cardHover)
        XCTAssertEqual(card.contents.kind, .plaintext)
        XCTAssertFalse(card.contents.value.contains("**"))
        let ladder = try await hover(p["2️⃣"]!)
        XCTAssertNil(ladder, "a keyword without adapters has no hover")
    }

    // MARK: Diagnostics

    func testCatalogDiagnostics() async throws {
        try await start()
        let p = client.openDocument(
            "linocut print of a lighthouse, <lora:1️⃣gouachebookXL2️⃣:0.6>, <lora:3️⃣gouachebook_v24️⃣:0.6>, <lora:5️⃣nosuch6️⃣:1>, gouachebook",
            uri: uri)
        let all = try await catalogDiagnostics(["unknown-lora", "base-model-mismatch", "adapter-available"])
        let mismatch = try XCTUnwrap(all.first { $0.code == "base-model-mismatch" })
        XCTAssertEqual(mismatch.range, LSPRange(start: p["1️⃣"]!, end: p["2️⃣"]!))
        XCTAssertEqual(mismatch.severity, .warning, "SDXL adapters do not load into SD 1.5")
        XCTAssertTrue(mismatch.message.contains("SDXL 1.0 adapter"), mismatch.message)
        let unknown = try XCTUnwrap(all.first { $0.code == "unknown-lora" })
        XCTAssertEqual(unknown.range, LSPRange(start: p["5️⃣"]!, end: p["6️⃣"]!))
        XCTAssertFalse(all.contains { $0.code == "missing-trigger" && $0.range.start == p["3️⃣"]! }, "the trigger word is in the prompt")
        let hints = all.filter { $0.code == "adapter-available" }
        XCTAssertEqual(hints.map(\.severity), [.hint, .hint])
        for alias in ["linoprint_v1", "lighthse_v3"] {  // the medium, and the "Lighthouse" adapter
            XCTAssertTrue(hints.contains { $0.message.contains(alias) }, "\(alias): \(hints.map(\.message))")
        }
        XCTAssertTrue(all.allSatisfy { $0.source == "stylus" })

        // Removing the trigger word: the tag now misses it.
        client.notify("textDocument/didChange", DidChangeTextDocumentParams(
            textDocument: VersionedTextDocumentIdentifier(uri: uri, version: 2),
            contentChanges: [TextDocumentContentChangeEvent(text: "a cat, <lora:gouachebook_v2:0.6>")]))
        let missing = try await catalogDiagnostics(["missing-trigger"])
        XCTAssertEqual(missing.first { $0.code == "missing-trigger" }?.data?["trigger"], "gouachebook")
    }

    // MARK: Code actions

    func testQuickFixes() async throws {
        try await start(capabilities: Self.markdownClient)
        let text = "a cat, <lora:gouachebook_v3:0.6>, <lora:linoprint_v1:3>\nNegative prompt: blurry, <lora:lighthse_v3:1>"
        client.openDocument(text, uri: uri)
        let diagnostics = try await catalogDiagnostics(["unknown-lora", "missing-trigger", "lora-in-negative", "weight-range"])
        var edits: [String: String] = [:]
        for d in diagnostics {
            let actions = try await codeActions(d.range, [d]).arrayValue ?? []
            for a in actions {
                let action = try decode(a, as: CodeAction.self)
                guard let changes = action.edit?.changes?[uri] else { continue }
                edits[action.title] = apply(changes, to: text)
            }
        }
        XCTAssertEqual(edits["Replace with 'gouachebook_v2'"],
                       "a cat, <lora:gouachebook_v2:0.6>, <lora:linoprint_v1:3>\nNegative prompt: blurry, <lora:lighthse_v3:1>")
        XCTAssertEqual(edits["Remove unknown LoRA <lora:gouachebook_v3>"],
                       "a cat, <lora:linoprint_v1:3>\nNegative prompt: blurry, <lora:lighthse_v3:1>")
        XCTAssertEqual(edits["Insert trigger word 'linoprint'"],
                       "linoprint, a cat, <lora:gouachebook_v3:0.6>, <lora:linoprint_v1:3>\nNegative prompt: blurry, <lora:lighthse_v3:1>")
        XCTAssertEqual(edits["Move <lora:lighthse_v3> to the prompt"],
                       "a cat, <lora:gouachebook_v3:0.6>, <lora:linoprint_v1:3>, <lora:lighthse_v3:1>\nNegative prompt: blurry")
        // The composer's weight rule (0.6 × 0.8), not the bare recommended 0.6.
        XCTAssertEqual(edits["Set weight to the suggested 0.48"],
                       "a cat, <lora:gouachebook_v3:0.6>, <lora:linoprint_v1:0.48>\nNegative prompt: blurry, <lora:lighthse_v3:1>")
    }

    /// The composed text is clean: the tag "Compose adapters" wrote gets no weight fix and no
    /// missing-trigger (one weight rule for composer, completion, hover and quick fix).
    func testComposedTextRaisesNoFixOfItsOwn() async throws {
        try await start(capabilities: Self.markdownClient)
        let loaded = await client.server.adapterContext()
        let context = try XCTUnwrap(loaded)
        await context.composerReady()
        let text = "linocut print of a lighthouse"
        let composition = try context.compose(PromptFile(text: text))
        let composed = apply([try XCTUnwrap(composition.edit)], to: text)
        XCTAssertEqual(composed, "linocut print of a lighthouse, linoprint, lighthse, <lora:linoprint_v1:0.48>, <lora:lighthse_v3:0.64>")
        let codes = { (t: String) in context.linter.diagnostics(context.request(PromptFile(text: t))).map(\.code.rawValue) }
        XCTAssertTrue(codes("linocut print of a lighthouse, <lora:linoprint_v1:0.48>").contains("missing-trigger"), "the check works")
        XCTAssertFalse(codes(composed).contains("missing-trigger"), composed)

        client.openDocument(composed, uri: uri)
        let tagStart = try XCTUnwrap(composed.range(of: "<lora:linoprint_v1")).lowerBound.utf16Offset(in: composed) + 3
        let onTag = LSPRange(start: Position(line: 0, character: tagStart), end: Position(line: 0, character: tagStart))
        let titles = try await codeActions(onTag, []).arrayValue?.compactMap { $0["title"]?.stringValue } ?? []
        XCTAssertFalse(titles.contains { $0.hasPrefix("Set weight") }, "\(titles)")
        // A weight the composer would not give: the fix offers the composer's weight.
        let other = "file:///other.sdprompt"
        client.openDocument("linocut print, <lora:linoprint_v1:0.9>", uri: other)
        let fix = try await client.request("textDocument/codeAction", JSONValue.object([
            "textDocument": ["uri": .string(other)],
            "range": try JSONValue(encoding: LSPRange(start: Position(line: 0, character: 18), end: Position(line: 0, character: 18))),
            "context": ["diagnostics": []],
        ]))
        let fixTitles = fix.arrayValue?.compactMap { $0["title"]?.stringValue } ?? []
        XCTAssertTrue(fixTitles.contains("Set weight to the suggested 0.48"), "\(fixTitles)")
    }

    func testComposeActionRenderGatingAndCommandsOnlyClients() async throws {
        try await start(capabilities: Self.markdownClient)
        let text = "linocut print of a lighthouse"
        client.openDocument(text, uri: uri)
        let whole = LSPRange(start: Position(line: 0, character: 0), end: Position(line: 0, character: 0))
        let actions = try await codeActions(whole, [])
        let compose = try decode(try XCTUnwrap(actions.arrayValue?.first { $0["kind"] == "source.compose" }), as: CodeAction.self)
        // With the trigger word the adapter lacks; the title says the adapter has no local file.
        XCTAssertEqual(apply(compose.edit?.changes?[uri] ?? [], to: text),
                       "linocut print of a lighthouse, linoprint, lighthse, <lora:linoprint_v1:0.48>, <lora:lighthse_v3:0.64>")
        XCTAssertEqual(compose.title, "Compose adapters: <lora:linoprint_v1:0.48> <lora:lighthse_v3:0.64> (not installed: linoprint_v1, lighthse_v3)")
        XCTAssertFalse(actions.arrayValue?.contains { $0["title"] == "Render image" } ?? true, "no render handler, no action")
        let onlyQuickfix = try await codeActions(whole, [], only: ["quickfix"])
        XCTAssertEqual(onlyQuickfix.arrayValue?.count, 0)

        // A client without code action literals gets commands.
        let other = TestClient(options: { var o = LanguageServer.Options(); o.environment = ["STYLUS_HOME": home]; return o }())
        defer { other.stop() }
        try await other.initialize(capabilities: [:], initializationOptions: ["stylus": ["baseModel": "SD 1.5"]])
        await other.server.adapterContext()?.composerReady()
        other.openDocument(text, uri: uri)
        let commands = try await other.request("textDocument/codeAction", JSONValue.object([
            "textDocument": ["uri": .string(uri)], "range": try JSONValue(encoding: whole), "context": ["diagnostics": []],
        ]))
        XCTAssertEqual(commands.arrayValue?.first?["command"], "stylus.compose")
        XCTAssertEqual(commands.arrayValue?.first?["arguments"], [["uri": .string(uri)]])
    }

    struct RecordingRender: ServerCommand {
        let calls = Locked<[JSONValue]>([])
        func execute(arguments: [JSONValue], environment: CommandEnvironment) async throws -> JSONValue? {
            let uri = try CommandEnvironment.uri(arguments, command: "stylus.render")
            let snapshot = await environment.document(uri)
            let composed = try await environment.adapters()?.compose(try XCTUnwrap(snapshot).file)
            calls.withLock { $0.append(.string(composed?.promptWithAdapters ?? "")) }
            return ["image": "/tmp/x.png"]
        }
    }

    func testExecuteCommands() async throws {
        let render = RecordingRender()
        try await start(capabilities: Self.markdownClient, render: render)
        let text = "linocut print of a lighthouse"
        client.openDocument(text, uri: uri)
        let applied = Locked<[JSONValue]>([])
        client.answer("workspace/applyEdit") { params in
            applied.withLock { $0.append(params) }
            return ["applied": true]
        }
        let result = try await client.request("workspace/executeCommand", ExecuteCommandParams(
            command: "stylus.compose", arguments: [["uri": .string(uri)]]))
        XCTAssertEqual(result["applied"], true)
        XCTAssertEqual(result["tags"], ["<lora:linoprint_v1:0.48>", "<lora:lighthse_v3:0.64>"])
        XCTAssertEqual(result["trigger_words"], ["linoprint", "lighthse"])
        XCTAssertEqual(result["not_installed"], ["linoprint_v1", "lighthse_v3"])
        let edit = try decode(try XCTUnwrap(applied.current.first?["edit"]), as: WorkspaceEdit.self)
        let composedText = text + ", linoprint, lighthse, <lora:linoprint_v1:0.48>, <lora:lighthse_v3:0.64>"
        XCTAssertEqual(apply(edit.changes?[uri] ?? [], to: text), composedText)
        // The command's prompt_with_adapters is the text the edit makes (one rule for both).
        XCTAssertEqual(result["prompt_with_adapters"], .string(composedText))

        let rendered = try await client.request("workspace/executeCommand", ExecuteCommandParams(
            command: "stylus.render", arguments: [["uri": .string(uri)]]))
        XCTAssertEqual(rendered["image"], "/tmp/x.png")
        XCTAssertEqual(render.calls.current, [.string(composedText)], "Composed.promptWithAdapters is the text the edit makes")
        let init2 = try await TestClient.capabilitiesWithRender(home: home)
        XCTAssertEqual(init2, ["stylus.compose", "stylus.reindex", "stylus.render"])

        let unknown = await client.requestError("workspace/executeCommand", ExecuteCommandParams(command: "stylus.nope"))
        XCTAssertEqual(unknown?.code, ErrorCode.invalidParams)
        XCTAssertTrue(unknown?.message.contains("stylus.nope") ?? false, unknown?.message ?? "")
        let noURI = await client.requestError("workspace/executeCommand", ExecuteCommandParams(command: "stylus.compose"))
        XCTAssertEqual(noURI?.code, ErrorCode.invalidParams)
    }

    /// A LoRA folder that is not there is shown to the user (window/showMessage), not only logged,
    /// and `~` in settings is `$HOME` (not the account's home directory).
    func testSettingsProblemsAreShownAndTildeIsHome() async throws {
        try await start(settings: ["baseModel": "SD 1.5", "loraDirs": ["~/no-such-loras"]], environment: ["HOME": home])
        var shown = try await client.nextNotification("window/showMessage")
        while !(shown["message"]?.stringValue?.contains("no-such-loras") ?? false) {
            shown = try await client.nextNotification("window/showMessage")
        }
        let message = shown["message"]?.stringValue ?? ""
        XCTAssertEqual(shown["type"], 2)
        XCTAssertTrue(message.contains(home + "/no-such-loras"), message)
    }

    func testRenderIsUnavailableWithoutAHandler() async throws {
        try await start()
        let error = await client.requestError("workspace/executeCommand", ExecuteCommandParams(
            command: "stylus.render", arguments: [["uri": .string(uri)]]))
        XCTAssertEqual(error?.code, ErrorCode.invalidParams)
        XCTAssertTrue(error?.message.contains("stylus.render") ?? false)
    }

    func testReindexScansLoraFoldersWithProgress() async throws {
        let folder = home + "/loras"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/LoRA")
        try FileManager.default.copyItem(atPath: fixtures.appendingPathComponent("kohya.safetensors").path,
                                         toPath: folder + "/mykohya.safetensors")
        try await start(capabilities: ["window": ["workDoneProgress": true]], settings: ["baseModel": "SD 1.5", "loraDirs": []])
        client.answer("window/workDoneProgress/create") { _ in .null }
        // The file's metadata names it (ss_output_name): that is its alias; the file stem also resolves.
        let p = client.openDocument("<lora:kohya_al1️⃣", uri: uri)
        let before = try await complete(p["1️⃣"]!)
        XCTAssertEqual(before.items, [])

        client.notify("workspace/didChangeConfiguration", DidChangeConfigurationParams(settings: ["stylus": ["loraDirs": [.string(folder)]]]))
        let result = try await client.request("workspace/executeCommand", ExecuteCommandParams(command: "stylus.reindex"))
        XCTAssertEqual(result["folders"], 1)
        XCTAssertEqual(result["problems"], [])
        let after = try await complete(p["1️⃣"]!)
        XCTAssertEqual(after.items.map(\.label), ["kohya_alias"], "\(result)")
        client.openDocument("<lora:mykohya:0.8>", uri: uri, version: 2)
        let card = try await hover(Position(line: 0, character: 8))
        XCTAssertTrue(card?.contents.value.contains("kohya_alias") ?? false, "\(String(describing: card))")
        var kinds: [String] = []
        while kinds.last != "end" {
            kinds.append(try await client.nextNotification("$/progress")["value"]?["kind"]?.stringValue ?? "")
        }
        XCTAssertEqual(kinds.first, "begin")
        XCTAssertTrue(kinds.contains("report"))
    }

    func testMissingCatalogIsReportedAndFeaturesStayQuiet() async throws {
        try await start(settings: ["db": .string(home + "/does-not-exist.sqlite")])
        let log = try await client.nextNotification("window/logMessage")
        XCTAssertTrue(log["message"]?.stringValue?.contains("does-not-exist.sqlite") ?? false, "\(log)")
        let p = client.openDocument("<lora:gou1️⃣", uri: uri)
        let list = try await complete(p["1️⃣"]!)
        XCTAssertEqual(list.items, [])
    }
}

extension TestClient {
    /// The commands a server with a render handler advertises.
    static func capabilitiesWithRender(home: String) async throws -> [String] {
        var o = LanguageServer.Options()
        o.environment = ["STYLUS_HOME": home]
        o.renderCommand = AdapterFeatureTests.RecordingRender()
        let c = TestClient(options: o)
        defer { c.stop() }
        let r = try await c.initialize()
        return r.at("capabilities.executeCommandProvider.commands")?.arrayValue?.compactMap(\.stringValue) ?? []
    }
}

extension JSONValue {
    init(encoding value: some Encodable) throws {
        self = try JSONDecoder().decode(JSONValue.self, from: JSONEncoder().encode(value))
    }
}
