import Foundation
import StylusCatalog
import StylusCore
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// A scripted HTTP server on 127.0.0.1: answers each request with the next canned response and
/// records what it received. Real sockets, real HTTP, no network beyond loopback.
final class ScriptedHTTPServer: @unchecked Sendable {
    let port: UInt16
    private let fd: Int32
    private let lock = NSLock()
    private var responses: [(Int, String)]
    private(set) var requests: [String] = []

    init(responses: [(status: Int, body: String)]) throws {
        self.responses = responses.map { ($0.status, $0.body) }
        let sock = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var yes: Int32 = 1
        setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(sock, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(sock, 8) == 0 else { throw NSError(domain: "server", code: Int(errno)) }
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(sock, $0, &len) }
        }
        fd = sock
        port = UInt16(bigEndian: addr.sin_port)
        Thread.detachNewThread { [self] in self.serve() }
    }

    var recorded: [String] { lock.lock(); defer { lock.unlock() }; return requests }

    private func serve() {
        while true {
            let client = accept(fd, nil, nil)
            if client < 0 { return }
            var data = [UInt8]()
            var buf = [UInt8](repeating: 0, count: 65536)
            // Read headers, then Content-Length bytes of body.
            while true {
                let n = read(client, &buf, buf.count)
                if n <= 0 { break }
                data += buf[0..<n]
                // Bytes, not Characters: "\r\n" is one Character in Swift.
                guard let end = (0..<max(0, data.count - 3)).first(where: { data[$0] == 13 && data[$0 + 1] == 10 && data[$0 + 2] == 13 && data[$0 + 3] == 10 }) else { continue }
                let head = String(decoding: data[0..<end], as: UTF8.self).lowercased()
                let length = head.components(separatedBy: "\r\n").first { $0.hasPrefix("content-length:") }
                    .flatMap { Int($0.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) } ?? 0
                if data.count - (end + 4) >= length { break }
            }
            lock.lock()
            requests.append(String(decoding: data, as: UTF8.self))
            let (status, body) = responses.isEmpty ? (500, "{}") : responses.removeFirst()
            lock.unlock()
            let reply = "HTTP/1.1 \(status) X\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)"
            _ = reply.withCString { write(client, $0, strlen($0)) }
            close(client)
        }
    }

    func stop() { shutdown(fd, Int32(SHUT_RDWR)); close(fd) }
}

final class LLMRefinerTests: XCTestCase {
    static func chat(_ content: String) -> String {
        let object: [String: Any] = ["choices": [["message": ["role": "assistant", "content": content]]]]
        return String(decoding: try! JSONSerialization.data(withJSONObject: object), as: UTF8.self)
    }

    func testParseAnswer() throws {
        let a = try LLMRefiner.parseAnswer("- Glowing paper lanterns floating at night,\nwarm light.\n- 0.7")
        XCTAssertEqual(a.description, "Glowing paper lanterns floating at night, warm light.")
        XCTAssertEqual(a.weight, 0.7)
        XCTAssertEqual(try LLMRefiner.parseAnswer("- Sean-like likeness\n- 0.").weight, 0)
        XCTAssertThrowsError(try LLMRefiner.parseAnswer("I cannot help with that."))
    }

    func testRefinesCachesAndFallsBack() throws {
        let server = try ScriptedHTTPServer(responses: [
            (200, Self.chat("- Paper lanterns glowing over a misty river at night.\n- 0.6")),
            (200, Self.chat("no bullets at all")),
        ])
        defer { server.stop() }
        let store = try CatalogStore(path: try Support.tempDir() + "/c.sqlite")
        try store.upsert([
            AdapterInput(card: AdapterCard(adapterId: "a", alias: "lanterns", title: "Lanterns", tags: ["object"], description: "lanterns"), source: "t"),
            AdapterInput(card: AdapterCard(adapterId: "b", alias: "boats", title: "Boats", tags: ["vehicle"], description: "boats. weight 0.9"), source: "t"),
        ])
        try store.setEmbedding(adapterID: "a", vector: [Float](repeating: 0.1, count: 384), model: EmbeddingVector.modelID)
        let env = ["STYLUS_LLM_URL": "http://127.0.0.1:\(server.port)/v1", "STYLUS_LLM_MODEL": "test-model", "STYLUS_LLM_API_KEY": "k123"]
        let config = try XCTUnwrap(LLMRefiner.Configuration(environment: env))
        var logged: [String] = []
        let result = try LLMRefiner(configuration: config, store: store).refine { logged.append($0) }
        XCTAssertEqual(result, LLMRefiner.Result(refined: 1, cached: 0, failed: 1))
        XCTAssertEqual(logged.count, 1)
        XCTAssertTrue(logged[0].hasPrefix("b: LLM answer not in the expected two-bullet form"), logged[0])

        let a = try XCTUnwrap(store.lookup("a").first)
        XCTAssertEqual(a.refinedBy, "llm:test-model")
        XCTAssertTrue(a.refinement.refinedDescription.contains("Paper lanterns glowing over a misty river"))
        XCTAssertEqual(a.refinement.weight, 0.6)  // the card said nothing, so the LLM's weight is used
        XCTAssertEqual(a.refinement.weightSource, .llm)
        XCTAssertNil(a.embeddingModel, "the embedding of the old text is dropped")
        let b = try XCTUnwrap(store.lookup("b").first)
        XCTAssertEqual(b.refinedBy, "offline")
        XCTAssertEqual(b.refinement.weight, 0.9)

        let first = server.recorded[0]
        XCTAssertTrue(first.hasPrefix("POST /v1/chat/completions"), first)
        XCTAssertTrue(first.lowercased().contains("authorization: bearer k123"))
        XCTAssertTrue(first.contains("\"model\":\"test-model\""), first)
        XCTAssertTrue(first.contains("Title: Lanterns"))

        // Second run: "a" comes from the cache (no request), "b" is asked again and now the server fails.
        let again = try LLMRefiner(configuration: config, store: store).refine { logged.append($0) }
        XCTAssertEqual(again, LLMRefiner.Result(refined: 0, cached: 1, failed: 1))
        XCTAssertEqual(server.recorded.count, 3)
        XCTAssertTrue(logged.last?.contains("HTTP 500") == true, "\(logged)")
    }

    func testUnreachableEndpointKeepsOfflineRefinement() throws {
        let store = try CatalogStore(path: try Support.tempDir() + "/c.sqlite")
        try store.upsert([AdapterInput(card: AdapterCard(adapterId: "a", alias: "x", title: "X"), source: "t")])
        // Port 9 on loopback: nothing listens there.
        let config = LLMRefiner.Configuration(url: URL(string: "http://127.0.0.1:9/v1")!, model: "m", timeout: 5)
        var logged: [String] = []
        let r = try LLMRefiner(configuration: config, store: store).refine { logged.append($0) }
        XCTAssertEqual(r.failed, 1)
        XCTAssertTrue(logged[0].contains("unreachable"), "\(logged)")
        XCTAssertEqual(try store.lookup("a").first?.refinedBy, "offline")
        XCTAssertNil(LLMRefiner.Configuration(environment: [:]), "never required: no env, no LLM")
    }
}
