import JSONRPC

/// The client capabilities the server acts on, read once from `initialize`. Every field
/// defaults to the conservative choice, and a malformed capability reads as "not supported".
public struct ClientCapabilities: Sendable, Hashable {
    public var snippets = false
    public var completionMarkdown = false
    /// The client lists `plaintext` for completion documentation (else send a plain string).
    public var completionPlaintext = false
    public var codeActionLiterals = false
    /// The client resolves completion items for their documentation (sent lazily then).
    public var completionResolvesDocumentation = false
    public var hoverMarkdown = false
    public var relatedInformation = false
    public var codeDescription = false
    public var diagnosticVersion = false
    public var diagnosticTags: Set<Int> = []
    public var workDoneProgress = false
    public var showDocument = false
    public var configuration = false
    public var didChangeConfigurationRegistration = false
    public var applyEdit = false
    public var documentChanges = false
    public var hierarchicalSymbols = false
    public var semanticTokens = false
    public var inlayHints = false

    public init() {}

    public init(json: JSONValue?) {
        guard let c = json else { return }
        func flag(_ path: String) -> Bool { c.at(path)?.boolValue ?? false }
        func markdownFirst(_ path: String) -> Bool {
            c.at(path)?.arrayValue?.contains(.string("markdown")) ?? false
        }
        snippets = flag("textDocument.completion.completionItem.snippetSupport")
        completionMarkdown = markdownFirst("textDocument.completion.completionItem.documentationFormat")
        completionPlaintext = c.at("textDocument.completion.completionItem.documentationFormat")?.arrayValue?.contains(.string("plaintext")) ?? false
        completionResolvesDocumentation = c.at("textDocument.completion.completionItem.resolveSupport.properties")?
            .arrayValue?.contains(.string("documentation")) ?? false
        codeActionLiterals = c.at("textDocument.codeAction.codeActionLiteralSupport") != nil
        hoverMarkdown = markdownFirst("textDocument.hover.contentFormat")
        relatedInformation = flag("textDocument.publishDiagnostics.relatedInformation")
        codeDescription = flag("textDocument.publishDiagnostics.codeDescriptionSupport")
        diagnosticVersion = flag("textDocument.publishDiagnostics.versionSupport")
        diagnosticTags = Set(c.at("textDocument.publishDiagnostics.tagSupport.valueSet")?.arrayValue?.compactMap(\.intValue) ?? [])
        workDoneProgress = flag("window.workDoneProgress")
        showDocument = flag("window.showDocument.support")
        configuration = flag("workspace.configuration")
        didChangeConfigurationRegistration = flag("workspace.didChangeConfiguration.dynamicRegistration")
        applyEdit = flag("workspace.applyEdit")
        documentChanges = flag("workspace.workspaceEdit.documentChanges")
        hierarchicalSymbols = flag("textDocument.documentSymbol.hierarchicalDocumentSymbolSupport")
        semanticTokens = c.at("textDocument.semanticTokens") != nil
        inlayHints = c.at("textDocument.inlayHint") != nil
    }
}
