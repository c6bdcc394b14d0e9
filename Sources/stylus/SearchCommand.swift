import ArgumentParser

struct SearchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "search", abstract: "Retriever only: ranked candidate adapters for a prompt.")

    @Argument(parsing: .captureForPassthrough) var arguments: [String] = []

    func run() throws {
        throw notBuiltYet("search", "retrieval (MiniLM embeddings + BM25)")
    }
}
