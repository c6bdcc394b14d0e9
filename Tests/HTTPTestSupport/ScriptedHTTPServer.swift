import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A real HTTP/1.1 server on 127.0.0.1 (a socket listener on its own thread) that answers each
/// request with whatever the test scripts, and records what it received. Shared by the tests of
/// every HTTP client in the project (A1111 backend, LLM refiner, LLM composer, CLI).
public final class ScriptedHTTPServer: @unchecked Sendable {
    public struct Request: Sendable {
        public var method: String
        public var path: String
        /// Header names lowercased.
        public var headers: [String: String]
        public var body: Data

        public var bodyText: String { String(decoding: body, as: UTF8.self) }
        /// The body as a JSON object (empty when it is not one).
        public var json: [String: Any] { (try? JSONSerialization.jsonObject(with: body) as? [String: Any]) ?? [:] }
    }

    public enum Reply: @unchecked Sendable {
        case json(Int, Any)
        case raw(Int, String)
        /// Read the request, then keep the connection open without answering.
        case hang
    }

    public let port: UInt16
    private let fd: Int32
    private let lock = NSLock()
    private var received: [Request] = []
    private var open: [Int32] = []
    private var stopped = false
    private let script: @Sendable (Request) -> Reply

    public init(script: @escaping @Sendable (Request) -> Reply) throws {
        self.script = script
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.fd = fd
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { a in
                bind(fd, a, len) == 0 && listen(fd, 16) == 0 && getsockname(fd, a, &len) == 0
            }
        }
        guard bound else { throw NSError(domain: "ScriptedHTTPServer", code: Int(errno)) }
        port = UInt16(bigEndian: addr.sin_port)
        Thread.detachNewThread { [self] in acceptLoop() }
    }

    /// Answers requests with `replies` in order, then HTTP 500.
    public convenience init(replies: [Reply]) throws {
        let queue = ReplyQueue(replies)
        try self.init(script: { _ in queue.next() })
    }

    public var url: URL { URL(string: "http://127.0.0.1:\(port)")! }

    /// The requests so far, in a buffer of their own (the serving thread keeps appending to its array).
    public var requests: [Request] {
        lock.lock(); defer { lock.unlock() }
        var copy: [Request] = []  // elements copied (`map { $0 }` was optimised into sharing the buffer)
        copy.reserveCapacity(received.count)
        copy.append(contentsOf: received)
        return copy
    }

    public func stop() {
        lock.lock()
        stopped = true
        let conns = open
        open = []
        lock.unlock()
        shutdown(fd, Int32(SHUT_RDWR))
        close(fd)
        for c in conns { shutdown(c, Int32(SHUT_RDWR)); close(c) }
    }

    private func acceptLoop() {
        while true {
            let c = accept(fd, nil, nil)
            if c < 0 { return }
            lock.lock()
            if stopped { lock.unlock(); close(c); return }
            open.append(c)
            lock.unlock()
            Thread.detachNewThread { [self] in serve(c) }
        }
    }

    private func serve(_ c: Int32) {
        var buffer = [UInt8]()
        var chunk = [UInt8](repeating: 0, count: 65536)
        func fill() -> Bool {
            let n = read(c, &chunk, chunk.count)
            if n <= 0 { return false }
            buffer += chunk[0..<n]
            return true
        }
        let separator: [UInt8] = [13, 10, 13, 10]
        var headerEnd: Int?
        while headerEnd == nil {
            if let r = buffer.indices.dropLast(3).first(where: { Array(buffer[$0..<($0 + 4)]) == separator }) { headerEnd = r; break }
            if !fill() { return }
        }
        let head = String(decoding: buffer[0..<headerEnd!], as: UTF8.self).components(separatedBy: "\r\n")
        let parts = head[0].split(separator: " ")
        let length = head.dropFirst().compactMap { line -> Int? in
            let kv = line.split(separator: ":", maxSplits: 1)
            return kv.count == 2 && kv[0].lowercased() == "content-length" ? Int(kv[1].trimmingCharacters(in: .whitespaces)) : nil
        }.first ?? 0
        while buffer.count < headerEnd! + 4 + length { if !fill() { return } }
        var headers: [String: String] = [:]
        for line in head.dropFirst() {
            let kv = line.split(separator: ":", maxSplits: 1)
            if kv.count == 2 { headers[kv[0].lowercased()] = kv[1].trimmingCharacters(in: .whitespaces) }
        }
        let request = Request(method: parts.count > 0 ? String(parts[0]) : "", path: parts.count > 1 ? String(parts[1]) : "",
                              headers: headers, body: Data(buffer[(headerEnd! + 4)..<(headerEnd! + 4 + length)]))
        lock.lock(); received.append(request); lock.unlock()
        let status: Int, body: Data
        switch script(request) {
        case .hang: return  // closed by stop()
        case let .json(s, obj): status = s; body = (try? JSONSerialization.data(withJSONObject: obj)) ?? Data()
        case let .raw(s, text): status = s; body = Data(text.utf8)
        }
        let header = "HTTP/1.1 \(status) X\r\nContent-Type: application/json\r\nContent-Length: \(body.count)\r\nConnection: close\r\n\r\n"
        let out = [UInt8](Data(header.utf8) + body)
        var sent = 0
        while sent < out.count {
            // MSG_NOSIGNAL: a client that gave up (a timeout test) must not end the test process by SIGPIPE.
            let n = out.withUnsafeBytes { send(c, $0.baseAddress! + sent, out.count - sent, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { break }
            sent += n
        }
        lock.lock(); open.removeAll { $0 == c }; lock.unlock()
        close(c)
    }
}


private final class ReplyQueue: @unchecked Sendable {
    private let lock = NSLock()
    private var replies: [ScriptedHTTPServer.Reply]
    init(_ replies: [ScriptedHTTPServer.Reply]) { self.replies = replies }
    func next() -> ScriptedHTTPServer.Reply {
        lock.lock(); defer { lock.unlock() }
        return replies.isEmpty ? .raw(500, "{}") : replies.removeFirst()
    }
}
