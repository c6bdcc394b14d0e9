import JSONRPC
import StylusCatalog
import StylusCore

/// The diagnostics of `PromptChecks` (the same as `stylus check` and `stylus mcp` give) as LSP
/// diagnostics (`source: "stylus"`, string codes).
enum DiagnosticsHandler {
    /// Catalogs from this size on publish the composer's hints as a second stage.
    static let stagedCatalogSize = 5_000

    /// All diagnostics at once; on a large catalog, where composing costs tens of milliseconds, the
    /// prompt and catalog checks first and the composer's `adapter-available` hints after them
    /// (keeps the 200 ms budget after the last keystroke; small catalogs avoid the hint flicker).
    static func staged(_ snapshot: DocumentSnapshot, linter: PromptLinter, adapters: AdapterContext?) -> DiagnosticsScheduler.Staged {
        if let unfollowed = notFollowed(snapshot) { return .init(now: [unfollowed]) }
        let checks = PromptChecks(prompt: linter, catalog: adapters?.linter)
        let request = { adapters?.request(snapshot.file) ?? PromptRequest(file: snapshot.file) }
        let byteCount = snapshot.text.utf8Count
        guard let adapters, adapters.count >= stagedCatalogSize, !snapshot.isTooLargeToAnalyze else {
            return .init(now: checks.diagnostics(byteCount: byteCount, request: request, hints: .ifComposerReady).map(diagnostic))
        }
        return .init(now: checks.diagnostics(byteCount: byteCount, request: request, hints: .none).map(diagnostic),
                     later: { checks.hints(adapters.request(snapshot.file)).map(diagnostic) })
    }

    /// The one diagnostic of a document too large to follow (its edits are not applied; see
    /// `DocumentSnapshot.maxFollowedBytes`), or nil.
    static func notFollowed(_ snapshot: DocumentSnapshot) -> Diagnostic? {
        guard !snapshot.isFollowed else { return nil }
        let start = Position(line: 0, character: 0)
        let message = "This file has \(DocumentSnapshot.megabytes(snapshot.byteCount)); Stylus does not follow edits of files over "
            + "\(DocumentSnapshot.megabytes(DocumentSnapshot.maxFollowedBytes)) (no checks, completion, formatting or commands). "
            + "Reopen it when it is smaller, or use `stylus check` on the file."
        return Diagnostic(range: LSPRange(start: start, end: start), severity: .information,
                          code: DiagnosticCode.documentTooLarge.rawValue, message: message)
    }

    static func diagnostic(_ d: PromptDiagnostic) -> Diagnostic {
        Diagnostic(range: d.range.lsp, severity: DiagnosticSeverity(rawValue: d.severity.lspValue), code: d.code.rawValue, message: d.message,
                   data: d.data.map { data in .object(data.mapValues {
                       switch $0 {
                       case .string(let s): .string(s)
                       case .strings(let list): .array(list.map { .string($0) })
                       }
                   }) })
    }
}
