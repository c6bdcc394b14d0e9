import ArgumentParser

struct ComposeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compose", abstract: "The full Stylus pipeline: keywords, adapters per keyword, weights, final prompt.")

    @Argument(parsing: .captureForPassthrough) var arguments: [String] = []

    func run() throws {
        throw notBuiltYet("compose", "the composer")
    }
}
