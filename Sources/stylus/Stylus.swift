import ArgumentParser
import Foundation

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
            RenderCommand.self,
            LSPCommand.self,
        ]
    )
}
