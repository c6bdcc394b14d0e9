import Foundation
import StylusCore

/// The starter catalog shipped inside the package (docs/CONTRACTS.md, Files): adapter cards of the project's
/// own writing, so composition works on a fresh install with no LoRA folder.
public enum StarterCatalog {
    /// The bundled JSONL, or nil if the resource bundle is missing (a broken install).
    public static var url: URL? {
        Bundle.module.url(forResource: "starter_catalog", withExtension: "jsonl", subdirectory: "Resources")
            ?? Bundle.module.url(forResource: "starter_catalog", withExtension: "jsonl")
    }

    /// Where the catalog lives and whether it is the default one (`--db` > `$STYLUS_DB` > data dir).
    public static func location(explicit: String?, environment: [String: String] = ProcessInfo.processInfo.environment)
        -> (path: String, isDefault: Bool) {
        let paths = DataPaths(environment: environment)
        let path = paths.catalogPath(explicit: explicit)
        return (path, path == paths.dataDirectory + "/catalog.sqlite" && (explicit ?? "").isEmpty
                    && (environment["STYLUS_DB"] ?? "").isEmpty)
    }

    /// Opens the catalog; the default catalog is created with the starter cards when it does
    /// not exist yet. Returns the import report when it seeded the catalog.
    public static func open(explicit: String?, environment: [String: String] = ProcessInfo.processInfo.environment)
        throws -> (store: CatalogStore, seeded: ImportReport?) {
        let (path, isDefault) = location(explicit: explicit, environment: environment)
        let isNew = !FileManager.default.fileExists(atPath: path)
        let store = try CatalogStore(path: path)
        guard isNew, isDefault else { return (store, nil) }
        return (store, try seed(store))
    }

    /// Imports the starter cards into a store (idempotent: unchanged cards stay unchanged).
    public static func seed(_ store: CatalogStore) throws -> ImportReport {
        guard let url else {
            throw CatalogError.unreadableInput(path: "starter_catalog.jsonl", reason: "the resource bundle is missing from this installation")
        }
        return try CatalogImporter(store: store).importJSONL(url.path, source: "starter")
    }
}
