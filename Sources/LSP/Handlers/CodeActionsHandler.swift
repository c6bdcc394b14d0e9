import JSONRPC
import StylusCatalog
import StylusCore

/// Code actions (docs/CONTRACTS.md, Language server): quick fixes for the catalog and LoRA diagnostics, "Compose
/// adapters" (a workspace edit inserting the composer's tags) and, when a renderer is wired,
/// "Render image" (command `stylus.render`). Clients without code action literals get commands.
enum CodeActionsHandler {
    static func actions(_ s: DocumentSnapshot, _ p: CodeActionParams, adapters: AdapterContext?,
                        client: ClientCapabilities, canRender: Bool) throws -> [CodeActionOrCommand] {
        let uri = s.uri
        let argument: [JSONValue] = [["uri": .string(uri)]]
        guard client.codeActionLiterals else {
            var commands: [CodeActionOrCommand] = []
            if adapters != nil { commands.append(.command(Command(title: "Compose adapters", command: StylusCommand.compose, arguments: argument))) }
            if canRender { commands += RenderActions.commands(uri: uri, composable: adapters != nil).map { .command($0) } }
            return commands
        }
        let file = s.file
        let source = s.text
        var out: [CodeAction] = []
        func edit(_ edits: [TextEdit]) -> WorkspaceEdit { WorkspaceEdit.single(uri: uri, version: s.version, edits: edits, client: client) }
        func replace(_ r: Range<Int>, _ text: String) -> TextEdit { TextEdit(range: source.range(r).lsp, newText: text) }
        let tags = file.loraTags
        func tag(at range: LSPRange) -> (tag: ExtraNetworkTag, negative: Bool)? {
            tags.first { $0.tag.range.lsp.start <= range.start && range.end <= $0.tag.range.lsp.end }
        }

        for d in p.context.diagnostics where d.source == PromptDiagnostic.source {
            guard let code = d.code, let (t, negative) = tag(at: d.range) else { continue }
            switch code {
            case DiagnosticCode.unknownLoRA.rawValue:
                out.append(CodeAction(title: "Remove unknown LoRA <lora:\(t.name)>", kind: "quickfix", diagnostics: [d],
                                      edit: edit([replace(AdapterCards.removalRange(t, in: source), "")])))
                if let adapters {
                    for alias in adapters.catalog.closestAliases(to: t.name, baseModel: adapters.baseModel(for: file)) {
                        out.append(CodeAction(title: "Replace with '\(alias)'", kind: "quickfix", diagnostics: [d],
                                              isPreferred: out.count == 1 ? true : nil,
                                              edit: edit([replace(t.nameRange.utf8, alias)])))
                    }
                }
            case DiagnosticCode.missingTrigger.rawValue:
                guard let trigger = d.data?["trigger"]?.stringValue else { continue }
                let at = CompletionHandler.firstContentOffset(file)
                out.append(CodeAction(title: "Insert trigger word '\(trigger)'", kind: "quickfix", diagnostics: [d], isPreferred: true,
                                      edit: edit([replace(at..<at, trigger + ", ")])))
            case DiagnosticCode.loraInNegative.rawValue:
                guard negative else { continue }
                let text = source.slice(t.range.utf8)
                let append = AdapterContext.appendEdit(text, to: file)
                out.append(CodeAction(title: "Move <lora:\(t.name)> to the prompt", kind: "quickfix", diagnostics: [d], isPreferred: true,
                                      edit: edit([append, replace(AdapterCards.removalRange(t, in: source), "")])))
            case DiagnosticCode.baseModelMismatch.rawValue:
                guard let adapters, let base = adapters.baseModel(for: file), let e = adapters.catalog.summary(alias: t.name) else { continue }
                for sibling in adapters.catalog.siblings(of: e, base: base) {
                    out.append(CodeAction(title: "Replace with '\(sibling.alias)' (\(base.name))", kind: "quickfix", diagnostics: [d],
                                          edit: edit([replace(t.nameRange.utf8, sibling.alias)])))
                }
            default:
                continue
            }
        }

        // The recommended weight of a known adapter under the cursor.
        if let adapters, let (t, negative) = tags.first(where: { overlaps($0.tag.range.lsp, p.range) }), !negative,
           let e = adapters.catalog.summary(alias: t.name) {
            let w = AdapterCards.weightText(e)
            let fix = p.context.diagnostics.first { $0.code == DiagnosticCode.weightRange.rawValue && overlaps($0.range, t.range.lsp) }
            if let first = t.positional.first, first.number.map(PromptBuilder.format) != w {
                out.append(CodeAction(title: "Set weight to the recommended \(w)", kind: fix == nil ? "refactor.rewrite" : "quickfix",
                                      diagnostics: fix.map { [$0] }, edit: edit([replace(first.range.utf8, w)])))
            } else if t.positional.isEmpty, t.named("te") == nil {
                let end = t.nameRange.utf8.upperBound
                out.append(CodeAction(title: "Set weight to the recommended \(w)", kind: "refactor.rewrite",
                                      edit: edit([replace(end..<end, ":" + w)])))
            }
        }

        let composed = adapters?.composeIfReady(file)
        if let composed, let e = composed.edit {
            out.append(CodeAction(title: "Compose adapters: " + composed.tags.joined(separator: " "), kind: "source.compose",
                                  edit: edit([e])))
        }
        if canRender { out += RenderActions.actions(uri: uri, composable: composed?.edit != nil) }
        if let only = p.context.only, !only.isEmpty {
            out.removeAll { a in !only.contains { k in a.kind == k || (a.kind ?? "").hasPrefix(k + ".") } }
        }
        return out.map { .action($0) }
    }

    /// A document too large to analyse: only the render commands, for clients that take commands.
    static func oversized(uri: DocumentURI, client: ClientCapabilities, canRender: Bool) -> [CodeActionOrCommand] {
        guard !client.codeActionLiterals, canRender else { return [] }
        return RenderActions.commands(uri: uri, composable: false).map { .command($0) }
    }

    static func overlaps(_ a: LSPRange, _ b: LSPRange) -> Bool { a.start <= b.end && b.start <= a.end }
}
