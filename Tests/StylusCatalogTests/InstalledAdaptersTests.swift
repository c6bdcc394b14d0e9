import Foundation
import StylusCatalog
import StylusCore
import XCTest

/// Installed vs known adapters (docs/CONTRACTS.md, "Installed and known adapters"): which catalog
/// adapters a local file backs, and composing from those only.
final class InstalledAdaptersTests: XCTestCase {
    /// Cards (no files) for a snow globe and a linocut print, plus a scanned LoRA folder.
    func catalog(cardHash: String = "0123456789ab", files: (String) throws -> Void) throws -> (CatalogIndex, String) {
        let dir = try Support.tempDir()
        let cards = [
            #"{"adapter_id": "card-snow", "alias": "snowglobe_v1", "title": "Snow Globe", "base_model": "SD 1.5", "tags": ["concept", "snow globe", "glass"], "trigger_words": ["snowglobe"], "description": "puts the scene inside a snow globe", "weight": 0.8}"#,
            #"{"adapter_id": "card-lino", "alias": "linoprint_v1", "title": "Linocut Print", "base_model": "SD 1.5", "tags": ["style", "linocut", "print"], "trigger_words": ["linoprint"], "description": "linocut print style, carved lines", "weight": 0.6}"#,
            #"{"adapter_id": "card-hash", "alias": "renamed_card", "title": "Storm Clouds", "base_model": "SD 1.5", "tags": ["background", "storm"], "description": "dark storm clouds", "weight": 0.7, "hashes": {"AutoV3": "HASH"}}"#.replacingOccurrences(of: "HASH", with: cardHash),
        ]
        try cards.joined(separator: "\n").write(toFile: dir + "/cards.jsonl", atomically: true, encoding: .utf8)
        let store = try CatalogStore(path: dir + "/c.sqlite")
        _ = try CatalogImporter(store: store).importFile(dir + "/cards.jsonl")
        let loras = dir + "/loras"
        try FileManager.default.createDirectory(atPath: loras, withIntermediateDirectories: true)
        try files(loras)
        _ = try FolderScanner(store: store).scan(loras)
        return (try CatalogIndex(store: store, loadSummaries: true), loras)
    }

    func testInstalledByFileNameAndAlias() throws {
        let (index, loras) = try catalog { dir in
            // A file named like a card's alias (A1111 resolves <lora:snowglobe_v1:…> to it).
            try Support.writeLoRA(dir + "/snowglobe_v1.safetensors", metadata: [:], tensorBytes: Array(0..<64))
            // A file with a name of its own: an adapter of its own, installed.
            try Support.writeLoRA(dir + "/frost_scenes.safetensors", metadata: ["ss_output_name": "frostscenes"], tensorBytes: Array(1..<65))
        }
        try index.waitUntilLoaded()
        let installed = index.installed
        XCTAssertEqual(installed.file(adapterID: "card-snow"), loras + "/snowglobe_v1.safetensors")
        XCTAssertFalse(installed.isInstalled("card-lino"), "a card without a file is only known")
        XCTAssertEqual(index.installedFile(alias: "frostscenes"), loras + "/frost_scenes.safetensors")
        XCTAssertEqual(index.installedFile(alias: "snowglobe_v1"), loras + "/snowglobe_v1.safetensors")
        XCTAssertNil(index.installedFile(alias: "linoprint_v1"))
        // A render's own folders count too: names of files there (stems and ss_output_name).
        XCTAssertTrue(index.installedIDs(localNames: ["linoprint_v1"]).contains("card-lino"))
        XCTAssertFalse(index.installedIDs().contains("card-lino"))
    }

    func testInstalledByHash() throws {
        let dir = try Support.tempDir()
        // The AutoV3 of a file is the SHA-256 of its tensor bytes (first 12 hex): learn it by a scan first.
        let probe = try CatalogStore(path: dir + "/probe.sqlite")
        try Support.writeLoRA(dir + "/storm.safetensors", metadata: [:], tensorBytes: Array(5..<69))
        _ = try FolderScanner(store: probe).scan(dir)
        let autov3 = try XCTUnwrap(try probe.lookup("storm").first?.file?.autov3)
        // The card lists the file's hash under `hashes` (as Civitai cards do): it is installed.
        let (index, loras) = try catalog(cardHash: autov3.uppercased()) { folder in
            try Support.writeLoRA(folder + "/totally_other_name.safetensors", metadata: [:], tensorBytes: Array(5..<69))
        }
        XCTAssertEqual(index.installed.file(adapterID: "card-hash"), loras + "/totally_other_name.safetensors")
        let (other, _) = try catalog { folder in
            try Support.writeLoRA(folder + "/totally_other_name.safetensors", metadata: [:], tensorBytes: Array(5..<69))
        }
        XCTAssertFalse(other.installed.isInstalled("card-hash"), "another hash: only known")
    }

    func testComposeInstalledIsAHardFilter() throws {
        let (index, _) = try catalog { dir in
            try Support.writeLoRA(dir + "/snowglobe_v1.safetensors", metadata: [:], tensorBytes: Array(0..<64))
        }
        try index.waitUntilLoaded()
        let request = PromptRequest(text: "---\nbase_model: SD 1.5\n---\na linocut print of a lighthouse in a snow globe")
        let known = Set(try index.compose(request).composition.weightedAdapters().map(\.alias))
        XCTAssertTrue(known.contains("linoprint_v1"), "\(known)")
        let installed = Set(try index.composeInstalled(request).composition.weightedAdapters().map(\.alias))
        XCTAssertEqual(installed, ["snowglobe_v1"], "only adapters with a local file")
        // The adapters of a render's LoRA folder count as installed for that render.
        let withFolder = Set(try index.composeInstalled(request, localNames: ["linoprint_v1"]).composition.weightedAdapters().map(\.alias))
        XCTAssertTrue(withFolder.contains("linoprint_v1"), "\(withFolder)")
        // The composition over all known adapters is unchanged by it (the caches are separate).
        XCTAssertEqual(Set(try index.compose(request).composition.weightedAdapters().map(\.alias)), known)
    }

    func testTriggerWordsAddedOnlyWhenMissing() {
        let triggers = ["snowglobe_v1": ["snowglobe"], "linoprint_v1": ["linoprint", "linocut"], "plain": []]
        XCTAssertEqual(TriggerWords.missing(for: ["snowglobe_v1", "linoprint_v1", "plain"], in: "a linocut of a house") { triggers[$0] ?? [] },
                       ["snowglobe"])
        XCTAssertEqual(TriggerWords.missing(for: ["snowglobe_v1", "snowglobe_v1"], in: "a house") { triggers[$0] ?? [] }, ["snowglobe"])
    }
}
