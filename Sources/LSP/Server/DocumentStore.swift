import Foundation
import StylusCore

/// An immutable view of an open document at one version. Readers keep it as long as they
/// like; edits make new snapshots.
public struct DocumentSnapshot: Sendable {
    public let uri: DocumentURI
    public let languageId: String
    public let version: Int
    /// The text; empty when the document is not followed (`isFollowed`).
    public let text: SourceText
    /// Increases with every update of any document; tells a stale computation from a current one
    /// even when a client repeats version numbers.
    public let revision: Int
    /// The size of a document too large to follow (nil: followed, `text` is its text).
    public let unfollowedBytes: Int?
    private let parsed: Lazy<PromptFile>

    package init(uri: DocumentURI, languageId: String, version: Int, text: SourceText, revision: Int, unfollowedBytes: Int? = nil) {
        self.uri = uri; self.languageId = languageId; self.version = version; self.text = text; self.revision = revision
        self.unfollowedBytes = unfollowedBytes
        parsed = Lazy { PromptFile(text: text.text) }
    }

    /// Past this size the server stops following the document: applying an edit copies and
    /// indexes the whole text (34–140 ms per keystroke on 20 MB, blocking every other message), so
    /// edits of a larger document are dropped unread and only its size is kept. A full-text change
    /// under the limit, or reopening the file, brings it back.
    public static let maxFollowedBytes = 4 << 20

    /// The document's size in bytes (as last known, when it is not followed).
    public var byteCount: Int { unfollowedBytes ?? text.utf8Count }

    /// The server has the document's current text.
    public var isFollowed: Bool { unfollowedBytes == nil }

    /// Past `PromptLinter.maxAnalyzedBytes` the server keeps syncing the text but does not analyse it.
    public var isTooLargeToAnalyze: Bool { byteCount > PromptLinter.maxAnalyzedBytes }

    /// Why a command cannot use this document's text (nil when it can).
    public var tooLargeProblem: String? {
        guard !isFollowed else { return nil }
        return "\(Self.megabytes(byteCount)) is over the \(Self.megabytes(Self.maxFollowedBytes)) the editor integration follows; "
            + "run the command line (stylus) on the file, or reopen it when it is smaller"
    }

    static func megabytes(_ bytes: Int) -> String {
        let mb = Double(bytes) / Double(1 << 20)
        return mb >= 10 ? "\(Int(mb)) MB" : "\(Int(mb * 10) / 10).\(Int(mb * 10) % 10) MB"
    }

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
        let size = item.text.utf8.count
        let s = size > DocumentSnapshot.maxFollowedBytes
            ? DocumentSnapshot(uri: item.uri, languageId: item.languageId, version: item.version,
                               text: SourceText(""), revision: revision, unfollowedBytes: size)
            : DocumentSnapshot(uri: item.uri, languageId: item.languageId, version: item.version,
                               text: SourceText(item.text), revision: revision)
        documents[item.uri] = s
        return s
    }

    /// Applies the changes of one `didChange`, in order; each range refers to the text left by
    /// the previous change.
    public mutating func change(_ uri: DocumentURI, version: Int, changes: [TextDocumentContentChangeEvent]) throws(Problem) -> DocumentSnapshot {
        guard let old = documents[uri] else { throw .notOpen(uri) }
        var text = old.text
        var unfollowed = old.unfollowedBytes
        let limit = DocumentSnapshot.maxFollowedBytes
        for change in changes {
            if change.range == nil {
                // The whole text: followed again when it is small enough.
                let size = change.text.utf8.count
                if size > limit { (text, unfollowed) = (SourceText(""), size) } else { (text, unfollowed) = (SourceText(change.text), nil) }
            } else if unfollowed != nil {
                continue  // an edit of a text the server does not have: dropped unread (O(1))
            } else {
                let (lo, hi) = Self.offsets(change, in: text)
                let size = text.utf8Count - (hi - lo) + change.text.utf8.count
                if size > limit { (text, unfollowed) = (SourceText(""), size) } else { text = Self.apply(change, to: text) }
            }
        }
        revision += 1
        let s = DocumentSnapshot(uri: uri, languageId: old.languageId, version: version, text: text, revision: revision,
                                 unfollowedBytes: unfollowed)
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
        guard change.range != nil else { return SourceText(change.text) }
        let (lo, hi) = offsets(change, in: text)
        var bytes: [UInt8] = []
        let inserted = change.text.utf8
        bytes.reserveCapacity(text.utf8Count - (hi - lo) + inserted.count)
        bytes.append(contentsOf: text.bytes[..<lo])
        bytes.append(contentsOf: inserted)
        bytes.append(contentsOf: text.bytes[hi...])
        return SourceText(String(decoding: bytes, as: UTF8.self))
    }

    /// The UTF-8 range a ranged change replaces (normalized, clamped).
    static func offsets(_ change: TextDocumentContentChangeEvent, in text: SourceText) -> (Int, Int) {
        guard let range = change.range else { return (0, text.utf8Count) }
        let a = text.utf8Offset(of: range.start), b = text.utf8Offset(of: range.end)
        return (min(a, b), max(a, b))
    }
}
