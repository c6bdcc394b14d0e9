/// Evidence that an adapter fits a topic, as numbers the learned scorer (`ComposerModel`) weighs.
///
/// Semantic evidence comes from sentence embeddings (the topic against the adapter's card text and
/// its title, the whole prompt against the card, the topic against a one-line description of each
/// adapter category); lexical evidence from the adapter's names (title, tags, trigger words) in the
/// topic and vice versa; knowledge from WordNet (synonyms, is-a, what kind of thing the topic is).
/// Features relative to the other candidates (gaps to the best, rank) let one threshold work for
/// topics whose cosines sit at different levels.

/// Unit vectors the composer compares (nil parts: that evidence is missing).
public struct AdapterVectors: Sendable, Hashable {
    /// The embedding of the card's refined description (what retrieval uses).
    public var card: [Float]
    /// The embedding of the cleaned title.
    public var title: [Float]
    /// The embeddings of its subject tags (`ComposerWords.subjectTags`), one per tag.
    public var tags: [[Float]]

    public init(card: [Float], title: [Float], tags: [[Float]] = []) {
        self.card = card
        self.title = title
        self.tags = tags
    }
}

/// What one compose call knows beyond the candidates.
public struct ComposeEvidence: Sendable {
    /// One unit vector per topic (empty: no embeddings, the lexical model is used).
    public var topicVectors: [[Float]]
    public var promptVector: [Float]?
    /// A unit vector per adapter category, from `ComposerFeatures.categoryDescriptions`.
    public var categoryVectors: [AdapterCategory: [Float]]
    public var knowledge: (any WordKnowledge)?
    /// Per topic, adapter ids in the order the hybrid retriever ranked them for that topic.
    public var topicRankings: [[String]]

    public init(topicVectors: [[Float]] = [], promptVector: [Float]? = nil, categoryVectors: [AdapterCategory: [Float]] = [:],
                knowledge: (any WordKnowledge)? = nil, topicRankings: [[String]] = []) {
        self.topicVectors = topicVectors
        self.promptVector = promptVector
        self.categoryVectors = categoryVectors
        self.knowledge = knowledge
        self.topicRankings = topicRankings
    }

    public static let none = ComposeEvidence()
    public var isSemantic: Bool { !topicVectors.isEmpty }
}

public enum ComposerFeatures {
    public static let names: [String] = [
        "cos_card", "cos_title", "cos_prompt_card", "cos_card_gap", "cos_title_gap", "cos_title_top", "category_fit",
        "retrieval_rank",
        "lex_head_named", "lex_topic_coverage", "lex_title_coverage", "lex_title_extra", "lex_exact_name", "adapter_head_in_topic",
        "adapter_head_related", "wn_same", "wn_topic_narrower", "wn_adapter_narrower", "wn_kind_agrees", "wn_kind_disagrees", "person_extra",
        "cat_style", "cat_character", "cat_concept", "cat_clothing", "cat_background", "cat_building", "cat_vehicle",
        "cat_animal", "cat_pose", "cat_object", "lead_topic", "topic_length", "cos_tag", "cos_lead", "lex_modifier_only",
        "unnamed", "cos_card_unnamed", "cos_tag_unnamed", "retrieval_rank_unnamed", "cos_lead_unnamed", "lex_description_unnamed",
        "cos_card_z_unnamed",
    ]
    public static let index: [String: Int] = Dictionary(uniqueKeysWithValues: names.enumerated().map { ($1, $0) })

    /// Which way a feature reads: +1 when a higher value says the adapter fits (a closer cosine, a
    /// better rank), -1 when it says the opposite (words the title adds, narrower than the topic).
    /// Features not listed (category, topic length, lead topic) say nothing on their own. A fit on
    /// collinear evidence can weigh a feature against its reading; explanations then skip it.
    public static let polarity: [String: Double] = [
        "cos_card": 1, "cos_title": 1, "cos_prompt_card": 1, "cos_title_top": 1, "category_fit": 1, "retrieval_rank": 1,
        "lex_head_named": 1, "lex_topic_coverage": 1, "lex_title_coverage": 1, "lex_exact_name": 1,
        "adapter_head_in_topic": 1, "adapter_head_related": 1, "wn_same": 1, "wn_topic_narrower": 1, "wn_kind_agrees": 1,
        "cos_tag": 1, "cos_lead": 1,
        "cos_card_gap": -1, "cos_title_gap": -1, "lex_title_extra": -1, "wn_adapter_narrower": -1, "wn_kind_disagrees": -1,
        "person_extra": -1, "lex_modifier_only": -1,
        "cos_card_unnamed": 1, "cos_tag_unnamed": 1, "retrieval_rank_unnamed": 1, "cos_lead_unnamed": 1, "unnamed": -1,
        "lex_description_unnamed": 1, "cos_card_z_unnamed": 1,
    ]

    /// The closeness features that get a weight of their own when the adapter's names do not meet
    /// the topic at all, not even through WordNet (`unnamed`): a paraphrase ("rainy day" for
    /// "Drizzle") has only them to go on, while beside a name match they mostly repeat it, so one
    /// weight for both regimes undervalues them where they are all the evidence there is.
    static let unnamedRegime: [(feature: String, unnamed: String)] = [
        ("cos_card", "cos_card_unnamed"), ("cos_tag", "cos_tag_unnamed"), ("retrieval_rank", "retrieval_rank_unnamed"),
        ("cos_lead", "cos_lead_unnamed"),
    ]

    /// One-line descriptions of what each category's adapters draw, embedded once per process: the
    /// topic's cosine with its adapter's category, relative to the best category, says whether the
    /// topic is that kind of thing ("tintype portrait" reads as a style, "sofa" as an object).
    public static let categoryDescriptions: [(AdapterCategory, String)] = [
        (.style, "an art style, medium or visual aesthetic of the whole image"),
        (.character, "a named fictional character"),
        (.celebrity, "a famous real person"),
        (.concept, "a visual effect or concept"),
        (.clothing, "clothing, an outfit or accessory worn by a person"),
        (.background, "a place, setting or background scenery"),
        (.building, "a building or architecture"),
        (.vehicle, "a vehicle"),
        (.animal, "an animal or creature"),
        (.pose, "a body pose"),
        (.action, "an action or activity"),
        (.object, "an object or item"),
        (.tool, "a tool or weapon"),
    ]

    /// WordNet kinds that agree with an adapter category (a topic naming a person fits a character
    /// adapter, an artifact fits clothing, …). Categories absent here (concept) take any kind.
    static let agreeingKinds: [AdapterCategory: Set<Int>] = [
        .style: [LexicographerFile.communication, LexicographerFile.act, LexicographerFile.attribute, 9, 11],
        .character: [LexicographerFile.person], .celebrity: [LexicographerFile.person],
        .clothing: [LexicographerFile.artifact, 8], .building: [LexicographerFile.artifact, LexicographerFile.location],
        .vehicle: [LexicographerFile.artifact], .animal: [LexicographerFile.animal],
        .background: [LexicographerFile.location, LexicographerFile.object, LexicographerFile.phenomenon, LexicographerFile.artifact,
                      LexicographerFile.plant, 28],
        .pose: [LexicographerFile.act, 8], .action: [LexicographerFile.act],
        .object: [LexicographerFile.artifact, LexicographerFile.food, LexicographerFile.plant, LexicographerFile.object, 27],
        .tool: [LexicographerFile.artifact],
    ]

    /// Candidates scored per topic: the closest by embedding (or name) closeness; the rest are not plausible enough to weigh.
    public static let scoredPerTopic = 12

    package static func dot(_ a: [Float], _ b: [Float]) -> Double {
        guard a.count == b.count, !a.isEmpty else { return 0 }
        var s: Float = 0
        for i in a.indices { s += a[i] * b[i] }
        return Double(s)
    }

    /// Several vectors (a prompt's topics) laid out dimension by dimension, so the dot products of
    /// all of them with one vector run side by side in SIMD lanes. Each lane adds its products in
    /// the order `dot` does, rounding each product and each sum (no fused multiply-add), so every
    /// result has the same bits as `dot`'s; `dot`'s one sequential chain per pair was most of
    /// `compute` on prompts with many topics.
    package struct TransposedVectors {
        typealias Lanes = SIMD8<Float>
        let vectors: [[Float]]
        let dimension: Int
        /// `lanes[i * groups + g]` holds component i of vectors 8g..<8g+8 (zero past the last).
        let lanes: [Lanes]
        let groups: Int

        package init(_ vectors: [[Float]]) {
            let dimension = vectors.first?.count ?? 0
            let groups = (vectors.count + Lanes.scalarCount - 1) / Lanes.scalarCount
            var lanes = [Lanes](repeating: Lanes(), count: dimension * groups)
            if vectors.allSatisfy({ $0.count == dimension }) {
                for (k, v) in vectors.enumerated() {
                    for i in 0..<dimension { lanes[i * groups + k / Lanes.scalarCount][k % Lanes.scalarCount] = v[i] }
                }
            }
            (self.vectors, self.dimension, self.groups, self.lanes) = (vectors, dimension, groups, lanes)
        }

        /// `dot(vectors[k], b)` for every k.
        package func dots(_ b: [Float]) -> [Double] {
            guard dimension > 0, b.count == dimension, vectors.allSatisfy({ $0.count == dimension }) else {
                return vectors.map { ComposerFeatures.dot($0, b) }
            }
            var sums = [Lanes](repeating: Lanes(), count: groups)
            lanes.withUnsafeBufferPointer { lanes in
                b.withUnsafeBufferPointer { b in
                    // Up to 32 vectors at a time in four register accumulators (an array of sums
                    // would go through memory on every step).
                    for g0 in stride(from: 0, to: groups, by: 4) {
                        let width = min(4, groups - g0)
                        var s0 = Lanes(), s1 = Lanes(), s2 = Lanes(), s3 = Lanes()
                        for i in 0..<dimension {
                            let x = Lanes(repeating: b[i]), row = i * groups + g0
                            s0 = s0 + lanes[row] * x
                            if width > 1 { s1 = s1 + lanes[row + 1] * x }
                            if width > 2 { s2 = s2 + lanes[row + 2] * x }
                            if width > 3 { s3 = s3 + lanes[row + 3] * x }
                        }
                        for (k, s) in [s0, s1, s2, s3].prefix(width).enumerated() { sums[g0 + k] = s }
                    }
                }
            }
            return vectors.indices.map { Double(sums[$0 / Lanes.scalarCount][$0 % Lanes.scalarCount]) }
        }
    }

    static let functionWords: Set<String> = Lexicon.functionWords.union(ComposerLexicon.headStops)
}

/// The words of a topic the lexical and knowledge features use.
struct TopicTerms {
    var keyword: String
    var words: [String]
    /// Words that carry content (no articles or prepositions), in their base forms
    /// (`ComposerLexicon.baseForm`), as the adapter's names are compared.
    var content: Set<String>
    /// The topic's head in its base form ("misty forest" → forest, "rainy" → rain).
    var head: String?
    /// The phrase looked up in WordNet: the whole topic when it is an entry ("harpy eagle"), else the head.
    var lookup: String?
    var kind: Int
    var namesPerson: Bool

    init(_ keyword: String, knowledge: (any WordKnowledge)?) {
        self.keyword = keyword
        words = ComposerLexicon.words(keyword)
        let core = words.filter { !ComposerFeatures.functionWords.contains($0) }
        content = Set(core.map(ComposerLexicon.baseForm))
        let head = TopicWords(keyword: keyword).head
        self.head = head.map(ComposerLexicon.baseForm)
        var lookup = head
        var kind = -1
        var person = false
        if let knowledge {
            // The longest run of words ending at the head that WordNet knows ("oil painting", "harpy eagle").
            if let head, let end = core.lastIndex(of: head) {
                for start in 0...end where knowledge.senses(of: core[start...end].joined(separator: " ")).first != nil {
                    lookup = core[start...end].joined(separator: " ")
                    break
                }
            }
            kind = lookup.map { knowledge.kind(of: $0) } ?? -1
            person = core.contains { knowledge.kind(of: $0) == LexicographerFile.person }
        }
        self.lookup = lookup
        self.kind = kind
        namesPerson = person
    }
}

extension AdapterNames {
    /// The words of the title alternatives that carry content.
    static func contentWords(_ titleNames: [[String]]) -> Set<String> {
        Set(titleNames.joined().filter { !ComposerFeatures.functionWords.contains($0) && !ComposerLexicon.tagNoise.contains($0) })
    }

    /// Each title alternative (the first two) and its head, then the primary tag; no repeats.
    static func knowledgeNames(titleNames: [[String]], tagNames: [[String]]) -> [String] {
        var out: [String] = []
        for name in titleNames.prefix(2) {
            out.append(name.joined(separator: " "))
            if let h = AdapterNames.heads([name]).first, name.count > 1 { out.append(h) }
        }
        if let tag = tagNames.first { out.append(tag.joined(separator: " ")) }
        var seen: Set<String> = []
        return out.filter { seen.insert($0).inserted }
    }
}

extension ComposerFeatures {
    /// The pairs a compose call computes features for, per topic: the `scoredPerTopic` closest
    /// candidates the hard rules let through (`weighed`, the ones the scorer decides), and, so that
    /// explanations can say what a rule overrode, the closest rejected ones and those named like the
    /// topic. Every other pair is too far from the topic to matter and costs nothing.
    struct Selection {
        /// rows[t][j]: the features of topic t and candidate j, nil when not computed.
        var rows: [[[Double]?]]
        var weighed: [[Bool]]
    }

    static let iCosCard = index["cos_card"]!, iCosTitle = index["cos_title"]!, iCosPromptCard = index["cos_prompt_card"]!
    static let iCosCardGap = index["cos_card_gap"]!, iCosTitleGap = index["cos_title_gap"]!, iCosTitleTop = index["cos_title_top"]!
    static let iCategoryFit = index["category_fit"]!, iRetrievalRank = index["retrieval_rank"]!
    static let iLexHeadNamed = index["lex_head_named"]!, iLexTopicCoverage = index["lex_topic_coverage"]!
    static let iLexTitleCoverage = index["lex_title_coverage"]!, iLexTitleExtra = index["lex_title_extra"]!
    static let iLexExactName = index["lex_exact_name"]!
    static let iAdapterHeadInTopic = index["adapter_head_in_topic"]!, iAdapterHeadRelated = index["adapter_head_related"]!
    static let iWnSame = index["wn_same"]!, iWnTopicNarrower = index["wn_topic_narrower"]!, iWnAdapterNarrower = index["wn_adapter_narrower"]!
    static let iWnKindAgrees = index["wn_kind_agrees"]!, iWnKindDisagrees = index["wn_kind_disagrees"]!, iPersonExtra = index["person_extra"]!
    static let iLeadTopic = index["lead_topic"]!, iTopicLength = index["topic_length"]!, iCosTag = index["cos_tag"]!, iCosLead = index["cos_lead"]!
    static let iLexModifierOnly = index["lex_modifier_only"]!, iUnnamed = index["unnamed"]!
    static let iLexDescriptionUnnamed = index["lex_description_unnamed"]!, iCosCardZUnnamed = index["cos_card_z_unnamed"]!
    static let unnamedPairs: [(Int, Int)] = unnamedRegime.map { (index[$0.feature]!, index[$0.unnamed]!) }
    static let categoryIndex: [AdapterCategory: Int] = [
        .style: index["cat_style"]!, .character: index["cat_character"]!, .celebrity: index["cat_character"]!,
        .concept: index["cat_concept"]!, .clothing: index["cat_clothing"]!, .background: index["cat_background"]!,
        .building: index["cat_building"]!, .vehicle: index["cat_vehicle"]!, .animal: index["cat_animal"]!,
        .pose: index["cat_pose"]!, .action: index["cat_pose"]!, .object: index["cat_object"]!, .tool: index["cat_object"]!,
    ]

    /// Features of the (topic, candidate) pairs worth weighing; `allowed[t][j]` marks candidates the
    /// hard rules let through (gaps and ranks are relative to those only).
    static func compute(topics: [TopicTerms], profiles: [AdapterProfile], allowed: [[Bool]],
                        evidence: ComposeEvidence) -> Selection {
        let n = names.count
        let semantic = evidence.isSemantic && evidence.topicVectors.count == topics.count
        // Cosines and name coverage first: pre-ranking and the gaps to the best need them for all.
        var cosCard = [[Double]](repeating: [Double](repeating: 0, count: profiles.count), count: topics.count)
        var cosTitle = cosCard
        var cosTag = cosCard
        if semantic {
            let topicVectors = TransposedVectors(evidence.topicVectors)
            for (j, p) in profiles.enumerated() {
                guard let v = p.vectors else { continue }
                let card = topicVectors.dots(v.card), title = topicVectors.dots(v.title)
                let tags = v.tags.map(topicVectors.dots)
                for t in topics.indices {
                    cosCard[t][j] = card[t]
                    cosTitle[t][j] = title[t]
                    cosTag[t][j] = tags.map { $0[t] }.max() ?? 0
                }
            }
        }
        var categoryFit: [[AdapterCategory: Double]] = Array(repeating: [:], count: topics.count)
        if semantic, !evidence.categoryVectors.isEmpty {
            for t in topics.indices {
                var fits: [AdapterCategory: Double] = [:]
                for (c, v) in evidence.categoryVectors { fits[c] = dot(evidence.topicVectors[t], v) }
                let best = fits.values.max() ?? 0
                categoryFit[t] = fits.mapValues { $0 - best }
            }
        }
        let rankings: [[String: Int]] = evidence.topicRankings.map { ids in
            var r: [String: Int] = [:]
            for (i, id) in ids.enumerated() where r[id] == nil { r[id] = i }
            return r
        }
        func rank(_ t: Int, _ j: Int) -> Double {
            guard t < rankings.count, let r = rankings[t][profiles[j].id] else { return 0 }
            return 1 / (1 + Double(r))
        }
        let coverage: [[Double]] = topics.map { t in profiles.map { p in Self.topicCoverage(t, p, knowledge: evidence.knowledge) } }
        // Orders a topic's candidates before scoring: embedding closeness when there are embeddings,
        // else how much of the topic the adapter's names cover.
        func closeness(_ t: Int, _ j: Int) -> Double {
            semantic ? cosTitle[t][j] + cosCard[t][j] : coverage[t][j] + rank(t, j)
        }

        var memo = WordRelationMemo()
        var personWords: [String: Bool] = [:]
        // The prompt's cosine with a card is the same for every topic: computed once per candidate.
        var promptCard = [Double?](repeating: nil, count: profiles.count)
        // So are a card's description words (kept across composes by their text, which is long to hash).
        var descriptionWords = [Set<String>?](repeating: nil, count: profiles.count)
        var selection = Selection(rows: Array(repeating: Array(repeating: nil, count: profiles.count), count: topics.count),
                                  weighed: Array(repeating: Array(repeating: false, count: profiles.count), count: topics.count))
        for (t, topic) in topics.enumerated() {
            let key = profiles.indices.map { closeness(t, $0) }
            let order = profiles.indices.sorted { a, b in key[a] != key[b] ? key[a] > key[b] : a < b }
            let okIdx = order.filter { allowed[t][$0] }
            for j in okIdx.prefix(scoredPerTopic) { selection.weighed[t][j] = true }
            var needed = Set(okIdx.prefix(scoredPerTopic))
            needed.formUnion(order.lazy.filter { !allowed[t][$0] }.prefix(scoredPerTopic))
            needed.formUnion(profiles.indices.lazy.filter { !allowed[t][$0] && coverage[t][$0] >= 0.5 })

            let bestCard = okIdx.map { cosCard[t][$0] }.max() ?? 0
            // How far a card's cosine stands above the topic's weighed candidates, in their standard
            // deviations: a paraphrase's card stands out, the best of a topic nothing fits does not.
            let weighedCards = okIdx.prefix(scoredPerTopic).map { cosCard[t][$0] }
            var cardMean = 0.0, cardSpread = 0.0
            if weighedCards.count >= 3 {
                cardMean = weighedCards.reduce(0, +) / Double(weighedCards.count)
                let variance = weighedCards.reduce(0) { $0 + ($1 - cardMean) * ($1 - cardMean) } / Double(weighedCards.count)
                cardSpread = variance.squareRoot() + 1e-3
            }
            let bestTitle = okIdx.map { cosTitle[t][$0] }.max() ?? 0
            // How far each candidate's closeness (card or tag, whichever is higher) leads the best of
            // the others: the obvious adapter of a topic stands out from its neighbours.
            let close = profiles.indices.map { max(cosCard[t][$0], cosTag[t][$0]) }
            var first = -Double.infinity, second = -Double.infinity, firstIndex = -1
            for j in okIdx {
                if close[j] > first { second = first; first = close[j]; firstIndex = j } else if close[j] > second { second = close[j] }
            }
            for j in needed.sorted() {
                let p = profiles[j]
                var x = [Double](repeating: 0, count: n)
                if semantic {
                    x[iCosCard] = cosCard[t][j]
                    x[iCosTitle] = cosTitle[t][j]
                    if let pv = evidence.promptVector, let v = p.vectors {
                        if promptCard[j] == nil { promptCard[j] = dot(pv, v.card) }
                        x[iCosPromptCard] = promptCard[j]!
                    }
                    x[iCosCardGap] = bestCard - cosCard[t][j]
                    x[iCosTitleGap] = bestTitle - cosTitle[t][j]
                    x[iCosTitleTop] = cosTitle[t][j] >= bestTitle && allowed[t][j] ? 1 : 0
                    x[iCategoryFit] = categoryFit[t][p.category] ?? 0
                    x[iCosTag] = cosTag[t][j]
                    let runnerUp = j == firstIndex ? second : first
                    x[iCosLead] = runnerUp.isFinite ? close[j] - runnerUp : close[j]
                }
                x[iRetrievalRank] = rank(t, j)
                // Lexical: names in the topic, and the topic in the names.
                x[iLexHeadNamed] = topic.head.map { Self.names(p, $0, in: topic, knowledge: evidence.knowledge) ? 1 : 0 } ?? 0
                x[iLexTopicCoverage] = coverage[t][j]
                let title = p.titleContent
                if !title.isEmpty {
                    var inTopic = 0
                    for w in title where topic.content.contains(w) { inTopic += 1 }
                    x[iLexTitleCoverage] = Double(inTopic) / Double(title.count)
                    x[iLexTitleExtra] = Double(min(3, title.count - inTopic)) / 3
                    // Every title word is in the topic and every topic word among its names (title,
                    // tags, triggers): a linear model cannot build this conjunction from the two
                    // collinear coverages.
                    x[iLexExactName] = inTopic == title.count && coverage[t][j] >= 1 ? 1 : 0
                }
                // Scope: what the adapter is about (its title's head) must be what the topic asks for.
                let heads = p.titleHeads
                x[iAdapterHeadInTopic] = heads.contains(where: topic.content.contains) ? 1 : 0
                if let knowledge = evidence.knowledge, let lookup = topic.lookup {
                    var same = false, topicNarrower = 99, adapterNarrower = 99
                    for name in p.knowledgeNames {
                        switch memo.relation(lookup, name, knowledge) {
                        case .same: same = true
                        case .narrower(let d): topicNarrower = min(topicNarrower, d)
                        case .broader(let d): adapterNarrower = min(adapterNarrower, d)
                        case .unrelated: break
                        }
                    }
                    x[iWnSame] = same ? 1 : 0
                    if let th = topic.head, heads.contains(where: { h in
                        switch memo.relation(th, h, knowledge) {
                        case .same, .narrower: return true
                        default: return false
                        }
                    }) {
                        x[iAdapterHeadRelated] = 1
                    }
                    if topicNarrower < 99 { x[iWnTopicNarrower] = 1 / Double(topicNarrower) }
                    if adapterNarrower < 99 { x[iWnAdapterNarrower] = 1 / Double(adapterNarrower) }
                    if topic.kind >= 0, let kinds = agreeingKinds[p.category] {
                        x[kinds.contains(topic.kind) ? iWnKindAgrees : iWnKindDisagrees] = 1
                    }
                    if !topic.namesPerson, !p.isCharacterLike, title.contains(where: { w in
                        if topic.content.contains(w) { return false }
                        if let known = personWords[w] { return known }
                        let isPerson = knowledge.kind(of: w) == LexicographerFile.person
                        personWords[w] = isPerson
                        return isPerson
                    }) {
                        x[iPersonExtra] = 1
                    }
                }
                // The title shares words with the topic, but what the adapter is about is neither in
                // the topic nor a class of it: the shared word only modifies something else ("City at
                // Night" for "night", "Autumn Forest" for "autumn leaves"). A conjunction, which a
                // linear model cannot form from the coverage and head features it is made of.
                if x[iLexTitleCoverage] > 0, x[iAdapterHeadInTopic] == 0, x[iAdapterHeadRelated] == 0 { x[iLexModifierOnly] = 1 }
                // Neither a topic word among its names, nor a title word in the topic, nor its head a
                // synonym or class of the topic's ("mist" and "Volumetric Fog"): the names do not
                // meet, and the closeness features speak for themselves (see `unnamedRegime`).
                if x[iLexTopicCoverage] == 0, x[iLexTitleCoverage] == 0, x[iAdapterHeadRelated] == 0 {
                    x[iUnnamed] = 1
                    for (feature, unnamed) in unnamedPairs { x[unnamed] = x[feature] }
                    if semantic, cardSpread > 0 { x[iCosCardZUnnamed] = (cosCard[t][j] - cardMean) / cardSpread }
                    // A card whose title hides its concept may still say it: "Kuroishi Hōgetsu" is
                    // "black ink on rice paper … sumi-e". Beside a name match this would repeat it.
                    if !topic.content.isEmpty {
                        let words = descriptionWords[j] ?? p.descriptionWords
                        descriptionWords[j] = words
                        var described = 0
                        for w in topic.content where words.contains(w) { described += 1 }
                        x[iLexDescriptionUnnamed] = Double(described) / Double(topic.content.count)
                    }
                }
                x[categoryIndex[p.category]!] = 1
                x[iLeadTopic] = t == 0 ? 1 : 0
                x[iTopicLength] = Double(min(6, topic.content.count)) / 6
                selection.rows[t][j] = x
            }
        }
        return selection
    }

    /// The share of the topic's content words that the adapter's names contain.
    static func topicCoverage(_ t: TopicTerms, _ p: AdapterProfile, knowledge: (any WordKnowledge)?) -> Double {
        guard !t.content.isEmpty else { return 0 }
        var named = 0
        for w in t.content where names(p, w, in: t, knowledge: knowledge) { named += 1 }
        return Double(named) / Double(t.content.count)
    }

    /// Whether the common noun `w` stands in `tag` only after a preposition that ends its head
    /// phrase: the tag is about what comes before ("depth of field" is a depth, "city at night" a
    /// city), so it does not name "field" or "night". A word WordNet does not know is taken for a
    /// proper name, which names what it names wherever it stands ("legend of zelda" names Zelda).
    package static func isComplement(_ w: String, of tag: [String], knowledge: any WordKnowledge) -> Bool {
        guard let stop = tag.firstIndex(where: { ComposerLexicon.headStops.contains($0) && $0 != "and" && $0 != "the" }),
              stop > 0, !tag[..<stop].contains(where: { ComposerLexicon.baseForm($0) == w }) else { return false }
        return !knowledge.senses(of: w).isEmpty
    }

    /// Whether the adapter's names hold the topic's word `w`. A multi-word tag that WordNet has as
    /// an entry of its own names that concept, and its words only as far as it is a kind of them: a
    /// "sausage dog" is a dog, a "big cat" is no cat and a "hot dog" no dog. A word only such tags
    /// hold counts where the topic has a whole one.
    static func names(_ p: AdapterProfile, _ w: String, in t: TopicTerms, knowledge: (any WordKnowledge)?) -> Bool {
        guard p.nameWords.contains(w) else { return false }
        guard let knowledge, let tags = p.compoundTagWords[w] else { return true }
        return tags.contains { tag in
            if tag.allSatisfy({ functionWords.contains($0) || t.content.contains(ComposerLexicon.baseForm($0)) }) { return true }
            let phrase = tag.joined(separator: " ")
            if knowledge.senses(of: phrase).isEmpty { return !isComplement(w, of: tag, knowledge: knowledge) }
            switch knowledge.relation(phrase, w) {
            case .same, .narrower: return true
            case .broader, .unrelated: return false
            }
        }
    }
}
