import ArgumentParser
import Foundation
import StylusCore
import StylusML
import StylusRender

struct RenderCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "render", abstract: "Render a prompt file to a PNG locally (SD 1.x on the CPU).",
        discussion: """
            Settings come from the file's frontmatter (checkpoint, steps, cfg, sampler, scheduler, seed, size, \
            clip_skip, negative); options override them. The PNG goes beside the prompt file (or to --out) and \
            never replaces an existing file: a -1, -2, … suffix is added. It carries A1111 'parameters' text.
            """)

    @Argument(help: "A .sdprompt file.") var file: String?
    @Option(help: "Output PNG path (default: beside FILE).") var out: String?
    @Option(help: "SD 1.x checkpoint: a .safetensors file or a diffusers folder.") var checkpoint: String?
    @Option(help: "Sampling steps.") var steps: Int?
    @Option(help: "Classifier-free guidance scale.") var cfg: Double?
    @Option(help: "Seed (-1 for a random one).") var seed: Int64?
    @Option(help: "Euler, Euler a, DPM++ 2M, DPM++ 2M Karras, DDIM or LCM.") var sampler: String?
    @Option(help: "Image size WxH (multiples of 64).") var size: String?
    @Option(name: .customLong("clip-skip"), help: "CLIP skip (1 = last layer).") var clipSkip: Int?
    @Flag(help: .hidden) var benchmark = false

    func run() throws {
        if benchmark { return try runBenchmark() }
        guard let file else { printError("stylus render: missing the prompt FILE"); throw CLIExit.badInput }
        let text: String
        do { text = try InputFiles.readPrompt(file) } catch { printError("stylus render: \(error)"); throw CLIExit.badInput }
        let prompt = PromptFile(text: text)
        let s = prompt.settings
        let fileDir = URL(fileURLWithPath: file).deletingLastPathComponent().path

        func bad(_ message: String) -> ExitCode { printError("stylus render: \(file): \(message)"); return CLIExit.badInput }
        guard var ckptPath = checkpoint ?? s.checkpoint else {
            throw bad("no checkpoint: pass --checkpoint PATH or set 'checkpoint:' in the frontmatter")
        }
        if checkpoint == nil, !ckptPath.hasPrefix("/") { ckptPath = fileDir + "/" + ckptPath }
        let samplerName = sampler ?? s.sampler ?? "Euler a"
        guard var (kind, spacing) = SamplerKind.parse(samplerName) else {
            throw bad("unknown sampler '\(samplerName)'; use Euler, Euler a, DPM++ 2M, DPM++ 2M Karras, DDIM or LCM")
        }
        if sampler == nil, s.scheduler?.lowercased() == "karras" { spacing = .karras }
        var request = RenderRequest(prompt: [])
        request.sampler = kind
        request.spacing = spacing
        request.steps = steps ?? s.steps ?? 20
        request.cfgScale = cfg ?? s.cfg ?? 7
        request.clipSkip = clipSkip ?? s.clipSkip ?? 1
        if let size {
            guard let parsed = ImageSize(parsing: size) else { throw bad("bad --size '\(size)'; write WxH, e.g. 512x768") }
            (request.width, request.height) = (parsed.width, parsed.height)
        } else if let parsed = s.size {
            (request.width, request.height) = (parsed.width, parsed.height)
        }
        let seedValue = seed ?? s.seed.map(Int64.init) ?? -1
        request.seed = seedValue < 0 ? UInt64(UInt32.random(in: 0...UInt32.max)) : UInt64(seedValue)
        request.prompt = prompt.positive.fragments(steps: request.steps)
        if let negative = prompt.negative {
            request.negative = negative.fragments(steps: request.steps)
        } else if let negativeText = prompt.negativeText {
            request.negative = PromptParser.parse(negativeText, isNegative: true).fragments(steps: request.steps)
        }
        if !prompt.positive.tags.filter(\.isLoRA).isEmpty {
            printError("stylus render: warning: LoRA merging is not built yet; the image is rendered without the <lora:…> adapters")
        }

        do { try request.validate() } catch { throw bad("\(error)") }
        let env = ProcessInfo.processInfo.environment
        let vocab = DataPaths(environment: env, homeDirectory: NSHomeDirectory()).clipVocabPath
        let started = Date()
        let image: RGBImage
        let pipeline: Pipeline
        do {
            let tokenizer = try ClipTokenizer(vocabularyPath: vocab)
            pipeline = try Pipeline(checkpoint: Checkpoint(path: ckptPath), tokenizer: tokenizer)
            printError("stylus render: loaded \(ckptPath) in \(String(format: "%.1f", Date().timeIntervalSince(started))) s")
            let t0 = Date()
            image = try pipeline.render(request) { step, total in
                let width = 30, done = step * width / total
                let rate = Date().timeIntervalSince(t0) / Double(step)
                let bar = String(repeating: "#", count: done) + String(repeating: "-", count: width - done)
                FileHandle.standardError.write(Data("\rstep \(step)/\(total) [\(bar)] \(String(format: "%.2f", rate)) s/step".utf8))
                if step == total { FileHandle.standardError.write(Data("\n".utf8)) }
            }
        } catch let error as RenderError {
            if case .invalidArgument = error { throw bad("\(error)") }
            printError("stylus render: \(error)")
            throw CLIExit.runtimeFailure
        }

        var params = RenderParameters(
            prompt: prompt.positiveText.trimmingCharacters(in: .whitespacesAndNewlines),
            negativePrompt: prompt.negativeText ?? "", steps: request.steps, sampler: kind.label(spacing),
            cfgScale: request.cfgScale, seed: request.seed, width: request.width, height: request.height,
            modelHash: pipeline.checkpoint.layout == .singleFile ? try? SHA256.a1111ModelHash(ckptPath) : nil,
            modelName: URL(fileURLWithPath: ckptPath).deletingPathExtension().lastPathComponent)
        params.clipSkip = request.clipSkip
        let base = out ?? (fileDir + "/" + URL(fileURLWithPath: file).deletingPathExtension().lastPathComponent + ".png")
        var path = base
        var suffix = 0
        while true {
            do {
                try PNGWriter.write(image, text: [("parameters", params.infotext)], to: path)
                break
            } catch let error as RenderError where FileManager.default.fileExists(atPath: path) && suffix < 10_000 {
                _ = error
                suffix += 1
                let url = URL(fileURLWithPath: base)
                path = url.deletingPathExtension().path + "-\(suffix)." + (url.pathExtension.isEmpty ? "png" : url.pathExtension)
            } catch {
                printError("stylus render: \(error)")
                throw CLIExit.runtimeFailure
            }
        }
        printOut(path)
    }
}

extension RenderCommand {
    /// `stylus render --benchmark --checkpoint PATH [--size WxH] [--steps N]`: times N UNet
    /// evaluations (batch 2, as with CFG) and one VAE decode, and prints JSON with the peak RSS
    /// (benchmarks/render_bench.py compares it with diffusers).
    func runBenchmark() throws {
        guard let checkpoint else { printError("stylus render --benchmark: pass --checkpoint PATH"); throw CLIExit.badInput }
        let dims = size.flatMap(ImageSize.init(parsing:)) ?? ImageSize(width: 512, height: 512)
        let env = ProcessInfo.processInfo.environment
        let vocab = DataPaths(environment: env, homeDirectory: NSHomeDirectory()).clipVocabPath
        func seconds(_ body: () throws -> Void) rethrows -> Double {
            let t = Date()
            try body()
            return Date().timeIntervalSince(t)
        }
        do {
            var pipeline: Pipeline!
            let load = try seconds { pipeline = try Pipeline(checkpoint: Checkpoint(path: checkpoint), tokenizer: ClipTokenizer(vocabularyPath: vocab)) }
            let ctx = try pipeline.condition([.text("a photograph of an astronaut riding a horse", weight: 1)])
            let h = dims.height / 8, w = dims.width / 8
            var rng = TorchCPURandom(seed: 0)
            let x = Tensor(shape: [2, 4, h, w], data: rng.randn(count: 2 * 4 * h * w))
            var unetTimes: [Double] = []
            for _ in 0..<max(1, steps ?? 2) {
                unetTimes.append(try seconds { _ = try pipeline.unet(x, timesteps: [500, 500], context: [ctx, ctx]) })
            }
            let z = Tensor(shape: [1, 4, h, w], data: rng.randn(count: 4 * h * w))
            let vae = try seconds { _ = try pipeline.vae(z) }
            var usage = rusage()
            getrusage(RUSAGE_SELF.rawValue, &usage)
            let json: [String: Any] = ["load_s": load, "unet_eval_s": unetTimes, "vae_decode_s": vae,
                                       "peak_rss_mb": Double(usage.ru_maxrss) / 1024, "size": "\(dims)"]
            printOut(String(decoding: try JSONSerialization.data(withJSONObject: json, options: [.sortedKeys]), as: UTF8.self))
        } catch {
            printError("stylus render --benchmark: \(error)")
            throw CLIExit.runtimeFailure
        }
    }
}
