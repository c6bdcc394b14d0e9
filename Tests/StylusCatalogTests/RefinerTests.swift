import StylusCore
import XCTest

/// The offline refiner's rules, each on small hand-written cards.
final class RefinerTests: XCTestCase {
    func card(_ description: String = "", weight: Double? = nil, prompts: [String] = [], tags: [String] = [],
              title: String = "T", alias: String = "t_v1", triggers: [String] = [], training: [String] = []) -> AdapterCard {
        AdapterCard(adapterId: "x", alias: alias, title: title, baseModel: .sd15, tags: tags, triggerWords: triggers,
                    description: description, weight: weight, imagePrompts: prompts, trainingTags: training)
    }

    // MARK: weight order

    func testStructuredWeightWinsOverText() {
        let r = OfflineRefiner.recommendedWeight(card("weight 0.5", weight: 0.9, prompts: ["<lora:t_v1:0.3>"]))
        XCTAssertEqual(r.0, 0.9)
        XCTAssertEqual(r.1, .field)
    }

    func testRangeMidpointFromDescription() {
        XCTAssertEqual(WeightEvidence.statedWeight(in: "<p>Realistic flames.</p><p>0.6-0.8</p>"), 0.7)
        XCTAssertEqual(WeightEvidence.statedWeight(in: "use 0.5 to 1"), 0.75)
        XCTAssertEqual(WeightEvidence.statedWeight(in: "着物LoRA。ウェイト 0.6〜0.8"), 0.7)
        XCTAssertEqual(WeightEvidence.statedWeight(in: "权重0.7-0.9"), 0.8)
        XCTAssertEqual(WeightEvidence.statedWeight(in: "0.7 - 0.9 works"), 0.8)
        XCTAssertEqual(WeightEvidence.statedWeight(in: "weight 0.6~0.9"), 0.75)
    }

    func testSingleStatedWeight() {
        XCTAssertEqual(WeightEvidence.statedWeight(in: "おすすめのウェイトは0.7前後です。"), 0.7)
        XCTAssertEqual(WeightEvidence.statedWeight(in: "<p>Steampunk. Recommended weight <b>0.7</b>.</p>"), 0.7)
        XCTAssertEqual(WeightEvidence.statedWeight(in: "v1. 0.8"), 0.8)
        XCTAssertEqual(WeightEvidence.statedWeight(in: "Range -2 to 2. 1.0 is a good default"), 1.0)
    }

    func testNumbersThatAreNotWeights() {
        XCTAssertNil(WeightEvidence.statedWeight(in: "v1.1"))
        XCTAssertNil(WeightEvidence.statedWeight(in: "modern houses for sd1.5"))
        XCTAssertNil(WeightEvidence.statedWeight(in: "XL version of my 1.5 lora"))
        XCTAssertNil(WeightEvidence.statedWeight(in: "1.5 is terrible at cars, this helps"))
        XCTAssertNil(WeightEvidence.statedWeight(in: "trained on 300 imgs, 1.5k steps, 8x upscale, 2.39:1 ratio"))
        XCTAssertNil(WeightEvidence.statedWeight(in: "v1.2 - lowered the saturation, v1.1 was way too pink"))
        XCTAssertEqual(WeightEvidence.statedWeight(in: "teal & orange, 2.39:1 feel. weight 0.5-0.8"), 0.65)
        XCTAssertNil(WeightEvidence.statedWeight(in: "hires fix with denoising strength 0.45, cfg 6.5, shot at f/1.8"))
        XCTAssertEqual(WeightEvidence.statedWeight(in: "denoise 0.4 for hires. lora weight 0.7"), 0.7)
        XCTAssertEqual(WeightEvidence.statedWeight(in: "30 steps, weight 0.8"), 0.8)
    }

    func testMedianOfExamplePromptsThenDefault() {
        let c = card(prompts: ["a <lora:t_v1:0.5>", "b <lora:T_V1:0.7> <lora:other:0.1>", "c <lora:t_v1:1.2:0.5>"])
        XCTAssertEqual(OfflineRefiner.recommendedWeight(c).0, 0.7)
        XCTAssertEqual(OfflineRefiner.recommendedWeight(c).1, .examplePrompts)
        XCTAssertEqual(OfflineRefiner.recommendedWeight(card(prompts: ["<lora:t_v1:0.6>", "<lora:t_v1:0.8>"])).0, 0.7)
        let none = OfflineRefiner.recommendedWeight(card("no numbers here", prompts: ["<lora:someone_else:0.3>"]))
        XCTAssertEqual(none.0, 0.8)
        XCTAssertEqual(none.1, .defaultValue)
        // The file stem also names the adapter in prompts (A1111 resolves both).
        XCTAssertEqual(OfflineRefiner.recommendedWeight(card(prompts: ["<lora:file_stem:0.55>"]), fileStem: "file_stem").0, 0.55)
    }

    // MARK: text cleaning

    func testHTMLAndBoilerplateStripped() {
        let raw = """
            <p>Soft <b>watercolor</b> look &amp; paper texture.</p><ul><li>v2 - fixed blue tint</li><li>v1 - first</li></ul>
            <p>Support me on <a href="https://patreon.com/x">Patreon</a>!</p><p>https://example.com/gallery</p>
            <script>alert(1)</script><p>Changelog</p><p>Works great on portraits &#127912;</p>
            """
        let clean = CardText.clean(raw)
        XCTAssertTrue(clean.contains("Soft watercolor look & paper texture."), clean)
        XCTAssertTrue(clean.contains("Works great on portraits 🎨"), clean)
        for gone in ["Patreon", "https://", "v2 - fixed", "alert", "Changelog", "<"] {
            XCTAssertFalse(clean.contains(gone), "\(gone) left in: \(clean)")
        }
    }

    func testHTMLSoupNeverCrashes() {
        let soup = "<<<p>>> <a href='x' <b>unterminated <div" + String(repeating: "<i>", count: 2000) + "&#xZZZ; &#99999999; &bogus;"
        let clean = CardText.clean(soup)
        XCTAssertFalse(clean.contains("<i>"))
        XCTAssertTrue(clean.contains("&bogus;"))
    }

    // MARK: category, character, triggers, description

    func testCategoryFromTagsThenCues() {
        XCTAssertEqual(CategoryRules.category(tags: ["anime", "character", "clothing"], title: "", triggerWords: [], description: ""), .character)
        XCTAssertEqual(CategoryRules.category(tags: ["poses"], title: "", triggerWords: [], description: ""), .pose)
        XCTAssertEqual(CategoryRules.category(tags: ["outfit", "red"], title: "", triggerWords: [], description: ""), .clothing)
        XCTAssertEqual(CategoryRules.category(tags: [], title: "Vintage Motorcycle", triggerWords: [], description: "cafe racers"), .vehicle)
        XCTAssertEqual(CategoryRules.category(tags: [], title: "Watercolor Style", triggerWords: [], description: ""), .style)
        XCTAssertEqual(CategoryRules.category(tags: [], title: "Detail Slider", triggerWords: [], description: "adds detail"), .tool)
        XCTAssertEqual(CategoryRules.category(tags: [], title: "Rem", triggerWords: ["rem_(re:zero)"], description: ""), .character)
        XCTAssertEqual(CategoryRules.category(tags: [], title: "Zzz", triggerWords: [], description: ""), .concept)
    }

    func testCharacterFlagFollowsCategory() {
        XCTAssertTrue(OfflineRefiner.refine(card(tags: ["celebrity"])).isCharacter)
        XCTAssertTrue(OfflineRefiner.refine(card(tags: ["character"])).isCharacter)
        XCTAssertFalse(OfflineRefiner.refine(card(tags: ["clothing"])).isCharacter)
    }

    func testTriggerWordSources() {
        XCTAssertEqual(OfflineRefiner.refine(card(triggers: [" abc ", "abc", "", "d, e"])).triggerWords, ["abc", "d, e"])
        XCTAssertEqual(OfflineRefiner.refine(card("Use trigger wcxl. Strength 0.8")).triggerWords, ["wcxl"])
        XCTAssertEqual(OfflineRefiner.refine(card("no trigger needed, just put it in")).triggerWords, [])
        // A negation in the card's language: "sin trigger" is Spanish for "no trigger", not a trigger "감사합니다".
        XCTAssertEqual(OfflineRefiner.refine(card("36 imgs, epoch 10. sin trigger 감사합니다")).triggerWords, [])
        XCTAssertEqual(OfflineRefiner.refine(card("Sans trigger, poids 0.8")).triggerWords, [])
        XCTAssertEqual(OfflineRefiner.refine(card("notrigger? Use trigger nosin")).triggerWords, ["nosin"])
        // "No trigger word" in Chinese and "trigger word: none" in Japanese; a number is no trigger.
        XCTAssertEqual(OfflineRefiner.refine(card("concept: dragon 无触发词 first lora, be gentle")).triggerWords, [])
        XCTAssertEqual(OfflineRefiner.refine(card("トリガーワードなし please post your images")).triggerWords, [])
        XCTAssertEqual(OfflineRefiner.refine(card("trigger: 0.8")).triggerWords, [])
        XCTAssertEqual(OfflineRefiner.refine(card("触发词: 水彩画")).triggerWords, ["水彩画"])
        XCTAssertEqual(OfflineRefiner.refine(card("触发词: 无脸男")).triggerWords, ["无脸男"])
        XCTAssertEqual(OfflineRefiner.refine(card(training: ["1girl", "mychar", "solo", "blue cape", "x", "y"])).triggerWords,
                       ["mychar", "blue cape", "x"])
    }

    func testRefinedDescriptionIsConciseAndInformative() {
        let r = OfflineRefiner.refine(card("<p>Thick impasto oil paint, palette knife marks.</p><p>weight 0.8</p><p>ko-fi.com/me</p>"
                                           + String(repeating: "More words here. ", count: 60),
                                           tags: ["style", "oil painting"], title: "Impasto Oil", triggers: ["impasto"]))
        XCTAssertTrue(r.refinedDescription.hasPrefix("Impasto Oil: art style adapter (SD 1.5). Thick impasto oil paint, palette knife marks."))
        XCTAssertTrue(r.refinedDescription.contains("Tags: oil painting."))
        XCTAssertTrue(r.refinedDescription.contains("Trigger: impasto."))
        XCTAssertFalse(r.refinedDescription.contains("weight 0.8"))
        XCTAssertFalse(r.refinedDescription.contains("ko-fi"))
        XCTAssertLessThan(r.refinedDescription.count, 450)
    }

    func testBaseModelNormalisation() {
        XCTAssertEqual(BaseModel("SD 1.5"), .sd15)
        XCTAssertEqual(BaseModel("sd_v1"), .sd15)
        XCTAssertEqual(BaseModel("SD1"), .sd15)
        XCTAssertEqual(BaseModel("sdxl_base_v1-0"), .sdxl)
        XCTAssertEqual(BaseModel("stable-diffusion-xl-v1-base/lora"), .sdxl)
        XCTAssertEqual(BaseModel("SDXL"), .sdxl)
        XCTAssertEqual(BaseModel("Pony"), .pony)
        XCTAssertEqual(BaseModel("Pony Diffusion V6 XL"), .pony)
        XCTAssertEqual(BaseModel("Illustrious"), .illustrious)
        XCTAssertEqual(BaseModel("flux1"), .flux1D)
        XCTAssertEqual(BaseModel("Hunyuan 1")?.name, "Hunyuan 1")
        XCTAssertNil(BaseModel("Unknown"))
        XCTAssertNil(BaseModel("  "))
        XCTAssertEqual(BaseModel.pony.architecture, "sdxl")
        XCTAssertEqual(AdapterCategory(tag: "Buildings"), .building)
        // Names in any case, plurals, blanks around: the lookup and its fast refusal agree.
        for (tag, category) in [("style", AdapterCategory.style), ("poses", .pose), (" Celebrities\t", .celebrity),
                                ("CLOTHES", .clothing), ("\u{3000}tool", .tool)] {
            XCTAssertEqual(AdapterCategory(tag: tag), category, tag)
        }
        for tag in ["watercolor", "ink wash", "styles of art", "", "stylé", "toolz"] {
            XCTAssertNil(AdapterCategory(tag: tag), tag)
        }
        XCTAssertEqual(AdapterCategory(tag: "style "), .style)
    }
}
