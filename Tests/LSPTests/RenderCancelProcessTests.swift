import Foundation
import JSONRPC
import StylusCore
import TestSupport
import XCTest

/// `stylus lsp` as a real process rendering the tiny checkpoint at a size where one sampler step
/// takes seconds: a cancel (`$/cancelRequest` or `window/workDoneProgress/cancel`) sent while the
/// render thread is inside a step is answered at once, not when the step ends; the server keeps
/// answering other requests meanwhile; the next render of the same document runs once the stuck
/// step is over. A checkpoint that is a FIFO fails the render at once and leaves the session usable.
/// Every wait has a deadline: a missing answer fails the test.
final class RenderCancelProcessTests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures").path
    /// A sampler step of the tiny checkpoint at this size takes seconds on a laptop core (4 s on
    /// two shared cores; 768x768 takes 20 s).
    static let stuckSize = "512x512"
    /// The most a cancel may take to be answered.
    static let promptAnswer: TimeInterval = 2
    private var dir = ""
    private var server: ServerProcess?

    override func setUpWithError() throws {
        let vocabulary = DataPaths(environment: ProcessInfo.processInfo.environment).clipVocabPath
        try RequiredFiles.require(vocabulary, "the CLIP vocabulary")
        dir = NSTemporaryDirectory() + "stylus-render-cancel-\(UUID().uuidString)"
        // The server's own data directory, with the installed CLIP vocabulary linked in.
        let clip = dir + "/home/models/clip"
        try FileManager.default.createDirectory(atPath: clip, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: clip + "/bpe_simple_vocab_16e6.txt.gz", withDestinationPath: vocabulary)
    }

    override func tearDown() {
        if let server, server.process.isRunning { server.process.terminate() }
        if !dir.isEmpty { try? FileManager.default.removeItem(atPath: dir) }
    }

    private func start() throws -> ServerProcess {
        let server = try ServerProcess(environment: ["STYLUS_HOME": dir + "/home"])
        self.server = server
        try server.initialize()
        return server
    }

    /// Opens a prompt file (written to disk too) rendering the tiny checkpoint; returns its URI.
    private func open(_ server: ServerProcess, name: String, checkpoint: String? = nil, size: String = stuckSize, steps: Int = 150) throws -> String {
        let path = dir + "/\(name).sdprompt"
        let text = """
            ---
            checkpoint: \(checkpoint ?? Self.fixtures + "/TinySD/tiny-sd15.safetensors")
            steps: \(steps)
            size: \(size)
            seed: 3
            sampler: Euler
            base_model: SD 1.5
            ---
            a castle on a hill
            """
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        let uri = URL(fileURLWithPath: path).absoluteString
        server.notify("textDocument/didOpen", ["textDocument": ["uri": .string(uri), "languageId": "sdprompt", "version": 1, "text": .string(text)]])
        return uri
    }

    private func render(_ server: ServerProcess, id: String, uri: String, token: String, overrides: JSONValue? = nil) {
        var argument: [String: JSONValue] = ["uri": .string(uri)]
        if let overrides { argument["overrides"] = overrides }
        server.send(["jsonrpc": "2.0", "id": .string(id), "method": "workspace/executeCommand",
                     "params": ["command": "stylus.render", "arguments": [.object(argument)], "workDoneToken": .string(token)]])
    }

    /// Progress messages reported under `token`, in order.
    private func progress(_ server: ServerProcess, _ token: String) -> [String] {
        server.messages.filter { $0["method"] == "$/progress" && $0["params"]?["token"] == .string(token) }
            .compactMap { $0["params"]?["value"]?["message"]?.stringValue }
    }

    /// Waits (at most `timeout`) until sampling step `step` is reported under `token`; returns when that was seen.
    private func waitForStep(_ server: ServerProcess, _ token: String, _ step: Int, request id: String, timeout: TimeInterval = 120) throws -> Date {
        try server.waitUntil(timeout: timeout, "sampling step \(step) under \(token)") { messages in
            progress(server, token).contains { $0.hasPrefix("Sampling step \(step)/") }
                || messages.contains { $0["id"] == .string(id) && $0["method"] == nil }
        }
        if let early = server.messages.first(where: { $0["id"] == .string(id) && $0["method"] == nil }) {
            throw Timeout(description: "the render answered before sampling step \(step): \(early)")
        }
        return Date()
    }

    private func pngs() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".png") }.sorted()
    }

    /// Sends a cancel while the render thread is inside a multi-second step; returns the answer and how long it took.
    private func cancelDuringAStep(_ server: ServerProcess, id: String, token: String, cancel: () -> Void) throws -> (JSONValue, TimeInterval, step: TimeInterval) {
        let first = try waitForStep(server, token, 1, request: id)
        let second = try waitForStep(server, token, 2, request: id)
        let step = second.timeIntervalSince(first)
        let sent = Date()
        cancel()
        let answer = try server.response(.string(id), timeout: 60)
        return (answer, Date().timeIntervalSince(sent), step)
    }

    func testCancelRequestDuringAStuckSamplerStepIsAnsweredAtOnce() throws {
        let server = try start()
        let uri = try open(server, name: "stuck")
        render(server, id: "render-1", uri: uri, token: "tok-1")
        let (answer, latency, step) = try cancelDuringAStep(server, id: "render-1", token: "tok-1") {
            server.notify("$/cancelRequest", ["id": "render-1"])
        }
        XCTAssertEqual(answer["error"]?["code"], .int(ErrorCode.requestCancelled), "\(answer)")
        XCTAssertLessThan(latency, Self.promptAnswer, "the cancel waited for the render thread (one step takes \(step) s)")
        XCTAssertGreaterThan(step, 2 * latency, "a step (\(step) s) must outlast the answer (\(latency) s) for this test to mean anything")
        try server.waitUntil(timeout: Self.promptAnswer, "progress end 'Cancelled'") { _ in progress(server, "tok-1").last == "Cancelled" }

        // The server answers other requests while the stuck step finishes.
        let asked = Date()
        XCTAssertNotNil(try server.request(7, "textDocument/documentSymbol", ["textDocument": ["uri": .string(uri)]])["result"])
        XCTAssertLessThan(Date().timeIntervalSince(asked), Self.promptAnswer)

        // The same document renders again once the old step is over (small and quick this time).
        render(server, id: "render-2", uri: uri, token: "tok-2", overrides: ["steps": 2, "size": "64x64"])
        let again = try server.response(.string("render-2"), timeout: 120)
        XCTAssertEqual(again["result"]?["paths"]?.arrayValue?.count, 1, "\(again)")
        XCTAssertEqual(try pngs(), ["stuck-1.png"], "the cancelled render wrote nothing")
        let steps = progress(server, "tok-1").compactMap { m -> Int? in
            guard m.hasPrefix("Sampling step ") else { return nil }
            return Int(m.dropFirst("Sampling step ".count).prefix { $0 != "/" })
        }
        XCTAssertLessThanOrEqual(steps.max() ?? 0, 3, "the render went on after the cancel: \(steps)")
    }

    func testProgressCancelDuringAStuckSamplerStepIsAnsweredAtOnce() throws {
        let server = try start()
        let uri = try open(server, name: "stuck")
        render(server, id: "render-1", uri: uri, token: "tok-1")
        let (answer, latency, step) = try cancelDuringAStep(server, id: "render-1", token: "tok-1") {
            server.notify("window/workDoneProgress/cancel", ["token": "tok-1"])
        }
        XCTAssertEqual(answer["result"]?["cancelled"], .bool(true), "\(answer)")
        XCTAssertEqual(answer["result"]?["paths"], .array([]), "\(answer)")
        XCTAssertLessThan(latency, Self.promptAnswer, "the cancel waited for the render thread (one step takes \(step) s)")
        XCTAssertGreaterThan(step, 2 * latency, "a step (\(step) s) must outlast the answer (\(latency) s) for this test to mean anything")

        // A second render of the same document while the stuck step runs is refused or queued, never lost:
        // it answers, and the document renders.
        render(server, id: "render-2", uri: uri, token: "tok-2", overrides: ["steps": 2, "size": "64x64"])
        let again = try server.response(.string("render-2"), timeout: 120)
        XCTAssertEqual(again["result"]?["paths"]?.arrayValue?.count, 1, "\(again)")
        XCTAssertEqual(try pngs(), ["stuck-1.png"])
    }

    /// A FIFO named as the checkpoint once hung the render, its cancel and every later render.
    func testFIFOCheckpointFailsAtOnceAndLaterRendersWork() throws {
        let fifo = dir + "/model.safetensors"
        try FIFO.make(fifo)
        defer { FIFO.releaseReaders(fifo) }
        let server = try start()
        let bad = try open(server, name: "fifo", checkpoint: fifo, size: "64x64", steps: 2)
        render(server, id: "render-1", uri: bad, token: "tok-1")
        let answer = try server.response(.string("render-1"), timeout: 10)
        let message = answer["error"]?["message"]?.stringValue ?? ""
        XCTAssertTrue(message.contains(fifo) && message.contains("not a regular file"), "\(answer)")
        let good = try open(server, name: "good", size: "64x64", steps: 2)
        render(server, id: "render-2", uri: good, token: "tok-2")
        let rendered = try server.response(.string("render-2"), timeout: 120)
        XCTAssertEqual(rendered["result"]?["paths"]?.arrayValue?.count, 1, "\(rendered)")
    }

    /// A PNG numbered Int.max beside the prompt once overflowed the output numbering and killed the server.
    func testFullOutputNumberingFailsTheRenderNotTheServer() throws {
        XCTAssertTrue(FileManager.default.createFile(atPath: dir + "/full-9223372036854775807.png", contents: Data()))
        let server = try start()
        let uri = try open(server, name: "full", size: "64x64", steps: 2)
        render(server, id: "render-1", uri: uri, token: "tok-1")
        let answer = try server.response(.string("render-1"), timeout: 120)
        let message = answer["error"]?["message"]?.stringValue ?? ""
        XCTAssertTrue(message.contains("full-9223372036854775807.png: no full-<n>.png number is left after this one"), "\(answer)")
        XCTAssertTrue(server.process.isRunning, "the server died: \(server.stderrText)")
        XCTAssertNotNil(try server.request(8, "textDocument/documentSymbol", ["textDocument": ["uri": .string(uri)]])["result"])
    }
}
