import Foundation
import StylusCore
import JSONRPC
import XCTest

/// `stylus lsp` as a real process over pipes: exit codes, stdout purity, bad input.
final class ServerProcess: @unchecked Sendable {
    let process = Process()
    private let stdin = Pipe(), stdout = Pipe(), stderr = Pipe()
    private let received = Locked((framer: MessageFramer(), messages: [JSONValue](), raw: Data(), problems: [String](), eof: false))
    private let errorOutput = Locked(Data())

    /// The built `stylus`: $STYLUS_BIN, else next to the test bundle (same build directory).
    static func binary() throws -> URL {
        if let path = ProcessInfo.processInfo.environment["STYLUS_BIN"] { return URL(fileURLWithPath: path) }
        let first = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for dir in [first, Bundle.main.bundleURL, Bundle.main.bundleURL.deletingLastPathComponent()] {
            let candidate = dir.appendingPathComponent("stylus")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        }
        throw Timeout(description: "built `stylus` not found next to \(CommandLine.arguments[0]); run `swift build` first or set STYLUS_BIN")
    }

    /// `environment` adds to (or overrides) the test's environment.
    init(environment extra: [String: String] = [:]) throws {
        process.executableURL = try Self.binary()
        process.arguments = ["lsp"]
        // The server seeds a starter catalog in its data directory: a private one, not the user's.
        var environment = ProcessInfo.processInfo.environment
        environment["STYLUS_HOME"] = TestClient.sharedHome
        environment.removeValue(forKey: "STYLUS_DB")
        environment.merge(extra) { $1 }
        process.environment = environment
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = stderr
        try process.run()
        let out = stdout.fileHandleForReading, err = stderr.fileHandleForReading
        let received = self.received, errorOutput = self.errorOutput
        Thread {
            while true {
                let chunk = out.availableData
                if chunk.isEmpty { break }
                received.withLock { s in
                    s.raw.append(chunk)
                    s.framer.feed(chunk)
                    while let e = s.framer.next() {
                        switch e {
                        case .headerError(let m): s.problems.append("header: \(m)")
                        case .message(let body):
                            if let v = try? JSONDecoder().decode(JSONValue.self, from: body), v["jsonrpc"] == "2.0" {
                                s.messages.append(v)
                            } else {
                                s.problems.append("not a JSON-RPC body: \(String(decoding: body.prefix(100), as: UTF8.self))")
                            }
                        }
                    }
                }
            }
            received.withLock { $0.eof = true }
        }.start()
        Thread {
            while true {
                let chunk = err.availableData
                if chunk.isEmpty { break }
                errorOutput.withLock { $0.append(chunk) }
            }
        }.start()
    }

    func send(_ message: JSONValue) { sendRaw(MessageFramer.frame(try! JSONEncoder().encode(message))) }
    func sendRaw(_ data: Data) { try? stdin.fileHandleForWriting.write(contentsOf: data) }
    func closeStdin() { try? stdin.fileHandleForWriting.close() }

    /// The messages so far, in a buffer of their own (the reader thread keeps appending to its array).
    var messages: [JSONValue] {
        received.withLock { s in
            var copy: [JSONValue] = []
            copy.reserveCapacity(s.messages.count)
            copy.append(contentsOf: s.messages)
            return copy
        }
    }
    var problems: [String] { received.current.problems }
    var stderrText: String { String(decoding: errorOutput.current, as: UTF8.self) }
    /// Bytes on stdout that did not (yet) form a complete message.
    var leftover: Int { received.current.framer.bufferedCount }

    func response(_ id: JSONValue, timeout: TimeInterval = 10) throws -> JSONValue {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let r = messages.first(where: { $0["id"] == id && $0["method"] == nil }) { return r }
            Thread.sleep(forTimeInterval: 0.005)
        }
        throw Timeout(description: "no response \(id); stderr: \(stderrText)")
    }

    /// Waits until the messages received so far satisfy `condition` (answers to requests sent
    /// together may arrive in any order); a timeout fails.
    func waitUntil(timeout: TimeInterval = 10, _ what: String, _ condition: ([JSONValue]) -> Bool) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if condition(messages) { return }
            Thread.sleep(forTimeInterval: 0.005)
        }
        throw Timeout(description: "never received \(what); got \(messages); stderr: \(stderrText)")
    }

    func request(_ id: Int, _ method: String, _ params: JSONValue = nil) throws -> JSONValue {
        send(["jsonrpc": "2.0", "id": .int(id), "method": .string(method), "params": params])
        return try response(.int(id))
    }

    func notify(_ method: String, _ params: JSONValue = nil) {
        send(["jsonrpc": "2.0", "method": .string(method), "params": params])
    }

    func initialize() throws {
        let r = try request(0, "initialize", ["processId": nil, "rootUri": nil, "capabilities": [:]])
        XCTAssertNotNil(r["result"])
        notify("initialized", [:])
    }

    /// Waits for the process to end; kills it and fails on timeout.
    func exitCode(timeout: TimeInterval = 10) throws -> Int32 {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning {
            if Date() > deadline {
                process.terminate()
                throw Timeout(description: "server did not exit; stderr: \(stderrText)")
            }
            Thread.sleep(forTimeInterval: 0.01)
        }
        // Let the reader see the last bytes.
        let end = Date().addingTimeInterval(2)
        while !received.current.eof, Date() < end { Thread.sleep(forTimeInterval: 0.005) }
        return process.terminationStatus
    }
}

final class ProcessTests: XCTestCase {
    func testShutdownThenExitIsCodeZeroAndStdoutIsOnlyProtocol() throws {
        let server = try ServerProcess()
        XCTAssertEqual(try server.request(1, "textDocument/hover").at("error.code"), .int(ErrorCode.serverNotInitialized))
        try server.initialize()
        server.notify("textDocument/didOpen", ["textDocument": ["uri": "file:///a.sdprompt", "languageId": "sdprompt", "version": 1, "text": "a 🐱 cat"]])
        XCTAssertEqual(try server.request(2, "stylus/debugDocument", ["uri": "file:///a.sdprompt"]).at("result.text"), "a 🐱 cat")
        XCTAssertEqual(try server.request(3, "shutdown")["result"], .null)
        XCTAssertEqual(try server.request(4, "stylus/debugDocument", ["uri": "file:///a.sdprompt"]).at("error.code"),
                       .int(ErrorCode.invalidRequest))
        server.notify("exit")
        XCTAssertEqual(try server.exitCode(), 0)
        XCTAssertEqual(server.problems, [])
        XCTAssertEqual(server.leftover, 0, "stdout carries nothing but framed messages")
    }

    func testExitWithoutShutdownIsCodeOne() throws {
        let server = try ServerProcess()
        try server.initialize()
        server.notify("exit")
        XCTAssertEqual(try server.exitCode(), 1)
    }

    func testEndOfInputExits() throws {
        let a = try ServerProcess()
        try a.initialize()
        a.closeStdin()
        XCTAssertEqual(try a.exitCode(), 1)

        let b = try ServerProcess()
        try b.initialize()
        _ = try b.request(1, "shutdown")
        b.closeStdin()
        XCTAssertEqual(try b.exitCode(), 0)

        let c = try ServerProcess()   // EOF before anything at all
        c.closeStdin()
        XCTAssertEqual(try c.exitCode(), 1)
    }

    func testBadInputIsAnsweredAndTheServerKeepsServing() throws {
        let server = try ServerProcess()
        try server.initialize()
        var rng = SeededGenerator(seed: 99)
        var garbage = Data((0..<5000).map { _ in UInt8(truncatingIfNeeded: rng.next()) }.filter { $0 != UInt8(ascii: "C") && $0 != UInt8(ascii: "c") })
        garbage.append(contentsOf: Array("\r\n\r\n".utf8))
        server.sendRaw(garbage)                                                   // junk header: skipped
        server.sendRaw(MessageFramer.frame(Data("{\"jsonrpc\": \"2.0\", \"id\": 5, \"method\": ".utf8)))  // truncated JSON
        server.sendRaw(MessageFramer.frame(Data([0x7B, 0x22, 0xC3, 0x28, 0x22, 0x3A, 0x31, 0x7D])))  // invalid UTF-8
        server.sendRaw(Data("Content-Length: abc\r\n\r\n".utf8))
        server.send(["jsonrpc": "2.0", "id": 6, "method": "textDocument/hover", "params": "wrong type"])
        server.send(["jsonrpc": "2.0", "id": 7, "method": "no/such/method"])
        server.send(["jsonrpc": "2.0", "id": 8, "method": "stylus/debugDocument", "params": ["uri": "file:///missing"]])
        server.send(["jsonrpc": "2.0", "id": ["nested": 1], "method": "shutdown"])
        XCTAssertEqual(try server.response(.int(7)).at("error.code"), .int(ErrorCode.methodNotFound))
        XCTAssertEqual(try server.response(.int(8)).at("error.code"), .int(ErrorCode.invalidParams))
        try server.waitUntil("the invalid-request error for the nested id") { messages in
            messages.contains { $0["id"] == .null && $0.at("error.code")?.intValue == ErrorCode.invalidRequest }
        }
        let nullIdErrors = server.messages.filter { $0["id"] == .null }.compactMap { $0.at("error.code")?.intValue }
        XCTAssertTrue(nullIdErrors.contains(ErrorCode.parseError), "\(server.messages)")
        XCTAssertTrue(nullIdErrors.contains(ErrorCode.invalidRequest), "\(server.messages)")
        // Still serving.
        XCTAssertEqual(try server.request(9, "shutdown")["result"], .null)
        server.notify("exit")
        XCTAssertEqual(try server.exitCode(), 0)
        XCTAssertEqual(server.problems, [])
    }

    /// 3 MB (followed, not analysed) and 10 MB (not followed) documents through real stdio framing.
    func testLargeDocuments() throws {
        let server = try ServerProcess()
        try server.initialize()
        let line = "masterpiece, (best quality:1.2), 🐱 <lora:cat:0.8>, BREAK\n"
        let text = String(repeating: line, count: 3_000_000 / line.utf8.count)
        let lines = text.utf8.count / line.utf8.count
        server.notify("textDocument/didOpen", ["textDocument": ["uri": "file:///big.sdprompt", "languageId": "sdprompt", "version": 1, "text": .string(text)]])
        server.notify("textDocument/didChange", [
            "textDocument": ["uri": "file:///big.sdprompt", "version": 2],
            "contentChanges": [["range": ["start": ["line": .int(lines), "character": 0], "end": ["line": .int(lines), "character": 0]], "text": "end"]],
        ])
        let r = try server.request(1, "stylus/debugDocument", ["uri": "file:///big.sdprompt"])
        XCTAssertEqual(r.at("result.version"), 2)
        XCTAssertEqual(r.at("result.text")?.stringValue?.utf8.count, text.utf8.count + 3)
        XCTAssertEqual(r.at("result.lineCount"), .int(lines + 1))
        XCTAssertEqual(r.at("result.followed"), .bool(true))
        // Too large to analyse: said once, features answer empty, the server keeps serving.
        let tokens = try server.request(2, "textDocument/semanticTokens/full", ["textDocument": ["uri": "file:///big.sdprompt"]])
        XCTAssertEqual(tokens.at("result.data"), [])
        func published(_ uri: String) throws -> JSONValue? {
            try server.waitUntil("diagnostics of \(uri)") { $0.contains { $0["method"] == "textDocument/publishDiagnostics" && $0.at("params.uri") == .string(uri) } }
            return server.messages.first { $0["method"] == "textDocument/publishDiagnostics" && $0.at("params.uri") == .string(uri) }
        }
        XCTAssertEqual(try published("file:///big.sdprompt")?.at("params.diagnostics")?.arrayValue?.first?["code"], "document-too-large")

        // 10 MB: not followed; its edits are dropped, and the diagnostic says so.
        let huge = String(repeating: line, count: 10_000_000 / line.utf8.count)
        server.notify("textDocument/didOpen", ["textDocument": ["uri": "file:///huge.sdprompt", "languageId": "sdprompt", "version": 1, "text": .string(huge)]])
        server.notify("textDocument/didChange", [
            "textDocument": ["uri": "file:///huge.sdprompt", "version": 2],
            "contentChanges": [["range": ["start": ["line": 3, "character": 0], "end": ["line": 3, "character": 0]], "text": "end"]],
        ])
        let h = try server.request(4, "stylus/debugDocument", ["uri": "file:///huge.sdprompt"])
        XCTAssertEqual(h.at("result.version"), 2)
        XCTAssertEqual(h.at("result.followed"), .bool(false))
        XCTAssertEqual(h.at("result.bytes"), .int(huge.utf8.count))
        let message = try published("file:///huge.sdprompt")?.at("params.diagnostics")?.arrayValue?.first?["message"]?.stringValue ?? ""
        XCTAssertTrue(message.contains("does not follow edits"), message)
        _ = try server.request(3, "shutdown")
        server.notify("exit")
        XCTAssertEqual(try server.exitCode(), 0)
    }
}
