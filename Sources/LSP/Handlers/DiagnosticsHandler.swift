import StylusCore

/// StylusCore's findings for a document as LSP diagnostics (`source: "stylus"`, string codes).
/// Catalog checks (`unknown-lora`, `base-model-mismatch`, `missing-trigger`, `adapter-available`)
/// join here once the catalog is wired; `token-limit` runs when the linter has a CLIP token counter.
enum DiagnosticsHandler {
    static func diagnostics(_ snapshot: DocumentSnapshot, linter: PromptLinter = PromptLinter()) -> [Diagnostic] {
        if snapshot.isTooLargeToAnalyze {
            let start = Position(line: 0, character: 0)
            return [Diagnostic(range: LSPRange(start: start, end: start), severity: .information, code: "document-too-large",
                               message: "This file has \(snapshot.text.utf8Count / 1024) KB; prompt checks, highlighting and formatting are off above \(DocumentSnapshot.maxAnalyzedBytes / 1024) KB.")]
        }
        return linter.diagnostics(for: snapshot.file).map(diagnostic)
    }

    static func diagnostic(_ d: PromptDiagnostic) -> Diagnostic {
        Diagnostic(range: d.range.lsp, severity: severity(d.severity), code: d.code, message: d.message)
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
