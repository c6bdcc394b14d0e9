import Foundation
import StylusCatalog
import StylusCore
import XCTest

/// An id with a NUL once became the id before it in SQLite and silently replaced that card.
final class ImportControlCharacterTests: XCTestCase {
    func testJSONLRejectsIdsAndAliasesWithControlCharacters() throws {
        let dir = try Support.tempDir()
        let store = try CatalogStore(path: dir + "/c.sqlite")
        let path = dir + "/cards.jsonl"
        try """
            {"adapter_id": "victim", "alias": "victim", "title": "The original"}
            {"adapter_id": "victim\\u0000evil", "alias": "evil", "title": "Replacement"}
            {"adapter_id": "tab\\tid", "alias": "tabbed"}
            {"adapter_id": "ok", "alias": "bell\\u0007"}
            {"adapter_id": "café-ü", "alias": "cafe"}
            """.write(toFile: path, atomically: true, encoding: .utf8)
        let report = try CatalogImporter(store: store).importFile(path)
        XCTAssertEqual(report.added, 2)
        XCTAssertEqual(report.updated, 0)
        let reasons = Dictionary(uniqueKeysWithValues: report.skipped.map { ($0.location, $0.reason) })
        XCTAssertEqual(reasons["cards.jsonl:2"], #"adapter_id "victim\u0000evil" contains the control character U+0000; use printable text"#)
        XCTAssertEqual(reasons["cards.jsonl:3"], #"adapter_id "tab\tid" contains the control character U+0009; use printable text"#)
        XCTAssertEqual(reasons["cards.jsonl:4"], #"alias "bell\u0007" contains the control character U+0007; use printable text"#)
        XCTAssertEqual(try store.lookup("victim").first?.card.title, "The original")
        XCTAssertNotNil(try store.lookup("café-ü").first)
    }

    func testCivitaiRejectsIdsWithControlCharacters() throws {
        let dir = try Support.tempDir()
        let store = try CatalogStore(path: dir + "/c.sqlite")
        let path = dir + "/models.json"
        try """
            {"items": [{"id": "9\\u00001", "name": "Evil", "type": "LORA",
              "modelVersions": [{"id": 5, "baseModel": "SD 1.5", "files": [{"name": "evil.safetensors", "primary": true}]}]}]}
            """.write(toFile: path, atomically: true, encoding: .utf8)
        let report = try CatalogImporter(store: store).importFile(path)
        XCTAssertEqual(report.added, 0)
        XCTAssertEqual(report.skipped.map(\.reason), [#"adapter_id "civitai-9\u00001" contains the control character U+0000; use printable text"#])
        XCTAssertEqual(try store.count, 0)
    }

    func testCLIImportNamesTheLine() throws {
        let dir = try Support.tempDir()
        let path = dir + "/cards.jsonl"
        try #"{"adapter_id": "victim\u0000evil", "alias": "evil"}"#.write(toFile: path, atomically: true, encoding: .utf8)
        let report = try CatalogImporter(store: try CatalogStore(path: dir + "/c.sqlite")).importFile(path)
        XCTAssertEqual(report.skipped.map(\.location), ["cards.jsonl:1"])
    }
}
