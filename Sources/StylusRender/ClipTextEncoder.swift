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
    /// SDXL's OpenCLIP ViT-bigG: [projection, width], applied to the pooled (end-token) state.
    let textProjection: Dense?
    /// erf GELU (OpenCLIP) instead of CLIP's quick GELU.
    let erfGELU: Bool
    public let width: Int
    public let heads: Int
    static let epsilon: Float = 1e-5

    /// The checkpoint's text encoder: `encoder` 1 is CLIP ViT-L (SD 1.x's only one), 2 is SDXL's
    /// OpenCLIP ViT-bigG (erf GELU, `text_projection` for the pooled output).
    public init(_ ckpt: Checkpoint, encoder: Int = 1) throws {
        var c = ckpt.config
        let prefix: String
        switch encoder {
        case 1: prefix = KeyMapping.textPrefix
        case 2:
            guard let t2 = c.text2 else {
                throw RenderError.unsupportedCheckpoint(path: ckpt.path, reason: "a \(c.architecture.rawValue) checkpoint has no second text encoder")
            }
            (c.textWidth, c.textLayers, c.textHeads, c.textPositions) = (t2.width, t2.layers, t2.heads, t2.positions)
            prefix = KeyMapping.text2Prefix
        default: throw RenderError.invalidArgument("text encoder \(encoder) does not exist")
        }
        let w = c.textWidth
        let p = prefix + "text_model."
        func linear(_ name: String, _ out: Int, _ inp: Int) throws -> Dense {
            Dense(weight: try ckpt.weight(name + ".weight", shape: [out, inp], keepHalf: true), bias: try ckpt.weight(name + ".bias", shape: [out]),
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
        erfGELU = encoder == 2
        if encoder == 2, let t2 = c.text2 {
            textProjection = Dense(weight: try ckpt.weight(prefix + "text_projection.weight", shape: [t2.projection, w], keepHalf: true), bias: nil,
                                   inputSize: w, outputSize: t2.projection)
        } else {
            textProjection = nil
        }
    }

    /// Hidden states [ids.count, width] after the final LayerNorm. `clipSkip` 2 takes the
    /// penultimate layer's output (A1111 numbering: 1 = last layer).
    public func encode(_ ids: [Int32], clipSkip: Int = 1) throws -> Tensor {
        finalNorm(try run(ids, clipSkip: clipSkip).last)
    }

    /// SDXL's view: the penultimate layer's hidden states as they are (no final LayerNorm) and, for
    /// the encoder with a `text_projection`, the pooled output (the final-normed state of the first
    /// end token, projected).
    public func penultimateAndPooled(_ ids: [Int32]) throws -> (hidden: Tensor, pooled: Tensor?) {
        guard layers.count >= 2 else { throw RenderError.invalidArgument("the text encoder has one layer; SDXL takes the penultimate") }
        guard let projection = textProjection else {
            return (try run(ids, clipSkip: 2).last, nil)
        }
        let (last, penultimate) = try run(ids, clipSkip: 1, keepPenultimate: true)
        let end = ids.firstIndex(of: ClipTokenizer.eos) ?? ids.count - 1
        let row = Tensor(shape: [1, width], data: Array(last.data[(end * width)..<((end + 1) * width)]))
        return (penultimate!, projection(finalNorm(row)))
    }

    /// The hidden states after `layers - (clipSkip - 1)` layers, and the penultimate layer's when asked.
    private func run(_ ids: [Int32], clipSkip: Int, keepPenultimate: Bool = false) throws -> (last: Tensor, penultimate: Tensor?) {
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
        var penultimate: Tensor?
        let used = layers.count - (clipSkip - 1)
        for (index, layer) in layers.prefix(used).enumerated() {
            if keepPenultimate, index == used - 1 { penultimate = x }
            let h = layer.norm1(x)
            x.add(layer.out(causalAttention(q: layer.q(h), k: layer.k(h), v: layer.v(h))))
            var m = layer.fc1(layer.norm2(x))
            if erfGELU {
                m.withUnsafeMutableBufferPointer { buf in Kernels.gelu(buf.baseAddress!, count: buf.count) }
            } else {
                m.withUnsafeMutableBufferPointer { buf in
                    for i in buf.indices { buf[i] = buf[i] / (1 + Foundation.exp(-1.702 * buf[i])) }  // quick GELU
                }
            }
            x.add(layer.fc2(m))
        }
        return (x, penultimate)
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
        try encode(chunking) { try encode($0, clipSkip: clipSkip) }.hidden
    }

    /// SDXL conditioning of one encoder: A1111 chunks of penultimate hidden states with emphasis and
    /// mean restored (each encoder on its own), and the pooled output of the first chunk. `padID`
    /// replaces everything after a chunk's first end token (0 for OpenCLIP, as A1111 and diffusers do).
    public func encodeSDXL(_ chunking: TokenChunking, padID: Int32?) throws -> (hidden: Tensor, pooled: Tensor?) {
        var pooled: Tensor?
        let hidden = try encode(chunking) { ids in
            var ids = ids
            if let padID, let end = ids.firstIndex(of: ClipTokenizer.eos) {
                for i in (end + 1)..<ids.count { ids[i] = padID }
            }
            let r = try penultimateAndPooled(ids)
            if pooled == nil { pooled = r.pooled }
            return r.hidden
        }.hidden
        return (hidden, pooled)
    }

    private func encode(_ chunking: TokenChunking, _ run: ([Int32]) throws -> Tensor) throws -> (hidden: Tensor, Void) {
        var rows: [Float] = []
        for chunk in chunking.chunks {
            var z = try run(chunk.ids)
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
        return (Tensor(shape: [chunking.chunks.count * TokenChunk.length, width], data: rows), ())
    }
}
