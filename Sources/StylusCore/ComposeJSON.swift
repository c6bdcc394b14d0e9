import Foundation

/// The output of a composition as `stylus compose` and the MCP tool `compose_prompt` give it
/// (docs/CONTRACTS.md, CLI): the JSON object, the masked samples, the `--explain` lines.
public enum ComposeJSON {
    /// Masked variants of the composed prompt (`--masks`, `--samples`, `--seed`), each read with the
    /// request's settings (debias, restored concepts).
    public static func samples(_ o: ComposeOutcome, request: PromptRequest, strategy: MaskStrategy, count: Int, seed: UInt64) -> [String] {
        let sampled = Masks.sample(strategy, adapterCounts: o.composition.topics.map(\.adapters.count), samples: count, seed: seed)
        return sampled.map { request.composedPrompt(o.composition, mask: $0).text() }
    }

    /// `{"prompt", "base_model", "retrieved", "topics", "prompt_with_adapters", "timings_ms"}`, with
    /// `id` (batch lines), `samples` (masks), `composer` (`--llm`) and `explanation` when given;
    /// `retrieved` lists the first `retrievedCount` of the ranking (all of it when nil).
    public static func object(_ o: ComposeOutcome, id: Any? = nil, samples: [String] = [], composer: String? = nil,
                              explain: Bool = false, retrievedCount: Int? = nil) -> [String: Any] {
        var obj: [String: Any] = [:]
        if let id { obj["id"] = id }
        obj["prompt"] = o.prompt
        obj["base_model"] = o.baseModel?.name ?? NSNull()
        obj["retrieved"] = retrievedCount.map { Array(o.retrieved.prefix(max(0, $0))) } ?? o.retrieved
        obj["topics"] = zip(o.composition.topics.indices, o.topicRanges).map { i, r in
            let t = o.composition.topics[i]
            return ["keyword": t.keyword, "range": r,
                    "adapters": t.weightedAdapters(topic: i).map { a in
                        ["adapter_id": a.adapterID, "alias": a.alias, "weight": a.weight] as [String: Any]
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
