import Foundation
import StylusCore
import XCTest

/// The scorer Swift evaluates must give what the fitting script computed: the fixture holds feature
/// vectors from the benchmark and the probabilities scripts/fit_composer.py gave them under the
/// shipped model (`scripts/fit_composer.py --train dev --parity Tests/Fixtures/composer_parity.json`).
final class ComposerModelTests: XCTestCase {
    struct Fixture: Decodable {
        struct Case: Decodable { var x: [Double]; var semantic: Double; var lexical: Double }
        var feature_names: [String]
        var model: ComposerModel
        var cases: [Case]
    }

    func fixture() throws -> Fixture {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/composer_parity.json")
        return try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: url))
    }

    func testSwiftEvaluationMatchesTheFittingScript() throws {
        let f = try fixture()
        XCTAssertEqual(f.feature_names, ComposerFeatures.names, "the fixture was dumped by another feature layout: refit")
        XCTAssertGreaterThanOrEqual(f.cases.count, 20)
        for c in f.cases {
            XCTAssertEqual(f.model.semantic.probability(c.x), c.semantic, accuracy: 1e-9)
            XCTAssertEqual(f.model.lexical.probability(c.x), c.lexical, accuracy: 1e-9)
        }
    }

    func testTheFixtureIsTheShippedModel() throws {
        // A refit without regenerating the fixture would leave the parity test checking an old model.
        XCTAssertEqual(try fixture().model, ComposerModel.shipped)
    }

    func testTheShippedModelSeparatesAnExactNameFromAnUnrelatedAdapter() {
        let m = ComposerModel.shipped.semantic
        var exact = [Double](repeating: 0, count: ComposerFeatures.names.count)
        for (name, v) in [("cos_card", 0.6), ("cos_title", 0.9), ("cos_prompt_card", 0.45), ("cos_title_top", 1), ("retrieval_rank", 1),
                          ("lex_head_named", 1), ("lex_topic_coverage", 1), ("lex_title_coverage", 1), ("adapter_head_in_topic", 1),
                          ("adapter_head_related", 1), ("wn_same", 1), ("cos_tag", 1), ("cos_lead", 0.3)] {
            exact[ComposerFeatures.index[name]!] = v
        }
        var unrelated = [Double](repeating: 0, count: ComposerFeatures.names.count)
        for (name, v) in [("cos_card", 0.1), ("cos_title", 0.1), ("cos_card_gap", 0.4), ("cos_title_gap", 0.6), ("lex_title_extra", 1), ("cos_tag", 0.1), ("cos_lead", -0.4)] {
            unrelated[ComposerFeatures.index[name]!] = v
        }
        XCTAssertGreaterThan(m.probability(exact), m.threshold)
        XCTAssertLessThan(m.probability(unrelated), m.threshold)
    }

    func testAModelFileFromAnotherFeatureLayoutIsRejected() throws {
        var json = try JSONSerialization.jsonObject(with: JSONEncoder().encode(ComposerModel.shipped)) as! [String: Any]
        var semantic = json["semantic"] as! [String: Any]
        var features = semantic["features"] as! [String]
        features[0] = "no_such_feature"
        semantic["features"] = features
        json["semantic"] = semantic
        XCTAssertThrowsError(try ComposerModel.decode(JSONSerialization.data(withJSONObject: json))) { error in
            XCTAssertTrue("\(error)".contains("unknown feature 'no_such_feature'"), "\(error)")
        }
        semantic["features"] = Array(features.dropFirst())
        json["semantic"] = semantic
        XCTAssertThrowsError(try ComposerModel.decode(JSONSerialization.data(withJSONObject: json)))
        XCTAssertThrowsError(try ComposerModel.decode(Data("not json".utf8)))
    }

    func testAModelFileWithoutAFurtherThresholdAsksNothingBeyondTheThreshold() throws {
        var json = try JSONSerialization.jsonObject(with: JSONEncoder().encode(ComposerModel.shipped)) as! [String: Any]
        var semantic = json["semantic"] as! [String: Any]
        XCTAssertNotNil(semantic["furtherThreshold"], "the encoded model carries its further threshold")
        semantic["furtherThreshold"] = nil
        json["semantic"] = semantic
        let older = try ComposerModel.decode(JSONSerialization.data(withJSONObject: json)).semantic
        XCTAssertEqual(older.furtherThreshold, 0)
        XCTAssertEqual(older.acceptance(rank: 0), older.threshold)
        XCTAssertEqual(older.acceptance(rank: 2), older.threshold)
        semantic["furtherThreshold"] = 1.5
        json["semantic"] = semantic
        XCTAssertThrowsError(try ComposerModel.decode(JSONSerialization.data(withJSONObject: json))) { error in
            XCTAssertTrue("\(error)".contains("furtherThreshold must be in [0, 1)"), "\(error)")
        }
    }

    func testFurtherAdaptersOfATopicNeedTheFurtherThreshold() {
        let v = ComposerModel.Variant(features: ["cos_card"], mean: [0], scale: [1], weights: [1], bias: 0, threshold: 0.5,
                                      furtherThreshold: 0.8)
        XCTAssertEqual(v.acceptance(rank: 0), 0.5)
        XCTAssertEqual(v.acceptance(rank: 1), 0.8)
        // Never below the threshold, whatever the file says.
        let loose = ComposerModel.Variant(features: ["cos_card"], mean: [0], scale: [1], weights: [1], bias: 0, threshold: 0.5,
                                          furtherThreshold: 0.3)
        XCTAssertEqual(loose.acceptance(rank: 1), 0.5)
    }
}
