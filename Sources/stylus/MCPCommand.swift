import ArgumentParser
import Foundation
import JSONRPC
import Logging
import StylusCore
import StylusMCP
#if canImport(Glibc)
import Glibc
#endif

/// `stylus mcp`: the MCP server over stdio (docs/CONTRACTS.md, MCP server).
struct MCPCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mcp", abstract: "Run the Model Context Protocol server (stdio) for AI agents.",
        discussion: """
            Tools: search_adapters, compose_prompt, check_prompt, show_adapter, render_image; resources \
            stylus://adapter/{id}; prompt compose_prompt_for. Only render_image writes: a new <stem>-<n>.png beside \
            the prompt file it is given, or in --output-dir, never over an existing file.
            """)

    @Option(help: "Catalog database (default: $STYLUS_DB, else <data>/catalog.sqlite).") var db: String?
    @Option(name: .customLong("output-dir"), help: "Folder for images of prompts given without a prompt file (must exist).")
    var outputDir: String?
    @Option(name: .customLong("lora-dir"), help: "A folder of LoRA files: scanned into the catalog at start, searched when rendering (repeatable).")
    var loraDir: [String] = []
    @Option(help: "SD 1.x checkpoint for renders whose prompt names none.") var checkpoint: String?
    @Option(name: .customLong("base-model"), help: "Base model check_prompt assumes when a prompt has no base_model frontmatter.")
    var baseModel: String?
    @Option(help: "Serve MCP's Streamable HTTP on http://127.0.0.1:PORT/mcp instead of stdio (0: a free port, printed on stderr).")
    var http: UInt16?
    @Option(name: .customLong("log-level"), help: "Log level on stderr: trace, debug, info, warning, error.") var logLevel: String = "warning"

    func run() throws {
        var config = MCPConfiguration()
        let env = config.environment
        func path(_ p: String) -> String {
            let expanded = DataPaths.expandingTilde(p, environment: env)
            return expanded.hasPrefix("/") ? expanded : FileManager.default.currentDirectoryPath + "/" + expanded
        }
        if let outputDir {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path(outputDir), isDirectory: &isDirectory), isDirectory.boolValue else {
                printError("stylus mcp: --output-dir \(outputDir) is not an existing folder; create it first")
                throw CLIExit.badInput
            }
            config.outputDirectory = path(outputDir)
        }
        if let baseModel, BaseModel(baseModel) == nil {
            printError("stylus mcp: --base-model '\(baseModel)' is not a base model name (e.g. \"SD 1.5\", \"SDXL 1.0\", \"Pony\")")
            throw CLIExit.badInput
        }
        config.db = db.map(path)
        config.loraDirs = loraDir.map(path)
        config.checkpoint = checkpoint.map(path)
        config.baseModel = baseModel

        let protocolOut = try protocolStdout(command: "mcp", logLevel: logLevel, default: .warning)
        let logger = Logger(label: "stylus.mcp")
        if let http {
            let listener: LoopbackHTTPServer
            do { listener = try LoopbackHTTPServer(port: http, catalog: MCPCatalog(configuration: config), logger: logger) } catch {
                printError("stylus mcp: \(error)")
                throw CLIExit.runtimeFailure
            }
            printError("stylus mcp: listening on http://127.0.0.1:\(listener.port)\(LoopbackHTTPServer.path)")
            listener.serve()
            throw CLIExit.runtimeFailure
        }
        let server = StylusMCPServer(configuration: config, logger: logger)
        let transport = PipeTransport(input: STDIN_FILENO, output: protocolOut, logger: logger)

        // ParsableCommand is synchronous: wait here for the async server to finish.
        let done = DispatchSemaphore(value: 0)
        let failed = Locked(false)
        Task {
            do { try await server.run(transport: transport) } catch {
                logger.error("\(error)")
                failed.withLock { $0 = true }
            }
            done.signal()
        }
        done.wait()
        Glibc.exit(failed.current ? 1 : 0)
    }
}
