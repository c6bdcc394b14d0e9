import JSONRPC
import StylusCore

// MARK: Semantic tokens

public struct SemanticTokensParams: Codable, Sendable {
    public var textDocument: TextDocumentIdentifier
    public init(textDocument: TextDocumentIdentifier) { self.textDocument = textDocument }
}

/// Five integers per token: deltaLine, deltaStart (UTF-16), length (UTF-16), type, modifiers.
public struct SemanticTokens: Codable, Sendable, Hashable {
    public var data: [Int]
    public init(data: [Int]) { self.data = data }
}

// MARK: Inlay hints

public struct InlayHintParams: Codable, Sendable {
    public var textDocument: TextDocumentIdentifier
    public var range: LSPRange
    public init(textDocument: TextDocumentIdentifier, range: LSPRange) { self.textDocument = textDocument; self.range = range }
}

public struct InlayHint: Codable, Sendable, Hashable {
    public var position: Position
    public var label: String
    public var tooltip: String?
    public var paddingLeft: Bool?
    public var paddingRight: Bool?
    public init(position: Position, label: String, tooltip: String? = nil, paddingLeft: Bool? = nil, paddingRight: Bool? = nil) {
        self.position = position; self.label = label; self.tooltip = tooltip
        self.paddingLeft = paddingLeft; self.paddingRight = paddingRight
    }
}

// MARK: Document symbols

public struct DocumentSymbolParams: Codable, Sendable {
    public var textDocument: TextDocumentIdentifier
    public init(textDocument: TextDocumentIdentifier) { self.textDocument = textDocument }
}

/// LSP SymbolKind values used here.
public enum SymbolKind {
    public static let module = 2, namespace = 3, function = 12, string = 15
}

public struct DocumentSymbol: Codable, Sendable, Hashable {
    public var name: String
    public var detail: String?
    public var kind: Int
    public var range: LSPRange
    public var selectionRange: LSPRange
    public var children: [DocumentSymbol]?
    public init(name: String, detail: String? = nil, kind: Int, range: LSPRange, selectionRange: LSPRange, children: [DocumentSymbol]? = nil) {
        self.name = name; self.detail = detail; self.kind = kind; self.range = range
        self.selectionRange = selectionRange; self.children = children
    }
}

/// The flat form, for clients without hierarchical symbol support.
public struct SymbolInformation: Codable, Sendable, Hashable {
    public var name: String
    public var kind: Int
    public var location: Location
    public var containerName: String?
    public init(name: String, kind: Int, location: Location, containerName: String? = nil) {
        self.name = name; self.kind = kind; self.location = location; self.containerName = containerName
    }
}

/// `DocumentSymbol[] | SymbolInformation[]`.
public enum DocumentSymbolResult: Codable, Sendable, Hashable {
    case hierarchical([DocumentSymbol])
    case flat([SymbolInformation])

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let h = try? c.decode([DocumentSymbol].self) { self = .hierarchical(h) }
        else { self = .flat(try c.decode([SymbolInformation].self)) }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .hierarchical(let s): try c.encode(s)
        case .flat(let s): try c.encode(s)
        }
    }
}

// MARK: Formatting

public struct FormattingOptions: Codable, Sendable, Hashable {
    public var tabSize: Int
    public var insertSpaces: Bool
    public init(tabSize: Int, insertSpaces: Bool) { self.tabSize = tabSize; self.insertSpaces = insertSpaces }
}

public struct DocumentFormattingParams: Codable, Sendable {
    public var textDocument: TextDocumentIdentifier
    public var options: FormattingOptions
    public init(textDocument: TextDocumentIdentifier, options: FormattingOptions) {
        self.textDocument = textDocument; self.options = options
    }
}
