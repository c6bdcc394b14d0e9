import Foundation
import JSONRPC
import LSP
import XCTest

/// ProgressReporter against a client connection that records what it receives.
final class ProgressReporterTests: XCTestCase {
    final class Client: MessageHandler {
        let received = Locked<[(String, JSONValue)]>([])
        let acceptCreate: Bool
        init(acceptCreate: Bool) { self.acceptCreate = acceptCreate }
        func handleNotification(method: String, params: Payload) async { received.withLock { $0.append((method, params.json)) } }
        func handleRequest(id: RequestID, method: String, params: Payload) async -> ReplyWork {
            received.withLock { $0.append((method, params.json)) }
            let accept = acceptCreate
            return { if accept { return JSONValue.null } else { throw ResponseError(code: -32603, message: "no") } }
        }
        func connectionClosed() async {}
    }

    private func pair(acceptCreate: Bool = true) -> (Connection, Client) {
        let (a, b) = LocalTransport.pair()
        let server = Connection(transport: a)
        let clientConnection = Connection(transport: b, idPrefix: "c-")
        a.deliver(to: clientConnection)
        b.deliver(to: server)
        let client = Client(acceptCreate: acceptCreate)
        Task { await clientConnection.run(handler: client) }
        Task { await server.run(handler: Client(acceptCreate: true)) }
        return (server, client)
    }

    private func settle(_ client: Client, count: Int) async throws {
        let deadline = ContinuousClock.now + .seconds(5)
        while client.received.current.count < count, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(5)) }
        try await Task.sleep(for: .milliseconds(30))
    }

    func testCreatesATokenThenBeginReportEndOnce() async throws {
        let (server, client) = pair()
        var caps = ClientCapabilities()
        caps.workDoneProgress = true
        let p = await ProgressReporter.start(title: "Reindexing", connection: server, client: caps)
        let active = await p.isActive
        XCTAssertTrue(active)
        await p.report("1/2", percentage: 50)
        await p.report("1/2", percentage: 50)   // unchanged: skipped
        await p.report("2/2", percentage: 140)  // clamped
        await p.end("done")
        await p.end("twice")                    // ignored
        try await settle(client, count: 5)
        let r = client.received.current
        XCTAssertEqual(r.map(\.0), ["window/workDoneProgress/create", "$/progress", "$/progress", "$/progress", "$/progress"])
        let token = r[0].1["token"]
        XCTAssertTrue(r.dropFirst().allSatisfy { $0.1["token"] == token })
        XCTAssertEqual(r.dropFirst().map { $0.1.at("value.kind") }, ["begin", "report", "report", "end"])
        XCTAssertEqual(r[1].1.at("value.title"), "Reindexing")
        XCTAssertEqual(r[3].1.at("value.percentage"), 100)
    }

    /// Without $/progress (no capability, or the client refused the token): a message when the
    /// task begins, a log line per tenth of the way, one when it ends.
    func testMessagesInsteadOfProgressWithoutCapabilityOrWhenRefused() async throws {
        let (server, client) = pair(acceptCreate: false)
        let silent = await ProgressReporter.start(title: "Rendering x", connection: server, client: ClientCapabilities())
        await silent.report("no percentage")
        await silent.report("Sampling step 1/20", percentage: 12)
        await silent.report("Sampling step 2/20", percentage: 15)  // same tenth: not logged
        await silent.report("Sampling step 9/20", percentage: 45)
        await silent.end("Wrote x-1.png")
        var caps = ClientCapabilities()
        caps.workDoneProgress = true
        let refused = await ProgressReporter.start(title: "y", connection: server, client: caps)
        await refused.end()
        try await settle(client, count: 7)
        let r = client.received.current
        XCTAssertEqual(r.map(\.0), ["window/showMessage", "window/logMessage", "window/logMessage", "window/logMessage",
                                   "window/workDoneProgress/create", "window/showMessage", "window/logMessage"])
        XCTAssertEqual(r[1].1["message"], "Rendering x: 12% Sampling step 1/20")
        XCTAssertEqual(r[2].1["message"], "Rendering x: 45% Sampling step 9/20")
        XCTAssertEqual(r[3].1["message"], "Rendering x: Wrote x-1.png")
    }

    func testClientSuppliedTokenIsUsedWithoutCreate() async throws {
        let (server, client) = pair()
        let p = await ProgressReporter.start(title: "Render", connection: server, client: ClientCapabilities(), clientToken: .int(7))
        await p.end()
        try await settle(client, count: 2)
        XCTAssertEqual(client.received.current.map(\.0), ["$/progress", "$/progress"])
        XCTAssertEqual(client.received.current[0].1["token"], 7)
    }
}
