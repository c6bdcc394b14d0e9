/// A topic of the prompt: what one group of adapters could serve (docs/COMPOSER.md).
public struct Topic: Sendable, Equatable, Codable {
    /// The words as written (escapes resolved, underscores as spaces, white space collapsed).
    public var keyword: String
    public var range: SourceRange
    /// The emphasis weight around the topic (the largest over its words).
    public var weight: Double
    /// True for a verb phrase such as "casting a spell" (actions and poses).
    public var isAction: Bool

    public init(keyword: String, range: SourceRange, weight: Double, isAction: Bool = false) {
        self.keyword = keyword
        self.range = range
        self.weight = weight
        self.isAction = isAction
    }
}

/// Splits a prompt into topics the way the Stylus composer segments it: comma/BREAK separated tags
/// stay whole; natural-language phrases are reduced to their noun phrases and verb phrases
/// ("an epic oil painting of a lone knight in full plate armor" → "oil painting", "knight",
/// "full plate armor"). Quality boilerplate (`masterpiece`, `score_9`, …), LoRA tags, wildcards and
/// comments are not topics. Pure and linear in the prompt length.
public enum KeywordExtractor {
    public static func topics(in syntax: PromptSyntax, source: SourceText) -> [Topic] {
        var atoms = AtomCollector(source: source)
        for section in syntax.sections {
            atoms.collect(section.nodes, weight: 1)
            atoms.boundary()
        }
        var topics: [Topic] = []
        var seen: Set<String> = []
        for segment in atoms.segments {
            for chunk in Chunker.chunks(segment) {
                guard let topic = makeTopic(chunk, source: source) else { continue }
                if seen.insert(topic.keyword.lowercased()).inserted { topics.append(topic) }
            }
        }
        return topics
    }

    static func makeTopic(_ chunk: Chunker.Chunk, source: SourceText) -> Topic? {
        guard let first = chunk.words.first, let last = chunk.words.last else { return nil }
        var range = first.range.lowerBound..<last.range.upperBound
        // Close an escaped group the phrase opened: "miku \(vocaloid\)".
        let opens = source.bytes[range].filter { $0 == 0x28 }.count, closes = source.bytes[range].filter { $0 == 0x29 }.count
        if opens > closes, range.upperBound + 1 < source.utf8Count,
           source.bytes[range.upperBound] == 0x5C, source.bytes[range.upperBound + 1] == 0x29 {
            range = range.lowerBound..<(range.upperBound + 2)
        }
        var keyword = ""
        var lastWasSpace = true
        var p = range.lowerBound
        let bytes = source.bytes
        var escaped = false
        while p < range.upperBound {
            let b = bytes[p]
            if b == 0x5C, p + 1 < range.upperBound, !escaped {  // an escape: keep the escaped character
                p += 1
                escaped = true
                continue
            }
            // Emphasis brackets inside the phrase are syntax, not words: "a (red hair) girl".
            if !escaped, b == 0x28 || b == 0x29 || b == 0x5B || b == 0x5D {
                p += 1
                continue
            }
            escaped = false
            let isSpace = b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D || b == 0x5F
            if isSpace {
                if !lastWasSpace { keyword.append(" ") }
                lastWasSpace = true
            } else {
                lastWasSpace = false
                // Append the whole UTF-8 sequence starting here.
                let width = b < 0x80 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4
                keyword += String(decoding: bytes[p..<min(p + width, range.upperBound)], as: UTF8.self)
                p += width
                continue
            }
            p += 1
        }
        keyword = keyword.trimmingSpaces
        guard !keyword.isEmpty else { return nil }
        let weight = chunk.words.map(\.weight).max() ?? 1
        return Topic(keyword: keyword, range: source.range(range), weight: weight, isAction: chunk.isAction)
    }
}

// MARK: - Words and segments

struct Word {
    /// Lowercased, underscores kept (booru tags like `long_hair` are one word).
    var lower: String
    var range: Range<Int>
    var weight: Double
    /// The word had a possessive `'s`: "a woman's hands" is two topics.
    var possessive = false
    /// Starts with an uppercase letter (proper names: "Geralt of Rivia").
    var capitalized = false
    /// Opens an escaped bracket: a booru name qualifier ("jinx \(league of legends\)").
    var opensQualifier = false
}

/// Flattens the tree into segments of words separated by hard boundaries (commas, BREAK, tags…).
struct AtomCollector {
    let source: SourceText
    var segments: [[Word]] = []
    var current: [Word] = []
    var pendingQualifier = false
    /// Between `\(` and `\)`: a booru qualifier's punctuation is part of its name ("kafka \(honkai:
    /// star rail\)", "\(re:zero\)").
    var insideQualifier = false

    init(source: SourceText) {
        self.source = source
    }

    mutating func boundary() {
        if !current.isEmpty { segments.append(current) }
        current = []
        insideQualifier = false
    }

    mutating func collect(_ nodes: [PromptNode], weight: Double) {
        for node in nodes {
            switch node {
            case .text(let t):
                words(in: t.range.utf8, weight: weight)
            case .emphasis(let e):
                // Plain emphasis is not a boundary: "a (fluffy) cat" is one phrase. A group with its
                // own weight is a concept the author singled out: "(watercolor:1.3) illustration of
                // a tart" and "standing under (power lines:1.2)" each name it as a topic of its own.
                if e.explicitWeight != nil { boundary() }
                collect(e.children, weight: weight * e.multiplier)
                if e.explicitWeight != nil { boundary() }
            case .schedule(let s):
                boundary()
                if let from = s.from {
                    collect(from, weight: weight)
                    boundary()
                }
                collect(s.to, weight: weight)
                boundary()
            case .alternation(let a):
                for option in a.options {
                    boundary()
                    collect(option, weight: weight)
                }
                boundary()
            case .tag, .wildcard, .breakKeyword, .comment:
                boundary()
            }
        }
    }

    /// Splits raw text into words. Letters, digits, `_`, inner `-`/`'`/`.` make words; `, ; : ! ? "`
    /// line ends and a sentence-ending `.` are hard boundaries; a possessive `'s` ends the word.
    mutating func words(in r: Range<Int>, weight: Double) {
        let bytes = source.bytes
        var p = r.lowerBound
        var wordStart: Int?
        var word: [UInt8] = []

        func endWord(_ collector: inout AtomCollector) {
            defer {
                wordStart = nil
                word = []
            }
            guard let s = wordStart else { return }
            // Trailing joiners and a possessive are not part of the word ("rock-", "dog's", "dog’s").
            let apostrophe: [UInt8] = [0xE2, 0x80, 0x99]
            while true {
                if let last = word.last, last == 0x2D || last == 0x27 || last == 0x2E {
                    word.removeLast()
                } else if word.count >= 3, Array(word.suffix(3)) == apostrophe {
                    word.removeLast(3)
                } else {
                    break
                }
            }
            var possessive = false
            if word.count > 2, word.last == 0x73 || word.last == 0x53 {
                if word[word.count - 2] == 0x27 {
                    word.removeLast(2)
                    possessive = true
                } else if word.count > 4, Array(word[(word.count - 4)..<(word.count - 1)]) == apostrophe {
                    word.removeLast(4)
                    possessive = true
                }
            }
            guard !word.isEmpty else { return }
            let text = String(decoding: word, as: UTF8.self)
            let capitalized = word[0] < 0x80 ? (word[0] >= 0x41 && word[0] <= 0x5A) : (text.first?.isUppercase ?? false)
            collector.current.append(Word(lower: text.lowercased(), range: s..<(s + word.count), weight: weight,
                                          possessive: possessive, capitalized: capitalized, opensQualifier: collector.pendingQualifier))
            collector.pendingQualifier = false
        }

        while p < r.upperBound {
            let b = bytes[p]
            if b >= 0x80 {
                // Non-ASCII: letters (any script) join words; other symbols (emoji, ’) are soft breaks,
                // except the typographic apostrophe inside a word.
                let width = b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4
                let end = min(p + width, r.upperBound)
                let scalar = String(decoding: bytes[p..<end], as: UTF8.self).unicodeScalars.first
                if let scalar, scalar.properties.isAlphabetic || scalar.properties.numericType != nil {
                    if wordStart == nil { wordStart = p }
                    word.append(contentsOf: bytes[p..<end])
                } else if scalar == "’", wordStart != nil {
                    word.append(contentsOf: bytes[p..<end])
                } else {
                    endWord(&self)
                }
                p = end
                continue
            }
            let isAlnum = (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x5F
            if isAlnum {
                if wordStart == nil { wordStart = p }
                word.append(b)
            } else if (b == 0x2D || b == 0x27) && wordStart != nil {  // inner - or '
                word.append(b)
            } else if b == 0x2E, wordStart != nil, p + 1 < r.upperBound, bytes[p + 1] >= 0x30, bytes[p + 1] <= 0x39 {
                word.append(b)  // 1.5, v2.0
            } else {
                endWord(&self)
                let qualifierPunctuation = insideQualifier && (b == 0x3A || b == 0x21 || b == 0x3F || b == 0x2E)
                switch b {
                case _ where qualifierPunctuation:
                    break  // : ! ? . inside a qualifier
                case 0x2C, 0x3B, 0x3A, 0x21, 0x3F, 0x22, 0x0A, 0x0D, 0x2E, 0x7C, 0x7B, 0x7D:
                    boundary()  // , ; : ! ? " newline . | { }
                case 0x5C:
                    // An escaped bracket is a soft break: "miku \(vocaloid\)" stays one phrase.
                    if p + 1 < r.upperBound, bytes[p + 1] == 0x28 { pendingQualifier = true; insideQualifier = true }
                    if p + 1 < r.upperBound, bytes[p + 1] == 0x29 { insideQualifier = false }
                    p += 1
                default:
                    break
                }
            }
            p += 1
        }
        endWord(&self)
    }
}

// MARK: - Chunking

enum Chunker {
    struct Chunk {
        var words: [Word] = []
        var isAction = false
    }

    enum Role { case determiner, preposition, conjunction, function, filler, content }

    static func role(_ w: String) -> Role {
        if Lexicon.determiners.contains(w) { return .determiner }
        if Lexicon.prepositions.contains(w) { return .preposition }
        if Lexicon.conjunctions.contains(w) { return .conjunction }
        if Lexicon.functionWords.contains(w) { return .function }
        if Lexicon.fillerAdjectives.contains(w) { return .filler }
        return .content
    }

    /// Whether the word before "and" is a plural noun, which names things of its own rather than
    /// modifying what follows ("blueberries and maple syrup", but "pink and teal gradient", "salt
    /// and pepper"). Two capitalised words are a name's ("Dungeons and Dragons") and stay together.
    static func opensOwnConjunct(_ before: Word, _ after: Word) -> Bool {
        ComposerLexicon.singular(before.lower) != before.lower && !(before.capitalized && after.capitalized)
    }

    static func isGerund(_ w: String) -> Bool {
        w.count > 4 && w.hasSuffix("ing")
    }

    /// "-ing" words that start verb phrases ("casting a spell"), as opposed to nouns ("painting").
    static func isVerbStart(_ w: String) -> Bool {
        isGerund(w) && (!Lexicon.ingNouns.contains(w) || w == "drawing" || w == "painting")
    }

    /// Participles that act as verbs when no noun follows ("curled up", "lit by", "torn by").
    static func isParticiple(_ w: String) -> Bool {
        (w.count > 4 && w.hasSuffix("ed") && !Lexicon.edWords.contains(w)) || VerbForms.irregularPast.contains(w)
            || Lexicon.irregularParticiples.contains(w)
    }

    static func chunks(_ segment: [Word]) -> [Chunk] {
        let words = segment.map(\.lower)
        let joined = words.joined(separator: " ")
        if Lexicon.isBoilerplate(joined) { return [] }
        // A tag with a booru qualifier names one thing: "jinx \(league of legends\)".
        let styleModifier = words.dropLast().contains(where: isStyleModifier)
        if (isTagLike(segment) && !styleModifier) || (segment.count <= 8 && segment.dropFirst().contains(where: \.opensQualifier)) {
            return finish([Chunk(words: segment)])
        }
        // A short tag that starts with a verb is one action: "sitting on a chair", "looking at viewer".
        if segment.count <= 4, let first = words.first, isVerbStart(first),
           !words.contains(where: { role($0) == .conjunction || role($0) == .function }) {
            return finish([Chunk(words: segment, isAction: true)])
        }
        var out: [Chunk] = []
        var chunk = Chunk()
        // The word before was a verb cut from the phrases: an adverb after it goes too ("it glows softly").
        var afterVerb = false
        // The verb last cut from this segment: its clause has a predicate, which "and" may continue.
        var clauseVerb: String?
        func flush() {
            if !chunk.words.isEmpty { out.append(chunk) }
            chunk = Chunk()
        }
        var i = 0
        while i < segment.count {
            let w = segment[i]
            let next = i + 1 < segment.count ? segment[i + 1].lower : nil
            let nextRole = next.map(role)
            let wasAfterVerb = afterVerb
            afterVerb = false
            switch role(w.lower) {
            case .determiner:
                // "casting a spell": a verb keeps its object's determiner.
                if chunk.words.count == 1, isVerbStart(chunk.words[0].lower), nextRole == .content {
                    chunk.words.append(w)
                    chunk.isAction = true
                } else {
                    flush()
                }
            case .preposition:
                if w.lower == "of", let last = chunk.words.last, next != nil,
                   Lexicon.ofJoiners.contains(last.lower) || (last.capitalized && segment[i + 1].capitalized) {
                    chunk.words.append(w)  // "cup of coffee", "style of Rembrandt", "Geralt of Rivia"
                } else {
                    flush()
                }
            case .conjunction where w.lower == "and" && isCoordinatedVerb(next, with: clauseVerb, before: i + 2 < segment.count ? segment[i + 2].lower : nil):
                // "searchlights sweep across the water and cut through the mist": once the clause
                // has had its verb, a verb form of the same person after "and" that opens a phrase
                // is a second verb.
                flush()
                i += 1
                afterVerb = true
            case .conjunction:
                // "pink and teal gradient" stays whole; "a knight and an orc" splits.
                // In running text only single modifiers join: "mustard and onions", not "a dinosaur and palm trees".
                // A plural is a thing of its own, no modifier: "freckles and red hair" are two.
                if w.lower == "and" || w.lower == "&", chunk.words.count == 1, !chunk.isAction,
                   nextRole == .content, let next, !isGerund(next),
                   !opensOwnConjunct(chunk.words[0], segment[i + 1]) {
                    chunk.words.append(w)
                } else {
                    flush()
                }
            case .function:
                flush()
            case .filler:
                // "epic oil painting" → "oil painting"; a filler alone is dropped.
                break
            case .content:
                let lower = w.lower
                if isStyleModifier(lower) {
                    // "claymation-style wolf": how it looks and what it shows are two topics.
                    flush()
                    chunk = Chunk(words: [w])
                    flush()
                } else if lower == "made", next == "of", !chunk.words.isEmpty {
                    chunk.words.append(w)  // "wings made of fire"
                } else if isGerund(lower), chunk.words.isEmpty || chunk.isAction || !Lexicon.ingNouns.contains(lower)
                            || next.map(Lexicon.objectOpeners.contains) == true {
                    // An -ing word starts a new phrase: a verb with its object ("casting a spell",
                    // "breathing fire") or an adjective with its noun ("glowing eyes"). Inside a
                    // noun phrase an -ing noun just continues it ("oil painting"), unless an object
                    // follows ("a ringed planet filling the sky").
                    flush()
                    chunk = Chunk(words: [w], isAction: isVerbStart(lower) && !Lexicon.ingAdjectives.contains(lower))
                } else if isParticiple(lower), nextRole != .content {
                    flush()  // "curled up in the snow": the verb itself is not a topic
                } else if chunk.words.isEmpty, let pronoun = subjectPronoun(before: i, in: segment),
                          isVerbAfterPronoun(lower, pronoun: pronoun) {
                    flush()  // "she points toward the castle": a pronoun's verb names nothing
                    afterVerb = true
                    clauseVerb = lower
                } else if isAdverb(lower), chunk.words.first.map({ !isGerund($0.lower) }) ?? true {
                    // An adverb goes with its verb: it stays in an -ing verb's phrase ("glowing
                    // softly"), leaves a noun phrase ("a long hallway slowly turning around" → "long
                    // hallway"), and goes with a verb cut from the phrases ("it glows softly").
                    afterVerb = wasAfterVerb
                } else if isFiniteVerb(lower, after: chunk, next: segment[(i + 1)...].first(where: { !isAdverb($0.lower) })?.lower,
                                       beforeAdverb: next.map(isAdverb) ?? false) {
                    // "a giant mecha kneels in a flooded city": the subject is the topic (what
                    // follows the verb is read past its adverbs: "mist hangs quietly over the lake")
                    flush()
                    afterVerb = true
                    clauseVerb = lower
                } else {
                    chunk.words.append(w)
                    if w.possessive { flush() }
                }
            }
            i += 1
        }
        flush()
        return finish(out)
    }

    /// A verb that ends its subject's phrase in running text: "mist hangs between the trees",
    /// "ferns give off a soft light", "Sailor Moon strikes her pose". Only after a phrase has begun,
    /// and only where what follows says so:
    /// - words WordNet's tagged counts say are almost never nouns (`VerbForms`) before a preposition,
    ///   determiner or pronoun, or before a participle ("sits parked"), so "autumn leaves" or
    ///   "business suits" stay nouns;
    /// - words as often verbs as nouns ("strikes", "circles", "share") only before an object: an
    ///   article or a possessive (a noun phrase is seldom followed straight by one), or in their base
    ///   form after a plural subject.
    ///
    /// At the end of a clause only the almost-never-nouns count ("as the last daylight fades").
    /// A verb-or-noun word followed by an adverb that ends the clause or comes before a function word
    /// (a preposition, an article, a conjunction) is a verb too ("the cockpit glows faintly", "the
    /// banner waves proudly over the gate"), but not before a participle, where it is the subject
    /// ("ocean waves gently crashing").
    static func isFiniteVerb(_ w: String, after chunk: Chunk, next: String?, beforeAdverb: Bool = false) -> Bool {
        guard !chunk.isAction, let subject = chunk.words.last?.lower else { return false }
        // Before a clause-final adverb, or one followed by a function word (checked below).
        let verbBeforeAdverb = beforeAdverb && VerbForms.objectTaking.contains(w)
        guard let next else { return VerbForms.thirdPerson.contains(w) || verbBeforeAdverb }
        if Lexicon.objectOpeners.contains(next), VerbForms.objectTaking.contains(w) { return true }
        let nextRole = role(next)
        if VerbForms.thirdPerson.contains(w), nextRole == .content, isParticiple(next) { return true }
        guard nextRole != .content, nextRole != .filler else { return false }
        if VerbForms.thirdPerson.contains(w) || verbBeforeAdverb { return true }
        // A base form follows a plural subject: "searchlights sweep across", "power lines stretch
        // behind" (plural nouns seldom modify a noun, so a verb-or-noun word counts here too).
        guard isSForm(subject) else { return false }
        return VerbForms.base.contains(w) || (VerbForms.objectTaking.contains(w) && !w.hasSuffix("s"))
    }

    /// A verb form that opens a phrase ("cut through the mist", "turns toward the camera") and agrees
    /// with the clause's verb in person: after "and", a second verb of that clause, not a noun joined
    /// to the last one ("water and cut"). "he wears a hat and coat in the snow" keeps its coat (a
    /// base form after an "-s" verb), "salt and pepper" at a phrase's end its pepper.
    static func isCoordinatedVerb(_ w: String?, with verb: String?, before next: String?) -> Bool {
        guard let w, let verb, let next, role(next) == .preposition || role(next) == .determiner else { return false }
        return isVerbForm(w) && isSForm(w) == isSForm(verb)
    }

    /// A form WordNet's tagged counts list as a verb's: third person, base form, or one that takes
    /// an object.
    static func isVerbForm(_ w: String) -> Bool {
        VerbForms.thirdPerson.contains(w) || VerbForms.base.contains(w) || VerbForms.objectTaking.contains(w)
    }

    /// A word ending in a plural or third-person "-s" ("lines", "points"; not "moss" or "gas").
    static func isSForm(_ w: String) -> Bool {
        w.count > 3 && w.hasSuffix("s") && !w.hasSuffix("ss")
    }

    /// The subject pronoun before word `i`, across adverbs ("she slowly turns"); nil when there is none.
    static func subjectPronoun(before i: Int, in segment: [Word]) -> String? {
        var j = i - 1
        while j >= 0, isAdverb(segment[j].lower) { j -= 1 }
        guard j >= 0, Lexicon.subjectPronouns.contains(segment[j].lower) else { return nil }
        return segment[j].lower
    }

    /// "-ly" adverbs WordNet has as no noun or adjective ("slowly", not "family" or "lovely").
    static func isAdverb(_ w: String) -> Bool {
        VerbForms.adverbs.contains(w)
    }

    /// A subject pronoun is followed by its verb (an adverb between them is skipped as any adverb
    /// is): no noun phrase starts straight after "she" or "they". After "he", "she" and "it" an "-s" form is that verb whatever else it
    /// could be ("she points", "it glows"); after the others, a form WordNet's tagged counts know as a
    /// verb. "it" is also an object ("paint it black"), and then the next word is no verb form.
    static func isVerbAfterPronoun(_ w: String, pronoun: String) -> Bool {
        if isVerbForm(w) { return true }
        let singular = pronoun == "he" || pronoun == "she" || pronoun == "it"
        return singular && isSForm(w)
    }

    /// A word that says how something looks after what: "claymation-style", "Ghibli-esque".
    static func isStyleModifier(_ w: String) -> Bool { styleModifierStem(w) != nil }

    /// What a style modifier says the look is after ("einstein-esque" → einstein), or nil.
    static func styleModifierStem(_ w: String) -> String? {
        guard let dash = w.lastIndex(of: "-"), dash > w.startIndex,
              ["style", "styled", "esque", "inspired"].contains(String(w[w.index(after: dash)...])) else { return nil }
        return String(w[..<dash])
    }

    /// Short comma-separated tags ("silver armor", "pink and teal gradient") stay whole.
    static func isTagLike(_ segment: [Word]) -> Bool {
        let words = segment.map(\.lower)
        guard words.count <= 4 else { return false }
        for (i, w) in words.enumerated() {
            switch role(w) {
            case .content, .filler: continue
            case .function where i == 0 && words.count == 2 && Lexicon.degreeAdverbs.contains(w):
                continue  // "highly detailed"; but "slightly faded colors" is about the colours
            case .determiner where w == "the" && i > 0 && i + 1 < words.count:
                continue  // a name: "sonic the hedgehog", "winnie the pooh"
            case .conjunction where w == "and" || w == "&":
                if i + 1 < words.count, role(words[i + 1]) == .determiner { return false }
                if i > 0, i + 1 < words.count, opensOwnConjunct(segment[i - 1], segment[i + 1]) { return false }  // "mushrooms and ferns"
            case .preposition where w == "of":
                if i > 0, Lexicon.ofJoiners.contains(words[i - 1]) { continue }
                return false
            default:
                return false
            }
        }
        return true
    }

    /// Drops filler-only chunks and lone generic words ("photo", "portrait").
    static func finish(_ chunks: [Chunk]) -> [Chunk] {
        chunks.compactMap { chunk in
            var c = chunk
            while let first = c.words.first, role(first.lower) == .filler || role(first.lower) == .determiner, c.words.count > 1 {
                c.words.removeFirst()
            }
            while let last = c.words.last, role(last.lower) != .content, c.words.count > 1 {
                c.words.removeLast()
            }
            guard let only = c.words.first else { return nil }
            if c.words.count == 1 {
                let r = role(only.lower)
                if r != .content || Lexicon.genericWords.contains(only.lower) { return nil }
            }
            if Lexicon.isBoilerplate(c.words.map(\.lower).joined(separator: " ")) { return nil }
            return c
        }
    }
}

extension PromptFile {
    /// The topics of the positive prompt.
    public var topics: [Topic] { KeywordExtractor.topics(in: positive, source: source) }
}
