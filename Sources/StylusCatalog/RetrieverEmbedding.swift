import Foundation
import StylusCore
import StylusML

/// Fills in the catalog's missing sentence embeddings (import/scan time), so retrieval only
/// embeds the query. A vector is dropped by the store whenever the adapter's card changes, and
/// vectors of another model are not used, so "missing" means "text or model changed".
public struct CatalogEmbedder: Sendable {
    public let store: CatalogStore
    public let encoder: MiniLMEncoder

    public init(store: CatalogStore, encoder: MiniLMEncoder) {
        self.store = store
        self.encoder = encoder
    }

    /// How many adapters need a vector.
    public func pendingCount() throws -> Int {
        try store.adaptersMissingEmbedding(model: MiniLMEncoder.modelID).count
    }

    /// Embeds every adapter without a vector of our model, `batch` texts at a time, storing each
    /// batch as it is done (an interrupted run keeps its work). `progress(done, total)` after each batch.
    @discardableResult
    public func embedMissing(batch: Int = 32, progress: (Int, Int) -> Void = { _, _ in }) throws -> Int {
        let pending = try store.adaptersMissingEmbedding(model: MiniLMEncoder.modelID)
        var done = 0
        progress(0, pending.count)
        while done < pending.count {
            let slice = pending[done..<min(done + max(1, batch), pending.count)]
            let vectors = encoder.embed(slice.map { Self.embeddedText($0.text) }, batchSize: batch)
            try store.setEmbeddings(zip(slice, vectors).map { ($0.adapterID, $1) }, model: MiniLMEncoder.modelID)
            done += slice.count
            progress(done, pending.count)
        }
        // The names of every adapter changed since the last time, not only the ones embedded now:
        // adapters imported with a precomputed card vector need their title and tag vectors too
        // (else the composer embeds them while a user waits). Only texts without a vector are embedded.
        let names = try store.nameTextsToEmbed()
        try embedMissingTexts(names.texts + Self.composerTexts, batch: batch)
        try store.markNameTextsEmbedded(generation: names.generation)
        return done
    }

    /// `embedMissing` before a retriever opens the catalog, so the vectors are computed once and
    /// kept. Returns nil, or the problem in one line (what failed, where, what to do): the catalog
    /// stays usable, as the retriever then embeds those adapters in memory for its session.
    public func storeMissingVectors() -> String? {
        do {
            try embedMissing()
            return nil
        } catch {
            return "could not store the sentence embeddings of new adapters in \(store.path) (\(error)); "
                + "they are computed again on every start until the catalog is writable (check its permissions and free disk space)"
        }
    }

    /// Stores vectors for those of `texts` (adapter titles and tags) that have none yet, embedded as
    /// the retriever embeds short texts at query time, so both give the same vector.
    public func embedMissingTexts(_ texts: [String], batch: Int = 64) throws {
        let have = try store.textsWithVectors(texts, model: MiniLMEncoder.modelID)
        let missing = Array(Set(texts.filter { !have.contains($0) })).sorted()
        for start in stride(from: 0, to: missing.count, by: max(1, batch)) {
            let slice = Array(missing[start..<min(start + max(1, batch), missing.count)])
            let vectors = encoder.embed(tokenIDs: slice.map { Retriever.shortTextTokens($0, encoder: encoder) })
            try store.setTextVectors(Array(zip(slice, vectors)), model: MiniLMEncoder.modelID)
        }
    }

    /// Texts every compose embeds whatever the prompt (the descriptions of the adapter categories):
    /// stored with the catalog, so a fresh process does not encode them before its first answer.
    public static var composerTexts: [String] { ComposerFeatures.categoryDescriptions.map(\.1) }

    /// The text embedded for an adapter: its refined description (title, category, summary, tags and
    /// trigger words in one paragraph). Empty descriptions embed as a single space.
    static func embeddedText(_ refined: String) -> String {
        refined.isEmpty ? " " : refined
    }
}

extension CatalogStore {
    /// Stores many vectors in one transaction.
    public func setEmbeddings(_ vectors: [(adapterID: String, vector: [Float])], model: String) throws {
        try write { db in
            for (id, vector) in vectors {
                guard let rowID = try Int64.fetchOne(db, sql: "SELECT id FROM adapters WHERE adapter_id = ?", arguments: [id]) else {
                    continue  // removed meanwhile by another process
                }
                try storeEmbedding(rowID: rowID, vector: vector, model: model, db)
            }
        }
    }
}
