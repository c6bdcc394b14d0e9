import StylusCore
import XCTest

/// Each composer rule on a small in-memory catalog (real cards and refinements, no retriever needed).
final class ComposerTests: XCTestCase {
    static func adapter(_ id: String, _ title: String, tags: [String], base: BaseModel = .sd15,
                        category: AdapterCategory, weight: Double = 0.8, nsfw: Bool = false,
                        triggers: [String] = [], downloads: Int = 100) -> CandidateAdapter {
        let card = AdapterCard(adapterId: id, alias: id, title: title, baseModel: base, tags: [category.rawValue] + tags,
                               triggerWords: triggers, weight: weight, nsfw: nsfw, downloadCount: downloads)
        let refinement = AdapterRefinement(category: category, isCharacter: category.isCharacterLike, weight: weight,
                                           weightSource: .field, triggerWords: triggers, refinedDescription: title,
                                           cleanDescription: title)
        return CandidateAdapter(card: card, refinement: refinement, score: 1)
    }

    static let catalog: [CandidateAdapter] = [
        adapter("dogs", "Realistic Dogs", tags: ["dog", "pets"], category: .animal),
        adapter("dogs-xl", "Dogs XL", tags: ["dog"], base: .sdxl, category: .animal),
        adapter("corgi", "Corgi", tags: ["corgi", "dog breed"], category: .animal),
        adapter("clifford", "Clifford the Big Red Dog", tags: ["clifford", "cartoon", "dog"], category: .character),
        adapter("hotdog", "Hot Dog", tags: ["hot dog", "food"], category: .object),
        adapter("food", "Food Photography", tags: ["food", "photography"], category: .concept),
        adapter("cats", "Realistic Cats", tags: ["cat", "pets"], category: .animal),
        adapter("catgirl", "Catgirl / Nekomimi", tags: ["catgirl", "animal ears"], category: .concept),
        adapter("temple", "Japanese Temples & Shrines", tags: ["temple", "shrine", "japan"], category: .building),
        adapter("watercolor", "Watercolor Dream", tags: ["watercolor", "painting"], category: .style),
        adapter("pixel", "8-bit Pixel Style", tags: ["pixel art", "retro"], category: .style),
        adapter("ukiyoe", "Ukiyo-e Woodblock Print", tags: ["ukiyo-e", "woodblock print"], category: .style),
        adapter("swift", "Taylor Swift", tags: ["singer", "taylor swift"], category: .celebrity),
        adapter("lingerie", "Lace Lingerie", tags: ["lingerie", "lace"], category: .clothing, nsfw: true),
        adapter("armor", "Knight Plate Armor", tags: ["armor", "knight"], category: .clothing, weight: 0.7),
        adapter("samurai", "Samurai Armor", tags: ["samurai", "armor"], category: .clothing),
        adapter("seifuku", "Sailor School Uniform (seifuku)", tags: ["school uniform", "serafuku"], category: .clothing),
        adapter("castles", "Fantasy Castles", tags: ["castle", "medieval"], category: .building),
        adapter("ruins", "Castle Ruins", tags: ["ruins", "castle"], category: .building),
        adapter("running", "Running", tags: ["running", "motion"], category: .action),
        adapter("glass", "Stained Glass", tags: ["stained glass", "glass"], category: .style),
    ]

    func compose(_ prompt: String, base: BaseModel? = .sd15, nsfw: Bool = false,
                 catalog: [CandidateAdapter] = ComposerTests.catalog) -> Composition {
        let file = PromptFile(text: prompt)
        return Composer.compose(topics: file.topics, candidates: catalog, promptText: file.positiveText,
                                options: ComposerOptions(baseModel: base, includeNSFW: nsfw))
    }

    func chosen(_ c: Composition, _ keyword: String) -> [String] {
        c.topics.first { $0.keyword == keyword }?.adapters.map(\.adapterID) ?? []
    }

    func all(_ c: Composition) -> [String] { c.topics.flatMap { $0.adapters.map(\.adapterID) } }

    func reason(_ c: Composition, _ id: String) -> String? {
        c.topics.flatMap(\.decisions).first { $0.adapterID == id && !$0.accepted }?.reason
    }

    func testLexicalMatchAndSameBaseModel() {
        let c = compose("a dog sleeping on a porch")
        XCTAssertEqual(chosen(c, "dog"), ["dogs"])
        XCTAssertTrue(reason(c, "dogs-xl")?.contains("base model") ?? false, "\(c)")
        let xl = compose("a dog sleeping on a porch", base: .sdxl)
        XCTAssertEqual(chosen(xl, "dog"), ["dogs-xl"])
    }

    func testGenericTopicRejectsNamedCharacter() {
        let c = compose("a dog sleeping on a porch")
        XCTAssertFalse(all(c).contains("clifford"))
        // A character matched through a common-noun tag is rejected with its reason.
        let tagged = ComposerTests.adapter("rex", "Rex", tags: ["dog"], category: .character)
        let r = compose("a dog sleeping on a porch", catalog: ComposerTests.catalog + [tagged])
        XCTAssertFalse(all(r).contains("rex"))
    }

    func testNamedCharacterIsAcceptedAndItsDescriptionMerged() {
        let c = compose("Clifford the big red dog next to a school bus")
        XCTAssertEqual(chosen(c, "Clifford"), ["clifford"])
        XCTAssertFalse(all(c).contains("dogs"), "the description of Clifford must not pull the generic dog adapter: \(all(c))")
    }

    func testCelebrityOnlyWhenNamed() {
        XCTAssertFalse(all(compose("1girl, singer on a stage")).contains("swift"))
        XCTAssertEqual(all(compose("Taylor Swift on a stage")), ["swift"])
    }

    func testSpeciesAcceptsTheGenericClassAdapter() {
        let c = compose("photo, corgi, on the beach")
        XCTAssertEqual(Set(chosen(c, "corgi")), ["corgi", "dogs"])
    }

    func testNotBroaderAndCompounds() {
        let c = compose("a hot dog with mustard on a paper plate")
        XCTAssertEqual(chosen(c, "hot dog"), ["hotdog"])
        XCTAssertFalse(all(c).contains("dogs"), "\"dog\" inside \"hot dog\" is not a dog")
        XCTAssertFalse(all(c).contains("food"), "a generic food adapter is broader than hot dog")
    }

    func testNotNarrower() {
        let c = compose("a monk in front of a temple")
        XCTAssertFalse(all(c).contains("temple"))
        XCTAssertTrue(reason(c, "temple")?.contains("narrower") ?? false, "\(c.topics)")
        XCTAssertEqual(all(compose("a japanese temple in autumn")), ["temple"])
    }

    func testTitleHoldingTheWholeTopicAndTopicHeads() {
        XCTAssertEqual(all(compose("1girl, sailor uniform, train station")), ["seifuku"])
        // "castle background" is about the castle; ruins are another subject.
        let c = compose("1girl, castle background, night")
        XCTAssertEqual(chosen(c, "castle background"), ["castles"])
        XCTAssertFalse(all(c).contains("ruins"))
    }

    func testActionAdaptersNeedPeople() {
        XCTAssertEqual(chosen(compose("1boy, running in the rain"), "running in the rain"), ["running"])
        let c = compose("photo, corgi, running on the beach")
        XCTAssertFalse(all(c).contains("running"))
        XCTAssertTrue(reason(c, "running")?.contains("animals") ?? false)
    }

    func testStyleWordsOnALaterObjectAreNotTheImageStyle() {
        XCTAssertEqual(all(compose("stained glass window depicting a fox")), ["glass"])
        let c = compose("a gothic cathedral interior with light streaming through stained glass windows")
        XCTAssertFalse(all(c).contains("glass"))
    }

    func testNoAnthropomorphicVariantForAnimals() {
        let c = compose("a cat sitting on a windowsill")
        XCTAssertEqual(all(c), ["cats"])
        let ears = compose("1girl, cat ears, maid")
        XCTAssertEqual(chosen(ears, "cat ears"), ["catgirl"])
        XCTAssertFalse(all(ears).contains("cats"))
    }

    func testNSFWOnlyWhenEnabled() {
        XCTAssertEqual(all(compose("1girl, lace lingerie")), [])
        XCTAssertTrue(reason(compose("1girl, lace lingerie"), "lingerie")?.contains("NSFW") ?? false)
        XCTAssertEqual(all(compose("1girl, lace lingerie", nsfw: true)), ["lingerie"])
    }

    func testAtMostTwoStylesAndEachAdapterOnce() {
        let c = compose("watercolor painting, pixel art, ukiyo-e woodblock print, watercolor")
        let styles = all(c)
        XCTAssertEqual(styles.count, 2, "\(styles)")
        XCTAssertEqual(Set(styles).count, styles.count)
        XCTAssertTrue(c.topics.flatMap(\.decisions).contains { $0.reason.contains("at most 2 style") })
    }

    func testAdaptersAlreadyInThePromptAreKept() {
        let c = compose("a dog on a porch, <lora:dogs:0.5>")
        XCTAssertEqual(c.presentAliases, ["dogs"])
        XCTAssertEqual(all(c), [])
        XCTAssertTrue(reason(c, "dogs")?.contains("already in the prompt") ?? false)
    }

    func testTopicsSpannedByOneAdapterAreMerged() {
        let c = compose("1boy, samurai, red lacquered armor")
        XCTAssertEqual(chosen(c, "samurai"), ["samurai"])
        XCTAssertEqual(chosen(c, "red lacquered armor"), [], "Samurai Armor already spans the armor topic")
    }

    func testEveryDecisionHasAReason() {
        let c = compose("a watercolor painting of a dog and a temple, <lora:cats:1>")
        let decisions = c.topics.flatMap(\.decisions)
        XCTAssertFalse(decisions.isEmpty)
        for d in decisions { XCTAssertFalse(d.reason.isEmpty, "\(d)") }
        XCTAssertTrue(decisions.contains { $0.accepted })
    }

    func testPromptBuilderWeightsDebiasAndRestoreConcepts() {
        let c = compose("a dog in knight armor, snow")
        XCTAssertEqual(chosen(c, "dog"), ["dogs"])
        XCTAssertEqual(PromptBuilder.weight(recommended: 0.8, activeInTopic: 1), 0.64)
        XCTAssertEqual(PromptBuilder.weight(recommended: 0.7, activeInTopic: 2), 0.28)
        XCTAssertEqual(PromptBuilder.format(0.64), "0.64")
        XCTAssertEqual(PromptBuilder.format(1.0), "1")
        let prompt = "a dog in knight armor, snow"
        let built = PromptBuilder.build(prompt: prompt, composition: c, debias: "realistic, best quality", restoreConcepts: true)
        XCTAssertEqual(built, "a dog in knight armor, (snow:1.1), realistic, best quality, <lora:dogs:0.64>, <lora:armor:0.56>")
    }

    func testMasksAreSeededLazyAndFollowTheirStrategy() {
        let counts = Array(repeating: 40, count: 30)  // 2^1200 subsets: must never be enumerated
        let a = Masks.sample(.oneHotLoras, adapterCounts: counts, samples: 5, seed: 42)
        let b = Masks.sample(.oneHotLoras, adapterCounts: counts, samples: 5, seed: 42)
        XCTAssertEqual(a, b)
        XCTAssertEqual(a.count, 5)
        XCTAssertNotEqual(a, Masks.sample(.oneHotLoras, adapterCounts: counts, samples: 5, seed: 43))
        for mask in Masks.sample(.oneHotConcepts, adapterCounts: [3, 2, 0], samples: 20, seed: 1) {
            XCTAssertTrue(mask[0].allSatisfy { $0 == mask[0][0] })
            XCTAssertTrue(mask[1].allSatisfy { $0 == mask[1][0] })
            XCTAssertEqual(mask[2], [])
        }
        XCTAssertEqual(Masks.sample(.all, adapterCounts: [2, 1], samples: 1, seed: 0), [[[true, true], [true]]])
        let c = compose("a dog in knight armor")
        let off = PromptBuilder.build(prompt: "a dog in knight armor", composition: c, mask: [[false], [true]])
        XCTAssertEqual(off, "a dog in knight armor, <lora:armor:0.56>")
        XCTAssertEqual(MaskStrategy(name: "one_hot_concept"), .oneHotConcepts)
    }

    func testPresentLoraAliases() {
        XCTAssertEqual(Composer.presentLoraAliases(in: "a <lora:foo_v2:0.7> and <LoRA:bar:1> <lyco:baz:0.5>, <hypernet:x:1>"),
                       ["foo_v2", "bar", "baz"])
    }
}
