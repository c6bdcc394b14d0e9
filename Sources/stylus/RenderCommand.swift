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
    @Option(name: .customLong("lora-dir"), help: "A folder of LoRA files for <lora:name:…> tags (repeatable; adds to the frontmatter's lora_dirs).")
    var loraDir: [String] = []
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
        let adapters = try resolveLoRAs(prompt, fileDir: fileDir, bad: bad)

        do { try request.validate() } catch { throw bad("\(error)") }
        let env = ProcessInfo.processInfo.environment
        let vocab = DataPaths(environment: env, homeDirectory: NSHomeDirectory()).clipVocabPath
        let started = Date()
        let image: RGBImage
        let pipeline: Pipeline
        do {
            let tokenizer = try ClipTokenizer(vocabularyPath: vocab)
            let ckpt = try Checkpoint(path: ckptPath)
            try mergeLoRAs(adapters, into: ckpt)
            pipeline = try Pipeline(checkpoint: ckpt, tokenizer: tokenizer)
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
        } catch let error as LoRAError {
            throw bad("\(error)")
        }

        var params = RenderParameters(
            prompt: prompt.positiveText.trimmingCharacters(in: .whitespacesAndNewlines),
            negativePrompt: prompt.negativeText ?? "", steps: request.steps, sampler: kind.label(spacing),
            cfgScale: request.cfgScale, seed: request.seed, width: request.width, height: request.height,
            modelHash: pipeline.checkpoint.layout == .singleFile ? try? SHA256.a1111ModelHash(ckptPath) : nil,
            modelName: URL(fileURLWithPath: ckptPath).deletingPathExtension().lastPathComponent)
        params.clipSkip = request.clipSkip
        params.loraHashes = adapters.compactMap { a in (try? a.file.addnetShortHash()).map { (a.name, $0) } }
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

/// A LoRA named in the prompt, resolved to its file, with multipliers summed over repeated tags.
struct PromptLoRA {
    var name: String
    var file: LoRAFile
    var textEncoder: Float
    var unet: Float
}

extension RenderCommand {
    /// `<lora:…>` tags of the positive prompt → files in `--lora-dir` / frontmatter `lora_dirs`.
    /// Tags in the negative prompt are ignored (as in A1111) with a warning.
    func resolveLoRAs(_ prompt: PromptFile, fileDir: String, bad: (String) -> ExitCode) throws -> [PromptLoRA] {
        if let negative = prompt.negative, negative.tags.contains(where: \.isLoRA) {
            printError("stylus render: warning: <lora:…> tags in the negative prompt are ignored")
        }
        let tags = prompt.positive.tags.filter(\.isLoRA)
        guard !tags.isEmpty else { return [] }
        let dirs = loraDir + (prompt.settings.loraDirs ?? []).map { $0.hasPrefix("/") ? $0 : fileDir + "/" + $0 }
        guard !dirs.isEmpty else { throw bad("the prompt has <lora:…> tags but no LoRA folder: pass --lora-dir DIR or set 'lora_dirs:' in the frontmatter") }
        let library = LoRALibrary(directories: dirs)
        var result: [PromptLoRA] = []
        for tag in tags {
            guard let te = tag.textEncoderWeight, let unet = tag.unetWeight, te.isFinite, unet.isFinite else {
                throw bad("<lora:\(tag.name):…> has a multiplier that is not a number")
            }
            guard let path = library.resolve(tag.name) else {
                throw bad("no LoRA named '\(tag.name)' (file stem or ss_output_name) in \(dirs.joined(separator: ", "))")
            }
            if let i = result.firstIndex(where: { $0.file.path == path }) {  // the same file twice adds up
                result[i].textEncoder += Float(te)
                result[i].unet += Float(unet)
                continue
            }
            let file: LoRAFile
            do { file = try LoRAFile(path: path) } catch { throw bad("\(error)") }
            result.append(PromptLoRA(name: tag.name, file: file, textEncoder: Float(te), unet: Float(unet)))
        }
        return result
    }

    func mergeLoRAs(_ adapters: [PromptLoRA], into checkpoint: Checkpoint) throws {
        guard !adapters.isEmpty else { return }
        let started = Date()
        let reports = try LoRAMerger(checkpoint: checkpoint).apply(adapters.map {
            LoRAApplication(file: $0.file, textEncoder: $0.textEncoder, unet: $0.unet)
        })
        for (adapter, report) in zip(adapters, reports) {
            var line = "stylus render: LoRA \(adapter.name): \(report.appliedTensors)/\(report.totalTensors) tensors applied"
            if !report.unusedTensors.isEmpty {
                line += "; unused: " + report.unusedTensors.prefix(5).joined(separator: ", ") + (report.unusedTensors.count > 5 ? ", …" : "")
            }
            printError(line)
        }
        printError("stylus render: merged \(adapters.count) LoRA(s) in \(String(format: "%.2f", Date().timeIntervalSince(started))) s")
    }

    /// `stylus render --benchmark --checkpoint PATH [--size WxH] [--steps N]`: times N UNet
    /// evaluations (batch 2, as with CFG) and one VAE decode, and prints JSON with the peak RSS
    /// (benchmarks/render_bench.py compares it with diffusers).
    func runBenchmark() throws {
        guard let checkpoint else { printError("stylus render --benchmark: pass --checkpoint PATH"); throw CLIExit.badInput }
        if !loraDir.isEmpty { return try runLoRABenchmark(checkpoint) }
        let dims = size.flatMap(ImageSize.init(parsing:)) ?? ImageSize(width: 512, height: 512)
        let env = ProcessInfo.processInfo.environment
        let vocab = DataPaths(environment: env, homeDirectory: NSHomeDirectory()).clipVocabPath
        var cpu: [String: [Double]] = [:]  // CPU seconds (user + system) per phase: robust to shared cores
        func cpuSeconds() -> Double {
            var u = rusage()
            getrusage(RUSAGE_SELF.rawValue, &u)
            return Double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + Double(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6
        }
        func seconds(_ phase: String = "", _ body: () throws -> Void) rethrows -> Double {
            let t = Date(), c = cpuSeconds()
            try body()
            cpu[phase, default: []].append(cpuSeconds() - c)
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
                unetTimes.append(try seconds("unet") { _ = try pipeline.unet(x, timesteps: [500, 500], context: [ctx, ctx]) })
            }
            let z = Tensor(shape: [1, 4, h, w], data: rng.randn(count: 4 * h * w))
            let vae = try seconds("vae") { _ = try pipeline.vae(z) }
            var usage = rusage()
            getrusage(RUSAGE_SELF.rawValue, &usage)
            let json: [String: Any] = ["load_s": load, "unet_eval_s": unetTimes, "vae_decode_s": vae,
                                       "peak_rss_mb": Double(usage.ru_maxrss) / 1024, "size": "\(dims)",
                                       "unet_cpu_s": cpu["unet"] ?? [], "vae_cpu_s": cpu["vae"]?.first ?? 0]
            printOut(String(decoding: try JSONSerialization.data(withJSONObject: json, options: [.sortedKeys]), as: UTF8.self))
        } catch {
            printError("stylus render --benchmark: \(error)")
            throw CLIExit.runtimeFailure
        }
    }

    /// `stylus render --benchmark --checkpoint PATH --lora-dir DIR`: builds the pipeline, then merges
    /// every LoRA in DIR at multiplier 1 into its live weights (benchmarks/lora_bench.py), merges the
    /// same set again, switches to the set without the first file, reverts; prints the times as JSON.
    func runLoRABenchmark(_ checkpointPath: String) throws {
        var cpu: [String: Double] = [:]  // CPU seconds (user + system) per phase: robust to shared cores
        func cpuSeconds() -> Double {
            var u = rusage()
            getrusage(RUSAGE_SELF.rawValue, &u)
            return Double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + Double(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6
        }
        func seconds(_ phase: String = "", _ body: () throws -> Void) rethrows -> Double {
            let t = Date(), c = cpuSeconds()
            try body()
            cpu[phase + "_cpu_s"] = cpuSeconds() - c
            return Date().timeIntervalSince(t)
        }
        do {
            var ckpt: Checkpoint!
            let open = try seconds { ckpt = try Checkpoint(path: checkpointPath) }
            let env = ProcessInfo.processInfo.environment
            let vocab = DataPaths(environment: env, homeDirectory: NSHomeDirectory()).clipVocabPath
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
