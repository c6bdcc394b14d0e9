/// The built-in composer (reference/stylus-paper.md §1.3): for every topic, decide per candidate
/// adapter with explicit rules, each decision carrying a short reason. Pure: no I/O.
///
/// An adapter fits a topic when one of its names (title, tags, trigger words) appears in the topic
/// and covers the topic's head, it is of the prompt's base model, not NSFW (unless enabled), not a
/// character/celebrity the topic does not name, not an anthropomorphic variant of a plain animal,
/// not only part of a compound the topic names ("dog" in "hot dog"), and not narrower than the
/// topic (a modifier the topic does not ask for on the same head: "Japanese temples" for "temple").
public struct ComposerOptions: Sendable, Hashable {
    public var baseModel: BaseModel?
    public var includeNSFW: Bool
    /// The paper's `top_k`: at most this many adapters per topic.
    public var maxPerTopic: Int
    /// The paper's "at most two style LoRAs in the whole output".
    public var maxStyles: Int

    public init(baseModel: BaseModel?, includeNSFW: Bool = false, maxPerTopic: Int = 3, maxStyles: Int = 2) {
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
}

/// An adapter chosen for a topic, with its recommended (refined) weight.
public struct ComposedAdapter: Sendable, Hashable {
    public var adapterID: String
    public var alias: String
    public var recommendedWeight: Double
    public var category: AdapterCategory
}

public struct ComposedTopic: Sendable, Hashable {
    public var keyword: String
    public var range: SourceRange
    public var adapters: [ComposedAdapter]
    /// Decisions about the candidates that matched the topic by name (accepted and rejected).
    public var decisions: [AdapterDecision]
}

public struct Composition: Sendable, Hashable {
    public var topics: [ComposedTopic]
    /// Aliases of `<lora:…>` tags already in the prompt (kept, never added again).
    public var presentAliases: [String]
}

public enum Composer {
    /// Composes adapters for `topics` from the candidate pool (any base model; filtered here so the
    /// reason can be reported). `promptText` is used to find `<lora:…>` tags already present.
    public static func compose(topics: [Topic], candidates: [CandidateAdapter], promptText: String,
                               options: ComposerOptions) -> Composition {
        let present = presentLoraAliases(in: promptText)
        let presentSet = Set(present.map { $0.lowercased() })
        var seen: Set<String> = []
        let profiles = candidates.compactMap { c -> AdapterProfile? in
            seen.insert(c.card.adapterId).inserted ? AdapterProfile(c) : nil
        }
        // Multi-word names of any adapter form the compound vocabulary ("hot dog", "red panda").
        var compounds = ComposerLexicon.compounds
        for p in profiles {
            for name in p.titleNames + p.tagNames where name.count >= 2 { compounds.insert(name) }
        }
        var used: Set<String> = []
        var styles = 0
        var out: [ComposedTopic] = []
        // Pose and action adapters show people: not for a scene whose only subjects are animals.
        let topicWordSets = topics.map { Set(ComposerLexicon.words($0.keyword)) }
        let hasAnimal = topicWordSets.contains { !$0.isDisjoint(with: ComposerLexicon.animals) }
        let hasPerson = topicWordSets.contains { !$0.isDisjoint(with: ComposerLexicon.people) }
        let animalScene = hasAnimal && !hasPerson
        for (index, topic) in topics.enumerated() {
            var query = TopicWords(keyword: topic.keyword, compounds: compounds)
            query.leadsPrompt = index == 0
            query.animalScene = animalScene
            var decisions: [AdapterDecision] = []
            var accepted: [(AdapterProfile, Int)] = []
            var weak: [AdapterProfile] = []
            let queryWords = query.allWords
            for p in profiles {
                // Cheap pre-check: an adapter sharing no word with the topic cannot match it.
                guard !p.nameWords.isDisjoint(with: queryWords), let match = p.match(query) else { continue }
                if let reason = rejection(p, match: match, query: query, options: options, presentSet: presentSet, used: used) {
                    decisions.append(AdapterDecision(adapterID: p.id, alias: p.alias, accepted: false, reason: reason))
                } else if !p.isCharacterLike, p.scope(query).weak {
                    weak.append(p)
                    accepted.append((p, 0))
                } else {
                    accepted.append((p, match.strength))
                }
            }
            // An adapter the topic names only by a feature is dropped when another one names it fully.
            if accepted.count > weak.count, !weak.isEmpty {
                let weakIDs = Set(weak.map(\.id))
                for p in weak {
                    decisions.append(AdapterDecision(adapterID: p.id, alias: p.alias, accepted: false,
                                                     reason: "weaker than adapters that name the topic itself"))
                }
                accepted.removeAll { weakIDs.contains($0.0.id) }
            }
            accepted.sort { a, b in
                if a.1 != b.1 { return a.1 > b.1 }
                if a.0.score != b.0.score { return a.0.score > b.0.score }
                return a.0.downloads > b.0.downloads
            }
            var chosen: [ComposedAdapter] = []
            for (p, _) in accepted {
                if chosen.count >= options.maxPerTopic {
                    decisions.append(AdapterDecision(adapterID: p.id, alias: p.alias, accepted: false,
                                                     reason: "topic already has \(options.maxPerTopic) adapters"))
                    continue
                }
                if p.category == .style {
                    if styles >= options.maxStyles {
                        decisions.append(AdapterDecision(adapterID: p.id, alias: p.alias, accepted: false,
                                                         reason: "at most \(options.maxStyles) style adapters per prompt"))
                        continue
                    }
                    styles += 1
                }
                used.insert(p.id)
                chosen.append(ComposedAdapter(adapterID: p.id, alias: p.alias, recommendedWeight: p.weight, category: p.category))
                decisions.append(AdapterDecision(adapterID: p.id, alias: p.alias, accepted: true,
                                                 reason: "\(p.matchReason(query)); \(p.category.rawValue) adapter of \(p.baseModel?.name ?? "unknown base")"))
            }
            out.append(ComposedTopic(keyword: topic.keyword, range: topic.range, adapters: chosen, decisions: decisions))
        }
        mergeCharacterDescriptions(&out, profiles: profiles)
        mergeSpannedTopics(&out, profiles: profiles)
        return Composition(topics: out, presentAliases: present)
    }

    /// A topic whose head an adapter chosen for another topic already names is merged into that
    /// topic ("samurai" + "red lacquered armor" are both served by "Samurai Armor"): its own adapters
    /// are dropped so one subject does not get two competing adapters.
    static func mergeSpannedTopics(_ topics: inout [ComposedTopic], profiles: [AdapterProfile]) {
        let byID = Dictionary(profiles.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        for i in topics.indices where !topics[i].adapters.isEmpty {
            let q = TopicWords(keyword: topics[i].keyword, compounds: [])
            guard let head = q.head else { continue }
            for j in topics.indices where j != i {
                guard let spanning = topics[j].adapters.compactMap({ byID[$0.adapterID] }).first(where: { a in
                    !a.isCharacterLike && a.titleNames.contains { $0.count >= 2 && $0.contains(head) }
                        && !topics[i].adapters.contains { $0.adapterID == a.id }
                }) else { continue }
                for a in topics[i].adapters {
                    topics[i].decisions.append(AdapterDecision(adapterID: a.adapterID, alias: a.alias, accepted: false,
                                                               reason: "\(spanning.alias) (for \"\(topics[j].keyword)\") already spans this topic"))
                }
                topics[i].adapters = []
                break
            }
        }
    }

    /// Topics that only describe a chosen character ("big red dog" beside "Clifford", from
    /// "Clifford the Big Red Dog") are merged into it: their own adapters are dropped.
    static func mergeCharacterDescriptions(_ topics: inout [ComposedTopic], profiles: [AdapterProfile]) {
        let byID = Dictionary(profiles.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        let characters = topics.flatMap(\.adapters).compactMap { byID[$0.adapterID] }.filter(\.isCharacterLike)
        guard !characters.isEmpty else { return }
        for i in topics.indices where !topics[i].adapters.isEmpty {
            let words = ComposerLexicon.words(topics[i].keyword)
            guard let owner = characters.first(where: { c in
                !topics[i].adapters.contains { $0.adapterID == c.id } && c.fullTitleWords.count > words.count
                    && TopicWords.isSubsequence(words, of: c.fullTitleWords)
            }) else { continue }
            for a in topics[i].adapters {
                topics[i].decisions.append(AdapterDecision(adapterID: a.adapterID, alias: a.alias, accepted: false,
                                                           reason: "the topic describes \(owner.alias), merged into it"))
            }
            topics[i].adapters = []
        }
    }

    /// Why a name-matched adapter must not be used, or nil when it fits.
    static func rejection(_ p: AdapterProfile, match: AdapterProfile.Match, query: TopicWords, options: ComposerOptions,
                          presentSet: Set<String>, used: Set<String>) -> String? {
        if let base = options.baseModel, p.baseModel != base {
            return "base model \(p.baseModel?.name ?? "unknown") differs from the prompt's \(base.name)"
        }
        if p.nsfw && !options.includeNSFW { return "NSFW adapter (NSFW not enabled)" }
        if presentSet.contains(p.alias.lowercased()) { return "already in the prompt" }
        if used.contains(p.id) { return "already used for an earlier topic" }
        if p.isCharacterLike && !match.viaName {
            return "\(p.category.rawValue) adapter, but the topic does not name that \(p.category == .celebrity ? "person" : "character")"
        }
        if p.isAnthropomorphic && !query.asksAnthropomorphic {
            return "anthropomorphic variant; the topic asks for the plain animal or creature"
        }
        if (p.category == .pose || p.category == .action) && query.animalScene {
            return "\(p.category.rawValue) adapters show people; the prompt's subjects are animals"
        }
        if p.category == .style, !query.leadsPrompt, let head = query.head, !match.name.contains(head),
           !query.expansions.contains(where: { $0.contains(head) }) {
            // "light streaming through stained glass windows": the style word describes an object
            // here; only a leading phrase ("stained glass window depicting a fox") sets the image style.
            return "style words describe the \(head) here, not the image"
        }
        if let compound = match.brokenCompound {
            return "matches only part of \"\(compound.joined(separator: " "))\""
        }
        if !match.viaName, match.kind == .tag, p.tagNames.first.map({ !$0.allSatisfy(query.allWords.contains) }) ?? true,
           !p.titleNames.contains(where: { $0.contains(where: query.allWords.contains) }) {
            // Only a secondary tag matches and the title does not mention the topic.
            return "the topic matches only a secondary tag (\(match.name.joined(separator: " ")))"
        }
        if !p.isCharacterLike, let extra = p.scope(query).problem {
            return "narrower than the topic (\(extra.joined(separator: " ")))"
        }
        return nil
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

/// The words of a topic with what the rules need precomputed.
struct TopicWords {
    var words: [String]
    /// The head: the last meaningful word before a preposition ("samurai on horseback" → samurai).
    var head: String?
    /// Other names for the topic (ComposerLexicon.expansions).
    var expansions: [[String]]
    /// Compound names (from the catalog) that occur in the topic, as word positions.
    var compounds: [([String], Range<Int>)]
    var asksAnthropomorphic: Bool
    /// The prompt's subjects are animals and no person.
    var animalScene = false
    /// The first topic of the prompt, where a medium or style word describes the whole image.
    var leadsPrompt = false
    /// Words written capitalised or with digits ("Sailor Moon", "EVA-01"): names, not common nouns.
    var properNames: Set<String> = []

    init(keyword: String, compounds vocabulary: Set<[String]>) {
        let words = ComposerLexicon.words(keyword)
        self.words = words
        for raw in keyword.split(whereSeparator: { $0 == " " || $0 == "_" }) {
            if let f = raw.first, f.isUppercase || raw.contains(where: \.isNumber) {
                properNames.formUnion(ComposerLexicon.words(String(raw)))
            }
        }
        var lead: [String] = []
        for w in words {
            if ComposerLexicon.headStops.contains(w), !lead.isEmpty { break }
            lead.append(w)
        }
        // The head is the last meaningful word; a trailing verb form does not count ("cat waiting").
        var meaningful = lead.filter { !ComposerLexicon.topicNoise.contains($0) }
        if meaningful.isEmpty {  // "style of Studio Ghibli": the head follows "of"
            meaningful = words.filter { !ComposerLexicon.topicNoise.contains($0) && !ComposerLexicon.headStops.contains($0) }
        }
        var h = meaningful.last ?? lead.last
        if let last = h, meaningful.count >= 2, last.hasSuffix("ing"), !ComposerLexicon.ingHeadNouns.contains(last) {
            h = meaningful[meaningful.count - 2]
        }
        head = h
        var ex: [[String]] = []
        for (key, names) in ComposerLexicon.expansions where TopicWords.contiguous(key, in: words) != nil {
            ex += names.map { ComposerLexicon.words($0) }
        }
        expansions = ex
        // Compounds, also with one word between ("glowing red eyes" holds "glowing eyes").
        var found: [([String], Range<Int>)] = []
        if words.count >= 2 {
            for n in 2...min(4, words.count) {
                for i in 0...(words.count - n) {
                    let slice = Array(words[i..<(i + n)])
                    if vocabulary.contains(slice) { found.append((slice, i..<(i + n))) }
                }
            }
            for i in 0..<max(0, words.count - 2) {
                let pair = [words[i], words[i + 2]]
                if vocabulary.contains(pair) { found.append((pair, i..<(i + 3))) }
            }
        }
        compounds = found
        asksAnthropomorphic = words.contains { ComposerLexicon.anthropomorphicTopicWords.contains($0) }
    }

    static func contiguous(_ p: [String], in t: [String]) -> Range<Int>? {
        guard !p.isEmpty, p.count <= t.count else { return nil }
        for i in 0...(t.count - p.count) where Array(t[i..<(i + p.count)]) == p { return i..<(i + p.count) }
        return nil
    }

    static func isSubsequence(_ p: [String], of t: [String]) -> Bool {
        var i = 0
        for w in t where i < p.count && p[i] == w { i += 1 }
        return i == p.count
    }

    /// Positions of `p` as an ordered subsequence of the topic ("glowing eyes" in "glowing red eyes").
    func subsequence(_ p: [String]) -> [Int]? {
        var positions: [Int] = []
        var i = 0
        for w in p {
            while i < words.count, words[i] != w { i += 1 }
            if i == words.count { return nil }
            positions.append(i)
            i += 1
        }
        return positions
    }

    var allWords: Set<String> { Set(words).union(expansions.joined()) }
}

/// What the composer knows about one candidate, normalised once.
struct AdapterProfile {
    var id: String
    var alias: String
    var baseModel: BaseModel?
    var category: AdapterCategory
    var isCharacterLike: Bool
    var nsfw: Bool
    var weight: Double
    var score: Double
    var downloads: Int
    /// Title alternatives ("Phoenix / Firebird" → two), parentheses and packaging words removed.
    var titleNames: [[String]]
    var tagNames: [[String]]
    var triggerNames: [[String]]
    var isAnthropomorphic: Bool
    /// Every word of the title ("clifford the big red dog").
    var fullTitleWords: [String]
    /// Every word of every name (title alternatives, tags, trigger words).
    var nameWords: Set<String> = []
    /// The head word of each title alternative ("Japanese Castle" → castle).
    var titleHeads: Set<String> = []

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
        fullTitleWords = ComposerLexicon.words(c.card.title)
        id = c.card.adapterId
        alias = c.card.alias
        baseModel = c.card.baseModel
        category = c.refinement.category
        isCharacterLike = c.refinement.isCharacter || c.refinement.category.isCharacterLike
            || c.card.tags.contains { AdapterCategory(tag: $0)?.isCharacterLike == true }
        nsfw = c.card.nsfw
        weight = c.refinement.weight
        score = c.score
        downloads = c.card.downloadCount ?? 0
        titleNames = AdapterProfile.titleAlternatives(c.card.title)
        tagNames = c.card.tags.filter { !ComposerLexicon.tagNoise.contains($0.lowercased()) }
            .map { ComposerLexicon.words($0) }.filter { !$0.isEmpty }
        triggerNames = c.card.triggerWords.map { ComposerLexicon.words($0) }.filter { !$0.isEmpty }
        nameWords = Set((titleNames + tagNames + triggerNames).joined())
        titleHeads = AdapterProfile.heads(titleNames)
        let cueText = " " + (c.card.tags + [c.card.title]).map { ComposerLexicon.words($0).joined(separator: " ") }.joined(separator: " ") + " "
        isAnthropomorphic = ComposerLexicon.anthropomorphicCues.contains { cueText.contains(" \($0) ") }
            && !isCharacterLike
    }

    static func titleAlternatives(_ title: String) -> [[String]] {
        var t = ""
        var depth = 0
        for ch in title {
            if ch == "(" || ch == "[" { depth += 1; t.append(" "); continue }
            if ch == ")" || ch == "]" { depth = max(0, depth - 1); t.append(" "); continue }
            if depth == 0 { t.append(ch) }
        }
        var parts: [String] = []
        var current = ""
        let chars = Array(t)
        for (i, ch) in chars.enumerated() {
            let spaced = i > 0 && i + 1 < chars.count && chars[i - 1] == " " && chars[i + 1] == " "
            if ch == "|" || ch == ":" || ch == "&" || ((ch == "/" || ch == "-" || ch == "–") && spaced) {
                parts.append(current)
                current = ""
            } else {
                current.append(ch)
            }
        }
        parts.append(current)
        // Words in other scripts are translations of the title ("Ink Dragon 墨龍"), not modifiers.
        return parts.map {
            ComposerLexicon.words($0).map { $0.hasSuffix("-like") ? String($0.dropLast(5)) : $0 }.filter { w in
                !ComposerLexicon.titleNoise.contains(w) && !w.unicodeScalars.contains { $0.value > 0x2FF }
            }
        }.filter { !$0.isEmpty }
    }

    enum NameKind { case title, primaryTag, tag, trigger }

    struct Match {
        var name: [String]
        var strength: Int
        var kind: NameKind
        var brokenCompound: [String]?
        /// Through the adapter's own name (title or trigger), as characters need.
        var viaName: Bool { kind == .title || kind == .trigger }
    }

    /// The best name of this adapter found in the topic, or nil. Names are the title alternatives,
    /// the primary (first) tag, multi-word tags and multi-word trigger words; a single-word secondary
    /// tag ("cute", "anime", "color") describes the adapter but does not name it.
    func match(_ q: TopicWords) -> Match? {
        var best: Match?
        func consider(_ name: [String], _ kind: NameKind) {
            guard let pos = q.subsequence(name) else { return }
            // A name must cover the topic's head, unless it is a multi-word name ("pixel art"), a
            // style named as a modifier ("steampunk inventor", "manga panel"), or exactly what the
            // adapter is about (its primary tag and title head: "bonsai" in "bonsai tree").
            guard name.count >= 2 || (q.head.map { name.contains($0) } ?? false)
                || (category == .style && (kind == .title || kind == .primaryTag))
                || (kind == .primaryTag && titleHeads.contains(name[0])
                    && (q.head.map { ComposerLexicon.classNouns.contains($0) } ?? false)) else { return }
            var broken: [String]?
            let covered = Set(pos)
            for (compound, range) in q.compounds where compound != name {
                let inRange = Set(range.filter { compound.contains(q.words[$0]) })
                if !inRange.isDisjoint(with: covered), !inRange.isSubset(of: covered) { broken = compound }
            }
            let m = Match(name: name, strength: name.count * 2 + (broken == nil ? 1 : 0), kind: kind, brokenCompound: broken)
            if best == nil || (best!.brokenCompound != nil && broken == nil)
                || (m.strength > best!.strength && (broken == nil) == (best!.brokenCompound == nil)) {
                best = m
            }
        }
        if isCharacterLike {
            // A character or person is named by the lead of its title ("Geralt of Rivia" → geralt),
            // its full title name, a multi-word trigger ("dragon warrior po"), or a tag the topic
            // writes as a proper name ("EVA-01").
            for name in titleNames.prefix(1) {
                consider(name, .title)
                var lead: [String] = []
                for w in name {
                    if ComposerLexicon.headStops.contains(w), !lead.isEmpty { break }
                    lead.append(w)
                }
                if lead != name { consider(lead, .title) }
            }
            for name in triggerNames where name.count >= 2 { consider(name, .trigger) }
            for tag in tagNames where tag.allSatisfy({ q.properNames.contains($0) }) { consider(tag, .trigger) }
            return best
        }
        for name in titleNames { consider(name, .title) }
        if let primary = tagNames.first { consider(primary, .primaryTag) }
        for name in tagNames.dropFirst() where name.count >= 2 { consider(name, .tag) }
        for name in triggerNames where name.count >= 2 { consider(name, .trigger) }
        // A title that holds the whole (multi-word) topic: "sailor uniform" in "Sailor School Uniform".
        let core = q.words.filter { !ComposerLexicon.topicNoise.contains($0) }
        if best == nil, core.count >= 2 {
            for name in titleNames where TopicWords.isSubsequence(core, of: name) {
                best = Match(name: name, strength: core.count * 2, kind: .title, brokenCompound: nil)
            }
        }
        if best == nil {
            // Other names of the topic: synonyms and the class of a species or type.
            let all = q.allWords
            let altHeads = Set(q.expansions.filter { $0.count == 1 }.map { $0[0] })
            for alt in q.expansions {
                if titleNames.contains(alt) { best = Match(name: alt, strength: 1, kind: .title, brokenCompound: nil) }
                if tagNames.first == alt { best = Match(name: alt, strength: 1, kind: .primaryTag, brokenCompound: nil) }
            }
            // A title in the topic's words once an expansion names its head ("mansion" → house).
            for name in titleNames where best == nil && name.allSatisfy(all.contains) && name.contains(where: altHeads.contains) {
                best = Match(name: name, strength: name.count, kind: .title, brokenCompound: nil)
            }
        }
        return best
    }

    func matchReason(_ q: TopicWords) -> String {
        guard let m = match(q) else { return "matched" }
        return "\"\(m.name.joined(separator: " "))\" names the topic"
    }

    /// Why the adapter is narrower than the topic, or about something else; nil when it fits.
    /// A title that shares the topic's head must not add a modifier the topic does not ask for
    /// ("japanese" in "Japanese Temples" for "temple"); a title about another head fits only when
    /// the topic names the adapter's primary tag ("synthwave" for "Synthwave Sunset Grid").
    func scope(_ q: TopicWords) -> (problem: [String]?, weak: Bool) {
        let topicWords = q.allWords
        let primaryMatched = tagNames.first.map { $0.allSatisfy(topicWords.contains) } ?? false
        var problem: [String]?
        var weakFit = false
        var anyOverlap = false
        for name in titleNames where name.contains(where: topicWords.contains) {
            anyOverlap = true
            // The head is the last word before a preposition: "City at Night" is a city.
            var lead: [String] = []
            for w in name {
                if ComposerLexicon.headStops.contains(w), !lead.isEmpty { break }
                lead.append(w)
            }
            guard let head = lead.last(where: { !ComposerLexicon.defaultModifiers.contains($0) }) ?? lead.last else { continue }
            if !topicWords.contains(head) {
                // The topic names the adapter's distinguishing feature: the title starts with it
                // and it is the adapter's primary tag ("Synthwave Sunset Grid" for "synthwave").
                if primaryMatched, let first = name.first, topicWords.contains(first) { weakFit = true; continue }
                problem = problem ?? ["about \(lead.joined(separator: " "))"]
                continue
            }
            let content = name.filter { !ComposerLexicon.headStops.contains($0) }
            let extras = content.filter { !topicWords.contains($0) && !ComposerLexicon.defaultModifiers.contains($0) }
            let covered = content.filter { topicWords.contains($0) }.count
            if extras.isEmpty || covered >= 2 { return (nil, false) }
            problem = problem ?? extras
        }
        if weakFit { return (nil, true) }
        if anyOverlap { return (problem, false) }
        // The title does not mention the topic: only a coined one-word name ("LowRA", not a word
        // the adapter is also tagged with) may stand for its primary tag.
        if titleNames.isEmpty { return (nil, false) }
        if titleNames.count == 1, titleNames[0].count == 1, !tagNames.contains(titleNames[0]) { return (nil, true) }
        return (["named \(titleNames[0].joined(separator: " "))"], false)
    }
}
