import JSONRPC
import StylusCore

public enum DiagnosticSeverity: Int, Codable, Sendable, Hashable {
    case error = 1, warning = 2, information = 3, hint = 4
}

public struct CodeDescription: Codable, Sendable, Hashable {
    public var href: String
    public init(href: String) { self.href = href }
}

public struct DiagnosticRelatedInformation: Codable, Sendable, Hashable {
    public var location: Location
    public var message: String
    public init(location: Location, message: String) { self.location = location; self.message = message }
}

public struct Diagnostic: Codable, Sendable, Hashable {
    public var range: LSPRange
    public var severity: DiagnosticSeverity?
    /// Stable string codes (`syntax`, `duplicate-lora`, …; docs/CONTRACTS.md, Language server).
    public var code: String?
    public var codeDescription: CodeDescription?
    public var source: String?
    public var message: String
    /// 1 unnecessary, 2 deprecated.
    public var tags: [Int]?
    public var relatedInformation: [DiagnosticRelatedInformation]?
    /// Carried back to code actions.
    public var data: JSONValue?

    public init(range: LSPRange, severity: DiagnosticSeverity?, code: String?, source: String? = PromptDiagnostic.source,
                message: String, tags: [Int]? = nil, relatedInformation: [DiagnosticRelatedInformation]? = nil,
                data: JSONValue? = nil) {
        self.range = range; self.severity = severity; self.code = code; self.source = source
        self.message = message; self.tags = tags; self.relatedInformation = relatedInformation; self.data = data
    }
}

public struct PublishDiagnosticsParams: Codable, Sendable, Hashable {
    public var uri: DocumentURI
    public var version: Int?
    public var diagnostics: [Diagnostic]
    public init(uri: DocumentURI, version: Int?, diagnostics: [Diagnostic]) {
        self.uri = uri; self.version = version; self.diagnostics = diagnostics
    }
}
