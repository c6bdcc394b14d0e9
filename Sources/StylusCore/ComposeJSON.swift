import Foundation

/// The output of a composition as `stylus compose` and the MCP tool `compose_prompt` give it
/// (docs/CONTRACTS.md, CLI): the JSON object, the masked samples, the `--explain` lines.
public enum ComposeJSON {
    /// Masked variants of the composed prompt (`--masks`, `--samples`, `--seed`).
    public static func samples(_ o: ComposeOutcome, strategy: MaskStrategy, count: Int, seed: UInt64,
                               debias: String?, restoreConcepts: Bool) -> [String] {
        let sampled = Masks.sample(strategy, adapterCounts: o.composition.topics.map(\.adapters.count), samples: count, seed: seed)
        let body = PromptFile(text: o.prompt)
        return sampled.map {
            PromptBuilder.build(prompt: body.positiveText, composition: o.composition, mask: $0, debias: debias,
                                restoreConcepts: restoreConcepts, rangeOffset: body.positive.range.utf8.lowerBound)
        }
    }

    /// The weight a chosen adapter gets in its topic's `<lora:…>` tag.
    public static func weight(_ a: ComposedAdapter, in topic: ComposedTopic) -> Double {
        PromptBuilder.weight(recommended: a.recommendedWeight, activeInTopic: topic.adapters.count)
    }

    /// `{"prompt", "base_model", "retrieved", "topics", "prompt_with_adapters", "timings_ms"}`, with
    /// `id` (batch lines), `samples` (masks), `composer` (`--llm`) and `explanation` when given.
    public static func object(_ o: ComposeOutcome, id: Any? = nil, samples: [String] = [], composer: String? = nil,
                              explain: Bool = false) -> [String: Any] {
        var obj: [String: Any] = [:]
        if let id { obj["id"] = id }
        obj["prompt"] = o.prompt
        obj["base_model"] = o.baseModel?.name ?? NSNull()
        obj["retrieved"] = o.retrieved
        obj["topics"] = zip(o.composition.topics, o.topicRanges).map { t, r in
            ["keyword": t.keyword, "range": r,
             "adapters": t.adapters.map { a in
                 ["adapter_id": a.adapterID, "alias": a.alias, "weight": weight(a, in: t)] as [String: Any]
             }] as [String: Any]
        }
        obj["prompt_with_adapters"] = o.promptWithAdapters
        if !samples.isEmpty { obj["samples"] = samples }
        if let composer { obj["composer"] = composer }
        if explain {
            obj["explanation"] = o.composition.topics.map { t in
                ["keyword": t.keyword,
                 "decisions": t.decisions.map { d in
                     ["adapter_id": d.adapterID, "alias": d.alias, "accepted": d.accepted, "reason": d.reason,
                      "score": d.score.map { $0 as Any } ?? NSNull()] as [String: Any]
                 }] as [String: Any]
            }
        }
        obj["timings_ms"] = Dictionary(o.timingsMs.map { ($0.0, $0.1) }, uniquingKeysWith: { _, last in last })
        return obj
    }

    /// `object` as one line of JSON text (keys sorted).
    public static func text(_ object: [String: Any]) -> String? {
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]) else { return nil }
        return String(decoding: data, as: UTF8.self)
    }

    /// The `--explain` lines: each topic, then each decision with `+`/`-` and its reason.
    public static func explanationLines(_ o: ComposeOutcome) -> [String] {
        var lines: [String] = []
        for t in o.composition.topics {
            lines.append("topic \"\(t.keyword)\":")
            for d in t.decisions { lines.append("  \(d.accepted ? "+" : "-") \(d.alias) [\(d.adapterID)]: \(d.reason)") }
        }
        return lines
    }
}
