import Foundation
import JSONRPC
import StylusCatalog

/// A `workspace/executeCommand` command implemented in its own file and handed to the server
/// through `LanguageServer.Options` (e.g. `stylus.render`).
public protocol ServerCommand: Sendable {
    /// The result goes back to the client as the request's result (nil → `null`). Throw a
    /// `ResponseError` for a clear error reply.
    func execute(arguments: [JSONValue], environment: CommandEnvironment) async throws -> JSONValue?
}

/// What a command may use: the connection (applyEdit, showDocument), the client's capabilities,
/// the settings, open documents, the adapter catalog and work-done progress.
public struct CommandEnvironment: Sendable {
    public let connection: Connection
    public let client: ClientCapabilities
    public let settings: Settings
    /// The current snapshot of an open document, or nil when it is not open.
    public let document: @Sendable (DocumentURI) async -> DocumentSnapshot?
    /// The adapter context (waits while it loads); nil when no catalog can be opened.
    public let adapters: @Sendable () async -> AdapterContext?
    /// Reloads the catalog for the current settings and returns the new context.
    public let reloadAdapters: @Sendable () async -> AdapterContext?
    /// The request's `workDoneToken`, if the client sent one.
    public let workDoneToken: ProgressToken?
    /// The environment the catalog is located with (`LanguageServer.Options.environment`).
    public let environment: [String: String]

    /// Work-done progress for this command (a no-op when the client supports none).
    package func progress(_ title: String) async -> ProgressReporter {
        await ProgressReporter.start(title: title, connection: connection, client: client, clientToken: workDoneToken)
    }

    /// The `uri` of a command's first argument (`[{"uri": …}]`), or an InvalidParams error.
    public static func uri(_ arguments: [JSONValue], command: String) throws -> DocumentURI {
        guard let uri = arguments.first?["uri"]?.stringValue else {
            throw ResponseError.invalidParams("\(command) expects arguments [{\"uri\": \"file:///….sdprompt\"}]")
        }
        return uri
    }
}

/// The `stylus.*` commands, all in one place: their names (code actions use them) and what each
/// runs. The server advertises (`executeCommandProvider.commands`) and dispatches exactly `available`.
public enum StylusCommand {
    public static let compose = "stylus.compose"
    public static let reindex = "stylus.reindex"
    public static let render = "stylus.render"

    /// The commands a server with `options` runs, in the order it advertises them; `stylus.render`
    /// only when a renderer is wired.
    static func available(_ options: LanguageServer.Options) -> [(name: String, command: any ServerCommand)] {
        var commands: [(name: String, command: any ServerCommand)] = [(compose, ComposeAdaptersCommand()), (reindex, ReindexFoldersCommand())]
        if let render = options.renderCommand { commands.append((Self.render, render)) }
        return commands
    }
}

/// `stylus.compose [{"uri", "installedOnly"?}]`: inserts the composer's `<lora:…>` tags (and the
/// trigger words they lack, unless the `addTriggerWords` setting is false) through
/// `workspace/applyEdit` (when the client supports it) and returns what was composed. Composes from
/// every known adapter, or with `installedOnly` from those with a local file; `not_installed`
/// names the chosen adapters without one.
struct ComposeAdaptersCommand: ServerCommand {
    func execute(arguments: [JSONValue], environment env: CommandEnvironment) async throws -> JSONValue? {
        let uri = try CommandEnvironment.uri(arguments, command: StylusCommand.compose)
        guard let snapshot = await env.document(uri) else { throw ResponseError.invalidParams("document is not open: \(uri)") }
        if let problem = snapshot.tooLargeProblem { throw ResponseError.invalidParams("stylus.compose: \(uri): \(problem)") }
        guard let adapters = await env.adapters() else {
            throw ResponseError(code: ErrorCode.requestFailed, message: "no adapter catalog is loaded (see the stylus.db setting)")
        }
        await adapters.composerReady()
        let installedOnly = arguments.first?["installedOnly"]?.boolValue ?? false
        if installedOnly { try? await adapters.loaded() }
        let composed = try adapters.compose(snapshot.file, installedOnly: installedOnly, addTriggers: env.settings.addTriggerWords)
        var applied = false
        if let edit = composed.edit, env.client.applyEdit {
            let params = ApplyWorkspaceEditParams(label: "Compose adapters", edit: WorkspaceEdit.single(uri: uri, version: snapshot.version, edits: [edit], client: env.client))
            let reply = try await env.connection.sendRequest("workspace/applyEdit", params, as: ApplyWorkspaceEditResult.self)
            applied = reply.applied
        }
        return .object([
            "tags": .array(composed.tags.map { .string($0) }),
            "trigger_words": .array(composed.triggers.map { .string($0) }),
            "not_installed": .array(composed.notInstalled.map { .string($0) }),
            "prompt_with_adapters": .string(composed.promptWithAdapters),
            "base_model": composed.baseModel.map { .string($0.name) } ?? .null,
            "applied": .bool(applied),
        ])
    }
}

/// `stylus.reindex`: rescans the `loraDirs` folders into the catalog with work-done progress,
/// then reloads the adapter context.
struct ReindexFoldersCommand: ServerCommand {
    func execute(arguments: [JSONValue], environment env: CommandEnvironment) async throws -> JSONValue? {
        let progress = await env.progress("Reindexing LoRA folders")
        let dirs = env.settings.loraDirs
        var problems: [String] = []
        do {
            let store = try CatalogIndex.openStore(explicit: env.settings.db, environment: env.environment)
            for (i, dir) in dirs.enumerated() {
                await progress.report("Scanning \(dir)", percentage: i * 100 / max(1, dirs.count + 1))
                problems += CatalogIndex.scan(dir, into: store, environment: env.environment)
            }
        } catch {
            await progress.end("Reindex failed")
            throw ResponseError(code: ErrorCode.requestFailed, message: "stylus.reindex: \(error)")
        }
        await progress.report("Loading the catalog", percentage: dirs.count * 100 / (dirs.count + 1))
        let context = await env.reloadAdapters()
        await progress.end(context.map { "\($0.count) adapters" } ?? "No catalog")
        return .object([
            "adapters": .int(context?.count ?? 0),
            "folders": .int(dirs.count),
            "problems": .array(problems.map { .string($0) }),
        ])
    }
}
