import ArgumentParser
import Foundation
import StylusCatalog
import StylusCore
import StylusRender

/// `stylus check`: the diagnostics an editor shows (syntax, frontmatter, prompt and catalog
/// checks, the composer's hints) for prompt files, for pre-commit hooks and CI (docs/CONTRACTS.md, CLI).
struct CheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check", abstract: "Lint prompt files with every diagnostic the editor shows.",
        discussion: """
            Prints one line per diagnostic, 'path:line:column: severity: message [code]' (line and column \
            1-based, columns in UTF-16 units as editors count them). Exits 0 when no file has a warning or an \
            error, 1 when one has, 2 on usage errors or unreadable files.
            """)

    @Option(name: .long, help: "Catalog database (default: $STYLUS_DB, else <data>/catalog.sqlite).")
    var db: String?

    @Flag(name: .long, help: "Print {\"files\": [{\"path\", \"diagnostics\": [{\"code\", \"severity\", \"line\", \"column\", \"message\"}]}]}.")
    var json = false

    @Argument(help: "Prompt files (.sdprompt; '-' for stdin).")
    var files: [String] = []

    func validate() throws {
        guard !files.isEmpty else {
            printError("stylus check: give one or more prompt FILEs")
            throw CLIExit.badInput
        }
    }

    func run() throws {
        var texts: [(path: String, text: String)] = []
        for path in files {
            do { texts.append((path, try InputFiles.readPrompt(path))) } catch {
                printError("stylus check: \(error)")
                throw CLIExit.badInput
            }
        }
        let catalog: CatalogIndex
        do {
            catalog = try CatalogIndex(store: CatalogIndex.openStore(explicit: db), encoderDirectory: modelPaths().miniLMDirectory)
            try catalog.waitUntilLoaded()
        } catch let error as CatalogIndex.LoadError {
            printError("stylus check: \(error)")
            if case .catalogMissing = error { throw CLIExit.badInput }
            throw CLIExit.runtimeFailure
        } catch {
            printError("stylus check: \(error)")
            throw CLIExit.runtimeFailure
        }
        let checks = PromptChecks(prompt: PromptLinter(tokenCounter: Self.tokenCounter()), catalog: CatalogLinter(catalog: catalog))
        let results = texts.map { path, text in (path: path, diagnostics: checks.diagnostics(text: text, hints: .waitForComposer)) }
        if json {
            let object: [String: Any] = ["files": results.map { path, diagnostics in
                ["path": path, "diagnostics": diagnostics.map { d in
                    ["code": d.code.rawValue, "severity": d.severity.rawValue, "line": d.range.lsp.start.line + 1,
                     "column": d.range.lsp.start.character + 1, "message": d.message] as [String: Any]
                }] as [String: Any]
            }]
            if let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]) {
                printOut(String(decoding: data, as: UTF8.self))
            }
        } else {
            for (path, diagnostics) in results {
                for d in diagnostics {
                    printOut("\(path):\(d.range.lsp.start.line + 1):\(d.range.lsp.start.character + 1): \(d.severity.rawValue): \(d.message) [\(d.code)]")
                }
            }
        }
        let failing = results.contains { $0.diagnostics.contains { $0.severity <= .warning } }
        if failing { throw CLIExit.runtimeFailure }
    }

    /// CLIP token counting for `token-limit` when the vocabulary is installed (as in the editor).
    static func tokenCounter() -> (any PromptTokenCounter)? {
        let vocabulary = DataPaths(environment: ProcessInfo.processInfo.environment).clipVocabPath
        guard FileManager.default.fileExists(atPath: vocabulary) else { return nil }
        return try? ClipTokenizer(vocabularyPath: vocabulary)
    }
}
