import Foundation

/// The JSON shapes of catalog answers shared by the CLI and the MCP server (docs/CONTRACTS.md, CLI
/// and MCP server): `stylus catalog show --json` / `show_adapter`, `stylus search --json` /
/// `search_adapters`.
public enum CatalogJSON {
    /// The entries `key` (adapter id, alias or file stem) names, with the AutoV2/SHA-256 hashes of
    /// their local files computed (lazily, the first time someone looks at a file) and stored.
    public static func lookupWithHashes(_ key: String, in store: CatalogStore) throws -> [CatalogEntry] {
        var entries = try store.lookup(key)
        for i in entries.indices where entries[i].file != nil && entries[i].file?.sha256 == nil {
            if let updated = try? FolderScanner(store: store).computeFullHash(for: entries[i]) { entries[i] = updated }
        }
        return entries
    }

    /// The full card: refined description, triggers, weight and its source, the raw card, the file and its hashes.
    public static func card(_ e: CatalogEntry) -> String {
        let c = e.card, r = e.refinement
        var fields: [(String, String)] = [
            ("adapter_id", JSONText.quote(c.adapterId)), ("alias", JSONText.quote(c.alias)),
            ("title", JSONText.quote(c.title)), ("base_model", c.baseModel.map { JSONText.quote($0.name) } ?? "null"),
            ("type", JSONText.quote(c.type)), ("category", JSONText.quote(r.category.rawValue)),
            ("is_character", r.isCharacter ? "true" : "false"), ("weight", JSONText.number(r.weight)),
            ("weight_source", JSONText.quote(r.weightSource.rawValue)),
            ("trigger_words", JSONText.array(r.triggerWords)),
            ("refined_description", JSONText.quote(r.refinedDescription)), ("refined_by", JSONText.quote(e.refinedBy)),
            ("nsfw", c.nsfw ? "true" : "false"), ("tags", JSONText.array(c.tags)),
            ("card_trigger_words", JSONText.array(c.triggerWords)), ("card_weight", c.weight.map(JSONText.number) ?? "null"),
            ("description", JSONText.quote(c.description)), ("image_prompts", JSONText.array(c.imagePrompts)),
            ("source", JSONText.quote(e.source)), ("source_ref", e.sourceRef.map(JSONText.quote) ?? "null"),
            ("embedding_model", e.embeddingModel.map(JSONText.quote) ?? "null"),
        ]
        if let f = e.file {
            fields.append(("file", JSONText.object([
                ("path", JSONText.quote(f.path)), ("stem", JSONText.quote(f.stem)), ("size", String(f.size)),
                ("preview", f.previewPath.map(JSONText.quote) ?? "null"), ("autov3", f.autov3.map(JSONText.quote) ?? "null"),
                ("autov2", f.autov2.map(JSONText.quote) ?? "null"), ("sha256", f.sha256.map(JSONText.quote) ?? "null"),
            ])))
        }
        if let extra = e.extra { fields.append(("extra", extra)) }
        return JSONText.object(fields)
    }

    /// A short card for result lists: what an agent needs to pick an adapter and write its tag.
    public static func shortCard(_ e: CatalogEntry) -> String {
        shortCard(AdapterSummary(card: e.card, refinement: e.refinement, rowID: e.rowID))
    }

    /// `shortCard` of a summary (the same fields).
    public static func shortCard(_ s: AdapterSummary) -> String {
        let (c, r) = s.candidateEntry
        return JSONText.object([
            ("title", JSONText.quote(c.title)), ("base_model", c.baseModel.map { JSONText.quote($0.name) } ?? "null"),
            ("category", JSONText.quote(r.category.rawValue)), ("weight", JSONText.number(r.weight)),
            ("trigger_words", JSONText.array(r.triggerWords)),
            ("description", JSONText.quote(shortened(r.refinedDescription, to: shortDescriptionLength))),
            ("nsfw", c.nsfw ? "true" : "false"),
        ])
    }

    /// Characters of the refined description kept in a short card.
    public static let shortDescriptionLength = 200

    /// The ranked results of a search: `[{"adapter_id", "alias", "score"}]`, each with `"card"`
    /// (`shortCard`) when `cards` is set.
    public static func searchResults(_ hits: [Retriever.Hit], _ retriever: Retriever, cards: Bool = false) -> String {
        "[" + hits.map { h in
            let e = retriever.summary(h.index)
            var fields = [("adapter_id", JSONText.quote(h.adapterID)), ("alias", JSONText.quote(e.alias)),
                          ("score", JSONText.number(h.score))]
            if cards { fields.append(("card", shortCard(e))) }
            return JSONText.object(fields)
        }.joined(separator: ",") + "]"
    }

    static func shortened(_ s: String, to limit: Int) -> String {
        guard s.count > limit else { return s }
        let cut = s.prefix(limit)
        let end = cut.lastIndex(of: " ") ?? cut.endIndex
        return String(cut[..<end]) + "…"
    }
}
