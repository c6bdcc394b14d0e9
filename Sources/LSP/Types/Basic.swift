import StylusCore

// Only the LSP 3.17 structures this server uses. Positions and ranges are StylusCore's
// `Position` / `LSPRange` (UTF-16 columns), which already encode as LSP `{line, character}`
// and `{start, end}`. Optional fields are omitted when nil.

public typealias DocumentURI = String

public struct TextDocumentIdentifier: Codable, Sendable, Hashable {
    public var uri: DocumentURI
    public init(uri: DocumentURI) { self.uri = uri }
}

public struct VersionedTextDocumentIdentifier: Codable, Sendable, Hashable {
    public var uri: DocumentURI
    public var version: Int
    public init(uri: DocumentURI, version: Int) { self.uri = uri; self.version = version }
}

public struct TextDocumentItem: Codable, Sendable, Hashable {
    public var uri: DocumentURI
    public var languageId: String
    public var version: Int
    public var text: String
    public init(uri: DocumentURI, languageId: String, version: Int, text: String) {
        self.uri = uri; self.languageId = languageId; self.version = version; self.text = text
    }
}

public struct TextDocumentPositionParams: Codable, Sendable, Hashable {
    public var textDocument: TextDocumentIdentifier
    public var position: Position
    public init(textDocument: TextDocumentIdentifier, position: Position) {
        self.textDocument = textDocument; self.position = position
    }
}

public struct TextEdit: Codable, Sendable, Hashable {
    public var range: LSPRange
    public var newText: String
    public init(range: LSPRange, newText: String) { self.range = range; self.newText = newText }
}

public struct Location: Codable, Sendable, Hashable {
    public var uri: DocumentURI
    public var range: LSPRange
    public init(uri: DocumentURI, range: LSPRange) { self.uri = uri; self.range = range }
}

public struct MarkupContent: Codable, Sendable, Hashable {
    public enum Kind: String, Codable, Sendable { case plaintext, markdown }
    public var kind: Kind
    public var value: String
    public init(kind: Kind, value: String) { self.kind = kind; self.value = value }
}

/// `window/logMessage` and `window/showMessage` params.
public struct LogMessageParams: Codable, Sendable, Hashable {
    /// 1 error, 2 warning, 3 info, 4 log.
    public var type: Int
    public var message: String
    public init(type: Int, message: String) { self.type = type; self.message = message }
}
