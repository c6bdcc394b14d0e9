/// Where Stylus keeps its data (DESIGN §5.1), resolved from an environment dictionary so it stays pure.
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
}
