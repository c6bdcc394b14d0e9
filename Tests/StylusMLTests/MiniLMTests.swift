import Foundation
import StylusCore
import StylusML
import TestSupport
import XCTest

final class MiniLMTests: XCTestCase {
    struct Reference: Decodable {
        struct Case: Decodable {
            let text: String
            let ids: [Int32]
            let embedding: [Float]
        }
        let model: String
        let max_seq_length: Int
        let cases: [Case]
    }

    static func reference() throws -> Reference {
        let url = SafetensorsTests.fixtures.appendingPathComponent("MiniLM/reference.json")
        return try JSONDecoder().decode(Reference.self, from: Data(contentsOf: url))
    }

    func cosine(_ a: [Float], _ b: [Float]) -> Double {
        var dot = 0.0, na = 0.0, nb = 0.0
        for (x, y) in zip(a, b) { dot += Double(x) * Double(y); na += Double(x * x); nb += Double(y * y) }
        return dot / (na.squareRoot() * nb.squareRoot())
    }

    /// Token ids identical to sentence-transformers' for every reference text.
    func testTokenIDsMatchSentenceTransformers() throws {
        let directory = try RequiredFiles.miniLMDirectory()
        let reference = try Self.reference()
        XCTAssertGreaterThanOrEqual(reference.cases.count, 90)
        let tokenizer = try WordPieceTokenizer(vocabularyFile: directory + "/vocab.txt", maxLength: reference.max_seq_length)
        for item in reference.cases {
            XCTAssertEqual(tokenizer.encode(item.text), item.ids, "text: \(item.text.debugDescription)")
        }
    }

    /// Embeddings within cosine 0.9999 of sentence-transformers' for every text, batched and alone.
    func testEmbeddingsMatchSentenceTransformers() throws {
        let directory = try RequiredFiles.miniLMDirectory()
        let reference = try Self.reference()
        let encoder = try MiniLMEncoder(directory: directory)
        XCTAssertEqual(reference.model, MiniLMEncoder.modelID)

        let batched = encoder.embed(reference.cases.map(\.text), batchSize: 32)
        var worst = 1.0
        for (item, embedding) in zip(reference.cases, batched) {
            XCTAssertEqual(embedding.count, MiniLMEncoder.dimension)
            let c = cosine(embedding, item.embedding)
            worst = min(worst, c)
            XCTAssertGreaterThanOrEqual(c, 0.9999, "text: \(item.text.debugDescription)")
            let norm = embedding.reduce(0) { $0 + Double($1 * $1) }.squareRoot()
            XCTAssertEqual(norm, 1, accuracy: 1e-4)
        }
        // One text at a time (short texts take the half-precision packed layers) within the same bound.
        var worstAlone = 1.0
        for item in reference.cases {
            let c = cosine(encoder.embed(item.text), item.embedding)
            worstAlone = min(worstAlone, c)
            XCTAssertGreaterThanOrEqual(c, 0.9999, "text: \(item.text.debugDescription)")
        }
        print("MiniLM parity: worst cosine \(worst) batched, \(worstAlone) one text at a time, over \(reference.cases.count) texts")
    }

    func testBadInputsGiveEmbeddingsNotCrashes() throws {
        let encoder = try MiniLMEncoder(directory: try RequiredFiles.miniLMDirectory())
        let huge = String(repeating: "a very long prompt, ", count: 5000)  // 100 KB
        let binary = String(decoding: (0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 131) }, as: UTF8.self)
        for text in ["", huge, binary, "\u{0}\u{0}"] {
            let e = encoder.embed(text)
            XCTAssertEqual(e.count, 384)
            XCTAssertTrue(e.allSatisfy(\.isFinite))
        }
        XCTAssertEqual(encoder.embed([]), [])
        // Out-of-vocabulary ids are read as [UNK]; an empty id list gives a zero vector.
        let odd = encoder.embed(tokenIDs: [[101, 99999, -5, 102], []])
        XCTAssertEqual(odd[0], encoder.embed(tokenIDs: [[101, 100, 100, 102]])[0])
        XCTAssertEqual(odd[1], [Float](repeating: 0, count: 384))
    }

    func testMissingAndCorruptModelFilesGiveTypedErrors() throws {
        let directory = try RequiredFiles.miniLMDirectory()
        let temp = FileManager.default.temporaryDirectory.appendingPathComponent("stylus-minilm-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: temp, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: temp) }

        XCTAssertThrowsError(try MiniLMEncoder(directory: temp.path)) { error in
            guard case let .missingFile(path) = error as? MiniLMError else { return XCTFail("\(error)") }
            XCTAssertTrue(path.hasSuffix("model.safetensors"))
            XCTAssertTrue("\(error)".contains("scripts/setup"))
        }
        try FileManager.default.copyItem(atPath: directory + "/vocab.txt", toPath: temp.path + "/vocab.txt")

        // A truncated weights file.
        let model = try Data(contentsOf: URL(fileURLWithPath: directory + "/model.safetensors"))
        try model.prefix(100_000).write(to: temp.appendingPathComponent("model.safetensors"))
        XCTAssertThrowsError(try MiniLMEncoder(directory: temp.path)) { error in
            guard case .corruptWeights = error as? MiniLMError else { return XCTFail("\(error)") }
        }
        // A valid safetensors file that is not this model.
        try FileManager.default.removeItem(at: temp.appendingPathComponent("model.safetensors"))
        try FileManager.default.copyItem(at: SafetensorsTests.fixtures.appendingPathComponent("Safetensors/small.safetensors"),
                                         to: temp.appendingPathComponent("model.safetensors"))
        XCTAssertThrowsError(try MiniLMEncoder(directory: temp.path)) { error in
            guard case .unexpectedTensor = error as? MiniLMError else { return XCTFail("\(error)") }
        }
        // A vocabulary that is not BERT's.
        try "hello\nworld\n".write(to: temp.appendingPathComponent("vocab.txt"), atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try MiniLMEncoder(directory: temp.path)) { error in
            guard case .badVocabulary = error as? MiniLMError else { return XCTFail("\(error)") }
        }
    }

    func testLoadsFromDataPaths() throws {
        let directory = try RequiredFiles.miniLMDirectory()
        let modelsRoot = URL(fileURLWithPath: directory).deletingLastPathComponent().deletingLastPathComponent().path
        let encoder = try MiniLMEncoder(paths: DataPaths(environment: ["STYLUS_HOME": modelsRoot], homeDirectory: "/nonexistent"))
        XCTAssertEqual(encoder.embed("a cat").count, 384)
    }
}
