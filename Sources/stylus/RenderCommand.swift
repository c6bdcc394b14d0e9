import ArgumentParser
import Foundation
import LSP
import StylusCatalog
import StylusCore
import StylusML
import StylusRender

struct RenderCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "render", abstract: "Render a prompt file to a PNG (SD 1.x on the CPU, or A1111/Forge and ComfyUI servers).",
        discussion: """
            Settings come from the file's frontmatter (checkpoint, steps, cfg, sampler, scheduler, seed, size, \
            clip_skip, negative, lora_dirs, masks); options override them. With --compose the Stylus composer adds \
            <lora:…> tags first; --variations N renders N images, each with its own sampled adapter mask. Images go \
            beside the prompt file as <stem>-<n>.png (or to --out) and never replace an existing file; each carries \
            A1111 'parameters' text with its prompt, adapters and Lora hashes. With several servers (--backend \
            "comfyui http://a:8188, a1111 http://b:7860" or --comfyui-url repeated) the images are shared between them.
            """)

    @Argument(help: "A .sdprompt file.") var file: String?
    @Option(help: "Output PNG path (default: <stem>-<n>.png beside FILE).") var out: String?
    @Option(help: "SD 1.x checkpoint: a .safetensors file or a diffusers folder (for a server: the model's name there).") var checkpoint: String?
    @Option(help: "Sampling steps.") var steps: Int?
    @Option(help: "Classifier-free guidance scale.") var cfg: Double?
    // Unconditional, so "--seed -1" (the documented random seed) is read as a value, not an option.
    @Option(parsing: .unconditional, help: "Seed (-1 for a random one).") var seed: Int64?
    @Option(help: "Euler, Euler a, DPM++ 2M, DPM++ 2M Karras, DDIM or LCM.") var sampler: String?
    @Option(help: "Image size WxH (multiples of 8).") var size: String?
    @Option(name: .customLong("clip-skip"), help: "CLIP skip (1 = last layer).") var clipSkip: Int?
    @Option(help: "Local renders: auto (bf16 where the CPU has AVX512-BF16 or AMX, else fp32), bf16 or fp32.") var precision: String?
    @Option(name: .customLong("lora-dir"), help: "A folder of LoRA files for <lora:name:…> tags (repeatable; adds to the frontmatter's lora_dirs).")
    var loraDir: [String] = []
    @Flag(help: "Run the Stylus composer first and render its prompt with <lora:…> tags.") var compose = false
    @Option(help: "Render N images with sampled adapter masks (implies --compose).") var variations: Int = 1
    @Flag(name: .customLong("no-trigger-words"), help: "With --compose: do not add the trigger words the composed adapters need.") var noTriggerWords = false
    @Option(help: "Mask strategy for --variations: all, one_hot_loras (default) or one_hot_concepts.") var masks: String?
    @Option(name: .customLong("mask-seed"), help: "Seed of mask sampling (default: the image seed).") var maskSeed: UInt64?
    @Option(help: "Catalog database for --compose (default: $STYLUS_DB, else <data>/catalog.sqlite).") var db: String?
    @Option(name: .customLong("base-model"), help: "Base model for --compose (overrides the file's base_model).") var baseModel: String?
    @Option(help: "local (this machine), a1111 (an A1111/Forge server started with --api), comfyui, a server URL, or several servers separated by commas.") var backend: String?
    @Option(name: .customLong("a1111-url"), help: "The A1111/Forge server (default http://127.0.0.1:7860).") var a1111URL: String?
    @Option(name: .customLong("comfyui-url"), help: "A ComfyUI server for --backend comfyui (repeatable; default $STYLUS_COMFYUI_URL, else http://127.0.0.1:8188).")
    var comfyuiURL: [String] = []
    @Flag(help: "Print one JSON object per image (path, prompt, seed, adapters, timings, PNG parameters) instead of the path.") var json = false
    @Flag(help: .hidden) var benchmark = false

    func run() throws {
        if benchmark { return try runBenchmark() }
        guard let file else { printError("stylus render: missing the prompt FILE"); throw CLIExit.badInput }
        func bad(_ message: String) -> ExitCode { printError("stylus render: \(message)"); return CLIExit.badInput }
        let text: String
        do { text = try InputFiles.readPrompt(file) } catch { throw bad("\(error)") }
        var options = RenderJobOptions()
        options.overrides.checkpoint = checkpoint
        options.overrides.steps = steps
        options.overrides.cfg = cfg
        options.overrides.seed = seed
        options.overrides.sampler = sampler
        options.overrides.clipSkip = clipSkip
        options.overrides.precision = precision
        options.overrides.masks = masks
        if let size {
            guard let parsed = ImageSize(parsing: size) else { throw bad("bad --size '\(size)'; write WxH, e.g. 512x768") }
            options.overrides.size = parsed
        }
        options.loraDirs = loraDir
        options.compose = compose
        options.variations = variations
        options.maskSeed = maskSeed
        options.output = out
        options.backend = backend
        options.a1111URL = a1111URL
        options.comfyuiURLs = comfyuiURL
        if let baseModel {
            guard let b = BaseModel(baseModel) else { throw bad("--base-model '\(baseModel)' is not a base model name (e.g. \"SD 1.5\")") }
            options.composeOverrides.baseModel = b
        }
        if noTriggerWords { options.composeOverrides.addTriggerWords = false }
        let job: RenderJob
        do { job = try RenderJob(promptPath: file, text: text, options: options) } catch { throw bad("\(error)") }
        var composer: RenderComposer?
        if job.compose {
            do { composer = RenderComposer(catalog: try CatalogIndex(store: CatalogIndex.openStore(explicit: db),
                                                                    encoderDirectory: modelPaths().miniLMDirectory)) } catch {
                printError("stylus render: \(error)")
                throw CLIExit.runtimeFailure
            }
        }

        let session = RenderSession(configuration: .installed())
        let bar = ProgressBar()
        let outcome: RenderOutcome
        do {
            outcome = try session.render(job, composer: composer, events: { bar.show($0) })
            bar.finish()
        } catch {
            bar.finish()
            switch error {
            case let e as RenderError:
                if case .invalidArgument = e { throw bad("\(e)") }
                printError("stylus render: \(e)")
            case let e as LoRAError: throw bad("\(e)")
            default: printError("stylus render: \(error)")
            }
            throw CLIExit.runtimeFailure
        }
        for w in outcome.warnings { printError("stylus render: warning: \(w)") }
        for image in outcome.images {
            guard json else { printOut(image.path); continue }
            var timings = image.timings
            if outcome.composeSeconds > 0 { timings["compose"] = outcome.composeSeconds }
            let obj: [String: Any] = [
                "path": image.path, "prompt": image.prompt, "seed": image.seed, "checkpoint_was_warm": image.checkpointWasWarm,
                "adapters": image.adapters.map { ["name": $0.name, "path": $0.path ?? NSNull(), "hash": $0.hash ?? NSNull()] as [String: Any] },
                "timings_s": timings, "parameters": image.parameters,
            ]
            if let data = try? JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys, .withoutEscapingSlashes]) {
                printOut(String(decoding: data, as: UTF8.self))
            }
        }
    }
}

/// The terminal progress: one line per stage, a bar over the sampler steps (stderr).
final class ProgressBar: @unchecked Sendable {
    private var lastStage: RenderStage?
    private var lastVariation = 0
    private var stepStarted = Date()
    private var onBar = false

    func show(_ e: RenderEvent) {
        if e.stage == .sample || (e.stage == .remote && e.steps > 0) {
            if e.step == 0 || lastStage != e.stage || lastVariation != e.variation { stepStarted = Date() }
            lastStage = e.stage
            lastVariation = e.variation
            guard e.steps > 0, e.step > 0 else { return }
            let width = 30, done = e.step * width / e.steps
            let rate = Date().timeIntervalSince(stepStarted) / Double(e.step)
            let bar = String(repeating: "#", count: done) + String(repeating: "-", count: width - done)
            let image = (e.variations > 1 ? "image \(e.variation)/\(e.variations) " : "") + (e.server.map { "on \($0) " } ?? "")
            FileHandle.standardError.write(Data("\r\(image)step \(e.step)/\(e.steps) [\(bar)] \(String(format: "%.2f", rate)) s/step".utf8))
            onBar = true
            return
        }
        guard e.stage != lastStage || e.variation != lastVariation else { return }
        finish()
        lastStage = e.stage
        lastVariation = e.variation
        printError(e.message + "…")
    }

    func finish() {
        if onBar { FileHandle.standardError.write(Data("\n".utf8)) }
        onBar = false
    }
}

extension RenderCommand {
    /// `stylus render --benchmark --checkpoint PATH [--size WxH] [--steps N]`: times N UNet
    /// evaluations (batch 2, as with CFG) and one VAE decode, and prints JSON with the peak RSS
    /// (benchmarks/render_bench.py compares it with diffusers).
    func runBenchmark() throws {
        guard let checkpoint else { printError("stylus render --benchmark: pass --checkpoint PATH"); throw CLIExit.badInput }
        if !loraDir.isEmpty { return try runLoRABenchmark(checkpoint) }
        let dims = size.flatMap(ImageSize.init(parsing:)) ?? ImageSize(width: 512, height: 512)
        let env = ProcessInfo.processInfo.environment
        let vocab = DataPaths(environment: env).clipVocabPath
        var cpu: [String: [Double]] = [:]  // CPU seconds (user + system) per phase: robust to shared cores
        func seconds(_ phase: String = "", _ body: () throws -> Void) rethrows -> Double {
            let t = Date(), c = processCPUSeconds()
            try body()
            cpu[phase, default: []].append(processCPUSeconds() - c)
            return Date().timeIntervalSince(t)
        }
        do {
            let computePrecision = try benchmarkPrecision()
            var pipeline: Pipeline!
            let load = try seconds {
                pipeline = try Pipeline(checkpoint: Checkpoint(path: checkpoint, precision: computePrecision), tokenizer: ClipTokenizer(vocabularyPath: vocab))
            }
            var conditioned: (hidden: Tensor, pooled: Tensor?)!
            let text = try seconds("text") {
                conditioned = try pipeline.conditionWithPooled([.text("a photograph of an astronaut riding a horse", weight: 1)])
            }
            let ctx = conditioned.hidden
            let h = dims.height / 8, w = dims.width / 8
            var rng = TorchCPURandom(seed: 0)
            let x = Tensor(shape: [2, 4, h, w], data: rng.randn(count: 2 * 4 * h * w))
            // SDXL: pooled text and (h, w, 0, 0, h, w) time ids for both batch items.
            let added = conditioned.pooled.map { pooled -> [UNet.Added] in
                let ids = [dims.height, dims.width, 0, 0, dims.height, dims.width].map(Double.init)
                return [UNet.Added(pooled: pooled, timeIds: ids), UNet.Added(pooled: pooled, timeIds: ids)]
            }
            var unetTimes: [Double] = []
            for _ in 0..<max(1, steps ?? 2) {
                unetTimes.append(try seconds("unet") { _ = try pipeline.unet(x, timesteps: [500, 500], context: [ctx, ctx], added: added) })
            }
            let z = Tensor(shape: [1, 4, h, w], data: rng.randn(count: 4 * h * w))
            let vae = try seconds("vae") { _ = try pipeline.vae(z) }
            var usage = rusage()
            getrusage(RUSAGE_SELF.rawValue, &usage)
            let json: [String: Any] = ["load_s": load, "text_encode_s": text, "unet_eval_s": unetTimes, "vae_decode_s": vae,
                                       "architecture": pipeline.checkpoint.architecture.rawValue,
                                       "precision": computePrecision.rawValue, "bf16_path": BFloat16Compute.path?.rawValue ?? "none",
                                       "peak_rss_mb": Double(usage.ru_maxrss) / 1024, "size": "\(dims)",
                                       "unet_cpu_s": cpu["unet"] ?? [], "vae_cpu_s": cpu["vae"]?.first ?? 0]
            printOut(String(decoding: try JSONSerialization.data(withJSONObject: json, options: [.sortedKeys]), as: UTF8.self))
        } catch {
            printError("stylus render --benchmark: \(error)")
            throw CLIExit.runtimeFailure
        }
    }

    /// `--precision` for the benchmarks (default fp32, so earlier figures stay comparable).
    private func benchmarkPrecision() throws -> ComputePrecision {
        try PrecisionSetting.parse(precision ?? "fp32").resolved()
    }

    /// `stylus render --benchmark --checkpoint PATH --lora-dir DIR`: builds the pipeline, then merges
    /// every LoRA in DIR at multiplier 1 into its live weights (benchmarks/lora_bench.py), merges the
    /// same set again, switches to the set without the first file, reverts; prints the times as JSON.
    func runLoRABenchmark(_ checkpointPath: String) throws {
        var cpu: [String: Double] = [:]  // CPU seconds (user + system) per phase: robust to shared cores
        func seconds(_ phase: String = "", _ body: () throws -> Void) rethrows -> Double {
            let t = Date(), c = processCPUSeconds()
            try body()
            cpu[phase + "_cpu_s"] = processCPUSeconds() - c
            return Date().timeIntervalSince(t)
        }
        do {
            var ckpt: Checkpoint!
            let computePrecision = try benchmarkPrecision()
            let open = try seconds { ckpt = try Checkpoint(path: checkpointPath, precision: computePrecision) }
            let env = ProcessInfo.processInfo.environment
            let vocab = DataPaths(environment: env).clipVocabPath
            var pipeline: Pipeline?
            let build = try seconds { pipeline = try Pipeline(checkpoint: ckpt, tokenizer: ClipTokenizer(vocabularyPath: vocab)) }
            let library = LoRALibrary(directories: loraDir)
            let files = try library.files.map { try LoRAFile(path: $0) }
            let apps = files.map { LoRAApplication(file: $0, textEncoder: 1, unet: 1) }
            let merger = LoRAMerger(checkpoint: ckpt)
            var reports: [LoRAReport] = []
            let merge = try seconds("merge") { reports = try merger.apply(apps) }
            let mergeAgain = try seconds("merge_again") { reports = try merger.apply(apps) }
            let switchSet = try seconds("switch") { try merger.apply(Array(apps.dropFirst())) }
            let revert = seconds("revert") { merger.revert() }
            // A second pipeline while the first is alive shares its weight buffers: no conversion.
            let rebuild = try seconds("rebuild") { _ = try Pipeline(checkpoint: ckpt, tokenizer: ClipTokenizer(vocabularyPath: vocab)) }
            withExtendedLifetime(pipeline) {}
            var usage = rusage()
            getrusage(RUSAGE_SELF.rawValue, &usage)
            var json: [String: Any] = [
                "checkpoint_open_s": open, "loras": files.count,
                "applied_tensors": reports.map(\.appliedTensors), "modules": reports.map { $0.modules.count },
                "merge_s": merge, "merge_again_s": mergeAgain, "revert_s": revert, "switch_s": switchSet,
                "pipeline_build_s": build, "pipeline_rebuild_shared_s": rebuild, "peak_rss_mb": Double(usage.ru_maxrss) / 1024,
            ]
            for (phase, value) in cpu where phase != "_cpu_s" { json[phase] = value }
            printOut(String(decoding: try JSONSerialization.data(withJSONObject: json, options: [.sortedKeys]), as: UTF8.self))
        } catch {
            printError("stylus render --benchmark: \(error)")
            throw CLIExit.runtimeFailure
        }
    }
}
