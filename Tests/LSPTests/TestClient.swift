import Foundation
import JSONRPC
import LSP
import StylusCore
import XCTest

struct Timeout: Error, CustomStringConvertible {
    var description: String
}

/// An in-process LSP client wired to a real `LanguageServer` through `LocalTransport`.
/// It records notifications, answers server→client requests with closures, and turns
/// `1️⃣`-style markers in document text into UTF-16 positions.
final class TestClient: MessageHandler {
    typealias RequestAnswer = @Sendable (JSONValue) throws -> JSONValue

    let server: LanguageServer
    let connection: Connection
    private let toServer: LocalTransport
    private let notifications = Locked<[(method: String, params: JSONValue)]>([])
    private let answers = Locked<[String: RequestAnswer]>([:])
    /// Every request the server sent, in order.
    let serverRequests = Locked<[(method: String, params: JSONValue)]>([])
    private let serverRun: Task<Int32, Never>
    private let clientRun = Locked<Task<Void, Never>?>(nil)

    /// A data directory shared by the tests that do not choose one, so no test touches the
    /// user's catalog (the server seeds the starter catalog there on first use).
    static let sharedHome: String = {
        let dir = NSTemporaryDirectory() + "stylus-lsp-tests-\(ProcessInfo.processInfo.processIdentifier)"
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }()

    init(options: LanguageServer.Options = LanguageServer.Options()) {
        var options = options
        if options.environment == ProcessInfo.processInfo.environment {
            options.environment = ["STYLUS_HOME": Self.sharedHome]
        }
        let (toServer, toClient) = LocalTransport.pair()
        let serverConnection = Connection(transport: toClient)
        connection = Connection(transport: toServer, idPrefix: "client-")
        toServer.deliver(to: serverConnection)
        toClient.deliver(to: connection)
        self.toServer = toServer
        server = LanguageServer(connection: serverConnection, options: options)
        serverRun = Task { [server] in await server.run() }
        let c = connection
        clientRun.withLock { $0 = Task { await c.run(handler: self) } }
    }

    // MARK: MessageHandler (the client side)

    func handleNotification(method: String, params: Payload) async {
        notifications.withLock { $0.append((method, params.json)) }
    }

    func handleRequest(id: RequestID, method: String, params: Payload) async -> ReplyWork {
        let json = params.json
        serverRequests.withLock { $0.append((method, json)) }
        let answer = answers.withLock { $0[method] }
        return {
            guard let answer else { throw ResponseError.methodNotFound(method) }
            return try answer(json)
        }
    }

    func connectionClosed() async {}

    // MARK: Driving the server

    func answer(_ method: String, with body: @escaping RequestAnswer) {
        answers.withLock { $0[method] = body }
    }

    @discardableResult
    func initialize(capabilities: JSONValue = [:], initializationOptions: JSONValue? = nil) async throws -> JSONValue {
        var params: [String: JSONValue] = ["processId": .null, "capabilities": capabilities, "rootUri": .null]
        if let initializationOptions { params["initializationOptions"] = initializationOptions }
        let result = try await request("initialize", JSONValue.object(params))
        notify("initialized", JSONValue.object([:]))
        return result
    }

    func request(_ method: String, _ params: some Encodable & Sendable) async throws -> JSONValue {
        try await connection.sendRequest(method, params, as: JSONValue.self)
    }

    func request<R: Decodable>(_ method: String, _ params: some Encodable & Sendable, as type: R.Type) async throws -> R {
        try await connection.sendRequest(method, params, as: R.self)
    }

    /// The error a request fails with (nil if it succeeds).
    func requestError(_ method: String, _ params: some Encodable & Sendable) async -> ResponseError? {
        do {
            _ = try await request(method, params)
            return nil
        } catch {
            return error as? ResponseError
        }
    }

    func notify(_ method: String, _ params: some Encodable & Sendable) {
        connection.sendNotification(method, params)
    }

    /// Sends raw bytes to the server (malformed-input tests).
    func sendRaw(_ bytes: [UInt8]) { toServer.writeRaw(bytes) }

    /// Waits for the next notification with `method` and removes it from the queue.
    func nextNotification(_ method: String, timeout: Duration = .seconds(5)) async throws -> JSONValue {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while true {
            let found: JSONValue? = notifications.withLock { list in
                guard let i = list.firstIndex(where: { $0.method == method }) else { return nil }
                return list.remove(at: i).params
            }
            if let found { return found }
            if clock.now > deadline { throw Timeout(description: "no \(method) within \(timeout)") }
            try await Task.sleep(for: .milliseconds(5))
        }
    }

    func nextDiagnostics(timeout: Duration = .seconds(5)) async throws -> PublishDiagnosticsParams {
        let json = try await nextNotification("textDocument/publishDiagnostics", timeout: timeout)
        return try JSONDecoder().decode(PublishDiagnosticsParams.self, from: JSONEncoder().encode(json))
    }

    func pendingNotifications(_ method: String) -> Int {
        notifications.withLock { $0.filter { $0.method == method }.count }
    }

    /// Opens a document whose text may contain markers `1️⃣`…`9️⃣`; returns their positions.
    @discardableResult
    func openDocument(_ marked: String, uri: String = "file:///test.sdprompt", version: Int = 1) -> [String: Position] {
        let (text, positions) = Self.extractMarkers(marked)
        notify("textDocument/didOpen", DidOpenTextDocumentParams(
            textDocument: TextDocumentItem(uri: uri, languageId: "sdprompt", version: version, text: text)))
        return positions
    }

    static func extractMarkers(_ marked: String) -> (String, [String: Position]) {
        let markers = (1...9).map { "\($0)\u{FE0F}\u{20E3}" }
        var text = marked
        var offsets: [String: Int] = [:]
        while let (marker, range) = markers.compactMap({ m in text.range(of: m).map { (m, $0) } })
            .min(by: { $0.1.lowerBound < $1.1.lowerBound }) {
            offsets[marker] = text.utf8.distance(from: text.startIndex, to: range.lowerBound)
            text.removeSubrange(range)
        }
        let source = SourceText(text)
        return (text, offsets.mapValues { source.position(ofUTF8: $0) })
    }

    /// The server's copy of a document (custom request `stylus/debugDocument`).
    func serverText(_ uri: String = "file:///test.sdprompt") async throws -> (version: Int, text: String) {
        let r = try await request("stylus/debugDocument", TextDocumentIdentifier(uri: uri))
        return (r["version"]?.intValue ?? -1, r["text"]?.stringValue ?? "")
    }

    /// shutdown + exit; returns the server's exit code.
    func shutdownAndExit() async throws -> Int32 {
        _ = try await request("shutdown", JSONValue.null)
        connection.sendNotification("exit")
        return await serverExitCode()
    }

    func serverExitCode() async -> Int32 { await serverRun.value }

    /// Ends the client's output stream (like a client closing stdin).
    func closeInput() { toServer.closeWrite() }

    func stop() {
        connection.close()
        closeInput()
    }
}
