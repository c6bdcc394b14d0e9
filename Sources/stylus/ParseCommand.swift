import ArgumentParser

struct ParseCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "parse", abstract: "Parse a prompt file: syntax tree, topics and diagnostics.")

    @Argument var file: String

    func run() throws {
        throw notBuiltYet("parse", "the prompt parser")
    }
}
