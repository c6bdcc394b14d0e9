import StylusCatalog
import StylusCore

/// Hover (docs/CONTRACTS.md, Language server): the adapter card on a `<lora:…>` tag; on a keyword of the prompt, the
/// adapters the composer picks for it and why (and the closest ones it turned down).
enum HoverHandler {
    static func hover(_ s: DocumentSnapshot, at position: Position, adapters: AdapterContext?,
                      client: ClientCapabilities) throws -> Hover? {
        guard let adapters else { return nil }
        let file = s.file
        let cursor = s.text.utf8Offset(of: position)
        let md = client.hoverMarkdown
        if let (tag, _) = file.loraTags.first(where: { $0.tag.range.utf8.contains(cursor) }) {
            guard let e = adapters.catalog.summary(alias: tag.name) else {
                let close = adapters.catalog.closestAliases(to: tag.name, baseModel: adapters.baseModel(for: file))
                var text = "Unknown LoRA \(md ? "`\(tag.name)`" : "'\(tag.name)'"): not in the catalog (\(adapters.count) adapters)."
                if !close.isEmpty { text += " Closest: " + close.map { md ? "`\($0)`" : $0 }.joined(separator: ", ") + "." }
                return Hover(contents: MarkupContent(kind: md ? .markdown : .plaintext, value: text), range: tag.range.lsp)
            }
            let file: String?? = .some(adapters.catalog.installed.file(adapterID: e.adapterId))
            return Hover(contents: MarkupContent(kind: md ? .markdown : .plaintext, value: AdapterCards.card(e, markdown: md, installed: file)),
                         range: tag.range.lsp)
        }
        guard file.positive.range.utf8.contains(cursor) || file.positive.range.utf8.upperBound == cursor else { return nil }
        guard let topic = adapters.catalog.composeTopic(containing: cursor, in: adapters.request(file)) else { return nil }
        let accepted = topic.decisions.filter(\.accepted)
        let rejected = topic.decisions.filter { !$0.accepted }
        guard !accepted.isEmpty || !rejected.isEmpty else { return nil }
        func name(_ alias: String) -> String { md ? "`\(alias)`" : alias }
        var lines: [String] = []
        if accepted.isEmpty {
            lines.append("No adapter fits \(md ? "**\(AdapterCards.escape(topic.keyword))**" : "\"\(topic.keyword)\"").")
        } else {
            lines.append("Adapters for \(md ? "**\(AdapterCards.escape(topic.keyword))**" : "\"\(topic.keyword)\""):")
            let weights = topic.weightedAdapters(topic: 0)
            for d in accepted {
                let w = weights.first { $0.adapterID == d.adapterID }.map { formatNumber($0.weight) } ?? "?"
                let title = adapters.catalog.summary(alias: d.alias)?.title ?? d.alias
                let mark = adapters.catalog.installed.isInstalled(d.adapterID) ? "" : " (not installed)"
                lines.append("\(md ? "- " : "• ")\(name("<lora:\(d.alias):\(w)>")) \(title)\(mark): \(d.reason)")
            }
        }
        if !rejected.isEmpty {
            lines.append(md ? "\nNot used:" : "Not used:")
            for d in rejected.prefix(3) { lines.append("\(md ? "- " : "• ")\(name(d.alias)): \(d.reason)") }
        }
        if !accepted.isEmpty { lines.append(md ? "\n_Compose adapters_ inserts them." : "The \"Compose adapters\" code action inserts them.") }
        return Hover(contents: MarkupContent(kind: md ? .markdown : .plaintext, value: lines.joined(separator: "\n")),
                     range: topic.range.lsp)
    }
}
