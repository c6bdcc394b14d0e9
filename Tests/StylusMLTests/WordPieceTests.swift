import Foundation
import StylusCore
import StylusML
import XCTest
import TestSupport

final class WordPieceTests: XCTestCase {
    let tiny = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "un", "##aff", "##able", "play", "##ing", "!", "cafe", "a", "##b", "日", ",", "$"]

    func testGreedyLongestMatchWithContinuations() throws {
        let tokenizer = try WordPieceTokenizer(vocabulary: tiny)
        XCTAssertEqual(tokenizer.wordPieces("unaffable playing!"), ["un", "##aff", "##able", "play", "##ing", "!"])
        XCTAssertEqual(tokenizer.encode("unaffable"), [2, 4, 5, 6, 3])
        // A word with an unmatched part becomes one [UNK].
        XCTAssertEqual(tokenizer.wordPieces("unx play"), ["[UNK]", "play"])
        XCTAssertEqual(tokenizer.encode(""), [2, 3])
    }

    func testCleaningLowercasingAccentsCJKAndPunctuation() throws {
        let tokenizer = try WordPieceTokenizer(vocabulary: tiny)
        XCTAssertEqual(tokenizer.wordPieces("  CAFÉ\t\u{0}Café\u{200B}\n"), ["cafe", "cafe"])
        XCTAssertEqual(tokenizer.wordPieces("a日a"), ["a", "日", "a"])
        XCTAssertEqual(tokenizer.wordPieces("$a,ab"), ["$", "a", ",", "a", "##b"])
        XCTAssertEqual(tokenizer.wordPieces(String(repeating: "a", count: 101)), ["[UNK]"])
        XCTAssertEqual(tokenizer.wordPieces("a" + String(repeating: "b", count: 99)).count, 100)
    }

    /// Long tokens make more trie edges than the table was sized for (it grows), and a repeated
    /// token keeps its last id, as Hugging Face's loader does.
    func testLongTokensGrowTheTrieAndRepeatsKeepTheLastID() throws {
        let long = (0..<6).map { i in String(repeating: "xyz", count: 12) + "\(i)" }
        let vocabulary = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "a", "##b"] + long + ["a"]
        let tokenizer = try WordPieceTokenizer(vocabulary: vocabulary)
        for (i, token) in long.enumerated() {
            XCTAssertEqual(tokenizer.encode(token), [2, Int32(6 + i), 3], token)
        }
        XCTAssertEqual(tokenizer.encode("ab"), [2, Int32(vocabulary.count - 1), 5, 3])
        XCTAssertEqual(tokenizer.encode(String(repeating: "xyz", count: 12)), [2, 1, 3])  // a prefix only: [UNK]
    }

    func testTruncatesToMaxLengthIncludingSpecialTokens() throws {
        let tokenizer = try WordPieceTokenizer(vocabulary: tiny, maxLength: 5)
        XCTAssertEqual(tokenizer.encode("a a a a a a"), [2, 11, 11, 11, 3])
    }

    func testRejectsVocabularyWithoutSpecialTokensAndMissingFiles() {
        XCTAssertThrowsError(try WordPieceTokenizer(vocabulary: ["a", "b"])) { error in
            XCTAssertTrue("\(error)".contains("[UNK]"))
        }
        XCTAssertThrowsError(try WordPieceTokenizer(vocabularyFile: "/nonexistent/vocab.txt")) { error in
            XCTAssertTrue("\(error)".contains("/nonexistent/vocab.txt"))
        }
    }

    /// Ids produced by the Hugging Face tokenizer of all-MiniLM-L6-v2 (transformers 5, `tokenizers`).
    func testRealVocabularyMatchesHuggingFaceExamples() throws {
        let directory = try RequiredFiles.miniLMDirectory()
        let tokenizer = try WordPieceTokenizer(vocabularyFile: directory + "/vocab.txt")
        let cases: [(String, [Int32])] = [
            ("ΟΔΟΣ Σ", [101, 1169, 29722, 29730, 29733, 1173, 102]),
            ("İstanbul", [101, 9960, 102]),
            ("🥲 🫠 😀 a\u{200B}b", [101, 100, 100, 100, 11113, 102]),
            ("한국어 텍스트", [101, 1469, 30006, 30021, 29991, 30014, 30020, 29999, 30008, 1467, 30009, 30020, 29997, 30017, 30003, 30017, 102]),
            ("naïve café Ångström", [101, 15743, 7668, 17076, 15687, 102]),
            ("日本語のテキスト", [101, 1864, 1876, 1950, 1671, 30239, 30227, 30233, 30240, 102]),
            ("\u{0300}abc", [101, 5925, 102]),
            ("$5 <tag> a|b ^_^ `q`", [101, 1002, 1019, 1026, 6415, 1028, 1037, 1064, 1038, 1034, 1035, 1034, 1036, 1053, 1036, 102]),
            ("\u{E0001}x \u{E000}y", [101, 1060, 1061, 102]),
            ("\u{10FFFF}z", [101, 100, 102]),
        ]
        for (text, ids) in cases {
            XCTAssertEqual(tokenizer.encode(text), ids, text)
        }
        XCTAssertEqual(tokenizer.encode(Array(repeating: "word", count: 300).joined(separator: " ")).count, 256)
    }
}
