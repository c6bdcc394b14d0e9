import Foundation
import Logging
import MCP

/// A transport in front of the server's own that answers `tools/call` of the catalog tools itself
/// and passes every other message to the SDK's `Server` unchanged.
///
/// Why: the SDK turns every handler result into JSON, decodes that back into a `Value` and encodes
/// it again to send it; decoding a `Value` builds and compiles a data-URL regex for each string in
/// it (swift-sdk 0.12, `Data.isDataURL`). A compose result has ~200 strings (the 150 retrieved ids),
/// which cost ~3–5 ms per call, a fifth of the server's time. Here the result is encoded once, as
/// the SDK would send it. `render_image` (progress, cancellation) and malformed requests still go
/// through the SDK, as do requests for unknown tools (its JSON-RPC error). A catalog call is
/// answered even when the client cancels it meanwhile, as the SDK did once the handler had started.
package actor ToolCallShortcut: Transport {
    package typealias Answer = @Sendable (CallTool.Parameters) async throws -> CallTool.Result

    package nonisolated let logger: Logger
    private let inner: any Transport
    private let tools: Set<String>
    private let answer: Answer
    private var forwarded: AsyncThrowingStream<Data, Error>?
    /// Calls answered here that have not sent their response yet; the stream ends after them.
    private var inFlight = 0
    private var drained: [CheckedContinuation<Void, Never>] = []

    /// `tools`: the tool names answered here; `answer` runs one call (as the SDK handler would).
    package init(_ inner: any Transport, logger: Logger, tools: Set<String>, answer: @escaping Answer) {
        self.inner = inner
        self.logger = logger
        self.tools = tools
        self.answer = answer
    }

    package func connect() async throws { try await inner.connect() }
    package func disconnect() async { await inner.disconnect() }
    package func send(_ data: Data) async throws { try await inner.send(data) }

    package func receive() -> AsyncThrowingStream<Data, Error> {
        if let forwarded { return forwarded }
        let (stream, sink) = AsyncThrowingStream.makeStream(of: Data.self)
        forwarded = stream
        Task {
            do {
                for try await data in await inner.receive() {
                    if let call = shortcut(data) { start(call) } else { sink.yield(data) }
                }
                await allAnswered()
                sink.finish()
            } catch {
                await allAnswered()
                sink.finish(throwing: error)
            }
        }
        return stream
    }

    /// The request, when `data` is a `tools/call` of one of `tools`; nil for anything else.
    private func shortcut(_ data: Data) -> Request<CallTool>? {
        // A cheap look at the method and tool name first: most messages are not tool calls.
        guard let probe = try? JSONDecoder().decode(Probe.self, from: data), probe.jsonrpc == "2.0", probe.id != nil,
              probe.method == CallTool.name, let name = probe.params?.name, tools.contains(name),
              let request = try? JSONDecoder().decode(Request<CallTool>.self, from: data) else { return nil }
        return request
    }

    private struct Probe: Decodable {
        struct Params: Decodable { var name: String? }
        var jsonrpc: String?
        var id: ID?
        var method: String?
        var params: Params?
    }

    private func start(_ request: Request<CallTool>) {
        inFlight += 1
        Task {
            await respond(to: request)
            finished()
        }
    }

    private func respond(to request: Request<CallTool>) async {
        let response: Response<CallTool>
        do {
            response = Response(id: request.id, result: try await answer(request.params))
        } catch is CancellationError {
            return  // as the SDK: no response to a cancelled request
        } catch {
            response = Response(id: request.id, error: error as? MCPError ?? MCPError.internalError("\(error)"))
        }
        do {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]  // as the SDK's `Server.send`
            try await inner.send(try encoder.encode(response))
        } catch {
            logger.error("sending the result of \(request.params.name) failed: \(error)")
        }
    }

    private func finished() {
        inFlight -= 1
        if inFlight == 0 {
            drained.forEach { $0.resume() }
            drained = []
        }
    }

    private func allAnswered() async {
        guard inFlight > 0 else { return }
        await withCheckedContinuation { drained.append($0) }
    }
}
