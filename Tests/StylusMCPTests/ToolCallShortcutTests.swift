import Foundation
import Logging
import MCP
import StylusMCP
import XCTest

/// `ToolCallShortcut` answers calls of its tools itself, in the SDK's response form, and passes
/// every other message on unchanged; its stream ends only after the calls it took have answered.
final class ToolCallShortcutTests: XCTestCase {
    /// A transport whose incoming messages the test writes and whose sent messages it reads.
    actor Scripted: Transport {
        nonisolated let logger = Logger(label: "test")
        nonisolated let incoming: AsyncThrowingStream<Data, Error>
        nonisolated let feed: AsyncThrowingStream<Data, Error>.Continuation
        private(set) var sent: [Data] = []

        init() { (incoming, feed) = AsyncThrowingStream.makeStream(of: Data.self) }
        func connect() async throws {}
        func disconnect() async {}
        func send(_ data: Data) async throws { sent.append(data) }
        nonisolated func receive() -> AsyncThrowingStream<Data, Error> { incoming }
    }

    func testAnswersItsToolsAndForwardsEverythingElseInOrder() async throws {
        let inner = Scripted()
        let shortcut = ToolCallShortcut(inner, logger: inner.logger, tools: ["search_adapters", "failing"]) { params in
            if params.name == "failing" { throw MCPError.invalidParams("no such thing") }
            try await Task.sleep(nanoseconds: 50_000_000)  // still running when the input ends
            let query = params.arguments?["query"]?.stringValue ?? ""
            // A text that looks like a data URL: the SDK's round trip through `Value` would rewrite it.
            return .init(content: [.text(text: "data:,cat", annotations: nil, _meta: nil)], structuredContent: ["query": .string(query)], isError: false)
        }
        let messages = [
            #"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"search_adapters","arguments":{"query":"stone castle"}}}"#,
            #"{"jsonrpc":"2.0","id":2,"method":"ping"}"#,
            #"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"render_image","arguments":{}}}"#,
            #"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
            #"{"jsonrpc":"2.0","id":"x","method":"tools/call","params":{"name":"failing"}}"#,
            #"[{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"search_adapters"}}]"#,
        ]
        let stream = await shortcut.receive()
        for m in messages { inner.feed.yield(Data(m.utf8)) }
        inner.feed.finish()
        var forwarded: [String] = []
        for try await data in stream { forwarded.append(String(decoding: data, as: UTF8.self)) }

        // Not the tool calls it answers: the ping, the render, the notification and the batch, in order.
        XCTAssertEqual(forwarded, [messages[1], messages[2], messages[3], messages[5]])
        // The stream ended after both answers went out, each once.
        let sent = await inner.sent.map { String(decoding: $0, as: UTF8.self) }
        XCTAssertEqual(sent.count, 2)
        // As the SDK sends them: sorted keys, unescaped slashes, the data-URL-looking text untouched.
        XCTAssertTrue(sent.contains(#"{"id":1,"jsonrpc":"2.0","result":{"content":[{"text":"data:,cat","type":"text"}],"isError":false,"structuredContent":{"query":"stone castle"}}}"#), "\(sent)")
        let failure = try XCTUnwrap(sent.first { $0.contains(#""id":"x""#) })
        let decoded = try JSONDecoder().decode(Response<CallTool>.self, from: Data(failure.utf8))
        guard case .failure(let error) = decoded.result else { return XCTFail(failure) }
        XCTAssertEqual(error.code, -32602)
    }
}
