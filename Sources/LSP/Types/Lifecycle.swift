import JSONRPC

public struct ClientInfo: Codable, Sendable, Hashable {
    public var name: String
    public var version: String?
    public init(name: String, version: String? = nil) { self.name = name; self.version = version }
}

/// `initialize` params. Capabilities and options stay JSON: they are read leniently
/// (`ClientCapabilities`, `Settings`) so an odd client never fails the handshake.
public struct InitializeParams: Codable, Sendable {
    public var processId: Int?
    public var clientInfo: ClientInfo?
    public var rootUri: String?
    public var capabilities: JSONValue?
    public var initializationOptions: JSONValue?
    public init(processId: Int? = nil, clientInfo: ClientInfo? = nil, rootUri: String? = nil,
                capabilities: JSONValue? = nil, initializationOptions: JSONValue? = nil) {
        self.processId = processId; self.clientInfo = clientInfo; self.rootUri = rootUri
        self.capabilities = capabilities; self.initializationOptions = initializationOptions
    }
}

public struct ServerInfo: Codable, Sendable, Hashable {
    public var name: String
    public var version: String?
    public init(name: String, version: String?) { self.name = name; self.version = version }
}

public struct InitializeResult: Codable, Sendable {
    public var capabilities: ServerCapabilities
    public var serverInfo: ServerInfo
    public init(capabilities: ServerCapabilities, serverInfo: ServerInfo) {
        self.capabilities = capabilities; self.serverInfo = serverInfo
    }
}

public struct TextDocumentSyncOptions: Codable, Sendable, Hashable {
    public struct SaveOptions: Codable, Sendable, Hashable { public var includeText: Bool }
    public var openClose: Bool
    /// 1 full, 2 incremental.
    public var change: Int
    public var save: SaveOptions?
}

public struct ExecuteCommandOptions: Codable, Sendable, Hashable {
    public var commands: [String]
}

/// What the server offers. Each feature appears only once it has a handler.
public struct ServerCapabilities: Codable, Sendable {
    public var positionEncoding: String?
    public var textDocumentSync: TextDocumentSyncOptions?
    public var documentSymbolProvider: Bool?
    public var documentFormattingProvider: Bool?
    public var inlayHintProvider: Bool?
    public var semanticTokensProvider: SemanticTokensOptions?
    public var executeCommandProvider: ExecuteCommandOptions?
    public var completionProvider: CompletionOptions?
    public var hoverProvider: Bool?
    public var codeActionProvider: Bool?

    public init() {}
}

public struct SemanticTokensLegend: Codable, Sendable, Hashable {
    public var tokenTypes: [String]
    public var tokenModifiers: [String]
}

public struct SemanticTokensOptions: Codable, Sendable, Hashable {
    public var legend: SemanticTokensLegend
    public var full: Bool
    public var range: Bool
}
