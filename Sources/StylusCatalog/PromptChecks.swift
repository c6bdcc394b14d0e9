import StylusCore

/// Every diagnostic of a prompt text, computed the same way for the editor, `stylus check` and
/// `stylus mcp`: a text over `PromptLinter.maxAnalyzedBytes` gets only `document-too-large` and
/// is not parsed; otherwise `PromptLinter`'s checks (syntax, frontmatter, LoRA tags, weights, token
/// limit) and, with a catalog, `CatalogLinter`'s checks and the composer's hints, in document order.
public struct PromptChecks: Sendable {
    /// Whether the composer's `adapter-available` hints are included.
    public enum Hints: Sendable {
        /// Left out (the editor publishes them as a second stage on large catalogs).
        case none
        /// Included when the composer's candidate pool is built; never waits for it.
        case ifComposerReady
        /// Included, waiting (blocking) for the candidate pool: for a command line.
        case waitForComposer
    }

    public var prompt: PromptLinter
    public var catalog: CatalogLinter?

    public init(prompt: PromptLinter = PromptLinter(), catalog: CatalogLinter? = nil) {
        self.prompt = prompt
        self.catalog = catalog
    }

    /// The diagnostics of a text of `byteCount` UTF-8 bytes; `request` is only made (and the text
    /// parsed) when the text is small enough to analyse.
    public func diagnostics(byteCount: Int, request: () -> PromptRequest, hints: Hints) -> [PromptDiagnostic] {
        if let tooLarge = PromptLinter.tooLargeToAnalyze(byteCount: byteCount) { return [tooLarge] }
        let request = request()
        var out = prompt.diagnostics(for: request.file)
        guard let catalog else { return out }
        out += catalog.diagnostics(request)
        switch hints {
        case .none: break
        case .ifComposerReady: out += catalog.hints(request)
        case .waitForComposer: out += (try? catalog.catalog.compose(request)).map(CatalogLinter.hints) ?? []
        }
        return out.sorted { $0.range.utf8.lowerBound < $1.range.utf8.lowerBound }
    }

    /// The diagnostics of a prompt or `.sdprompt` text; `defaultBaseModel` applies when its
    /// frontmatter names none.
    public func diagnostics(text: String, defaultBaseModel: BaseModel? = nil, hints: Hints) -> [PromptDiagnostic] {
        diagnostics(byteCount: text.utf8.count, request: { PromptRequest(text: text, defaultBaseModel: defaultBaseModel) }, hints: hints)
    }

    /// Only the composer's hints (never waits): the editor's second stage.
    public func hints(_ request: PromptRequest) -> [PromptDiagnostic] {
        catalog?.hints(request) ?? []
    }
}
