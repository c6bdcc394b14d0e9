import Foundation
import StylusML

/// The SD VAE decoder: latent / 0.18215 → post_quant_conv → conv_in → mid
/// (resnet, single-head attention, resnet) → up levels (resnets, nearest 2× + conv) → GN, SiLU,
/// conv_out. Levels and resnets per level are read from the checkpoint.
public struct VAEDecoder: Sendable {
    /// SD 1.x's latent scale; the checkpoint's own (SDXL 0.13025) is `scale`.
    public static let scalingFactor: Float = 0.18215
    /// Latents are divided by this before decoding (from the checkpoint's family). The decoder runs in
    /// fp32 whatever the stored dtype, so the original SDXL VAE's fp16 overflow cannot happen.
    public let scale: Float

    struct ResBlock: Sendable {
        let norm1: GroupNorm, conv1: Conv2d, norm2: GroupNorm, conv2: Conv2d, shortcut: Conv2d?

        init(_ c: Checkpoint, _ p: String) throws {
            let conv1 = try Conv2d(c, p + "conv1")
            self.conv1 = conv1
            norm1 = try GroupNorm(c, p + "norm1", channels: conv1.inChannels, epsilon: 1e-6)
            conv2 = try Conv2d(c, p + "conv2")
            norm2 = try GroupNorm(c, p + "norm2", channels: conv1.outChannels, epsilon: 1e-6)
            shortcut = c.contains(p + "nin_shortcut.weight") ? try Conv2d(c, p + "nin_shortcut") : nil
        }

        func callAsFunction(_ x: Tensor) throws -> Tensor {
            var out = try conv2(try norm2(try conv1(try norm1(x, silu: true)), silu: true))
            addInPlace(&out, try shortcut?(x) ?? x)
            return out
        }
    }

    struct Attention: Sendable {
        let norm: GroupNorm, q: Dense, k: Dense, v: Dense, proj: Dense

        init(_ c: Checkpoint, _ p: String) throws {
            q = try linear(c, p + "q")
            k = try linear(c, p + "k")
            v = try linear(c, p + "v")
            proj = try linear(c, p + "proj_out")
            norm = try GroupNorm(c, p + "norm", channels: q.inputSize, epsilon: 1e-6)
        }

        func callAsFunction(_ x: Tensor) throws -> Tensor {
            let b = try dims(x).0
            let t = try tokens(try norm(x))
            let (qt, kt, vt) = (q(t), k(t), v(t))
            let a = Profile.measure("attn vae", "\(qt.shape)") {
                attention(q: qt, k: kt, v: vt, heads: 1, keyCounts: Array(repeating: kt.rows / b, count: b))
            }
            var out = x
            try addTokens(proj(a), into: &out)
            return out
        }
    }

    let postQuant: Conv2d, convIn: Conv2d
    let mid1: ResBlock, midAttention: Attention, mid2: ResBlock
    /// Top level first (the order they run in), each with its resnets and optional upsampler.
    let levels: [(blocks: [ResBlock], upsample: Conv2d?)]
    let normOut: GroupNorm, convOut: Conv2d

    public init(_ c: Checkpoint) throws {
        _ = ActivationMemory.reuse
        let p = KeyMapping.vaePrefix, d = p + "decoder."
        scale = c.config.vaeScalingFactor
        postQuant = try Conv2d(c, p + "post_quant_conv")
        convIn = try Conv2d(c, d + "conv_in")
        mid1 = try ResBlock(c, d + "mid.block_1.")
        midAttention = try Attention(c, d + "mid.attn_1.")
        mid2 = try ResBlock(c, d + "mid.block_2.")
        var levels: [(blocks: [ResBlock], upsample: Conv2d?)] = []
        for i in (0..<c.config.vaeChannels.count).reversed() {
            var blocks: [ResBlock] = []
            while c.contains(d + "up.\(i).block.\(blocks.count).conv1.weight") {
                blocks.append(try ResBlock(c, d + "up.\(i).block.\(blocks.count)."))
            }
            let up = c.contains(d + "up.\(i).upsample.conv.weight") ? try Conv2d(c, d + "up.\(i).upsample.conv") : nil
            levels.append((blocks, up))
        }
        self.levels = levels
        convOut = try Conv2d(c, d + "conv_out")
        normOut = try GroupNorm(c, d + "norm_out", channels: convOut.inChannels, epsilon: 1e-6)
    }

    /// Decodes UNet latents [B, 4, h, w] to images [B, 3, 8h, 8w] in about [-1, 1].
    public func callAsFunction(_ latents: Tensor) throws -> Tensor {
        var x = try postQuant(latents * (1 / scale))
        x = try convIn(x)
        x = try mid2(try midAttention(try mid1(x)))
        for level in levels {
            for block in level.blocks { x = try block(x) }
            if let up = level.upsample { x = try up(try upsample2x(x)) }
        }
        let result = try convOut(try normOut(x, silu: true))
        Profile.report("VAE decoder \(latents.shape)")
        return result
    }

    /// The first image of a decoded batch as 8-bit RGB: (x + 1) / 2, clamped, rounded.
    public static func image(_ decoded: Tensor) throws -> RGBImage {
        let (_, c, h, w) = try dims(decoded, channels: 3)
        let planar = decoded.data.prefix(c * h * w).map { $0 / 2 + 0.5 }
        return try RGBImage(planar: Array(planar), width: w, height: h)
    }
}
