import ArgumentParser
import Foundation
import StylusCatalog
import StylusCore

/// `stylus search`: the retriever alone (docs/CONTRACTS.md, CLI). `--batch` loads everything once and times
/// many queries (the latency benchmark).
struct SearchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "search", abstract: "Retriever only: ranked candidate adapters for a prompt.")

    @OptionGroup var options: CatalogDBOption
    @Flag(help: "Print {\"results\": [{adapter_id, alias, score}]} as JSON.") var json = false
    @Option(help: "How many adapters to return.") var k: Int = 20
    @Option(name: .customLong("base-model"), help: "Only adapters for this base model (\"SD 1.5\", \"SDXL 1.0\", \"Pony\", …).")
    var baseModel: String?
    @Flag(help: "Also return NSFW adapters.") var nsfw = false
    @Option(help: "Fusion of dense and BM25 ranks: rrf or score.") var fusion: String = "rrf"
    @Option(help: "Read queries from this JSONL file ({\"id\", \"prompt\", \"base_model\"} per line), load once, time each.")
    var batch: String?
    @Argument(help: "The prompt.") var prompt: String?

    /// Usage problems exit 2 (docs/CONTRACTS.md, CLI), not argument-parser's 64.
    func usage(_ message: String) -> ExitCode {
        printError("stylus search: \(message)")
        return CLIExit.badInput
    }

    func validate() throws {
        guard k >= 1 && k <= 10_000 else { throw usage("--k must be between 1 and 10000") }
        guard Retriever.Fusion(rawValue: fusion) != nil else { throw usage("--fusion must be rrf or score") }
        if batch == nil {
            guard let prompt, !prompt.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
                throw usage("the prompt is empty; pass the prompt text to search for")
            }
        } else if prompt != nil {
            throw usage("pass either a prompt or --batch FILE, not both")
        }
        if let baseModel, BaseModel(baseModel) == nil {
            throw usage("--base-model is empty; pass a base model name (e.g. \"SD 1.5\", \"SDXL 1.0\", \"Pony\")")
        }
    }

    func run() throws {
        let store = try options.open()
        var opts = Retriever.Options()
        opts.fusion = Retriever.Fusion(rawValue: fusion)!
        let retriever: Retriever
        do {
            retriever = try CatalogIndex(store: store, loadSummaries: false).retriever(modelDirectory: modelPaths().miniLMDirectory, options: opts)
        } catch let error as CatalogError {
            printError("stylus: \(error)")
            throw error.isBadInput ? CLIExit.badInput : CLIExit.runtimeFailure
        }
        for warning in [retriever.warning, retriever.storeProblem].compactMap({ $0 }) { printError("stylus: warning: \(warning)") }
        let base = baseModel.flatMap(BaseModel.init)
        if let batch { return try runBatch(batch, retriever, defaultBase: base) }
        let hits = try runCatalogValue { try retriever.search(query(prompt ?? "", base)) }
        if json {
            printOut(JSONText.object([("results", CatalogJSON.searchResults(hits, retriever))]))
        } else if hits.isEmpty {
            printOut("no matching adapters")
        } else {
            for (n, h) in hits.enumerated() {
                let e = retriever.summary(h.index)
                printOut(String(format: "%3d  %.4f  %@  <lora:%@>  %@", n + 1, h.score, e.adapterId, e.alias, e.title))
            }
        }
    }

    func query(_ text: String, _ base: BaseModel?) -> CandidateQuery {
        CandidateQuery(text: text, baseModel: base, includeNSFW: nsfw, limit: k)
    }

    func runBatch(_ path: String, _ retriever: Retriever, defaultBase: BaseModel?) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            printError("stylus: \(path): cannot read the batch file")
            throw CLIExit.badInput
        }
        var times: [Double] = []
        var parts = Retriever.Timings()
        let cpuStart = processCPUSeconds()
        for (n, line) in String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            guard !line.trimmingCharacters(in: .whitespaces).isEmpty else { continue }
            guard let obj = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  let text = obj["prompt"] as? String else {
                printError("stylus: \(path):\(n + 1): expected a JSON object with a \"prompt\" string; line skipped")
                continue
            }
            let base = (obj["base_model"] as? String).flatMap(BaseModel.init) ?? defaultBase
            let start = DispatchTime.now().uptimeNanoseconds
            let hits = try runCatalogValue { try retriever.search(query(text, base), timings: &parts) }
            times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
            if json {
                let id = (obj["id"] as? String).map(JSONText.quote) ?? "null"
                printOut(JSONText.object([("id", id), ("results", CatalogJSON.searchResults(hits, retriever))]))
            }
        }
        let sorted = times.sorted()
        func pct(_ p: Double) -> Double { sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, Int((p * Double(sorted.count)).rounded(.up)) - 1)] }
        let mean = times.isEmpty ? 0 : times.reduce(0, +) / Double(times.count)
        printError(String(format: "stylus search: %d queries over %d adapters (%d vectors, fusion %@): mean %.2f ms, p50 %.2f ms, p95 %.2f ms, max %.2f ms",
                          times.count, retriever.adapterCount, retriever.vectorCount, retriever.fusion.rawValue,
                          mean, pct(0.5), pct(0.95), sorted.last ?? 0))
        let n = Double(max(1, times.count))
        printError(String(format: "stylus search: mean per query: embed %.2f ms, dense %.2f ms, bm25 %.2f ms; CPU time %.2f ms (all threads)",
                          parts.embed / n, parts.dense / n, parts.bm25 / n, (processCPUSeconds() - cpuStart) * 1000 / n))
    }
}

func modelPaths() -> DataPaths {
    DataPaths(environment: ProcessInfo.processInfo.environment)
}

/// Like `runCatalog`, returning the body's value.
func runCatalogValue<T>(_ body: () throws -> T) throws -> T {
    var value: T?
    try runCatalog { value = try body() }
    return value!
}
