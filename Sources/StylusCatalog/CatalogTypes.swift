import Foundation
import StylusCore

/// Errors of the catalog, each saying what failed, where, and what to do.
public enum CatalogError: Error, CustomStringConvertible, Equatable {
    case newerSchema(path: String, unknownMigrations: [String])
    case notADatabase(path: String)
    case cannotOpen(path: String, reason: String)
    case database(path: String, message: String)
    case unreadableInput(path: String, reason: String)
    case badInput(path: String, reason: String)

    public var description: String {
        switch self {
        case let .newerSchema(path, unknown):
            return "\(path): this catalog was written by a newer version of stylus (unknown schema migrations: \(unknown.joined(separator: ", "))); upgrade stylus or pass another --db"
        case let .notADatabase(path):
            return "\(path): not a SQLite catalog; pass another --db or move the file away"
        case let .cannotOpen(path, reason):
            return "\(path): cannot open the catalog: \(reason)"
        case let .database(path, message):
            return "\(path): database error: \(message)"
        case let .unreadableInput(path, reason):
            return "\(path): cannot read: \(reason)"
        case let .badInput(path, reason):
            return "\(path): \(reason)"
        }
    }
}

/// A local adapter file and what was learned from it.
public struct AdapterFile: Sendable, Hashable, Codable {
    public var path: String
    public var stem: String
    public var size: Int64
    public var mtime: Double
    public var previewPath: String?
    /// First 12 hex of the addnet hash (SHA-256 of the tensor bytes after the header): A1111 "Lora hashes", Civitai AutoV3.
    public var autov3: String?
    /// First 10 hex of the whole-file SHA-256 (computed lazily).
    public var autov2: String?
    public var sha256: String?
    /// Size and mtime of the file and of each sidecar: an unchanged signature means nothing to re-read.
    public var scanSignature: String?

    public init(path: String, stem: String, size: Int64, mtime: Double, previewPath: String? = nil,
                autov3: String? = nil, autov2: String? = nil, sha256: String? = nil, scanSignature: String? = nil) {
        self.scanSignature = scanSignature
        self.path = path
        self.stem = stem
        self.size = size
        self.mtime = mtime
        self.previewPath = previewPath
        self.autov3 = autov3
        self.autov2 = autov2
        self.sha256 = sha256
    }
}

/// A precomputed embedding that came with a card.
public struct EmbeddingVector: Sendable, Hashable, Codable {
    public var model: String
    public var values: [Float]
    public init(model: String, values: [Float]) {
        self.model = model
        self.values = values
    }

    /// Our sentence encoder (docs/CONTRACTS.md, Adapter cards): vectors from any other model are ignored and recomputed.
    public static let modelID = "sentence-transformers/all-MiniLM-L6-v2"
    public static let dimension = 384

    /// True when the vector is from our model, has its dimension and finite values.
    public var isUsable: Bool {
        let m = model.trimmingCharacters(in: .whitespaces)
        return (m == Self.modelID || m == "all-MiniLM-L6-v2") && values.count == Self.dimension
            && values.allSatisfy { $0.isFinite }
    }
}

/// Everything an importer hands to the store for one adapter.
public struct AdapterInput: Sendable, Hashable, Codable {
    public var card: AdapterCard
    public var baseModelRaw: String?
    /// Negative prompts aligned with `card.imagePrompts` (nil where unknown).
    public var negativePrompts: [String?]
    /// A category the source states explicitly (e.g. re-importing our own export).
    public var statedCategory: AdapterCategory?
    /// Unknown input fields, as a JSON object text.
    public var extra: String?
    public var source: String
    public var sourceRef: String?
    public var file: AdapterFile?
    public var embedding: EmbeddingVector?

    public init(card: AdapterCard, baseModelRaw: String? = nil, negativePrompts: [String?] = [],
                statedCategory: AdapterCategory? = nil, extra: String? = nil, source: String,
                sourceRef: String? = nil, file: AdapterFile? = nil, embedding: EmbeddingVector? = nil) {
        self.card = card
        self.baseModelRaw = baseModelRaw
        self.negativePrompts = negativePrompts
        self.statedCategory = statedCategory
        self.extra = extra
        self.source = source
        self.sourceRef = sourceRef
        self.file = file
        self.embedding = embedding
    }
}

/// One adapter as stored: the card, its refinement and where it came from.
public struct CatalogEntry: Sendable, Hashable {
    public var rowID: Int64
    public var card: AdapterCard
    public var refinement: AdapterRefinement
    public var refinedBy: String
    public var baseModelRaw: String?
    public var negativePrompts: [String?]
    public var extra: String?
    public var source: String
    public var sourceRef: String?
    public var file: AdapterFile?
    public var embeddingModel: String?
    public var embeddingDimension: Int?
}

/// What an import or scan did: counts and per-item problems (with their location).
public struct ImportReport: Sendable, Hashable {
    public struct Problem: Sendable, Hashable, CustomStringConvertible {
        /// "file.jsonl:12", "/loras/x.safetensors".
        public var location: String
        public var reason: String
        public var description: String { "\(location): \(reason)" }
    }

    public var added = 0
    public var updated = 0
    public var unchanged = 0
    public var skipped: [Problem] = []
    /// Not errors: things a user should know (duplicate aliases, ignored embeddings, …).
    public var notes: [Problem] = []
    public var embeddingsStored = 0

    public init() {}

    /// Items read successfully (added, updated or unchanged).
    public var accepted: Int { added + updated + unchanged }

    public mutating func skip(_ location: String, _ reason: String) {
        skipped.append(Problem(location: location, reason: reason))
    }

    public mutating func note(_ location: String, _ reason: String) {
        notes.append(Problem(location: location, reason: reason))
    }

    public mutating func merge(_ other: ImportReport) {
        added += other.added
        updated += other.updated
        unchanged += other.unchanged
        skipped += other.skipped
        notes += other.notes
        embeddingsStored += other.embeddingsStored
    }

    public var summary: String {
        "\(added) added, \(updated) updated, \(unchanged) unchanged, \(skipped.count) skipped"
            + (embeddingsStored > 0 ? ", \(embeddingsStored) embeddings stored" : "")
    }
}

/// Catalog totals for `stylus catalog stats`.
public struct CatalogStats: Sendable, Hashable {
    public var adapters = 0
    public var byBaseModel: [String: Int] = [:]
    public var byCategory: [String: Int] = [:]
    public var bySource: [String: Int] = [:]
    public var nsfw = 0
    public var characters = 0
    public var withFile = 0
    public var withEmbedding = 0
    public var weightSources: [String: Int] = [:]
    public var schemaMigrations: [String] = []
}
