import Foundation
import StylusCatalog
import StylusCore

/// The adapter catalog (`CatalogIndex`) with what the editor adds: the `baseModel` setting, the
/// problems met while loading, and compositions turned into text edits. Built once per settings,
/// off the message loop (`load`), then immutable and read concurrently.
public final class AdapterContext: Sendable {
    /// The `baseModel` setting: used when a file has no `base_model` in its frontmatter.
    public let defaultBaseModel: BaseModel?
    /// Problems met while loading (a LoRA folder that cannot be scanned, …), one line each.
    public let warnings: [String]
    public let catalog: CatalogIndex

    private init(catalog: CatalogIndex, defaultBaseModel: BaseModel?, warnings: [String]) {
        self.catalog = catalog
        self.defaultBaseModel = defaultBaseModel
        self.warnings = warnings
    }

    /// A context for another `baseModel` setting, sharing this one's catalog and indexes.
    public func with(defaultBaseModel: BaseModel?) -> AdapterContext {
        AdapterContext(catalog: catalog, defaultBaseModel: defaultBaseModel, warnings: warnings)
    }

    /// Opens the catalog the settings name (`db`, else `$STYLUS_DB`, else the data directory's
    /// catalog) and scans `loraDirs` into it; the summaries and the composer's pool follow in the
    /// background (see `CatalogIndex`). Blocks: call it off the message loop.
    public static func load(settings: Settings, environment: [String: String] = ProcessInfo.processInfo.environment,
                            beforeSummaries: (@Sendable () -> Void)? = nil) throws -> AdapterContext {
        let (catalog, problems) = try CatalogIndex.open(explicit: settings.db, scanning: settings.loraDirs,
                                                        encoderDirectory: DataPaths(environment: environment).miniLMDirectory,
                                                        environment: environment, beforeSummaries: beforeSummaries)
        return AdapterContext(catalog: catalog, defaultBaseModel: settings.baseModel.flatMap { BaseModel($0) }, warnings: problems)
    }

    public var count: Int { catalog.count }
    public var isComposerReady: Bool { catalog.isComposerReady }
    public func loaded() async throws { try await catalog.loaded() }
    public func composerReady() async { await catalog.composerReady() }

    /// A document's text as a request: its frontmatter, with the `baseModel` setting below it.
    public func request(_ file: PromptFile) -> PromptRequest {
        PromptRequest(file: file, defaultBaseModel: defaultBaseModel)
    }

    /// The file's base model: frontmatter `base_model`, else the `baseModel` setting.
    public func baseModel(for file: PromptFile) -> BaseModel? { request(file).baseModel }

    public var linter: CatalogLinter { CatalogLinter(catalog: catalog) }

    // MARK: Composition

    /// What the composer chose for a prompt file, and how to put it into the file.
    public struct Composed: Sendable {
        public var outcome: ComposeOutcome
        public var baseModel: BaseModel?
        /// `<lora:alias:w>` tags to add (aliases already in the prompt are never added again).
        public var tags: [String]
        /// Trigger words of the chosen adapters that the prompt lacks, added before the tags.
        public var triggers: [String]
        /// Chosen adapters without a local file (known, not installed), by alias.
        public var notInstalled: [String]
        /// Inserts the trigger words and `tags` at the end of the positive prompt; nil when there is nothing to add.
        public var edit: TextEdit?
        /// The positive prompt with the composed tags appended (what a renderer should use).
        public var promptWithAdapters: String { outcome.promptWithAdapters }
    }

    /// Composes a document (waits for the composer; from async code `await composerReady()` first):
    /// from every known adapter, or with `installedOnly` from those with a local file.
    /// `addTriggers` adds the missing trigger words of the chosen adapters (`TriggerWords`), so
    /// the composed prompt raises no `missing-trigger`.
    public func compose(_ file: PromptFile, installedOnly: Bool = false, addTriggers: Bool = true) throws -> Composed {
        let request = composeRequest(file, addTriggers: addTriggers)
        let outcome = installedOnly ? try catalog.composeInstalled(request) : try catalog.compose(request)
        return composed(outcome, file)
    }

    /// The composition if the composer is ready, else nil (for work that must not wait).
    public func composeIfReady(_ file: PromptFile, installedOnly: Bool = false, addTriggers: Bool = true) -> Composed? {
        let request = composeRequest(file, addTriggers: addTriggers)
        let outcome = installedOnly ? catalog.composeInstalledIfReady(request) : catalog.composeIfReady(request)
        return outcome.map { composed($0, file) }
    }

    private func composeRequest(_ file: PromptFile, addTriggers: Bool) -> PromptRequest {
        var request = request(file)
        request.overrides.addTriggerWords = addTriggers
        return request
    }

    /// The edit inserts what the pipeline's `promptWithAdapters` appends: the missing trigger words, then the tags.
    private func composed(_ outcome: ComposeOutcome, _ file: PromptFile) -> Composed {
        let adapters = outcome.composition.weightedAdapters()
        let tags = adapters.map(\.tag)
        let triggers = outcome.triggerWords
        let installed = catalog.installed
        let notInstalled = adapters.filter { !installed.isInstalled($0.adapterID) }.map(\.alias)
        return Composed(outcome: outcome, baseModel: outcome.baseModel, tags: tags, triggers: triggers, notInstalled: notInstalled,
                        edit: tags.isEmpty ? nil : Self.appendEdit((triggers + tags).joined(separator: ", "), to: file))
    }

    /// An edit that appends `text` to the positive prompt, after its last non-blank character,
    /// with a comma separator when needed.
    public static func appendEdit(_ text: String, to file: PromptFile) -> TextEdit {
        let source = file.source
        let range = file.positive.range.utf8
        var end = range.upperBound
        while end > range.lowerBound, [0x20, 0x09, 0x0A, 0x0D].contains(source.bytes[end - 1]) { end -= 1 }
        let separator: String
        if end == range.lowerBound { separator = "" }
        else if source.bytes[end - 1] == UInt8(ascii: ",") { separator = " " }
        else { separator = ", " }
        let at = source.position(ofUTF8: end)
        return TextEdit(range: LSPRange(start: at, end: at), newText: separator + text)
    }
}
