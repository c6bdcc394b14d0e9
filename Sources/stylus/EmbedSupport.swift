import Foundation
import StylusCatalog
import StylusML

/// After an import or scan: embed the adapters that have no vector yet, with a progress bar on a
/// terminal. Without the model files the catalog is still usable (keyword search), and we say so once.
func embedNewAdapters(_ store: CatalogStore) throws {
    let encoder: MiniLMEncoder
    do {
        encoder = try MiniLMEncoder(directory: modelPaths().miniLMDirectory)
    } catch {
        if (try? store.adaptersMissingEmbedding(model: MiniLMEncoder.modelID).isEmpty) == false {
            printError("stylus: note: embeddings skipped: \(error) (search ranks by keywords until then)")
        }
        return
    }
    let terminal = isatty(STDERR_FILENO) == 1
    var lastDraw = 0.0
    try runCatalog {
        let n = try CatalogEmbedder(store: store, encoder: encoder).embedMissing { done, total in
            guard terminal, total > 0 else { return }
            let now = Date().timeIntervalSince1970
            guard done == total || now - lastDraw > 0.1 else { return }
            lastDraw = now
            let width = 30
            let filled = width * done / total
            let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
            FileHandle.standardError.write(Data("\rembedding [\(bar)] \(done)/\(total)".utf8))
            if done == total { FileHandle.standardError.write(Data("\n".utf8)) }
        }
        if n > 0 && !terminal { printError("stylus: embedded \(n) adapters") }
    }
}
