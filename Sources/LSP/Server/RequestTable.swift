import JSONRPC
import StylusCore

/// The params of a request about one open document.
protocol DocumentRequestParams: Decodable, Sendable {
    var textDocument: TextDocumentIdentifier { get }
}

extension SemanticTokensParams: DocumentRequestParams {}
extension InlayHintParams: DocumentRequestParams {}
extension DocumentSymbolParams: DocumentRequestParams {}
extension DocumentFormattingParams: DocumentRequestParams {}
extension CompletionParams: DocumentRequestParams {}
extension HoverParams: DocumentRequestParams {}
extension CodeActionParams: DocumentRequestParams {}

/// What a document request's handler may read besides its params, the snapshot and the catalog.
struct RequestContext: Sendable {
    let client: ClientCapabilities
    /// Whether `stylus.render` is wired (code actions then offer "Render image").
    let canRender: Bool
    /// The settings when the request arrived.
    var settings = Settings()
}

/// How much of the adapter catalog a document request waits for.
enum CatalogNeed<Params>: Sendable {
    case none
    case full
    /// Only the first loading phase (aliases) when this says so for the request, else `full`.
    case aliasesWhen(@Sendable (Params, DocumentSnapshot) -> Bool)
}

/// One request method the server answers: the params are decoded to their type and the handler's
/// result is the reply. `start` is the ordered part, run on the server in message order; the work
/// it returns runs concurrently.
struct RequestRoute: Sendable {
    let method: String
    let start: @Sendable (isolated LanguageServer, Payload) async throws -> ReplyWork

    /// A request about one open document. A document too large to analyse gets `oversized` without
    /// the handler running (and without waiting for the catalog).
    static func document<Params: DocumentRequestParams, Result: Encodable & Sendable>(
        _ method: String, _ params: Params.Type, catalog: CatalogNeed<Params> = .none,
        oversized: @escaping @Sendable (Params, RequestContext) -> Result,
        handler: @escaping @Sendable (Params, DocumentSnapshot, AdapterContext?, RequestContext) throws -> Result
    ) -> RequestRoute {
        RequestRoute(method: method) { server, payload in
            let p: Params = try payload.decode()
            return try server.documentRequest(p.textDocument.uri, catalog: catalog, params: p) { s, adapters, context in
                try s.isTooLargeToAnalyze ? oversized(p, context) : handler(p, s, adapters, context)
            }
        }
    }

    /// Any other request: the handler is the ordered part and returns the work that answers.
    static func other<Params: Decodable & Sendable>(
        _ method: String, _ params: Params.Type,
        handler: @escaping @Sendable (isolated LanguageServer, Params) async throws -> ReplyWork
    ) -> RequestRoute {
        RequestRoute(method: method) { server, payload in try await handler(server, payload.decode()) }
    }

    /// A request whose params are not read (`shutdown`).
    static func other(_ method: String, handler: @escaping @Sendable (isolated LanguageServer) async throws -> ReplyWork) -> RequestRoute {
        RequestRoute(method: method) { server, _ in try await handler(server) }
    }
}

extension LanguageServer {
    /// Every request the server answers, by method: params and result types, the answer for a
    /// document too large to analyse, and the handler.
    static let requests = Dictionary(uniqueKeysWithValues: requestRoutes.map { ($0.method, $0) })

    private static let requestRoutes: [RequestRoute] = [
        .other("initialize", InitializeParams.self) { server, p in await server.initialize(p) },
        .other("shutdown") { server in await server.shutdown() },
        .document("textDocument/semanticTokens/full", SemanticTokensParams.self,
                  oversized: { _, _ in SemanticTokens(data: []) }) { _, s, _, _ in SemanticTokensHandler.tokens(s) },
        .document("textDocument/inlayHint", InlayHintParams.self,
                  oversized: { _, _ in [InlayHint]() }) { p, s, _, _ in InlayHintsHandler.hints(s, in: p.range) },
        .document("textDocument/documentSymbol", DocumentSymbolParams.self,
                  oversized: { _, c in c.client.hierarchicalSymbols ? DocumentSymbolResult.hierarchical([]) : .flat([]) }) { _, s, _, c in
            DocumentSymbolsHandler.symbols(s, hierarchical: c.client.hierarchicalSymbols)
        },
        .document("textDocument/formatting", DocumentFormattingParams.self,
                  oversized: { _, _ in [TextEdit]() }) { _, s, _, _ in FormattingHandler.edits(s) },
        .document("textDocument/completion", CompletionParams.self,
                  catalog: .aliasesWhen { p, s in CompletionHandler.isInTagName(s, at: p.position) },
                  oversized: { _, _ in CompletionList(isIncomplete: false, items: []) }) { p, s, a, c in
            CompletionHandler.complete(s, at: p.position, adapters: a, client: c.client)
        },
        .other("completionItem/resolve", CompletionItem.self) { server, item in
            { [client = server.client, adapterLoader = server.adapterLoader] in
                CompletionHandler.resolve(item, adapters: await adapterLoader.current(), client: client)
            }
        },
        .document("textDocument/hover", HoverParams.self, catalog: .full,
                  oversized: { _, _ in Hover?.none }) { p, s, a, c in try HoverHandler.hover(s, at: p.position, adapters: a, client: c.client) },
        .document("textDocument/codeAction", CodeActionParams.self, catalog: .full,
                  oversized: { p, c in CodeActionsHandler.oversized(uri: p.textDocument.uri, client: c.client, canRender: c.canRender) }) { p, s, a, c in
            try CodeActionsHandler.actions(s, p, adapters: a, client: c.client, canRender: c.canRender, settings: c.settings)
        },
        .other("workspace/executeCommand", ExecuteCommandParams.self) { server, p in try server.executeCommand(p) },
        .other("stylus/debugDocument", TextDocumentIdentifier.self) { server, p in try server.debugDocument(p) },
    ]

    /// A request about one document: takes its snapshot now (in message order), computes off the
    /// actor, and answers ContentModified if the document changed meanwhile (the client asks again;
    /// a stale answer, e.g. formatting edits, could damage the text).
    func documentRequest<Params: Sendable, Result: Encodable & Sendable>(
        _ uri: DocumentURI, catalog: CatalogNeed<Params>, params: Params,
        _ compute: @escaping @Sendable (DocumentSnapshot, AdapterContext?, RequestContext) throws -> Result
    ) throws -> ReplyWork {
        let s = try snapshot(uri)
        let context = RequestContext(client: client, canRender: canRender, settings: settings)
        let aliasesSuffice: (@Sendable (Params, DocumentSnapshot) -> Bool)?
        switch catalog {
        case .none:
            return { [self] in try await self.answer(s, compute(s, nil, context)) }
        case .full: aliasesSuffice = nil
        case .aliasesWhen(let test): aliasesSuffice = test
        }
        return { [self, adapterLoader] in
            let adapters: AdapterContext?
            if s.isTooLargeToAnalyze { adapters = nil }
            else if aliasesSuffice?(params, s) == true { adapters = await adapterLoader.currentForAliases() }
            else { adapters = await adapterLoader.current() }
            return try await self.answer(s, compute(s, adapters, context))
        }
    }

    /// `result` unless the request was cancelled or the document changed since `s`.
    private func answer<Result: Encodable & Sendable>(_ s: DocumentSnapshot, _ result: Result) throws -> Result {
        try Task.checkCancellation()
        guard isCurrent(s) else { throw ResponseError.contentModified }
        return result
    }
}
