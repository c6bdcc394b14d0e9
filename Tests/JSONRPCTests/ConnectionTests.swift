import Foundation
import JSONRPC
import XCTest
import TestSupport

/// Collects what a connection writes, decoded back into JSON objects.
final class CollectingTransport: Transport {
    private let state = Locked((framer: MessageFramer(), messages: [JSONValue]()))

    func write(_ data: Data) {
        state.withLock { s in
            s.framer.feed(data)
            while let e = s.framer.next() {
                if case .message(let body) = e, let v = try? JSONDecoder().decode(JSONValue.self, from: body) {
                    s.messages.append(v)
                }
            }
        }
    }

    var messages: [JSONValue] { state.current.messages }

    func responses(id: JSONValue) -> [JSONValue] { messages.filter { $0["id"] == id && $0["method"] == nil } }

    /// Waits until `predicate` holds for the collected messages.
    func wait(timeout: TimeInterval = 5, _ predicate: ([JSONValue]) -> Bool) async throws {
        let deadline = Date().addingTimeInterval(timeout)
        while !predicate(messages) {
            if Date() > deadline { throw TimedOut(description: "no expected message within \(timeout) s; got \(messages)") }
            try await Task.sleep(for: .milliseconds(5))
        }
    }
}

func frame(_ json: JSONValue) -> Data {
    MessageFramer.frame(try! JSONEncoder().encode(json))
}

/// A handler with a few methods that exercise ordering, waiting and cancellation.
final class TestHandler: MessageHandler {
    let connection: Connection
    let notes = Locked<[JSONValue]>([])
    let started = Locked<Set<String>>([])

    init(connection: Connection) { self.connection = connection }

    func handleNotification(method: String, params: Payload) async {
        notes.withLock { $0.append(params.json) }
    }

    func handleRequest(id: RequestID, method: String, params: Payload) async -> ReplyWork {
        let seen = notes.current
        switch method {
        case "echo":
            let v = params.json
            return { v }
        case "notesSoFar":
            return { JSONValue.array(seen) }
        case "sleep":
            return { [started] in
                started.withLock { _ = $0.insert("\(id)") }
                try await Task.sleep(for: .seconds(30))
                return "woke up"
            }
        case "askPeer":
            return { [connection] in
                try await connection.sendRequest("peer/question", params.json, as: JSONValue.self)
            }
        case "nan":
            return { Double.nan }
        default:
            return { throw ResponseError.methodNotFound(method) }
        }
    }

    func connectionClosed() async {}
}

final class ConnectionTests: XCTestCase {
    private func makeServer() -> (Connection, CollectingTransport, Task<Void, Never>) {
        let out = CollectingTransport()
        let connection = Connection(transport: out)
        let handler = TestHandler(connection: connection)
        let loop = Task { await connection.run(handler: handler) }
        return (connection, out, loop)
    }

    func testRepliesEchoTheIdAndResultNullIsPresent() async throws {
        let (c, out, loop) = makeServer()
        c.receive(frame(["jsonrpc": "2.0", "id": 1, "method": "echo", "params": ["a": "🐱"]]))
        c.receive(frame(["jsonrpc": "2.0", "id": "x", "method": "echo"]))
        c.receive(frame(["jsonrpc": "2.0", "id": 2, "method": "nope"]))
        try await out.wait { $0.count == 3 }
        XCTAssertEqual(out.responses(id: 1).first?["result"], ["a": "🐱"])
        let nullResult = out.responses(id: "x").first
        XCTAssertEqual(nullResult?.objectValue?.keys.contains("result"), true)
        XCTAssertEqual(nullResult?["result"], .null)
        XCTAssertEqual(out.responses(id: 2).first?.at("error.code"), .int(ErrorCode.methodNotFound))
        c.close()
        await loop.value
    }

    func testParseErrorAndInvalidRequestGetErrorsWithNullIdAndTheLoopContinues() async throws {
        let (c, out, loop) = makeServer()
        c.receive(MessageFramer.frame(Data("{nope".utf8)))
        c.receive(MessageFramer.frame(Data("[]".utf8)))
        c.receive(Array("Content-Length: x\r\n\r\n".utf8))
        c.receive(frame(["jsonrpc": "2.0", "id": 9, "method": "echo", "params": 1]))
        try await out.wait { $0.count == 3 }
        XCTAssertEqual(out.messages[0]["id"], .null)
        XCTAssertEqual(out.messages[0].at("error.code"), .int(ErrorCode.parseError))
        XCTAssertEqual(out.messages[1].at("error.code"), .int(ErrorCode.invalidRequest))
        XCTAssertEqual(out.responses(id: 9).first?["result"], 1)
        c.close()
        await loop.value
    }

    func testNotificationsAreHandledInOrderBeforeLaterRequests() async throws {
        let (c, out, loop) = makeServer()
        var bytes = Data()
        for i in 0..<500 { bytes += frame(["jsonrpc": "2.0", "method": "note", "params": .int(i)]) }
        bytes += frame(["jsonrpc": "2.0", "id": 1, "method": "notesSoFar"])
        // Deliver in odd-sized chunks.
        var i = 0
        while i < bytes.count { let j = min(bytes.count, i + 333); c.receive(bytes[i..<j]); i = j }
        try await out.wait { !$0.isEmpty }
        XCTAssertEqual(out.responses(id: 1).first?["result"], .array((0..<500).map { .int($0) }))
        c.close()
        await loop.value
    }

    func testCancelRepliesRequestCancelledExactlyOnce() async throws {
        let (c, out, loop) = makeServer()
        c.receive(frame(["jsonrpc": "2.0", "id": 1, "method": "sleep"]))
        let deadline = Date().addingTimeInterval(5)
        while c.requestsInFlight == 0, Date() < deadline { try await Task.sleep(for: .milliseconds(2)) }
        c.receive(frame(["jsonrpc": "2.0", "method": "$/cancelRequest", "params": ["id": 1]]))
        // Cancel arriving in the same chunk as its request (still queued).
        c.receive(frame(["jsonrpc": "2.0", "id": "early", "method": "sleep"]) + frame(["jsonrpc": "2.0", "method": "$/cancelRequest", "params": ["id": "early"]]))
        // Cancels for unknown or finished ids are ignored.
        c.receive(frame(["jsonrpc": "2.0", "method": "$/cancelRequest", "params": ["id": 12345]]))
        try await out.wait { $0.count == 2 }
        try await Task.sleep(for: .milliseconds(50))
        XCTAssertEqual(out.messages.count, 2)
        for id: JSONValue in [1, "early"] {
            XCTAssertEqual(out.responses(id: id).count, 1)
            XCTAssertEqual(out.responses(id: id).first?.at("error.code"), .int(ErrorCode.requestCancelled))
        }
        XCTAssertEqual(c.requestsInFlight, 0)
        c.close()
        await loop.value
    }

    func testUnencodableResultStillGetsOneReply() async throws {
        let (c, out, loop) = makeServer()
        c.receive(frame(["jsonrpc": "2.0", "id": 1, "method": "nan"]))
        try await out.wait { !$0.isEmpty }
        XCTAssertEqual(out.responses(id: 1).first?.at("error.code"), .int(ErrorCode.internalError))
        c.close()
        await loop.value
    }

    /// A handler awaiting the peer does not stop the loop: while `askPeer` waits, the peer
    /// sends another request and gets its answer before it replies to the question.
    func testServerToClientRequestNeverBlocksTheReadLoop() async throws {
        let (a, b) = LocalTransport.pair()
        let server = Connection(transport: a)
        let client = Connection(transport: b, idPrefix: "client-")
        a.deliver(to: client)
        b.deliver(to: server)
        let serverLoop = Task { await server.run(handler: TestHandler(connection: server)) }

        final class Client: MessageHandler {
            let connection: Connection
            init(connection: Connection) { self.connection = connection }
            func handleNotification(method: String, params: Payload) async {}
            func handleRequest(id: RequestID, method: String, params: Payload) async -> ReplyWork {
                { [connection] in
                    // Ask the server something while it is waiting for us.
                    let echoed = try await connection.sendRequest("echo", "ping", as: String.self)
                    return "\(echoed)+answer"
                }
            }
            func connectionClosed() async {}
        }
        let clientLoop = Task { await client.run(handler: Client(connection: client)) }

        let answer = try await client.sendRequest("askPeer", "question", as: String.self)
        XCTAssertEqual(answer, "ping+answer")

        // Many concurrent requests: each gets exactly its own answer.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<200 {
                group.addTask {
                    let r = try await client.sendRequest("echo", JSONValue.int(i), as: Int.self)
                    XCTAssertEqual(r, i)
                }
            }
            try await group.waitForAll()
        }
        server.close()
        client.close()
        await serverLoop.value
        await clientLoop.value
    }

    func testClosingFailsPendingOutgoingRequests() async throws {
        let out = CollectingTransport()
        let c = Connection(transport: out)
        let pending = Task { try await c.sendRequest("workspace/configuration", JSONValue.null) }
        try await out.wait { !$0.isEmpty }
        XCTAssertEqual(out.messages[0]["id"]?.stringValue?.hasPrefix("stylus-"), true)
        c.receiveEOF()
        do {
            _ = try await pending.value
            XCTFail("expected connection closed")
        } catch let e as ResponseError {
            XCTAssertEqual(e, .connectionClosed)
        }
        // After close, new requests fail at once.
        do {
            _ = try await c.sendRequest("x", JSONValue.null)
            XCTFail("expected connection closed")
        } catch let e as ResponseError {
            XCTAssertEqual(e, .connectionClosed)
        }
    }

    func testCancellingAnOutgoingRequestNotifiesThePeer() async throws {
        let out = CollectingTransport()
        let c = Connection(transport: out)
        let pending = Task { try await c.sendRequest("window/showDocument", JSONValue.null) }
        try await out.wait { !$0.isEmpty }
        pending.cancel()
        do {
            _ = try await pending.value
            XCTFail("expected cancellation")
        } catch {
            XCTAssertTrue(error is CancellationError)
        }
        try await out.wait { $0.count == 2 }
        XCTAssertEqual(out.messages[1]["method"], "$/cancelRequest")
        XCTAssertEqual(out.messages[1].at("params.id"), out.messages[0]["id"])
    }
}

/// The test helpers themselves: a wait that times out fails its test instead of skipping it, and
/// so does a missing model file when STYLUS_REQUIRE_MODELS=1.
final class TestHelperFailureTests: XCTestCase {
    func testWaitTimeoutIsAFailureNotASkip() async throws {
        do {
            try await CollectingTransport().wait(timeout: 0.05) { _ in false }
            XCTFail("the wait should have timed out")
        } catch is XCTSkip {
            XCTFail("a timeout must not skip")
        } catch {
            XCTAssertTrue(error is TimedOut, "\(error)")
        }
    }

    func testMissingRequiredFileFailsOnlyWhenRequired() {
        XCTAssertThrowsError(try RequiredFiles.require("/nonexistent/model.safetensors", "a model", environment: [:])) { e in
            XCTAssertTrue(e is XCTSkip, "\(e)")
        }
        XCTAssertThrowsError(try RequiredFiles.require("/nonexistent/model.safetensors", "a model", environment: ["STYLUS_REQUIRE_MODELS": "1"])) { e in
            XCTAssertTrue(e is MissingRequiredFile, "\(e)")
            XCTAssertEqual("\(e)", "a model missing at /nonexistent/model.safetensors; run scripts/setup (STYLUS_REQUIRE_MODELS=1)")
        }
        XCTAssertNoThrow(try RequiredFiles.require("/", "the root", environment: ["STYLUS_REQUIRE_MODELS": "1"]))
    }
}
