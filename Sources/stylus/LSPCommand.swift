import ArgumentParser

struct LSPCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lsp", abstract: "Run the language server for .sdprompt files over stdio.")

    func run() throws {
        throw notBuiltYet("lsp", "the language server")
    }
}
