import ArgumentParser
import Foundation
import StylusML

@main
struct Stylus: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stylus",
        abstract: "Prompt assistant for Stable Diffusion: adapter catalog, retrieval, composition, rendering, and a language server.",
        subcommands: [
            ParseCommand.self,
            CatalogCommand.self,
            SearchCommand.self,
            ComposeCommand.self,
            CheckCommand.self,
            RenderCommand.self,
            LSPCommand.self,
            MCPCommand.self,
        ]
    )

    /// Exit codes of docs/CONTRACTS.md, CLI: usage errors exit 2 (argument-parser's default is 64).
    static func main() {
        // OpenBLAS picks its kernels when it loads; on CPUs it does not recognise, restart once
        // with the right core type (see BLASRuntime). Happens before any I/O.
        BLASRuntime.reexecWithFastKernelsIfNeeded()
        BLASRuntime.stopIdleThreads()
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            if exitCode(for: error) == .validationFailure {
                printError(fullMessage(for: error))
                Foundation.exit(CLIExit.badInput.rawValue)
            }
            exit(withError: error)
        }
    }
}
