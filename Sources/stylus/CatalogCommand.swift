import ArgumentParser
import Foundation
import StylusCatalog
import StylusCore

struct CatalogCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "catalog",
        abstract: "Build and inspect the adapter catalog (import, scan, show, export, stats, remove, refine).",
        subcommands: [Import.self, Scan.self, Show.self, Export.self, Stats.self, Remove.self, Refine.self])
}

/// `--db PATH` (else $STYLUS_DB, else <data>/catalog.sqlite; the default one starts with the starter catalog).
struct CatalogDBOption: ParsableArguments {
    @Option(name: .long, help: "Catalog database (default: $STYLUS_DB, else <data dir>/catalog.sqlite).")
    var db: String?

    func open() throws -> CatalogStore {
        do {
            let (store, seeded) = try StarterCatalog.open(explicit: db)
            if let seeded { printError("stylus: created \(store.path) with the starter catalog (\(seeded.accepted) adapters)") }
            return store
        } catch let error as CatalogError {
            printError("stylus: \(error)")
            throw error.isBadInput ? CLIExit.badInput : CLIExit.runtimeFailure
        }
    }
}

extension CatalogError {
    /// Bad input (exit 2) versus a runtime failure (exit 1).
    var isBadInput: Bool {
        switch self {
        case .badInput, .unreadableInput, .notADatabase, .newerSchema: return true
        case .cannotOpen, .database: return false
        }
    }
}

/// Runs a catalog operation, turning catalog errors into one stderr line and an exit code.
func runCatalog(_ body: () throws -> Void) throws {
    do {
        try body()
    } catch let error as CatalogError {
        printError("stylus: \(error)")
        throw error.isBadInput ? CLIExit.badInput : CLIExit.runtimeFailure
    }
}

/// After a write to the catalog: brings the retrieval index file beside it up to date, so the next
/// `stylus compose`/`search`, editor or MCP start maps it at once. A failure is one note on stderr
/// (the next reader rebuilds it).
func updateRetrievalIndex(_ store: CatalogStore) {
    if let problem = RetrievalIndex.refresh(store: store) { printError("stylus: note: \(problem)") }
}

func reportJSON(_ r: ImportReport) -> String {
    func problems(_ list: [ImportReport.Problem]) -> String {
        "[" + list.map { JSONText.object([("location", JSONText.quote($0.location)), ("reason", JSONText.quote($0.reason))]) }
            .joined(separator: ",") + "]"
    }
    return JSONText.object([
        ("added", String(r.added)), ("updated", String(r.updated)), ("unchanged", String(r.unchanged)),
        ("skipped", problems(r.skipped)), ("notes", problems(r.notes)), ("embeddings_stored", String(r.embeddingsStored)),
    ])
}

/// Prints per-item problems to stderr and the summary (or JSON) to stdout; exit 2 when nothing was read.
func finish(_ report: ImportReport, json: Bool, verb: String, fileFailures: Int, nothingToRead: Bool = false) throws {
    for p in report.skipped { printError("stylus: \(p)") }
    for n in report.notes { printError("stylus: note: \(n)") }
    if json { printOut(reportJSON(report)) } else { printOut("\(verb): \(report.summary)") }
    if report.accepted == 0 && (fileFailures > 0 || !report.skipped.isEmpty || nothingToRead) {
        throw CLIExit.badInput
    }
}

extension CatalogCommand {
    struct Import: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Import adapter cards: StylusDocs JSONL (docs/CONTRACTS.md, Adapter cards) or Civitai API JSON (models page, model array, model-versions).")

        @OptionGroup var options: CatalogDBOption
        @Option(help: "Input format: auto, jsonl or civitai.") var format: String = "auto"
        @Flag(help: "Print the report as JSON.") var json = false
        @Argument(help: "Files to import.") var files: [String]

        func run() throws {
            guard let fmt = CatalogImporter.Format(rawValue: format) else {
                printError("stylus: --format must be auto, jsonl or civitai (got \"\(format)\")")
                throw CLIExit.badInput
            }
            let store = try options.open()
            var report = ImportReport()
            var failures = 0
            try runCatalog {
                for file in files {
                    do {
                        report.merge(try CatalogImporter(store: store).importFile(file, format: fmt))
                    } catch let error as CatalogError where error.isBadInput {
                        printError("stylus: \(error)")
                        failures += 1
                    }
                }
            }
            try embedNewAdapters(store)
            updateRetrievalIndex(store)
            try finish(report, json: json, verb: "imported", fileFailures: failures)
        }
    }

    struct Scan: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Scan LoRA folders (recursive, incremental): safetensors headers, sidecars, hashes.")

        @OptionGroup var options: CatalogDBOption
        @Flag(help: "Also compute the full-file SHA-256 / AutoV2 (reads every byte).") var hashes = false
        @Flag(help: "Print the report as JSON.") var json = false
        @Argument(help: "Folders to scan.") var directories: [String]

        func run() throws {
            let store = try options.open()
            var report = ImportReport()
            var failures = 0
            try runCatalog {
                var scanner = FolderScanner(store: store)
                scanner.computeFullHashes = hashes
                for dir in directories {
                    do {
                        report.merge(try scanner.scan(dir))
                    } catch let error as CatalogError where error.isBadInput {
                        printError("stylus: \(error)")
                        failures += 1
                    }
                }
            }
            try embedNewAdapters(store)
            updateRetrievalIndex(store)
            try finish(report, json: json, verb: "scanned", fileFailures: failures)
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one adapter by id, alias or file name.")

        @OptionGroup var options: CatalogDBOption
        @Flag(help: "Print as JSON.") var json = false
        @Argument(help: "Adapter id, alias or file stem.") var key: String

        func run() throws {
            let store = try options.open()
            try runCatalog {
                let entries = try CatalogJSON.lookupWithHashes(key, in: store)
                if entries.isEmpty {
                    printError("stylus: no adapter with id, alias or file name \"\(key)\" in \(store.path)")
                    throw CLIExit.badInput
                }
                if entries.count > 1 {
                    printError("stylus: note: \"\(key)\" matches \(entries.count) adapters: \(entries.map(\.card.adapterId).joined(separator: ", "))")
                }
                if json {
                    for e in entries { printOut(CatalogJSON.card(e)) }
                } else {
                    printOut(entries.map(Self.text).joined(separator: "\n\n"))
                }
            }
        }

        static func text(_ e: CatalogEntry) -> String {
            let c = e.card, r = e.refinement
            var lines = [
                "\(c.title)  [\(c.adapterId)]",
                "  alias:       <lora:\(c.alias):\(JSONText.number(r.weight))>   (weight from \(r.weightSource.rawValue))",
                "  base model:  \(c.baseModel?.name ?? "unknown")   type: \(c.type)   category: \(r.category.rawValue)\(r.isCharacter ? " (character)" : "")\(c.nsfw ? "   NSFW" : "")",
                "  triggers:    \(r.triggerWords.isEmpty ? "(none)" : r.triggerWords.joined(separator: ", "))",
                "  tags:        \(c.tags.joined(separator: ", "))",
                "  refined:     \(r.refinedDescription)",
            ]
            if let f = e.file {
                lines.append("  file:        \(f.path) (\(f.size) bytes)")
                lines.append("  hashes:      AutoV3 \(f.autov3 ?? "-")  AutoV2 \(f.autov2 ?? "-")  SHA256 \(f.sha256 ?? "-")")
                if let p = f.previewPath { lines.append("  preview:     \(p)") }
            }
            lines.append("  source:      \(e.source)\(e.sourceRef.map { " (\($0))" } ?? "")")
            return lines.joined(separator: "\n")
        }
    }

    struct Export: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Export every adapter with its refined fields as JSONL (docs/CONTRACTS.md, CLI).")

        @OptionGroup var options: CatalogDBOption
        @Flag(help: "JSON Lines output (the only format).") var jsonl = false
        @Option(name: .shortAndLong, help: "Write to this file instead of stdout.") var output: String?

        func run() throws {
            guard jsonl else {
                printError("stylus: catalog export needs --jsonl (the only export format)")
                throw CLIExit.badInput
            }
            let store = try options.open()
            try runCatalog {
                var text = ""
                try store.exportJSONL { text += $0 + "\n" }
                if let output {
                    do {
                        try text.write(toFile: output, atomically: true, encoding: .utf8)
                    } catch {
                        printError("stylus: \(output): cannot write: \(error.localizedDescription)")
                        throw CLIExit.runtimeFailure
                    }
                } else {
                    FileHandle.standardOutput.write(Data(text.utf8))
                }
            }
        }
    }

    struct Stats: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Catalog totals by base model, category and source.")

        @OptionGroup var options: CatalogDBOption
        @Flag(help: "Print as JSON.") var json = false

        func run() throws {
            let store = try options.open()
            try runCatalog {
                let s = try store.stats()
                func dict(_ d: [String: Int]) -> String {
                    JSONText.object(d.sorted { $0.key < $1.key }.map { ($0.key, String($0.value)) })
                }
                if json {
                    printOut(JSONText.object([
                        ("path", JSONText.quote(store.path)), ("adapters", String(s.adapters)),
                        ("by_base_model", dict(s.byBaseModel)), ("by_category", dict(s.byCategory)),
                        ("by_source", dict(s.bySource)), ("weight_sources", dict(s.weightSources)),
                        ("nsfw", String(s.nsfw)), ("characters", String(s.characters)),
                        ("with_file", String(s.withFile)), ("with_embedding", String(s.withEmbedding)),
                        ("schema", JSONText.array(s.schemaMigrations)),
                    ]))
                } else {
                    func line(_ d: [String: Int]) -> String {
                        d.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
                            .map { "\($0.key) \($0.value)" }.joined(separator: ", ")
                    }
                    printOut("""
                        catalog:      \(store.path)
                        adapters:     \(s.adapters) (\(s.nsfw) NSFW, \(s.characters) characters/celebrities, \(s.withFile) local files, \(s.withEmbedding) embedded)
                        base models:  \(line(s.byBaseModel))
                        categories:   \(line(s.byCategory))
                        sources:      \(line(s.bySource))
                        weights from: \(line(s.weightSources))
                        schema:       \(s.schemaMigrations.joined(separator: ", "))
                        """)
                }
            }
        }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove adapters by id, alias or file stem.")

        @OptionGroup var options: CatalogDBOption
        @Argument(help: "Adapter ids, aliases or file stems.") var keys: [String]

        func run() throws {
            let store = try options.open()
            var missing = 0
            try runCatalog {
                for key in keys {
                    let removed = try store.remove(key)
                    if removed.isEmpty {
                        printError("stylus: no adapter with id, alias or file name \"\(key)\"")
                        missing += 1
                    } else {
                        printOut("removed \(removed.joined(separator: ", "))")
                    }
                }
            }
            updateRetrievalIndex(store)
            if missing == keys.count { throw CLIExit.badInput }
        }
    }

    struct Refine: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Refine descriptions and weights with an LLM (OpenAI-compatible chat endpoint; optional).",
            discussion: """
                Configure with STYLUS_LLM_URL (e.g. http://127.0.0.1:8080/v1), STYLUS_LLM_MODEL and, if the
                endpoint needs one, STYLUS_LLM_API_KEY. Answers are cached per adapter and text, so re-running
                only sends new or changed adapters. Without these variables the offline refiner stays in charge.
                """)

        @OptionGroup var options: CatalogDBOption
        @Option(help: "Stop after this many adapters.") var limit: Int?
        @Argument(help: "Adapter ids or aliases (default: all).") var keys: [String] = []

        func run() throws {
            guard let config = LLMRefiner.Configuration(environment: ProcessInfo.processInfo.environment) else {
                printError("stylus: set STYLUS_LLM_URL and STYLUS_LLM_MODEL to use the LLM refiner (the offline refiner needs nothing)")
                throw CLIExit.badInput
            }
            let store = try options.open()
            try runCatalog {
                let refiner = LLMRefiner(configuration: config, store: store)
                let result = try refiner.refine(keys: keys, limit: limit) { printError("stylus: \($0)") }
                printOut("refined: \(result.refined) by the LLM, \(result.cached) from cache, \(result.failed) failed (kept offline refinement)")
            }
            updateRetrievalIndex(store)
        }
    }
}
