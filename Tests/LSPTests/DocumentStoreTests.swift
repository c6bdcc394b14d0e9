import LSP
import StylusCore
import XCTest

final class DocumentStoreTests: XCTestCase {
    private func pos(_ l: Int, _ c: Int) -> Position { Position(line: l, character: c) }

    private func edit(_ text: String, _ a: Position, _ b: Position, _ new: String) -> String {
        DocumentStore.apply(TextDocumentContentChangeEvent(range: LSPRange(start: a, end: b), text: new), to: SourceText(text)).text
    }

    func testUTF16ColumnsWithAstralCharacters() {
        // Spec example: in a𐐀b, b is at UTF-16 offset 3.
        XCTAssertEqual(edit("a𐐀b", pos(0, 3), pos(0, 4), "B"), "a𐐀B")
        XCTAssertEqual(edit("🐱 cat", pos(0, 2), pos(0, 3), "_"), "🐱_cat")
        // A ZWJ sequence is several scalars; columns still count UTF-16 units.
        XCTAssertEqual(edit("👩‍💻x", pos(0, 5), pos(0, 6), "y"), "👩‍💻y")
        // A column inside a surrogate pair rounds down to the character start.
        XCTAssertEqual(edit("a🐱b", pos(0, 2), pos(0, 2), "|"), "a|🐱b")
    }

    func testLineEndsAndClamping() {
        XCTAssertEqual(edit("ab\r\ncd", pos(1, 1), pos(1, 2), "X"), "ab\r\ncX")
        XCTAssertEqual(edit("ab\rcd", pos(1, 0), pos(1, 0), ">"), "ab\r>cd")
        XCTAssertEqual(edit("ab\ncd", pos(0, 99), pos(0, 99), "!"), "ab!\ncd")       // past line end → line end
        XCTAssertEqual(edit("ab\r\ncd", pos(0, 99), pos(0, 99), "!"), "ab!\r\ncd")   // not between \r and \n
        XCTAssertEqual(edit("ab\ncd", pos(9, 0), pos(9, 0), "!"), "ab\ncd!")         // past last line → end
        XCTAssertEqual(edit("ab\ncd", pos(0, 2), pos(1, 0), ""), "abcd")             // join lines
        XCTAssertEqual(edit("abc", pos(0, 2), pos(0, 1), ""), "ac")                 // reversed range
        XCTAssertEqual(edit("", pos(0, 0), pos(0, 0), "x"), "x")
    }

    func testChangesOfOneNotificationApplyInOrder() throws {
        var store = DocumentStore()
        store.open(TextDocumentItem(uri: "u", languageId: "sdprompt", version: 1, text: "cat, dog"))
        let s = try store.change("u", version: 2, changes: [
            TextDocumentContentChangeEvent(range: LSPRange(start: pos(0, 0), end: pos(0, 3)), text: "🐱"),  // "🐱, dog"
            TextDocumentContentChangeEvent(range: LSPRange(start: pos(0, 2), end: pos(0, 2)), text: "\n"),   // after the cat
            TextDocumentContentChangeEvent(range: LSPRange(start: pos(1, 0), end: pos(1, 1)), text: ""),     // drop ","
        ])
        XCTAssertEqual(s.text.text, "🐱\n dog")
        XCTAssertEqual(s.version, 2)
        let full = try store.change("u", version: 3, changes: [
            TextDocumentContentChangeEvent(text: "new"),
            TextDocumentContentChangeEvent(range: LSPRange(start: pos(0, 3), end: pos(0, 3)), text: "er"),
        ])
        XCTAssertEqual(full.text.text, "newer")
        XCTAssertGreaterThan(full.revision, s.revision)
    }

    func testUnopenedDocumentsAreRefusedAndSnapshotsAreImmutable() throws {
        var store = DocumentStore()
        XCTAssertThrowsError(try store.change("nope", version: 1, changes: [])) { error in
            XCTAssertEqual(error as? DocumentStore.Problem, .notOpen("nope"))
        }
        let first = store.open(TextDocumentItem(uri: "u", languageId: "sdprompt", version: 1, text: "a"))
        _ = try store.change("u", version: 2, changes: [TextDocumentContentChangeEvent(text: "b")])
        XCTAssertEqual(first.text.text, "a")
        XCTAssertEqual(store.snapshot("u")?.text.text, "b")
        XCTAssertTrue(store.close("u"))
        XCTAssertFalse(store.close("u"))
        XCTAssertNil(store.snapshot("u"))
    }

    // MARK: Fuzz against an independent UTF-16 model

    /// The same edit semantics written directly over UTF-16 code units: lines end at \n, \r\n
    /// or \r; columns clamp to the line's content; a column inside a surrogate pair rounds down.
    struct UTF16Model {
        var units: [UInt16]

        func offset(_ p: Position) -> Int {
            var lineStart = 0, line = 0, i = 0
            while line < p.line {
                guard i < units.count else { return units.count }
                if units[i] == 10 { line += 1; lineStart = i + 1 }
                else if units[i] == 13 {
                    if i + 1 < units.count, units[i + 1] == 10 { i += 1 }
                    line += 1; lineStart = i + 1
                }
                i += 1
            }
            var end = lineStart
            while end < units.count, units[end] != 10, units[end] != 13 { end += 1 }
            var o = lineStart + min(max(0, p.character), end - lineStart)
            if o > lineStart, o < units.count, UTF16.isTrailSurrogate(units[o]) { o -= 1 }
            return o
        }

        mutating func apply(_ a: Position, _ b: Position, _ text: String) {
            let x = offset(a), y = offset(b)
            units.replaceSubrange(min(x, y)..<max(x, y), with: Array(text.utf16))
        }

        var string: String { String(decoding: units, as: UTF16.self) }
    }

    func testFuzzRandomEditsMatchTheModel() throws {
        var rng = SeededGenerator(seed: 7)
        let pieces = ["a", "b", " ", ",", "(", ")", "é", "🐱", "𐐀", "\n", "\r\n", "\r", "<lora:x:0.5>", "👩‍💻"]
        func randomText(_ n: Int) -> String {
            (0..<n).map { _ in pieces[Int(rng.next() % UInt64(pieces.count))] }.joined()
        }
        for round in 0..<150 {
            var store = DocumentStore()
            let initial = randomText(Int(rng.next() % 20))
            store.open(TextDocumentItem(uri: "u", languageId: "sdprompt", version: 0, text: initial))
            var model = UTF16Model(units: Array(initial.utf16))
            for step in 1...40 {
                var changes: [TextDocumentContentChangeEvent] = []
                for _ in 0..<Int(1 + rng.next() % 3) {
                    let lines = 1 + model.string.filter { $0 == "\n" || $0 == "\r\n" || $0 == "\r" }.count
                    func randomPos() -> Position {
                        Position(line: Int(rng.next() % UInt64(lines + 1)), character: Int(rng.next() % 12))
                    }
                    let a = randomPos(), b = rng.next() % 3 == 0 ? a : randomPos()
                    let text = randomText(Int(rng.next() % 4))
                    if rng.next() % 25 == 0 {
                        changes.append(TextDocumentContentChangeEvent(text: text))
                        model = UTF16Model(units: Array(text.utf16))
                    } else {
                        changes.append(TextDocumentContentChangeEvent(range: LSPRange(start: a, end: b), text: text))
                        model.apply(a, b, text)
                    }
                }
                let s = try store.change("u", version: step, changes: changes)
                XCTAssertEqual(s.text.text, model.string, "round \(round) step \(step)")
                if s.text.text != model.string { return }
            }
        }
    }
}
