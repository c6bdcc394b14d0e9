import Foundation
import LSP
import StylusCore
import StylusRender
import XCTest
import TestSupport

/// The `token-limit` diagnostic with the real CLIP BPE vocabulary installed by scripts/setup.
final class TokenLimitTests: XCTestCase {
    func testLongChunkGetsTokenLimitAndShortOneDoesNot() async throws {
        let path = try RequiredFiles.clipVocabulary()
        var options = LanguageServer.Options()
        options.diagnosticsDelay = .milliseconds(10)
        options.tokenCounter = try ClipTokenizer(vocabularyPath: path)
        let client = TestClient(options: options)
        try await client.initialize()
        // 40 words of two tokens each ("cat," counts the comma): 80 tokens before BREAK, a few after.
        let long = Array(repeating: "cat,", count: 40).joined(separator: " ")
        client.openDocument("\(long) BREAK a short part", uri: "file:///t.sdprompt")
        let published = try await client.nextDiagnostics()
        let codes = published.diagnostics.map { $0.code }
        XCTAssertEqual(codes, ["token-limit"], "\(published.diagnostics)")
        XCTAssertEqual(published.diagnostics.first?.range.start, Position(line: 0, character: 0))
        XCTAssertTrue(published.diagnostics.first?.message.hasPrefix("80 CLIP tokens") ?? false)
        client.stop()
    }
}
