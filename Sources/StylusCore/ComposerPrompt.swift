import Foundation

/// The paper's prompt builder (docs/COMPOSER.md, step 7) and its masks: which chosen adapters each sampled prompt keeps.
public enum PromptBuilder {
    /// Weight of one adapter: recommended weight × 0.8 ÷ adapters active in its topic, two decimals.
    public static func weight(recommended: Double, activeInTopic: Int) -> Double {
        let w = recommended * 0.8 / Double(max(1, activeInTopic))
        return (w * 100).rounded() / 100
    }

    /// Tidy number: "0.64", "0.7", "1".
    public static func format(_ w: Double) -> String {
        var s = String(format: "%.2f", w)
        while s.hasSuffix("0") { s.removeLast() }
        if s.hasSuffix(".") { s.removeLast() }
        return s
    }

    /// The final prompt: `body`, then one `<lora:alias:w>` per active adapter (`ComposedPrompt.text`,
    /// as every front end builds it). `mask[t]` lists the active adapter indices of topic t (nil: all active).
    public static func build(prompt: String, composition: Composition, mask: [[Bool]]? = nil,
                             debias: String? = nil, restoreConcepts: Bool = false, rangeOffset: Int = 0,
                             triggerWords: [String] = []) -> String {
        ComposedPrompt(body: body(prompt: prompt, composition: composition, mask: mask, debias: debias, restoreConcepts: restoreConcepts,
                                  rangeOffset: rangeOffset, triggerWords: triggerWords),
                       adapters: composition.weightedAdapters(mask: mask)).text()
    }

    /// The final prompt without the composed tags: the prompt as written, the optional debias
    /// string and `triggerWords` (those the active adapters need, `missingTriggerWords`). With
    /// `restoreConcepts`, topics left without an active adapter are emphasised as `(topic:1.1)`.
    public static func body(prompt: String, composition: Composition, mask: [[Bool]]? = nil,
                            debias: String? = nil, restoreConcepts: Bool = false, rangeOffset: Int = 0,
                            triggerWords: [String] = []) -> String {
        var text = prompt.trimmingCharacters(in: .whitespacesAndNewlines)
        if restoreConcepts {
            let uncovered = composition.topics.enumerated().filter { t, topic in
                !topic.adapters.indices.contains { mask?[t][$0] ?? true }
            }.map(\.element)
            // Replace from the end so earlier UTF-8 ranges stay valid.
            var bytes = Array(text.utf8)
            for topic in uncovered.sorted(by: { $0.range.utf8.lowerBound > $1.range.utf8.lowerBound }) {
                let r = (topic.range.utf8.lowerBound - rangeOffset)..<(topic.range.utf8.upperBound - rangeOffset)
                guard r.lowerBound >= 0, r.upperBound <= bytes.count else { continue }
                let original = String(decoding: bytes[r], as: UTF8.self)
                bytes.replaceSubrange(r, with: Array("(\(original):1.1)".utf8))
            }
            text = String(decoding: bytes, as: UTF8.self)
        }
        if let d = debias?.trimmingCharacters(in: .whitespaces), !d.isEmpty { text += ", " + d }
        if !triggerWords.isEmpty { text += (text.isEmpty ? "" : ", ") + triggerWords.joined(separator: ", ") }
        return text
    }

    /// A prompt file's composed body (`body`) for the adapters `mask` keeps, with the trigger words
    /// they need unless `addTriggerWords` is false; and those words. The pipeline's
    /// `promptWithAdapters`, masked samples and renders are all built here.
    static func composedBody(_ file: PromptFile, composition: Composition, mask: [[Bool]]? = nil, debias: String?,
                             restoreConcepts: Bool, addTriggerWords: Bool) -> (body: String, triggerWords: [String]) {
        let triggers = addTriggerWords ? missingTriggerWords(composition, mask: mask, in: file.triggerSearchText) : []
        return (body(prompt: file.positiveText, composition: composition, mask: mask, debias: debias, restoreConcepts: restoreConcepts,
                     rangeOffset: file.positive.range.utf8.lowerBound, triggerWords: triggers), triggers)
    }

    /// The trigger words of the adapters `mask` keeps that `text` lacks (the `missing-trigger`
    /// rule, `TriggerWords.missing`): what composing adds before the tags, so the composed prompt
    /// raises no `missing-trigger`. `text` is the positive prompt with its `<…>` tags blanked
    /// (`PromptFile.triggerSearchText`).
    public static func missingTriggerWords(_ composition: Composition, mask: [[Bool]]? = nil, in text: String) -> [String] {
        var byAlias: [String: [String]] = [:]
        for topic in composition.topics { for a in topic.adapters { byAlias[a.alias] = a.triggerWords } }
        return TriggerWords.missing(for: composition.weightedAdapters(mask: mask).map(\.alias), in: text) { byAlias[$0] ?? [] }
    }
}

/// Which adapters are on in one sample (the paper's masking), per topic.
public enum MaskStrategy: String, Sendable, CaseIterable {
    /// Every composed adapter on.
    case all
    /// Per topic any subset of its adapters (including none), independently across topics.
    case oneHotLoras = "one_hot_loras"
    /// Per topic all of its adapters on or all off.
    case oneHotConcepts = "one_hot_concepts"

    public init?(name: String) {
        switch name.lowercased().replacingOccurrences(of: "-", with: "_") {
        case "all": self = .all
        case "one_hot_loras", "onehotloras": self = .oneHotLoras
        case "one_hot_concepts", "one_hot_concept", "onehotconcepts": self = .oneHotConcepts
        default: return nil
        }
    }
}

/// A small seeded generator (SplitMix64) so masks are reproducible across platforms.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

public enum Masks {
    /// `samples` masks drawn with replacement from the strategy's mask space, lazily: each topic's
    /// subset is drawn independently (uniform over its 2^n subsets), so the product space
    /// ∏ 2^n is never enumerated.
    public static func sample(_ strategy: MaskStrategy, adapterCounts: [Int], samples: Int, seed: UInt64) -> [[[Bool]]] {
        var rng = SeededGenerator(seed: seed)
        return (0..<max(0, samples)).map { _ in
            adapterCounts.map { n -> [Bool] in
                switch strategy {
                case .all:
                    return Array(repeating: true, count: n)
                case .oneHotLoras:
                    return (0..<n).map { _ in Bool.random(using: &rng) }
                case .oneHotConcepts:
                    let on = n == 0 ? false : Bool.random(using: &rng)
                    return Array(repeating: on, count: n)
                }
            }
        }
    }
}
