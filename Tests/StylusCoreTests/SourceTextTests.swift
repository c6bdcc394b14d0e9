import StylusCore
import XCTest

final class SourceTextTests: XCTestCase {
    func testASCIIPositions() {
        let s = SourceText("ab\ncd")
        XCTAssertEqual(s.lineCount, 2)
        XCTAssertEqual(s.position(ofUTF8: 0), Position(line: 0, character: 0))
        XCTAssertEqual(s.position(ofUTF8: 2), Position(line: 0, character: 2))
        XCTAssertEqual(s.position(ofUTF8: 3), Position(line: 1, character: 0))
        XCTAssertEqual(s.position(ofUTF8: 5), Position(line: 1, character: 2))
    }

    /// The LSP spec example: in `a𐐀b`, `b` is at UTF-16 offset 3 (𐐀 is a surrogate pair, 4 UTF-8 bytes).
    func testAstralCharactersCountTwoUTF16Units() {
        let s = SourceText("a𐐀b\n🐱x")
        XCTAssertEqual(s.position(ofUTF8: 5), Position(line: 0, character: 3))
        XCTAssertEqual(s.utf8Offset(of: Position(line: 0, character: 3)), 5)
        // 🐱 then x: x at UTF-16 column 2, UTF-8 offset 7 + 4.
        XCTAssertEqual(s.position(ofUTF8: 11), Position(line: 1, character: 2))
        XCTAssertEqual(s.utf8Offset(of: Position(line: 1, character: 2)), 11)
    }

    func testColumnInsideSurrogatePairRoundsDown() {
        let s = SourceText("a🐱b")
        XCTAssertEqual(s.utf8Offset(of: Position(line: 0, character: 2)), 1)
        XCTAssertEqual(s.utf8Offset(of: Position(line: 0, character: 3)), 5)
        // An offset inside a UTF-8 sequence maps to the character's start.
        XCTAssertEqual(s.position(ofUTF8: 3), Position(line: 0, character: 1))
    }

    func testCRLFAndLoneCR() {
        let s = SourceText("ab\r\ncd\ref\n")
        XCTAssertEqual(s.lineStarts, [0, 4, 7, 10])
        XCTAssertEqual(s.position(ofUTF8: 4), Position(line: 1, character: 0))
        XCTAssertEqual(s.position(ofUTF8: 8), Position(line: 2, character: 1))
        XCTAssertEqual(s.lineContentEnd(0), 2)
        XCTAssertEqual(s.lineContentEnd(1), 6)
        // A column past the end clamps to the content end, before \r\n.
        XCTAssertEqual(s.utf8Offset(of: Position(line: 0, character: 99)), 2)
    }

    func testClampingPastTheEnd() {
        let s = SourceText("abc")
        XCTAssertEqual(s.utf8Offset(of: Position(line: 7, character: 0)), 3)
        XCTAssertEqual(s.utf8Offset(of: Position(line: -1, character: 0)), 0)
        XCTAssertEqual(s.position(ofUTF8: 99), Position(line: 0, character: 3))
    }

    /// Checkpointed conversion agrees with a direct count on a long mixed line.
    func testLongLineConversionMatchesDirectCount() {
        var text = ""
        for i in 0..<3000 { text += i % 7 == 0 ? "🐱é" : "ab " }
        let s = SourceText(text)
        var utf16 = 0
        var offset = 0
        for scalar in text.unicodeScalars {
            XCTAssertEqual(s.utf16Offset(ofUTF8: offset), utf16)
            utf16 += scalar.utf16.count
            offset += scalar.utf8.count
        }
        XCTAssertEqual(s.utf16Offset(ofUTF8: offset), text.utf16.count)
    }

    func testRoundTripOnEveryCharacterBoundary() {
        let text = "x 🐱\r\n(é:1.2)\n\n[日本語|b]\r"
        let s = SourceText(text)
        var offset = 0
        for scalar in text.unicodeScalars {
            let p = s.position(ofUTF8: offset)
            if scalar != "\n" || offset == 0 || s.bytes[offset - 1] != 0x0D {
                XCTAssertEqual(s.utf8Offset(of: p), offset, "at \(offset)")
            }
            offset += scalar.utf8.count
        }
    }
}
