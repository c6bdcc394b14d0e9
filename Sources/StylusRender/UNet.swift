import Foundation
import StylusML

/// The SD 1.x UNet, built from whatever blocks the checkpoint holds under the
/// LDM names: `input_blocks.N` (resnet [+ spatial transformer] or a stride-2 conv),
/// `middle_block`, `output_blocks.N` (resnet [+ transformer] [+ upsample]).
public struct UNet: Sendable {
    struct ResBlock: Sendable {
        let norm1: GroupNorm, conv1: Conv2d, emb: Dense, norm2: GroupNorm, conv2: Conv2d
        let skip: Conv2d?

        init(_ c: Checkpoint, _ p: String) throws {
            let conv1 = try Conv2d(c, p + "in_layers.2")
            self.conv1 = conv1
            norm1 = try GroupNorm(c, p + "in_layers.0", channels: conv1.inChannels, epsilon: 1e-5)
            emb = try linear(c, p + "emb_layers.1")
            conv2 = try Conv2d(c, p + "out_layers.3")
            norm2 = try GroupNorm(c, p + "out_layers.0", channels: conv1.outChannels, epsilon: 1e-5)
            skip = c.contains(p + "skip_connection.weight") ? try Conv2d(c, p + "skip_connection") : nil
        }

        func callAsFunction(_ x: Tensor, _ temb: Tensor) throws -> Tensor {
            var h = try conv1(try norm1(x, silu: true))
            let e = emb(silu(temb))  // [batch, out]
            let (b, ch, hh, ww) = try dims(h)
            Profile.measure("elementwise", "temb add") {
                h.withUnsafeMutableBufferPointer { p in
                    for n in 0..<b { for c in 0..<ch {
                        let v = e.data[n * ch + c], base = (n * ch + c) * hh * ww
                        for i in 0..<(hh * ww) { p[base + i] += v }
                    } }
                }
            }
            var out = try conv2(try norm2(h, silu: true))
            addInPlace(&out, try skip?(x) ?? x)
            return out
        }
    }

    struct TransformerBlock: Sendable {
        let norm1: LayerNorm, norm2: LayerNorm, norm3: LayerNorm
        let q1: Dense, k1: Dense, v1: Dense, o1: Dense
        let q2: Dense, k2: Dense, v2: Dense, o2: Dense
        let ff1: Dense, ff2: Dense
    }

    struct SpatialTransformer: Sendable {
        let norm: GroupNorm, projIn: Dense, projOut: Dense
        let blocks: [TransformerBlock]
        let heads: Int

        init(_ c: Checkpoint, _ p: String) throws {
            projIn = try linear(c, p + "proj_in")  // a 1×1 conv (SD 1.x) or a linear (SDXL): the same matrix
            projOut = try linear(c, p + "proj_out")
            let width = projIn.outputSize
            let heads = c.config.unetHeads(width: width)
            guard width % heads == 0 else {
                throw RenderError.unsupportedCheckpoint(path: c.path, reason: "\(p) is \(width) wide, not a multiple of \(heads) heads")
            }
            norm = try GroupNorm(c, p + "norm", channels: projIn.inputSize, epsilon: 1e-6)
            var blocks: [TransformerBlock] = []
            while c.contains(p + "transformer_blocks.\(blocks.count).attn1.to_q.weight") {
                let b = p + "transformer_blocks.\(blocks.count)."
                blocks.append(TransformerBlock(
                    norm1: try LayerNorm(c, b + "norm1", width), norm2: try LayerNorm(c, b + "norm2", width),
                    norm3: try LayerNorm(c, b + "norm3", width),
                    q1: try linear(c, b + "attn1.to_q", bias: false), k1: try linear(c, b + "attn1.to_k", bias: false),
                    v1: try linear(c, b + "attn1.to_v", bias: false), o1: try linear(c, b + "attn1.to_out.0"),
                    q2: try linear(c, b + "attn2.to_q", bias: false), k2: try linear(c, b + "attn2.to_k", bias: false),
                    v2: try linear(c, b + "attn2.to_v", bias: false), o2: try linear(c, b + "attn2.to_out.0"),
                    ff1: try linear(c, b + "ff.net.0.proj"), ff2: try linear(c, b + "ff.net.2")))
            }
            guard !blocks.isEmpty else { throw RenderError.missingWeight(path: c.path, name: p + "transformer_blocks.0.attn1.to_q.weight") }
            self.blocks = blocks
            self.heads = heads
        }

        /// The batch's tokens go through the linears together ([B·HW, C] rows); attention keeps
        /// each item to its own tokens and its own context (`context` stacks the items' contexts,
        /// `contextCounts` their token counts).
        func callAsFunction(_ x: Tensor, context: Tensor, contextCounts: [Int]) throws -> Tensor {
            let b = try dims(x).0
            var t = projIn(try tokens(try norm(x)))
            for blk in blocks {
                let a = blk.norm1(t)
                let (q1, k1, v1) = (blk.q1(a), blk.k1(a), blk.v1(a))
                let a1 = Profile.measure("attn self", "\(q1.shape)") {
                    attention(q: q1, k: k1, v: v1, heads: heads, keyCounts: Array(repeating: k1.rows / b, count: b),
                              bf16: blk.q1.weight.computesInBF16)
                }
                blk.o1.add(a1, into: &t)
                let c2 = blk.norm2(t)
                let (q2, k2, v2) = (blk.q2(c2), blk.k2(context), blk.v2(context))
                let a2 = Profile.measure("attn cross", "\(q2.shape)") {
                    attention(q: q2, k: k2, v: v2, heads: heads, keyCounts: contextCounts, bf16: blk.q2.weight.computesInBF16)
                }
                blk.o2.add(a2, into: &t)
                let f1 = blk.ff1(blk.norm3(t))
                let g = Profile.measure("geglu", "\(f1.shape)") { geglu(f1) }
                blk.ff2.add(g, into: &t)
            }
            var out = x
            try addTokens(projOut(t), into: &out)
            return out
        }
    }

    enum Block: Sendable {
        case res(ResBlock), attn(SpatialTransformer), down(Conv2d), up(Conv2d)
    }

    let timeDense1: Dense, timeDense2: Dense
    /// SDXL's `label_emb` (diffusers `add_embedding`): [pooled text, 6 time-id embeddings] → added to the time embedding.
    let labelDense1: Dense?, labelDense2: Dense?
    /// Width of each time-id embedding (0 without `label_emb`).
    public let timeIdWidth: Int
    let convIn: Conv2d
    let input: [[Block]]
    let middle: [Block]
    let output: [[Block]]
    let normOut: GroupNorm, convOut: Conv2d
    public let modelChannels: Int

    public init(_ c: Checkpoint) throws {
        _ = ActivationMemory.reuse
        let p = KeyMapping.unetPrefix
        func blocks(_ prefix: String, _ subs: ClosedRange<Int>) throws -> [Block] {
            var out: [Block] = []
            for s in subs {
                let b = "\(prefix).\(s)."
                if c.contains(b + "in_layers.2.weight") { out.append(.res(try ResBlock(c, b))) }
                else if c.contains(b + "proj_in.weight") { out.append(.attn(try SpatialTransformer(c, b))) }
                else if c.contains(b + "op.weight") { out.append(.down(try Conv2d(c, b + "op", stride: 2))) }
                else if c.contains(b + "conv.weight") { out.append(.up(try Conv2d(c, b + "conv"))) }
            }
            return out
        }
        timeDense1 = try linear(c, p + "time_embed.0")
        timeDense2 = try linear(c, p + "time_embed.2")
        if c.contains(p + "label_emb.0.0.weight") {
            labelDense1 = try linear(c, p + "label_emb.0.0")
            labelDense2 = try linear(c, p + "label_emb.0.2")
            timeIdWidth = c.config.timeIdWidth
        } else {
            labelDense1 = nil
            labelDense2 = nil
            timeIdWidth = 0
        }
        convIn = try Conv2d(c, p + "input_blocks.0.0")
        modelChannels = convIn.outChannels
        let names = c.names
        var input: [[Block]] = []
        while names.contains(where: { $0.hasPrefix(p + "input_blocks.\(input.count + 1).") }) {
            input.append(try blocks(p + "input_blocks.\(input.count + 1)", 0...1))
        }
        var output: [[Block]] = []
        while names.contains(where: { $0.hasPrefix(p + "output_blocks.\(output.count).") }) {
            output.append(try blocks(p + "output_blocks.\(output.count)", 0...2))
        }
        guard output.count == input.count + 1 else {
            throw RenderError.unsupportedCheckpoint(path: c.path, reason: "the UNet has \(input.count + 1) input blocks but \(output.count) output blocks")
        }
        self.input = input
        self.output = output
        middle = try blocks(p + "middle_block", 0...2)
        normOut = try GroupNorm(c, p + "out.0", channels: modelChannels, epsilon: 1e-5)
        convOut = try Conv2d(c, p + "out.2")
    }

    /// Sinusoidal embedding of (possibly fractional) timesteps, [cos, sin] halves as in SD.
    func timestepEmbedding(_ t: [Double]) -> Tensor {
        Self.sinusoidal(t, width: modelChannels)
    }

    /// `width`-wide [cos, sin] embeddings of values (timesteps, SDXL's size/crop ids), one row each.
    static func sinusoidal(_ t: [Double], width: Int) -> Tensor {
        let half = width / 2
        var values = [Float](repeating: 0, count: t.count * width)
        for (n, tv) in t.enumerated() {
            for i in 0..<half {
                // float32 throughout, as diffusers computes it (a 1-ulp frequency error times t ≈ 1000 shows)
                let freq = Foundation.exp(Float(-Foundation.log(10000.0)) * Float(i) / Float(half))
                let arg = Float(tv) * freq
                values[n * width + i] = Foundation.cos(arg)
                values[n * width + half + i] = Foundation.sin(arg)
            }
        }
        return Tensor(shape: [t.count, width], data: values)
    }

    /// SDXL's extra conditioning per batch item: the pooled text embedding and the six time ids
    /// (original height, width, crop top, left, target height, width).
    public struct Added: Sendable {
        public var pooled: Tensor
        public var timeIds: [Double]
        public init(pooled: Tensor, timeIds: [Double]) {
            self.pooled = pooled
            self.timeIds = timeIds
        }
    }

    /// Whether the UNet needs `added` conditioning (SDXL).
    public var takesAddedConditioning: Bool { labelDense1 != nil }

    /// ε (or v) for a batch of latents [B, 4, h, w] at timesteps [B] with text contexts ([tokens, width]
    /// each) and, for SDXL, the added conditioning of each item.
    public func callAsFunction(_ x: Tensor, timesteps: [Double], context: [Tensor], added: [Added]? = nil) throws -> Tensor {
        let (b, _, h, w) = try dims(x, channels: convIn.inChannels)
        guard timesteps.count == b, context.count == b else {
            throw RenderError.invalidArgument("UNet batch of \(b) needs \(b) timesteps and contexts")
        }
        var labelInput: Tensor?
        if let l1 = labelDense1 {
            guard let added, added.count == b else {
                throw RenderError.invalidArgument("the SDXL UNet needs pooled text and time ids for each of the \(b) batch items")
            }
            var rows: [Float] = []
            rows.reserveCapacity(b * l1.inputSize)
            for item in added {
                guard item.timeIds.count == 6, item.pooled.count + 6 * timeIdWidth == l1.inputSize else {
                    throw RenderError.invalidArgument("SDXL conditioning needs a \(l1.inputSize - 6 * timeIdWidth)-wide pooled embedding and 6 time ids")
                }
                rows += item.pooled.data
                rows += Self.sinusoidal(item.timeIds, width: timeIdWidth).data
            }
            labelInput = Tensor(shape: [b, l1.inputSize], data: rows)
        } else if added != nil {
            throw RenderError.invalidArgument("this UNet takes no pooled text or time ids (not SDXL)")
        }
        guard h >= 1, w >= 1 else { throw RenderError.invalidArgument("latent size \(w)x\(h) is empty") }
        var temb = timeDense2(silu(timeDense1(timestepEmbedding(timesteps))))
        if let labelInput, let l1 = labelDense1, let l2 = labelDense2 {
            l2.add(silu(l1(labelInput)), into: &temb)
        }
        // All items' contexts as one matrix: the cross-attention keys and values are one gemm each.
        let contextCounts = context.map(\.rows)
        let stacked = Tensor(shape: [contextCounts.reduce(0, +), context[0].columns], data: context.flatMap(\.data))
        var hidden = try convIn(x)
        var skips = [hidden]
        // A side that is odd at some level (latents in multiples of 1, images in multiples of 8) is
        // rounded up by the stride-2 convs; each upsampler then resizes to the next skip's size, as
        // diffusers does when it forwards `upsample_size`.
        func run(_ blocks: [Block], _ x: Tensor, upTo size: (Int, Int)? = nil) throws -> Tensor {
            var x = x
            for block in blocks {
                switch block {
                case let .res(r): x = try r(x, temb)
                case let .attn(a): x = try a(x, context: stacked, contextCounts: contextCounts)
                case let .down(conv): x = try conv(x)
                case let .up(conv):
                    let (_, _, xh, xw) = try dims(x)
                    let (th, tw) = size ?? (2 * xh, 2 * xw)
                    x = try conv(th == 2 * xh && tw == 2 * xw ? try upsample2x(x) : try upsampleNearest(x, height: th, width: tw))
                }
            }
            return x
        }
        for blocks in input {
            hidden = try run(blocks, hidden)
            skips.append(hidden)
        }
        hidden = try run(middle, hidden)
        for blocks in output {
            let skip = skips.removeLast()
            hidden = try Profile.measure("elementwise", "concat") { try concatChannels(hidden, skip) }
            let next = try skips.last.map { try dims($0) }
            hidden = try run(blocks, hidden, upTo: next.map { ($0.2, $0.3) })
        }
        let result = try convOut(try normOut(hidden, silu: true))
        Profile.report("UNet \(x.shape)")
        return result
    }
}

/// GEGLU: the projection's first half times GELU of its second half (rows over the cores).
func geglu(_ x: Tensor) -> Tensor {
    let rows = x.rows, inner = x.columns / 2
    var out = Tensor(uninitialized: [rows, inner])
    x.withUnsafeBufferPointer { xp in out.withUnsafeMutableBufferPointer { op in
        let source = UncheckedBox(xp.baseAddress!), target = UncheckedBox(op.baseAddress!)
        Kernels.parallelFor(rows, minimumChunk: 8) { r in
            Kernels.geglu(source.value + r.lowerBound * 2 * inner, rows: r.count, inner: inner, into: target.value + r.lowerBound * inner)
        }
    } }
    return out
}

/// torch.cat([a, b], dim=1) for NCHW.
func concatChannels(_ a: Tensor, _ b: Tensor) throws -> Tensor {
    let (n, ca, h, w) = try dims(a), (nb, cb, hb, wb) = try dims(b)
    guard n == nb, h == hb, w == wb else { throw RenderError.invalidArgument("cannot join \(a.shape) and \(b.shape)") }
    var out = [Float]()
    out.reserveCapacity(a.count + b.count)
    for i in 0..<n {
        out += a.data[(i * ca * h * w)..<((i + 1) * ca * h * w)]
        out += b.data[(i * cb * h * w)..<((i + 1) * cb * h * w)]
    }
    return Tensor(shape: [n, ca + cb, h, w], data: out)
}
