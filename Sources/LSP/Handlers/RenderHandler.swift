import Foundation
import JSONRPC
import StylusCatalog
import StylusCore
import enum StylusML.RegularFile
import StylusRender

/// A command that runs under work-done progress the user may cancel (`window/workDoneProgress/cancel`).
public protocol ProgressCancellable: Sendable {
    func cancelProgress(_ token: ProgressToken)
}

/// `stylus.render [{"uri", "compose"?, "variations"?, "overrides"?}]` (docs/CONTRACTS.md, Language server):
/// composes when asked, renders with the local renderer or on render servers (A1111/Forge, ComfyUI), writes
/// `<stem>-<n>.png` beside the prompt file, then shows it (`window/showDocument`, else a message).
///
/// The render runs on its own thread, so the message loop and the concurrency pool keep serving
/// completions and hovers; it reports stages and sampler steps as work-done progress and stops
/// within one sampler step on `window/workDoneProgress/cancel` or `$/cancelRequest`. One render
/// per document at a time; the checkpoint stays warm in the session between renders.
public final class RenderCommandHandler: ServerCommand, ProgressCancellable {
    let session: RenderSession
    private struct Running {
        var byDocument: [String: RenderCancellation] = [:]
        var byToken: [ProgressToken: RenderCancellation] = [:]
    }
    private let running = Locked(Running())

    public init(session: RenderSession) { self.session = session }

    public func cancelProgress(_ token: ProgressToken) {
        running.withLock { $0.byToken[token] }?.cancel()
    }

    /// Arguments of one `stylus.render` call.
    struct Arguments {
        var uri: String
        var options = RenderJobOptions()

        init(_ arguments: [JSONValue]) throws {
            uri = try CommandEnvironment.uri(arguments, command: StylusCommand.render)
            let a = arguments.first!
            // Overrides may sit in "overrides" or beside "uri".
            var o = a.objectValue ?? [:]
            for (k, v) in a["overrides"]?.objectValue ?? [:] { o[k] = v }
            func bad(_ key: String, _ want: String) -> ResponseError {
                .invalidParams("stylus.render: \"\(key)\" must be \(want)")
            }
            func int(_ key: String) throws -> Int? {
                guard let v = o[key], v != .null else { return nil }
                if let i = v.intValue { return i }
                if case .double(let d) = v, d == d.rounded(), abs(d) < 1e15 { return Int(d) }
                throw bad(key, "an integer")
            }
            func string(_ key: String) throws -> String? {
                guard let v = o[key], v != .null else { return nil }
                guard let s = v.stringValue else { throw bad(key, "a string") }
                return s
            }
            if let v = o["compose"], v != .null {
                guard let b = v.boolValue else { throw bad("compose", "true or false") }
                options.compose = b
            }
            options.variations = try int("variations") ?? 1
            options.maskSeed = try int("maskSeed").map { UInt64(truncatingIfNeeded: $0) }
            var overrides = RenderOverrides()
            overrides.steps = try int("steps")
            overrides.seed = try int("seed").map(Int64.init)
            overrides.clipSkip = try int("clipSkip")
            if let v = o["cfg"], v != .null {
                switch v {
                case .int(let i): overrides.cfg = Double(i)
                case .double(let d): overrides.cfg = d
                default: throw bad("cfg", "a number")
                }
            }
            overrides.sampler = try string("sampler")
            overrides.negative = try string("negative")
            overrides.checkpoint = try string("checkpoint")
            overrides.masks = try string("masks")
            overrides.precision = try string("precision")
            if let size = try string("size") {
                guard let s = ImageSize(parsing: size) else { throw bad("size", "WxH, e.g. \"512x768\"") }
                overrides.size = s
            }
            options.overrides = overrides
            options.backend = try string("backend")
            options.a1111URL = try string("a1111Url")
            if let url = try string("comfyuiUrl") { options.comfyuiURLs = [url] }
        }
    }

    public func execute(arguments: [JSONValue], environment env: CommandEnvironment) async throws -> JSONValue? {
        let args = try Arguments(arguments)
        guard let url = URL(string: args.uri), url.isFileURL else {
            throw ResponseError.invalidParams("stylus.render: \(args.uri) is not a file URI; save the prompt file first")
        }
        let path = url.path
        let text: String
        if let snapshot = await env.document(args.uri) {
            if let problem = snapshot.tooLargeProblem { throw ResponseError.invalidParams("stylus.render: \(path): \(problem)") }
            text = snapshot.text.text
        } else {
            if let problem = RegularFile.problem(at: path) {
                throw ResponseError.invalidParams("stylus.render: \(path): \(problem)")
            }
            do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
                throw ResponseError.invalidParams("stylus.render: \(path) is neither open nor readable")
            }
        }
        var job: RenderJob
        do {
            job = try RenderJob(promptPath: path, text: text, options: args.options, defaults: RenderDefaults(
                checkpoint: env.settings.checkpoint, renderer: env.settings.renderer, loraDirs: env.settings.loraDirs,
                baseModel: env.settings.baseModel.flatMap { BaseModel($0) }, precision: env.settings.precision))
        } catch {
            throw ResponseError.invalidParams("stylus.render: \(error)")
        }
        job.composeOverrides.addTriggerWords = env.settings.addTriggerWords

        var composer: RenderComposer?
        if job.compose {
            guard let adapters = await env.adapters() else {
                throw ResponseError(code: ErrorCode.requestFailed, message: "stylus.render: composing needs the adapter catalog, and none is loaded (see the stylus.db setting)")
            }
            await adapters.composerReady()
            composer = RenderComposer(catalog: adapters.catalog)
        }

        let cancellation = RenderCancellation()
        let busy = running.withLock { r in
            if r.byDocument[args.uri] != nil { return true }
            r.byDocument[args.uri] = cancellation
            return false
        }
        guard !busy else {
            throw ResponseError(code: ErrorCode.requestFailed, message: "stylus.render: \(url.lastPathComponent) is already rendering; cancel it or wait")
        }
        defer { running.withLock { $0.byDocument[args.uri] = nil } }

        let title = job.variations > 1 ? "Rendering \(job.variations) variations of \(url.lastPathComponent)" : "Rendering \(url.lastPathComponent)"
        let progress = await ProgressReporter.start(title: title, connection: env.connection, client: env.client,
                                                    clientToken: env.workDoneToken, cancellable: true)
        let token = await progress.progressToken
        if let token { running.withLock { $0.byToken[token] = cancellation } }
        defer { if let token { running.withLock { $0.byToken[token] = nil } } }

        // Events leave the render thread through a stream, so reports keep their order.
        let (events, sink) = AsyncStream.makeStream(of: RenderEvent.self, bufferingPolicy: .bufferingNewest(64))
        let reporter = Task {
            for await e in events { await progress.report(e.message, percentage: wholeNumber(min(max(e.fraction, 0), 1) * 100)) }
        }
        // A cancel answers at once: the render thread stops at its next check and its result is dropped
        // (the session lets the next render start only after that).
        let answer = Locked<CheckedContinuation<Result<RenderOutcome, Error>, Never>?>(nil)
        let finish: @Sendable (Result<RenderOutcome, Error>) -> Void = { result in
            answer.withLock { c -> CheckedContinuation<Result<RenderOutcome, Error>, Never>? in
                defer { c = nil }
                return c
            }?.resume(returning: result)
        }
        let outcome: Result<RenderOutcome, Error> = await withTaskCancellationHandler {
            await withCheckedContinuation { done in
                answer.withLock { $0 = done }
                cancellation.onCancel { finish(.failure(RenderCancelled())) }
                Thread.detachNewThread { [session, composer, job] in
                    finish(Result { try session.render(job, composer: composer, cancellation: cancellation) { sink.yield($0) } })
                }
            }
        } onCancel: { cancellation.cancel() }
        sink.finish()
        await reporter.value

        switch outcome {
        case .failure(let error as RenderCancelled):
            await progress.end("Cancelled")
            _ = error
            if Task.isCancelled { throw ResponseError.cancelled }
            return .object(["cancelled": .bool(true), "paths": .array([])])
        case .failure(let error):
            await progress.end("Failed")
            let message = "Render failed: \(error)"
            env.connection.sendNotification("window/showMessage", LogMessageParams(type: 1, message: message))
            throw ResponseError(code: ErrorCode.requestFailed, message: message)
        case .success(let result):
            let paths = result.images.map(\.path)
            await progress.end(paths.count == 1 ? "Wrote \(URL(fileURLWithPath: paths[0]).lastPathComponent)" : "Wrote \(paths.count) images")
            for w in result.warnings {
                env.connection.sendNotification("window/showMessage", LogMessageParams(type: 2, message: "stylus.render: \(w)"))
            }
            if let note = await notInstalledNote(result, job: job, env: env) {
                env.connection.sendNotification("window/showMessage", LogMessageParams(type: 3, message: note))
            }
            await show(paths, env: env)
            return .object([
                "paths": .array(paths.map { .string($0) }),
                "images": .array(result.images.map { image in
                    .object(["path": .string(image.path), "prompt": .string(image.prompt), "seed": .int(Int(truncatingIfNeeded: image.seed)),
                             "adapters": .array(image.adapters.map { .string($0.name) }),
                             "checkpointWasWarm": .bool(image.checkpointWasWarm)])
                }),
                "warnings": .array(result.warnings.map { .string($0) }),
            ])
        }
    }

    /// A composed local render used installed adapters only: which adapters the composer would
    /// also have chosen from the known ones, and how to use them (nil when none).
    private func notInstalledNote(_ result: RenderOutcome, job: RenderJob, env: CommandEnvironment) async -> String? {
        guard job.compose, job.backend == .local, let adapters = await env.adapters(),
              let known = try? adapters.compose(job.prompt.file, addTriggers: false) else { return nil }
        let used = Set(result.images.flatMap { $0.adapters.map { $0.name.lowercased() } })
        let missing = known.outcome.composition.weightedAdapters().map(\.alias).filter { !used.contains($0.lowercased()) }
            .filter { adapters.catalog.installedFile(alias: $0) == nil }
        guard !missing.isEmpty else { return nil }
        return "stylus.render: composed from installed adapters only; not installed, so not used: " + missing.joined(separator: ", ")
            + " (put their .safetensors files in a LoRA folder, the loraDirs setting, to use them)"
    }

    /// Opens the image(s) outside the editor (`window/showDocument` with `external: true`, the
    /// system's image viewer: an editor would open a PNG as text) when the client can and says it
    /// succeeded; otherwise a message says where they are.
    private func show(_ paths: [String], env: CommandEnvironment) async {
        if env.client.showDocument, let first = paths.first {
            struct ShowDocumentParams: Codable, Sendable { var uri: String; var external: Bool; var takeFocus: Bool }
            struct ShowDocumentResult: Codable, Sendable { var success: Bool }
            let uri = URL(fileURLWithPath: first).absoluteString
            let reply = try? await env.connection.sendRequest("window/showDocument", ShowDocumentParams(uri: uri, external: true, takeFocus: true),
                                                             as: ShowDocumentResult.self)
            if reply?.success == true, paths.count == 1 { return }
        }
        let text = paths.count == 1 ? "Rendered \(paths[0])" : "Rendered \(paths.count) images: " + paths.joined(separator: ", ")
        env.connection.sendNotification("window/showMessage", LogMessageParams(type: 3, message: text))
    }
}

/// The render code actions: the file as written, with composed adapters, and variations.
enum RenderActions {
    static let variations = 4

    static func commands(uri: DocumentURI, composable: Bool) -> [Command] {
        var out = [Command(title: "Render image", command: StylusCommand.render, arguments: [["uri": .string(uri)]])]
        if composable {
            out.append(Command(title: "Render image with composed adapters", command: StylusCommand.render,
                               arguments: [["uri": .string(uri), "compose": .bool(true)]]))
            out.append(Command(title: "Render variations (\(variations) sampled adapter masks)", command: StylusCommand.render,
                               arguments: [["uri": .string(uri), "compose": .bool(true), "variations": .int(variations)]]))
        }
        return out
    }

    static func actions(uri: DocumentURI, composable: Bool) -> [CodeAction] {
        commands(uri: uri, composable: composable).map { CodeAction(title: $0.title, kind: "source.render", command: $0) }
    }
}
