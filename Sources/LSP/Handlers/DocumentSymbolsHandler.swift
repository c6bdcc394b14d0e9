import StylusCore

/// The outline of a prompt file: frontmatter, the positive and negative prompts, their
/// `AND` sections and `BREAK` chunks, and the LoRA tags in each chunk.
enum DocumentSymbolsHandler {
    static func symbols(_ snapshot: DocumentSnapshot, hierarchical: Bool) -> DocumentSymbolResult {
        let file = snapshot.file
        var top: [DocumentSymbol] = []
        if let front = file.frontmatterRange {
            top.append(DocumentSymbol(name: "Frontmatter", detail: file.settings.baseModel, kind: SymbolKind.module,
                                      range: front.lsp, selectionRange: front.lsp))
        }
        if let p = prompt(file.positive, name: "Prompt", source: file.source) { top.append(p) }
        if let negative = file.negative, let n = prompt(negative, name: "Negative prompt", source: file.source) { top.append(n) }
        if hierarchical { return .hierarchical(top) }
        var flat: [SymbolInformation] = []
        func flatten(_ symbols: [DocumentSymbol], container: String?) {
            for s in symbols {
                flat.append(SymbolInformation(name: s.name, kind: s.kind, location: Location(uri: snapshot.uri, range: s.range),
                                              containerName: container))
                flatten(s.children ?? [], container: s.name)
            }
        }
        flatten(top, container: nil)
        return .flat(flat)
    }

    private static func prompt(_ syntax: PromptSyntax, name: String, source: SourceText) -> DocumentSymbol? {
        var children: [DocumentSymbol] = []
        for (i, section) in syntax.sections.enumerated() {
            let chunks = self.chunks(section.nodes, source: source)
            if syntax.sections.count > 1 {
                guard let r = span(section.nodes, source: source) else { continue }
                let whole = r.lsp
                children.append(DocumentSymbol(name: "Section \(i + 1)", detail: section.weight.map { "weight " + formatNumber($0) },
                                               kind: SymbolKind.namespace, range: whole, selectionRange: whole, children: chunks))
            } else {
                children += chunks
            }
        }
        guard let range = span(syntax.sections.flatMap(\.nodes), source: source) else { return nil }
        return DocumentSymbol(name: name, kind: SymbolKind.namespace, range: range.lsp, selectionRange: range.lsp, children: children)
    }

    /// Top-level BREAK splits a section into chunks (CLIP encodes each separately).
    private static func chunks(_ nodes: [PromptNode], source: SourceText) -> [DocumentSymbol] {
        var groups: [[PromptNode]] = [[]]
        for node in nodes {
            if case .breakKeyword = node { groups.append([]) } else { groups[groups.count - 1].append(node) }
        }
        var out: [DocumentSymbol] = []
        for (i, group) in groups.enumerated() {
            guard let r = span(group, source: source) else { continue }
            var tags: [DocumentSymbol] = []
            PromptNode.walk(group) { node, _ in
                guard case .tag(let t) = node else { return }
                tags.append(DocumentSymbol(name: "<\(t.type):\(t.name)>", detail: t.textEncoderWeight.map { formatNumber($0) },
                                           kind: SymbolKind.function, range: t.range.lsp, selectionRange: t.nameRange.lsp))
            }
            out.append(DocumentSymbol(name: groups.count > 1 ? "Chunk \(i + 1)" : "Chunk", detail: summary(source.slice(r.utf8)),
                                      kind: SymbolKind.string, range: r.lsp, selectionRange: r.lsp,
                                      children: tags.isEmpty ? nil : tags))
        }
        return out
    }

    /// From the first to the last non-blank character of the nodes (comments and separating
    /// spaces/commas excluded).
    private static func span(_ nodes: [PromptNode], source: SourceText) -> SourceRange? {
        let content = nodes.filter { node in
            switch node {
            case .text(let t): return !t.value.allSatisfy { $0.isWhitespace || $0 == "," }
            case .comment: return false
            default: return true
            }
        }
        guard let first = content.first, let last = content.last else { return nil }
        let bytes = source.bytes
        func isBlank(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D || b == UInt8(ascii: ",") }
        var lo = first.range.utf8.lowerBound, hi = last.range.utf8.upperBound
        if case .text = first { while lo < hi, isBlank(bytes[lo]) { lo += 1 } }
        if case .text = last { while hi > lo, isBlank(bytes[hi - 1]) { hi -= 1 } }
        return source.range(lo..<hi)
    }

    private static func summary(_ text: String) -> String {
        let words = text.split(whereSeparator: { $0.isWhitespace }).joined(separator: " ")
        return words.count > 40 ? String(words.prefix(39)) + "…" : words
    }
}
