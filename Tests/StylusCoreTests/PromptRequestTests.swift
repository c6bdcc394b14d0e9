import StylusCore
import XCTest

/// The one reading of composing settings: overrides, then frontmatter, then the front end's default.
final class PromptRequestTests: XCTestCase {
    let text = "---\nbase_model: SDXL 1.0\ndebias: best quality\nrestore_concepts: true\nnsfw: true\n---\na dog and a cat\n"

    func testOverridesBeatFrontmatterWhichBeatsTheDefault() {
        let plain = PromptRequest(text: "a dog", defaultBaseModel: .sd15)
        XCTAssertEqual(plain.baseModel, .sd15)
        XCTAssertFalse(plain.includeNSFW)
        XCTAssertNil(plain.debias)
        XCTAssertFalse(plain.restoreConcepts)

        let file = PromptRequest(text: text, defaultBaseModel: .sd15)
        XCTAssertEqual(file.baseModel, BaseModel("SDXL 1.0"))
        XCTAssertTrue(file.includeNSFW)
        XCTAssertEqual(file.debias, "best quality")
        XCTAssertTrue(file.restoreConcepts)
        XCTAssertEqual(file.composeRequest.debias, "best quality")
        XCTAssertTrue(file.composeRequest.restoreConcepts)

        let overridden = PromptRequest(text: text, overrides: ComposeOverrides(baseModel: .sd15, includeNSFW: false, debias: "", restoreConcepts: false))
        XCTAssertEqual(overridden.baseModel, .sd15)
        XCTAssertFalse(overridden.composeRequest.includeNSFW)
        XCTAssertFalse(overridden.composeRequest.restoreConcepts)
    }

    func testComposedPromptMatchesThePromptBuilderAndLeavesAdaptersOutWithoutEditingText() throws {
        let text = "---\ndebias: best quality\nrestore_concepts: true\n---\na corgi dog in a temple, ruins\n"
        let request = PromptRequest(text: text)
        let composition = Composer.compose(topics: request.file.topics, candidates: ComposerTests.catalog, promptText: request.file.positiveText,
                                           options: ComposerOptions(baseModel: .sd15, model: ComposerTests.testModel),
                                           evidence: ComposeEvidence(knowledge: TinyWordNet()))
        let composed = request.composedPrompt(composition)
        XCTAssertGreaterThanOrEqual(composed.adapters.count, 2, "\(composition.topics.map { $0.adapters })")
        XCTAssertEqual(composed.text(), PromptBuilder.build(prompt: request.file.positiveText, composition: composition, debias: "best quality",
                                                            restoreConcepts: true, rangeOffset: request.file.positive.range.utf8.lowerBound))
        for a in composed.adapters {
            let topic = composition.topics[a.topic]
            let recommended = try XCTUnwrap(topic.adapters.first { $0.adapterID == a.adapterID }).recommendedWeight
            XCTAssertEqual(a.weight, PromptBuilder.weight(recommended: recommended, activeInTopic: topic.adapters.count))
            XCTAssertEqual(a.tag, "<lora:\(a.alias):\(PromptBuilder.format(a.weight))>")
        }
        XCTAssertTrue(composed.text().hasPrefix(composed.body + ", <lora:"))
        XCTAssertTrue(composed.body.hasSuffix(", best quality"), composed.body)
        // Leaving the first adapter out removes its tag and nothing else.
        let rest = Array(composed.adapters.dropFirst())
        XCTAssertEqual(composed.text(keeping: rest), composed.text().replacingOccurrences(of: ", " + composed.adapters[0].tag, with: ""))
        // A mask with every adapter off: no tags, every topic restored.
        let off = composition.topics.map { $0.adapters.map { _ in false } }
        XCTAssertEqual(composition.tags(mask: off), [])
        let restored = request.composedPrompt(composition, mask: off).text()
        for topic in composition.topics { XCTAssertTrue(restored.contains("(\(topic.keyword):1.1)"), restored) }
    }

    /// The trigger words a composed prompt adds are those of the adapters a mask keeps that the
    /// prompt lacks (its own `<lora:…>` tags do not count), once each, before the tags; the same
    /// text as the pipeline's `promptWithAdapters`; none when the request turns them off.
    func testTriggerWordsFollowTheMaskThePromptAndTheSetting() throws {
        let candidates = [
            ComposerTests.adapter("watercolor", "Watercolor Dream", tags: ["watercolor", "painting"], category: .style, triggers: ["wtrclr", "aquarelle"]),
            ComposerTests.adapter("temple", "Japanese Temples & Shrines", tags: ["temple", "shrine"], category: .building, triggers: ["jptemple"]),
        ]
        let text = "---\nbase_model: SD 1.5\n---\na watercolor painting of a temple, <lora:old_jptemple:0.5>\n"
        let request = PromptRequest(text: text)
        let composition = Composer.compose(topics: request.file.topics, candidates: candidates, promptText: request.file.positiveText,
                                           options: ComposerOptions(baseModel: .sd15, model: ComposerTests.testModel),
                                           evidence: ComposeEvidence(knowledge: TinyWordNet()))
        XCTAssertEqual(Set(composition.weightedAdapters().map(\.alias)), ["watercolor", "temple"], "\(composition.topics.map(\.decisions))")
        let search = request.file.triggerSearchText
        XCTAssertEqual(Set(PromptBuilder.missingTriggerWords(composition, in: search)), ["wtrclr", "jptemple"],
                       "a tag's alias is no trigger word")
        let all = request.composedPrompt(composition)
        XCTAssertTrue(all.body.hasSuffix("<lora:old_jptemple:0.5>, wtrclr, jptemple") || all.body.hasSuffix("<lora:old_jptemple:0.5>, jptemple, wtrclr"), all.body)
        XCTAssertEqual(all.text(), PromptBuilder.build(prompt: request.file.positiveText, composition: composition,
                                                       rangeOffset: request.file.positive.range.utf8.lowerBound,
                                                       triggerWords: PromptBuilder.missingTriggerWords(composition, in: search)))
        // A mask that keeps only the temple adapter adds only its trigger word.
        let templeOnly = composition.topics.map { $0.adapters.map { $0.alias == "temple" } }
        let masked = request.composedPrompt(composition, mask: templeOnly)
        XCTAssertTrue(masked.body.hasSuffix(", jptemple") && !masked.body.contains("wtrclr"), masked.body)
        // A trigger word already written (any of an adapter's) is not added again.
        let written = PromptRequest(text: text.replacingOccurrences(of: "a watercolor", with: "an aquarelle, a watercolor"))
        XCTAssertEqual(PromptBuilder.missingTriggerWords(composition, in: written.file.triggerSearchText), ["jptemple"])
        // Turned off: the body is the prompt as written.
        let off = PromptRequest(text: text, overrides: ComposeOverrides(addTriggerWords: false))
        XCTAssertFalse(off.composeRequest.addTriggerWords)
        XCTAssertEqual(off.composedPrompt(composition).body, request.file.positiveText.trimmingCharacters(in: .whitespacesAndNewlines))
    }
}
