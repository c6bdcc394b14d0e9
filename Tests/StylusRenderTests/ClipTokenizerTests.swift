import StylusRender
import TestSupport
import XCTest

final class ClipTokenizerTests: XCTestCase {
    nonisolated(unsafe) static var shared: ClipTokenizer?

    func tokenizer() throws -> ClipTokenizer {
        if let t = Self.shared { return t }
        let t = try ClipTokenizer(vocabularyPath: try RequiredFiles.clipVocabulary())
        Self.shared = t
        return t
    }

    func testReferenceVectors() throws {
        let tok = try tokenizer()
        let vectors: [(String, [Int32])] = [
            ("a photograph of an astronaut riding a horse", [320, 8853, 539, 550, 18376, 6765, 320, 4558]),
            ("A lovely cat", [320, 2165, 2368]),
            ("masterpiece, best quality, 1girl", [12066, 267, 949, 3027, 267, 272, 1611]),
            ("It's 3D!", [585, 568, 274, 323, 256]),
        ]
        for (text, ids) in vectors { XCTAssertEqual(tok.encode(text), ids, text) }
        XCTAssertEqual(tok.vocabulary.count, ClipTokenizer.vocabularySize)
        XCTAssertEqual(tok.vocabulary[320], "a</w>")
        XCTAssertEqual(tok.vocabulary[49406], "<|startoftext|>")
    }

    func testFixturePromptsMatchHFTokenizer() throws {
        let tok = try tokenizer()
        for t in TinySD.reference.tokens {
            XCTAssertEqual([ClipTokenizer.bos] + tok.encode(t.text) + [ClipTokenizer.eos], t.ids, t.text)
        }
    }

    func testA1111Chunks() throws {
        let tok = try tokenizer()
        for (name, c) in TinySD.reference.chunks.sorted(by: { $0.key < $1.key }) {
            let fragments: [PromptFragment] = c.segments.map { seg in
                guard case let .text(text) = seg[0], case let .number(w) = seg[1] else { fatalError("bad fixture") }
                return text == "BREAK" && w == -1 ? .chunkBreak : .text(text, weight: w)
            }
            let result = tok.chunk(fragments)
            XCTAssertEqual(result.chunks.map(\.ids), c.ids, name)
            XCTAssertEqual(result.chunks.map(\.multipliers), c.multipliers, name)
            XCTAssertEqual(result.tokenCount, c.token_count, name)
            for chunk in result.chunks {
                XCTAssertEqual(chunk.ids.count, TokenChunk.length)
                XCTAssertEqual(chunk.multipliers.count, TokenChunk.length)
            }
        }
    }

    func testCommaBacktrackMovesTheTailToTheNextChunk() throws {
        let tok = try tokenizer()
        // 70 single-token words, a comma, then 10 more: the chunk fills 4 tokens after the comma,
        // so the 4 words after it move to chunk two.
        let text = Array(repeating: "cat", count: 70).joined(separator: " ") + ", " +
            Array(repeating: "dog", count: 10).joined(separator: " ")
        let r = tok.chunk([.text(text, weight: 1)])
        XCTAssertEqual(r.chunks.count, 2)
        XCTAssertEqual(r.chunks[0].ids[71], tok.commaId)
        XCTAssertEqual(r.chunks[0].ids[72], ClipTokenizer.eos)
        XCTAssertEqual(Array(r.chunks[1].ids[1...10]), Array(repeating: tok.encode("dog")[0], count: 10))
        XCTAssertEqual(r.tokenCount, 75 + 10)
        let noBacktrack = tok.chunk([.text(text, weight: 1)], commaBacktrack: 0)
        XCTAssertEqual(noBacktrack.chunks[0].ids[75], tok.encode("dog")[0])
    }

    func testOddInputNeverCrashes() throws {
        let tok = try tokenizer()
        for text in ["", "   ", "\u{0}\u{1}", "<|endoftext|>", "'", "''s", String(repeating: "🙂", count: 50),
                     "\u{301}\u{301}", "a\u{200B}b", String(repeating: "x", count: 5000)] {
            let ids = tok.encode(text)
            XCTAssertTrue(ids.allSatisfy { $0 >= 0 && $0 < Int32(ClipTokenizer.vocabularySize) }, text)
        }
        XCTAssertEqual(tok.encode("<|endoftext|>"), [ClipTokenizer.eos])
    }

    func testBadVocabularyFilesGiveClearErrors() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("stylus-render-\(UUID())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let missing = dir.appendingPathComponent("missing.txt.gz").path
        XCTAssertThrowsError(try ClipTokenizer(vocabularyPath: missing)) { e in
            XCTAssertTrue("\(e)".contains(missing), "\(e)")
        }
        XCTAssertThrowsError(try ClipTokenizer(mergesText: "#version: 0.2\ni n\nt h")) { e in
            XCTAssertTrue("\(e)".contains("only 2 merges"), "\(e)")
        }
        XCTAssertThrowsError(try ClipTokenizer(mergesText: "#version: 0.2\nnot-a-pair\n")) { e in
            XCTAssertTrue("\(e)".contains("line 2"), "\(e)")
        }
    }
}
