import Foundation
import StylusCore
import StylusML

/// What to render. Prompts are A1111 fragments (text with emphasis weights, BREAKs).
public struct RenderRequest: Sendable {
    public var prompt: [PromptFragment]
    public var negative: [PromptFragment] = []
    public var steps = 20
    public var cfgScale = 7.0
    public var seed: UInt64 = 0
    public var width = 512
    public var height = 512
    public var sampler = SamplerKind.eulerAncestral
    public var spacing = SigmaSpacing.discrete
    public var clipSkip = 1

    public init(prompt: [PromptFragment]) { self.prompt = prompt }

    /// The largest image side accepted: 2048 px is already 4× the pixels SD 1.x was trained on.
    public static let maxSide = 2048

    public func validate() throws {
        guard width >= 64, height >= 64, width <= Self.maxSide, height <= Self.maxSide, width % 64 == 0, height % 64 == 0 else {
            throw RenderError.invalidArgument("size \(width)x\(height): width and height must be multiples of 64 between 64 and \(Self.maxSide)")
        }
        guard cfgScale.isFinite, cfgScale >= 0, cfgScale <= 100 else {
            throw RenderError.invalidArgument("cfg scale must be between 0 and 100, got \(cfgScale)")
        }
        guard (1...150).contains(steps) else { throw RenderError.invalidArgument("steps must be between 1 and 150, got \(steps)") }
    }
}

/// Text encoder, UNet and VAE decoder of one checkpoint, ready to render.
public final class Pipeline: Sendable {
    public let checkpoint: Checkpoint
    public let tokenizer: ClipTokenizer
    public let textEncoder: ClipTextEncoder
    public let unet: UNet
    public let vae: VAEDecoder

    public convenience init(checkpoint: Checkpoint, tokenizer: ClipTokenizer) throws {
        try self.init(checkpoint: checkpoint, tokenizer: tokenizer, vae: nil)
    }

    /// `vae`: a decoder built from the same checkpoint earlier (LoRAs never change the VAE), so
    /// rebuilding after a merge reads only the text encoder and UNet again.
    public init(checkpoint: Checkpoint, tokenizer: ClipTokenizer, vae: VAEDecoder?) throws {
        self.checkpoint = checkpoint
        self.tokenizer = tokenizer
        textEncoder = try ClipTextEncoder(checkpoint)
        unet = try UNet(checkpoint)
        self.vae = try vae ?? VAEDecoder(checkpoint)
    }

    /// Conditioning [77·chunks, width] for a prompt (A1111 chunks, weights, clip skip).
    public func condition(_ fragments: [PromptFragment], clipSkip: Int = 1) throws -> Tensor {
        try textEncoder.encode(tokenizer.chunk(fragments), clipSkip: clipSkip)
    }

    /// The encoded prompts of one request: positive and (with CFG) negative, padded to equal length.
    public struct Conditioning: Sendable {
        public var positive: Tensor
        public var negative: Tensor?
    }

    /// Renders the request; `progress(step, steps)` is called after each sampler step and may
    /// throw to stop sampling there (cancellation).
    public func render(_ request: RenderRequest, progress: (Int, Int) throws -> Void = { _, _ in }) throws -> RGBImage {
        let conditioning = try encode(request)
        let latent = try sample(request, conditioning, progress: progress)
        return try decode(latent, request)
    }

    /// Stage 1: the text encoder.
    public func encode(_ request: RenderRequest) throws -> Conditioning {
        try request.validate()
        var cond = try condition(request.prompt, clipSkip: request.clipSkip)
        guard request.cfgScale != 1 else { return Conditioning(positive: cond, negative: nil) }
        var uncond = try condition(request.negative, clipSkip: request.clipSkip)
        if cond.rows != uncond.rows {
            // A1111 pads the shorter side with encodings of the empty prompt.
            let empty = try condition([], clipSkip: request.clipSkip)
            func pad(_ t: Tensor, to rows: Int) -> Tensor {
                var data = t.data
                while data.count < rows * t.columns { data += empty.data }
                return Tensor(shape: [rows, t.columns], data: data)
            }
            let rows = max(cond.rows, uncond.rows)
            cond = pad(cond, to: rows)
            uncond = pad(uncond, to: rows)
        }
        return Conditioning(positive: cond, negative: uncond)
    }

    /// Stage 2: the sampler loop with CFG; returns the latent to decode.
    public func sample(_ request: RenderRequest, _ conditioning: Conditioning,
                       progress: (Int, Int) throws -> Void = { _, _ in }) throws -> [Float] {
        try request.validate()
        let sampler = try Sampler(kind: request.sampler, spacing: request.spacing, steps: request.steps)
        let cond = conditioning.positive
        let h = request.height / 8, w = request.width / 8, channels = checkpoint.config.latentChannels
        let count = channels * h * w
        var rng = TorchCPURandom(seed: request.seed)
        let start = sampler.initialLatent(noise: rng.randn(count: count))
        let scale = Float(request.cfgScale)
        return try sampler.run(start, model: { input, t in
            guard let uncond = conditioning.negative else {
                return try unet(Tensor(shape: [1, channels, h, w], data: input), timesteps: [t], context: [cond]).data
            }
            let both = try unet(Tensor(shape: [2, channels, h, w], data: input + input), timesteps: [t, t], context: [uncond, cond])
            var eps = [Float](repeating: 0, count: count)
            for i in 0..<count { eps[i] = both.data[i] + scale * (both.data[count + i] - both.data[i]) }
            return eps
        }, noise: { rng.randn(count: count) }, onStep: { i, x in
            if let bad = x.first(where: { !$0.isFinite }) {
                throw RenderError.invalidArgument("sampling diverged at step \(i + 1) (latent value \(bad)); the checkpoint's weights may be broken")
            }
            try progress(i + 1, request.steps)
        })
    }

    /// Stage 3: the VAE decoder.
    public func decode(_ latent: [Float], _ request: RenderRequest) throws -> RGBImage {
        let channels = checkpoint.config.latentChannels
        let decoded = try vae(Tensor(shape: [1, channels, request.height / 8, request.width / 8], data: latent))
        return try VAEDecoder.image(decoded)
    }
}

extension ClipTokenizer: PromptTokenCounter {
    /// CLIP tokens of plain prompt text (the `token-limit` diagnostic's counter).
    public func tokenCount(of text: String) -> Int { encode(text).count }
}
