import Foundation
import StylusCatalog
import StylusCore
import XCTest

/// StylusDocs JSONL and Civitai API JSON importers against committed fixtures
/// (scripts/gen_catalog_fixtures.py).
final class ImporterTests: XCTestCase {
    func store() throws -> CatalogStore { try CatalogStore(path: try Support.tempDir() + "/c.sqlite") }

    func testJSONLReportsBadLinesByNumberAndKeepsTheRest() throws {
        let s = try store()
        let report = try CatalogImporter(store: s).importFile(Support.fixture("stylusdocs.jsonl"))
        XCTAssertEqual(report.added, 4)  // t-001, t-004, t-006, t-011
        let reasons = Dictionary(uniqueKeysWithValues: report.skipped.map { ($0.location, $0.reason) })
        XCTAssertTrue(reasons["stylusdocs.jsonl:2"]?.hasPrefix("not valid JSON") == true, "\(reasons)")
        XCTAssertEqual(reasons["stylusdocs.jsonl:3"], "missing adapter_id")
        XCTAssertEqual(reasons["stylusdocs.jsonl:7"], "expected a JSON object, found an array")
        XCTAssertTrue(reasons["stylusdocs.jsonl:8"]?.contains("cannot be used in <lora:") == true)
        XCTAssertEqual(reasons["stylusdocs.jsonl:9"], "adapter t-009: weight must be a number or null")
        XCTAssertEqual(reasons["stylusdocs.jsonl:10"], "not valid UTF-8")
        XCTAssertEqual(report.skipped.count, 6, "the empty line 5 is not an error")
        XCTAssertEqual(try s.count, 4)

        let boat = try XCTUnwrap(s.lookup("paperboat_v1").first)
        XCTAssertEqual(boat.refinement.weight, 0.7)  // stated range beats the prompt's 0.9
        XCTAssertEqual(boat.refinement.weightSource, .description)
        XCTAssertEqual(boat.refinement.category, .object)
        XCTAssertEqual(boat.card.downloadCount, 12)
        XCTAssertEqual(boat.card.baseModel, .sd15)
        // Unknown fields are kept.
        let extra = try XCTUnwrap(boat.extra)
        XCTAssertTrue(extra.contains("\"favorite\":true") && extra.contains("\"my_notes\""), extra)

        let koi = try XCTUnwrap(s.lookup("t-006").first)
        XCTAssertEqual(koi.refinement.weight, 0.7)  // median of 0.5, 0.7, 1.2
        XCTAssertEqual(koi.card.baseModel, .pony)
        XCTAssertEqual(try s.lookup("t-004").first?.card.baseModel, .sdxl)  // "sdxl" normalised
        XCTAssertEqual(try s.lookup("last_ok").first?.refinement.cleanDescription, "<b>bold</b> ink look")
    }

    func testPrecomputedEmbeddingsStoredOnlyForOurModel() throws {
        let s = try store()
        let report = try CatalogImporter(store: s).importFile(Support.fixture("stylusdocs.jsonl"))
        XCTAssertEqual(report.embeddingsStored, 1)
        XCTAssertTrue(report.notes.contains { $0.location == "stylusdocs.jsonl:6" && $0.reason.contains("text-embedding-3-large") })
        let vectors = try s.embeddings(model: EmbeddingVector.modelID)
        XCTAssertEqual(vectors.map(\.adapterID), ["t-004"])
        XCTAssertEqual(vectors[0].vector.count, 384)
        XCTAssertEqual(vectors[0].vector[0], 1)
    }

    func testReimportIsIdempotent() throws {
        let s = try store()
        _ = try CatalogImporter(store: s).importFile(Support.fixture("stylusdocs.jsonl"))
        let again = try CatalogImporter(store: s).importFile(Support.fixture("stylusdocs.jsonl"))
        XCTAssertEqual(again.added, 0)
        XCTAssertEqual(again.updated, 0)
        XCTAssertEqual(again.unchanged, 4)
        XCTAssertEqual(try s.embeddings(model: EmbeddingVector.modelID).count, 1)
    }

    func testMissingAndUnreadableFilesAreClearErrors() throws {
        let s = try store()
        XCTAssertThrowsError(try CatalogImporter(store: s).importFile("/nonexistent/x.jsonl")) { e in
            XCTAssertEqual(e as? CatalogError, .unreadableInput(path: "/nonexistent/x.jsonl", reason: "no such file"))
        }
        let dir = try Support.tempDir()
        XCTAssertThrowsError(try CatalogImporter(store: s).importFile(dir, format: .jsonl)) { e in
            XCTAssertEqual(e as? CatalogError, .unreadableInput(path: dir, reason: "is a directory"))
        }
        let bad = dir + "/bad.json"
        try Support.write(bad, Array("{\"items\": [".utf8))
        XCTAssertThrowsError(try CatalogImporter(store: s).importFile(bad)) { e in
            XCTAssertTrue("\(e)".contains("not valid JSON"), "\(e)")
        }
    }

    func testHugeLineIsSkippedNotLoaded() throws {
        let path = try Support.tempDir() + "/huge.jsonl"
        var text = "{\"adapter_id\": \"h1\", \"alias\": \"h1\"}\n{\"adapter_id\": \"h2\", \"description\": \""
        text += String(repeating: "x", count: 3 << 20) + "\"}\n{\"adapter_id\": \"h3\", \"alias\": \"h3\"}\n"
        try Support.write(path, Array(text.utf8))
        var importer = CatalogImporter(store: try store())
        importer.batchSize = 1
        let report = try withExtendedLifetime(importer) { try $0.importJSONL(path) }
        XCTAssertEqual(report.added, 2)
        XCTAssertEqual(report.skipped.map(\.location), ["huge.jsonl:2"])  // missing alias (the line itself is read fine)
    }

    func testCivitaiModelsPage() throws {
        let s = try store()
        let report = try CatalogImporter(store: s).importFile(Support.fixture("civitai_models_page.json"))
        // Rusty Robots: one adapter per base model (SDXL newest, SD 1.5 newest; the older SD 1.5 version is skipped).
        XCTAssertEqual(Set(try s.allEntries().map(\.card.adapterId)),
                       ["civitai-9001", "civitai-9001@19000", "civitai-9003", "civitai-9004"])
        XCTAssertEqual(report.added, 4)
        XCTAssertTrue(report.skipped.contains { $0.reason.contains("type Checkpoint is not a LoRA-style adapter") })
        XCTAssertTrue(report.skipped.contains { $0.location.hasSuffix("items[4]") && $0.reason.contains("found a string") })

        let robots = try XCTUnwrap(s.lookup("civitai-9001").first)
        XCTAssertEqual(robots.card.alias, "rusty_robots_xl")
        XCTAssertEqual(robots.card.baseModel, .sdxl)
        XCTAssertEqual(robots.card.triggerWords, ["rustbot"])
        XCTAssertEqual(robots.refinement.weight, 0.7)  // "Recommended weight: <strong>0.7</strong>"
        XCTAssertEqual(robots.refinement.category, .concept)
        XCTAssertEqual(robots.card.imagePrompts, ["rustbot, a robot in a field <lora:rusty_robots_xl:0.8>"])
        XCTAssertEqual(robots.negativePrompts, ["lowres"])
        XCTAssertFalse(robots.refinement.refinedDescription.contains("Patreon"))
        XCTAssertTrue(robots.extra?.contains("\"AutoV3\":\"0123456789AB\"") == true)
        XCTAssertEqual(try s.lookup("rusty_robots").first?.card.baseModel, .sd15)
        XCTAssertEqual(try s.lookup("velvet_dress_pony").first?.card.type, "LoCon")
        XCTAssertEqual(try s.lookup("lewd").first?.card.nsfw, true)
    }

    func testCivitaiModelArrayAndVersions() throws {
        let s = try store()
        let arrayReport = try CatalogImporter(store: s).importFile(Support.fixture("civitai_models_array.json"))
        XCTAssertEqual(arrayReport.added, 3)
        let versions = try CatalogImporter(store: s).importFile(Support.fixture("civitai_model_versions.json"))
        XCTAssertEqual(versions.added, 2)
        XCTAssertTrue(versions.skipped.contains { $0.reason.contains("empty record") })
        let gold = try XCTUnwrap(s.lookup("gold_leaf_xl").first)
        XCTAssertEqual(gold.card.adapterId, "civitai-8000")
        XCTAssertEqual(gold.card.title, "Gold Leaf")
        XCTAssertEqual(gold.card.triggerWords, ["goldleaf, gilded", "second prompt"])
        XCTAssertEqual(gold.refinement.weight, 0.75)
        XCTAssertEqual(try s.lookup("illu").first?.card.baseModel, .illustrious)
    }

    func testStarterCatalogIsImportedIntoANewDefaultCatalogOnly() throws {
        let home = try Support.tempDir()
        let env = ["STYLUS_HOME": home]
        let (store, seeded) = try StarterCatalog.open(explicit: nil, environment: env)
        XCTAssertEqual(store.path, home + "/catalog.sqlite")
        let report = try XCTUnwrap(seeded)
        XCTAssertGreaterThanOrEqual(report.added, 150)
        XCTAssertEqual(report.skipped, [])
        let stats = try store.stats()
        XCTAssertEqual(Set(stats.byCategory.keys), Set(AdapterCategory.allCases.map(\.rawValue)))
        XCTAssertEqual(Set(stats.byBaseModel.keys), ["SD 1.5", "SDXL 1.0", "Pony"])
        // Second open: already there, not re-seeded. An explicit --db is never seeded.
        XCTAssertNil(try StarterCatalog.open(explicit: nil, environment: env).seeded)
        XCTAssertNil(try StarterCatalog.open(explicit: home + "/other.sqlite", environment: env).seeded)
        XCTAssertEqual(try CatalogStore(path: home + "/other.sqlite").count, 0)
    }
}
