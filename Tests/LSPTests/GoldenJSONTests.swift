import Foundation
import JSONRPC
import LSP
import StylusCore
import XCTest

/// Every protocol type we define encodes to the exact LSP JSON (sorted keys) and decodes back.
final class GoldenJSONTests: XCTestCase {
    private func check<T: Codable & Equatable>(_ value: T, _ golden: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        XCTAssertEqual(String(decoding: try encoder.encode(value), as: UTF8.self), golden, file: file, line: line)
        XCTAssertEqual(try JSONDecoder().decode(T.self, from: Data(golden.utf8)), value, file: file, line: line)
    }

    private func encode<T: Encodable>(_ value: T) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    let range = LSPRange(start: Position(line: 0, character: 7), end: Position(line: 1, character: 0))

    func testPositionRangeAndEdits() throws {
        try check(Position(line: 3, character: 12), #"{"character":12,"line":3}"#)
        try check(range, #"{"end":{"character":0,"line":1},"start":{"character":7,"line":0}}"#)
        try check(TextEdit(range: range, newText: "x"),
                  #"{"newText":"x","range":{"end":{"character":0,"line":1},"start":{"character":7,"line":0}}}"#)
        try check(Location(uri: "file:///a/b.sdprompt", range: range),
                  #"{"range":{"end":{"character":0,"line":1},"start":{"character":7,"line":0}},"uri":"file:///a/b.sdprompt"}"#)
        try check(MarkupContent(kind: .markdown, value: "**x**"), #"{"kind":"markdown","value":"**x**"}"#)
    }

    func testDocumentSync() throws {
        try check(TextDocumentItem(uri: "file:///a.sdprompt", languageId: "sdprompt", version: 1, text: "🐱"),
                  #"{"languageId":"sdprompt","text":"🐱","uri":"file:///a.sdprompt","version":1}"#)
        try check(TextDocumentContentChangeEvent(text: "all"), #"{"text":"all"}"#)
        try check(TextDocumentContentChangeEvent(range: range, text: ""),
                  #"{"range":{"end":{"character":0,"line":1},"start":{"character":7,"line":0}},"text":""}"#)
        // rangeLength (deprecated) is accepted and ignored.
        let withLength = #"{"range":{"end":{"character":1,"line":0},"start":{"character":0,"line":0}},"rangeLength":1,"text":"y"}"#
        XCTAssertEqual(try JSONDecoder().decode(TextDocumentContentChangeEvent.self, from: Data(withLength.utf8)).text, "y")
        try check(VersionedTextDocumentIdentifier(uri: "u", version: 4), #"{"uri":"u","version":4}"#)
    }

    func testDiagnostics() throws {
        let d = Diagnostic(range: range, severity: .warning, code: "duplicate-lora", message: "twice")
        try check(d, #"{"code":"duplicate-lora","message":"twice","range":{"end":{"character":0,"line":1},"start":{"character":7,"line":0}},"severity":2,"source":"stylus"}"#)
        try check(PublishDiagnosticsParams(uri: "u", version: nil, diagnostics: []), #"{"diagnostics":[],"uri":"u"}"#)
        try check(PublishDiagnosticsParams(uri: "u", version: 3, diagnostics: []), #"{"diagnostics":[],"uri":"u","version":3}"#)
        var full = d
        full.codeDescription = CodeDescription(href: "https://example.invalid/codes#duplicate-lora")
        full.relatedInformation = [DiagnosticRelatedInformation(location: Location(uri: "u", range: range), message: "first here")]
        full.tags = [1]
        full.data = ["alias": "x"]
        XCTAssertEqual(try encode(full), #"{"code":"duplicate-lora","codeDescription":{"href":"https://example.invalid/codes#duplicate-lora"},"data":{"alias":"x"},"message":"twice","range":{"end":{"character":0,"line":1},"start":{"character":7,"line":0}},"relatedInformation":[{"location":{"range":{"end":{"character":0,"line":1},"start":{"character":7,"line":0}},"uri":"u"},"message":"first here"}],"severity":2,"source":"stylus","tags":[1]}"#)
    }

    func testWorkspaceAndWindow() throws {
        try check(ConfigurationParams(items: [ConfigurationItem(section: "stylus")]), #"{"items":[{"section":"stylus"}]}"#)
        try check(LogMessageParams(type: 3, message: "hi"), #"{"message":"hi","type":3}"#)
        XCTAssertEqual(try encode(ClientInfo(name: "Neovim", version: "0.7.2")), #"{"name":"Neovim","version":"0.7.2"}"#)
    }

    func testInitializeResultAdvertisesIncrementalUTF16SyncAndFeatures() throws {
        let result = InitializeResult(capabilities: LanguageServer.capabilities(for: ClientCapabilities()),
                                      serverInfo: ServerInfo(name: LanguageServer.name, version: LanguageServer.version))
        XCTAssertEqual(try encode(result), #"{"capabilities":{"codeActionProvider":true,"completionProvider":{"resolveProvider":true,"triggerCharacters":[":",","," "]},"documentFormattingProvider":true,"documentSymbolProvider":true,"executeCommandProvider":{"commands":["stylus.compose","stylus.reindex"]},"hoverProvider":true,"inlayHintProvider":true,"positionEncoding":"utf-16","semanticTokensProvider":{"full":true,"legend":{"tokenModifiers":[],"tokenTypes":["keyword","function","number","operator","variable","comment","parameter"]},"range":false},"textDocumentSync":{"change":2,"openClose":true,"save":{"includeText":false}}},"serverInfo":{"name":"stylus","version":"0.1.0"}}"#)
    }
}
