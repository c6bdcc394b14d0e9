import Foundation
import Logging
import MCP
#if canImport(Glibc)
import Glibc
#endif

/// `stylus mcp --http PORT`: MCP's Streamable HTTP transport at `http://127.0.0.1:PORT/mcp`, bound
/// to the loopback interface only (the SDK's transport also refuses foreign `Origin`s). A small
/// HTTP/1.1 front: one thread per connection, `Content-Length` bodies, `Connection: close`; SSE
/// answers are streamed until the SDK ends them. Each `initialize` opens a session (its own
/// `StylusMCPServer` and `StatefulHTTPServerTransport`) over the shared catalog; requests are routed by
/// their `MCP-Session-Id`, and `DELETE` ends the session.
public final class LoopbackHTTPServer: @unchecked Sendable {
    public static let path = "/mcp"
    static let maxHeaderBytes = 64 << 10
    static let maxBodyBytes = 64 << 20

    let listener: Int32
    public let port: UInt16
    let catalog: MCPCatalog
    let logger: Logger
    private let lock = NSLock()
    private var sessions: [String: StatefulHTTPServerTransport] = [:]

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// Listens on 127.0.0.1:`port` (0: any free port, see `port`).
    public init(port: UInt16, catalog: MCPCatalog, logger: Logger) throws {
        self.catalog = catalog
        self.logger = logger
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "cannot open a socket: \(String(cString: strerror(errno)))") }
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 16) == 0 else {
            let why = String(cString: strerror(errno))
            close(fd)
            throw Failure(description: "cannot listen on 127.0.0.1:\(port): \(why)")
        }
        var actual = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &actual) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        listener = fd
        self.port = UInt16(bigEndian: actual.sin_port)
    }

    /// Accepts connections until the process ends (blocks the calling thread).
    public func serve() {
        while true {
            let connection = accept(listener, nil, nil)
            if connection < 0 {
                if errno == EINTR || errno == ECONNABORTED { continue }
                logger.error("accept failed: \(String(cString: strerror(errno)))")
                return
            }
            Thread.detachNewThread { [self] in
                handle(connection)
                close(connection)
            }
        }
    }

    // MARK: One connection

    private func handle(_ fd: Int32) {
        guard let request = readRequest(fd) else { return }
        guard request.path?.split(separator: "?").first.map(String.init) == Self.path else {
            write(fd, status: 404, headers: ["Content-Type": "text/plain"], body: Data("Not Found: the MCP endpoint is \(Self.path)\n".utf8))
            return
        }
        let response = wait { [self] in await respond(to: request) }
        switch response {
        case .stream(let events, _):
            write(fd, status: 200, headers: response.headers, body: nil)
            wait {
                do {
                    for try await chunk in events where !Self.writeAll(fd, chunk) { break }
                } catch {}
            }
        default:
            write(fd, status: response.statusCode, headers: response.headers, body: response.bodyData ?? Data())
        }
    }

    /// The session's transport answers; an `initialize` without a session opens one.
    private func respond(to request: HTTPRequest) async -> HTTPResponse {
        if let id = request.header(HTTPHeaderName.sessionID) {
            guard let transport = lock.withLock({ sessions[id] }) else {
                return .error(statusCode: 404, .invalidRequest("Not Found: no session \(id); initialize a new one"))
            }
            let response = await transport.handleRequest(request)
            if request.method.uppercased() == "DELETE", response.statusCode == 200 { _ = lock.withLock { sessions.removeValue(forKey: id) } }
            return response
        }
        guard request.method.uppercased() == "POST" else {
            return .error(statusCode: 400, .invalidRequest("Bad Request: no \(HTTPHeaderName.sessionID) header; initialize first"))
        }
        let transport = StatefulHTTPServerTransport(logger: logger)
        let server = StylusMCPServer(catalog: catalog, logger: logger)
        let started = AsyncStream<Void>.makeStream()
        let logger = self.logger
        Task {
            do { try await server.run(transport: transport, started: { started.continuation.finish() }) } catch {
                logger.error("session failed to start: \(error)")
                started.continuation.finish()
            }
        }
        for await _ in started.stream {}
        let response = await transport.handleRequest(request)
        if let id = response.headers.first(where: { $0.key.lowercased() == HTTPHeaderName.sessionID.lowercased() })?.value {
            lock.withLock { sessions[id] = transport }
        } else {
            await transport.disconnect()
        }
        return response
    }

    /// Runs async work from this connection's thread and waits for it.
    private func wait<T>(_ body: @escaping @Sendable () async -> T) -> T {
        let done = DispatchSemaphore(value: 0), box = WaitBox<T>()
        Task {
            box.value = await body()
            done.signal()
        }
        done.wait()
        return box.value!
    }

    private func readRequest(_ fd: Int32) -> HTTPRequest? {
        var buffer: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16 << 10)
        var headerEnd: Int?
        while headerEnd == nil {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return nil }
            buffer.append(contentsOf: chunk[0..<n])
            headerEnd = Self.find([13, 10, 13, 10], in: buffer)
            if headerEnd == nil, buffer.count > Self.maxHeaderBytes {
                write(fd, status: 431, headers: [:], body: Data())
                return nil
            }
        }
        let head = String(decoding: buffer[0..<headerEnd!], as: UTF8.self).components(separatedBy: "\r\n")
        let parts = head[0].split(separator: " ")
        guard parts.count == 3 else {
            write(fd, status: 400, headers: [:], body: Data())
            return nil
        }
        var headers: [String: String] = [:]
        for line in head.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[String(line[..<colon]).trimmingCharacters(in: .whitespaces)] = String(line[line.index(after: colon)...]).trimmingCharacters(in: .whitespaces)
        }
        let request = HTTPRequest(method: String(parts[0]), headers: headers, body: nil, path: String(parts[1]))
        if request.header("Transfer-Encoding") != nil {
            write(fd, status: 411, headers: [:], body: Data("Send the body with Content-Length\n".utf8))
            return nil
        }
        let length = Int(request.header("Content-Length") ?? "0") ?? -1
        guard length >= 0, length <= Self.maxBodyBytes else {
            write(fd, status: 413, headers: [:], body: Data())
            return nil
        }
        var body = Array(buffer[(headerEnd! + 4)...])
        while body.count < length {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, min($0.count, length - body.count)) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return nil }
            body.append(contentsOf: chunk[0..<n])
        }
        return HTTPRequest(method: request.method, headers: headers, body: length > 0 ? Data(body.prefix(length)) : nil, path: request.path)
    }

    private func write(_ fd: Int32, status: Int, headers: [String: String], body: Data?) {
        var head = "HTTP/1.1 \(status) \(Self.reason(status))\r\n"
        var fields = headers
        fields["Connection"] = "close"
        if let body { fields["Content-Length"] = String(body.count) }
        for (k, v) in fields.sorted(by: { $0.key < $1.key }) { head += "\(k): \(v)\r\n" }
        head += "\r\n"
        _ = Self.writeAll(fd, Data(head.utf8) + (body ?? Data()))
    }

    static func writeAll(_ fd: Int32, _ data: Data) -> Bool {
        let bytes = [UInt8](data)
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { send(fd, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL)) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return false }
            offset += n
        }
        return true
    }

    static func find(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        return (0...(haystack.count - needle.count)).first { haystack[$0..<($0 + needle.count)].elementsEqual(needle) }
    }

    static func reason(_ status: Int) -> String {
        switch status {
        case 200: "OK"
        case 202: "Accepted"
        case 400: "Bad Request"
        case 404: "Not Found"
        case 405: "Method Not Allowed"
        case 406: "Not Acceptable"
        case 411: "Length Required"
        case 413: "Content Too Large"
        case 415: "Unsupported Media Type"
        case 431: "Request Header Fields Too Large"
        default: status < 400 ? "OK" : "Error"
        }
    }
}

/// The result of async work a connection thread waits for (written before the semaphore is signalled).
private final class WaitBox<T>: @unchecked Sendable {
    var value: T?
}
