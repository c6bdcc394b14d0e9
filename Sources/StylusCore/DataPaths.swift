import Foundation

/// Where Stylus keeps its data (docs/CONTRACTS.md, Files), resolved from an environment dictionary so it stays pure.
///
/// Data directory: `$STYLUS_HOME`, else `$XDG_DATA_HOME/stylus`, else `~/.local/share/stylus`.
/// Catalog: `--db PATH`, else `$STYLUS_DB`, else `<data>/catalog.sqlite`. Models: `<data>/models/`.
public struct DataPaths: Sendable, Equatable {
    public let dataDirectory: String

    public init(environment: [String: String], homeDirectory: String) {
        if let home = environment["STYLUS_HOME"], !home.isEmpty {
            dataDirectory = home
        } else if let xdg = environment["XDG_DATA_HOME"], !xdg.isEmpty {
            dataDirectory = xdg + "/stylus"
        } else {
            dataDirectory = homeDirectory + "/.local/share/stylus"
        }
        self.environment = environment
    }

    private let environment: [String: String]

    /// The catalog database: an explicit path wins, then `$STYLUS_DB`, then the data directory.
    public func catalogPath(explicit: String? = nil) -> String {
        if let explicit, !explicit.isEmpty { return explicit }
        if let db = environment["STYLUS_DB"], !db.isEmpty { return db }
        return dataDirectory + "/catalog.sqlite"
    }

    public var modelsDirectory: String { dataDirectory + "/models" }
    /// all-MiniLM-L6-v2 `model.safetensors` and `vocab.txt`, installed by `scripts/setup`.
    public var miniLMDirectory: String { modelsDirectory + "/all-MiniLM-L6-v2" }
    /// CLIP BPE merges (`bpe_simple_vocab_16e6.txt.gz`), installed by `scripts/setup`.
    public var clipVocabPath: String { modelsDirectory + "/clip/bpe_simple_vocab_16e6.txt.gz" }
    /// Checkpoint hashes remembered by path, size and mtime (the renderer's `Model hash`).
    public var modelHashCachePath: String { dataDirectory + "/cache/model-hashes.json" }
}

extension DataPaths {
    /// Paths for this environment, with `~` as `userHome(environment:)`.
    public init(environment: [String: String]) {
        self.init(environment: environment, homeDirectory: Self.userHome(environment: environment))
    }

    /// The user's home: `$HOME` when set and not empty, else the account's home. Foundation's
    /// `NSHomeDirectory()` on Linux reads only the account entry, while containers, CI and
    /// `sudo -E` (and `scripts/setup`) go by `$HOME`.
    public static func userHome(environment: [String: String]) -> String {
        if let home = environment["HOME"], !home.isEmpty { return home }
        return NSHomeDirectory()
    }

    /// `~` or `~/…` with the home of `userHome(environment:)`; any other path unchanged.
    public static func expandingTilde(_ path: String, environment: [String: String]) -> String {
        guard path == "~" || path.hasPrefix("~/") else { return path }
        var home = userHome(environment: environment)
        while home.count > 1, home.hasSuffix("/") { home.removeLast() }
        return home + path.dropFirst()
    }
}
