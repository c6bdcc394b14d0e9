import Foundation
import Logging
import MCP
import StylusCatalog
import StylusCore
import StylusRender

/// The catalog, models and render session the tools use, loaded once on a thread of its own
/// (opening the catalog and building its indexes blocks) and shared by every session.
public final class MCPCatalog: Sendable {
    let loading: Task<Result<StylusTools, Error>, Never>

    public init(configuration: MCPConfiguration) {
        loading = Task {
            await withCheckedContinuation { done in
                Thread.detachNewThread { done.resume(returning: Result { try StylusTools(configuration: configuration) }) }
            }
        }
    }
}

/// `stylus mcp` (docs/CONTRACTS.md, MCP server): the Model Context Protocol server over the same
/// catalog, composer, linter and renderer as the CLI and the language server. Tools
/// (`ToolSchemas`), adapter cards as resources (`stylus://adapter/{id}`) and a prompt template.
/// The catalog loads on a thread of its own after start; calls wait for it.
public final class StylusMCPServer: Sendable {
    public static let name = "stylus"
    public static let version = "0.1.0"
    static let adapterURIPrefix = "stylus://adapter/"
    static let resourcePageSize = 100
    static let composePromptName = "compose_prompt_for"
    /// Tools answered by `ToolCallShortcut`: all but `render_image`, which sends progress and stops on cancellation.
    static let shortcutTools = Set(ToolSchemas.all.map(\.name)).subtracting(["render_image"])

    let server: Server
    let tools: Task<Result<StylusTools, Error>, Never>
    let logger: Logger

    /// A server with its own catalog, loaded in the background.
    public convenience init(configuration: MCPConfiguration, logger: Logger) {
        self.init(catalog: MCPCatalog(configuration: configuration), logger: logger)
    }

    /// A server over a catalog other sessions may share (`--http`: one server per session).
    public init(catalog: MCPCatalog, logger: Logger) {
        self.logger = logger
        tools = catalog.loading
        server = Server(
            name: Self.name, version: Self.version, title: "Stylus",
            instructions: "Stylus picks LoRA adapters for Stable Diffusion prompts from the user's local catalog. "
                + "search_adapters finds adapters, compose_prompt adds the fitting ones to a prompt as <lora:…> tags, "
                + "check_prompt shows problems, show_adapter gives a card, render_image renders locally.",
            capabilities: .init(prompts: .init(listChanged: false), resources: .init(subscribe: false, listChanged: false),
                                tools: .init(listChanged: false)))
    }

    /// Serves on `transport` until the client goes away; `started` runs once it listens.
    public func run(transport: any Transport, started: @Sendable () -> Void = {}) async throws {
        await register()
        // Calls of the catalog tools skip the SDK's round trip of each result through `Value`.
        let shortcut = ToolCallShortcut(transport, logger: logger, tools: Self.shortcutTools) { [self] params in try await call(params) }
        try await server.start(transport: shortcut)
        started()
        Task { [tools, logger] in
            switch await tools.value {
            case .success(let t): for w in t.warnings { logger.warning("\(w)") }
            case .failure(let e): logger.error("the catalog could not be loaded: \(e)")
            }
        }
        await server.waitUntilCompleted()
    }

    func loaded() async throws -> StylusTools {
        try await tools.value.get()
    }

    private func register() async {
        await server.withMethodHandler(ListTools.self) { _ in .init(tools: ToolSchemas.all) }
        await server.withMethodHandler(CallTool.self) { [self] params in try await call(params) }
        await server.withMethodHandler(ListResourceTemplates.self) { _ in
            .init(templates: [Resource.Template(
                uriTemplate: Self.adapterURIPrefix + "{id}", name: "adapter", title: "Adapter card",
                description: "The full card of one adapter of the catalog (id, alias or file stem), as show_adapter returns it.",
                mimeType: "application/json")])
        }
        await server.withMethodHandler(ListResources.self) { [self] params in try await listResources(cursor: params.cursor) }
        await server.withMethodHandler(ReadResource.self) { [self] params in try await readResource(params.uri) }
        await server.withMethodHandler(ListPrompts.self) { _ in
            .init(prompts: [Prompt(
                name: Self.composePromptName, title: "Compose a prompt for …",
                description: "Write a Stable Diffusion prompt for a subject and let Stylus add the fitting LoRA adapters from the local catalog.",
                arguments: [.init(name: "subject", description: "What the image should show.", required: true),
                            .init(name: "base_model", description: "Base model (\"SD 1.5\", \"SDXL 1.0\", \"Pony\", …).", required: false)])])
        }
        await server.withMethodHandler(GetPrompt.self) { params in try Self.prompt(params) }
    }

    // MARK: Tools

    func call(_ params: CallTool.Parameters) async throws -> CallTool.Result {
        guard let schema = ToolSchemas.all.first(where: { $0.name == params.name }) else {
            throw MCPError.invalidParams("unknown tool '\(params.name)'; the tools are \(ToolSchemas.all.map(\.name).joined(separator: ", "))")
        }
        let allowed = Set(schema.inputSchema.objectValue?["properties"]?.objectValue?.keys.map { $0 } ?? [])
        do {
            let args = try ToolArguments(tool: params.name, params.arguments, allowed: allowed)
            let tools = try await loaded()
            let structured: Value
            var content: [Tool.Content] = []
            switch params.name {
            case "search_adapters": structured = try tools.searchAdapters(args)
            case "compose_prompt": structured = try tools.composePrompt(args)
            case "check_prompt": structured = try await tools.checkPrompt(args)
            case "show_adapter": structured = try tools.showAdapter(args)
            default:
                let job = try tools.renderJob(args)
                let progress = ProgressSender(server: server, token: params._meta?.progressToken)
                do {
                    (structured, content) = try await tools.render(job, progress: progress.event)
                    await progress.finish(structured.objectValue?["images"]?.arrayValue.map { "Wrote \($0.count) image\($0.count == 1 ? "" : "s")" })
                } catch {
                    await progress.finish(nil)
                    throw error
                }
            }
            return try .init(content: [.text(text: jsonText(structured), annotations: nil, _meta: nil)] + content, structuredContent: structured, isError: false)
        } catch is CancellationError {
            throw CancellationError()
        } catch let problem as ToolArguments.Problem {
            return .init(content: [.text(text: problem.description, annotations: nil, _meta: nil)], isError: true)
        } catch {
            return .init(content: [.text(text: "\(params.name): \(error)", annotations: nil, _meta: nil)], isError: true)
        }
    }

    /// Sends render events as `notifications/progress` (0–100, never decreasing) when the client
    /// asked for progress. Events leave the render thread through a stream so they keep their
    /// order; `finish` sends what is left and a last 100 before the result goes out.
    final class ProgressSender: Sendable {
        private let sink: AsyncStream<(Double, String)>.Continuation?
        private let sending: Task<Void, Never>?
        private let token: ProgressToken?
        private let server: Server

        init(server: Server, token: ProgressToken?) {
            self.server = server
            self.token = token
            guard let token else { (sink, sending) = (nil, nil); return }
            let (events, sink) = AsyncStream.makeStream(of: (Double, String).self, bufferingPolicy: .bufferingNewest(64))
            self.sink = sink
            sending = Task {
                var last = -1.0
                for await (percent, message) in events where percent > last {
                    last = percent
                    try? await server.notify(ProgressNotification.message(.init(progressToken: token, progress: percent, total: 100, message: message)))
                }
            }
        }

        func event(_ e: RenderEvent) {
            sink?.yield(((min(max(e.fraction, 0), 1) * 99).rounded(), e.message))
        }

        func finish(_ message: String?) async {
            if let message { sink?.yield((100, message)) }
            sink?.finish()
            await sending?.value
        }
    }

    // MARK: Resources and prompts

    func listResources(cursor: String?) async throws -> ListResources.Result {
        let start = cursor.flatMap(Int.init) ?? 0
        let summaries = try await loaded().catalog.summaries
        guard start >= 0, start <= summaries.count else { throw MCPError.invalidParams("bad cursor '\(cursor ?? "")'") }
        let page = summaries[start..<min(summaries.count, start + Self.resourcePageSize)]
        let next = start + page.count < summaries.count ? String(start + page.count) : nil
        return .init(resources: page.map { s in
            Resource(name: s.alias, uri: Self.adapterURIPrefix + Self.percentEncoded(s.adapterId), title: s.title,
                     description: s.baseModel.map { "\($0.name) adapter, <lora:\(s.alias):…>" } ?? "<lora:\(s.alias):…>",
                     mimeType: "application/json")
        }, nextCursor: next)
    }

    func readResource(_ uri: String) async throws -> ReadResource.Result {
        guard uri.hasPrefix(Self.adapterURIPrefix) else {
            throw MCPError.invalidParams("unknown resource '\(uri)'; adapter cards are \(Self.adapterURIPrefix){id}")
        }
        let raw = String(uri.dropFirst(Self.adapterURIPrefix.count))
        let id = raw.removingPercentEncoding ?? raw
        guard !id.isEmpty, let card = try await loaded().adapterCard(id: id) else {
            throw MCPError.invalidParams("no adapter '\(id)' in the catalog; resources/list or search_adapters lists them")
        }
        return .init(contents: [.text(card, uri: uri, mimeType: "application/json")])
    }

    static func percentEncoded(_ id: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return id.addingPercentEncoding(withAllowedCharacters: allowed) ?? id
    }

    static func prompt(_ params: GetPrompt.Parameters) throws -> GetPrompt.Result {
        guard params.name == composePromptName else {
            throw MCPError.invalidParams("unknown prompt '\(params.name)'; the prompt is \(composePromptName)")
        }
        guard let subject = params.arguments?["subject"], !subject.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            throw MCPError.invalidParams("\(composePromptName): the argument 'subject' is missing; say what the image should show")
        }
        let base = params.arguments?["base_model"].flatMap { $0.isEmpty ? nil : $0 }
        let forBase = base.map { " for \($0)" } ?? ""
        let text = """
            Write a Stable Diffusion prompt\(forBase) for: \(subject)

            Use A1111 syntax: comma-separated tags and phrases, (emphasis:1.2) where it matters, a short negative prompt. \
            Then call the tool compose_prompt with the prompt\(base.map { " and base_model \"\($0)\"" } ?? "") to add the LoRA adapters \
            from the local catalog that fit its topics, call check_prompt on the result and fix what it reports, and answer with \
            the final prompt (prompt_with_adapters) and one line per chosen adapter saying why it fits.
            """
        return .init(description: "Compose a prompt\(forBase) for \(subject)", messages: [.user(.text(text: text))])
    }
}
