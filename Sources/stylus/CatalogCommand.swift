import ArgumentParser

struct CatalogCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "catalog",
        abstract: "Build and inspect the adapter catalog (import, scan, show, export, stats, remove).")

    @Argument(parsing: .captureForPassthrough) var arguments: [String] = []

    func run() throws {
        throw notBuiltYet("catalog", "the adapter catalog (SQLite store, importers, scanner)")
    }
}
