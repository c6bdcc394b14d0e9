import Foundation

/// Where outgoing messages go. `write` receives one complete framed message and must be
/// safe to call from any thread (implementations serialize writes).
public protocol Transport: Sendable {
    func write(_ data: Data)
}

/// The work that answers one request. It runs in its own Task (so `$/cancelRequest` can
/// cancel it) after the ordered part of the handler has run.
public typealias ReplyWork = @Sendable () async throws -> (any Encodable & Sendable)?

/// Receives incoming requests and notifications, one at a time, in arrival order.
public protocol MessageHandler: Sendable {
    func handleNotification(method: String, params: Payload) async
    /// The ordered part of a request (e.g. taking a document snapshot). The returned work
    /// runs concurrently with later messages.
    func handleRequest(id: RequestID, method: String, params: Payload) async -> ReplyWork
    /// The input ended (EOF) or the connection was closed; no more messages will arrive.
    func connectionClosed() async
}

/// A JSON-RPC 2.0 connection, symmetric (used by the server and by test clients).
///
/// - Bytes arrive through `receive(_:)` from one reader; the framer splits them.
/// - Requests and notifications are queued and handled strictly in order by `run(handler:)`.
/// - Responses to our own requests and `$/cancelRequest` are handled at once on the reader,
///   so a handler awaiting the client never blocks the read loop.
/// - Each request gets exactly one reply: its result, its error, or -32800 when cancelled.
public final class Connection: Sendable {
    public typealias Log = @Sendable (_ level: LogLevel, _ message: String) -> Void
    public enum LogLevel: Sendable { case debug, warning, error }

    private enum Queued: Sendable {
        case request(RequestID, String, Payload)
        case notification(String, Payload)
    }

    private struct State {
        var framer = MessageFramer()
        var inFlight: [RequestID: Task<Void, Never>] = [:]
        /// Cancels that arrived while their request was still queued.
        var earlyCancels: Set<RequestID> = []
        var pending: [RequestID: CheckedContinuation<Payload, Error>] = [:]
        var nextID = 1
        var closed = false
    }

    private let transport: any Transport
    private let idPrefix: String
    private let log: Log
    private let state = Locked(State())
    private let queue: AsyncStream<Queued>
    private let queueInput: AsyncStream<Queued>.Continuation

    /// `idPrefix` keeps our request ids apart from the peer's (they are strings, the peer's usually numbers).
    public init(transport: any Transport, idPrefix: String = "stylus-", log: @escaping Log = { _, _ in }) {
        self.transport = transport
        self.idPrefix = idPrefix
        self.log = log
        (queue, queueInput) = AsyncStream.makeStream(of: Queued.self, bufferingPolicy: .unbounded)
    }

    // MARK: Input

    /// Feeds raw bytes from the peer (any chunking).
    public func receive<S: Sequence>(_ bytes: S) where S.Element == UInt8 {
        let events: [MessageFramer.Event] = state.withLock { s in
            s.framer.feed(bytes)
            var out: [MessageFramer.Event] = []
            while let e = s.framer.next() { out.append(e) }
            return out
        }
        for event in events {
            switch event {
            case .headerError(let message):
                log(.warning, "skipped a malformed message header: \(message)")
            case .message(let body):
                route(body)
            }
        }
    }

    /// The peer's output ended: fail our pending requests and let `run` finish.
    public func receiveEOF() { close() }

    private func route(_ body: Data) {
        let message: IncomingMessage
        do {
            message = try IncomingMessage.decode(body)
        } catch {
            log(.warning, "bad message (\(error.reason)): \(String(decoding: body.prefix(200), as: UTF8.self))")
            if let reply = error.reply { write(OutgoingMessage.Response(id: reply.id, result: .failure(reply.error))) }
            return
        }
        switch message {
        case .response(let id, let result):
            let waiter = state.withLock { $0.pending.removeValue(forKey: id) }
            guard let waiter else {
                log(.debug, "response to unknown or finished request \(id)")
                return
            }
            switch result {
            case .success(let payload): waiter.resume(returning: payload)
            case .failure(let error): waiter.resume(throwing: error)
            }
        case .notification("$/cancelRequest", let params):
            guard let id = (try? params.decode(CancelParams.self))?.id else {
                log(.warning, "$/cancelRequest without a valid id")
                return
            }
            cancelIncoming(id)
        case .notification(let method, let params):
            queueInput.yield(.notification(method, params))
        case .request(let id, let method, let params):
            queueInput.yield(.request(id, method, params))
        }
    }

    private struct CancelParams: Codable { let id: RequestID }

    private func cancelIncoming(_ id: RequestID) {
        state.withLock { s in
            if let task = s.inFlight[id] {
                task.cancel()
            } else if s.earlyCancels.count < 10_000 {
                s.earlyCancels.insert(id)  // still queued (or unknown: then it is dropped with the set)
            }
        }
    }

    // MARK: Handling loop

    /// Handles queued messages in order until the connection closes, then tells the handler.
    public func run(handler: some MessageHandler) async {
        for await item in queue {
            switch item {
            case .notification(let method, let params):
                await handler.handleNotification(method: method, params: params)
            case .request(let id, let method, let params):
                if state.withLock({ $0.earlyCancels.remove(id) != nil }) {
                    write(OutgoingMessage.Response(id: id, result: .failure(.cancelled)))
                    continue
                }
                let work = await handler.handleRequest(id: id, method: method, params: params)
                start(id, work)
            }
        }
        await handler.connectionClosed()
    }

    private func start(_ id: RequestID, _ work: @escaping ReplyWork) {
        // Registering under the lock means the task's own `finish` (which takes the lock)
        // cannot run before it is registered.
        state.withLock { s in
            if s.inFlight[id] != nil {
                write(OutgoingMessage.Response(id: id, result: .failure(.invalidRequest("request id \(id) is already in use"))))
                return
            }
            let task = Task { [self] in
                let result: Result<(any Encodable & Sendable)?, ResponseError>
                do {
                    result = .success(try await work())
                } catch let error as ResponseError {
                    result = .failure(error)
                } catch {
                    result = .failure(Task.isCancelled || error is CancellationError
                        ? .cancelled : .internalError("\(error)"))
                }
                finish(id, result)
            }
            s.inFlight[id] = task
            if s.earlyCancels.remove(id) != nil { task.cancel() }
        }
    }

    private func finish(_ id: RequestID, _ result: Result<(any Encodable & Sendable)?, ResponseError>) {
        guard state.withLock({ $0.inFlight.removeValue(forKey: id) }) != nil else {
            log(.error, "second reply to request \(id) suppressed")
            return
        }
        if !write(OutgoingMessage.Response(id: id, result: result)) {
            // The result could not be encoded (e.g. a NaN); the request still gets its one reply.
            write(OutgoingMessage.Response(id: id, result: .failure(.internalError("could not encode the result"))))
        }
    }

    /// Incoming requests whose reply has not been sent yet.
    public var requestsInFlight: Int { state.withLock { $0.inFlight.count } }

    /// Our requests still waiting for the peer's reply.
    public var requestsAwaitingReply: Int { state.withLock { $0.pending.count } }

    // MARK: Output

    public func sendNotification(_ method: String, _ params: some Encodable & Sendable) {
        write(OutgoingMessage.Notification(method: method, params: params))
    }

    /// A notification without params (e.g. `exit`).
    public func sendNotification(_ method: String) {
        write(OutgoingMessage.Notification<NoParams>(method: method, params: nil))
    }

    /// Sends a request to the peer and waits for its result. Never blocks the read loop: the
    /// reply is delivered by `receive`. Cancelling the calling task sends `$/cancelRequest`.
    public func sendRequest(_ method: String, _ params: some Encodable & Sendable) async throws -> Payload {
        let id: RequestID = state.withLock { s in
            defer { s.nextID += 1 }
            return .string("\(idPrefix)\(s.nextID)")
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (c: CheckedContinuation<Payload, Error>) in
                let accepted = state.withLock { s in
                    if s.closed || Task.isCancelled { return false }
                    s.pending[id] = c
                    return true
                }
                guard accepted else {
                    c.resume(throwing: Task.isCancelled ? CancellationError() : ResponseError.connectionClosed)
                    return
                }
                write(OutgoingMessage.Request(id: id, method: method, params: params))
            }
        } onCancel: {
            if let c = state.withLock({ $0.pending.removeValue(forKey: id) }) {
                c.resume(throwing: CancellationError())
                sendNotification("$/cancelRequest", CancelParams(id: id))
            }
        }
    }

    /// Typed convenience over `sendRequest`.
    public func sendRequest<R: Decodable>(_ method: String, _ params: some Encodable & Sendable, as type: R.Type) async throws -> R {
        try await sendRequest(method, params).decode(R.self)
    }

    /// Stops the connection: pending requests fail, `run` ends after the queued messages.
    public func close() {
        let waiters: [CheckedContinuation<Payload, Error>] = state.withLock { s in
            guard !s.closed else { return [] }
            s.closed = true
            defer { s.pending.removeAll() }
            return Array(s.pending.values)
        }
        for w in waiters { w.resume(throwing: ResponseError.connectionClosed) }
        queueInput.finish()
    }

    @discardableResult
    private func write(_ message: some Encodable) -> Bool {
        do {
            transport.write(MessageFramer.frame(try OutgoingMessage.encoder().encode(message)))
            return true
        } catch {
            log(.error, "could not encode an outgoing message: \(error)")
            return false
        }
    }
}

/// The params type of messages that carry none; `sendRequest(m, NoParams?.none)` omits `params`.
public struct NoParams: Codable, Sendable {
    public init() {}
}
