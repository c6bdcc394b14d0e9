import Foundation

/// The built-in composer (the paper's composer step): for every topic, score each candidate adapter
/// with the learned `ComposerModel` over `ComposerFeatures` (semantic, lexical and WordNet evidence),
/// after the rules that are rules by nature (base model, NSFW, characters only when named, adapters
/// already in the prompt). Accepted adapters are capped per topic and style adapters per prompt; each
/// adapter serves the topic it fits best. Every decision carries its score and strongest evidence.
/// Pure: no I/O (embeddings and WordNet arrive in `ComposeEvidence`).
public struct ComposerOptions: Sendable, Hashable {
    public var baseModel: BaseModel?
    public var includeNSFW: Bool
    /// The paper's `top_k`: at most this many adapters per topic.
    public var maxPerTopic: Int
    /// The paper's "at most two style LoRAs in the whole output".
    public var maxStyles: Int

    /// The learned scorer (the shipped one unless a caller evaluates another fit).
    public var model: ComposerModel

    public init(baseModel: BaseModel?, includeNSFW: Bool = false, maxPerTopic: Int = 3, maxStyles: Int = 2,
                model: ComposerModel = .shipped) {
        self.model = model
        self.baseModel = baseModel
        self.includeNSFW = includeNSFW
        self.maxPerTopic = maxPerTopic
        self.maxStyles = maxStyles
    }
}

/// One accept/reject decision with its reason (shown by `--explain` and hovers).
public struct AdapterDecision: Sendable, Hashable {
    public var adapterID: String
    public var alias: String
    public var accepted: Bool
    public var reason: String
    /// The scorer's probability that the adapter fits the topic (nil for rule-only decisions).
    public var score: Double?

    public init(adapterID: String, alias: String, accepted: Bool, reason: String, score: Double? = nil) {
        self.adapterID = adapterID
        self.alias = alias
        self.accepted = accepted
        self.reason = reason
        self.score = score
    }
}

/// A candidate the hard rules let through, with its features and probability (for the fitting dump).
public struct ScoredCandidate: Sendable, Hashable {
    public var adapterID: String
    public var features: [Double]
    public var probability: Double
}

/// An adapter chosen for a topic, with its recommended (refined) weight.
public struct ComposedAdapter: Sendable, Hashable {
    public var adapterID: String
    public var alias: String
    public var recommendedWeight: Double
    public var category: AdapterCategory
    /// The adapter's trigger words (refined), so a composed prompt can add the ones it lacks.
    public var triggerWords: [String] = []
}

public struct ComposedTopic: Sendable, Hashable {
    public var keyword: String
    public var range: SourceRange
    public var adapters: [ComposedAdapter]
    /// Decisions about the plausible candidates (accepted and rejected), most probable first.
    public var decisions: [AdapterDecision]
    /// Every candidate the hard rules let through, scored.
    public var scored: [ScoredCandidate] = []
}

public struct Composition: Sendable, Hashable {
    public var topics: [ComposedTopic]
    /// Aliases of `<lora:…>` tags already in the prompt (kept, never added again).
    public var presentAliases: [String]
}

public enum Composer {
    /// Composes adapters for `topics` from the candidate pool (any base model; filtered here so the
    /// reason can be reported). `promptText` is used to find `<lora:…>` tags already present.
    /// `evidence` carries embeddings and WordNet; without embeddings the lexical model decides.
    public static func compose(topics: [Topic], candidates: [CandidateAdapter], promptText: String,
                               options: ComposerOptions, evidence: ComposeEvidence = .none) -> Composition {
        let present = presentLoraAliases(in: promptText)
        let presentSet = Set(present.map { $0.lowercased() })
        var seen: Set<String> = []
        let profiles = candidates.compactMap { c -> AdapterProfile? in
            seen.insert(c.card.adapterId).inserted ? AdapterProfileCache.shared.profile(c) : nil
        }
        let variant = evidence.isSemantic ? options.model.semantic : options.model.lexical
        let terms = topics.map { TopicTerms($0.keyword, knowledge: evidence.knowledge) }
        let queries = topics.map { TopicWords(keyword: $0.keyword) }
        let promptSequence = ComposerLexicon.words(promptText)
        let names = NameContext(promptText: promptText)
        // Hard rules first: they are not the scorer's to weigh. Most do not depend on the topic and
        // are decided once per candidate (a long prompt has 15 topics and 400 candidates).
        let standing = profiles.map { standingRejection($0, options: options, presentSet: presentSet) }
        var rejections = [[String?]](repeating: [], count: topics.count)
        for t in topics.indices {
            let asksForStyle = StyleReference.asksForStyle(keywordWords: queries[t].words, promptWords: promptSequence)
            rejections[t] = profiles.indices.map { j in
                standing[j] ?? topicRejection(profiles[j], query: queries[t], asksForStyle: asksForStyle, names: names,
                                              knowledge: evidence.knowledge)
            }
        }
        // An adapter already in the prompt is never added again, but it still competes: beside it, its
        // runner-up must not look like the obvious choice (the leads and gaps are among the candidates).
        let isPresent = profiles.map { presentSet.contains($0.alias.lowercased()) }
        let selection = ComposerFeatures.compute(topics: terms, profiles: profiles,
                                                 allowed: rejections.map { row in row.indices.map { row[$0] == nil || isPresent[$0] } },
                                                 evidence: evidence)
        let weighed = selection.weighed
        // Only each topic's closest allowed candidates are weighed; the rest score 0. Hard-rejected
        // candidates near the topic get a probability too, so explanations can say what the rule overrode.
        let scorer = variant.scorer()
        let probability: [[Double]] = selection.rows.map { row in row.map { x in x.map(scorer.probability) ?? 0 } }
        let noFeatures = [Double](repeating: 0, count: ComposerFeatures.names.count)
        func features(_ t: Int, _ j: Int) -> [Double] { selection.rows[t][j] ?? noFeatures }

        // Each adapter serves the one topic it fits best; per topic the most probable first.
        func bestTopic(_ j: Int) -> Int? {
            var best: Int?
            for t in topics.indices where weighed[t][j] && probability[t][j] >= variant.threshold {
                if best == nil || probability[t][j] > probability[best!][j] { best = t }
            }
            return best
        }
        var owner: [Int: Int] = [:]  // profile → topic
        // An adapter the prompt already loads serves its topic as that topic's first adapter: more
        // for the topic need what further adapters need ("Detailed Eyes" is not added beside a
        // present "Detail Tweaker" for "highly detailed").
        var servedByPresent: [Int: String] = [:]  // topic → alias of the present adapter serving it
        for j in profiles.indices {
            guard let best = bestTopic(j) else { continue }
            if !isPresent[j] {
                owner[j] = best
            } else if servedByPresent[best] == nil {
                servedByPresent[best] = profiles[j].alias
            }
        }
        // A prompt renders on one checkpoint: when it names no base model, the adapters it gets
        // share the base model of its most probable adapter (adapters of an unknown base stay).
        var inferredBase: BaseModel?
        var otherBase: Set<Int> = []
        if options.baseModel == nil {
            func prob(_ o: (key: Int, value: Int)) -> Double { probability[o.value][o.key] }
            let best = owner.filter { profiles[$0.key].baseModel != nil }.max { a, b in prob(a) != prob(b) ? prob(a) < prob(b) : a.key > b.key }
            inferredBase = best.flatMap { profiles[$0.key].baseModel }
            otherBase = Set(owner.keys.filter { j in profiles[j].baseModel.map { $0 != inferredBase } ?? false })
            for j in otherBase { owner[j] = nil }
        }
        // Style adapters are capped per prompt, the ones it already loads included: the most probable
        // ones win wherever they are.
        let loaded = loadedStyles(candidates, present: presentSet, options: options)
        let styleOrder = owner.keys.filter { profiles[$0].category == .style }
            .sorted { probability[owner[$0]!][$0] > probability[owner[$1]!][$1] }
        let allowedStyles = Set(styleOrder.prefix(max(0, options.maxStyles - loaded)))

        var out: [ComposedTopic] = []
        for (t, topic) in topics.enumerated() {
            var decisions: [AdapterDecision] = []
            let order = profiles.indices.sorted { probability[t][$0] != probability[t][$1] ? probability[t][$0] > probability[t][$1] : $0 < $1 }
            var chosen: [ComposedAdapter] = []
            var scored: [ScoredCandidate] = []
            // The topic's closest candidate, which a user asks about when the topic gets nothing
            // ("Vermeer window light" beside a Dutch Golden Age card the scorer put at 0.14).
            let closest = order.first { weighed[t][$0] && !isPresent[$0] }
            for j in order {
                let p = profiles[j], prob = probability[t][j]
                if weighed[t][j], !isPresent[j] {  // what the scorer decided (a present adapter is not its to add)
                    scored.append(ScoredCandidate(adapterID: p.id, features: features(t, j), probability: prob))
                }
                // Explanations cover what a user would ask about, not the long tail: what the scorer
                // liked, what is named like the topic, and the topic's closest candidate.
                let namedLikeTopic = features(t, j)[ComposerFeatures.iLexTopicCoverage] >= 0.5
                let worthExplaining = prob >= variant.threshold / 2
                    || ((namedLikeTopic || j == closest) && prob >= variant.threshold / 20)
                func decide(_ accepted: Bool, _ reason: String) {
                    if accepted || worthExplaining {
                        decisions.append(AdapterDecision(adapterID: p.id, alias: p.alias, accepted: accepted, reason: reason, score: prob))
                    }
                }
                if let hard = rejections[t][j] {
                    // Said when the scorer liked it or its names cover the topic: what a user would ask
                    // about. The scorer likes every character (only named ones reach it in training),
                    // so for a character only its names count: no list of strangers under "leaning".
                    func named() -> Bool {
                        namedLikeTopic || p.isNamed(topic: queries[t], in: names, knowledge: evidence.knowledge)
                            || queries[t].words.contains { w in Chunker.styleModifierStem(w).map { p.nameWords.contains(ComposerLexicon.baseForm($0)) } ?? false }
                    }
                    if p.isCharacterLike ? named() : worthExplaining {
                        decisions.append(AdapterDecision(adapterID: p.id, alias: p.alias, accepted: false, reason: hard, score: prob))
                    }
                    continue
                }
                // Built only when said: most candidates are never explained.
                var because: String { evidenceText(variant, features(t, j), prob: prob, threshold: variant.threshold, positive: prob >= variant.threshold) }
                guard prob >= variant.threshold else {
                    if worthExplaining { decide(false, because) }
                    continue
                }
                if otherBase.contains(j), let inferredBase {
                    decide(false, "base model \(p.baseModel?.name ?? "unknown") differs from \(inferredBase.name), the base model "
                           + "of this prompt's best match (the prompt names none; set base_model to choose)")
                    continue
                }
                if let other = owner[j], other != t {
                    decide(false, "fits \"\(topics[other].keyword)\" better (\(format(probability[other][j])) there)")
                    continue
                }
                if p.category == .style, !allowedStyles.contains(j) {
                    decide(false, styleCapReason(options, loaded: loaded))
                    continue
                }
                let present = servedByPresent[t]
                let rank = (present == nil ? 0 : 1) + chosen.count  // adapters the topic has before this one
                if rank >= options.maxPerTopic {
                    decide(false, "topic already has \(options.maxPerTopic) adapters")
                    continue
                }
                let needed = variant.acceptance(rank: rank)
                if prob < needed {
                    let first = present.map { "\($0) (already in the prompt)" } ?? chosen[0].alias
                    decide(false, "score \(format(prob)) < \(format(needed)), what a topic's further adapters need beside \(first)")
                    continue
                }
                chosen.append(ComposedAdapter(adapterID: p.id, alias: p.alias, recommendedWeight: p.weight, category: p.category,
                                              triggerWords: p.triggerWords))
                decide(true, "\(because); \(p.category.rawValue) adapter of \(p.baseModel?.name ?? "unknown base")")
            }
            out.append(ComposedTopic(keyword: topic.keyword, range: topic.range, adapters: chosen, decisions: decisions, scored: scored))
        }
        mergeCharacterDescriptions(&out, profiles: profiles)
        return Composition(topics: out, presentAliases: present)
    }

    /// Topics that only describe a chosen character ("big red dog" beside "Clifford", from
    /// "Clifford the Big Red Dog") are merged into it: their own adapters are dropped. The series in a
    /// title's brackets describes no one ("cyberpunk" beside "Johnny Silverhand (Cyberpunk 2077)"),
    /// and a topic that got a character of its own names that character ("frieren" beside "Fern
    /// (Sousou no Frieren)").
    static func mergeCharacterDescriptions(_ topics: inout [ComposedTopic], profiles: [AdapterProfile]) {
        let byID = Dictionary(profiles.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        let characters = topics.flatMap(\.adapters).compactMap { byID[$0.adapterID] }.filter(\.isCharacterLike)
        guard !characters.isEmpty else { return }
        for i in topics.indices where !topics[i].adapters.isEmpty {
            if topics[i].adapters.contains(where: { byID[$0.adapterID]?.isCharacterLike == true }) { continue }
            let words = ComposerLexicon.words(topics[i].keyword)
            guard let owner = characters.first(where: { c in
                !topics[i].adapters.contains { $0.adapterID == c.id } && c.ownTitleWords.count > words.count
                    && TopicWords.isSubsequence(words, of: c.ownTitleWords)
            }) else { continue }
            for a in topics[i].adapters {
                topics[i].decisions.append(AdapterDecision(adapterID: a.adapterID, alias: a.alias, accepted: false,
                                                           reason: "the topic describes \(owner.alias), merged into it"))
            }
            topics[i].adapters = []
        }
    }

    /// How many style adapters the prompt already loads (`<lora:…>` aliases in `present`, lower case),
    /// as far as `candidates` hold them: they count against the style cap. One of another base model
    /// than the prompt's does not load into its checkpoint (a diagnostic says so) and takes no place.
    static func loadedStyles(_ candidates: [CandidateAdapter], present: Set<String>, options: ComposerOptions) -> Int {
        Set(candidates.filter { c in
            c.refinement.category == .style && present.contains(c.card.alias.lowercased())
                && (options.baseModel == nil || c.card.baseModel == options.baseModel)
        }.map { $0.card.alias.lowercased() }).count
    }

    static func styleCapReason(_ options: ComposerOptions, loaded: Int) -> String {
        "at most \(options.maxStyles) style adapters per prompt" + (loaded > 0 ? " (it loads \(loaded) already)" : "")
    }

    /// The rules that hold whatever the scorer says and whatever the topic (base model, NSFW, already
    /// in the prompt), or nil. `topicRejection` holds the rest.
    static func standingRejection(_ p: AdapterProfile, options: ComposerOptions, presentSet: Set<String>) -> String? {
        if let base = options.baseModel, p.baseModel != base {
            return "base model \(p.baseModel?.name ?? "unknown") differs from the prompt's \(base.name)"
        }
        if p.nsfw && !options.includeNSFW { return "NSFW adapter (NSFW not enabled)" }
        if presentSet.contains(p.alias.lowercased()) { return "already in the prompt" }
        return nil
    }

    /// The rules that hold whatever the scorer says and depend on the topic: a character or a real
    /// person only for a topic that names them and does not ask for a style after them.
    static func topicRejection(_ p: AdapterProfile, query: TopicWords, asksForStyle: Bool, names: NameContext,
                               knowledge: (any WordKnowledge)?) -> String? {
        guard p.isCharacterLike else { return nil }
        let kind = p.category == .celebrity ? "person" : "character"
        if asksForStyle {
            return "\(p.category.rawValue) adapter, but the topic asks for a style after the \(kind), not a likeness"
        }
        if !p.isNamed(topic: query, in: names, knowledge: knowledge) {
            return "\(p.category.rawValue) adapter, but the topic does not name that \(kind)"
        }
        return nil
    }

    /// "p 0.83 ≥ 0.50: cosine 0.71 with the title, the topic is a kind of its subject": the two
    /// features that moved the score most in the decision's direction and read that way (a feature
    /// whose value speaks for a fit is never given as a reason against, whatever its weight);
    /// features without a reading of their own (category, topic length) only when no other moved it.
    package static func evidenceText(_ v: ComposerModel.Variant, _ x: [Double], prob: Double, threshold: Double, positive: Bool) -> String {
        let means = Dictionary(zip(v.features, v.mean), uniquingKeysWith: { first, _ in first })
        let moved = v.contributions(x).filter { positive ? $0.1 > 0 : $0.1 < 0 }
        let named = x[ComposerFeatures.iUnnamed] < 0.5
        let reading = moved.filter { name, _ in
            guard let polarity = ComposerFeatures.polarity[name], let mean = means[name],
                  let column = ComposerFeatures.index[name] else { return false }
            // The unnamed regime's features are 0 by construction beside a name match: no evidence.
            if named, name.hasSuffix("_unnamed") { return false }
            let reads = polarity * (x[column] - mean)
            return positive ? reads > 0 : reads < 0
        }
        let strongest = reading.isEmpty ? Array(moved.filter { ComposerFeatures.polarity[$0.0] == nil }.prefix(2)) : Array(reading.prefix(2))
        let said = strongest.map { describe($0.0, x[ComposerFeatures.index[$0.0]!]) }
        return "score \(format(prob)) \(positive ? "≥" : "<") \(format(threshold))" + (said.isEmpty ? "" : ": " + said.joined(separator: "; "))
    }

    package static func describe(_ feature: String, _ value: Double) -> String {
        switch feature {
        case "cos_card": return "cosine \(format(value)) with the card"
        case "cos_title": return "cosine \(format(value)) with the title"
        case "cos_prompt_card": return "cosine \(format(value)) of the whole prompt with the card"
        case "cos_card_gap": return value > 0 ? "\(format(value)) below the best card cosine" : "best card cosine"
        case "cos_title_gap": return value > 0 ? "\(format(value)) below the best title cosine" : "best title cosine"
        case "cos_title_top": return value > 0 ? "closest title" : "not the closest title"
        case "category_fit": return value < 0 ? "the topic reads less as its category (\(format(value)))" : "the topic reads as its category"
        case "retrieval_rank": return value > 0 ? "retrieved at rank \(Int((1 / value).rounded()))" : "not retrieved for this topic"
        case "lex_head_named": return value > 0 ? "its names hold the topic's head" : "its names lack the topic's head"
        case "lex_topic_coverage": return "its names cover \(Int((value * 100).rounded()))% of the topic"
        case "lex_title_coverage": return "\(Int((value * 100).rounded()))% of its title is in the topic"
        case "lex_title_extra": return value > 0 ? "its title adds words the topic does not ask for" : "its title adds nothing"
        case "lex_exact_name": return value > 0 ? "its title is the topic, no more and no less" : "its title is not exactly the topic"
        case "adapter_head_in_topic": return value > 0 ? "the topic names what it is about" : "it is about something the topic does not name"
        case "lex_modifier_only": return value > 0 ? "its title shares only a modifier with the topic; it is about something else" : "it is about what the topic names"
        case "adapter_head_related": return value > 0 ? "its subject is the topic's or a broader class (WordNet)" : "its subject is not the topic's"
        case "wn_same": return value > 0 ? "a synonym of the topic (WordNet)" : "not a synonym"
        case "wn_topic_narrower": return value > 0 ? "the topic is a kind of its subject (WordNet)" : "no is-a link"
        case "wn_adapter_narrower": return value > 0 ? "narrower than the topic (WordNet)" : "not narrower"
        case "wn_kind_agrees": return value > 0 ? "the topic is the kind of thing its category draws" : "kind unknown"
        case "wn_kind_disagrees": return value > 0 ? "the topic is another kind of thing than its category" : "kind agrees"
        case "person_extra": return value > 0 ? "adds a person the topic does not ask for" : "adds no person"
        case "lead_topic": return value > 0 ? "the prompt's leading phrase" : "not the leading phrase"
        case "topic_length": return "topic length"
        case "cos_tag": return value == 0 ? "it has no subject tags" : "cosine \(format(value)) with its closest tag"  // 0: no tags to compare
        case "cos_lead": return value > 0 ? "\(format(value)) closer than the next candidate" : "\(format(-value)) less close than the best candidate"
        case "unnamed": return value > 0 ? "its names do not meet the topic" : "its names meet the topic"
        case "cos_card_z": return "card cosine \(format(value)) standard deviations above the topic's other candidates"
        case "lex_description": return "its description uses \(Int((value * 100).rounded()))% of the topic's words"
        default:
            if feature.hasSuffix("_unnamed") {
                return describe(String(feature.dropLast("_unnamed".count)), value) + " (its names do not meet the topic)"
            }
            if feature.hasPrefix("cat_") { return "category \(feature.dropFirst(4))" }
            return feature
        }
    }

    /// Two decimals ("0.85", "-0.03") without Foundation's formatter, which is slow in this loop.
    static func format(_ x: Double) -> String {
        guard x.isFinite, abs(x) < 1e9 else { return x.isNaN ? "n/a" : (x > 0 ? "inf" : "-inf") }
        let cents = Int((abs(x) * 100).rounded())
        let text = "\(cents / 100)." + (cents % 100 < 10 ? "0" : "") + "\(cents % 100)"
        return x < 0 && cents > 0 ? "-" + text : text
    }

    /// Aliases of `<lora:alias:…>` / `<lyco:alias:…>` tags in the prompt text.
    public static func presentLoraAliases(in text: String) -> [String] {
        var out: [String] = []
        var rest = Substring(text)
        while let open = rest.range(of: "<") {
            rest = rest[open.upperBound...]
            let lower = rest.prefix(5).lowercased()
            guard lower.hasPrefix("lora:") || lower.hasPrefix("lyco:") else { continue }
            let body = rest.dropFirst(5)
            let end = body.firstIndex(where: { $0 == ":" || $0 == ">" }) ?? body.endIndex
            let alias = body[..<end].trimmingCharacters(in: .whitespaces)
            if !alias.isEmpty { out.append(alias) }
        }
        return out
    }
}

/// The words of a topic and its head.
/// "in the style of Frida Kahlo", "in the manner of Dalí", "Kahlo-esque", "Ghibli-style": the name
/// is there to say how the image looks, so a likeness adapter of that person does not fit.
enum StyleReference {
    static let markers: Set<String> = ["style", "styled", "esque", "inspired", "manner"]

    /// True when the topic carries a style marker, or the prompt says "style of" / "manner of" right
    /// before the topic's words.
    static func asksForStyle(keywordWords: [String], promptWords: [String]) -> Bool {
        guard !keywordWords.isEmpty else { return false }
        if keywordWords.contains(where: { $0.split(separator: "-").contains { markers.contains(String($0)) } }) { return true }
        let n = keywordWords.count
        guard promptWords.count > n else { return false }
        for start in 1...(promptWords.count - n) where Array(promptWords[start..<(start + n)]) == keywordWords {
            let before = promptWords[max(0, start - 2)..<start]
            if before.last == "of", before.dropLast().contains(where: { $0 == "style" || $0 == "manner" }) { return true }
        }
        return false
    }
}

struct TopicWords {
    var words: [String]
    /// The head: the last meaningful word before a preposition ("samurai on horseback" → samurai).
    var head: String?
    /// The topic ends in a bracketed qualifier, the booru way of naming a character after its
    /// series ("jinx \\(league of legends\\)"): its first word is then a name, not a common word.
    var hasQualifier: Bool
    /// The words folded (`AdapterNames.fold`), for matching names.
    var folded: Set<String>
    /// Runs of one to three words written together ("night fury" → nightfury), for aliases and
    /// triggers: computed once per topic, not once per character candidate.
    var runs: Set<String>

    init(keyword: String) {
        let words = ComposerLexicon.words(keyword)
        self.words = words
        folded = Set(words.map(AdapterNames.fold))
        runs = NameContext.squashedRuns(words)
        let trimmed = keyword.trimmingCharacters(in: .whitespaces)
        hasQualifier = trimmed.hasSuffix(")") && (trimmed.firstIndex(of: "(").map { $0 > trimmed.startIndex } ?? false)
        // A bracketed qualifier says which one, not what: the head of "watercolor (medium)" is
        // watercolor, of "makima (chainsaw man)" makima.
        var beforeQualifier = words
        if let open = trimmed.firstIndex(of: "("), open > trimmed.startIndex {
            let before = ComposerLexicon.words(String(trimmed[..<open]))
            if !before.isEmpty { beforeQualifier = before }
        }
        var lead: [String] = []
        for w in beforeQualifier {
            if ComposerLexicon.headStops.contains(w), !lead.isEmpty { break }
            lead.append(w)
        }
        // The head is the last meaningful word; a trailing verb form does not count ("cat waiting").
        var meaningful = lead.filter { !ComposerLexicon.topicNoise.contains($0) }
        if meaningful.isEmpty {  // "style of Studio Ghibli": the head follows "of"
            meaningful = beforeQualifier.filter { !ComposerLexicon.topicNoise.contains($0) && !ComposerLexicon.headStops.contains($0) }
        }
        var h = meaningful.last ?? lead.last
        if let last = h, meaningful.count >= 2, last.hasSuffix("ing"), !ComposerLexicon.ingHeadNouns.contains(last) {
            h = meaningful[meaningful.count - 2]
        }
        head = h
    }

    static func isSubsequence(_ p: [String], of t: [String]) -> Bool {
        var i = 0
        for w in t where i < p.count && p[i] == w { i += 1 }
        return i == p.count
    }
}

/// Profiles already built, by adapter id: building one folds and splits every name of the card, and
/// the same adapters come back for prompt after prompt (and keystroke after keystroke). An entry
/// is used only for the same card and refinement; the vectors are the candidate's own.
final class AdapterProfileCache: Sendable {
    static let shared = AdapterProfileCache()
    private let entries = BoundedMemo<String, (card: AdapterCard, refinement: AdapterRefinement, names: AdapterNames)>(capacity: 50_000)

    func profile(_ c: CandidateAdapter) -> AdapterProfile {
        if let known = entries[c.card.adapterId], known.card == c.card, known.refinement == c.refinement {
            return AdapterProfile(names: known.names, vectors: c.vectors)
        }
        let names = AdapterNames(c)
        entries.store([c.card.adapterId: (c.card, c.refinement, names)])
        return AdapterProfile(names: names, vectors: c.vectors)
    }
}

/// A candidate as the composer weighs it: its names (`AdapterNames`, built once per card and
/// shared) and its own vectors. Name fields read through: `profile.titleNames`.
@dynamicMemberLookup
struct AdapterProfile {
    let names: AdapterNames
    var vectors: AdapterVectors?

    init(names: AdapterNames, vectors: AdapterVectors?) {
        self.names = names
        self.vectors = vectors
    }

    subscript<T>(dynamicMember path: KeyPath<AdapterNames, T>) -> T { names[keyPath: path] }

    func isNamed(topic query: TopicWords, in context: NameContext, knowledge: (any WordKnowledge)?) -> Bool {
        names.isNamed(topic: query, in: context, knowledge: knowledge)
    }
}

/// What the composer knows about one card's names, normalised once: folding and splitting every
/// name of a card is the costly part, and the profile cache shares it across prompts (a class, so
/// the composer's many reads of a profile copy one reference, not twenty arrays and sets).
final class AdapterNames: Sendable {
    let id: String
    let alias: String
    let baseModel: BaseModel?
    let category: AdapterCategory
    let isCharacterLike: Bool
    let nsfw: Bool
    let weight: Double
    let triggerWords: [String]
    /// Title alternatives ("Phoenix / Firebird" → two), parentheses and packaging words removed.
    let titleNames: [[String]]
    let tagNames: [[String]]
    let triggerNames: [[String]]
    /// Every word of the title outside brackets ("clifford the big red dog"; "Fern (Sousou no
    /// Frieren)" → fern): a character's own name and description, without its series.
    let ownTitleWords: [String]
    /// Every word of every name (title alternatives, tags, trigger words), in its base form
    /// (`ComposerLexicon.baseForm`: "Rainy Street" has "rain"), as the features compare words.
    let nameWords: Set<String>
    /// Name words that only multi-word tags hold, with those tags' words: "big cat" for "Snow
    /// Leopard" gives cat → [["big", "cat"]] (see `ComposerFeatures.names`).
    let compoundTagWords: [String: [[String]]]
    /// The head word of each title alternative ("Japanese Castle" → castle), in its base form.
    let titleHeads: Set<String>
    /// Title words that carry content, in their base forms.
    let titleContent: Set<String>
    /// Phrases that name what the adapter is, for WordNet: each title alternative and its head, the primary tag.
    let knowledgeNames: [String]
    /// The refined description, whose words (`descriptionWords`) are read only when a pair needs them.
    let refinedDescription: String
    /// The first `describedWords` distinct content words of the refined description, in base forms,
    /// without the words the refiner writes into every description (its category phrase, the base
    /// model): where a card with a cryptic title says what it draws. Read on first use and kept by
    /// the text (only pairs whose names do not meet the topic need them, but those are most pairs;
    /// a compose reads them once per candidate, as hashing the text is not free).
    var descriptionWords: Set<String> { Self.descriptionMemo.value(refinedDescription, Self.descriptionContentWords) }
    static let descriptionMemo = BoundedMemo<String, Set<String>>(capacity: 20_000)
    static let describedWords = 48
    static let refinerWords: Set<String> = Set(AdapterCategory.allCases.flatMap { ComposerLexicon.words(OfflineRefiner.categoryPhrase($0)) })
        .union(["tags", "tag", "trigger"])

    static func heads(_ titleNames: [[String]]) -> Set<String> {
        Set(titleNames.compactMap { name in
            var lead: [String] = []
            for w in name {
                if ComposerLexicon.headStops.contains(w), !lead.isEmpty { break }
                lead.append(w)
            }
            return lead.last(where: { !ComposerLexicon.defaultModifiers.contains($0) }) ?? lead.last
        })
    }

    init(_ c: CandidateAdapter) {
        ownTitleWords = ComposerLexicon.words(AdapterNames.bracketParts(c.card.title).outside)
        id = c.card.adapterId
        alias = c.card.alias
        baseModel = c.card.baseModel
        category = c.refinement.category
        isCharacterLike = c.refinement.isCharacter || c.refinement.category.isCharacterLike
            || c.card.tags.contains { AdapterCategory(tag: $0)?.isCharacterLike == true }
        nsfw = c.card.nsfw
        weight = c.refinement.weight
        triggerWords = c.refinement.triggerWords
        titleNames = AdapterNames.titleAlternatives(c.card.title)
        tagNames = c.card.tags.filter { !ComposerLexicon.tagNoise.contains($0.lowercased()) }
            .map { ComposerLexicon.words($0) }.filter { !$0.isEmpty }
        triggerNames = c.card.triggerWords.map { ComposerLexicon.words($0) }.filter { !$0.isEmpty }
        nameWords = Set((titleNames + tagNames + triggerNames).joined().map(ComposerLexicon.baseForm))
        let looseWords = Set((titleNames + triggerNames + tagNames.filter { $0.count == 1 }).joined().map(ComposerLexicon.baseForm))
        var compoundTagWords: [String: [[String]]] = [:]
        for tag in tagNames where tag.count >= 2 {
            for w in Set(tag.map(ComposerLexicon.baseForm)) where !looseWords.contains(w) { compoundTagWords[w, default: []].append(tag) }
        }
        self.compoundTagWords = compoundTagWords
        // A tool is about what it adjusts, not what it is: "Detail Tweaker" and "Better Hands" are
        // about detail and hands, so every content word of a tool's title is a head, but for a
        // participle, which says how ("Detailed Eyes" is about eyes).
        titleHeads = category == .tool
            ? Set(AdapterNames.contentWords(titleNames).filter { !Chunker.isParticiple($0) }.map(ComposerLexicon.baseForm))
                .union(AdapterNames.heads(titleNames).map(ComposerLexicon.baseForm))
            : Set(AdapterNames.heads(titleNames).map(ComposerLexicon.baseForm))
        titleContent = Set(AdapterNames.contentWords(titleNames).map(ComposerLexicon.baseForm))
        knowledgeNames = AdapterNames.knowledgeNames(titleNames: titleNames, tagNames: tagNames)
        refinedDescription = c.refinement.refinedDescription
        qualifierWords = AdapterNames.bracketed(c.card.title)
        aliasNames = isCharacterLike ? AdapterNames.aliasTokens(c.card.alias) : []
        triggerTokens = isCharacterLike ? Set(triggerNames.joined().map { NameContext.squash($0) }.filter { $0.count >= 3 }) : []
    }

    static func descriptionContentWords(_ description: String) -> Set<String> {
        var out: Set<String> = []
        for w in ComposerLexicon.words(description)
        where !ComposerFeatures.functionWords.contains(w) && !refinerWords.contains(w) && !BaseModel.isName(w) {
            out.insert(ComposerLexicon.baseForm(w))
            if out.count == describedWords { break }
        }
        return out
    }

    /// The parts of an alias that can be names: split at underscores, dots and case changes
    /// ("fx_spiderman" → spiderman, "EVA01_unit" → eva01, unit), without packaging ("xl", "v2").
    static func aliasTokens(_ alias: String) -> Set<String> {
        var parts: [String] = []
        var current = ""
        var previous: Character?
        for ch in alias {
            if !(ch.isLetter || ch.isNumber) {
                parts.append(current); current = ""
            } else {
                if let p = previous, p.isLowercase, ch.isUppercase { parts.append(current); current = "" }
                current.append(ch)
            }
            previous = ch
        }
        parts.append(current)
        return Set(parts.map { NameContext.squash($0) }.filter { t in
            t.count >= 3 && !ComposerLexicon.titleNoise.contains(t) && !ComposerLexicon.tagNoise.contains(t)
                && !t.allSatisfy(\.isNumber) && !(t.first == "v" && t.dropFirst().allSatisfy(\.isNumber))
        })
    }

    /// A title's text outside its brackets and inside them, each bracket a space: "Fern (Sousou no
    /// Frieren)" → ("Fern  ", " Sousou no Frieren ").
    static func bracketParts(_ title: String) -> (outside: String, inside: String) {
        var outside = "", inside = ""
        var depth = 0
        for ch in title {
            if ch == "(" || ch == "[" || ch == ")" || ch == "]" {
                depth = ch == "(" || ch == "[" ? depth + 1 : max(0, depth - 1)
                outside.append(" "); inside.append(" ")
                continue
            }
            if depth == 0 { outside.append(ch) } else { inside.append(ch) }
        }
        return (outside, inside)
    }

    /// Content words inside the title's brackets, without packaging ("[XL]", "(v2)").
    static func bracketed(_ title: String) -> Set<String> {
        var out: Set<String> = []
        for w in ComposerLexicon.words(bracketParts(title).inside) where !ComposerLexicon.titleNoise.contains(w) && w.count >= 3 {
            out.insert(fold(w))
        }
        return out
    }

    /// Punctuation around a title word, not the dot inside "F.1".
    private static let punctuationAroundName = CharacterSet.punctuationCharacters.subtracting(CharacterSet(charactersIn: "."))

    /// A title's alternatives ("Phoenix / Firebird" → two), each as its words, without brackets,
    /// packaging and base-model names. Read by Unicode scalar: a large catalog's first compose
    /// meets hundreds of titles, and Characters with a `CharacterSet` per word cost most of that.
    static func titleAlternatives(_ title: String) -> [[String]] {
        var kept: [Unicode.Scalar] = []
        kept.reserveCapacity(title.unicodeScalars.count)
        var depth = 0
        for s in title.unicodeScalars {
            if s == "(" || s == "[" { depth += 1; kept.append(" "); continue }
            if s == ")" || s == "]" { depth = max(0, depth - 1); kept.append(" "); continue }
            if depth == 0 { kept.append(s) }
        }
        // Base-model names in a title are packaging ("Capybara F1", "Volumetric Fog F.1", "Heavy Rain
        // SDXL"): without this the title's head would be "f1".
        var t: [Unicode.Scalar] = []
        t.reserveCapacity(kept.count)
        for (i, token) in kept.split(separator: " ", omittingEmptySubsequences: false).enumerated() {
            if i > 0 { t.append(" ") }
            var lo = token.startIndex, hi = token.endIndex
            while lo < hi, punctuationAroundName.contains(token[lo]) { lo += 1 }
            while hi > lo, punctuationAroundName.contains(token[hi - 1]) { hi -= 1 }
            if !BaseModel.namesKnownModel(String(String.UnicodeScalarView(token[lo..<hi]))) { t.append(contentsOf: token) }
        }
        var parts: [String] = []
        var current = String.UnicodeScalarView()
        for (i, s) in t.enumerated() {
            let spaced = i > 0 && i + 1 < t.count && t[i - 1] == " " && t[i + 1] == " "
            if s == "|" || s == ":" || s == "&" || ((s == "/" || s == "-" || s == "–" || s == "—") && spaced) {
                parts.append(String(current))
                current = String.UnicodeScalarView()
            } else {
                current.append(s)
            }
        }
        parts.append(String(current))
        // Words in other scripts are translations of the title ("Ink Dragon 墨龍"), not modifiers.
        return parts.map {
            ComposerLexicon.words($0).map { $0.hasSuffix("-like") ? String($0.dropLast(5)) : $0 }.filter { w in
                !ComposerLexicon.titleNoise.contains(w) && !w.unicodeScalars.contains { $0.value > 0x2FF }
            }
        }.filter { !$0.isEmpty }
    }

    /// Words of the title's bracketed qualifiers ("Power (Chainsaw Man)" → chainsaw, man), which
    /// confirm a character whose name is a common word.
    let qualifierWords: Set<String>
    /// For characters: alias parts and trigger words, squashed ("spiderman", "eva01", "nightfury").
    let aliasNames: Set<String>
    let triggerTokens: Set<String>

    /// Whether the topic names this character or person. A character adapter is only for prompts
    /// that ask for that character: by its full name, its trigger word, the surname of a multi-word
    /// name, a one-word name, or its alias written as words ("Spider-Man" for `fx_spiderman`). A name
    /// that is also a common word ("Power", "Fern", "Toothless", "Arcane") needs confirmation, so
    /// "ferns" or "power lines" do not call it up: a word of the title's qualifier, a tag or a
    /// trigger elsewhere in the prompt, the name capitalised inside a lower-case prompt ("1girl,
    /// Jinx, blue hair"), or a booru qualifier after it ("jinx \\(league of legends\\)").
    func isNamed(topic query: TopicWords, in names: NameContext, knowledge: (any WordKnowledge)?) -> Bool {
        let topicWords = query.folded
        for trigger in triggerNames where trigger.map(AdapterNames.fold).allSatisfy(topicWords.contains) { return true }
        func isCommon(_ w: String) -> Bool { knowledge?.isCommonWord(w) ?? true }
        // Capitalisation confirms a name only where a capital cannot be a title's lead word
        // ("Princess" in "a Princess in a castle" does not name Princess Zelda).
        func confirmed(_ name: String, capitalised: Bool = true) -> Bool {
            if query.hasQualifier || (capitalised && names.properNouns.contains(name)) { return true }
            let confirming = qualifierWords.union(tagNames.joined().map(AdapterNames.fold)).subtracting([name])
            if !confirming.isDisjoint(with: names.promptWords) { return true }
            return !triggerTokens.union(aliasNames).subtracting([name]).isDisjoint(with: names.promptRuns)
        }
        func phraseConfirms(_ name: String) -> Bool {
            (tagNames + [Array(qualifierWords)]).contains { phrase in
                phrase.count >= 2 && !phrase.contains(name) && phrase.map(AdapterNames.fold).allSatisfy(names.promptWords.contains)
            }
        }
        for (k, name) in titleNames.enumerated() {
            let words = name.map(AdapterNames.fold).filter { !ComposerLexicon.headStops.contains($0) }
            guard let first = words.first, let last = words.last else { continue }
            if words.count >= 2, words.allSatisfy(topicWords.contains) { return true }
            if words.count >= 2, last.count >= 4, topicWords.contains(last), !isCommon(last) { return true }
            // A one-word name that is no common word; else a one-word name or the lead word of the
            // main title ("Jinx ✦ Arcane S2"), confirmed.
            if words.count == 1, topicWords.contains(first), !isCommon(first) { return true }
            if words.count == 1 || k == 0, topicWords.contains(first), confirmed(first, capitalised: words.count == 1) { return true }
            // The last word of a longer name ("Dragon Warrior Po") may be a shared surname or a
            // common word ("Yor Forger", "Sailor Moon"): only a whole tag or qualifier in the prompt confirms it.
            if k == 0, words.count >= 2, topicWords.contains(last), phraseConfirms(last) { return true }
        }
        // The alias or a trigger written as words: "Spider-Man" → spiderman, "night fury" → nightfury.
        for token in aliasNames.union(triggerTokens) where query.runs.contains(token) {
            if !isCommon(token) || confirmed(token) { return true }
        }
        return false
    }

    static func fold(_ w: String) -> String {
        // ASCII (nearly every word): folding is lowercasing, and Foundation's folding is slow.
        if ComposerLexicon.isASCII(w) { return w.lowercased() }
        return w.folding(options: [.diacriticInsensitive, .caseInsensitive], locale: nil)
    }
}

/// What a prompt offers to confirm a name: its words, its runs of words written together
/// ("night fury" → nightfury), and the words it capitalises although it is otherwise lower case.
struct NameContext {
    var promptWords: Set<String>
    var promptRuns: Set<String>
    var properNouns: Set<String>

    init(promptText: String) {
        let words = ComposerLexicon.words(promptText)
        promptWords = Set(words.map(AdapterNames.fold))
        promptRuns = NameContext.squashedRuns(words)
        properNouns = NameContext.capitalisedWords(promptText)
    }

    /// Lower case, accents folded, letters and digits only: "Spider-Man" → spiderman.
    static func squash(_ text: String) -> String {
        let folded = AdapterNames.fold(text)
        // ASCII: letters and digits by byte, without Unicode property look-ups.
        if ComposerLexicon.isASCII(folded) {
            return String(decoding: folded.utf8.filter(ComposerLexicon.isASCIILetterOrDigit), as: UTF8.self)
        }
        return String(folded.filter { $0.isLetter || $0.isNumber })
    }

    /// Every run of one to three consecutive words, squashed.
    static func squashedRuns(_ words: [String]) -> Set<String> {
        var out: Set<String> = []
        for i in words.indices {
            var run = ""
            for j in i..<min(words.count, i + 3) {
                run += squash(words[j])
                if run.count >= 2 { out.insert(run) }
            }
        }
        return out
    }

    /// Words written with a capital where a sentence does not start (not first in the text, not
    /// after . ! ? or a line break), when most of the prompt is lower case: in "score_9, 1girl,
    /// Jinx, blue hair" the capital marks a name; in a Title Case prompt it marks nothing.
    static func capitalisedWords(_ text: String) -> Set<String> {
        var capitalised: [String] = []
        var total = 0
        var current = ""
        var startsSentence = true
        var currentStartsSentence = true
        func flush() {
            guard !current.isEmpty else { return }
            total += 1
            if let f = current.first, f.isUppercase, !currentStartsSentence {
                capitalised.append(contentsOf: ComposerLexicon.words(current).map(AdapterNames.fold))
            }
            current = ""
        }
        for ch in text {
            if ch.isLetter || ch.isNumber || ((ch == "-" || ch == "'") && !current.isEmpty) {
                if current.isEmpty { currentStartsSentence = startsSentence }
                current.append(ch)
                startsSentence = false
            } else {
                flush()
                if ch == "." || ch == "!" || ch == "?" || ch.isNewline { startsSentence = true }
            }
        }
        flush()
        return capitalised.count * 2 < total ? Set(capitalised) : []
    }
}
