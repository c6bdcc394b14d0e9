import StylusCatalog
import StylusCore
import TestSupport
import XCTest

/// The WordNet reader on Debian's wordnet-base (installed by scripts/setup).
final class WordNetTests: XCTestCase {
    func wordNet() throws -> WordNet {
        try RequiredFiles.require(WordNet.defaultDirectory + "/data.noun", "WordNet 3.0 (Debian wordnet-base)")
        return try WordNet()
    }

    func testSynonymsAndIsAChains() throws {
        let wn = try wordNet()
        XCTAssertEqual(wn.relation("couch", "sofa"), .same)
        guard case .narrower(let d) = wn.relation("corgi", "dog") else { return XCTFail("corgi is a dog") }
        XCTAssertLessThanOrEqual(d, 3)
        guard case .narrower = wn.relation("harpy eagle", "bird of prey") else { return XCTFail("a harpy eagle is a bird of prey") }
        guard case .broader = wn.relation("dog", "poodle") else { return XCTFail("poodle is narrower than dog") }
        XCTAssertEqual(wn.relation("skyscraper", "pancake"), .unrelated)
        XCTAssertEqual(wn.relation("zxqv", "dog"), .unrelated)
    }

    func testPluralsAndKinds() throws {
        let wn = try wordNet()
        XCTAssertFalse(wn.senses(of: "foxes").isEmpty)
        XCTAssertFalse(wn.senses(of: "mice").isEmpty, "irregular plural from noun.exc")
        XCTAssertEqual(wn.kind(of: "fox"), LexicographerFile.animal)
        XCTAssertEqual(wn.kind(of: "sofa"), LexicographerFile.artifact)
        XCTAssertEqual(wn.kind(of: "girl"), LexicographerFile.person)
        XCTAssertTrue(wn.senses(of: "").isEmpty)
        XCTAssertTrue(wn.senses(of: String(repeating: "a", count: 500)).isEmpty)
    }

    func testCommonNounsAndNames() throws {
        let wn = try wordNet()
        XCTAssertTrue(wn.isCommonWord("fern"))
        XCTAssertTrue(wn.isCommonWord("ferns"))
        XCTAssertTrue(wn.isCommonWord("power"))
        XCTAssertFalse(wn.isCommonWord("einstein"), "WordNet writes the physicist capitalised")
        XCTAssertTrue(wn.isCommonWord("wednesday"), "capitalised, but a day, not a person")
        XCTAssertTrue(wn.isCommonWord("tokyo"), "capitalised, but a place, not a person")
        XCTAssertFalse(wn.isCommonWord("zelda"), "unknown words are names")
        XCTAssertTrue(wn.isCommonWord("arcane"), "an adjective")
        XCTAssertTrue(wn.isCommonWord("swirling"), "a verb form")
        XCTAssertTrue(wn.isCommonWord("quickly"), "an adverb")
    }

    func testAMissingOrForeignFolderIsAClearError() throws {
        XCTAssertThrowsError(try WordNet(directory: "/nonexistent")) { XCTAssertTrue("\($0)".contains("wordnet-base"), "\($0)") }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("wn-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try Data("not wordnet".utf8).write(to: dir.appendingPathComponent("index.noun"))
        try Data("x".utf8).write(to: dir.appendingPathComponent("data.noun"))
        XCTAssertThrowsError(try WordNet(directory: dir.path))
    }
}
