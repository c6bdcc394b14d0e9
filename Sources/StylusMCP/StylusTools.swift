import Foundation
import MCP
import StylusCatalog
import StylusCore
import StylusML
import StylusRender

/// Where `stylus mcp` finds the catalog and models and may write images (the command's options).
public struct MCPConfiguration: Sendable {
    /// The catalog (`--db`, else `$STYLUS_DB`, else the data directory's, seeded with the starter catalog).
    public var db: String?
    /// Rendered images of prompts given without a `prompt_path` go here (`--output-dir`); without it they are refused.
    public var outputDirectory: String?
    /// LoRA folders scanned into the catalog at start, and searched for `<lora:…>` files when rendering.
    public var loraDirs: [String] = []
    /// Checkpoint for renders whose prompt names none.
    public var checkpoint: String?
    /// Base model assumed by `check_prompt` when the text has no `base_model` frontmatter.
    public var baseModel: String?
    public var environment: [String: String]

    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.environment = environment
    }
}

/// What the tools work on, loaded once at start (off the message loop): the retriever and the
/// composer's candidate sources (as `stylus search` / `stylus compose`), the catalog index and the
/// prompt checks (as `stylus check` and the editor), and the render session.
final class StylusTools: Sendable {
    let configuration: MCPConfiguration
    let retriever: Retriever
    /// What the composer draws from (as every front end opens it).
    let sources: ComposerSources
    let catalog: CatalogIndex
    let checks: PromptChecks
    let session: RenderSession
    let warnings: [String]

    init(configuration: MCPConfiguration) throws {
        self.configuration = configuration
        let paths = DataPaths(environment: configuration.environment)
        let (catalog, scanProblems) = try CatalogIndex.open(explicit: configuration.db, scanning: configuration.loraDirs,
                                                            environment: configuration.environment)
        self.catalog = catalog
        var problems = scanProblems
        // The same retrieval index the catalog opened (one mapping of the index file).
        retriever = try catalog.retriever(modelDirectory: paths.miniLMDirectory)
        if let problem = retriever.storeProblem { problems.append(problem) }
        sources = ComposerSources(retriever)
        // An agent's first compose should not pay the process's first-use costs.
        let warmSources = sources
        Thread.detachNewThread { ComposePipeline.warmUp(source: warmSources.lexical, retriever: warmSources.hybrid) }
        var tokenCounter: ClipTokenizer?
        if FileManager.default.fileExists(atPath: paths.clipVocabPath) {
            do { tokenCounter = try ClipTokenizer(vocabularyPath: paths.clipVocabPath) } catch {
                problems.append("token-limit checks are off: cannot load the CLIP vocabulary (\(error)); run scripts/setup")
            }
        } else {
            problems.append("token-limit checks are off: no CLIP vocabulary at \(paths.clipVocabPath); run scripts/setup")
        }
        checks = PromptChecks(prompt: PromptLinter(tokenCounter: tokenCounter), catalog: CatalogLinter(catalog: catalog))
        session = RenderSession(configuration: .installed(environment: configuration.environment))
        warnings = problems + (retriever.warning.map { [$0] } ?? [])
    }

    // MARK: Catalog tools

    func searchAdapters(_ a: ToolArguments) throws -> Value {
        let query = try a.text("query", what: "the prompt or a description of the adapters to find")
        let k = try a.int("k", in: 1...100) ?? 10
        let base = try baseModel(a)
        let hits = try retriever.search(CandidateQuery(text: query, baseModel: base, includeNSFW: try a.bool("nsfw") ?? false, limit: k))
        return .object(["results": try jsonValue(CatalogJSON.searchResults(hits, retriever, cards: true))])
    }

    func composePrompt(_ a: ToolArguments) throws -> Value {
        let prompt = try a.text("prompt", what: "the prompt (or .sdprompt text) to compose adapters for")
        let base = try baseModel(a)
        let masks = try a.choice("masks", ToolSchemas.masks)
        let samples = try a.int("samples", in: 1...16) ?? 1
        let seed = try a.int("seed", in: 0...Int(Int32.max)) ?? 0
        let explain = try a.bool("explain") ?? false
        let retrieved = try a.int("retrieved", in: 0...ComposeRequest.defaultRetrieveLimit) ?? ToolSchemas.defaultRetrieved
        // The same request a prompt file gives `stylus compose` (frontmatter read, arguments over it).
        let request = PromptRequest(text: prompt, overrides: ComposeOverrides(baseModel: base, includeNSFW: try a.bool("nsfw"),
                                                                              addTriggerWords: try a.bool("add_trigger_words")))
        let outcome = try ComposePipeline.run(request.composeRequest, source: sources.lexical, retriever: sources.hybrid, model: .shipped)
        var sampled: [String] = []
        if let masks, let strategy = MaskStrategy(name: masks) {
            sampled = ComposeJSON.samples(outcome, request: request, strategy: strategy, count: samples, seed: UInt64(seed))
        }
        return try jsonValue(object: ComposeJSON.object(outcome, samples: sampled, explain: explain, retrievedCount: retrieved))
    }

    func checkPrompt(_ a: ToolArguments) async throws -> Value {
        guard let text = try a.string("text") else {
            throw ToolArguments.Problem(description: "check_prompt: 'text' is missing; pass the prompt or .sdprompt text to check")
        }
        let base = try baseModel(a) ?? configuration.baseModel.flatMap { BaseModel($0) }
        // Waits here, not on a Swift concurrency thread, so the hints are always there.
        await catalog.composerReady()
        let diagnostics = checks.diagnostics(text: text, defaultBaseModel: base, hints: .ifComposerReady)
        var counts: [String: Value] = ["error": 0, "warning": 0, "information": 0, "hint": 0]
        for d in diagnostics { counts[d.severity.rawValue] = .int((counts[d.severity.rawValue]?.intValue ?? 0) + 1) }
        return .object(["diagnostics": try jsonValue(encoding: diagnostics.map(PublishedDiagnostic.init)), "counts": .object(counts)])
    }

    /// A diagnostic in the form the language server publishes it (LSP `Diagnostic`).
    struct PublishedDiagnostic: Encodable {
        var range: LSPRange
        var severity: Int
        var code: String
        var source = PromptDiagnostic.source
        var message: String
        var data: [String: DiagnosticValue]?

        init(_ d: PromptDiagnostic) {
            range = d.range.lsp
            severity = d.severity.lspValue
            code = d.code.rawValue
            message = d.message
            data = d.data
        }
    }

    func showAdapter(_ a: ToolArguments) throws -> Value {
        let key = try a.text("alias_or_id", what: "an adapter id, alias or file name (search_adapters lists them)")
        let entries = try CatalogJSON.lookupWithHashes(key, in: retriever.store)
        guard let first = entries.first else {
            let close = catalog.closestAliases(to: key, baseModel: nil)
            throw ToolArguments.Problem(description: "show_adapter: no adapter with id, alias or file name '\(key)' in the catalog"
                                        + (close.isEmpty ? "; search_adapters finds adapters by description" : "; did you mean \(close.joined(separator: ", "))?"))
        }
        return .object(["adapter": try jsonValue(CatalogJSON.card(first)),
                        "also_matches": .array(entries.dropFirst().map { .string($0.card.adapterId) })])
    }

    func baseModel(_ a: ToolArguments) throws -> BaseModel? {
        guard let name = try a.string("base_model") else { return nil }
        guard let base = BaseModel(name) else { throw a.problem("base_model", "a base model name such as \"SD 1.5\", \"SDXL 1.0\" or \"Pony\"") }
        return base
    }

    // MARK: Resources

    /// An adapter's full card for `stylus://adapter/{id}`.
    func adapterCard(id: String) throws -> String? {
        try CatalogJSON.lookupWithHashes(id, in: retriever.store).first.map(CatalogJSON.card)
    }
}
