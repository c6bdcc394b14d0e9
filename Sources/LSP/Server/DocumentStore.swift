import Foundation
import StylusCore

/// An immutable view of an open document at one version. Readers keep it as long as they
/// like; edits make new snapshots.
public struct DocumentSnapshot: Sendable {
    public let uri: DocumentURI
    public let languageId: String
    public let version: Int
    public let text: SourceText
    /// Increases with every update of any document; tells a stale computation from a current one
    /// even when a client repeats version numbers.
    public let revision: Int
    private let parsed: Lazy<PromptFile>

    package init(uri: DocumentURI, languageId: String, version: Int, text: SourceText, revision: Int) {
        self.uri = uri; self.languageId = languageId; self.version = version; self.text = text; self.revision = revision
        parsed = Lazy { PromptFile(text: text.text) }
    }

    /// Past `PromptLinter.maxAnalyzedBytes` the server keeps syncing the text but does not analyse it.
    public var isTooLargeToAnalyze: Bool { text.utf8Count > PromptLinter.maxAnalyzedBytes }

    /// The parsed prompt file, computed once per snapshot by whichever reader needs it first.
    public var file: PromptFile { parsed.value }
}

/// A value computed on first use, at most once, from any thread.
final class Lazy<Value: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var make: (() -> Value)?
    private var stored: Value?

    init(_ make: @escaping () -> Value) { self.make = make }

    var value: Value {
        lock.lock()
        defer { lock.unlock() }
        if let stored { return stored }
        let v = make!()
        stored = v
        make = nil
        return v
    }
}

/// The open documents. Owned by the server actor, so updates are applied one at a time in
/// arrival order; each update produces a new snapshot.
public struct DocumentStore: Sendable {
    public enum Problem: Error, Equatable, CustomStringConvertible {
        case notOpen(DocumentURI)
        public var description: String {
            switch self {
            case .notOpen(let uri): return "document is not open: \(uri)"
            }
        }
    }

    private var documents: [DocumentURI: DocumentSnapshot] = [:]
    private var revision = 0

    public init() {}

    public var openURIs: [DocumentURI] { Array(documents.keys) }
    public var count: Int { documents.count }

    public func snapshot(_ uri: DocumentURI) -> DocumentSnapshot? { documents[uri] }

    /// Opens (or re-opens, replacing) a document.
    @discardableResult
    public mutating func open(_ item: TextDocumentItem) -> DocumentSnapshot {
        revision += 1
        let s = DocumentSnapshot(uri: item.uri, languageId: item.languageId, version: item.version,
                                 text: SourceText(item.text), revision: revision)
        documents[item.uri] = s
        return s
    }

    /// Applies the changes of one `didChange`, in order; each range refers to the text left by
    /// the previous change.
    public mutating func change(_ uri: DocumentURI, version: Int, changes: [TextDocumentContentChangeEvent]) throws(Problem) -> DocumentSnapshot {
        guard let old = documents[uri] else { throw .notOpen(uri) }
        var text = old.text
        for change in changes { text = Self.apply(change, to: text) }
        revision += 1
        let s = DocumentSnapshot(uri: uri, languageId: old.languageId, version: version, text: text, revision: revision)
        documents[uri] = s
        return s
    }

    @discardableResult
    public mutating func close(_ uri: DocumentURI) -> Bool {
        documents.removeValue(forKey: uri) != nil
    }

    /// One change. Positions are clamped (past the line end → line end, past the last line →
    /// document end); a reversed range is treated as its normalized form.
    public static func apply(_ change: TextDocumentContentChangeEvent, to text: SourceText) -> SourceText {
        guard let range = change.range else { return SourceText(change.text) }
        let a = text.utf8Offset(of: range.start), b = text.utf8Offset(of: range.end)
        let lo = min(a, b), hi = max(a, b)
        var bytes: [UInt8] = []
        let inserted = change.text.utf8
        bytes.reserveCapacity(text.utf8Count - (hi - lo) + inserted.count)
        bytes.append(contentsOf: text.bytes[..<lo])
        bytes.append(contentsOf: inserted)
        bytes.append(contentsOf: text.bytes[hi...])
        return SourceText(String(decoding: bytes, as: UTF8.self))
    }
}
