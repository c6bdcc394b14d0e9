import JSONRPC
import StylusCatalog
import StylusCore

/// Code actions (docs/CONTRACTS.md, Language server): quick fixes for the catalog and LoRA diagnostics, "Compose
/// adapters" (a workspace edit inserting the composer's tags) and, when a renderer is wired,
/// "Render image" (command `stylus.render`). Clients without code action literals get commands.
enum CodeActionsHandler {
    static func actions(_ s: DocumentSnapshot, _ p: CodeActionParams, adapters: AdapterContext?,
                        client: ClientCapabilities, canRender: Bool, settings: Settings = Settings()) throws -> [CodeActionOrCommand] {
        let uri = s.uri
        let argument: [JSONValue] = [["uri": .string(uri)]]
        guard client.codeActionLiterals else {
            var commands: [CodeActionOrCommand] = []
            if adapters != nil {
                commands.append(.command(Command(title: "Compose adapters", command: StylusCommand.compose, arguments: argument)))
                commands.append(.command(Command(title: "Compose installed adapters", command: StylusCommand.compose,
                                                 arguments: [["uri": .string(uri), "installedOnly": true]])))
            }
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

        // The suggested weight of a known adapter under the cursor (the composer's weight rule,
        // `AdapterCards.weightText`), unless the tag already has a weight the composer gives it.
        if let adapters, let (t, negative) = tags.first(where: { overlaps($0.tag.range.lsp, p.range) }), !negative,
           let e = adapters.catalog.summary(alias: t.name) {
            let w = AdapterCards.weightText(e)
            let fix = p.context.diagnostics.first { $0.code == DiagnosticCode.weightRange.rawValue && overlaps($0.range, t.range.lsp) }
            if let first = t.positional.first, fix != nil || !(first.number.map { AdapterCards.isComposerWeight($0, of: e) } ?? false) {
                out.append(CodeAction(title: "Set weight to the suggested \(w)", kind: fix == nil ? "refactor.rewrite" : "quickfix",
                                      diagnostics: fix.map { [$0] }, edit: edit([replace(first.range.utf8, w)])))
            } else if t.positional.isEmpty, t.named("te") == nil {
                let end = t.nameRange.utf8.upperBound
                out.append(CodeAction(title: "Set weight to the suggested \(w)", kind: "refactor.rewrite",
                                      edit: edit([replace(end..<end, ":" + w)])))
            }
        }

        // "Compose adapters" from every known adapter (saying which are not installed), and from
        // the installed ones when that differs: what "Render image with composed adapters" uses.
        let addTriggers = settings.addTriggerWords
        let composed = adapters?.composeIfReady(file, addTriggers: addTriggers)
        if let composed, let e = composed.edit {
            let missing = composed.notInstalled.isEmpty ? "" : " (not installed: \(composed.notInstalled.joined(separator: ", ")))"
            out.append(CodeAction(title: "Compose adapters: " + composed.tags.joined(separator: " ") + missing, kind: "source.compose",
                                  edit: edit([e])))
        }
        var installedComposition: AdapterContext.Composed?
        if let composed, !composed.notInstalled.isEmpty {
            installedComposition = adapters?.composeIfReady(file, installedOnly: true, addTriggers: addTriggers)
            if let installed = installedComposition, let e = installed.edit {
                out.append(CodeAction(title: "Compose installed adapters: " + installed.tags.joined(separator: " "),
                                      kind: "source.compose.installed", edit: edit([e])))
            }
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
