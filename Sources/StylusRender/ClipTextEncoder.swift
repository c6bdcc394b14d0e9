import Foundation
import StylusML

/// The CLIP ViT-L/14 text transformer of SD 1.x: token + position embeddings,
/// pre-LayerNorm blocks with causal self-attention and a quick-GELU MLP, final LayerNorm.
public struct ClipTextEncoder: Sendable {
    struct Layer: Sendable {
        let norm1: LayerNorm, norm2: LayerNorm
        let q: Dense, k: Dense, v: Dense, out: Dense
        let fc1: Dense, fc2: Dense
    }

    let tokenEmbedding: WeightBuffer  // [vocabulary, width]
    let positionEmbedding: WeightBuffer  // [positions, width]
    let positions: Int
    let layers: [Layer]
    let finalNorm: LayerNorm
    public let width: Int
    public let heads: Int
    static let epsilon: Float = 1e-5

    public init(_ ckpt: Checkpoint) throws {
        let c = ckpt.config, w = c.textWidth
        let p = KeyMapping.textPrefix + "text_model."
        func linear(_ name: String, _ out: Int, _ inp: Int) throws -> Dense {
            Dense(weight: try ckpt.weight(name + ".weight", shape: [out, inp]), bias: try ckpt.weight(name + ".bias", shape: [out]),
                  inputSize: inp, outputSize: out)
        }
        func norm(_ name: String) throws -> LayerNorm { try LayerNorm(ckpt, name, w, epsilon: Self.epsilon) }
        tokenEmbedding = try ckpt.weight(p + "embeddings.token_embedding.weight", shape: [ClipTokenizer.vocabularySize, w])
        positionEmbedding = try ckpt.weight(p + "embeddings.position_embedding.weight", shape: [c.textPositions, w])
        positions = c.textPositions
        var layers: [Layer] = []
        for i in 0..<c.textLayers {
            let l = p + "encoder.layers.\(i)."
            let hidden = try ckpt.shape(l + "mlp.fc1.weight").map { $0[0] } ?? { throw RenderError.missingWeight(path: ckpt.path, name: l + "mlp.fc1.weight") }()
            layers.append(Layer(
                norm1: try norm(l + "layer_norm1"), norm2: try norm(l + "layer_norm2"),
                q: try linear(l + "self_attn.q_proj", w, w), k: try linear(l + "self_attn.k_proj", w, w),
                v: try linear(l + "self_attn.v_proj", w, w), out: try linear(l + "self_attn.out_proj", w, w),
                fc1: try linear(l + "mlp.fc1", hidden, w), fc2: try linear(l + "mlp.fc2", w, hidden)))
        }
        self.layers = layers
        finalNorm = try norm(p + "final_layer_norm")
        width = w
        heads = c.textHeads
    }

    /// Hidden states [ids.count, width] after the final LayerNorm. `clipSkip` 2 takes the
    /// penultimate layer's output (A1111 numbering: 1 = last layer).
    public func encode(_ ids: [Int32], clipSkip: Int = 1) throws -> Tensor {
        let n = ids.count, w = width
        guard n > 0, n <= positions else {
            throw RenderError.invalidArgument("the text encoder takes 1...\(positions) tokens, got \(n)")
        }
        guard clipSkip >= 1, clipSkip <= layers.count else {
            throw RenderError.invalidArgument("clip skip must be between 1 and \(layers.count), got \(clipSkip)")
        }
        if let bad = ids.first(where: { $0 < 0 || Int($0) >= ClipTokenizer.vocabularySize }) {
            throw RenderError.invalidArgument("token id \(bad) outside the vocabulary")
        }
        // Element writes go through buffer pointers: Tensor.data has an observer, and writing
        // `x.data[i] = …` in a loop would copy the array on every write.
        var x = Tensor(zeros: [n, w])
        x.withUnsafeMutableBufferPointer { xp in
            for (i, id) in ids.enumerated() {
                for j in 0..<w { xp[i * w + j] = tokenEmbedding[Int(id) * w + j] + positionEmbedding[i * w + j] }
            }
        }
        for layer in layers.prefix(layers.count - (clipSkip - 1)) {
            let h = layer.norm1(x)
            x.add(layer.out(causalAttention(q: layer.q(h), k: layer.k(h), v: layer.v(h))))
            var m = layer.fc1(layer.norm2(x))
            m.withUnsafeMutableBufferPointer { buf in
                for i in buf.indices { buf[i] = buf[i] / (1 + Foundation.exp(-1.702 * buf[i])) }  // quick GELU
            }
            x.add(layer.fc2(m))
        }
        return finalNorm(x)
    }

    /// Multi-head attention where token i sees tokens 0...i.
    private func causalAttention(q: Tensor, k: Tensor, v: Tensor) -> Tensor {
        let n = q.rows, w = width, d = w / heads
        var out = Tensor(zeros: [n, w])
        var scores = [Float](repeating: 0, count: n * n)
        let scale = 1 / Float(d).squareRoot()
        q.withUnsafeBufferPointer { qp in k.withUnsafeBufferPointer { kp in v.withUnsafeBufferPointer { vp in
            out.withUnsafeMutableBufferPointer { op in scores.withUnsafeMutableBufferPointer { sp in
                for h in 0..<heads {
                    Kernels.gemm(m: n, n: n, k: d, a: qp.baseAddress! + h * d, lda: w, b: kp.baseAddress! + h * d, ldb: w,
                                 transposeB: true, c: sp.baseAddress!, ldc: n, alpha: scale)
                    for i in 0..<n { for j in (i + 1)..<max(i + 1, n) { sp[i * n + j] = -.infinity } }
                    Kernels.softmax(sp.baseAddress!, rows: n, columns: n)
                    Kernels.gemm(m: n, n: d, k: n, a: sp.baseAddress!, lda: n, b: vp.baseAddress! + h * d, ldb: w,
                                 c: op.baseAddress! + h * d, ldc: w)
                }
            } }
        } } }
        return out
    }

    /// A1111 conditioning: each 77-token chunk encoded, token weights applied to the hidden states
    /// and the chunk's mean restored, chunks concatenated along the token axis → [77·chunks, width].
    public func encode(_ chunking: TokenChunking, clipSkip: Int = 1) throws -> Tensor {
        var rows: [Float] = []
        for chunk in chunking.chunks {
            var z = try encode(chunk.ids, clipSkip: clipSkip)
            let count = Double(z.count)
            let before = z.data.reduce(0.0) { $0 + Double($1) } / count
            z.withUnsafeMutableBufferPointer { zp in
                for i in 0..<chunk.multipliers.count {
                    for j in 0..<width { zp[i * width + j] *= chunk.multipliers[i] }
                }
            }
            let after = z.data.reduce(0.0) { $0 + Double($1) } / count
            if after != 0 { z = z * Float(before / after) }
            rows += z.data
        }
        return Tensor(shape: [chunking.chunks.count * TokenChunk.length, width], data: rows)
    }
}
