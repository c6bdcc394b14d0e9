import Foundation
import MCP
import StylusCatalog
import StylusCore
import StylusML
import StylusRender

/// `render_image`: a render job from the arguments, run on a thread of its own with progress
/// notifications and cancellation, written as a new `<stem>-<n>.png` (never over a file).
extension StylusTools {
    /// Longest side of the thumbnail returned as image content.
    static let thumbnailSide = 128


    /// The job the arguments describe, or a problem naming what to send instead.
    func renderJob(_ a: ToolArguments) throws -> RenderJob {
        let fileText = try a.string("prompt_file_text"), bare = try a.string("prompt"), promptPath = try a.string("prompt_path")
        if fileText != nil && bare != nil {
            throw ToolArguments.Problem(description: "render_image: pass either 'prompt_file_text' or 'prompt', not both")
        }
        var location: String
        var text: String
        if let promptPath {
            let path = DataPaths.expandingTilde(promptPath, environment: configuration.environment)
            guard path.hasPrefix("/") else {
                throw a.problem("prompt_path", "an absolute path to an existing .sdprompt file, got '\(promptPath)'")
            }
            if let problem = RegularFile.problem(at: path) {
                throw ToolArguments.Problem(description: "render_image: prompt_path \(path): \(problem); images are written beside an existing prompt file")
            }
            location = path
            if let given = fileText ?? bare {
                text = given
            } else {
                do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
                    throw ToolArguments.Problem(description: "render_image: prompt_path \(path) cannot be read as UTF-8 text")
                }
            }
        } else {
            guard let dir = configuration.outputDirectory else {
                throw ToolArguments.Problem(description: "render_image: no place to write the image: pass 'prompt_path' (an existing .sdprompt file; "
                                            + "the PNG goes beside it) or start the server with --output-dir DIR")
            }
            guard let given = fileText ?? bare else {
                throw ToolArguments.Problem(description: "render_image: nothing to render: pass 'prompt_file_text', 'prompt' or 'prompt_path'")
            }
            location = dir + "/stylus.sdprompt"
            text = given
        }
        guard !PromptFile(text: text).positiveText.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            throw ToolArguments.Problem(description: "render_image: the prompt is empty; write what the image should show")
        }
        var job = RenderJob(promptPath: location, text: text)
        job.overrides.negative = try a.string("negative")
        job.overrides.checkpoint = try a.string("checkpoint")
        job.overrides.steps = try a.int("steps", in: PromptSettings.stepRange)
        job.overrides.cfg = try a.double("cfg", in: PromptSettings.cfgRange)
        job.overrides.seed = try a.int("seed", in: -1...Int(Int32.max)).map(Int64.init)
        job.overrides.sampler = try a.choice("sampler", ["Euler", "Euler a", "DPM++ 2M", "DPM++ 2M Karras", "DDIM", "LCM"])
        job.overrides.precision = try a.choice("precision", PrecisionSetting.allCases.map(\.rawValue))
        if let size = try a.string("size") {
            guard let parsed = ImageSize(parsing: size) else { throw a.problem("size", "WxH in multiples of 8, e.g. \"512x768\"; got '\(size)'") }
            job.overrides.size = parsed
        }
        job.defaultCheckpoint = configuration.checkpoint
        job.loraDirs = configuration.loraDirs
        job.compose = try a.bool("compose") ?? false
        job.composeOverrides.baseModel = try baseModel(a)
        job.composeOverrides.addTriggerWords = try a.bool("add_trigger_words")
        let backend = try a.choice("backend", ["local", "a1111", "comfyui"]) ?? PromptFile(text: text).settings.renderer
        switch RenderBackend.parse(backend, url: try a.string("a1111_url"), comfyuiURLs: try a.string("comfyui_url").map { [$0] } ?? []) {
        case .success(let b): job.backend = b
        case .failure(let e): throw ToolArguments.Problem(description: "render_image: \(e)")
        }
        return job
    }

    /// Renders; `progress` gets each event (from the render thread). Cancelling the calling task
    /// stops the render within one sampler step and throws `CancellationError`.
    func render(_ job: RenderJob, progress: @escaping @Sendable (RenderEvent) -> Void) async throws -> (Value, [Tool.Content]) {
        var composer: RenderComposer?
        if job.compose {
            await catalog.composerReady()
            composer = RenderComposer(catalog: catalog)
        }
        let cancellation = RenderCancellation()
        let session = self.session
        let outcome: Result<RenderOutcome, Error> = await withTaskCancellationHandler {
            await withCheckedContinuation { done in
                Thread.detachNewThread { [composer] in
                    done.resume(returning: Result { try session.render(job, composer: composer, cancellation: cancellation, events: progress) })
                }
            }
        } onCancel: { cancellation.cancel() }
        let result: RenderOutcome
        switch outcome {
        case .failure(is RenderCancelled): throw CancellationError()
        case .failure(let error): throw ToolArguments.Problem(description: "render_image: \(error)")
        case .success(let r): result = r
        }
        var images: [Value] = []
        var content: [Tool.Content] = []
        var thumbnail: Value?
        for image in result.images {
            var timings = image.timings
            if result.composeSeconds > 0 { timings["compose"] = result.composeSeconds }
            images.append(.object([
                "path": .string(image.path), "prompt": .string(image.prompt), "seed": .int(Int(truncatingIfNeeded: image.seed)),
                "adapters": .array(image.adapters.map { .object(["name": .string($0.name), "path": $0.path.map(Value.string) ?? .null,
                                                                "hash": $0.hash.map(Value.string) ?? .null]) }),
                "timings_s": .object(timings.mapValues { .double($0) }),
            ]))
            content.append(.text(text: "Wrote \(image.path)", annotations: nil, _meta: nil))
            if thumbnail == nil, let small = try? Self.thumbnail(of: image.path) {
                content.append(.image(data: small.png.base64EncodedString(), mimeType: "image/png", annotations: nil, _meta: nil))
                thumbnail = .object(["width": .int(small.width), "height": .int(small.height)])
            }
        }
        var structured: [String: Value] = ["images": .array(images), "warnings": .array(result.warnings.map { .string($0) })]
        if let thumbnail { structured["thumbnail"] = thumbnail }
        return (.object(structured), content)
    }

    static func thumbnail(of path: String) throws -> (png: Data, width: Int, height: Int) {
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        let small = try PNGReader.decode(bytes).thumbnail(maxSide: thumbnailSide)
        return (Data(try PNGWriter.encode(small)), small.width, small.height)
    }
}
