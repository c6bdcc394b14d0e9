import Foundation

/// The offline refiner: deterministic, no network. It plays the part of the paper's VLM refiner
/// (StylusDocs construction) with explicit rules: clean text, category, character flag,
/// recommended weight, trigger words and a concise description for retrieval.
public enum OfflineRefiner {
    public static func refine(_ card: AdapterCard, fileStem: String? = nil) -> AdapterRefinement {
        let clean = CardText.clean(card.description)
        let (weight, source) = recommendedWeight(card, fileStem: fileStem)
        let triggers = triggerWords(card, cleanDescription: clean)
        let category = CategoryRules.category(tags: card.tags, title: card.title, triggerWords: triggers,
                                              description: clean)
        let refined = refinedDescription(card, category: category, triggers: triggers, clean: clean)
        return AdapterRefinement(category: category, isCharacter: category.isCharacterLike, weight: weight,
                                 weightSource: source, triggerWords: triggers, refinedDescription: refined,
                                 cleanDescription: clean)
    }

    /// Structured field → weight stated in the description (range midpoint) → median
    /// `<lora:alias:W>` of the example prompts → 0.8.
    public static func recommendedWeight(_ card: AdapterCard, fileStem: String? = nil) -> (Double, WeightSource) {
        if let w = card.weight, w.isFinite, w != 0, WeightEvidence.plausible.contains(w) {
            return (w, .field)
        }
        if let w = WeightEvidence.statedWeight(in: card.description, alias: card.alias) {
            return (w, .description)
        }
        let otherNames = fileStem.map { [$0] } ?? []
        if let w = WeightEvidence.medianLoraWeight(in: card.imagePrompts, alias: card.alias, otherNames: otherNames) {
            return (w, .examplePrompts)
        }
        return (WeightEvidence.defaultWeight, .defaultValue)
    }

    // MARK: - Trigger words

    /// The card's trigger words (trimmed, de-duplicated); else words the description names as the
    /// trigger ("trigger: xyz", "触发词 xyz"); else the first training tags that are not generic
    /// booru tags.
    public static func triggerWords(_ card: AdapterCard, cleanDescription: String) -> [String] {
        var seen = Set<String>()
        var out: [String] = []
        func add(_ raw: String) {
            let t = CardText.collapseWhitespace(raw.trimmingCharacters(in: CharacterSet(charactersIn: " ,;\t\n")))
            guard !t.isEmpty, t.count <= 200, seen.insert(t.lowercased()).inserted else { return }
            out.append(t)
        }
        card.triggerWords.forEach(add)
        if !out.isEmpty { return out }
        triggersNamed(in: cleanDescription).forEach(add)
        if !out.isEmpty { return out }
        for tag in card.trainingTags where out.count < 3 && !genericTrainingTags.contains(tag.lowercased()) {
            add(tag)
        }
        return out
    }

    static let triggerNegations: Set<String> = ["no", "without", "sin", "sans", "ohne", "kein", "keine", "sem", "senza", "geen", "bez"]
    /// Negations written straight before the word, as Chinese and Japanese do ("无触发词": no trigger word).
    static let triggerNegationsJoined = ["无", "無", "没有", "不需要", "不用", "不要"]
    /// What follows "trigger:" when there is none or it is advice: the start of the text ("not needed",
    /// "weight 0.8"), or its whole first word ("トリガーワードなし": trigger word, none; a trigger
    /// "无脸男" is a name, not "无").
    static let noTriggerStarts = ["needed", "required", "none", "n/a", "not needed", "optional", "weight", "strength"]
    static let noTriggerWords: Set<String> = ["なし", "無し", "不要", "无", "無", "不需要", "没有", "없음", "없어요", "aucun", "aucune",
                                              "ninguno", "ninguna", "nada", "keine", "keiner", "nessuno", "nenhum"]

    /// "trigger: xyz", "trigger word is xyz", "use trigger xyz", "触发词 xyz", "トリガー: xyz";
    /// never "no trigger (needed)" or "sin trigger".
    static func triggersNamed(in text: String) -> [String] {
        let lower = text.lowercased()
        var found: [String] = []
        let markers = ["trigger words", "trigger word", "triggers", "trigger", "触发词", "トリガーワード", "トリガー", "activation"]
        for marker in markers {
            var search = lower.startIndex..<lower.endIndex
            while let r = lower.range(of: marker, range: search) {
                search = r.upperBound..<lower.endIndex
                // A longer marker here was read in its own turn ("トリガー" in "トリガーワードなし").
                if markers.contains(where: { $0.count > marker.count && lower[r.lowerBound...].hasPrefix($0) }) { continue }
                // "no trigger", "without trigger", and the same in the other languages cards are written in
                // ("sin trigger", "sans trigger", "ohne Trigger", "kein Trigger", "sem trigger", "senza trigger").
                let textBefore = lower[..<r.lowerBound]
                let wordBefore = textBefore.reversed().drop(while: { $0 == " " }).prefix(while: { $0.isLetter })
                if Self.triggerNegations.contains(String(wordBefore.reversed())) { continue }
                if Self.triggerNegationsJoined.contains(where: { textBefore.hasSuffix($0) }) { continue }  // "无触发词"
                var rest = lower[r.upperBound...].drop(while: { " ：:=-\"'是は".contains($0) })
                if rest.hasPrefix("is ") { rest = rest.dropFirst(3) }
                if rest.hasPrefix("word ") || rest.hasPrefix("words ") { continue }
                let tokenSlice = rest.prefix(while: { !",.;。、\n()\"'".contains($0) })
                let token = tokenSlice.trimmingCharacters(in: .whitespaces)
                let first = token.split(separator: " ").prefix(3).joined(separator: " ")
                guard !first.isEmpty, first.count <= 40, first.contains(where: \.isLetter),
                      !Self.noTriggerStarts.contains(where: { first.hasPrefix($0) }),
                      !Self.noTriggerWords.contains(first.split(separator: " ").first.map(String.init) ?? "")
                else { continue }
                // Keep the author's casing: same offset in the original text (lowercasing kept the length
                // for the scripts we meet; fall back to the lowercased token otherwise).
                let offset = lower.distance(from: lower.startIndex, to: tokenSlice.startIndex)
                var original = first
                if lower.count == text.count, let start = text.index(text.startIndex, offsetBy: offset, limitedBy: text.endIndex) {
                    original = String(text[start...].drop(while: { $0 == " " }).prefix(first.count))
                }
                found.append(original)
            }
            if !found.isEmpty { break }
        }
        return found
    }

    /// Training tags that describe the dataset, not the adapter (never triggers).
    public static let genericTrainingTags: Set<String> = [
        "1girl", "1boy", "2girls", "solo", "looking at viewer", "smile", "simple background", "white background",
        "upper body", "portrait", "full body", "standing", "outdoors", "indoors", "blush", "open mouth",
        "closed mouth", "long hair", "short hair", "realistic", "photorealistic", "masterpiece", "best quality",
        "no humans", "day", "night", "sky", "cloud", "brown hair", "black hair", "blonde hair", "male focus",
        "multiple girls", "holding", "shirt", "jewelry", "teeth", "lips", "from side",
    ]

    // MARK: - Refined description

    /// One short paragraph: what the adapter is and does, for embedding and BM25. Example:
    /// "Cherry Blossom XL: background adapter (SDXL 1.0). Cherry blossom trees and falling petals.
    /// Tags: cherry blossom, spring. Trigger: sakura."
    public static func refinedDescription(_ card: AdapterCard, category: AdapterCategory, triggers: [String],
                                          clean: String) -> String {
        let title = CardText.collapseWhitespace(CardText.stripHTML(card.title))
        var parts: [String] = []
        let base = card.baseModel.map { " (\($0.name))" } ?? ""
        parts.append("\(title): \(categoryPhrase(category))\(base).")
        if let llm = card.llmDescription.map(CardText.clean), !llm.isEmpty {
            parts.append(clip(llm, 600))
        } else {
            let summary = summarySentences(clean)
            if !summary.isEmpty { parts.append(summary) }
        }
        let extraTags = card.tags.filter { AdapterCategory(tag: $0) == nil && $0.lowercased() != title.lowercased() }
        if !extraTags.isEmpty { parts.append("Tags: " + extraTags.prefix(8).joined(separator: ", ") + ".") }
        if !triggers.isEmpty { parts.append("Trigger: " + triggers.prefix(4).joined(separator: ", ") + ".") }
        return parts.joined(separator: " ")
    }

    static func categoryPhrase(_ c: AdapterCategory) -> String {
        switch c {
        case .style: return "art style adapter"
        case .character: return "character adapter"
        case .celebrity: return "celebrity likeness adapter"
        case .concept: return "concept adapter"
        case .clothing: return "clothing adapter"
        case .background: return "background and scenery adapter"
        case .building: return "architecture adapter"
        case .vehicle: return "vehicle adapter"
        case .animal: return "animal adapter"
        case .pose: return "pose adapter"
        case .action: return "action adapter"
        case .object: return "object adapter"
        case .tool: return "utility adapter"
        }
    }

    /// The first sentences of the cleaned description that say something about the adapter,
    /// without weight advice and version chatter; at most ~280 characters.
    static func summarySentences(_ clean: String) -> String {
        var out = ""
        for line in clean.split(separator: "\n") {
            for sentence in splitSentences(String(line)) {
                let s = sentence.trimmingCharacters(in: .whitespaces)
                guard s.count >= 3, !isAdviceOnly(s) else { continue }
                let piece = s.last.map { ".!?。！？".contains($0) } == true ? s : s + "."
                if out.count + piece.count > 280 {
                    if out.isEmpty { out = clip(piece, 280) }
                    return out
                }
                out += out.isEmpty ? piece : " " + piece
            }
        }
        return out
    }

    static func splitSentences(_ line: String) -> [String] {
        var out: [String] = []
        var current = ""
        let chars = Array(line)
        for (i, ch) in chars.enumerated() {
            current.append(ch)
            let next = i + 1 < chars.count ? chars[i + 1] : " "
            if "。！？".contains(ch) || (".!?".contains(ch) && next == " ") {
                out.append(current)
                current = ""
            }
        }
        if !current.trimmingCharacters(in: .whitespaces).isEmpty { out.append(current) }
        return out
    }

    /// "weight 0.7", "0.6-0.8", "recommended: 0.8", "use at 0.6", "v1.0", "no trigger": advice, not content.
    static func isAdviceOnly(_ s: String) -> Bool {
        let words = s.lowercased().split(whereSeparator: { !($0.isLetter) }).map(String.init)
        let adviceWords: Set<String> = ["weight", "weights", "strength", "recommended", "recommend", "use", "at",
                                        "try", "suggested", "works", "best", "around", "v", "no", "trigger",
                                        "needed", "default", "sweet", "spot", "ok", "on", "good", "is", "a", "the",
                                        "lora", "it", "and", "or", "for", "with", "just", "put", "in", "locon"]
        let hasDigit = s.contains(where: { $0.isNumber })
        let lower = s.lowercased()
        let mentionsAdvice = ["weight", "strength", "recommend", "trigger", "推荐", "推奨", "权重", "ウェイト", "가중치",
                              "おすすめ", "建议"].contains(where: { lower.hasBytes($0) })
        guard hasDigit || mentionsAdvice else { return false }
        // With a number in it, CJK words are the advice itself ("推奨ウェイト0.8").
        let content = words.filter {
            !adviceWords.contains($0) && !(hasDigit && $0.unicodeScalars.allSatisfy({ $0.value > 0x2E80 }))
        }
        return content.isEmpty
    }

    static func clip(_ s: String, _ n: Int) -> String {
        guard s.count > n else { return s }
        let cut = s.prefix(n)
        if let space = cut.lastIndex(of: " ") { return String(cut[..<space]) + "…" }
        return String(cut) + "…"
    }
}
