import ArgumentParser
import Foundation
import StylusCatalog
import StylusCore

/// `stylus compose`: keywords → adapters per keyword → final prompt (docs/CONTRACTS.md, CLI).
struct ComposeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compose", abstract: "The full Stylus pipeline: keywords, adapters per keyword, weights, final prompt.")

    @Flag(name: .long, help: "Print one JSON object per prompt.")
    var json = false

    @Flag(name: .long, help: "Show every accept/reject decision with its reason (stderr with --json).")
    var explain = false

    @Option(name: .long, help: "Catalog database (default: $STYLUS_DB, else <data>/catalog.sqlite).")
    var db: String?

    @Option(name: .customLong("base-model"), help: "Base model of the prompt (overrides the file's base_model).")
    var baseModel: String?

    @Option(name: .long, help: "Masks: all, one_hot_loras or one_hot_concepts.")
    var masks: String?

    @Option(name: .long, help: "How many masked prompts to sample (with --masks).")
    var samples: Int = 1

    @Option(name: .long, help: "Seed for mask sampling.")
    var seed: UInt64 = 0

    @Option(name: .long, help: "Debias string appended before the adapters (e.g. 'realistic, best quality').")
    var debias: String?

    @Flag(name: .customLong("restore-concepts"), help: "Emphasise topics left without an adapter as (topic:1.1).")
    var restoreConcepts = false

    @Flag(name: .long, help: "Allow NSFW adapters.")
    var nsfw = false

    @Flag(name: .customLong("no-trigger-words"), help: "Do not add the trigger words the chosen adapters need (added by default, before the tags).")
    var noTriggerWords = false

    @Option(name: .long, help: "JSONL file of {\"id\", \"prompt\", \"base_model\"} lines; writes one result line each.")
    var batch: String?

    @Flag(name: .long, help: "Let an OpenAI-compatible LLM choose the adapters ($STYLUS_LLM_URL, $STYLUS_LLM_MODEL, $STYLUS_LLM_API_KEY); on any failure the built-in composer is used.")
    var llm = false

    @Option(name: .customLong("llm-url"), help: "With --llm: the endpoint's base URL, e.g. http://127.0.0.1:8080/v1 (overrides $STYLUS_LLM_URL).")
    var llmURL: String?

    @Option(name: .customLong("llm-model"), help: "With --llm: the model name (overrides $STYLUS_LLM_MODEL).")
    var llmModel: String?

    @Option(name: .customLong("llm-timeout"), help: "With --llm: seconds per LLM request (default: $STYLUS_LLM_TIMEOUT, else \(Int(ComposeCommand.defaultLLMTimeout))).")
    var llmTimeout: Double?

    @Option(name: .customLong("composer-model"), help: "A composer model JSON written by scripts/fit_composer.py (default: the shipped one).")
    var composerModel: String?

    @Option(name: .long, help: "With --json: how many whole-prompt retrieval results to list in \"retrieved\" (0–\(ComposeRequest.defaultRetrieveLimit); default \(ComposeRequest.defaultRetrieveLimit)).")
    var retrieved = ComposeRequest.defaultRetrieveLimit

    @Option(name: .customLong("dump-features"), help: "Write every scored (topic, adapter) pair's features as JSONL to this file (for scripts/fit_composer.py).")
    var dumpFeatures: String?

    @Argument(help: "A prompt, or a prompt file (.sdprompt / '-' for stdin).")
    var input: String?

    /// Usage problems exit 2 (docs/CONTRACTS.md, CLI) with one line on stderr.
    func validate() throws {
        var problem: String?
        if batch == nil && input == nil { problem = "give a PROMPT, a prompt FILE, or --batch FILE.jsonl" }
        if batch != nil && input != nil { problem = "give either a prompt or --batch, not both" }
        if let masks, MaskStrategy(name: masks) == nil {
            problem = "unknown --masks '\(masks)'; use all, one_hot_loras or one_hot_concepts"
        }
        if samples < 1 { problem = "--samples must be at least 1" }
        if !(0...ComposeRequest.defaultRetrieveLimit).contains(retrieved) {
            problem = "--retrieved must be between 0 and \(ComposeRequest.defaultRetrieveLimit), got \(retrieved)"
        }
        if let llmProblem = validateLLMOptions() { problem = llmProblem }
        if let problem {
            printError("stylus compose: \(problem)")
            throw CLIExit.badInput
        }
    }

    /// The scorer: `--composer-model` when given, else the shipped one.
    func loadModel() throws -> ComposerModel {
        guard let composerModel else { return .shipped }
        do {
            return try ComposerModel.decode(try Data(contentsOf: URL(fileURLWithPath: composerModel)))
        } catch {
            printError("stylus compose: --composer-model \(composerModel): \(error)")
            throw CLIExit.badInput
        }
    }

    func run() throws {
        let model = try loadModel()
        let source: ComposerSources
        do {
            let (store, _) = try StarterCatalog.open(explicit: db)
            source = try Self.candidateSources(store)
        } catch {
            printError("stylus compose: \(error)")
            throw CLIExit.runtimeFailure
        }
        var base: BaseModel?
        if let baseModel {
            guard let b = BaseModel(baseModel) else {
                printError("stylus compose: --base-model '\(baseModel)' is not a base model name (e.g. \"SD 1.5\", \"SDXL 1.0\", \"Pony\")")
                throw CLIExit.badInput
            }
            base = b
        }
        if let batch {
            try runBatch(batch, source: source, base: base, model: model)
            return
        }
        let text: String
        // A prompt file when the argument names one (or is '-'), else the prompt itself.
        if let input, input == "-" || (!input.contains("\n") && input.utf8.count < 4096 && FileManager.default.fileExists(atPath: input)) {
            do { text = try InputFiles.readPrompt(input) } catch {
                printError("stylus compose: \(error)")
                throw CLIExit.badInput
            }
        } else {
            text = input ?? ""
        }
        let session = try llmSession()
        let prompt = request(text, base: base)
        var outcome: ComposeOutcome, composer: String?
        do {
            outcome = try ComposePipeline.run(prompt.composeRequest, source: source.lexical, retriever: source.hybrid, model: model)
            (outcome, composer) = try withLLM(session, outcome, prompt.composeRequest, source: source.lexical)
        } catch {
            printError("stylus compose: \(error)")
            throw CLIExit.runtimeFailure
        }
        emit(outcome, prompt, id: nil, composer: composer)
    }

    /// The composer's sources through the catalog's retrieval index file, as the language server
    /// and the MCP server open them; a keyword-only mode or a storing problem is one warning.
    static func candidateSources(_ store: CatalogStore) throws -> ComposerSources {
        let sources = ComposerSources(try CatalogIndex(store: store, loadSummaries: false).retriever(modelDirectory: modelPaths().miniLMDirectory))
        if let warning = sources.warning { printError("stylus: warning: \(warning)") }
        return sources
    }

    /// The prompt (file) with this command's flags over its frontmatter.
    func request(_ text: String, base: BaseModel?) -> PromptRequest {
        PromptRequest(text: text, overrides: ComposeOverrides(baseModel: base, includeNSFW: nsfw ? true : nil, debias: debias,
                                                              restoreConcepts: restoreConcepts ? true : nil,
                                                              addTriggerWords: noTriggerWords ? false : nil))
    }

    func runBatch(_ path: String, source: ComposerSources, base: BaseModel?, model: ComposerModel) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            printError("stylus compose: \(path): cannot be read")
            throw CLIExit.badInput
        }
        let session = try llmSession()
        var failures = 0
        var dump: FileHandle?
        if let dumpFeatures {
            guard FileManager.default.createFile(atPath: dumpFeatures, contents: nil), let handle = FileHandle(forWritingAtPath: dumpFeatures) else {
                printError("stylus compose: --dump-features \(dumpFeatures): cannot be created")
                throw CLIExit.badInput
            }
            handle.write(Data((jsonLine(["feature_names": ComposerFeatures.names]) + "\n").utf8))
            dump = handle
        }
        defer { try? dump?.close() }
        // Each line's timings are its own, not the process's first-use costs.
        ComposePipeline.warmUp(source: source.lexical, retriever: source.hybrid, model: model)
        for (n, line) in String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty { continue }
            guard let obj = try? JSONSerialization.jsonObject(with: Data(trimmed.utf8)) as? [String: Any],
                  let prompt = obj["prompt"] as? String else {
                printError("stylus compose: \(path):\(n + 1): not a JSON object with a \"prompt\" string; skipped")
                failures += 1
                continue
            }
            var lineBase = base
            if lineBase == nil, let b = obj["base_model"] as? String { lineBase = BaseModel(b) }
            let id: Any = obj["id"] ?? (n + 1)
            let lineRequest = request(prompt, base: lineBase)
            do {
                let outcome = try ComposePipeline.run(lineRequest.composeRequest, source: source.lexical, retriever: source.hybrid, model: model)
                if let dump {
                    for (t, topic) in outcome.composition.topics.enumerated() {
                        for c in topic.scored {
                            dump.write(Data((jsonLine(["id": id, "topic": t, "keyword": topic.keyword, "adapter_id": c.adapterID,
                                                       "x": c.features, "p": c.probability]) + "\n").utf8))
                        }
                    }
                }
                let (final, composer) = try withLLM(session, outcome, lineRequest.composeRequest, source: source.lexical)
                emit(final, lineRequest, id: id, composer: composer)
            } catch {
                printError("stylus compose: \(path):\(n + 1): \(error)")
                failures += 1
            }
        }
        if failures > 0 { throw CLIExit.badInput }
    }

    func jsonLine(_ obj: [String: Any]) -> String {
        (try? JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys])).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }

    /// `composer` ("llm" or "built-in") is reported only under --llm.
    func emit(_ o: ComposeOutcome, _ request: PromptRequest, id: Any?, composer: String? = nil) {
        var samplesOut: [String] = []
        if let masks, let strategy = MaskStrategy(name: masks) {
            samplesOut = ComposeJSON.samples(o, request: request, strategy: strategy, count: samples, seed: seed)
        }
        if explain {
            let lines = ComposeJSON.explanationLines(o)
            if json { lines.forEach(printError) } else { lines.forEach(printOut) }
        }
        if json {
            if let line = ComposeJSON.text(ComposeJSON.object(o, id: id, samples: samplesOut, composer: composer, retrievedCount: retrieved)) { printOut(line) }
        } else {
            for (i, t) in o.composition.topics.enumerated() where !t.adapters.isEmpty {
                printOut("\(t.keyword): " + t.weightedAdapters(topic: i).map { "\($0.alias) (\(PromptBuilder.format($0.weight)))" }.joined(separator: ", "))
            }
            if samplesOut.isEmpty { printOut(o.promptWithAdapters) } else { samplesOut.forEach(printOut) }
        }
    }
}
