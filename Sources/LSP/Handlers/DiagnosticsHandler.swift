import JSONRPC
import StylusCatalog
import StylusCore

/// StylusCore's findings for a document as LSP diagnostics (`source: "stylus"`, string codes),
/// plus the catalog checks when an adapter context is loaded: `unknown-lora`,
/// `base-model-mismatch`, `missing-trigger` and hints `adapter-available`.
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
            return [Diagnostic(range: LSPRange(start: start, end: start), severity: .information, code: "document-too-large",
                               message: "This file has \(snapshot.text.utf8Count / 1024) KB; prompt checks, highlighting and formatting are off above \(DocumentSnapshot.maxAnalyzedBytes / 1024) KB.")]
        }
        var out = linter.diagnostics(for: snapshot.file).map(diagnostic)
        if let adapters {
            out += catalogDiagnostics(snapshot.file, adapters)
            out.sort { $0.range.start < $1.range.start }
        }
        return out
    }

    static func catalogDiagnostics(_ file: PromptFile, _ adapters: AdapterContext) -> [Diagnostic] {
        var out: [Diagnostic] = []
        let base = adapters.baseModel(for: file)
        let body = AdapterCards.PhraseLookup(AdapterCards.promptWords(file))
        for (tag, negative) in AdapterCards.loraTags(file) where !tag.name.isEmpty && tag.isClosed {
            guard let e = adapters.summary(alias: tag.name) else {
                out.append(Diagnostic(range: tag.nameRange.lsp, severity: .warning, code: "unknown-lora",
                                      message: "Unknown LoRA '\(tag.name)': no adapter in the catalog has this alias or file name.",
                                      data: ["alias": .string(tag.name)]))
                continue
            }
            guard !negative else { continue }  // lora-in-negative already says it is not applied
            if let base, let own = e.baseModel, own != base {
                let incompatible = own.architecture != base.architecture
                out.append(Diagnostic(
                    range: tag.nameRange.lsp, severity: incompatible ? .warning : .information, code: "base-model-mismatch",
                    message: "'\(e.alias)' is a \(own.name) adapter but this prompt is for \(base.name)"
                        + (incompatible ? "; it will not load into a \(base.name) checkpoint." : "; results may be off."),
                    data: ["alias": .string(e.alias)]))
            }
            let triggers = e.triggerWords
            if !triggers.isEmpty, !triggers.contains(where: body.contains) {
                out.append(Diagnostic(
                    range: tag.nameRange.lsp, severity: .information, code: "missing-trigger",
                    message: "'\(e.alias)' works best with its trigger word\(triggers.count > 1 ? "s" : "") "
                        + triggers.map { "'\($0)'" }.joined(separator: ", ") + ", which the prompt does not contain.",
                    data: ["alias": .string(e.alias), "trigger": .string(triggers[0])]))
            }
        }
        return out
    }

    /// `adapter-available`: topics the composer finds adapters for.
    static func hints(_ file: PromptFile, _ adapters: AdapterContext) -> [Diagnostic] {
        guard let composed = adapters.composeIfReady(file) else { return [] }
        return composed.outcome.composition.topics.filter { !$0.adapters.isEmpty }.map { topic in
            let names = topic.adapters.map(\.alias)
            return Diagnostic(
                range: topic.range.lsp, severity: .hint, code: "adapter-available",
                message: "\(names.count == 1 ? "An adapter fits" : "\(names.count) adapters fit") '\(topic.keyword)': "
                    + names.joined(separator: ", ") + " (code action: Compose adapters).",
                data: ["aliases": .array(names.map { .string($0) })])
        }
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
