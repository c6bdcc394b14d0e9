import Foundation
import StylusCore
import StylusML

/// Renders prompt files: compose → resolve LoRAs → merge → encode → sample → decode → PNG, with
/// stage events and cancellation. Checkpoints stay loaded between jobs (keyed by path, size and
/// mtime, least recently used dropped beyond `cacheLimitBytes`); a job with other adapters only
/// re-merges them into the warm checkpoint. Jobs run one at a time (they share the CPU and the
/// warm weights); waiting jobs can be cancelled. No printing: callers show events.
public final class RenderSession: @unchecked Sendable {
    public struct Configuration: Sendable {
        /// The CLIP BPE vocabulary (local backend).
        public var vocabularyPath: String
        /// Memory the warm checkpoints may keep (Float32 weights); 0 keeps none between jobs.
        public var cacheLimitBytes: Int
        /// Longest wait for a render server: an A1111 answer, or a ComfyUI message while our prompt
        /// runs (`$STYLUS_SERVER_TIMEOUT` seconds in `installed()`, default 600).
        public var a1111Timeout: TimeInterval = 600
        /// A JSON file remembering checkpoint hashes by path, size and mtime (hashing a 2 GB file
        /// takes seconds); nil hashes every time a checkpoint is loaded.
        public var hashCachePath: String?

        public init(vocabularyPath: String, cacheLimitBytes: Int = Configuration.defaultCacheLimit()) {
            self.vocabularyPath = vocabularyPath
            self.cacheLimitBytes = cacheLimitBytes
        }

        /// The installed vocabulary and the data directory's model-hash cache: what the CLI and
        /// the language server render with.
        public static func installed(environment: [String: String] = ProcessInfo.processInfo.environment) -> Configuration {
            let paths = DataPaths(environment: environment)
            var configuration = Configuration(vocabularyPath: paths.clipVocabPath,
                                              cacheLimitBytes: defaultCacheLimit(environment: environment))
            configuration.hashCachePath = paths.modelHashCachePath
            if let seconds = environment["STYLUS_SERVER_TIMEOUT"].flatMap(Double.init), seconds > 0, seconds.isFinite {
                configuration.a1111Timeout = seconds
            }
            return configuration
        }

        /// `$STYLUS_RENDER_CACHE_MB`, else half the machine's memory.
        public static func defaultCacheLimit(environment: [String: String] = ProcessInfo.processInfo.environment) -> Int {
            if let mb = environment["STYLUS_RENDER_CACHE_MB"].flatMap(Int.init), mb >= 0 { return mb << 20 }
            return Int(ProcessInfo.processInfo.physicalMemory / 2)
        }
    }

    public let configuration: Configuration
    private let gate = NSCondition()
    private var busy = false
    private let lock = NSLock()
    private var warm: [WarmModel] = []  // least recently used first
    private var tokenizer: ClipTokenizer?
    private var loraHashes: [String: String] = [:]  // "path|mtime" → short hash
    private var loads = 0

    public init(configuration: Configuration) { self.configuration = configuration }

    /// How many times a checkpoint was loaded (built into models) so far.
    public var checkpointLoads: Int { lock.lock(); defer { lock.unlock() }; return loads }

    /// Paths of the checkpoints kept warm, least recently used first.
    public var warmCheckpoints: [String] { lock.lock(); defer { lock.unlock() }; return warm.map(\.key.path) }

    // MARK: Jobs

    public func render(_ job: RenderJob, composer: RenderComposer? = nil, cancellation: RenderCancellation = RenderCancellation(),
                       events: @escaping (RenderEvent) -> Void = { _ in }) throws -> RenderOutcome {
        try job.validate()
        try acquire(cancellation)
        defer { release() }
        let request = job.prompt
        let file = request.file
        let plan = try RenderPlan(job, file)
        var outcome = RenderOutcome(images: [], composed: nil, composeSeconds: 0, warnings: [])
        if let negative = file.negative, negative.tags.contains(where: \.isLoRA) {
            outcome.warnings.append("<lora:…> tags in the negative prompt are ignored")
        }

        // Prompts, one per image.
        let n = job.variations
        var prompts = Array(repeating: request.writtenPrompt, count: n)
        let library = LoRALibrary(directories: plan.loraDirs)
        let needFiles = job.backend.servers.isEmpty  // a local render reads every LoRA from disk
        if job.compose {
            guard let composer else {
                throw RenderError.invalidArgument("composing needs the adapter catalog; none is open")
            }
            events(RenderEvent(stage: .compose, variations: n))
            let started = Date()
            // A local render composes from installed adapters only (docs/CONTRACTS.md, "Installed and
            // known adapters"): a known adapter without a file could only be dropped or refused later.
            let composed = try needFiles ? (composer.composeInstalled?(request, library.names) ?? composer.compose(request))
                : composer.compose(request)
            if n == 1 {
                prompts = [request.composedPrompt(composed.composition)]
            } else {
                let name = job.overrides.masks ?? file.settings.masks ?? MaskStrategy.oneHotLoras.rawValue
                guard let strategy = MaskStrategy(name: name) else {
                    throw RenderError.invalidArgument("\(job.promptPath): unknown masks '\(name)'; use all, one_hot_loras or one_hot_concepts")
                }
                let masks = Masks.sample(strategy, adapterCounts: composed.composition.topics.map(\.adapters.count), samples: n,
                                         seed: job.maskSeed ?? plan.template.seed)
                prompts = masks.map { request.composedPrompt(composed.composition, mask: $0) }
            }
            outcome.composed = composed
            outcome.composeSeconds = Date().timeIntervalSince(started)
        }
        try cancellation.check()

        let written = file.positive.tags.filter(\.isLoRA)
        let servers = job.backend.servers
        var items: [RemoteItem] = []
        for (i, composedPrompt) in prompts.enumerated() {
            var request = plan.template
            request.seed = plan.template.seed &+ UInt64(i)  // A1111 batches: seed, seed+1, …
            let (prompt, adapters) = try resolveLoRAs(composedPrompt, written: written, library: library, composer: composer,
                                                      needFiles: needFiles)
            if servers.isEmpty {
                let progress = StageReporter(variation: i + 1, of: n, events: events)
                outcome.images.append(try renderLocally(request, prompt: prompt, adapters: adapters, plan: plan, job: job,
                                                        cancellation: cancellation, progress: progress))
            } else {
                items.append(RemoteItem(index: i, request: request, prompt: prompt, adapters: adapters))
            }
        }
        if !servers.isEmpty {
            let (images, warnings) = try renderOnServers(items, servers: servers, plan: plan, job: job,
                                                         cancellation: cancellation, events: events)
            outcome.images = images
            outcome.warnings += warnings
        }
        return outcome
    }

    private func acquire(_ cancellation: RenderCancellation) throws {
        gate.lock(); defer { gate.unlock() }
        while busy {
            try cancellation.check()
            _ = gate.wait(until: Date().addingTimeInterval(0.05))
        }
        try cancellation.check()
        busy = true
    }

    private func release() {
        gate.lock(); busy = false; gate.broadcast(); gate.unlock()
    }

    /// Turns stage/step positions of one image into job-wide events.
    private struct StageReporter {
        let variation: Int, of: Int
        let events: (RenderEvent) -> Void
        // Share of one image's time per stage (local renders; sampling dominates).
        static let start: [RenderStage: Double] = [.loadCheckpoint: 0, .mergeLoRAs: 0.08, .encode: 0.12, .sample: 0.15,
                                                   .remote: 0.05, .decode: 0.9, .write: 0.98]
        func callAsFunction(_ stage: RenderStage, step: Int = 0, steps: Int = 0) {
            var within = Self.start[stage] ?? 0
            if (stage == .sample || stage == .remote), steps > 0 {
                within += (stage == .sample ? 0.75 : 0.9) * Double(step) / Double(steps)
            }
            let fraction = (Double(variation - 1) + within) / Double(of)
            events(RenderEvent(stage: stage, step: step, steps: steps, variation: variation, variations: of, fraction: fraction))
        }
    }

    // MARK: LoRAs

    struct Adapter: Equatable {
        var name: String
        var path: String?
        var textEncoder: Float
        var unet: Float
    }

    /// The LoRAs of one image → files (the catalog's `file` first, then the LoRA folders), repeated
    /// files adding their multipliers: first the tags the user wrote (`written`, which must
    /// resolve), then the composed adapters. For local renders every adapter needs a local file:
    /// without one the render is refused with the names of the missing files and how to fix it
    /// (nothing is left out silently); a remote server resolves names itself. Returns the prompt
    /// text to render and the adapters with their files.
    func resolveLoRAs(_ prompt: ComposedPrompt, written: [ExtraNetworkTag], library: LoRALibrary, composer: RenderComposer?,
                      needFiles: Bool) throws -> (String, [Adapter]) {
        var adapters: [Adapter] = []
        func file(_ name: String) -> String? {
            let fromCatalog = composer?.adapterFile(name).map { DataPaths.expandingTilde($0, environment: ProcessInfo.processInfo.environment) }
            // A card's `file` counts only as a regular .safetensors file (a card may name anything).
            return fromCatalog.flatMap { $0.lowercased().hasSuffix(".safetensors") && RegularFile.problem(at: $0) == nil ? $0 : nil }
                ?? library.resolve(name)
        }
        func add(_ name: String, _ path: String?, textEncoder: Float, unet: Float) {
            if let path, let i = adapters.firstIndex(where: { $0.path == path }) {
                adapters[i].textEncoder += textEncoder
                adapters[i].unet += unet
            } else {
                adapters.append(Adapter(name: name, path: path, textEncoder: textEncoder, unet: unet))
            }
        }
        var folders: String {
            library.directories.isEmpty ? "no LoRA folder is configured"
                : "not in \(library.directories.joined(separator: ", "))" + library.notes.prefix(3).map { "; \($0)" }.joined()
        }
        for tag in written {
            guard let te = tag.textEncoderWeight, let unet = tag.unetWeight, te.isFinite, unet.isFinite else {
                throw RenderError.invalidArgument("<lora:\(tag.name):…> has a multiplier that is not a number")
            }
            let path = file(tag.name)
            if path == nil && needFiles {
                throw RenderError.invalidArgument("no LoRA file for <lora:\(tag.name):…> (a file \(tag.name).safetensors or one whose ss_output_name is \(tag.name)): \(folders); put it in a LoRA folder (the loraDirs setting, lora_dirs in the frontmatter or --lora-dir) or remove the tag")
            }
            add(tag.name, path, textEncoder: Float(te), unet: Float(unet))
        }
        var missing: [String] = []
        for a in prompt.adapters {
            let path = file(a.alias)
            if path == nil && needFiles { missing.append(a.alias); continue }
            add(a.alias, path, textEncoder: Float(a.weight), unet: Float(a.weight))
        }
        if !missing.isEmpty {
            throw RenderError.invalidArgument("composed adapter\(missing.count == 1 ? "" : "s") "
                + missing.map { "'\($0)'" }.joined(separator: ", ") + " \(missing.count == 1 ? "has" : "have") no local file "
                + "(\(missing.map { "\($0).safetensors" }.joined(separator: ", ")): \(folders)); put the file\(missing.count == 1 ? "" : "s") "
                + "in a LoRA folder (the loraDirs setting, lora_dirs in the frontmatter or --lora-dir), or render without composing")
        }
        return (prompt.text(), adapters)
    }

    /// A1111's short hash per LoRA file, cached by path and mtime.
    private func hash(_ path: String) -> String? {
        let mtime = (try? FileManager.default.attributesOfItem(atPath: path)[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0
        let key = "\(path)|\(mtime)"
        lock.lock()
        if let h = loraHashes[key] { lock.unlock(); return h }
        lock.unlock()
        guard let h = try? LoRAFile(path: path).addnetShortHash() else { return nil }
        lock.lock(); loraHashes[key] = h; lock.unlock()
        return h
    }

    // MARK: Local backend

    /// A loaded checkpoint with its models and the LoRA set merged into them.
    final class WarmModel {
        struct Key: Equatable { var path: String; var size: Int; var mtime: Double; var precision: ComputePrecision }
        let key: Key
        let checkpoint: Checkpoint
        let merger: LoRAMerger
        var pipeline: Pipeline?
        var merged: [Adapter] = []
        var modelHash: String?
        let bytes: Int

        init(key: Key, checkpoint: Checkpoint) {
            self.key = key
            self.checkpoint = checkpoint
            merger = LoRAMerger(checkpoint: checkpoint)
            bytes = checkpoint.names.reduce(0) { $0 + 4 * (checkpoint.shape($1)?.reduce(1, *) ?? 0) }
        }
    }

    static func key(_ path: String, precision: ComputePrecision) throws -> WarmModel.Key {
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path) else {
            throw RenderError.unreadableFile(path: path, reason: "no such checkpoint file or folder")
        }
        var size = (attributes[.size] as? NSNumber)?.intValue ?? 0
        var mtime = (attributes[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0
        if (attributes[.type] as? FileAttributeType) == .typeDirectory {
            // A diffusers folder: its weight files decide.
            for part in ["unet/diffusion_pytorch_model", "vae/diffusion_pytorch_model", "text_encoder/model"] {
                for ext in [".safetensors", ".fp16.safetensors"] {
                    guard let a = try? FileManager.default.attributesOfItem(atPath: "\(path)/\(part)\(ext)") else { continue }
                    size += (a[.size] as? NSNumber)?.intValue ?? 0
                    mtime = max(mtime, (a[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0)
                }
            }
        }
        return WarmModel.Key(path: path, size: size, mtime: mtime, precision: precision)
    }

    /// The warm model for `path` (loading it if needed), most recently used from now on.
    private func model(_ path: String, precision: ComputePrecision, progress: StageReporter,
                       timings: inout [String: Double]) throws -> (WarmModel, Bool) {
        let key = try Self.key(path, precision: precision)
        lock.lock()
        // The file changed on disk, or the render asks for the other precision (one copy of the
        // weights stays warm per file).
        warm.removeAll { $0.key.path == path && $0.key != key }
        if let i = warm.firstIndex(where: { $0.key == key }) {
            let m = warm.remove(at: i)
            warm.append(m)
            lock.unlock()
            if m.pipeline != nil { return (m, true) }
            progress(.loadCheckpoint)
            let t = Date()
            m.pipeline = try Pipeline(checkpoint: m.checkpoint, tokenizer: try loadTokenizer(), vae: nil)
            timings["load", default: 0] += Date().timeIntervalSince(t)
            return (m, false)
        }
        lock.unlock()
        progress(.loadCheckpoint)
        let t = Date()
        let tokenizer = try loadTokenizer()
        let m = WarmModel(key: key, checkpoint: try Checkpoint(path: path, precision: precision))
        evict(keeping: m.bytes)  // make room first: two full checkpoints at once may not fit
        m.pipeline = try Pipeline(checkpoint: m.checkpoint, tokenizer: tokenizer, vae: nil)
        timings["load"] = Date().timeIntervalSince(t)
        if m.checkpoint.layout == .singleFile {  // A1111's "Model hash": once per warm model
            let h = Date()
            m.modelHash = modelHash(path, key: key)
            timings["hash"] = Date().timeIntervalSince(h)
        }
        lock.lock()
        loads += 1
        warm.append(m)
        lock.unlock()
        return (m, false)
    }

    /// A1111's model hash, from the cache file when the checkpoint is unchanged.
    private func modelHash(_ path: String, key: WarmModel.Key) -> String? {
        let id = "\(key.path)|\(key.size)|\(key.mtime)"
        var cache: [String: String] = [:]
        if let file = configuration.hashCachePath, let data = FileManager.default.contents(atPath: file) {
            cache = (try? JSONSerialization.jsonObject(with: data) as? [String: String]) ?? [:]
            if let h = cache[id] { return h }
        }
        guard let hash = try? SHA256.a1111ModelHash(path) else { return nil }
        if let file = configuration.hashCachePath {
            cache = cache.filter { !$0.key.hasPrefix(key.path + "|") }  // older versions of the file
            cache[id] = hash
            try? FileManager.default.createDirectory(atPath: (file as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            if let data = try? JSONSerialization.data(withJSONObject: cache, options: [.sortedKeys]) {
                try? data.write(to: URL(fileURLWithPath: file), options: .atomic)
            }
        }
        return hash
    }

    /// Drops least recently used models until `incoming` more bytes fit under the limit.
    private func evict(keeping incoming: Int) {
        lock.lock(); defer { lock.unlock() }
        while !warm.isEmpty, warm.reduce(incoming, { $0 + $1.bytes }) > configuration.cacheLimitBytes {
            warm.removeFirst()
        }
    }

    private func loadTokenizer() throws -> ClipTokenizer {
        lock.lock()
        if let tokenizer { lock.unlock(); return tokenizer }
        lock.unlock()
        let t = try ClipTokenizer(vocabularyPath: configuration.vocabularyPath)
        lock.lock(); tokenizer = t; lock.unlock()
        return t
    }

    private func renderLocally(_ request: RenderRequest, prompt: String, adapters: [Adapter], plan: RenderPlan, job: RenderJob,
                               cancellation: RenderCancellation, progress: StageReporter) throws -> RenderedImage {
        guard let ckpt = plan.checkpoint else {
            throw RenderError.invalidArgument("\(job.promptPath): no checkpoint: set 'checkpoint:' in the frontmatter or the checkpoint setting")
        }
        var timings: [String: Double] = [:]
        let (model, wasWarm) = try self.model(ckpt, precision: plan.precision, progress: progress, timings: &timings)
        defer { evict(keeping: 0) }  // the limit may be below one model: then nothing stays warm
        try cancellation.check()

        // Merge only when the set changed; the merger recomputes from the original weights, so
        // switching sets is exact and the checkpoint is never reopened.
        if model.merged != adapters {
            progress(.mergeLoRAs)
            let t = Date()
            let files = try adapters.map { try LoRAFile(path: $0.path!) }
            if adapters.isEmpty {
                model.merger.revert()
            } else {
                try model.merger.apply(zip(adapters, files).map { LoRAApplication(file: $1, textEncoder: $0.textEncoder, unet: $0.unet) })
            }
            // The pipeline's layers share the checkpoint's live weight buffers, which the merger
            // patched in place: no rebuild is needed to see the merge.
            model.merged = adapters
            timings["merge"] = Date().timeIntervalSince(t)
        }
        guard let pipeline = model.pipeline else { throw RenderError.invalidArgument("internal: no pipeline") }
        try cancellation.check()

        var r = request
        r.prompt = A1111Prompt(prompt, steps: r.steps).fragments()
        progress(.encode)
        var t = Date()
        let conditioning = try pipeline.encode(r)
        timings["encode"] = Date().timeIntervalSince(t)
        try cancellation.check()

        progress(.sample, step: 0, steps: r.steps)
        t = Date()
        let latent = try pipeline.sample(r, conditioning) { step, steps in
            progress(.sample, step: step, steps: steps)
            if step < steps { try cancellation.check() }
        }
        timings["sample"] = Date().timeIntervalSince(t)
        try cancellation.check()

        progress(.decode)
        t = Date()
        let image = try pipeline.decode(latent, r)
        timings["decode"] = Date().timeIntervalSince(t)

        var params = parameters(r, prompt: prompt, plan: plan, adapters: adapters)
        params.modelHash = model.modelHash
        params.precision = plan.precision.rawValue
        params.modelName = URL(fileURLWithPath: ckpt).deletingPathExtension().lastPathComponent
        progress(.write)
        t = Date()
        let path = try RenderOutput.writeNew(try PNGWriter.encode(image, text: [("parameters", params.infotext)]),
                                             beside: job.promptPath, explicit: job.output)
        timings["write"] = Date().timeIntervalSince(t)
        return RenderedImage(path: path, parameters: params.infotext, prompt: prompt, seed: r.seed,
                             adapters: adapters.map { ($0.name, $0.path, $0.path.flatMap(hash)) },
                             timings: timings, checkpointWasWarm: wasWarm)
    }

    private func parameters(_ r: RenderRequest, prompt: String, plan: RenderPlan, adapters: [Adapter]) -> RenderParameters {
        var params = RenderParameters(prompt: prompt, negativePrompt: plan.negativeText, steps: r.steps, sampler: plan.samplerLabel,
                                      cfgScale: r.cfgScale, seed: r.seed, width: r.width, height: r.height)
        params.clipSkip = r.clipSkip
        params.loraHashes = adapters.compactMap { a in a.path.flatMap(hash).map { (a.name, $0) } }
        return params
    }

    // MARK: Render servers

    /// One image for a server: its sampler settings, prompt text (with `<lora:…>` tags) and LoRAs.
    struct RemoteItem {
        var index: Int
        var request: RenderRequest
        var prompt: String
        var adapters: [Adapter]
    }

    /// The images of a job on one or more servers (`ServerPool`): each server renders one image at a
    /// time; a server that fails is dropped for the job and its image goes to another; files are
    /// written in image order, so the names are those a single server gives.
    private func renderOnServers(_ items: [RemoteItem], servers: [RemoteServer], plan: RenderPlan, job: RenderJob,
                                 cancellation: RenderCancellation, events: @escaping (RenderEvent) -> Void) throws -> ([RenderedImage], [String]) {
        let timeout = configuration.a1111Timeout
        let comfy = Dictionary(uniqueKeysWithValues: servers.filter { $0.kind == .comfyui }.map {
            ($0, ComfyUIBackend(baseURL: $0.url, timeout: timeout))
        })
        let pool = ServerPool(count: items.count, servers: servers, cancellation: cancellation, events: events)
        let images = try pool.run(
            work: { server, index, progress, warn in
                let item = items[index]
                switch server.kind {
                case .a1111:
                    return try self.renderOnA1111(item, url: server.url, plan: plan, cancellation: cancellation, progress: progress)
                case .comfyui:
                    return try self.renderOnComfyUI(item, backend: comfy[server]!, plan: plan, cancellation: cancellation,
                                                    progress: progress, warn: warn)
                }
            },
            write: { produced in
                var image = produced.image
                image.path = try RenderOutput.writeNew(produced.png, beside: job.promptPath, explicit: job.output)
                return image
            })
        return (images, pool.warnings)
    }

    private func renderOnA1111(_ item: RemoteItem, url: URL, plan: RenderPlan, cancellation: RenderCancellation,
                               progress: @escaping (RenderStage, Int, Int) -> Void) throws -> ServerPool.Produced {
        let backend = A1111Backend(baseURL: url, timeout: configuration.a1111Timeout)
        var timings: [String: Double] = [:]
        let t = Date()
        progress(.remote, 0, 0)
        // The server knows its models by title or file name, not by our path.
        let checkpoint = plan.checkpoint.map { URL(fileURLWithPath: $0).lastPathComponent }
        if let checkpoint { try backend.selectCheckpoint(checkpoint, cancellation: cancellation) }
        let result = try backend.txt2img(item.request, prompt: item.prompt, negative: plan.negativeText, sampler: plan.samplerLabel,
                                         checkpoint: checkpoint, cancellation: cancellation) { step, steps in progress(.remote, step, steps) }
        timings["remote"] = Date().timeIntervalSince(t)
        var r = item.request
        if let seed = result.seed, seed >= 0 { r.seed = UInt64(seed) }
        var params = parameters(r, prompt: item.prompt, plan: plan, adapters: item.adapters)
        params.modelName = plan.checkpoint.map { URL(fileURLWithPath: $0).deletingPathExtension().lastPathComponent }
        var png = result.png
        var infotext = PNGText.textChunks(png)["parameters"] ?? result.infotext
        if PNGText.textChunks(png)["parameters"] == nil {
            let text = result.infotext ?? params.infotext
            png = PNGText.adding("parameters", text, to: png) ?? png
            infotext = text
        }
        let image = RenderedImage(path: "", parameters: infotext ?? params.infotext, prompt: item.prompt, seed: r.seed,
                                  adapters: item.adapters.map { ($0.name, $0.path, $0.path.flatMap(hash)) },
                                  timings: timings, checkpointWasWarm: false)
        return ServerPool.Produced(png: png, image: image)
    }

    private func renderOnComfyUI(_ item: RemoteItem, backend: ComfyUIBackend, plan: RenderPlan, cancellation: RenderCancellation,
                                 progress: @escaping (RenderStage, Int, Int) -> Void, warn: (String) -> Void) throws -> ServerPool.Produced {
        var timings: [String: Double] = [:]
        let t = Date()
        progress(.remote, 0, 0)
        let loras = item.adapters.map {
            ComfyUIBackend.LoRA(name: $0.name, localPath: $0.path, localHash: $0.path.flatMap(hash), unet: $0.unet, textEncoder: $0.textEncoder)
        }
        let result = try backend.txt2img(item.request, prompt: item.prompt, negative: plan.negativeText, checkpoint: plan.checkpoint,
                                         loras: loras, cancellation: cancellation, warn: warn) { step, steps in progress(.remote, step, steps) }
        timings["remote"] = Date().timeIntervalSince(t)
        var params = parameters(item.request, prompt: item.prompt, plan: plan, adapters: item.adapters)
        params.modelName = URL(fileURLWithPath: result.checkpoint).deletingPathExtension().lastPathComponent
        // ComfyUI's own `prompt` chunk (the workflow it ran) stays; A1111's `parameters` is added.
        let png = PNGText.adding("parameters", params.infotext, to: result.png) ?? result.png
        let image = RenderedImage(path: "", parameters: params.infotext, prompt: item.prompt, seed: item.request.seed,
                                  adapters: item.adapters.map { ($0.name, $0.path, $0.path.flatMap(hash)) },
                                  timings: timings, checkpointWasWarm: false)
        return ServerPool.Produced(png: png, image: image)
    }
}
