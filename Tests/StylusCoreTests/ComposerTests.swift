import StylusCore
import XCTest

/// The composer's rules and mechanics on a small in-memory catalog (real cards and refinements, no
/// retriever): hard rules hold whatever the scorer says, caps and assignment work on probabilities,
/// and every decision explains itself. The scorer here is a fixed lexical test model, so these tests
/// do not move when the shipped model is refit; the shipped model is checked by parity below.
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
        adapter("power", "Power (Chainsaw Man) [IL]", tags: ["chainsaw man", "horns"], category: .character),
        adapter("einstein", "Albert Einstein", tags: ["physicist"], category: .celebrity),
    ]

    /// Names, then scope: the topic's words in the adapter's names, the adapter's head in the topic,
    /// nothing extra in its title.
    static let testModel: ComposerModel = {
        let names = ComposerFeatures.names
        var w = [Double](repeating: 0, count: names.count)
        w[ComposerFeatures.index["lex_topic_coverage"]!] = 4
        w[ComposerFeatures.index["adapter_head_in_topic"]!] = 5
        w[ComposerFeatures.index["lex_title_extra"]!] = -3
        w[ComposerFeatures.index["wn_topic_narrower"]!] = 20
        w[ComposerFeatures.index["cat_character"]!] = 10  // only named characters reach the scorer
        let v = ComposerModel.Variant(features: names, mean: Array(repeating: 0, count: names.count),
                                      scale: Array(repeating: 1, count: names.count), weights: w, bias: -6, threshold: 0.6)
        return ComposerModel(semantic: v, lexical: v, trainedOn: "test")
    }()

    func compose(_ prompt: String, base: BaseModel? = .sd15, nsfw: Bool = false,
                 catalog: [CandidateAdapter] = ComposerTests.catalog, knowledge: (any WordKnowledge)? = TinyWordNet()) -> Composition {
        let file = PromptFile(text: prompt)
        return Composer.compose(topics: file.topics, candidates: catalog, promptText: file.positiveText,
                                options: ComposerOptions(baseModel: base, includeNSFW: nsfw, model: Self.testModel),
                                evidence: ComposeEvidence(knowledge: knowledge))
    }

    /// A scored pair's feature, nil when the pair was not scored.
    func feature(_ name: String, of c: Composition, topic: String, adapter id: String) -> Double? {
        c.topics.first { $0.keyword == topic }?.scored.first { $0.adapterID == id }
            .map { $0.features[ComposerFeatures.index[name]!] }
    }

    func chosen(_ c: Composition, _ keyword: String) -> [String] {
        c.topics.first { $0.keyword == keyword }?.adapters.map(\.adapterID) ?? []
    }

    func all(_ c: Composition) -> [String] { c.topics.flatMap { $0.adapters.map(\.adapterID) } }

    func reason(_ c: Composition, _ id: String) -> String? {
        c.topics.flatMap(\.decisions).first { $0.adapterID == id && !$0.accepted }?.reason
    }

    func testNamedAdapterOfTheSameBaseModelOnly() {
        let c = compose("a dog sleeping on a porch")
        XCTAssertEqual(chosen(c, "dog"), ["dogs"])
        XCTAssertTrue(reason(c, "dogs-xl")?.contains("base model SDXL 1.0 differs") ?? false, "\(c.topics)")
        XCTAssertEqual(all(compose("a dog sleeping on a porch", base: .sdxl)), ["dogs-xl"])
    }

    func testAPromptWithoutABaseModelGetsAdaptersOfOneBaseModel() {
        // "Realistic Dogs" (SD 1.5) and "Dogs XL" (SDXL) both fit; one checkpoint loads only one.
        let c = compose("a dog on a porch, 8-bit pixel style", base: nil)
        let picked = all(c)
        XCTAssertTrue(picked.contains("dogs") || picked.contains("dogs-xl"), "\(picked)")
        let bases = Set(picked.compactMap { id in Self.catalog.first { $0.card.adapterId == id }?.card.baseModel })
        XCTAssertEqual(bases.count, 1, "\(picked)")
        let left = picked.contains("dogs") ? "dogs-xl" : "dogs"
        XCTAssertTrue(reason(c, left)?.contains("the prompt names none; set base_model to choose") ?? false, "\(String(describing: reason(c, left)))")
        // With a base model the rule is the hard one.
        XCTAssertEqual(chosen(compose("a dog on a porch", base: .sdxl), "dog"), ["dogs-xl"])
    }

    func testCharactersOnlyWhenTheTopicNamesThem() {
        XCTAssertFalse(all(compose("a big red dog")).contains("clifford"))
        XCTAssertTrue(reason(compose("a big red dog"), "clifford")?.contains("does not name") ?? false)
        // The scorer likes every character; one the topic does not name at all is no news to explain.
        XCTAssertNil(reason(compose("a dog leaning on a porch"), "swift"))
        XCTAssertTrue(all(compose("Clifford the Big Red Dog, park")).contains("clifford"))
        // A surname that is no common word names the person; a common word needs its franchise.
        XCTAssertTrue(all(compose("einstein riding a motorcycle")).contains("einstein"))
        XCTAssertTrue(all(compose("1girl, power \\(chainsaw man\\), horns")).contains("power"))
        XCTAssertFalse(all(compose("power lines at dusk")).contains("power"))
        XCTAssertFalse(all(compose("1girl, taylor, stage")).contains("swift"))
        XCTAssertTrue(all(compose("Taylor Swift on stage")).contains("swift"))
    }

    func testATopicMergesIntoTheCharacterItDescribesButNotIntoItsSeries() {
        // "red dog" only describes Clifford: its dog adapter is dropped.
        let clifford = compose("clifford, red dog, park")
        XCTAssertTrue(all(clifford).contains("clifford"), "\(all(clifford))")
        XCTAssertFalse(all(clifford).contains("dogs"), "\(all(clifford))")
        XCTAssertTrue(reason(clifford, "dogs")?.contains("the topic describes clifford, merged into it") ?? false)
        // The bracketed series describes no one: "cyberpunk" keeps its style beside Johnny Silverhand.
        let johnny = Self.adapter("johnny", "Johnny Silverhand (Cyberpunk 2077)", tags: ["johnny silverhand"], category: .character)
        let cyberpunk = Self.adapter("cyberpunk", "Cyberpunk", tags: ["cyberpunk", "neon"], category: .style)
        let city = compose("Johnny Silverhand, cyberpunk, night city", catalog: [johnny, cyberpunk])
        XCTAssertEqual(Set(all(city)), ["johnny", "cyberpunk"])
        // A topic that got a character of its own names that character: Frieren beside "Fern (Sousou no Frieren)".
        let fern = Self.adapter("fern", "Fern (Sousou no Frieren)", tags: ["fern"], category: .character)
        let frieren = Self.adapter("frieren", "Frieren", tags: ["frieren", "elf"], category: .character)
        let two = compose("2girls, frieren, fern \\(sousou no frieren\\), forest path", catalog: [fern, frieren])
        XCTAssertEqual(Set(all(two)), ["fern", "frieren"])
    }

    func testCharactersNamedByAliasTriggerCapitalOrQualifier() {
        func named(_ prompt: String, _ id: String, _ title: String, alias: String? = nil, tags: [String] = [],
                   triggers: [String] = []) -> Bool {
            var a = Self.adapter(id, title, tags: tags, category: .character, triggers: triggers)
            a.card.alias = alias ?? id
            return all(compose(prompt, catalog: [a], knowledge: NamesWordNet())).contains(id)
        }
        // The alias written as words.
        XCTAssertTrue(named("(selfie:1.2), Spider-Man, on a skyscraper", "spidey", "Spidey", alias: "fx_spiderman"))
        XCTAssertTrue(named("EVA-01 roaring over the city at dusk", "eva", "Evangelion Unit-01", alias: "EVA01_unit"))
        // A common-word name confirmed by a trigger written as two words, by a capital inside a
        // lower-case prompt, by a booru qualifier, or by a whole tag.
        XCTAssertTrue(named("Toothless the night fury on a sea cliff", "toothless", "Toothless (How to Train Your Dragon)",
                            triggers: ["nightfury_tl"]))
        XCTAssertFalse(named("a toothless old man on a sea cliff", "toothless", "Toothless (How to Train Your Dragon)",
                             triggers: ["nightfury_tl"]))
        XCTAssertTrue(named("score_9, 1girl, Jinx, blue hair", "jinx", "Jinx [Pony]"))
        XCTAssertFalse(named("score_9, 1girl, a jinx, black cat", "jinx", "Jinx [Pony]"))
        XCTAssertFalse(named("A Jinx On The Road, Black Cat, Night", "jinx", "Jinx [Pony]"), "Title Case says nothing")
        XCTAssertTrue(named("1girl, jinx \\(league of legends\\), tarot card", "jinx", "Jinx | Arcane [IL]"))
        XCTAssertTrue(named("Po from Kung Fu Panda doing tai chi", "po", "Dragon Warrior Po XL", tags: ["kung fu panda"]))
        // A shared surname or a common last word is not enough.
        XCTAssertFalse(named("Anya Forger reading in a library", "yor", "Yor Forger", tags: ["spy x family"]))
        XCTAssertFalse(named("1girl, wolf girl, snowy forest, moon", "usagi", "Sailor Moon (Usagi)", tags: ["sailor moon", "magical girl"]))
        // A capital on a title's lead word is not a name ("a Princess in a castle").
        XCTAssertFalse(named("1girl, a Princess in a castle", "zelda", "Princess Zelda"))
    }

    func testTheTopicAsAKindOfTheAdaptersSubjectComesFromWordKnowledge() {
        // "corgi" shares no word with "Realistic Dogs": only the is-a link (corgi → dog) connects them.
        let catalog = ComposerTests.catalog.filter { $0.card.adapterId != "corgi" }
        XCTAssertEqual(chosen(compose("a corgi on a beach", catalog: catalog), "corgi"), ["dogs"])
        XCTAssertEqual(chosen(compose("a corgi on a beach", catalog: catalog, knowledge: nil), "corgi"), [])
        XCTAssertEqual(TinyWordNet().relation("corgi", "dog"), .narrower(depth: 2))
        XCTAssertEqual(TinyWordNet().relation("dog", "corgi"), .broader(depth: 2))
        XCTAssertEqual(TinyWordNet().relation("couch", "sofa"), .same)
        XCTAssertEqual(TinyWordNet().relation("couch", "dog"), .unrelated)
    }

    func testNSFWOnlyWhenEnabled() {
        XCTAssertEqual(all(compose("1girl, lace lingerie")), [])
        XCTAssertTrue(reason(compose("1girl, lace lingerie"), "lingerie")?.contains("NSFW") ?? false)
        XCTAssertEqual(all(compose("1girl, lace lingerie", nsfw: true)), ["lingerie"])
    }

    func testAtMostTwoStylesAndEachAdapterOnce() {
        let c = compose("watercolor, pixel art, ukiyo-e woodblock print, stained glass, watercolor painting")
        let styles = all(c)
        XCTAssertEqual(styles.count, 2, "\(styles)")
        XCTAssertEqual(Set(styles).count, styles.count)
        XCTAssertTrue(c.topics.flatMap(\.decisions).contains { $0.reason.contains("at most 2 style") })
    }

    /// The style adapters a prompt already loads count against the cap: the output never holds more
    /// than two, whatever was there before.
    func testStylesThePromptLoadsCountAgainstTheCap() {
        let one = compose("watercolor, pixel art, ukiyo-e woodblock print, <lora:glass:0.8>")
        XCTAssertEqual(all(one).count, 1, "\(all(one))")
        XCTAssertTrue(one.topics.flatMap(\.decisions).contains { $0.reason.contains("at most 2 style adapters per prompt (it loads 1 already)") })
        let two = compose("watercolor, pixel art, a dog, <lora:glass:0.8>, <lora:ukiyoe:0.6>")
        XCTAssertEqual(all(two), ["dogs"], "only the animal adapter is added beside two loaded styles")
        // A loaded adapter of another category, or of another base model, takes no style's place.
        XCTAssertEqual(all(compose("watercolor, pixel art, <lora:dogs:0.5>")).count, 2)
        let xl = [Self.adapter("glass-xl", "Stained Glass XL", tags: ["stained glass"], base: .sdxl, category: .style),
                  Self.adapter("watercolor-xl", "Watercolor XL", tags: ["watercolor"], base: .sdxl, category: .style),
                  Self.adapter("pixel-xl", "Pixel Art XL", tags: ["pixel art"], base: .sdxl, category: .style)]
        XCTAssertEqual(all(compose("watercolor, pixel art, <lora:glass-xl:0.5>", catalog: Self.catalog + xl)).count, 2)
        XCTAssertEqual(all(compose("watercolor, pixel art, <lora:glass-xl:0.5>", base: .sdxl, catalog: Self.catalog + xl)).count, 1,
                       "on its own base model the loaded style takes a place")
    }

    func testAnAdapterServesTheTopicItFitsBest() {
        let c = compose("castle, fantasy castles")
        XCTAssertEqual(all(c).filter { $0 == "castles" }.count, 1)
        XCTAssertEqual(chosen(c, "fantasy castles"), ["castles"])
        XCTAssertTrue(c.topics.flatMap(\.decisions).contains { $0.adapterID == "castles" && $0.reason.contains("fits \"fantasy castles\" better") })
    }

    func testAtMostMaxPerTopic() {
        let many = (0..<6).map { ComposerTests.adapter("dog\($0)", "Dogs", tags: ["dog"], category: .animal) }
        let c = Composer.compose(topics: PromptFile(text: "dog").topics, candidates: many, promptText: "dog",
                                 options: ComposerOptions(baseModel: .sd15, maxPerTopic: 2, model: Self.testModel))
        XCTAssertEqual(c.topics[0].adapters.count, 2)
        XCTAssertTrue(c.topics[0].decisions.contains { $0.reason.contains("topic already has 2 adapters") })
    }

    func testATopicsSecondAdapterNeedsTheFurtherThreshold() {
        // Under the test model "Dogs" scores 0.95 for "dog", and "Two Dogs" 0.88 (a title word the
        // topic does not have).
        let cards = [ComposerTests.adapter("dogs", "Dogs", tags: ["dog"], category: .animal),
                     ComposerTests.adapter("dogs2", "Two Dogs", tags: ["dog"], category: .animal)]
        func chosenWith(further: Double) -> Composition {
            var model = Self.testModel
            model.semantic.furtherThreshold = further
            model.lexical.furtherThreshold = further
            model.semantic.threshold = 0.6
            model.lexical.threshold = 0.6
            return Composer.compose(topics: PromptFile(text: "dog").topics, candidates: cards, promptText: "dog",
                                    options: ComposerOptions(baseModel: .sd15, model: model))
        }
        XCTAssertEqual(chosenWith(further: 0).topics[0].adapters.map(\.adapterID), ["dogs", "dogs2"])
        let strict = chosenWith(further: 0.9)
        XCTAssertEqual(strict.topics[0].adapters.map(\.adapterID), ["dogs"])
        let why = strict.topics[0].decisions.first { $0.adapterID == "dogs2" }
        XCTAssertEqual(why?.accepted, false)
        XCTAssertTrue(why?.reason.contains("< 0.90, what a topic's further adapters need beside dogs") ?? false, why?.reason ?? "no decision")
    }

    /// An adapter the prompt already loads serves its topic as that topic's first adapter: another
    /// one for the topic needs what further adapters need, and the present one is not among the
    /// pairs the scorer decided (it is not the scorer's to add, nor a training pair).
    func testAnAdapterAlreadyInThePromptServesItsTopic() {
        // Under the test model "Dogs" scores 0.95 for "dog", and "Two Dogs" 0.88.
        let cards = [ComposerTests.adapter("dogs", "Dogs", tags: ["dog"], category: .animal),
                     ComposerTests.adapter("dogs2", "Two Dogs", tags: ["dog"], category: .animal)]
        func composed(_ prompt: String, further: Double) -> Composition {
            var model = Self.testModel
            model.semantic.furtherThreshold = further
            model.lexical.furtherThreshold = further
            let file = PromptFile(text: prompt)
            return Composer.compose(topics: file.topics, candidates: cards, promptText: file.positiveText,
                                    options: ComposerOptions(baseModel: .sd15, model: model))
        }
        let served = composed("dog, <lora:dogs:0.5>", further: 0.9)
        XCTAssertEqual(served.topics.map(\.keyword), ["dog"])
        XCTAssertEqual(served.topics[0].adapters.map(\.adapterID), [], "0.88 < 0.90 beside the present Dogs")
        let why = served.topics[0].decisions.first { $0.adapterID == "dogs2" }
        XCTAssertTrue(why?.reason.contains("what a topic's further adapters need beside dogs (already in the prompt)") ?? false,
                      why?.reason ?? "no decision")
        XCTAssertFalse(served.topics[0].scored.contains { $0.adapterID == "dogs" })
        XCTAssertTrue(served.topics[0].scored.contains { $0.adapterID == "dogs2" })
        // Without the present adapter, "Two Dogs" is the topic's first and needs only the threshold.
        XCTAssertEqual(composed("dog", further: 0.9).topics[0].adapters.map(\.adapterID), ["dogs"])
        XCTAssertEqual(composed("dog, <lora:unrelated:0.5>", further: 0.9).topics[0].adapters.map(\.adapterID), ["dogs"])
        XCTAssertEqual(composed("dog, <lora:dogs:0.5>", further: 0).topics[0].adapters.map(\.adapterID), ["dogs2"])
    }

    /// A tool is about what it adjusts ("Detail Tweaker": detail), but a participle in its title
    /// says how, not what: "Detailed Eyes" is about eyes, and shares only a modifier with "highly detailed".
    func testAToolsParticipleIsNotWhatItIsAbout() {
        let tweaker = ComposerTests.adapter("tweaker", "Detail Tweaker", tags: ["detail"], category: .tool)
        let eyes = ComposerTests.adapter("eyes", "Detailed Eyes", tags: ["eyes"], category: .tool)
        let c = compose("a castle, highly detailed", catalog: [tweaker, eyes])
        XCTAssertTrue(c.topics.map(\.keyword).contains("highly detailed"), "\(c.topics.map(\.keyword))")
        XCTAssertEqual(feature("adapter_head_in_topic", of: c, topic: "highly detailed", adapter: "tweaker"), 1)
        XCTAssertEqual(feature("adapter_head_in_topic", of: c, topic: "highly detailed", adapter: "eyes"), 0)
        XCTAssertEqual(feature("lex_modifier_only", of: c, topic: "highly detailed", adapter: "eyes"), 1)
    }

    /// Beside a name match the unnamed regime's features are 0 by construction: an explanation
    /// never offers them as evidence ("cosine 0.00 with its closest tag (its names do not meet the topic)").
    func testANamedPairIsNotExplainedByTheUnnamedRegime() {
        let names = ComposerFeatures.names
        var w = [Double](repeating: 0, count: names.count)
        w[ComposerFeatures.index["cos_tag_unnamed"]!] = 3
        w[ComposerFeatures.index["cos_card"]!] = 1
        let v = ComposerModel.Variant(features: names, mean: Array(repeating: 0.2, count: names.count),
                                      scale: Array(repeating: 1, count: names.count), weights: w, bias: 0, threshold: 0.5)
        var x = [Double](repeating: 0, count: names.count)
        x[ComposerFeatures.index["cos_card"]!] = 0.1
        let named = Composer.evidenceText(v, x, prob: 0.2, threshold: 0.5, positive: false)
        XCTAssertFalse(named.contains("do not meet"), named)
        XCTAssertTrue(named.contains("cosine 0.10 with the card"), named)
        x[ComposerFeatures.index["unnamed"]!] = 1
        let untagged = Composer.evidenceText(v, x, prob: 0.2, threshold: 0.5, positive: false)
        XCTAssertTrue(untagged.contains("it has no subject tags (its names do not meet the topic)"), untagged)
        x[ComposerFeatures.index["cos_tag_unnamed"]!] = 0.05
        let unnamed = Composer.evidenceText(v, x, prob: 0.2, threshold: 0.5, positive: false)
        XCTAssertTrue(unnamed.contains("cosine 0.05 with its closest tag (its names do not meet the topic)"), unnamed)
    }

    func testAdaptersAlreadyInThePromptAreKept() {
        let c = compose("a dog on a porch, <lora:dogs:0.5>")
        XCTAssertEqual(c.presentAliases, ["dogs"])
        XCTAssertFalse(all(c).contains("dogs"))
        XCTAssertTrue(reason(c, "dogs")?.contains("already in the prompt") ?? false)
    }

    func testEveryDecisionHasAScoreAndItsEvidence() {
        let c = compose("a watercolor painting of a dog and a temple, <lora:cats:1>")
        let decisions = c.topics.flatMap(\.decisions)
        XCTAssertFalse(decisions.isEmpty)
        for d in decisions { XCTAssertFalse(d.reason.isEmpty, "\(d)") }
        let accepted = decisions.first { $0.accepted && $0.adapterID == "dogs" }
        XCTAssertNotNil(accepted)
        XCTAssertNotNil(accepted?.score)
        // "score 0.97 ≥ 0.50: its names cover 100% of the topic; …; animal adapter of SD 1.5"
        XCTAssertTrue(accepted?.reason.hasPrefix("score ") ?? false, accepted?.reason ?? "")
        XCTAssertTrue(accepted?.reason.contains("≥ 0.60") ?? false, accepted?.reason ?? "")
        XCTAssertTrue(accepted?.reason.contains("cover 100% of the topic") ?? false, accepted?.reason ?? "")
        let rejected = c.topics.flatMap(\.decisions).first { !$0.accepted && $0.score != nil && $0.reason.hasPrefix("score") }
        XCTAssertTrue(rejected?.reason.contains("<") ?? false, "\(decisions)")
    }

    func testATopicWithoutAnAdapterExplainsItsClosestCandidate() {
        // The temple card scores under half the threshold for a gate: before, the topic had no
        // explanation at all, and a hover on it said nothing.
        let c = compose("a wooden temple gate in the fog", catalog: Self.catalog.filter { !$0.refinement.category.isCharacterLike })
        let gate = c.topics.first { $0.keyword == "wooden temple gate" }
        XCTAssertEqual(gate?.adapters.count, 0)
        XCTAssertEqual(gate?.decisions.map(\.adapterID), ["temple"], "only the closest candidate, not the long tail")
        let why = gate?.decisions.first
        XCTAssertFalse(why?.accepted ?? true)
        XCTAssertTrue(why.map { $0.reason.hasPrefix("score 0.") && $0.reason.contains("< 0.60") } ?? false, why?.reason ?? "")
        // A closest candidate the scorer all but ruled out (under a twentieth of the threshold) is not news.
        XCTAssertEqual(c.topics.first { $0.keyword == "fog" }?.decisions.count, 0)
    }

    func testScoredCandidatesCarryTheirFeatures() {
        let c = compose("a dog sleeping on a porch")
        let dog = c.topics.first { $0.keyword == "dog" }?.scored.first { $0.adapterID == "dogs" }
        XCTAssertEqual(dog?.features.count, ComposerFeatures.names.count)
        XCTAssertEqual(dog.map { $0.features[ComposerFeatures.index["lex_topic_coverage"]!] }, 1)
        XCTAssertEqual(dog?.probability ?? 0, Self.testModel.lexical.probability(dog?.features ?? []), accuracy: 1e-12)
    }

    func testATitleThatSharesOnlyAModifierIsFlagged() {
        let c = compose("a castle on a hill, stained glass windows")
        func feature(_ topic: String, _ id: String) -> Double? { self.feature("lex_modifier_only", of: c, topic: topic, adapter: id) }
        // "Castle Ruins" is about ruins; "castle" only modifies them.
        XCTAssertEqual(feature("castle", "ruins"), 1)
        XCTAssertEqual(feature("castle", "castles"), 0)
        // Its head ("glass") is in the topic, though not the topic's own head.
        XCTAssertEqual(feature("stained glass windows", "glass"), 0)
    }

    /// WordNet's derived forms meet their base on both sides: "rainy" is "Heavy Rain"'s head,
    /// "darkness" a "Dark Mood" card's; "oil painting" stays a painting, not paint.
    func testDerivedFormsMeetTheWordTheyComeFrom() {
        let catalog = [
            Self.adapter("rain", "Heavy Rain", tags: ["rain"], category: .concept),
            Self.adapter("dark", "Dark Mood", tags: ["dark"], category: .concept),
            Self.adapter("detail", "Detail Tweaker", tags: ["detail"], category: .tool),
            Self.adapter("paint", "Paint Splatter", tags: ["paint"], category: .style),
        ]
        let c = compose("rainy, darkness, detailed, oil painting", catalog: catalog)
        func feature(_ name: String, _ topic: String, _ id: String) -> Double? { self.feature(name, of: c, topic: topic, adapter: id) }
        XCTAssertEqual(feature("lex_head_named", "rainy", "rain"), 1)
        XCTAssertEqual(feature("adapter_head_in_topic", "rainy", "rain"), 1)
        XCTAssertEqual(feature("lex_topic_coverage", "darkness", "dark"), 1)
        XCTAssertEqual(feature("lex_head_named", "detailed", "detail"), 1)
        XCTAssertEqual(feature("lex_topic_coverage", "oil painting", "paint") ?? 0, 0)
        XCTAssertEqual(chosen(c, "rainy"), ["rain"])
        XCTAssertFalse(chosen(c, "oil painting").contains("paint"))
    }

    /// A base model's name in a title is packaging: "Capybara F1" is about capybaras, and is the
    /// topic "capybara" exactly; "Ponytail" is hair, not Pony.
    func testBaseModelNamesInTitlesAreNotWhatItDraws() {
        let catalog = [
            Self.adapter("capy", "Capybara F1", tags: ["capybara"], category: .animal),
            Self.adapter("fog", "Volumetric Fog F.1 [Flux]", tags: ["fog"], category: .concept),
            Self.adapter("tail", "Ponytail", tags: ["hairstyle"], category: .concept),
        ]
        let c = compose("capybara, fog, ponytail", catalog: catalog)
        func feature(_ name: String, _ topic: String, _ id: String) -> Double? { self.feature(name, of: c, topic: topic, adapter: id) }
        XCTAssertEqual(feature("adapter_head_in_topic", "capybara", "capy"), 1)
        XCTAssertEqual(feature("lex_exact_name", "capybara", "capy"), 1)
        XCTAssertEqual(feature("lex_exact_name", "fog", "fog"), 0, "'Volumetric' is a word the topic does not ask for")
        XCTAssertEqual(feature("adapter_head_in_topic", "fog", "fog"), 1)
        XCTAssertEqual(feature("lex_exact_name", "ponytail", "tail"), 1)
        XCTAssertTrue(BaseModel.namesKnownModel("F.1"))
        XCTAssertTrue(BaseModel.namesKnownModel("SDXL"))
        XCTAssertFalse(BaseModel.namesKnownModel("Ponytail"))
        XCTAssertFalse(BaseModel.namesKnownModel("1.5"), "a number alone is no name")
        XCTAssertTrue(BaseModel.isName("Pony XL"))
        XCTAssertTrue(BaseModel.isName("SD-1.5"))
        XCTAssertTrue(BaseModel.isName("Flux.1 D"))
        XCTAssertFalse(BaseModel.isName("Ponytail"))
        XCTAssertFalse(BaseModel.isName("Pony\u{00E9}"), "not ASCII: read by Character, same rule")
    }

    /// A title's alternatives, packaging and base-model names, read the same whether or not it
    /// carries a translation in another script (which is dropped).
    func testATitlesWordsDoNotDependOnATranslationBesideIt() {
        let titles = [
            "Capybara F1", "Volumetric Fog F.1 [Flux]", "Heavy Rain SDXL", "Phoenix / Firebird", "Kitsune / Foxgirl XL",
            "Ink-Dragon - v2.1 | SD1.5", "Dragons! (western)", "50s Classic Cars XL", "80s/90s Retro Anime XL",
            "Fire & Flames VFX", "Power (Chainsaw Man) [Pony]", "cat-like eyes", "\"Pony\" Tail: (sdxl) v3",
            "Detail+ (Flux)", "[IL] ((nested) brackets)) end", " - leading : separators & ", "F.1, Pony; SDXL! @home",
            "Samurai Armor (nested [brackets)", "Rain_SDXL", "a - b/c - d",
        ]
        for title in titles {
            XCTAssertEqual(ComposerWords.titleText(title), ComposerWords.titleText(title + " \u{58A8}"), title)
        }
        XCTAssertEqual(ComposerWords.titleText("Heavy Rain SDXL | Storm (v2)"), "heavy rain / storm")
    }

    /// A card whose title hides its concept may say it in its description: where the names do not
    /// meet the topic, the share of the topic's words the refined description uses is evidence.
    /// The words the refiner writes into every description (its category phrase) do not count.
    func testTheDescriptionSpeaksWhereTheNamesDoNot() {
        let card = AdapterCard(adapterId: "hogetsu", alias: "hogetsu", title: "Kuroishi Hogetsu", baseModel: .sd15,
                               tags: ["style", "monochrome"], description: "<p>Black ink on rice paper, bamboo in a few strokes.</p>")
        let hogetsu = CandidateAdapter(card: card, refinement: OfflineRefiner.refine(card), score: 1)
        XCTAssertTrue(hogetsu.refinement.refinedDescription.contains("art style adapter"), hogetsu.refinement.refinedDescription)
        let c = compose("ink wash painting, art deco, monochrome ink", catalog: [hogetsu])
        XCTAssertEqual(feature("unnamed", of: c, topic: "ink wash painting", adapter: "hogetsu"), 1)
        XCTAssertEqual(feature("lex_description_unnamed", of: c, topic: "ink wash painting", adapter: "hogetsu") ?? 0, 1.0 / 3, accuracy: 1e-9)
        XCTAssertEqual(feature("lex_description_unnamed", of: c, topic: "art deco", adapter: "hogetsu"), 0,
                       "'art' is the refiner's category phrase, not the card's words")
        XCTAssertEqual(feature("unnamed", of: c, topic: "monochrome ink", adapter: "hogetsu"), 0, "its tag names the topic")
        XCTAssertEqual(feature("lex_description_unnamed", of: c, topic: "monochrome ink", adapter: "hogetsu"), 0)
        XCTAssertEqual(Composer.describe("lex_description_unnamed", 0.5),
                       "its description uses 50% of the topic's words (its names do not meet the topic)")
    }

    /// A booru qualifier in brackets says which one, not what: the topic's head is before it, so
    /// "Watercolor Dream" names the head of "watercolor (medium)".
    func testATopicsHeadIsBeforeItsQualifier() {
        let c = compose("watercolor \\(medium\\)", catalog: Self.catalog)
        XCTAssertEqual(c.topics.map(\.keyword), ["watercolor (medium)"])
        XCTAssertEqual(feature("lex_head_named", of: c, topic: "watercolor (medium)", adapter: "watercolor"), 1)
    }

    /// A tool is about what it adjusts: every content word of its title is a head, so "Detail
    /// Tweaker" is about detail, while "Detailed Eyes" shares only a modifier with "extremely detailed".
    func testAToolIsAboutWhatItAdjusts() {
        let tweaker = ComposerTests.adapter("tweaker", "Detail Tweaker", tags: ["detail", "slider"], category: .tool)
        let eyes = ComposerTests.adapter("eyes", "Detailed Eyes", tags: ["eyes", "detail"], category: .concept)
        let c = compose("extremely detailed", catalog: [tweaker, eyes])
        XCTAssertEqual(feature("adapter_head_in_topic", of: c, topic: "extremely detailed", adapter: "tweaker"), 1)
        XCTAssertEqual(feature("lex_modifier_only", of: c, topic: "extremely detailed", adapter: "tweaker"), 0)
        XCTAssertEqual(feature("adapter_head_in_topic", of: c, topic: "extremely detailed", adapter: "eyes"), 0)
        XCTAssertEqual(feature("lex_modifier_only", of: c, topic: "extremely detailed", adapter: "eyes"), 1)
    }

    /// A multi-word tag WordNet has as an entry names its concept, and its words only as far as it is
    /// a kind of them: a "sausage dog" is a dog, a "big cat" is no cat and a "hot dog" no dog.
    func testALexicalisedTagNamesItsConceptNotItsWords() {
        let leopard = ComposerTests.adapter("leopard", "Snow Leopard", tags: ["snow leopard", "big cat"], category: .animal)
        let dachshund = ComposerTests.adapter("dachshund", "Dachshund", tags: ["dachshund", "sausage dog"], category: .animal)
        let food = ComposerTests.adapter("food", "Street Food", tags: ["hot dog", "pretzel"], category: .object)
        let catalog = [leopard, dachshund, food]
        let c = compose("a cat, a big cat, a dog, a hot dog", catalog: catalog, knowledge: CompoundWordNet())
        XCTAssertEqual(c.topics.map(\.keyword), ["cat", "big cat", "dog", "hot dog"])
        XCTAssertEqual(feature("lex_topic_coverage", of: c, topic: "cat", adapter: "leopard") ?? 0, 0)
        XCTAssertEqual(feature("lex_head_named", of: c, topic: "cat", adapter: "leopard") ?? 0, 0)
        XCTAssertEqual(feature("lex_topic_coverage", of: c, topic: "big cat", adapter: "leopard"), 1, "the topic has the whole entry")
        XCTAssertEqual(feature("lex_topic_coverage", of: c, topic: "dog", adapter: "dachshund"), 1)
        XCTAssertEqual(feature("lex_topic_coverage", of: c, topic: "dog", adapter: "food") ?? 0, 0)
        XCTAssertEqual(feature("lex_topic_coverage", of: c, topic: "hot dog", adapter: "food"), 1)
        // Without a lexical resource every word of every tag is a name.
        let plain = compose("a cat", catalog: catalog, knowledge: nil)
        XCTAssertEqual(feature("lex_topic_coverage", of: plain, topic: "cat", adapter: "leopard"), 1)
    }

    /// A multi-word tag WordNet does not have is about what comes before its preposition: "depth of
    /// field" names no field, while a name WordNet does not know ("legend of zelda") names its
    /// referent wherever it stands, and a topic holding the whole tag still meets it.
    func testATagsComplementIsNotWhatItNames() {
        let sharpen = ComposerTests.adapter("sharpen", "Anti-Blur", tags: ["depth of field", "sharp"], category: .concept)
        let link = ComposerTests.adapter("link", "Link", tags: ["legend of zelda"], category: .character)
        let catalog = [sharpen, link]
        let c = compose("a wheat field, Link and Zelda, shallow depth of field", catalog: catalog, knowledge: CompoundWordNet())
        XCTAssertEqual(c.topics.map(\.keyword), ["wheat field", "Link and Zelda", "shallow depth of field"])
        XCTAssertEqual(feature("lex_topic_coverage", of: c, topic: "wheat field", adapter: "sharpen") ?? 0, 0)
        XCTAssertEqual(feature("lex_head_named", of: c, topic: "wheat field", adapter: "sharpen") ?? 0, 0)
        XCTAssertEqual(feature("lex_topic_coverage", of: c, topic: "shallow depth of field", adapter: "sharpen") ?? 0, 2.0 / 3, accuracy: 1e-9)
        XCTAssertEqual(feature("lex_topic_coverage", of: c, topic: "Link and Zelda", adapter: "link"), 1)
        XCTAssertEqual(ComposerFeatures.isComplement("field", of: ["depth", "of", "field"], knowledge: CompoundWordNet()), true)
        XCTAssertEqual(ComposerFeatures.isComplement("depth", of: ["depth", "of", "field"], knowledge: CompoundWordNet()), false)
        XCTAssertEqual(ComposerFeatures.isComplement("teal", of: ["pink", "and", "teal"], knowledge: CompoundWordNet()), false,
                       "coordination is no complement")
    }

    /// When an adapter's names do not meet the topic at all, the closeness features get their own
    /// weights (`unnamed` and its copies); beside a name match those copies are zero.
    func testClosenessHasItsOwnWeightWhereTheNamesDoNotMeet() {
        let file = PromptFile(text: "a sleeping dog")
        let topic = file.topics.first?.keyword ?? ""
        var model = Self.testModel
        model.lexical.weights[ComposerFeatures.index["retrieval_rank_unnamed"]!] = 12
        model.semantic = model.lexical
        let c = Composer.compose(topics: file.topics, candidates: Self.catalog, promptText: file.positiveText,
                                 options: ComposerOptions(baseModel: .sd15, model: model),
                                 evidence: ComposeEvidence(knowledge: TinyWordNet(), topicRankings: [["watercolor", "dogs"]]))
        func feature(_ name: String, _ id: String) -> Double? { self.feature(name, of: c, topic: topic, adapter: id) }
        XCTAssertEqual(feature("unnamed", "watercolor"), 1)
        XCTAssertEqual(feature("retrieval_rank_unnamed", "watercolor"), 1)
        XCTAssertEqual(feature("retrieval_rank", "watercolor"), 1)
        XCTAssertEqual(feature("unnamed", "dogs"), 0)
        XCTAssertEqual(feature("retrieval_rank_unnamed", "dogs"), 0)
        XCTAssertEqual(feature("retrieval_rank", "dogs"), 0.5)
        // A class of the topic in WordNet is a meeting of names too: "Realistic Dogs" for "corgi".
        let corgi = compose("a corgi", catalog: [Self.catalog[0], Self.catalog[8]])
        XCTAssertEqual(self.feature("adapter_head_related", of: corgi, topic: "corgi", adapter: "dogs"), 1)
        XCTAssertEqual(self.feature("lex_topic_coverage", of: corgi, topic: "corgi", adapter: "dogs"), 0)
        XCTAssertEqual(self.feature("unnamed", of: corgi, topic: "corgi", adapter: "dogs"), 0)
        XCTAssertEqual(self.feature("unnamed", of: corgi, topic: "corgi", adapter: "watercolor"), 1)
        // The explanation says which regime the evidence came from.
        let watercolor = c.topics.flatMap(\.decisions).first { $0.adapterID == "watercolor" }
        XCTAssertEqual(watercolor?.accepted, true)
        XCTAssertTrue(watercolor?.reason.contains("retrieved at rank 1 (its names do not meet the topic)") ?? false,
                      watercolor?.reason ?? "no decision")
    }

    func testExplanationsNeverGiveEvidenceForAFitAsAReasonAgainst() {
        // A fit on collinear evidence can weigh a feature against its reading; here "its head is in
        // the topic" counts against. A rejection then names what reads against, not that.
        var model = Self.testModel
        model.lexical.weights[ComposerFeatures.index["adapter_head_in_topic"]!] = -1
        model.lexical.bias = -4
        model.semantic = model.lexical
        let file = PromptFile(text: "a castle on a hill")
        let c = Composer.compose(topics: file.topics, candidates: Self.catalog, promptText: file.positiveText,
                                 options: ComposerOptions(baseModel: .sd15, model: model), evidence: ComposeEvidence(knowledge: TinyWordNet()))
        let castles = c.topics.flatMap(\.decisions).first { $0.adapterID == "castles" }
        XCTAssertEqual(castles?.accepted, false)
        let why = castles?.reason ?? ""
        XCTAssertTrue(why.hasPrefix("score "), why)
        XCTAssertFalse(why.contains("the topic names what it is about"), why)
        XCTAssertTrue(why.contains("its title adds words the topic does not ask for"), why)
    }

    /// A name used to say how the image looks asks for a style, not the person's likeness.
    func testAPersonNamedAsAStyleIsNotALikeness() {
        for prompt in ["a city painted in the style of Albert Einstein", "melting clocks, in the manner of Albert Einstein",
                       "a portrait, Einstein-esque", "Albert Einstein style poster"] {
            let c = compose(prompt)
            XCTAssertFalse(all(c).contains("einstein"), prompt)
            let topic = c.topics.first { $0.keyword.lowercased().contains("einstein") }
            let why = topic?.decisions.first { $0.adapterID == "einstein" }?.reason
            XCTAssertTrue(why?.contains("asks for a style") ?? false, "\(prompt): \(String(describing: topic?.keyword)) \(String(describing: why))")
        }
        XCTAssertEqual(all(compose("Albert Einstein writing on a blackboard, oil painting style")).filter { $0 == "einstein" }, ["einstein"])
    }

    func testBoundedMemoComputesOnceAndForgetsWhenFull() {
        let memo = BoundedMemo<String, Int>(capacity: 2)
        var computed: [String] = []
        func value(_ key: String) -> Int { memo.value(key) { computed.append($0); return $0.count } }
        XCTAssertEqual([value("a"), value("bb"), value("a")], [1, 2, 1])
        XCTAssertEqual(computed, ["a", "bb"])
        XCTAssertEqual(value("ccc"), 3)  // full: everything kept is dropped first
        XCTAssertEqual(value("a"), 1)
        XCTAssertEqual(computed, ["a", "bb", "ccc", "a"])
        // Values computed together (one encoder pass) are stored together and read back.
        memo.store(["dddd": 40])
        XCTAssertEqual(memo["dddd"], 40)
        XCTAssertNil(memo["ccc"], "storing past the bound dropped what was kept")
        XCTAssertEqual(value("dddd"), 40)
        XCTAssertEqual(computed.count, 4)
    }

    func testSubjectTagsDropCategoryAndBaseModelNames() {
        XCTAssertEqual(ComposerWords.subjectTags(["style", "Watercolor", "SDXL", "flux", "Pony", "watercolor", "ink wash", "animals"]),
                       ["watercolor", "ink wash"])
        // Remembered per raw tag: asking again (and in another order) gives the same answer.
        XCTAssertEqual(ComposerWords.subjectTags([" Ink Wash ", "Animals", "watercolor"]), ["ink wash", "watercolor"])
        // Exact base-model names only: a "ponytail" tag is hair, not Pony.
        XCTAssertEqual(ComposerWords.subjectTags(["ponytail", "Pony XL", "sd 1.5", "F.1", "Stable Diffusion XL"]), ["ponytail"])
    }

    /// The closest tag counts even when the card as a whole is far from the topic, and the lead says
    /// how far the closest candidate stands out from the next one.
    func testTagCosineAndLeadOverTheRunnerUp() {
        var rain = Self.adapter("rain", "Drizzle", tags: ["rain", "weather"], category: .concept)
        rain.vectors = AdapterVectors(card: [0.6, 0.8, 0], title: [0, 1, 0], tags: [[1, 0, 0], [0, 0, 1]])
        var street = Self.adapter("street", "Wet Street", tags: ["street"], category: .background)
        street.vectors = AdapterVectors(card: [0.7, 0, 0.71], title: [0, 0, 1], tags: [[0, 0, 1]])
        let file = PromptFile(text: "rain")
        let evidence = ComposeEvidence(topicVectors: [[1, 0, 0]], promptVector: [1, 0, 0], knowledge: TinyWordNet())
        let c = Composer.compose(topics: file.topics, candidates: [rain, street], promptText: file.positiveText,
                                 options: ComposerOptions(baseModel: .sd15, model: Self.testModel), evidence: evidence)
        let scored = Dictionary(uniqueKeysWithValues: (c.topics.first?.scored ?? []).map { ($0.adapterID, $0.features) })
        let tag = ComposerFeatures.index["cos_tag"]!, lead = ComposerFeatures.index["cos_lead"]!
        XCTAssertEqual(scored["rain"]?[tag] ?? 0, 1, accuracy: 1e-6)
        XCTAssertEqual(scored["street"]?[tag] ?? 1, 0, accuracy: 1e-6)
        XCTAssertEqual(scored["rain"]?[lead] ?? 0, 1 - 0.7, accuracy: 1e-6)
        XCTAssertEqual(scored["street"]?[lead] ?? 0, 0.7 - 1, accuracy: 1e-6)
    }

    /// Where the names do not meet the topic, how far a card's cosine stands above the topic's other
    /// weighed candidates, in their standard deviations: a paraphrase's card stands out.
    func testACardThatStandsOutOfItsNeighboursWhereTheNamesDoNotMeet() {
        var cards: [CandidateAdapter] = []
        for (id, cosine) in [("drizzle", 0.8), ("street", 0.2), ("neon", 0.2), ("fog", 0.4)] {
            var a = Self.adapter(id, id == "fog" ? "Fog" : "Card \(id)", tags: [], category: .concept)
            let rest = (1 - cosine * cosine).squareRoot()
            a.vectors = AdapterVectors(card: [Float(cosine), Float(rest), 0], title: [0, 0, 1])
            cards.append(a)
        }
        let file = PromptFile(text: "rainy weather")
        let evidence = ComposeEvidence(topicVectors: [[1, 0, 0]], promptVector: [1, 0, 0], knowledge: TinyWordNet())
        let c = Composer.compose(topics: file.topics, candidates: cards, promptText: file.positiveText,
                                 options: ComposerOptions(baseModel: .sd15, model: Self.testModel), evidence: evidence)
        func z(_ id: String) -> Double? { feature("cos_card_z_unnamed", of: c, topic: "rainy weather", adapter: id) }
        // Cosines 0.8, 0.2, 0.2, 0.4: mean 0.4, standard deviation sqrt(0.06).
        let spread = 0.06.squareRoot() + 1e-3
        XCTAssertEqual(z("drizzle") ?? 0, 0.4 / spread, accuracy: 1e-4)
        XCTAssertEqual(z("street") ?? 0, -0.2 / spread, accuracy: 1e-4)
        XCTAssertEqual(z("fog") ?? 1, 0, accuracy: 1e-4)
        XCTAssertTrue(Composer.describe("cos_card_z_unnamed", 1.63).hasPrefix("card cosine 1.63 standard deviations above"))
    }

    func testPromptBuilderWeightsDebiasAndRestoreConcepts() {
        let c = compose("a dog in knight armor, snow")
        XCTAssertEqual(chosen(c, "dog"), ["dogs"])
        XCTAssertEqual(chosen(c, "knight armor"), ["armor"])
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

/// A few WordNet-shaped facts in memory: dog ← corgi (via "working dog"), couch = sofa, persons.
struct TinyWordNet: WordKnowledge {
    static let synsets: [String: [Int]] = [
        "dog": [1], "working dog": [2], "corgi": [3], "couch": [4], "sofa": [4], "power": [5], "fern": [6],
        "einstein": [7], "albert": [8], "taylor": [9], "swift": [10], "line": [11], "castle": [12], "armor": [13],
    ]
    static let parents: [Int: [Int]] = [2: [1], 3: [2], 7: [20], 8: [20]]
    static let kinds: [Int: Int] = [1: 5, 2: 5, 3: 5, 4: 6, 5: 7, 6: 20, 7: 18, 8: 18, 9: 18, 10: 5, 11: 6, 12: 6, 13: 6]
    static let properNames: Set<String> = ["einstein", "albert"]

    func senses(of phrase: String) -> [Int] {
        let key = phrase.lowercased()
        return Self.synsets[key] ?? (key.hasSuffix("s") ? Self.synsets[String(key.dropLast())] ?? [] : [])
    }
    func hypernyms(of synset: Int) -> [Int] { Self.parents[synset] ?? [] }
    func lexicographerFile(of synset: Int) -> Int { Self.kinds[synset] ?? -1 }
    func isCommonWord(_ word: String) -> Bool { !senses(of: word).isEmpty && !Self.properNames.contains(word.lowercased()) }
}

/// Common words for the naming rules: the words a prompt uses for what they mean.
struct NamesWordNet: WordKnowledge {
    static let common: Set<String> = ["toothless", "jinx", "po", "forger", "moon", "princess", "dragon", "fury", "night"]
    func senses(of phrase: String) -> [Int] { Self.common.contains(phrase.lowercased()) ? [1] : [] }
    func hypernyms(of synset: Int) -> [Int] { [] }
    func lexicographerFile(of synset: Int) -> Int { -1 }
    func isCommonWord(_ word: String) -> Bool { Self.common.contains(word.lowercased()) }
}

/// Compound entries for the lexicalised-tag rule: "big cat" and "cat" are both felines, a "sausage
/// dog" is a dog, a "hot dog" is food; "depth of field" is not an entry, as in WordNet 3.0.
struct CompoundWordNet: WordKnowledge {
    static let synsets: [String: [Int]] = ["cat": [1], "big cat": [2], "dog": [3], "sausage dog": [4], "hot dog": [5],
                                           "field": [6], "depth": [7], "teal": [10], "pink": [11]]
    static let parents: [Int: [Int]] = [1: [9], 2: [9], 4: [3], 5: [8]]
    func senses(of phrase: String) -> [Int] { Self.synsets[phrase.lowercased()] ?? [] }
    func hypernyms(of synset: Int) -> [Int] { Self.parents[synset] ?? [] }
    func lexicographerFile(of synset: Int) -> Int { synset == 5 ? 13 : 5 }
    func isCommonWord(_ word: String) -> Bool { !senses(of: word).isEmpty }
}
