import JSONRPC
import StylusCore

// MARK: Workspace edits

public struct OptionalVersionedTextDocumentIdentifier: Codable, Sendable, Hashable {
    public var uri: DocumentURI
    public var version: Int?
}

public struct TextDocumentEdit: Codable, Sendable, Hashable {
    public var textDocument: OptionalVersionedTextDocumentIdentifier
    public var edits: [TextEdit]
}

public struct WorkspaceEdit: Codable, Sendable, Hashable {
    public var changes: [DocumentURI: [TextEdit]]?
    public var documentChanges: [TextDocumentEdit]?

    public init(changes: [DocumentURI: [TextEdit]]? = nil, documentChanges: [TextDocumentEdit]? = nil) {
        self.changes = changes; self.documentChanges = documentChanges
    }

    /// Edits to one document, as `documentChanges` (versioned) when the client supports them.
    public static func single(uri: DocumentURI, version: Int?, edits: [TextEdit], client: ClientCapabilities) -> WorkspaceEdit {
        client.documentChanges
            ? WorkspaceEdit(documentChanges: [TextDocumentEdit(textDocument: .init(uri: uri, version: version), edits: edits)])
            : WorkspaceEdit(changes: [uri: edits])
    }
}

public struct ApplyWorkspaceEditParams: Codable, Sendable {
    public var label: String?
    public var edit: WorkspaceEdit
    public init(label: String?, edit: WorkspaceEdit) { self.label = label; self.edit = edit }
}

public struct ApplyWorkspaceEditResult: Codable, Sendable {
    public var applied: Bool
    public var failureReason: String?
}

public struct Command: Codable, Sendable, Hashable {
    public var title: String
    public var command: String
    public var arguments: [JSONValue]?
    public init(title: String, command: String, arguments: [JSONValue]? = nil) {
        self.title = title; self.command = command; self.arguments = arguments
    }
}

// MARK: Completion

public struct CompletionParams: Codable, Sendable {
    public var textDocument: TextDocumentIdentifier
    public var position: Position
}

/// `string | MarkupContent`.
public enum Documentation: Codable, Sendable, Hashable {
    case plain(String)
    case markup(MarkupContent)

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let s = try? c.decode(String.self) { self = .plain(s) } else { self = .markup(try c.decode(MarkupContent.self)) }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .plain(let s): try c.encode(s)
        case .markup(let m): try c.encode(m)
        }
    }
}

public enum CompletionItemKind {
    public static let text = 1, module = 9, property = 10, value = 12, keyword = 14, snippet = 15, reference = 18
}

public struct CompletionItem: Codable, Sendable, Hashable {
    public var label: String
    public var kind: Int?
    public var detail: String?
    public var documentation: Documentation?
    public var sortText: String?
    public var filterText: String?
    /// 1 plain text, 2 snippet.
    public var insertTextFormat: Int?
    public var textEdit: TextEdit?
    public var additionalTextEdits: [TextEdit]?
    /// Carried to `completionItem/resolve` (the adapter's alias).
    public var data: JSONValue?

    public init(label: String, kind: Int? = nil, detail: String? = nil, documentation: Documentation? = nil,
                sortText: String? = nil, filterText: String? = nil, insertTextFormat: Int? = nil,
                textEdit: TextEdit? = nil, additionalTextEdits: [TextEdit]? = nil, data: JSONValue? = nil) {
        self.label = label; self.kind = kind; self.detail = detail; self.documentation = documentation
        self.sortText = sortText; self.filterText = filterText; self.insertTextFormat = insertTextFormat
        self.textEdit = textEdit; self.additionalTextEdits = additionalTextEdits; self.data = data
    }
}

public struct CompletionList: Codable, Sendable, Hashable {
    public var isIncomplete: Bool
    public var items: [CompletionItem]
    public init(isIncomplete: Bool, items: [CompletionItem]) { self.isIncomplete = isIncomplete; self.items = items }
}

public struct CompletionOptions: Codable, Sendable, Hashable {
    public var triggerCharacters: [String]?
    public var resolveProvider: Bool?
}

// MARK: Hover

public struct HoverParams: Codable, Sendable {
    public var textDocument: TextDocumentIdentifier
    public var position: Position
}

public struct Hover: Codable, Sendable, Hashable {
    public var contents: MarkupContent
    public var range: LSPRange?
    public init(contents: MarkupContent, range: LSPRange?) { self.contents = contents; self.range = range }
}

// MARK: Code actions

public struct CodeActionContext: Codable, Sendable {
    public var diagnostics: [Diagnostic]
    public var only: [String]?
}

public struct CodeActionParams: Codable, Sendable {
    public var textDocument: TextDocumentIdentifier
    public var range: LSPRange
    public var context: CodeActionContext
}

public struct CodeAction: Codable, Sendable, Hashable {
    public var title: String
    public var kind: String?
    public var diagnostics: [Diagnostic]?
    public var isPreferred: Bool?
    public var edit: WorkspaceEdit?
    public var command: Command?
    public init(title: String, kind: String?, diagnostics: [Diagnostic]? = nil, isPreferred: Bool? = nil,
                edit: WorkspaceEdit? = nil, command: Command? = nil) {
        self.title = title; self.kind = kind; self.diagnostics = diagnostics; self.isPreferred = isPreferred
        self.edit = edit; self.command = command
    }
}

/// `(Command | CodeAction)[]` entries: literals for clients that support them, else commands.
public enum CodeActionOrCommand: Codable, Sendable, Hashable {
    case action(CodeAction)
    case command(Command)

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let cmd = try? c.decode(Command.self) { self = .command(cmd) } else { self = .action(try c.decode(CodeAction.self)) }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .action(let a): try c.encode(a)
        case .command(let m): try c.encode(m)
        }
    }
}
