import Foundation
import JSONRPC
import Logging
import StylusCore

/// The language server: lifecycle, documents, settings, and dispatch to one handler per
/// feature. It holds no prompt logic; handlers translate between LSP and StylusCore values.
///
/// Messages arrive one at a time in order (see `Connection.run`). Document updates are applied
/// inside this actor before the next message is looked at; a request's ordered part takes a
/// snapshot here and its work then runs concurrently, so reads never block updates.
public actor LanguageServer: MessageHandler {
    public struct Options: Sendable {
        /// Trailing quiet period before diagnostics are computed and published.
        public var diagnosticsDelay: Duration = .milliseconds(150)
        /// CLIP token counting for the `token-limit` diagnostic; nil skips that check.
        public var tokenCounter: (any PromptTokenCounter)?
        /// Environment for locating the catalog (`$STYLUS_DB`, `$STYLUS_HOME`, …; tests use their own).
        public var environment: [String: String] = ProcessInfo.processInfo.environment
        /// The `stylus.render` command. Nil: no "Render image" code action, and the
        /// command answers InvalidParams.
        public var renderCommand: (any ServerCommand)?
        /// Runs on the catalog's loading thread before the summaries are read (tests hold the
        /// load there to exercise the first phase).
        package var beforeCatalogSummaries: (@Sendable () -> Void)?
        public init() {}
    }

    enum Lifecycle { case uninitialized, running, shutDown, exited }

    public static let name = "stylus"
    public static let version = "0.1.0"

    let connection: Connection
    let logger: Logger
    private let options: Options
    private var lifecycle = Lifecycle.uninitialized
    private var shutdownRequested = false
    private var exitCode: Int32?
    private(set) var client = ClientCapabilities()
    private(set) var settings = Settings()
    private var documents = DocumentStore()
    private let diagnostics: DiagnosticsScheduler
    /// The adapter catalog for completion, hover, catalog diagnostics and composing (loaded off the loop).
    let adapterLoader: AdapterContextLoader

    public init(connection: Connection, options: Options = Options(), logger: Logger = Logger(label: "stylus.lsp")) {
        self.connection = connection
        self.options = options
        self.logger = logger
        diagnostics = DiagnosticsScheduler(
            delay: options.diagnosticsDelay,
            compute: Self.diagnosticsCompute(options, nil),
            publish: { [connection] in connection.sendNotification("textDocument/publishDiagnostics", $0) })
        adapterLoader = AdapterContextLoader { [environment = options.environment, gate = options.beforeCatalogSummaries] in
            try AdapterContext.load(settings: $0, environment: environment, beforeSummaries: gate)
        }
    }

    /// The adapter catalog context for the current settings, waiting while it loads; nil when no
    /// catalog can be opened. For handlers and commands (e.g. `stylus.render` composes with it).
    public func adapterContext() async -> AdapterContext? { await adapterLoader.current() }

    /// Waits until the catalog load has reported (and refreshed diagnostics) for the last time.
    package func catalogSettled() async { await adapterLoader.settled() }

    /// Loads, reloads or re-bases the adapter context for the current settings.
    private func updateAdapters(force: Bool = false) async {
        await adapterLoader.update(settings, force: force) { [weak self] context, problems in
            await self?.adaptersLoaded(context, problems: problems)
        }
    }

    private func adaptersLoaded(_ context: AdapterContext?, problems: [String]) async {
        // Problems of the settings (a LoRA folder that is not there, a catalog that cannot be
        // opened) go to the user at once; the composer's degraded mode only to the log.
        let mustFix = problems.filter { $0 != context?.catalog.composerWarning }
        for p in problems { warnUser(p, show: false) }
        if !mustFix.isEmpty { showUser(mustFix) }
        if let context { logger.info("adapter catalog \(context.catalog.path): \(context.count) adapters\(context.isComposerReady ? ", composer ready" : "")") }
        await diagnostics.refreshAll(compute: Self.diagnosticsCompute(options, context))
    }

    private static func diagnosticsCompute(_ options: Options, _ context: AdapterContext?) -> DiagnosticsScheduler.Compute {
        let linter = PromptLinter(tokenCounter: options.tokenCounter)
        return { DiagnosticsHandler.staged($0, linter: linter, adapters: context) }
    }

    /// Serves until `exit` or the end of input. Returns the process exit code: 0 after a
    /// `shutdown` request, 1 otherwise (LSP 3.17 `exit`).
    public nonisolated func run() async -> Int32 {
        await connection.run(handler: self)
        return await finalExitCode()
    }

    private func finalExitCode() -> Int32 { exitCode ?? (shutdownRequested ? 0 : 1) }

    // MARK: Notifications

    public func handleNotification(method: String, params: Payload) async {
        switch (lifecycle, method) {
        case (_, "exit"):
            guard lifecycle != .exited else { return }
            lifecycle = .exited
            exitCode = shutdownRequested ? 0 : 1
            await diagnostics.stop()
            connection.close()
            return
        case (.uninitialized, _), (.exited, _):
            return  // before initialize, notifications other than exit are dropped
        case (.shutDown, _):
            return
        case (.running, _):
            break
        }
        do {
            switch method {
            case "initialized": await initialized()
            case "textDocument/didOpen": try await didOpen(params.decode())
            case "textDocument/didChange": try await didChange(params.decode())
            case "textDocument/didClose": try await didClose(params.decode())
            case "textDocument/didSave", "$/setTrace": break
            case "window/workDoneProgress/cancel":
                let p: WorkDoneProgressCreateParams = try params.decode()  // the same {token} shape
                (options.renderCommand as? any ProgressCancellable)?.cancelProgress(p.token)
            case "workspace/didChangeConfiguration": try await didChangeConfiguration(params.decode())
            default:
                logger.debug("ignoring notification \(method)")
            }
        } catch {
            logger.warning("\(method): \(error)")
        }
    }

    // MARK: Requests

    public func handleRequest(id: RequestID, method: String, params: Payload) async -> ReplyWork {
        switch lifecycle {
        case .uninitialized where method != "initialize":
            return fail(ResponseError(code: ErrorCode.serverNotInitialized, message: "server not initialized: send initialize first"))
        case .shutDown, .exited:
            return fail(.invalidRequest("server is shutting down: no requests after shutdown"))
        case .running where method == "initialize":
            return fail(.invalidRequest("initialize may only be sent once"))
        default:
            break
        }
        guard let route = Self.requests[method] else { return fail(.methodNotFound(method)) }
        do {
            return try await route.start(self, params)
        } catch let error as ResponseError {
            return fail(error)
        } catch {
            return fail(.internalError("\(error)"))
        }
    }

    private func fail(_ error: ResponseError) -> ReplyWork { { throw error } }

    /// Whether `stylus.render` is wired.
    var canRender: Bool { options.renderCommand != nil }

    // MARK: Commands

    /// `workspace/executeCommand`: runs one of `StylusCommand.available(options)`.
    func executeCommand(_ p: ExecuteCommandParams) throws -> ReplyWork {
        let available = StylusCommand.available(options)
        guard let command = available.first(where: { $0.name == p.command })?.command else {
            if p.command == StylusCommand.render { throw ResponseError.invalidParams("command \(p.command) is not available in this build") }
            throw ResponseError.invalidParams("unknown command \(p.command); known: \(available.map(\.name).joined(separator: ", "))")
        }
        let env = CommandEnvironment(
            connection: connection, client: client, settings: settings,
            document: { [self] uri in await self.currentSnapshot(uri) },
            adapters: { [adapterLoader] in await adapterLoader.current() },
            reloadAdapters: { [self] in await self.reloadAdapters() },
            workDoneToken: p.workDoneToken, environment: options.environment)
        let arguments = p.arguments ?? []
        return { try await command.execute(arguments: arguments, environment: env) }
    }

    private func reloadAdapters() async -> AdapterContext? {
        await updateAdapters(force: true)
        return await adapterLoader.current()
    }

    func isCurrent(_ s: DocumentSnapshot) -> Bool { documents.snapshot(s.uri)?.revision == s.revision }

    func currentSnapshot(_ uri: DocumentURI) -> DocumentSnapshot? { documents.snapshot(uri) }

    /// The snapshot a document request works on, or an error naming the unopened document.
    func snapshot(_ uri: DocumentURI) throws -> DocumentSnapshot {
        guard let s = documents.snapshot(uri) else {
            throw ResponseError.invalidParams("document is not open: \(uri)")
        }
        return s
    }

    // MARK: Lifecycle

    func initialize(_ params: InitializeParams) async -> ReplyWork {
        client = ClientCapabilities(json: params.capabilities)
        let (s, problems) = Settings.parse(params.initializationOptions)
        settings = s
        for p in problems { warnUser("initializationOptions: \(p)", show: false) }
        if !problems.isEmpty { showUser(problems.map { "initializationOptions: \($0)" }) }
        await updateAdapters()
        lifecycle = .running
        let client = self.client
        logger.info("initialize from \(params.clientInfo?.name ?? "unknown client") \(params.clientInfo?.version ?? "")")
        return { [diagnostics, options] in
            await diagnostics.configure(includeVersion: client.diagnosticVersion)
            return InitializeResult(capabilities: Self.capabilities(for: client, options: options),
                                    serverInfo: ServerInfo(name: Self.name, version: Self.version))
        }
    }

    package static func capabilities(for client: ClientCapabilities, options: Options = Options()) -> ServerCapabilities {
        var c = ServerCapabilities()
        c.positionEncoding = "utf-16"
        c.textDocumentSync = TextDocumentSyncOptions(openClose: true, change: 2, save: .init(includeText: false))
        c.semanticTokensProvider = SemanticTokensOptions(legend: SemanticTokensHandler.legend, full: true, range: false)
        c.inlayHintProvider = true
        c.documentSymbolProvider = true
        c.documentFormattingProvider = true
        c.completionProvider = CompletionOptions(triggerCharacters: [":", ",", " "], resolveProvider: true)
        c.hoverProvider = true
        c.codeActionProvider = true
        c.executeCommandProvider = ExecuteCommandOptions(commands: StylusCommand.available(options).map(\.name))
        return c
    }

    private func initialized() async {
        if client.didChangeConfigurationRegistration {
            let registration = RegistrationParams(registrations: [
                Registration(id: "stylus.didChangeConfiguration", method: "workspace/didChangeConfiguration",
                             registerOptions: ["section": "stylus"]),
            ])
            Task { [connection, logger] in
                do { _ = try await connection.sendRequest("client/registerCapability", registration) }
                catch { logger.debug("client/registerCapability: \(error)") }
            }
        }
        pullConfiguration()
    }

    func shutdown() async -> ReplyWork {
        // Free resources before replying; safe to repeat.
        shutdownRequested = true
        lifecycle = .shutDown
        await diagnostics.stop()
        return { nil }
    }

    // MARK: Documents

    private func didOpen(_ p: DidOpenTextDocumentParams) async {
        let s = documents.open(p.textDocument)
        await diagnostics.update(s)
    }

    private func didChange(_ p: DidChangeTextDocumentParams) async {
        let uri = p.textDocument.uri
        if let old = documents.snapshot(uri), p.textDocument.version <= old.version {
            logger.warning("didChange for \(uri): version \(p.textDocument.version) does not follow \(old.version)")
        }
        do {
            let s = try documents.change(uri, version: p.textDocument.version, changes: p.contentChanges)
            await diagnostics.update(s)
        } catch {
            logger.warning("didChange ignored: \(error)")
        }
    }

    private func didClose(_ p: DidCloseTextDocumentParams) async {
        guard documents.close(p.textDocument.uri) else {
            logger.warning("didClose ignored: document is not open: \(p.textDocument.uri)")
            return
        }
        await diagnostics.close(p.textDocument.uri)
    }

    // MARK: Settings

    private func didChangeConfiguration(_ p: DidChangeConfigurationParams) async {
        // Clients differ: some send the settings, some send null and expect a pull.
        if let json = p.settings, json != .null { await apply(settings: json, from: "didChangeConfiguration") }
        pullConfiguration()
    }

    private func pullConfiguration() {
        guard client.configuration else { return }
        let request = ConfigurationParams(items: [ConfigurationItem(section: "stylus")])
        Task { [connection, logger] in
            do {
                let values = try await connection.sendRequest("workspace/configuration", request, as: [JSONValue].self)
                await self.apply(settings: values.first ?? .null, from: "workspace/configuration")
            } catch {
                logger.warning("workspace/configuration failed: \(error)")
            }
        }
    }

    private func apply(settings json: JSONValue, from source: String) async {
        let (s, problems) = Settings.parse(json, over: settings)
        for p in problems { warnUser("\(source): \(p)", show: false) }
        if !problems.isEmpty { showUser(problems.map { "\(source): \($0)" }) }
        guard s != settings else { return }
        settings = s
        await updateAdapters()  // refreshes diagnostics once loaded
    }

    /// A problem the user should see: logged to stderr and to the client's log (`window/logMessage`).
    private func warnUser(_ message: String, show: Bool = false) {
        logger.warning("\(message)")
        connection.sendNotification("window/logMessage", LogMessageParams(type: 2, message: "stylus: \(message)"))
        if show { showUser([message]) }
    }

    /// Settings problems the user must fix, in one `window/showMessage` (warning) per batch, so
    /// they are seen in editors that keep the log out of sight.
    private func showUser(_ messages: [String]) {
        let shown = messages.prefix(3).joined(separator: "; ") + (messages.count > 3 ? "; and \(messages.count - 3) more (see the log)" : "")
        connection.sendNotification("window/showMessage", LogMessageParams(type: 2, message: "stylus: \(shown)"))
    }

    /// Current settings (for tests and handlers).
    public func currentSettings() -> Settings { settings }

    // MARK: Debug

    struct DebugDocumentResult: Codable, Sendable {
        var uri: String
        var version: Int
        var text: String
        var lineCount: Int
        /// Size in bytes; `followed` false: too large, `text` is empty (`DocumentSnapshot.maxFollowedBytes`).
        var bytes: Int
        var followed: Bool
    }

    /// `stylus/debugDocument {uri}`: the server's copy of a document, to check sync end to end.
    func debugDocument(_ p: TextDocumentIdentifier) throws -> ReplyWork {
        let s = try snapshot(p.uri)
        return { DebugDocumentResult(uri: s.uri, version: s.version, text: s.text.text, lineCount: s.text.lineCount,
                                     bytes: s.byteCount, followed: s.isFollowed) }
    }

    // MARK: Closing

    public func connectionClosed() async {
        await diagnostics.stop()
        if lifecycle != .exited { logger.info("input ended; exiting") }
    }
}
