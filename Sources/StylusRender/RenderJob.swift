import Foundation
import StylusCore

/// Settings given on top of a prompt file's frontmatter (CLI options, `stylus.render` overrides).
public struct RenderOverrides: Sendable, Equatable {
    public var checkpoint: String?
    public var steps: Int?
    public var cfg: Double?
    /// -1 for a random seed.
    public var seed: Int64?
    public var sampler: String?
    public var size: ImageSize?
    public var clipSkip: Int?
    public var negative: String?
    /// Mask strategy for variations: all, one_hot_loras, one_hot_concepts.
    public var masks: String?
    /// auto, bf16 or fp32 (`PrecisionSetting`); local renders only.
    public var precision: String?

    public init() {}
}

/// A render server: its kind and address.
public struct RemoteServer: Sendable, Equatable, Hashable, CustomStringConvertible {
    public enum Kind: String, Sendable, Hashable { case a1111, comfyui }
    public var kind: Kind
    public var url: URL

    public init(_ kind: Kind, _ url: URL) {
        self.kind = kind
        self.url = url
    }

    /// `host:port`, how progress names the server.
    public var label: String { (url.host ?? url.absoluteString) + (url.port.map { ":\($0)" } ?? "") }
    public var description: String { "\(kind.rawValue) \(url.absoluteString)" }
}

/// Where images are made: this process (the Swift CPU renderer), an A1111/Forge server, a ComfyUI
/// server, or several servers sharing the images of a job.
public enum RenderBackend: Sendable, Equatable {
    case local
    case a1111(url: URL)
    case comfyui(url: URL)
    /// Two or more servers; each renders one image at a time.
    case servers([RemoteServer])

    /// A1111's own default address.
    public static let defaultA1111URL = "http://127.0.0.1:7860"
    /// ComfyUI's own default address.
    public static let defaultComfyUIURL = "http://127.0.0.1:8188"

    /// The servers of a remote backend, none for `.local`.
    public var servers: [RemoteServer] {
        switch self {
        case .local: return []
        case .a1111(let url): return [RemoteServer(.a1111, url)]
        case .comfyui(let url): return [RemoteServer(.comfyui, url)]
        case .servers(let list): return list
        }
    }

    /// A backend setting (`RendererSetting`: `local`, `a1111`, `comfyui`, each with an optional
    /// URL, a URL alone for A1111, or several servers separated by commas). A kind without a URL
    /// takes `url` (A1111) or `comfyuiURLs` (ComfyUI, each one a server), else
    /// `$STYLUS_COMFYUI_URL`, else the kind's own default address. An error says what is wrong.
    public static func parse(_ setting: String?, url: String?, comfyuiURLs: [String] = [],
                             environment: [String: String] = ProcessInfo.processInfo.environment) -> Result<RenderBackend, RenderError> {
        let entries: [RendererSetting.Entry]
        switch RendererSetting.parse(setting ?? "local") {
        case .success(let e): entries = e
        case .failure(let e): return .failure(.invalidArgument(e.message))
        }
        var servers: [RemoteServer] = []
        func add(_ kind: RemoteServer.Kind, _ text: String) -> RenderError? {
            guard RendererSetting.isURL(text), let parsed = URL(string: text), parsed.host != nil else {
                let example = kind == .comfyui ? defaultComfyUIURL : defaultA1111URL
                return .invalidArgument("the \(kind.rawValue) backend needs the server's URL, e.g. \(example) (got '\(text)')")
            }
            let server = RemoteServer(kind, parsed)
            if !servers.contains(server) { servers.append(server) }
            return nil
        }
        for entry in entries {
            switch entry.kind {
            case .local: return .success(.local)
            case .a1111:
                if let e = add(.a1111, entry.url ?? url ?? defaultA1111URL) { return .failure(e) }
            case .comfyui:
                let urls = entry.url.map { [$0] } ?? (comfyuiURLs.isEmpty ? [environment["STYLUS_COMFYUI_URL"] ?? defaultComfyUIURL] : comfyuiURLs)
                for u in urls { if let e = add(.comfyui, u) { return .failure(e) } }
            }
        }
        switch servers.count {
        case 0: return .success(.local)
        case 1: return .success(servers[0].kind == .a1111 ? .a1111(url: servers[0].url) : .comfyui(url: servers[0].url))
        default: return .success(.servers(servers))
        }
    }
}

/// One request to render a prompt file. Front ends build it with `init(promptPath:text:options:defaults:)`,
/// which validates what they were given.
public struct RenderJob: Sendable {
    /// The prompt file; images go beside it.
    public var promptPath: String
    /// Its text (an editor's buffer may be newer than the file on disk).
    public var text: String
    public var overrides = RenderOverrides()
    /// The checkpoint when neither the overrides nor the frontmatter name one (the LSP setting).
    public var defaultCheckpoint: String?
    /// The precision when neither the overrides nor the frontmatter set one (the LSP setting);
    /// then `$STYLUS_PRECISION`, then auto.
    public var defaultPrecision: String?
    /// Run the composer first and render its prompt with `<lora:…>` tags.
    public var compose = false
    /// How many images; with `compose`, each gets its own sampled mask (the paper's diversity).
    public var variations = 1
    /// Seed of mask sampling (default: the image seed).
    public var maskSeed: UInt64?
    /// LoRA folders besides the frontmatter's `lora_dirs`.
    public var loraDirs: [String] = []
    /// Composing settings over the frontmatter's (base model, NSFW, debias, restore concepts).
    public var composeOverrides = ComposeOverrides()
    /// The base model when neither `composeOverrides` nor the frontmatter name one.
    public var defaultBaseModel: BaseModel?
    /// An explicit output path (CLI `--out`); still never overwritten.
    public var output: String?
    public var backend = RenderBackend.local

    /// How many images one job may render.
    public static let variationLimits = 1...64

    public init(promptPath: String, text: String) {
        self.promptPath = promptPath
        self.text = text
    }

    /// A validated job from what a front end was given: `options` over the frontmatter over
    /// `defaults`. Throws `RenderError.invalidArgument` naming the bad value.
    public init(promptPath: String, text: String, options: RenderJobOptions, defaults: RenderDefaults = RenderDefaults()) throws {
        self.init(promptPath: promptPath, text: text)
        overrides = options.overrides
        compose = options.compose || options.variations > 1
        variations = options.variations
        maskSeed = options.maskSeed
        loraDirs = options.loraDirs + defaults.loraDirs
        composeOverrides = options.composeOverrides
        defaultBaseModel = defaults.baseModel
        defaultCheckpoint = defaults.checkpoint
        defaultPrecision = defaults.precision
        output = options.output
        switch RenderBackend.parse(options.backend ?? PromptFile(text: text).settings.renderer ?? defaults.renderer, url: options.a1111URL,
                                   comfyuiURLs: options.comfyuiURLs) {
        case .success(let b): backend = b
        case .failure(let e): throw e
        }
        try validate()
    }

    /// The checks every job passes before it renders.
    public func validate() throws {
        guard Self.variationLimits.contains(variations) else {
            throw RenderError.invalidArgument("variations must be between \(Self.variationLimits.lowerBound) and \(Self.variationLimits.upperBound), got \(variations)")
        }
        if let p = overrides.precision { _ = try PrecisionSetting.parse(p) }
        if let masks = overrides.masks, MaskStrategy(name: masks) == nil {
            throw RenderError.invalidArgument("unknown masks '\(masks)'; use all, one_hot_loras or one_hot_concepts")
        }
    }

    /// The prompt file with this job's composing settings.
    public var prompt: PromptRequest {
        PromptRequest(text: text, overrides: composeOverrides, defaultBaseModel: defaultBaseModel)
    }
}

/// What a front end asks of a render (CLI options, `stylus.render` arguments), before validation.
public struct RenderJobOptions: Sendable {
    public var overrides = RenderOverrides()
    public var compose = false
    /// More than one implies `compose`.
    public var variations = 1
    public var maskSeed: UInt64?
    public var composeOverrides = ComposeOverrides()
    public var loraDirs: [String] = []
    public var output: String?
    /// A backend setting (`RenderBackend.parse`); nil: the frontmatter's `renderer`, else the default.
    public var backend: String?
    public var a1111URL: String?
    /// ComfyUI servers for a `comfyui` backend without a URL (each one a server).
    public var comfyuiURLs: [String] = []

    public init() {}
}

/// A front end's own settings, below the frontmatter (the editor's `checkpoint`, `renderer`,
/// `loraDirs` and `baseModel` settings; none on the command line).
public struct RenderDefaults: Sendable {
    public var checkpoint: String?
    public var renderer: String?
    public var loraDirs: [String] = []
    public var baseModel: BaseModel?
    /// auto, bf16 or fp32, below the frontmatter's `precision`.
    public var precision: String?

    public init(checkpoint: String? = nil, renderer: String? = nil, loraDirs: [String] = [], baseModel: BaseModel? = nil,
                precision: String? = nil) {
        self.precision = precision
        self.checkpoint = checkpoint
        self.renderer = renderer
        self.loraDirs = loraDirs
        self.baseModel = baseModel
    }
}

public enum RenderStage: String, Sendable, CaseIterable {
    case compose = "Composing adapters"
    case loadCheckpoint = "Loading checkpoint"
    case mergeLoRAs = "Merging LoRAs"
    case encode = "Encoding prompt"
    case sample = "Sampling"
    case decode = "Decoding"
    case remote = "Rendering on the server"
    case write = "Writing PNG"
}

/// Progress of a job, reported as stages begin and after every sampler step.
public struct RenderEvent: Sendable, Equatable {
    public var stage: RenderStage
    /// Sampler step (1-based) and total, for `.sample` (and `.remote` when the server says).
    public var step = 0, steps = 0
    /// Which image (1-based) of how many.
    public var variation = 1, variations = 1
    /// Done so far, 0...1, over the whole job.
    public var fraction = 0.0
    /// The render server of a remote stage (`host:port`), when the job uses more than one.
    public var server: String?

    public init(stage: RenderStage, step: Int = 0, steps: Int = 0, variation: Int = 1, variations: Int = 1,
                fraction: Double = 0, server: String? = nil) {
        self.stage = stage
        self.step = step
        self.steps = steps
        self.variation = variation
        self.variations = variations
        self.fraction = fraction
        self.server = server
    }

    /// "Sampling step 3/20 (image 2/4)".
    public var message: String {
        var text = stage.rawValue
        if steps > 0 { text += " step \(step)/\(steps)" }
        if variations > 1 { text += " (image \(variation)/\(variations))" }
        if let server { text += " on \(server)" }
        return text
    }
}

/// Set from any thread; the render stops at the next check (at the latest after the current sampler step).
public final class RenderCancellation: @unchecked Sendable {
    private let lock = NSLock()
    private var cancelled = false
    private var observers: [@Sendable () -> Void] = []
    public init() {}
    public func cancel() {
        lock.lock()
        let run = cancelled ? [] : observers
        cancelled = true
        observers = []
        lock.unlock()
        for f in run { f() }
    }
    /// Runs `f` once when the render is cancelled (at once if it already is), on the cancelling thread.
    public func onCancel(_ f: @escaping @Sendable () -> Void) {
        lock.lock()
        if cancelled {
            lock.unlock()
            f()
            return
        }
        observers.append(f)
        lock.unlock()
    }
    public var isCancelled: Bool { lock.lock(); defer { lock.unlock() }; return cancelled }
    public func check() throws { if isCancelled { throw RenderCancelled() } }
}

public struct RenderCancelled: Error, CustomStringConvertible, Equatable {
    public init() {}
    public var description: String { "render cancelled" }
}

/// One written image.
public struct RenderedImage: Sendable {
    public var path: String
    /// The A1111 `parameters` text stored in the PNG.
    public var parameters: String
    /// The positive prompt as rendered, with its `<lora:…>` tags.
    public var prompt: String
    public var seed: UInt64
    /// LoRAs applied: tag name, file, A1111 short hash (nil when no local file, e.g. on A1111).
    public var adapters: [(name: String, path: String?, hash: String?)]
    /// Seconds per stage: load, merge, encode, sample, decode, remote, write.
    public var timings: [String: Double]
    /// The checkpoint was already loaded (warm) when this image started.
    public var checkpointWasWarm: Bool
}

public struct RenderOutcome: Sendable {
    public var images: [RenderedImage]
    public var composed: ComposeOutcome?
    /// Seconds spent composing (once per job).
    public var composeSeconds: Double
    /// Problems that did not stop the render (e.g. a composed adapter without a local file).
    public var warnings: [String]
}

/// The frontmatter and overrides turned into sampler settings (the part of a job that is not prompt text).
struct RenderPlan {
    var checkpoint: String?
    var template: RenderRequest
    var negativeText: String
    var samplerLabel: String
    var loraDirs: [String]
    /// What a local render multiplies in (`auto` resolved for this machine).
    var precision: ComputePrecision

    init(_ job: RenderJob, _ file: PromptFile) throws {
        let s = file.settings, o = job.overrides
        let dir = URL(fileURLWithPath: job.promptPath).deletingLastPathComponent().path
        let environment = ProcessInfo.processInfo.environment
        func expand(_ p: String) -> String { DataPaths.expandingTilde(p, environment: environment) }
        func resolve(_ p: String) -> String {
            let expanded = expand(p)
            return expanded.hasPrefix("/") ? expanded : dir + "/" + expanded
        }
        func bad(_ message: String) -> RenderError { .invalidArgument("\(job.promptPath): \(message)") }
        // A setting the file states but that could not be read is not replaced by its default in
        // silence: the render stops where `stylus check` and the editor show an error.
        if let problem = file.diagnostics.first(where: { $0.code == .frontmatter && $0.severity == .error }) {
            throw RenderError.invalidArgument("\(job.promptPath):\(problem.range.lsp.start): \(problem.message) "
                                   + "Fix the frontmatter and render again (`stylus check` lists every problem).")
        }
        if let c = o.checkpoint { checkpoint = expand(c) }
        else if let c = s.checkpoint { checkpoint = resolve(c) }
        else { checkpoint = job.defaultCheckpoint.map(expand) }
        let samplerName = o.sampler ?? s.sampler ?? "Euler a"
        guard let parsed = SamplerKind.parse(samplerName) else {
            throw bad("unknown sampler '\(samplerName)'; use Euler, Euler a, DPM++ 2M, DPM++ 2M Karras, DDIM or LCM")
        }
        let kind = parsed.0
        var spacing = parsed.1
        if o.sampler == nil, s.scheduler?.lowercased() == "karras" { spacing = .karras }
        var r = RenderRequest(prompt: [])
        r.sampler = kind
        r.spacing = spacing
        r.steps = o.steps ?? s.steps ?? 20
        r.cfgScale = o.cfg ?? s.cfg ?? 7
        r.clipSkip = o.clipSkip ?? s.clipSkip ?? 1
        r.prediction = s.prediction.map { $0 == "v" ? .v : .epsilon }
        if let size = o.size ?? s.size { (r.width, r.height) = (size.width, size.height) }
        let seed = o.seed ?? s.seed.map(Int64.init) ?? -1
        r.seed = seed < 0 ? UInt64(UInt32.random(in: 0...UInt32.max)) : UInt64(seed)
        do { try r.validate() } catch { throw bad("\(error)") }
        negativeText = o.negative ?? file.negativeText ?? ""
        r.negative = A1111Prompt(negativeText, isNegative: true, steps: r.steps).fragments()
        template = r
        samplerLabel = kind.label(spacing)
        loraDirs = job.loraDirs.map(expand) + (s.loraDirs ?? []).map(resolve)
        let precisionName = o.precision ?? s.precision ?? job.defaultPrecision ?? environment["STYLUS_PRECISION"] ?? "auto"
        do { precision = try PrecisionSetting.parse(precisionName).resolved() } catch { throw bad("\(error)") }
    }
}
