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
    /// ε or v; nil: the checkpoint's (v when it carries the `v_pred` marker). v-prediction samples on
    /// the zero-terminal-SNR schedule.
    public var prediction: Prediction?

    public init(prompt: [PromptFragment]) { self.prompt = prompt }

    /// The largest image side accepted (`PromptSettings.sideRange`).
    public static let maxSide = PromptSettings.sideRange.upperBound

    /// Sizes in multiples of 8 (one latent cell), as diffusers and A1111 accept; the UNet resizes
    /// its upsampled levels to odd skip sizes.
    public func validate() throws {
        let sides = PromptSettings.sideRange
        guard sides.contains(width), sides.contains(height) else {
            throw RenderError.invalidArgument("size \(width)x\(height): width and height must be multiples of 8 between \(sides.lowerBound) and \(sides.upperBound)")
        }
        guard width % 8 == 0, height % 8 == 0 else {
            throw RenderError.invalidArgument("size \(width)x\(height) is not divisible by 8: width and height must be multiples of 8 (one latent cell), e.g. \(max(sides.lowerBound, width / 8 * 8))x\(max(sides.lowerBound, height / 8 * 8))")
        }
        let cfgRange = PromptSettings.cfgRange
        guard cfgScale.isFinite, cfgRange.contains(cfgScale) else {
            throw RenderError.invalidArgument("cfg scale must be between \(formatNumber(cfgRange.lowerBound)) and \(formatNumber(cfgRange.upperBound)), got \(cfgScale)")
        }
        let range = PromptSettings.stepRange
        guard range.contains(steps) else {
            throw RenderError.invalidArgument("steps must be between \(range.lowerBound) and \(range.upperBound), got \(steps)")
        }
    }
}

/// Text encoder, UNet and VAE decoder of one checkpoint, ready to render.
public final class Pipeline: Sendable {
    public let checkpoint: Checkpoint
    public let tokenizer: ClipTokenizer
    public let textEncoder: ClipTextEncoder
    /// SDXL's OpenCLIP ViT-bigG (nil for SD 1.x).
    public let textEncoder2: ClipTextEncoder?
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
        textEncoder2 = checkpoint.architecture == .sdxl ? try ClipTextEncoder(checkpoint, encoder: 2) : nil
        unet = try UNet(checkpoint)
        self.vae = try vae ?? VAEDecoder(checkpoint)
    }

    /// Conditioning [77·chunks, width] for a prompt (A1111 chunks, weights, clip skip).
    public func condition(_ fragments: [PromptFragment], clipSkip: Int = 1) throws -> Tensor {
        try conditionWithPooled(fragments, clipSkip: clipSkip).hidden
    }

    /// SD 1.x: the encoder's chunks. SDXL: both encoders' penultimate states side by side
    /// ([77·chunks, 768 + 1280]), each with A1111's emphasis, and bigG's pooled output of the first chunk.
    /// SDXL ignores clip skip (both encoders already stop at the penultimate layer).
    public func conditionWithPooled(_ fragments: [PromptFragment], clipSkip: Int = 1) throws -> (hidden: Tensor, pooled: Tensor?) {
        let chunking = tokenizer.chunk(fragments)
        guard let textEncoder2 else { return (try textEncoder.encode(chunking, clipSkip: clipSkip), nil) }
        let a = try textEncoder.encodeSDXL(chunking, padID: nil)
        let b = try textEncoder2.encodeSDXL(chunking, padID: 0)
        let (wa, wb) = (a.hidden.columns, b.hidden.columns)
        var rows = [Float]()
        rows.reserveCapacity(a.hidden.rows * (wa + wb))
        for r in 0..<a.hidden.rows {
            rows += a.hidden.data[(r * wa)..<((r + 1) * wa)]
            rows += b.hidden.data[(r * wb)..<((r + 1) * wb)]
        }
        return (Tensor(shape: [a.hidden.rows, wa + wb], data: rows), b.pooled)
    }

    /// The encoded prompts of one request: positive and (with CFG) negative, padded to equal length;
    /// for SDXL also their pooled embeddings.
    public struct Conditioning: Sendable {
        public var positive: Tensor
        public var negative: Tensor?
        public var positivePooled: Tensor? = nil
        public var negativePooled: Tensor? = nil
    }

    /// What the checkpoint's UNet predicts for this request.
    public func prediction(_ request: RenderRequest) -> Prediction {
        request.prediction ?? (checkpoint.vPredictionMarker ? .v : .epsilon)
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
        let positive = try conditionWithPooled(request.prompt, clipSkip: request.clipSkip)
        var cond = positive.hidden
        guard request.cfgScale != 1 else { return Conditioning(positive: cond, negative: nil, positivePooled: positive.pooled) }
        let negative = try conditionWithPooled(request.negative, clipSkip: request.clipSkip)
        var uncond = negative.hidden
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
        return Conditioning(positive: cond, negative: uncond, positivePooled: positive.pooled, negativePooled: negative.pooled)
    }

    /// Stage 2: the sampler loop with CFG; returns the latent to decode.
    public func sample(_ request: RenderRequest, _ conditioning: Conditioning,
                       progress: (Int, Int) throws -> Void = { _, _ in }) throws -> [Float] {
        try request.validate()
        let prediction = prediction(request)
        let sampler = try Sampler(kind: request.sampler, spacing: request.spacing, steps: request.steps,
                                  schedule: prediction == .v ? .sd1ZeroTerminalSNR : .sd1, prediction: prediction)
        let cond = conditioning.positive
        // SDXL: pooled text and (original size, crop top-left, target size) = (h, w, 0, 0, h, w) as A1111 sends.
        var added: (positive: UNet.Added, negative: UNet.Added?)?
        if unet.takesAddedConditioning {
            guard let pooled = conditioning.positivePooled else {
                throw RenderError.invalidArgument("the SDXL UNet needs the pooled text embedding")
            }
            let ids = [request.height, request.width, 0, 0, request.height, request.width].map(Double.init)
            added = (UNet.Added(pooled: pooled, timeIds: ids), conditioning.negativePooled.map { UNet.Added(pooled: $0, timeIds: ids) })
        }
        let h = request.height / 8, w = request.width / 8, channels = checkpoint.config.latentChannels
        let count = channels * h * w
        var rng = TorchCPURandom(seed: request.seed)
        let start = sampler.initialLatent(noise: rng.randn(count: count))
        let scale = Float(request.cfgScale)
        return try sampler.run(start, model: { input, t in
            guard let uncond = conditioning.negative else {
                return try unet(Tensor(shape: [1, channels, h, w], data: input), timesteps: [t], context: [cond],
                                added: added.map { [$0.positive] }).data
            }
            var pair: [UNet.Added]?
            if let added {
                guard let negative = added.negative else { throw RenderError.invalidArgument("the SDXL UNet needs the negative prompt's pooled embedding") }
                pair = [negative, added.positive]
            }
            let both = try unet(Tensor(shape: [2, channels, h, w], data: input + input), timesteps: [t, t], context: [uncond, cond], added: pair)
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
