import Foundation
import StylusCore
import XCTest

/// The pure parts of the LLM composer: the two turns, strict parsing and mechanical validation.
/// (The conversation over real HTTP is tested in StylusCatalogTests and CLITests.)
final class LLMComposerTests: XCTestCase {
    /// The composer tests' cards plus a compound trap the LLM's answers name.
    static let catalog = ComposerTests.catalog + [ComposerTests.adapter("hotdog", "Hot Dog", tags: ["hot dog", "food"], category: .object)]

    let prompt = "a watercolor painting of a dog and a cat, <lora:cats:0.5>"
    var file: PromptFile { PromptFile(text: prompt) }
    var topics: [Topic] { file.topics }
    let options = ComposerOptions(baseModel: .sd15)

    func topic(_ word: String) throws -> Topic { try XCTUnwrap(topics.first { $0.keyword.contains(word) }, "\(topics.map(\.keyword))") }

    /// A selection naming the topic that contains `word` (ids per topic index).
    func selection(_ picks: [String: [String]]) throws -> [[String]] {
        var out = Array(repeating: [String](), count: topics.count)
        for (word, ids) in picks { out[try XCTUnwrap(topics.firstIndex { $0.keyword.contains(word) })] = ids }
        return out
    }

    func validate(_ picks: [String: [String]], options: ComposerOptions? = nil) throws -> Composition {
        try LLMComposer.validate(try selection(picks), topics: topics, candidates: Self.catalog, promptText: file.positiveText,
                                 options: options ?? self.options, model: "m1")
    }

    func testTurnsCarryPromptTopicsCandidatesAndRules() throws {
        let candidates = [ComposerTests.catalog[0], ComposerTests.adapter("wc", "Watercolor Dream", tags: ["watercolor"], category: .style,
                                                                           triggers: ["wcstyle"])]
        let first = LLMComposer.firstTurn(prompt: prompt, topics: topics, candidates: candidates, options: options)
        XCTAssertEqual(first.map(\.role), ["system", "user"])
        let user = first[1].content
        XCTAssertTrue(user.contains("Prompt: \"\(prompt)\""), user)
        XCTAssertTrue(user.contains("Base model: SD 1.5"))
        for t in topics { XCTAssertTrue(user.contains("\"\(t.keyword)\""), t.keyword) }
        XCTAssertTrue(user.contains("- id \"dogs\": Realistic Dogs (animal, SD 1.5)"), user)
        XCTAssertTrue(user.contains("- id \"wc\": Watercolor Dream (style, SD 1.5); trigger words: wcstyle"), user)
        for rule in ["broader", "narrower", "names that character", "at most 3 adapters per topic", "at most 2 style adapters", "Do not give the final answer"] {
            XCTAssertTrue(user.contains(rule), rule)
        }
        let second = LLMComposer.secondTurn(topics: topics, options: options)
        XCTAssertEqual(second.role, "user")
        let exampleLine = try XCTUnwrap(second.content.split(separator: "\n").last)
        let example = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(exampleLine.utf8)) as? [String: [Any]])
        XCTAssertEqual(Set(example.keys), Set(topics.map(\.keyword)), "the example names every topic exactly")
    }

    func testParsesStrictJSONPerTopic() throws {
        let dog = try topic("dog").keyword
        let fenced = "```json\n{\"\(dog.uppercased())\": [\"dogs\", 123], \"cat\": []}\n```"
        let parsed = try LLMComposer.parseAnswer(fenced, topics: topics)
        XCTAssertEqual(parsed, try selection(["dog": ["dogs", "123"]]), "keys match ignoring case; numeric ids become strings; missing topics are empty")
        XCTAssertEqual(try LLMComposer.parseAnswer("{}", topics: topics), Array(repeating: [], count: topics.count))
        XCTAssertEqual(try LLMComposer.parseAnswer("{\"\(dog)\": [\"a,]\\\",}\"]}", topics: topics), try selection(["dog": ["a,]\",}"]]),
                       "commas inside strings are not trailing commas")
    }

    func testRejectsAnswersThatAreNotTheJSONAskedFor() throws {
        let dog = try topic("dog").keyword
        let cases: [(String, (LLMComposeError) -> Bool)] = [
            ("   ", { $0 == .emptyReply }),
            ("Here is my answer: {\"\(dog)\": [\"dogs\"]}", { if case .malformed = $0 { return true }; return false }),
            ("{\"\(dog)\": [\"dogs\",]}", { $0 == .malformed("a trailing comma") }),
            ("{\"\(dog)\": [\"dogs\"], }", { $0 == .malformed("a trailing comma") }),
            ("{\"\(dog)\": \"dogs\"}", { if case .malformed = $0 { return true }; return false }),
            ("{\"\(dog)\": [{\"id\": \"dogs\"}]}", { if case .malformed = $0 { return true }; return false }),
            ("[\"dogs\"]", { if case .malformed = $0 { return true }; return false }),
            ("{\"a flying saucer\": [\"dogs\"]}", { if case .invalid = $0 { return true }; return false }),
        ]
        for (text, expected) in cases {
            XCTAssertThrowsError(try LLMComposer.parseAnswer(text, topics: topics), text) { error in
                XCTAssertTrue(expected(error as! LLMComposeError), "\(text): \(error)")
            }
        }
    }

    func testAcceptedAdaptersCarryAnLLMReason() throws {
        let c = try validate(["dog": ["dogs", "corgi"], "watercolor": ["watercolor"]])
        let dog = try XCTUnwrap(c.topics.first { $0.keyword.contains("dog") })
        XCTAssertEqual(dog.adapters.map(\.adapterID), ["dogs", "corgi"])
        XCTAssertEqual(dog.range, try topic("dog").range)
        XCTAssertTrue(dog.decisions.allSatisfy { $0.accepted && $0.reason.hasPrefix("llm: chosen by m1 for \"\(dog.keyword)\"") }, "\(dog.decisions)")
        XCTAssertEqual(c.presentAliases, ["cats"])
        let built = PromptBuilder.build(prompt: file.positiveText, composition: c)
        for tag in ["<lora:dogs:0.32>", "<lora:corgi:0.32>", "<lora:watercolor:0.64>"] { XCTAssertTrue(built.contains(tag), built) }
    }

    func testMechanicalRulesDropAdaptersWithTheirReason() throws {
        let c = try validate(["dog": ["dogs-xl", "lingerie", "dogs", "dogs", "corgi", "hotdog", "food"],
                              "cat": ["cats", "dogs", "watercolor", "pixel", "ukiyoe"]])
        XCTAssertEqual(c.topics.first { $0.keyword.contains("dog") }?.adapters.map(\.adapterID), ["dogs", "corgi", "hotdog"])
        XCTAssertEqual(c.topics.first { $0.keyword.contains("cat") }?.adapters.map(\.adapterID), ["watercolor", "pixel"])
        let rejected = Dictionary(c.topics.flatMap(\.decisions).filter { !$0.accepted }.map { ($0.adapterID, $0.reason) }, uniquingKeysWith: { a, b in a + " | " + b })
        XCTAssertEqual(rejected["dogs-xl"], "llm: chosen by m1, dropped: base model SDXL 1.0 differs from the prompt's SD 1.5")
        XCTAssertEqual(rejected["lingerie"], "llm: chosen by m1, dropped: NSFW adapter (NSFW not enabled)")
        XCTAssertTrue(rejected["dogs"]?.contains("named twice for this topic") == true, "\(rejected)")
        XCTAssertTrue(rejected["dogs"]?.contains("already used for") == true, "\(rejected)")
        XCTAssertEqual(rejected["food"], "llm: chosen by m1, dropped: topic already has 3 adapters")
        XCTAssertEqual(rejected["cats"], "llm: chosen by m1, dropped: already in the prompt")
        XCTAssertEqual(rejected["ukiyoe"], "llm: chosen by m1, dropped: at most 2 style adapters per prompt")
        // NSFW is allowed when enabled.
        let nsfw = try validate(["dog": ["lingerie"]], options: ComposerOptions(baseModel: .sd15, includeNSFW: true))
        XCTAssertEqual(nsfw.topics.flatMap(\.adapters).map(\.adapterID), ["lingerie"])
    }

    /// A style adapter the prompt already loads counts against the style limit, as in the built-in composer.
    func testLoadedStylesCountAgainstTheStyleLimit() throws {
        let styled = PromptFile(text: "a watercolor painting of a dog and a cat, <lora:glass:0.7>")
        let topics = styled.topics
        var picks = Array(repeating: [String](), count: topics.count)
        picks[try XCTUnwrap(topics.firstIndex { $0.keyword.contains("cat") })] = ["watercolor", "pixel"]
        let glass = try XCTUnwrap(Self.catalog.first { $0.card.adapterId == "glass" })
        let c = try LLMComposer.validate(picks, topics: topics, candidates: Self.catalog, promptText: styled.positiveText,
                                         options: options, model: "m1", loaded: [glass])
        XCTAssertEqual(c.topics.flatMap(\.adapters).map(\.adapterID), ["watercolor"])
        XCTAssertEqual(c.topics.flatMap(\.decisions).first { $0.adapterID == "pixel" }?.reason,
                       "llm: chosen by m1, dropped: at most 2 style adapters per prompt (it loads 1 already)")
    }

    func testAnInventedIDInvalidatesTheWholeAnswer() throws {
        XCTAssertThrowsError(try validate(["dog": ["dogs", "dogs-v2-ultra"]])) { error in
            XCTAssertEqual(error as? LLMComposeError, .invalid("adapter id \"dogs-v2-ultra\" is not among the candidates"))
        }
    }

    func testShownCandidatesSkipWhatTheRulesWouldDrop() {
        let shown = LLMComposer.shownCandidates(whole: Self.catalog, perTopic: [[Self.catalog.first { $0.card.adapterId == "food" }!, Self.catalog[1]]],
                                                options: options, promptText: file.positiveText, limit: 10)
        let ids = shown.map(\.card.adapterId)
        XCTAssertEqual(ids.first, "food", "each topic's own candidates come first")
        XCTAssertEqual(ids.count, 10)
        XCTAssertFalse(ids.contains("dogs-xl"), "other base model")
        XCTAssertFalse(ids.contains("cats"), "already in the prompt")
        XCTAssertEqual(Set(ids).count, ids.count)
    }
}
