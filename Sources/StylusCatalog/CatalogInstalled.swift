import Foundation
import GRDB
import StylusCore

/// Which catalog adapters are installed: backed by a local LoRA file (docs/CONTRACTS.md, "Installed
/// and known adapters"). An adapter is installed when
/// - its catalog row has a file that exists (a scanned LoRA folder, or a card's `file`), or
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

    public static let none = InstalledAdapters(fileByID: [:], fileByName: [:])

    init(fileByID: [String: String], fileByName: [String: String]) {
        self.fileByID = fileByID
        self.fileByName = fileByName
    }

    /// From the catalog's summaries and the hashes in its store.
    init(summaries: [AdapterSummary], store: CatalogStore) {
        var byID: [String: String] = [:], byName: [String: String] = [:]
        for s in summaries {
            guard let path = s.filePath, !path.isEmpty, FileManager.default.fileExists(atPath: path) else { continue }
            byID[s.adapterId] = path
            for name in [s.alias, s.fileStem].compactMap({ $0?.lowercased() }) where byName[name] == nil { byName[name] = path }
        }
        for s in summaries where byID[s.adapterId] == nil {
            if let path = [s.alias, s.fileStem].compactMap({ $0.flatMap { byName[$0.lowercased()] } }).first { byID[s.adapterId] = path }
        }
        if let matches = try? Self.hashMatches(store) {
            for (id, path) in matches where byID[id] == nil && FileManager.default.fileExists(atPath: path) { byID[id] = path }
        }
        fileByID = byID
        fileByName = byName
    }

    /// Cards without a file whose hash is the hash of a catalog row with a file: (adapter id, file).
    static func hashMatches(_ store: CatalogStore) throws -> [(String, String)] {
        try store.read { db in
            let rows = try Row.fetchAll(db, sql: """
                SELECT lower(sha256) AS sha256, lower(autov2) AS autov2, lower(autov3) AS autov3, file_path FROM adapters
                WHERE file_path IS NOT NULL AND (sha256 IS NOT NULL OR autov2 IS NOT NULL OR autov3 IS NOT NULL)
                """)
            var fileByHash: [String: String] = [:]
            for r in rows {
                for key in ["sha256", "autov2", "autov3"] { if let h: String = r[key], !h.isEmpty { fileByHash[h] = r["file_path"] } }
            }
            guard !fileByHash.isEmpty else { return [] }
            var out: [(String, String)] = []
            let cards = try Row.fetchCursor(db, sql: """
                SELECT adapter_id, lower(sha256), lower(autov2), lower(autov3), lower(json_extract(extra, '$.hashes.SHA256')),
                       lower(json_extract(extra, '$.hashes.AutoV2')), lower(json_extract(extra, '$.hashes.AutoV3'))
                FROM adapters WHERE file_path IS NULL
                """)
            while let r = try cards.next() {
                for k in 1...6 {
                    if let h: String = r[k], let path = fileByHash[h] { out.append((r[0], path)); break }
                }
            }
            return out
        }
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
    func embed(_ texts: [String]) -> [[Float]]? { base.embed(texts) }
    var wordKnowledge: (any WordKnowledge)? { base.wordKnowledge }
    func attachVectors(_ candidates: inout [CandidateAdapter]) { base.attachVectors(&candidates) }

    private func restricted(_ query: CandidateQuery) -> CandidateQuery {
        var q = query
        q.onlyAdapterIDs = q.onlyAdapterIDs.map { $0.intersection(allowed) } ?? allowed
        return q
    }
}
