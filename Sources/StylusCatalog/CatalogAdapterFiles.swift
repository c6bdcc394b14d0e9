import Foundation
import StylusCore

/// Local LoRA files of catalog adapters, for renderers that resolve `<lora:alias:…>` tags.
public struct CatalogAdapterFiles: Sendable {
    private let byName: [String: String]

    /// From catalog entries: each adapter's `file` (import field) or scanned file, under its alias,
    /// adapter id and file stem (case-insensitive; the first entry wins).
    public init(entries: [CatalogEntry]) {
        var table: [String: String] = [:]
        for e in entries {
            guard let path = e.card.file ?? e.file?.path, !path.isEmpty else { continue }
            for key in [e.card.alias, e.card.adapterId, e.file?.stem].compactMap({ $0?.lowercased() }) where table[key] == nil {
                table[key] = path
            }
        }
        byName = table
    }

    public func path(for name: String) -> String? { byName[name.lowercased()] }
}
