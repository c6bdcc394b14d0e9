import Foundation
import GRDB
import StylusCore
import enum StylusML.RegularFile

/// Which catalog adapters are installed: backed by a local LoRA file (docs/CONTRACTS.md, "Installed
/// and known adapters"). An adapter is installed when
/// - its catalog row has a file that is a regular `.safetensors` file (a scanned LoRA folder, or a
///   card's `file`, where `~` is `$HOME`), or
/// - its alias or file stem is the file stem or the `ss_output_name` alias of such a file (how
///   A1111 resolves `<lora:name:…>`), or
/// - one of its hashes (SHA-256, AutoV2, AutoV3, also those a Civitai card lists under `hashes`)
///   is the hash of such a file.
/// Every other adapter is only known: the composer may suggest it, a local render cannot use it.
public struct InstalledAdapters: Sendable {
    /// Adapter id → the local file that backs it.
    public let fileByID: [String: String]
    /// Lowercased file stems and aliases of the local files → file.
    let fileByName: [String: String]

    /// Read from the catalog: the rows with a file that exists, then one pass over the rows
    /// without one for names and hashes that match those files. Costs nothing when no adapter
    /// has a file (a catalog of cards only); tens of milliseconds for a large scanned collection.
    public init(store: CatalogStore, environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        var byID: [String: String] = [:], byName: [String: String] = [:], byHash: [String: String] = [:]
        try store.read { db in
            let files = try Row.fetchCursor(db, sql: """
                SELECT adapter_id, alias, file_stem, file_path, lower(sha256), lower(autov2), lower(autov3)
                FROM adapters WHERE file_path > ''
                """)  // `> ''` (not NULL, not empty) searches the file_path index: a scan of a 75K-card catalog costs 80 ms
            while let r = try files.next() {
                let path = DataPaths.expandingTilde(r[3], environment: environment)
                guard Self.isLoRAFile(path) else { continue }
                byID[r[0]] = path
                for k in 1...2 { if let name: String = r[k], byName[name.lowercased()] == nil { byName[name.lowercased()] = path } }
                for k in 4...6 { if let h: String = r[k], !h.isEmpty { byHash[h] = path } }
            }
            guard !byID.isEmpty else { return }
            let cards = try Row.fetchCursor(db, sql: """
                SELECT adapter_id, alias, file_stem, lower(sha256), lower(autov2), lower(autov3),
                       lower(json_extract(extra, '$.hashes.SHA256')), lower(json_extract(extra, '$.hashes.AutoV2')),
                       lower(json_extract(extra, '$.hashes.AutoV3'))
                FROM adapters WHERE file_path IS NULL OR file_path = ''
                """)
            while let r = try cards.next() {
                let id: String = r[0]
                var path: String?
                for k in 1...2 where path == nil { if let name: String = r[k] { path = byName[name.lowercased()] } }
                for k in 3...8 where path == nil { if let h: String = r[k] { path = byHash[h] } }
                if let path { byID[id] = path }
            }
        }
        fileByID = byID
        fileByName = byName
    }

    /// A file counts when it is a regular `.safetensors` file (a card's `file` may name anything;
    /// checked without opening it, so a FIFO never blocks).
    static func isLoRAFile(_ path: String) -> Bool {
        path.lowercased().hasSuffix(".safetensors") && RegularFile.problem(at: path) == nil
    }

    public func file(adapterID: String) -> String? { fileByID[adapterID] }
    public func isInstalled(_ adapterID: String) -> Bool { fileByID[adapterID] != nil }
    public var count: Int { fileByID.count }
}

/// A candidate source limited to some adapters (a hard filter applied before ranking, so an
/// installed adapter is never crowded out of the pool by known ones).
struct OnlySomeAdapters: CandidateSource {
    let base: any CandidateSource
    let allowed: Set<String>

    func candidates(for query: CandidateQuery) throws -> [CandidateAdapter] {
        try base.candidates(for: restricted(query))
    }
    func candidates(for query: CandidateQuery, denseVector: [Float]) throws -> [CandidateAdapter] {
        try base.candidates(for: restricted(query), denseVector: denseVector)
    }
    func candidates(for queries: [(query: CandidateQuery, denseVector: [Float])]) throws -> [[CandidateAdapter]] {
        try base.candidates(for: queries.map { (restricted($0.query), $0.denseVector) })
    }
    func embed(_ texts: [String]) -> [[Float]]? { base.embed(texts) }
    var wordKnowledge: (any WordKnowledge)? { base.wordKnowledge }
    func attachVectors(_ candidates: inout [CandidateAdapter]) { base.attachVectors(&candidates) }
    /// What a prompt's `<lora:…>` tag loads, installed or not: it counts against the style cap either way.
    func adapters(withAlias alias: String) throws -> [CandidateAdapter] { try base.adapters(withAlias: alias) }

    private func restricted(_ query: CandidateQuery) -> CandidateQuery {
        var q = query
        q.onlyAdapterIDs = q.onlyAdapterIDs.map { $0.intersection(allowed) } ?? allowed
        return q
    }
}
