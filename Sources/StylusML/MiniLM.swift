// The all-MiniLM-L6-v2 sentence encoder (sentence-transformers): a 6-layer BERT (384-d, 12 heads,
// 1536-d feed-forward, erf GELU, post-layer-norm), mean pooling over the tokens, L2 normalisation.
//
// Batches are packed rather than padded: the tokens of all texts are stacked into one matrix for the
// dense layers, and attention runs per text over exactly its own tokens. This is what a padding mask
// computes, without spending work on padding.

import StylusCore

/// Why the encoder could not be loaded. The retriever falls back to BM25 on any of these.
public enum MiniLMError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A model file is missing.
    case missingFile(path: String)
    /// `model.safetensors` is unreadable or corrupt.
    case corruptWeights(SafetensorsError)
    /// A tensor is missing or has the wrong shape for all-MiniLM-L6-v2.
    case unexpectedTensor(path: String, name: String, problem: String)
    /// `vocab.txt` is unreadable or not a BERT vocabulary.
    case badVocabulary(TokenizerError)

    public var description: String {
        let hint = "; reinstall the model with scripts/setup"
        switch self {
        case let .missingFile(path):
            return "\(path): model file not found; run scripts/setup to install all-MiniLM-L6-v2"
        case let .corruptWeights(error):
            return "\(error)" + hint
        case let .unexpectedTensor(path, name, problem):
            return "\(path): tensor \"\(name)\" \(problem); this is not all-MiniLM-L6-v2" + hint
        case let .badVocabulary(error):
            return "\(error)" + hint
        }
    }
}

/// all-MiniLM-L6-v2 in Swift: text → 384-d L2-normalised embedding, matching sentence-transformers.
///
/// Immutable after loading; `embed` can be called from several threads.
public final class MiniLMEncoder: Sendable {
    public static let modelID = "sentence-transformers/all-MiniLM-L6-v2"
    public static let dimension = 384
    static let heads = 12
    static let headSize = 32
    static let layerCount = 6
    static let intermediateSize = 1536
    static let epsilon: Float = 1e-12

    public let tokenizer: WordPieceTokenizer

    private let wordEmbeddings: WordEmbeddingTable  // [vocab, 384]
    private let positionEmbeddings: Tensor  // [512, 384]
    private let tokenTypeEmbedding: Tensor  // [384], type 0
    private let embeddingNorm: (gamma: Tensor, beta: Tensor)
    private let layers: [Layer]

    private struct Layer: Sendable {
        let qkv: PackedLinear          // query, key and value stacked: [1152, 384]
        let attentionOutput: PackedLinear
        let attentionNorm: (gamma: Tensor, beta: Tensor)
        let intermediate: PackedLinear
        let output: PackedLinear
        let outputNorm: (gamma: Tensor, beta: Tensor)
    }

    /// Loads `model.safetensors` and `vocab.txt` from `directory`.
    public init(directory: String) throws(MiniLMError) {
        let modelPath = directory + "/model.safetensors"
        let vocabPath = directory + "/vocab.txt"
        for path in [modelPath, vocabPath] where access(path, F_OK) != 0 {
            throw .missingFile(path: path)
        }
        do throws(TokenizerError) {
            tokenizer = try WordPieceTokenizer(vocabularyFile: vocabPath, maxLength: 256)
        } catch {
            throw .badVocabulary(error)
        }
        let file: SafetensorsFile
        do throws(SafetensorsError) { file = try SafetensorsFile(path: modelPath) } catch { throw .corruptWeights(error) }

        // Some exports prefix every name with "bert.".
        let prefix = file.header["bert.embeddings.word_embeddings.weight"] != nil ? "bert." : ""
        func tensor(_ name: String, _ shape: [Int]) throws(MiniLMError) -> Tensor {
            let full = prefix + name
            guard let info = file.header[full] else {
                throw .unexpectedTensor(path: modelPath, name: full, problem: "is missing")
            }
            guard info.shape == shape else {
                throw .unexpectedTensor(path: modelPath, name: full, problem: "has shape \(info.shape), expected \(shape)")
            }
            do throws(SafetensorsError) {
                defer { file.release(full) }  // copied: the mapping's pages are not needed again
                return try Tensor(file, full)
            } catch { throw .corruptWeights(error) }
        }
        // A linear layer packed straight from the mapped file (no fp32 copy stays resident), the
        // weights of `names` stacked in order (query, key and value for the attention projection),
        // their biases concatenated. The fp32 layer for long inputs is read again from the file
        // only if one comes (batch embedding of a catalog).
        func packed(_ names: [String], out: Int, in inputs: Int) throws(MiniLMError) -> PackedLinear {
            var parts: [UnsafeBufferPointer<Float>] = []
            var converted: [UnsafeMutableBufferPointer<Float>] = []  // weights not stored as aligned fp32
            defer { converted.forEach { $0.deallocate() } }
            var bias: [Float] = []
            var weightNames: [String] = []
            for name in names {
                bias += try tensor(name + ".bias", [out]).data
                let full = prefix + name + ".weight"
                guard let info = file.header[full] else { throw .unexpectedTensor(path: modelPath, name: full, problem: "is missing") }
                guard info.shape == [out, inputs] else {
                    throw .unexpectedTensor(path: modelPath, name: full, problem: "has shape \(info.shape), expected \([out, inputs])")
                }
                do throws(SafetensorsError) {
                    let raw = try file.rawBytes(full)
                    if info.dtype == .f32, let base = raw.baseAddress, Int(bitPattern: base) % MemoryLayout<Float>.alignment == 0 {
                        parts.append(UnsafeBufferPointer(start: base.assumingMemoryBound(to: Float.self), count: out * inputs))
                    } else {
                        let values = try file.floats(full)
                        let copy = UnsafeMutableBufferPointer<Float>.allocate(capacity: values.count)
                        _ = copy.initialize(from: values)
                        converted.append(copy)
                        parts.append(UnsafeBufferPointer(copy))
                    }
                } catch { throw .corruptWeights(error) }
                weightNames.append(full)
            }
            let stacked = Tensor(shape: [bias.count], data: bias), fullNames = weightNames
            let layer = PackedLinear(parts: parts, n: out * names.count, k: inputs, bias: stacked) { [file] in
                // Names, shapes and dtypes were checked above and the mapping does not change: this read cannot fail.
                let weights = fullNames.flatMap { (try? file.floats($0)) ?? [Float](repeating: 0, count: out * inputs) }
                fullNames.forEach(file.release)
                return Linear(weight: Tensor(shape: [out * fullNames.count, inputs], data: weights), bias: stacked)
            }
            weightNames.forEach(file.release)  // packed: the file's pages are not needed now
            return layer
        }
        func norm(_ name: String) throws(MiniLMError) -> (gamma: Tensor, beta: Tensor) {
            (try tensor(name + ".weight", [Self.dimension]), try tensor(name + ".bias", [Self.dimension]))
        }

        let d = Self.dimension
        guard let vocabInfo = file.header[prefix + "embeddings.word_embeddings.weight"] else {
            throw .unexpectedTensor(path: modelPath, name: prefix + "embeddings.word_embeddings.weight", problem: "is missing")
        }
        let vocabSize = vocabInfo.shape.first ?? 0
        guard vocabSize == tokenizer.vocabulary.count else {
            throw .unexpectedTensor(path: modelPath, name: vocabInfo.name,
                                    problem: "has \(vocabSize) rows but vocab.txt has \(tokenizer.vocabulary.count) tokens")
        }
        guard vocabInfo.shape == [vocabSize, d] else {
            throw .unexpectedTensor(path: modelPath, name: vocabInfo.name, problem: "has shape \(vocabInfo.shape), expected \([vocabSize, d])")
        }
        do throws(SafetensorsError) {
            wordEmbeddings = try WordEmbeddingTable(file, prefix + "embeddings.word_embeddings.weight", rows: vocabSize, dimension: d)
        } catch { throw .corruptWeights(error) }
        positionEmbeddings = try tensor("embeddings.position_embeddings.weight", [512, d])
        tokenTypeEmbedding = Tensor(shape: [d], data: try tensor("embeddings.token_type_embeddings.weight", [2, d]).row(0))
        embeddingNorm = try norm("embeddings.LayerNorm")

        var layers: [Layer] = []
        for n in 0..<Self.layerCount {
            let p = "encoder.layer.\(n)."
            let attention = ["query", "key", "value"].map { p + "attention.self." + $0 }
            layers.append(Layer(
                qkv: try packed(attention, out: d, in: d),
                attentionOutput: try packed([p + "attention.output.dense"], out: d, in: d),
                attentionNorm: try norm(p + "attention.output.LayerNorm"),
                intermediate: try packed([p + "intermediate.dense"], out: Self.intermediateSize, in: d),
                output: try packed([p + "output.dense"], out: d, in: Self.intermediateSize),
                outputNorm: try norm(p + "output.LayerNorm")))
        }
        self.layers = layers
    }

    /// Loads the model from the data directory (`<data>/models/all-MiniLM-L6-v2`).
    public convenience init(paths: DataPaths) throws(MiniLMError) {
        try self.init(directory: paths.miniLMDirectory)
    }

    /// The embedding of one text (384 floats, unit length).
    public func embed(_ text: String) -> [Float] {
        embed(tokenIDs: [tokenizer.encode(text)])[0]
    }

    /// Embeddings of many texts, `batchSize` texts per forward pass, in input order.
    public func embed(_ texts: [String], batchSize: Int = 32) -> [[Float]] {
        let ids = texts.map(tokenizer.encode)
        var result: [[Float]] = []
        result.reserveCapacity(texts.count)
        var start = 0
        while start < ids.count {
            let end = min(start + max(1, batchSize), ids.count)
            result += embed(tokenIDs: Array(ids[start..<end]))
            start = end
        }
        return result
    }

    /// Embeddings of already tokenised texts (each starting with [CLS] and ending with [SEP]),
    /// encoded together in one pass. Ids outside the vocabulary count as [UNK]; sequences are cut
    /// to 512 tokens (the model's position limit).
    public func embed(tokenIDs batch: [[Int32]]) -> [[Float]] {
        let d = Self.dimension
        let sequences = batch.map { Array($0.prefix(positionEmbeddings.rows)) }
        let lengths = sequences.map(\.count)
        let total = lengths.reduce(0, +)
        guard total > 0 else { return batch.map { _ in [Float](repeating: 0, count: d) } }
        var offsets: [Int] = []
        var running = 0
        for length in lengths { offsets.append(running); running += length }

        // One buffer for the hidden states, the residual/context, Q·K·V and the feed-forward's
        // intermediate, each starting on a cache line (all four widths are multiples of 16 floats):
        // the kernels' 32-byte loads then never straddle two lines (3% of a long first pass).
        let (hiddenCount, qkvCount, interCount) = (total * d, total * 3 * d, total * Self.intermediateSize)
        var arena = [Float](repeating: 0, count: 2 * hiddenCount + qkvCount + interCount + 16)
        let longest = lengths.max() ?? 0

        return arena.withUnsafeMutableBufferPointer { arenaBuffer in
            let start = arenaBuffer.baseAddress!
            let aligned = start + ((64 - Int(bitPattern: start) % 64) % 64) / MemoryLayout<Float>.stride
            let x = aligned, y = aligned + hiddenCount
            let qkv = y + hiddenCount, inter = qkv + qkvCount

            // Embeddings: word + position + token type 0, then layer norm.
            wordEmbeddings.withUnsafeBufferPointer { words in
            positionEmbeddings.withUnsafeBufferPointer { positions in
            tokenTypeEmbedding.withUnsafeBufferPointer { type in
                let vocab = words.count / d
                for (s, sequence) in sequences.enumerated() {
                    for (position, id) in sequence.enumerated() {
                        let row = x + (offsets[s] + position) * d
                        let token = Int(id) >= 0 && Int(id) < vocab ? Int(id) : Int(tokenizer.unknownID)
                        row.update(from: words.baseAddress! + token * d, count: d)
                        Kernels.add(positions.baseAddress! + position * d, into: row, count: d)
                        Kernels.add(type.baseAddress!, into: row, count: d)
                    }
                }
            }
            }
            }
            Self.normalize(x, rows: total, embeddingNorm)

            // (text, head) attention tasks, longest texts first (cost grows with length², and the
            // threads take tasks as they finish); run in parallel when there is enough work to share.
            let tasks = lengths.indices.filter { lengths[$0] > 0 }.sorted { lengths[$0] > lengths[$1] }
                .flatMap { s in (0..<Self.heads).map { (s, $0) } }
            let attentionWork = lengths.reduce(0) { $0 + $1 * $1 } * Self.heads * Self.headSize
            let tasksPerPart = attentionWork >= Self.parallelAttentionWork ? 1 : tasks.count
            let scale = 1 / Float(Self.headSize).squareRoot()

            for layer in layers {
                // Self-attention per text and head, reading Q, K and V in place from the stacked
                // projection; the context goes to the (now free) residual buffer y, head h in columns h·32.
                layer.qkv.apply(x, rows: total, into: qkv)
                let (pq, py) = (UncheckedSendable(qkv), UncheckedSendable(y))
                Kernels.parallelFor(tasks.count, minimumChunk: tasksPerPart, uneven: true) { range in
                    var scratch = [Float](repeating: 0, count: longest * longest)
                    scratch.withUnsafeMutableBufferPointer { buffer in
                        let scores = buffer.baseAddress!
                        for (s, h) in tasks[range] {
                            let length = lengths[s]
                            let q = pq.value + offsets[s] * 3 * d + h * Self.headSize, k = q + d, v = q + 2 * d
                            if length <= Self.shortAttentionLength {
                                Kernels.attentionShort(q: q, k: k, v: v, ld: 3 * d, keys: length, width: Self.headSize, scale: scale,
                                                       scores: scores, out: py.value + offsets[s] * d + h * Self.headSize, ldo: d)
                                continue
                            }
                            Kernels.gemm(m: length, n: length, k: Self.headSize, a: q, lda: 3 * d, b: k, ldb: 3 * d,
                                         transposeB: true, c: scores, ldc: length, alpha: scale, parallel: false)
                            Kernels.softmax(scores, rows: length, columns: length)
                            Kernels.gemm(m: length, n: Self.headSize, k: length, a: scores, lda: length, b: v, ldb: 3 * d,
                                         c: py.value + offsets[s] * d + h * Self.headSize, ldc: d, parallel: false)
                        }
                    }
                }
                // Output projection added onto the residual x, then layer norm; result in x.
                layer.attentionOutput.apply(y, rows: total, into: x, accumulate: true)
                Self.normalize(x, rows: total, layer.attentionNorm)
                // Feed-forward: GELU(x·W1ᵀ + b1)·W2ᵀ + b2 added onto x, then layer norm.
                layer.intermediate.apply(x, rows: total, into: inter)
                let pi = UncheckedSendable(inter)
                Kernels.parallelFor(total, minimumChunk: Self.rowsPerPart) { rows in
                    Kernels.gelu(pi.value + rows.lowerBound * Self.intermediateSize, count: rows.count * Self.intermediateSize)
                }
                layer.output.apply(inter, rows: total, into: x, accumulate: true)
                Self.normalize(x, rows: total, layer.outputNorm)
            }

            // Mean pooling over each text's tokens, then L2 normalisation.
            return (0..<sequences.count).map { s -> [Float] in
                var pooled = [Float](repeating: 0, count: d)
                let length = lengths[s]
                guard length > 0 else { return pooled }
                pooled.withUnsafeMutableBufferPointer { p in
                    for t in 0..<length { Kernels.add(x + (offsets[s] + t) * d, into: p.baseAddress!, count: d) }
                    let norm = Kernels.dot(p.baseAddress!, p.baseAddress!, count: d).squareRoot()
                    // sentence-transformers divides by max(norm, 1e-12); the mean's 1/length cancels out.
                    Kernels.scale(p.baseAddress!, count: d, by: 1 / max(norm, 1e-12))
                }
                return pooled
            }
        }
    }

    /// Texts up to this many tokens take the direct attention kernel (no sgemm call per text and
    /// head: for the few-token topics of a prompt those calls cost more than their products).
    static let shortAttentionLength = 64
    /// Attention is split over threads from this much work (Σ length² · width): a prompt's dozen
    /// topics is about twice that, and run serially it left the other core idle ~0.1 ms per layer.
    static let parallelAttentionWork = 1 << 16
    /// GELU and layer norm rows per thread, at least.
    static let rowsPerPart = 8

    /// Layer norm of `rows` hidden states, split over threads for large batches.
    private static func normalize(_ x: UnsafeMutablePointer<Float>, rows: Int, _ norm: (gamma: Tensor, beta: Tensor)) {
        norm.gamma.withUnsafeBufferPointer { g in
            norm.beta.withUnsafeBufferPointer { b in
                let (px, pg, pb) = (UncheckedSendable(x), UncheckedSendable(g.baseAddress!), UncheckedSendable(b.baseAddress!))
                Kernels.parallelFor(rows, minimumChunk: rowsPerPart) { range in
                    Kernels.layerNorm(px.value + range.lowerBound * dimension, rows: range.count, columns: dimension,
                                      gamma: pg.value, beta: pb.value, epsilon: epsilon)
                }
            }
        }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The word-embedding matrix [vocab, 384], read in place from the mapped model file when it is
/// 4-byte-aligned little-endian f32 (an embedding touches the pages of its few tokens instead of
/// every process copying 47 MB at start), else converted once into memory.
struct WordEmbeddingTable: @unchecked Sendable {  // immutable; `file` keeps the mapping alive
    let file: SafetensorsFile
    let mapped: UnsafeBufferPointer<Float>?
    let copy: [Float]

    init(_ file: SafetensorsFile, _ name: String, rows: Int, dimension: Int) throws(SafetensorsError) {
        let info = try file.info(name)
        guard info.shape == [rows, dimension] else {
            throw SafetensorsError(.invalidEntry(tensor: name, problem: "has shape \(info.shape), expected \([rows, dimension])"), path: file.path)
        }
        self.file = file
        let raw = try file.rawBytes(name)
        if info.dtype == .f32, let base = raw.baseAddress, Int(bitPattern: base) % MemoryLayout<Float>.alignment == 0 {
            mapped = UnsafeBufferPointer(start: base.assumingMemoryBound(to: Float.self), count: rows * dimension)
            copy = []
        } else {
            mapped = nil
            copy = try file.floats(name)
            file.release(name)
        }
    }

    func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        if let mapped { return try body(mapped) }
        return try copy.withUnsafeBufferPointer(body)
    }
}
