import Foundation
import StylusCatalog
import StylusCore
import StylusML
import XCTest

/// The LoRA folder scanner: headers, sidecars, hashes, names, incremental rescans, hostile files.
final class ScannerTests: XCTestCase {
    func testSHA256MatchesCoreutils() throws {
        let dir = try Support.tempDir()
        for size in [0, 1, 55, 56, 63, 64, 65, 1000, (1 << 20) + 17] {
            let path = dir + "/f\(size)"
            try Support.write(path, (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) })
            XCTAssertEqual(try SHA256.hexOfFile(path), try Support.sha256sum(path), "size \(size)")
        }
    }

    func testHeaderMetadataHashesAndNames() throws {
        let dir = try Support.tempDir()
        let tensor: [UInt8] = (0..<200).map { UInt8($0) }
        try Support.writeLoRA(dir + "/inkwash_v2.safetensors", metadata: [
            "ss_output_name": "InkWash", "ss_base_model_version": "sdxl_base_v1-0", "ss_network_module": "networks.lora",
            "ss_network_dim": "16", "ss_network_alpha": "8",
            "ss_tag_frequency": #"{"10_inkwsh": {"inkwsh": 40, "1girl": 40, "ink wash painting": 38, "mountain": 12}}"#,
        ], tensorBytes: tensor)
        let store = try CatalogStore(path: dir + "/c.sqlite")
        let report = try FolderScanner(store: store).scan(dir)
        XCTAssertEqual(report.added, 1)
        let e = try XCTUnwrap(store.lookup("InkWash").first)
        XCTAssertEqual(e.card.baseModel, .sdxl)
        XCTAssertEqual(e.refinement.triggerWords, ["inkwsh", "ink wash painting"])  // ≥ 90% of captions, generic tags dropped
        // AutoV3 = SHA-256 of the bytes after the header, first 12 hex.
        let dataFile = dir + "/tensor.bin"
        try Support.write(dataFile, tensor)
        XCTAssertEqual(e.file?.autov3, String(try Support.sha256sum(dataFile).prefix(12)))
        XCTAssertEqual(e.card.adapterId, "local-" + e.file!.autov3!)
        XCTAssertNil(e.file?.sha256, "SHA-256 is lazy")
        XCTAssertEqual(try store.lookup("inkwash_v2").first?.card.adapterId, e.card.adapterId, "file stem resolves too")
        let hashed = try FolderScanner(store: store).computeFullHash(for: e)
        let full = try Support.sha256sum(dir + "/inkwash_v2.safetensors")
        XCTAssertEqual(hashed.file?.sha256, full)
        XCTAssertEqual(hashed.file?.autov2, String(full.prefix(10)))
        XCTAssertEqual(try store.lookup("InkWash").first?.file?.sha256, full, "stored once computed")
    }

    func testAllSidecarsWithPrecedence() throws {
        let dir = try Support.tempDir()
        for name in ["sidecar_demo.civitai.info", "sidecar_demo.json", "sidecar_demo.metadata.json", "lm_only.metadata.json"] {
            try FileManager.default.copyItem(atPath: Support.fixture(name), toPath: dir + "/" + name)
        }
        try Support.writeLoRA(dir + "/sidecar_demo.safetensors", metadata: ["ss_base_model_version": "sdxl_base_v1-0", "ssmd_display_name": "Header Title"])
        try Support.write(dir + "/sidecar_demo.preview.png", [0x89, 0x50, 0x4E, 0x47])
        try Support.writeLoRA(dir + "/lm_only.safetensors", metadata: [:], tensorBytes: [1, 2, 3, 4])
        let store = try CatalogStore(path: dir + "/c.sqlite")
        let report = try FolderScanner(store: store).scan(dir)
        XCTAssertEqual(report.added, 2)
        let demo = try XCTUnwrap(store.lookup("sidecar_demo").first)
        // A1111 user metadata wins (the user's own edits): base model, activation text, preferred weight.
        XCTAssertEqual(demo.card.baseModel, .sd15)
        XCTAssertEqual(demo.refinement.triggerWords, ["demotrig", "paper lantern"])
        XCTAssertEqual(demo.refinement.weight, 0.65)
        XCTAssertEqual(demo.refinement.weightSource, .field)
        // Civitai Helper fills what A1111 lacks: title, tags, example prompts, description.
        XCTAssertEqual(demo.card.title, "Sidecar Demo (Civitai)")
        XCTAssertEqual(demo.refinement.category, .object)
        XCTAssertEqual(demo.card.imagePrompts, ["demotrig, a lantern <lora:sidecar_demo:0.55>"])
        XCTAssertTrue(demo.card.description.contains("my own notes: paper lanterns"))
        XCTAssertTrue(demo.card.description.contains("Lanterns glowing in fog."))
        XCTAssertEqual(demo.file?.previewPath, dir + "/sidecar_demo.preview.png")
        XCTAssertTrue(demo.extra?.contains("\"civitai_model_id\":\"7000\"") == true)

        // Lora-Manager alone: usage tips range midpoint, embedded Civitai trained words.
        let lm = try XCTUnwrap(store.lookup("lm_only").first)
        XCTAssertEqual(lm.card.title, "LM Only")
        XCTAssertEqual(lm.card.baseModel, .pony)
        XCTAssertEqual(lm.refinement.weight, 0.5)
        XCTAssertEqual(lm.refinement.triggerWords, ["lmcape"])
        XCTAssertEqual(lm.refinement.category, .clothing)
    }

    func testIncrementalRescanAndRemovedFiles() throws {
        let dir = try Support.tempDir()
        try FileManager.default.createDirectory(atPath: dir + "/a/b", withIntermediateDirectories: true)
        try Support.writeLoRA(dir + "/one.safetensors", metadata: ["ss_output_name": "one"], tensorBytes: [1])
        try Support.writeLoRA(dir + "/a/b/two.safetensors", metadata: ["ss_output_name": "two"], tensorBytes: [2])
        let store = try CatalogStore(path: try Support.tempDir() + "/c.sqlite")
        XCTAssertEqual(try FolderScanner(store: store).scan(dir).added, 2)
        let again = try FolderScanner(store: store).scan(dir)
        XCTAssertEqual(again.unchanged, 2)
        XCTAssertEqual(again.added + again.updated, 0)
        // A new sidecar changes the signature: the file is read again.
        try Support.write(dir + "/one.json", Array(#"{"activation text": "onetrig", "preferred weight": 0.4}"#.utf8))
        let third = try FolderScanner(store: store).scan(dir)
        XCTAssertEqual(third.updated, 1)
        XCTAssertEqual(third.unchanged, 1)
        XCTAssertEqual(try store.lookup("one").first?.refinement.weight, 0.4)
        try FileManager.default.removeItem(atPath: dir + "/a/b/two.safetensors")
        let fourth = try FolderScanner(store: store).scan(dir)
        XCTAssertTrue(fourth.notes.contains { $0.reason.contains("removed from the catalog") })
        XCTAssertEqual(try store.count, 1)
    }

    func testDuplicateNamesAndContentAreReported() throws {
        let dir = try Support.tempDir()
        for sub in ["x", "y"] { try FileManager.default.createDirectory(atPath: dir + "/" + sub, withIntermediateDirectories: true) }
        try Support.writeLoRA(dir + "/x/samename.safetensors", metadata: ["ss_output_name": "shared"], tensorBytes: [1, 1])
        try Support.writeLoRA(dir + "/y/samename.safetensors", metadata: ["ss_output_name": "shared"], tensorBytes: [2, 2])
        try Support.writeLoRA(dir + "/x/copy_a.safetensors", metadata: ["ss_output_name": "copy_a"], tensorBytes: [9, 9, 9])
        try Support.writeLoRA(dir + "/y/copy_b.safetensors", metadata: ["ss_output_name": "copy_b"], tensorBytes: [9, 9, 9])
        let store = try CatalogStore(path: try Support.tempDir() + "/c.sqlite")
        let report = try FolderScanner(store: store).scan(dir)
        XCTAssertEqual(report.added, 4)
        XCTAssertTrue(report.notes.contains { $0.reason.contains("file name \"samename\" also used by") })
        XCTAssertTrue(report.notes.contains { $0.reason.contains("alias \"shared\" (ss_output_name) is shared with") })
        XCTAssertTrue(report.notes.contains { $0.reason.contains("same tensors (AutoV3") })
        // A shared alias falls back to the file name, as in A1111.
        XCTAssertEqual(try store.lookup("shared"), [])
        XCTAssertEqual(try store.lookup("samename").count, 2)
    }

    func testHostileHeadersAreSkippedAndTheRestIsScanned() throws {
        let dir = try Support.tempDir()
        try Support.writeLoRA(dir + "/good.safetensors", metadata: ["ss_output_name": "good"])
        try Support.write(dir + "/truncated.safetensors", [0x10, 0x00, 0x00])
        try Support.write(dir + "/claims_2gb.safetensors", Support.lengthPrefix(2 << 30) + Array("{}".utf8))
        try Support.write(dir + "/past_end.safetensors", Support.lengthPrefix(5000) + Array("{}".utf8))
        try Support.write(dir + "/not_json.safetensors", Support.lengthPrefix(8) + Array("notjson!".utf8))
        let offsets = Array(#"{"w": {"dtype": "F32", "shape": [1024], "data_offsets": [0, 4096]}}"#.utf8)
        try Support.write(dir + "/offsets_out_of_range.safetensors", Support.lengthPrefix(UInt64(offsets.count)) + offsets + [0, 0, 0, 0])
        try Support.write(dir + "/empty.safetensors", [])
        let store = try CatalogStore(path: try Support.tempDir() + "/c.sqlite")
        let report = try FolderScanner(store: store).scan(dir)
        XCTAssertEqual(report.added, 1)
        XCTAssertEqual(report.skipped.count, 6)
        let byFile = Dictionary(uniqueKeysWithValues: report.skipped.map { (($0.location as NSString).lastPathComponent, $0.reason) })
        XCTAssertTrue(byFile["claims_2gb.safetensors"]?.contains("within the 67108864-byte limit") == true, "\(byFile)")
        XCTAssertTrue(byFile["past_end.safetensors"]?.contains("fits the file") == true, "\(byFile)")
        XCTAssertTrue(byFile["not_json.safetensors"]?.contains("not valid JSON") == true, "\(byFile)")
        XCTAssertTrue(byFile["truncated.safetensors"]?.contains("too short") == true, "\(byFile)")
        XCTAssertNotNil(byFile["offsets_out_of_range.safetensors"])
        XCTAssertEqual(try store.lookup("good").count, 1)
    }

    func testUnreadableFoldersAndBadSidecars() throws {
        let dir = try Support.tempDir()
        try Support.writeLoRA(dir + "/ok.safetensors", metadata: [:])
        try Support.write(dir + "/ok.civitai.info", Array("{not json".utf8))
        let locked = dir + "/locked"
        try FileManager.default.createDirectory(atPath: locked, withIntermediateDirectories: true)
        try Support.writeLoRA(locked + "/hidden.safetensors", metadata: [:])
        chmod(locked, 0)
        defer { chmod(locked, 0o755) }
        let store = try CatalogStore(path: try Support.tempDir() + "/c.sqlite")
        let report = try FolderScanner(store: store).scan(dir)
        XCTAssertEqual(report.added, getuid() == 0 ? 2 : 1)  // root reads through chmod 0
        if getuid() != 0 { XCTAssertTrue(report.skipped.contains { $0.location == locked }) }
        XCTAssertTrue(report.notes.contains { $0.location.hasSuffix("ok.civitai.info") && $0.reason.contains("not valid JSON") })
        XCTAssertThrowsError(try FolderScanner(store: store).scan(dir + "/nope")) { e in
            XCTAssertEqual(e as? CatalogError, .unreadableInput(path: dir + "/nope", reason: "no such folder"))
        }
    }
}
