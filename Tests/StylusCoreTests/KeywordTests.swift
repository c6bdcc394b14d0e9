import Foundation
import StylusCore
import XCTest
import TestSupport

final class KeywordTests: XCTestCase {
    func topics(_ prompt: String) -> [String] {
        PromptFile(text: prompt).topics.map(\.keyword)
    }

    func testNaturalLanguageIsReducedToPhrases() {
        XCTAssertEqual(topics("an epic oil painting of a lone knight in full plate armor"),
                       ["oil painting", "knight", "full plate armor"])
        XCTAssertEqual(topics("a watercolor painting of a fox curled up in the snow"),
                       ["watercolor painting", "fox", "snow"])
        XCTAssertEqual(topics("pixel art of a wizard casting a spell in a dark dungeon"),
                       ["pixel art", "wizard", "casting a spell", "dark dungeon"])
        XCTAssertEqual(topics("the dragon breathing fire, storm clouds"), ["dragon", "breathing fire", "storm clouds"])
        XCTAssertEqual(topics("a knight and an orc clashing swords on a battlefield, sparks flying"),
                       ["knight", "orc", "clashing swords", "battlefield", "sparks flying"])
        XCTAssertEqual(topics("a hot dog with mustard and onions on a paper plate"),
                       ["hot dog", "mustard and onions", "paper plate"])
        XCTAssertEqual(topics("a close-up of a woman's hands"), ["close-up", "woman", "hands"])
        XCTAssertEqual(topics("stained glass window depicting a fox under a crescent moon"),
                       ["stained glass window", "fox", "crescent moon"])
    }

    /// A plural before "and" names things of its own: the two are two topics, in running text and
    /// in a tag. A single modifier still joins ("mustard and onions", "pink and teal gradient"),
    /// and so do two capitalised words, a name's.
    func testAPluralBeforeAndIsAThingOfItsOwn() {
        XCTAssertEqual(topics("food photography of a stack of pancakes with blueberries and maple syrup"),
                       ["food photography", "stack of pancakes", "blueberries", "maple syrup"])
        XCTAssertEqual(topics("portrait photo of a man with freckles and red hair, natural light"),
                       ["portrait photo", "man", "freckles", "red hair", "natural light"])
        XCTAssertEqual(topics("bioluminescent forest, mushrooms and ferns, deer"), ["bioluminescent forest", "mushrooms", "ferns", "deer"])
        XCTAssertEqual(topics("tabletop game, Dungeons and Dragons"), ["tabletop game", "Dungeons and Dragons"])
        XCTAssertEqual(topics("a map of Dungeons and Dragons"), ["map", "Dungeons and Dragons"])
        XCTAssertEqual(topics("salt and pepper, black and white photo"), ["salt and pepper", "black and white photo"])
    }

    func testAWeightedGroupIsATopicAndBracketsAreNotWords() {
        XCTAssertEqual(topics("(watercolor:1.3) illustration of a strawberry tart"), ["watercolor", "strawberry tart"])
        XCTAssertEqual(topics("1girl, standing under (power lines:1.2), summer"), ["1girl", "standing", "power lines", "summer"])
        // Plain emphasis stays inside its phrase, without its brackets.
        XCTAssertEqual(topics("a (fluffy) cat, [blurry] background"), ["fluffy cat", "blurry background"])
        XCTAssertEqual(topics("raiden shogun (genshin impact), naginata"), ["raiden shogun genshin impact", "naginata"])
        // Escaped brackets are text: a booru qualifier keeps them.
        XCTAssertEqual(topics("miku \\(vocaloid\\)"), ["miku (vocaloid)"])
    }

    func testAFiniteVerbEndsItsSubjectsPhrase() {
        XCTAssertEqual(topics("A giant mecha kneels in a flooded city while searchlights sweep across the water"),
                       ["giant mecha", "flooded city", "searchlights", "water"])
        XCTAssertEqual(topics("faint mist hangs between the trees"), ["faint mist", "trees"])
        // Plural nouns that are also verbs stay nouns: WordNet tags them as nouns too often.
        XCTAssertEqual(topics("a hedgehog curled up in autumn leaves"), ["hedgehog", "autumn leaves"])
        XCTAssertEqual(topics("two men in business suits with ties"), ["men", "business suits", "ties"])
        // A word as often a verb as a noun ends the phrase where an object follows it, or in its base
        // form after a plural subject; an unambiguous verb also before a participle.
        XCTAssertEqual(topics("Sailor Moon strikes her transformation pose on a rooftop"), ["Sailor Moon", "transformation pose", "rooftop"])
        XCTAssertEqual(topics("a great white shark circles the broken hull of a shipwreck"), ["white shark", "broken hull", "shipwreck"])
        XCTAssertEqual(topics("tangled power lines stretch behind her across a blue sky"), ["tangled power lines", "blue sky"])
        XCTAssertEqual(topics("a Cybertruck sits parked in front of a museum"), ["Cybertruck", "museum"])
        // A verb's own object keeps its words: "kids" is no verb here.
        XCTAssertEqual(topics("a dog giving kids a ride"), ["dog", "giving kids", "ride"])
        // Irregular past forms from WordNet's verb.exc end a phrase too when no noun follows; before
        // a noun they are its modifier.
        XCTAssertEqual(topics("a tower overgrown with ivy, a shield broken in half"), ["tower", "ivy", "shield", "half"])
        XCTAssertEqual(topics("a backpack laid out on wooden planks"), ["backpack", "wooden planks"])
        XCTAssertEqual(topics("a fallen knight beside a broken sword"), ["fallen knight", "broken sword"])
        // A verb needs a subject: "sits" alone is not cut from nothing.
        XCTAssertEqual(topics("a cup of tea on a table"), ["cup of tea", "table"])
        // At the end of a clause only a word that is almost never a noun is its verb.
        XCTAssertEqual(topics("a lighthouse on the cliff as the last daylight fades."), ["lighthouse", "cliff", "last daylight"])
        XCTAssertEqual(topics("a garden with climbing roses, coffee beans"), ["garden", "climbing roses", "coffee beans"])
    }

    func testTheWordAfterASubjectPronounIsItsVerb() {
        // After "he", "she" or "it" an -s form is the verb, whatever else it could be.
        XCTAssertEqual(topics("she points toward the distant castle"), ["distant castle"])
        XCTAssertEqual(topics("a knight kneels; he slowly draws his sword"), ["knight", "sword"])
        // An adverb after a verb cut from the phrases goes with it; a verb's next word is read past adverbs.
        XCTAssertEqual(topics("a lantern in the fog, it glows softly"), ["lantern", "fog"])
        XCTAssertEqual(topics("mist hangs quietly over the lake"), ["mist", "lake"])
        // After "they" or "we", a form WordNet's tagged counts know as a verb.
        XCTAssertEqual(topics("children on a beach as they build a sandcastle"), ["children", "beach", "sandcastle"])
        // Possessives are no subject: their noun stays.
        XCTAssertEqual(topics("her braids and his cloak"), ["braids", "cloak"])
        // An object "it" before a colour: nothing is dropped.
        XCTAssertEqual(topics("a red door, paint it black"), ["red door", "paint", "black"])
    }

    func testAnAdverbGoesWithItsVerbNeverANounPhrase() {
        // Before a verb it leaves the subject's phrase.
        XCTAssertEqual(topics("a girl in a long hallway slowly turning around"), ["girl", "long hallway", "turning"])
        // A verb-or-noun word before a clause-final adverb, or an adverb and a preposition, is a verb.
        XCTAssertEqual(topics("rain on the glass as the cockpit glows faintly"), ["rain", "glass", "cockpit"])
        XCTAssertEqual(topics("the banner waves proudly over the gate"), ["banner", "gate"])
        // Before a participle the plural is the subject: "waves" stays a noun.
        XCTAssertEqual(topics("ocean waves gently crashing on the rocks"), ["ocean waves", "crashing", "rocks"])
        // Only words WordNet has as adverbs alone: "family" and "elderly" are no adverbs.
        XCTAssertEqual(topics("a rabbit family beside an elderly man"), ["rabbit family", "elderly man"])
        // In an -ing verb's phrase it stays with its verb.
        XCTAssertEqual(topics("a crystal ball glowing softly on the table"), ["crystal ball", "glowing softly", "table"])
        // An adverb alone is no topic.
        XCTAssertEqual(topics("a backpack laid out neatly on wooden planks"), ["backpack", "wooden planks"])
    }

    func testADegreeAdverbStaysInATwoWordTag() {
        // Cut from the tag, the lone participle would leave no topic at all.
        XCTAssertEqual(topics("meadow, highly detailed"), ["meadow", "highly detailed"])
        XCTAssertEqual(topics("knight, fully armored"), ["knight", "fully armored"])
        // In running text and in longer tags it is a function word still.
        XCTAssertEqual(topics("a very old tree"), ["old tree"])
        XCTAssertEqual(topics("instant photo, slightly faded colors"), ["instant photo", "faded colors"])
        XCTAssertEqual(topics("very"), [])
    }

    func testAVerbAfterAndContinuesItsClause() {
        // The clause has had its verb ("sweep"): "cut" of the same person, before a preposition, is another.
        XCTAssertEqual(topics("searchlights sweep across the water and cut through the mist"), ["searchlights", "water", "mist"])
        XCTAssertEqual(topics("waves crash against rocks and spray into the air"), ["waves", "rocks", "air"])
        XCTAssertEqual(topics("she smiles and turns toward the camera"), ["camera"])
        // A base form after an "-s" verb is a noun joined by "and"; so is anything without a verb before it.
        XCTAssertEqual(topics("he wears a hat and coat in the snow"), ["hat and coat", "snow"])
        XCTAssertEqual(topics("a chef cooks with salt and pepper on the table"), ["chef", "salt and pepper", "table"])
        XCTAssertEqual(topics("a knight and guard at the gate"), ["knight and guard", "gate"])
    }

    func testAStyleModifierIsATopicOfItsOwn() {
        XCTAssertEqual(topics("claymation-style wolf howling at a paper moon"), ["claymation-style", "wolf", "howling", "paper moon"])
        XCTAssertEqual(topics("ghibli-style landscape, rolling hills"), ["ghibli-style", "landscape", "rolling hills"])
        XCTAssertEqual(topics("Kahlo-esque portrait of a woman with flowers"), ["Kahlo-esque", "woman", "flowers"])
    }

    func testOfJoinsContainersStylesAndNames() {
        XCTAssertEqual(topics("a steaming cup of coffee"), ["steaming cup of coffee"])
        XCTAssertEqual(topics("an oil painting in the style of Rembrandt"), ["oil painting", "style of Rembrandt"])
        XCTAssertEqual(topics("Geralt of Rivia fighting a griffin"), ["Geralt of Rivia", "fighting a griffin"])
        XCTAssertEqual(topics("a phoenix, wings made of fire"), ["phoenix", "wings made of fire"])
        XCTAssertEqual(topics("a huge ringed planet filling the sky").first, "huge ringed planet")
        XCTAssertEqual(topics("an oil painting of a harbor"), ["oil painting", "harbor"])
        XCTAssertEqual(topics("portrait of a wolf, depth of field"), ["wolf", "depth of field"])
    }

    func testBooruQualifiersAndNamesWithTheStayWhole() {
        XCTAssertEqual(topics("1girl, jinx \\(league of legends\\), arcane, power \\(chainsaw man\\)"),
                       ["1girl", "jinx (league of legends)", "arcane", "power (chainsaw man)"])
        // A qualifier's own punctuation is part of its name; after it, a colon separates again.
        XCTAssertEqual(topics("kafka \\(honkai: star rail\\), rem \\(re:zero\\): blue hair"),
                       ["kafka (honkai: star rail)", "rem (re:zero)", "blue hair"])
        XCTAssertEqual(topics("sonic the hedgehog, running, winnie the pooh"), ["sonic the hedgehog", "running", "winnie the pooh"])
        // Running text still splits at "the": it is a determiner there.
        XCTAssertEqual(topics("a cat on the roof"), ["cat", "roof"])
    }

    func testTagListsStayWholeAndBoilerplateGoes() {
        XCTAssertEqual(topics("masterpiece, best quality, 1girl, silver armor, castle background, (glowing eyes:1.2), night"),
                       ["1girl", "silver armor", "castle background", "glowing eyes", "night"])
        XCTAssertEqual(topics("score_9, score_8_up, score_7_up, source_anime, rating_safe, cyberpunk, 1girl, neon jacket"),
                       ["cyberpunk", "1girl", "neon jacket"])
        XCTAssertEqual(topics("vaporwave aesthetic, pink and teal gradient, 8k, absurdres, highres"),
                       ["vaporwave aesthetic", "pink and teal gradient"])
        XCTAssertEqual(topics("1girl, sitting on a chair, looking at viewer"), ["1girl", "sitting on a chair", "looking at viewer"])
        XCTAssertEqual(topics("long_hair, cat_ears"), ["long hair", "cat ears"])
    }

    /// Retrieval queries drop whole quality tags (any case, underscores, Pony scores) and keep the rest.
    func testBoilerplateTagsLeaveRetrievalQueries() {
        XCTAssertEqual(Lexicon.withoutBoilerplateTags("masterpiece, best quality, a knight in armor, score_9_up, 8K"), "a knight in armor")
        XCTAssertEqual(Lexicon.withoutBoilerplateTags("Masterpiece ,  BEST_QUALITY,watercolor  fox,,"), "watercolor fox")
        XCTAssertEqual(Lexicon.withoutBoilerplateTags("masterpiece"), "")
        XCTAssertEqual(Lexicon.withoutBoilerplateTags("a masterpiece of a castle"), "a masterpiece of a castle")
        XCTAssertEqual(Lexicon.withoutBoilerplateTags("high quality photo of a cat, bokeh"), "high quality photo of a cat, bokeh")
    }

    func testLoRATagsWildcardsAndCommentsAreNotTopics() {
        XCTAssertEqual(topics("<lora:add_detail:0.5>, a castle # a comment about dragons\n__colors__ dress, knight"),
                       ["castle", "dress", "knight"])
    }

    func testTopicsKeepRangesAndWeights() {
        let file = PromptFile(text: "---\nsteps: 20\n---\n🐱 cat, ((glowing eyes)), [mist]")
        let topics = file.topics
        XCTAssertEqual(topics.map(\.keyword), ["cat", "glowing eyes", "mist"])
        XCTAssertEqual(topics[0].range.lsp.start, Position(line: 3, character: 3))
        XCTAssertEqual(file.source.slice(topics[1].range.utf8), "glowing eyes")
        XCTAssertEqual(topics[1].weight, 1.21, accuracy: 1e-9)
        XCTAssertEqual(topics[2].weight, 1 / 1.1, accuracy: 1e-9)
    }

    func testScheduleAndAlternationBranchesAreSeparateTopics() {
        XCTAssertEqual(topics("a [cat:dog:0.5] on a [sofa|bed]"), ["cat", "dog", "sofa", "bed"])
    }

    func testBreakAndANDSplitTopics() {
        XCTAssertEqual(topics("red dress BREAK blue hat AND green scarf"), ["red dress", "blue hat", "green scarf"])
    }

    func testEscapedParenthesesStayInsideATag() {
        XCTAssertEqual(topics(#"hatsune miku \(vocaloid\), stage"#), ["hatsune miku (vocaloid)", "stage"])
    }

    func testDuplicatesAreDroppedAndEmptyPromptsHaveNoTopics() {
        XCTAssertEqual(topics("cat, Cat, cat"), ["cat"])
        XCTAssertEqual(topics(""), [])
        XCTAssertEqual(topics(" , ,, (:1.2) []"), [])
    }

    /// Every labelled prompt of the development benchmark parses without syntax errors, gives topics,
    /// and each topic's range covers text that normalises to its keyword.
    func testDevBenchmarkPrompts() throws {
        let data = try Data(contentsOf: try RequiredFiles.benchmarkFile("dev/queries.jsonl"))
        var count = 0
        for line in String(decoding: data, as: UTF8.self).split(separator: "\n") {
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            let prompt = try XCTUnwrap(object?["prompt"] as? String)
            let file = PromptFile(text: prompt)
            XCTAssertFalse(file.diagnostics.contains { $0.severity == .error }, prompt)
            let topics = file.topics
            XCTAssertFalse(topics.isEmpty, prompt)
            for topic in topics {
                let raw = file.source.slice(topic.range.utf8)
                // Escapes resolved, emphasis brackets dropped (they are syntax), underscores as spaces.
                var text = ""
                var escaped = false
                for ch in raw {
                    if ch == "\\", !escaped { escaped = true; continue }
                    if !escaped, "()[]".contains(ch) { continue }
                    escaped = false
                    text.append(ch == "_" ? " " : ch)
                }
                let normalised = text.split(whereSeparator: \.isWhitespace).joined(separator: " ")
                XCTAssertEqual(normalised, topic.keyword, prompt)
            }
            count += 1
        }
        XCTAssertGreaterThan(count, 100)
    }
}
