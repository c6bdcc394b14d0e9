import JSONRPC
import StylusCatalog
import StylusCore

/// StylusCore's prompt checks and StylusCatalog's `CatalogLinter` checks (when a catalog is loaded)
/// as LSP diagnostics (`source: "stylus"`, string codes).
enum DiagnosticsHandler {
    /// Catalogs from this size on publish the composer's hints as a second stage.
    static let stagedCatalogSize = 5_000

    /// All diagnostics at once; on a large catalog, where composing costs tens of milliseconds, the
    /// prompt and catalog checks first and the composer's `adapter-available` hints after them
    /// (keeps the 200 ms budget after the last keystroke; small catalogs avoid the hint flicker).
    static func staged(_ snapshot: DocumentSnapshot, linter: PromptLinter, adapters: AdapterContext?) -> DiagnosticsScheduler.Staged {
        let now = diagnostics(snapshot, linter: linter, adapters: adapters)
        guard let adapters, !snapshot.isTooLargeToAnalyze else { return .init(now: now) }
        guard adapters.count >= stagedCatalogSize else {
            return .init(now: (now + hints(snapshot.file, adapters)).sorted { $0.range.start < $1.range.start })
        }
        return .init(now: now, later: { hints(snapshot.file, adapters) })
    }

    static func diagnostics(_ snapshot: DocumentSnapshot, linter: PromptLinter = PromptLinter(),
                            adapters: AdapterContext? = nil) -> [Diagnostic] {
        if snapshot.isTooLargeToAnalyze {
            let start = Position(line: 0, character: 0)
            let message = snapshot.isFollowed
                ? "This file has \(snapshot.text.utf8Count / 1024) KB; prompt checks, highlighting and formatting are off above \(DocumentSnapshot.maxAnalyzedBytes / 1024) KB."
                : "This file has \(DocumentSnapshot.megabytes(snapshot.byteCount)); Stylus does not follow edits of files over \(DocumentSnapshot.megabytes(DocumentSnapshot.maxFollowedBytes)) "
                    + "(no checks, completion, formatting or commands). Reopen it when it is smaller, or use `stylus check` on the file."
            return [Diagnostic(range: LSPRange(start: start, end: start), severity: .information, code: DiagnosticCode.documentTooLarge.rawValue,
                               message: message)]
        }
        var out = linter.diagnostics(for: snapshot.file).map(diagnostic)
        if let adapters {
            out += catalogDiagnostics(snapshot.file, adapters)
            out.sort { $0.range.start < $1.range.start }
        }
        return out
    }

    static func catalogDiagnostics(_ file: PromptFile, _ adapters: AdapterContext) -> [Diagnostic] {
        adapters.linter.diagnostics(adapters.request(file)).map(diagnostic)
    }

    /// `adapter-available`: topics the composer finds adapters for (never waits for the composer).
    static func hints(_ file: PromptFile, _ adapters: AdapterContext) -> [Diagnostic] {
        adapters.linter.hints(adapters.request(file)).map(diagnostic)
    }

    static func diagnostic(_ d: PromptDiagnostic) -> Diagnostic {
        Diagnostic(range: d.range.lsp, severity: severity(d.severity), code: d.code.rawValue, message: d.message,
                   data: d.data.map { data in .object(data.mapValues {
                       switch $0 {
                       case .string(let s): .string(s)
                       case .strings(let list): .array(list.map { .string($0) })
                       }
                   }) })
    }

    static func severity(_ s: PromptDiagnostic.Severity) -> DiagnosticSeverity {
        switch s {
        case .error: .error
        case .warning: .warning
        case .information: .information
        case .hint: .hint
        }
    }
}

/// The diagnostics the editor shows for a prompt text, all at once: prompt checks, catalog checks
/// and the composer's `adapter-available` hints (for `stylus mcp`'s `check_prompt`). Await
/// `adapters.composerReady()` first, or the hints may be missing.
public enum EditorDiagnostics {
    public static func all(text: String, linter: PromptLinter, adapters: AdapterContext?) -> [Diagnostic] {
        let snapshot = DocumentSnapshot(uri: "untitled:prompt.sdprompt", languageId: "sdprompt", version: 0,
                                        text: SourceText(text), revision: 0)
        let staged = DiagnosticsHandler.staged(snapshot, linter: linter, adapters: adapters)
        guard let later = staged.later else { return staged.now }
        return (staged.now + later()).sorted { $0.range.start < $1.range.start }
    }
}
