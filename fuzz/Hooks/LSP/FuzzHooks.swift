// Linked into the LSP module of the fuzz package only (scripts/fuzz): the handlers are internal.
import Foundation
import JSONRPC
import StylusCore

public enum FuzzHooks {
    /// Every LSP feature that needs no catalog, on `text`: formatting (applied twice: the second
    /// pass must change nothing), inlay hints, semantic tokens, symbols.
    public static func exercise(_ text: String) {
        let snapshot = DocumentSnapshot(uri: "file:///fuzz.sdprompt", languageId: "sdprompt", version: 1,
                                        text: SourceText(text), revision: 1)
        let all = LSPRange(start: Position(line: 0, character: 0), end: Position(line: 1 << 30, character: 0))
        _ = InlayHintsHandler.hints(snapshot, in: all)
        _ = SemanticTokensHandler.tokens(snapshot)
        _ = DocumentSymbolsHandler.symbols(snapshot, hierarchical: true)
        _ = DocumentSymbolsHandler.symbols(snapshot, hierarchical: false)
        let edits = FormattingHandler.edits(snapshot)
        let source = snapshot.text
        for e in edits {
            let a = source.utf8Offset(of: e.range.start), b = source.utf8Offset(of: e.range.end)
            precondition(a <= b && b <= source.utf8Count, "formatting edit out of range")
        }
    }

    /// Decodes a JSON-RPC body as the server does, then its LSP parameters for the common methods.
    public static func decode(_ body: Data) {
        guard let message = try? IncomingMessage.decode(body) else { return }
        _ = message
    }
}
