import Foundation
import JSONRPC
import StylusCatalog
import StylusCore

/// Completion from the adapter catalog (docs/CONTRACTS.md, Language server):
/// - inside `<lora:` / `<lyco:`: aliases of the file's base model; the edit replaces the whole
///   name under the cursor and closes the tag with the recommended weight when it is open;
/// - right after a LoRA tag: that adapter's trigger words;
/// - on a prompt word (2+ characters): adapters named by that word; accepting keeps the word and
///   adds `<lora:alias:w>` at the end of the prompt and missing trigger words at its start.
/// Lists are capped; `isIncomplete` makes the client ask again as the user types. Adapter cards go
/// into `documentation` at once, or on `completionItem/resolve` for clients that resolve it.
enum CompletionHandler {
    static let limit = 50

    static func complete(_ s: DocumentSnapshot, at position: Position, adapters: AdapterContext?,
                         client: ClientCapabilities) -> CompletionList {
        guard let adapters, let line = lineBefore(s, position) else {
            return CompletionList(isIncomplete: false, items: [])
        }
        let (cursor, lineStart, before) = line
        let source = s.text
        let file = s.file
        let base = adapters.baseModel(for: file)

        if let nameStart = openTagName(before) {
            return aliasItems(source, nameStart: lineStart + nameStart, cursor: cursor, adapters: adapters, base: base, client: client)
        }
        let wordStart = trailingWordStart(before)
        let prefix = String(decoding: before[wordStart...], as: UTF8.self)
        let range = LSPRange(start: source.position(ofUTF8: lineStart + wordStart), end: position)
        if let alias = tagBefore(Array(before[..<wordStart])), let e = adapters.catalog.summary(alias: alias),
           !e.triggerWords.isEmpty {
            let items = e.triggerWords.enumerated().map { i, t in
                CompletionItem(label: t, kind: CompletionItemKind.keyword, detail: "trigger word of \(e.alias)",
                               sortText: String(format: "%03d", i), filterText: t,
                               textEdit: TextEdit(range: range, newText: t))
            }
            return CompletionList(isIncomplete: false, items: items)
        }
        let inNegative = file.negative.map { $0.range.utf8.contains(cursor) || $0.range.utf8.upperBound == cursor } ?? false
        guard !inNegative else { return CompletionList(isIncomplete: false, items: []) }
        guard prefix.utf8.count >= 2 else { return CompletionList(isIncomplete: true, items: []) }
        let (matches, truncated) = adapters.catalog.adapters(wordPrefix: prefix, baseModel: base, limit: limit)
        let body = PhraseLookup(file.triggerSearchText)
        let installed: InstalledAdapters? = adapters.catalog.installed
        let ranked = installed.map { set in matches.filter { set.isInstalled($0.adapter.adapterId) } + matches.filter { !set.isInstalled($0.adapter.adapterId) } } ?? matches
        let items = ranked.enumerated().map { i, m in
            wordItem(m.word, m.adapter, body: body, rank: i, range: range, file: file, cursor: cursor, client: client, installed: installed)
        }
        return CompletionList(isIncomplete: truncated || prefix.utf8.count < 4, items: items)
    }

    /// The cursor's UTF-8 offset, its line's start and the line's bytes before it; nil in the frontmatter.
    static func lineBefore(_ s: DocumentSnapshot, _ position: Position) -> (cursor: Int, lineStart: Int, before: [UInt8])? {
        let source = s.text
        let cursor = source.utf8Offset(of: position)
        if let front = s.file.frontmatterRange, front.utf8.contains(cursor) { return nil }
        let lineStart = source.lineStarts[source.line(ofUTF8: cursor)]
        return (cursor, lineStart, Array(source.bytes[lineStart..<cursor]))
    }

    /// Whether the cursor is in the name of an open `<lora:` tag: alias completion, which only
    /// needs `AdapterContext.aliases(prefix:…)` (ready before the rest of the catalog).
    static func isInTagName(_ s: DocumentSnapshot, at position: Position) -> Bool {
        guard let line = lineBefore(s, position) else { return false }
        return openTagName(line.before) != nil
    }

    // MARK: `<lora:` aliases

    static func aliasItems(_ source: SourceText, nameStart: Int, cursor: Int, adapters: AdapterContext, base: BaseModel?,
                           client: ClientCapabilities) -> CompletionList {
        let b = source.bytes
        // The name continues after the cursor up to ':' or '>' (replace all of it).
        var nameEnd = cursor
        while nameEnd < b.count, !isNameEnd(b[nameEnd]) { nameEnd += 1 }
        let closed = nameEnd < b.count && (b[nameEnd] == UInt8(ascii: ":") || b[nameEnd] == UInt8(ascii: ">"))
        let prefix = String(decoding: b[nameStart..<cursor], as: UTF8.self)
        let range = LSPRange(start: source.position(ofUTF8: nameStart), end: source.position(ofUTF8: nameEnd))
        let (found, truncated) = adapters.catalog.aliases(prefix: prefix, baseModel: base, limit: limit)
        // Installed adapters first (in alias order), then the known ones.
        let installed: InstalledAdapters? = adapters.catalog.installed
        let entries = installed.map { set in found.filter { set.isInstalled($0.adapterId) } + found.filter { !set.isInstalled($0.adapterId) } } ?? found
        let items = entries.enumerated().map { i, e in
            let w = AdapterCards.weightText(e)
            var newText = e.alias
            var format: Int?
            if !closed {
                if client.snippets {
                    newText = snippetEscape(e.alias) + ":${1:\(w)}>$0"
                    format = 2
                } else {
                    newText += ":\(w)>"
                }
            }
            return CompletionItem(label: e.alias, kind: CompletionItemKind.module,
                                  detail: AdapterCards.detail(e, installed: installed?.isInstalled(e.adapterId)),
                                  documentation: documentation(e, client, installed), sortText: String(format: "%04d", i),
                                  filterText: e.alias, insertTextFormat: format,
                                  textEdit: TextEdit(range: range, newText: newText), data: resolveData(e, client))
        }
        return CompletionList(isIncomplete: truncated, items: items)
    }

    // MARK: Words

    static func wordItem(_ word: String, _ e: AdapterSummary, body: PhraseLookup, rank: Int, range: LSPRange, file: PromptFile, cursor: Int,
                         client: ClientCapabilities, installed: InstalledAdapters? = nil) -> CompletionItem {
        let source = file.source
        let tag = "<lora:\(e.alias):\(AdapterCards.weightText(e))>"
        let triggers = e.triggerWords.filter { !body.contains($0) && $0.lowercased() != word }
        var main = word
        var extra: [TextEdit] = []
        // The tag goes at the end of the prompt; if that is where the cursor is, into the main edit.
        let append = AdapterContext.appendEdit(tag, to: file)
        if source.utf8Offset(of: append.range.start) <= cursor {
            main += ", " + tag
        } else {
            extra.append(append)
        }
        // Missing trigger words go at the start of the prompt (or before the word when it starts it).
        if !triggers.isEmpty {
            let text = triggers.joined(separator: ", ") + ", "
            let start = firstContentOffset(file)
            if start >= source.utf8Offset(of: range.start) {
                main = text + main
            } else {
                let at = source.position(ofUTF8: start)
                extra.insert(TextEdit(range: LSPRange(start: at, end: at), newText: text), at: 0)
            }
        }
        return CompletionItem(
            label: e.alias, kind: CompletionItemKind.reference,
            detail: "\(word) → \(AdapterCards.detail(e, installed: installed?.isInstalled(e.adapterId)))",
            documentation: documentation(e, client, installed),
            sortText: String(format: "%04d", rank), filterText: word,
            textEdit: TextEdit(range: range, newText: main), additionalTextEdits: extra.isEmpty ? nil : extra,
            data: resolveData(e, client))
    }

    static func firstContentOffset(_ file: PromptFile) -> Int {
        let b = file.source.bytes
        var i = file.positive.range.utf8.lowerBound
        while i < file.positive.range.utf8.upperBound, [0x20, 0x09, 0x0A, 0x0D].contains(b[i]) { i += 1 }
        return i
    }

    /// `completionItem/resolve`: the adapter card of an item sent without it.
    static func resolve(_ item: CompletionItem, adapters: AdapterContext?, client: ClientCapabilities) -> CompletionItem {
        var item = item
        if item.documentation == nil, let alias = item.data?["alias"]?.stringValue, let s = adapters?.catalog.summary(alias: alias) {
            item.documentation = card(s, client, adapters?.catalog.installed)
        }
        return item
    }

    static func resolveData(_ e: AdapterSummary, _ client: ClientCapabilities) -> JSONValue? {
        client.completionResolvesDocumentation ? ["alias": .string(e.alias)] : nil
    }

    static func documentation(_ e: AdapterSummary, _ client: ClientCapabilities, _ installed: InstalledAdapters? = nil) -> Documentation? {
        client.completionResolvesDocumentation ? nil : card(e, client, installed)
    }

    static func card(_ e: AdapterSummary, _ client: ClientCapabilities, _ installed: InstalledAdapters? = nil) -> Documentation {
        let file: String?? = installed.map { .some($0.file(adapterID: e.adapterId)) } ?? .none
        if client.completionMarkdown { return .markup(MarkupContent(kind: .markdown, value: AdapterCards.card(e, markdown: true, installed: file))) }
        let text = AdapterCards.card(e, markdown: false, installed: file)
        return client.completionPlaintext ? .markup(MarkupContent(kind: .plaintext, value: text)) : .plain(text)
    }

    static func snippetEscape(_ s: String) -> String {
        var out = ""
        for ch in s {
            if ch == "$" || ch == "}" || ch == "\\" { out.append("\\") }
            out.append(ch)
        }
        return out
    }

    // MARK: Scanning the line before the cursor

    static func isNameEnd(_ b: UInt8) -> Bool {
        b == UInt8(ascii: ":") || b == UInt8(ascii: ">") || b == UInt8(ascii: "<") || b == UInt8(ascii: ",") || b == 0x0A || b == 0x0D
    }

    /// If the cursor is in the name of an open `<lora:` / `<lyco:` tag, the offset of the name.
    static func openTagName(_ line: [UInt8]) -> Int? {
        guard let open = line.lastIndex(of: UInt8(ascii: "<")) else { return nil }
        let rest = line[(open + 1)...]
        guard rest.count >= 5 else { return nil }
        let kind = String(decoding: rest.prefix(5), as: UTF8.self).lowercased()
        guard kind == "lora:" || kind == "lyco:" else { return nil }
        let name = rest.dropFirst(5)
        guard !name.contains(where: isNameEnd) else { return nil }
        return open + 6
    }

    static func isWordByte(_ b: UInt8) -> Bool {
        b >= 0x80 || (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == UInt8(ascii: "_") || b == UInt8(ascii: "-")
    }

    static func trailingWordStart(_ line: [UInt8]) -> Int {
        var i = line.count
        while i > 0, isWordByte(line[i - 1]) { i -= 1 }
        return i
    }

    /// The alias of a LoRA tag that ends just before `text` (spaces and commas between).
    static func tagBefore(_ text: [UInt8]) -> String? {
        var i = text.count
        while i > 0, text[i - 1] == 0x20 || text[i - 1] == UInt8(ascii: ",") || text[i - 1] == 0x09 { i -= 1 }
        guard i > 0, text[i - 1] == UInt8(ascii: ">"), let open = text[..<i].lastIndex(of: UInt8(ascii: "<")) else { return nil }
        let inner = String(decoding: text[(open + 1)..<(i - 1)], as: UTF8.self)
        let parts = inner.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count >= 2, ["lora", "lyco"].contains(parts[0].lowercased()) else { return nil }
        let alias = parts[1].trimmingCharacters(in: .whitespaces)
        return alias.isEmpty ? nil : alias
    }
}
