import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Errors of the WebSocket client; each names the address and what went wrong.
public enum WebSocketError: Error, Equatable, CustomStringConvertible {
    case connection(url: String, reason: String)
    case handshake(url: String, reason: String)
    case protocolViolation(url: String, reason: String)
    case closed(url: String, code: Int?)

    public var description: String {
        switch self {
        case let .connection(url, reason): return "cannot open the WebSocket \(url) (\(reason))"
        case let .handshake(url, reason): return "the WebSocket handshake with \(url) failed: \(reason)"
        case let .protocolViolation(url, reason): return "the WebSocket \(url) sent a bad frame: \(reason)"
        case let .closed(url, code): return "the WebSocket \(url) was closed by the server" + (code.map { " (code \($0))" } ?? "")
        }
    }
}

/// A minimal RFC 6455 client over a plain TCP socket (`ws://` only): the opening handshake with a
/// checked `Sec-WebSocket-Accept`, masked client frames, fragmented messages, ping → pong, close.
/// Reads wait in short slices (`receive(timeout:)`), so a caller can check cancellation meanwhile.
/// Used to follow ComfyUI's `/ws` progress messages.
public final class WebSocketClient: @unchecked Sendable {
    public enum Message: Equatable, Sendable {
        case text(String)
        case binary([UInt8])
    }

    public let url: URL
    private var fd: Int32 = -1
    private var buffer: [UInt8] = []
    private var fragments: [UInt8] = []
    private var fragmentOpcode: UInt8 = 0
    private let writeLock = NSLock()
    /// Largest message accepted (ComfyUI's preview frames are small JPEG/PNG images).
    static let maxMessage = 64 << 20

    /// Connects and completes the opening handshake within `timeout` seconds.
    public init(url: URL, timeout: TimeInterval = 10) throws {
        self.url = url
        let text = url.absoluteString
        guard url.scheme?.lowercased() == "ws", let host = url.host, !host.isEmpty else {
            throw WebSocketError.connection(url: text, reason: "only ws:// addresses are supported")
        }
        let port = url.port ?? 80
        fd = try Self.connect(host: host, port: port, timeout: timeout, url: text)
        do { try handshake(host: host, port: port, timeout: timeout) } catch {
            close()
            throw error
        }
    }

    deinit { close() }

    private static func connect(host: String, port: Int, timeout: TimeInterval, url: String) throws -> Int32 {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_family = AF_UNSPEC
        var list: UnsafeMutablePointer<addrinfo>?
        let host = host.hasPrefix("[") ? String(host.dropFirst().dropLast()) : host
        let status = getaddrinfo(host, String(port), &hints, &list)
        guard status == 0, let first = list else {
            throw WebSocketError.connection(url: url, reason: "unknown host \(host)")
        }
        defer { freeaddrinfo(list) }
        var reason = "no address"
        var info: UnsafeMutablePointer<addrinfo>? = first
        while let a = info {
            info = a.pointee.ai_next
            let s = socket(a.pointee.ai_family, a.pointee.ai_socktype, a.pointee.ai_protocol)
            if s < 0 { continue }
            let flags = fcntl(s, F_GETFL, 0)
            _ = fcntl(s, F_SETFL, flags | O_NONBLOCK)
            var ok = Glibc.connect(s, a.pointee.ai_addr, a.pointee.ai_addrlen) == 0
            if !ok && errno == EINPROGRESS {
                var p = pollfd(fd: s, events: Int16(POLLOUT), revents: 0)
                if poll(&p, 1, Int32(timeout * 1000)) == 1 {
                    var err: Int32 = 0
                    var len = socklen_t(MemoryLayout<Int32>.size)
                    getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &len)
                    ok = err == 0
                    if !ok { reason = String(cString: strerror(err)) }
                } else {
                    reason = "no answer within \(Int(timeout)) s"
                }
            } else if !ok {
                reason = String(cString: strerror(errno))
            }
            if ok {
                _ = fcntl(s, F_SETFL, flags)
                var yes: Int32 = 1
                setsockopt(s, Int32(IPPROTO_TCP), TCP_NODELAY, &yes, socklen_t(MemoryLayout<Int32>.size))
                return s
            }
            Glibc.close(s)
        }
        throw WebSocketError.connection(url: url, reason: reason)
    }

    private func handshake(host: String, port: Int, timeout: TimeInterval) throws {
        let text = url.absoluteString
        var nonce = [UInt8](repeating: 0, count: 16)
        for i in nonce.indices { nonce[i] = UInt8.random(in: 0...255) }
        let key = Data(nonce).base64EncodedString()
        var path = url.path.isEmpty ? "/" : url.path
        if let q = url.query { path += "?" + q }
        let request = "GET \(path) HTTP/1.1\r\nHost: \(host):\(port)\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + "Sec-WebSocket-Key: \(key)\r\nSec-WebSocket-Version: 13\r\n\r\n"
        try writeAll(Array(request.utf8))
        let deadline = Date().addingTimeInterval(timeout)
        var headEnd: Int?
        while headEnd == nil {
            if let r = Self.find([13, 10, 13, 10], in: buffer) { headEnd = r; break }
            guard buffer.count < 65536 else { throw WebSocketError.handshake(url: text, reason: "the answer's header is too long") }
            let left = deadline.timeIntervalSinceNow
            guard left > 0 else { throw WebSocketError.handshake(url: text, reason: "no answer within \(Int(timeout)) s") }
            if try !fill(timeout: left) && Date() >= deadline {
                throw WebSocketError.handshake(url: text, reason: "no answer within \(Int(timeout)) s")
            }
        }
        let lines = String(decoding: buffer[0..<headEnd!], as: UTF8.self).components(separatedBy: "\r\n")
        buffer.removeFirst(headEnd! + 4)
        let status = lines.first ?? ""
        guard status.split(separator: " ").dropFirst().first == "101" else {
            throw WebSocketError.handshake(url: text, reason: "expected 101 Switching Protocols, got '\(status)'")
        }
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        let expected = Data(SHA1.digest(Array((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").utf8))).base64EncodedString()
        guard headers["sec-websocket-accept"] == expected else {
            throw WebSocketError.handshake(url: text, reason: "wrong Sec-WebSocket-Accept")
        }
    }

    /// The next whole message, or nil when none arrived within `timeout` seconds. Pings are
    /// answered and skipped. Throws `.closed` when the server closes the connection.
    public func receive(timeout: TimeInterval) throws -> Message? {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            if let message = try parseFrame() { return message }
            let left = deadline.timeIntervalSinceNow
            if left <= 0 { return nil }
            _ = try fill(timeout: left)
        }
    }

    /// Sends a text message (masked, one frame).
    public func send(text: String) throws { try sendFrame(opcode: 1, payload: Array(text.utf8)) }

    /// Sends a close frame (best effort) and closes the socket.
    public func close() {
        writeLock.lock()
        let s = fd
        fd = -1
        writeLock.unlock()
        guard s >= 0 else { return }
        let frame = Self.frame(opcode: 8, payload: [0x03, 0xE8])
        // MSG_NOSIGNAL: a server that already went away is no reason for SIGPIPE to end the process.
        _ = frame.withUnsafeBytes { Glibc.send(s, $0.baseAddress!, frame.count, Int32(MSG_NOSIGNAL)) }
        Glibc.close(s)
    }

    // MARK: Frames

    /// One message from the buffer if a whole one is there; control frames are handled here.
    private func parseFrame() throws -> Message? {
        let text = url.absoluteString
        while true {
            guard buffer.count >= 2 else { return nil }
            let fin = buffer[0] & 0x80 != 0
            let opcode = buffer[0] & 0x0F
            guard buffer[0] & 0x70 == 0 else { throw WebSocketError.protocolViolation(url: text, reason: "reserved bits set") }
            guard buffer[1] & 0x80 == 0 else { throw WebSocketError.protocolViolation(url: text, reason: "a server frame is masked") }
            var length = Int(buffer[1] & 0x7F)
            var offset = 2
            if length == 126 {
                guard buffer.count >= 4 else { return nil }
                length = Int(buffer[2]) << 8 | Int(buffer[3])
                offset = 4
            } else if length == 127 {
                guard buffer.count >= 10 else { return nil }
                var n: UInt64 = 0
                for i in 2..<10 { n = n << 8 | UInt64(buffer[i]) }
                guard n <= UInt64(Self.maxMessage) else {
                    throw WebSocketError.protocolViolation(url: text, reason: "a frame of \(n) bytes is too large")
                }
                length = Int(n)
                offset = 10
            }
            guard buffer.count >= offset + length else { return nil }
            let payload = Array(buffer[offset..<(offset + length)])
            buffer.removeFirst(offset + length)
            switch opcode {
            case 8:
                let code = payload.count >= 2 ? Int(payload[0]) << 8 | Int(payload[1]) : nil
                close()
                throw WebSocketError.closed(url: text, code: code)
            case 9: try sendFrame(opcode: 10, payload: payload)
            case 10: break
            case 0, 1, 2:
                if opcode != 0 {
                    guard fragments.isEmpty && fragmentOpcode == 0 else {
                        throw WebSocketError.protocolViolation(url: text, reason: "a new message inside a fragmented one")
                    }
                    fragmentOpcode = opcode
                } else if fragmentOpcode == 0 {
                    throw WebSocketError.protocolViolation(url: text, reason: "a continuation frame without a message")
                }
                fragments += payload
                guard fragments.count <= Self.maxMessage else {
                    throw WebSocketError.protocolViolation(url: text, reason: "a message over \(Self.maxMessage) bytes")
                }
                guard fin else { continue }
                let body = fragments, kind = fragmentOpcode
                fragments = []
                fragmentOpcode = 0
                return kind == 1 ? .text(String(decoding: body, as: UTF8.self)) : .binary(body)
            default:
                throw WebSocketError.protocolViolation(url: text, reason: "unknown opcode \(opcode)")
            }
        }
    }

    package static func frame(opcode: UInt8, payload: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [0x80 | opcode]
        let n = payload.count
        if n < 126 {
            out.append(0x80 | UInt8(n))
        } else if n < 65536 {
            out += [0x80 | 126, UInt8(n >> 8), UInt8(n & 0xFF)]
        } else {
            out.append(0x80 | 127)
            for shift in stride(from: 56, through: 0, by: -8) { out.append(UInt8((UInt64(n) >> UInt64(shift)) & 0xFF)) }
        }
        let mask = (0..<4).map { _ in UInt8.random(in: 0...255) }
        out += mask
        out += payload.enumerated().map { $1 ^ mask[$0 & 3] }
        return out
    }

    private func sendFrame(opcode: UInt8, payload: [UInt8]) throws {
        try writeAll(Self.frame(opcode: opcode, payload: payload))
    }

    // MARK: Socket

    private func writeAll(_ bytes: [UInt8]) throws {
        writeLock.lock(); defer { writeLock.unlock() }
        guard fd >= 0 else { throw WebSocketError.closed(url: url.absoluteString, code: nil) }
        var sent = 0
        while sent < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + sent, bytes.count - sent, Int32(MSG_NOSIGNAL)) }
            if n <= 0 {
                if n < 0 && errno == EINTR { continue }
                throw WebSocketError.connection(url: url.absoluteString, reason: String(cString: strerror(errno)))
            }
            sent += n
        }
    }

    /// Reads what is there within `timeout`; false when nothing came. Throws when the peer closed.
    private func fill(timeout: TimeInterval) throws -> Bool {
        guard fd >= 0 else { throw WebSocketError.closed(url: url.absoluteString, code: nil) }
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let r = poll(&p, 1, Int32((max(0, min(timeout, 3600)) * 1000).rounded(.up)))
        if r == 0 || (r < 0 && errno == EINTR) { return false }
        var chunk = [UInt8](repeating: 0, count: 65536)
        let n = read(fd, &chunk, chunk.count)
        if n <= 0 { throw WebSocketError.closed(url: url.absoluteString, code: nil) }
        buffer += chunk[0..<n]
        return true
    }

    static func find(_ needle: [UInt8], in hay: [UInt8]) -> Int? {
        guard hay.count >= needle.count else { return nil }
        for i in 0...(hay.count - needle.count) where hay[i] == needle[0] && Array(hay[i..<(i + needle.count)]) == needle { return i }
        return nil
    }
}

/// SHA-1 (FIPS 180-4), only for the WebSocket handshake's accept key.
package enum SHA1 {
    package static func digest(_ message: [UInt8]) -> [UInt8] {
        var h: [UInt32] = [0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0]
        var m = message + [0x80]
        while m.count % 64 != 56 { m.append(0) }
        let bits = UInt64(message.count) * 8
        for shift in stride(from: 56, through: 0, by: -8) { m.append(UInt8((bits >> UInt64(shift)) & 0xFF)) }
        func rotl(_ x: UInt32, _ n: UInt32) -> UInt32 { (x << n) | (x >> (32 - n)) }
        var w = [UInt32](repeating: 0, count: 80)
        for block in stride(from: 0, to: m.count, by: 64) {
            for i in 0..<16 {
                let j = block + 4 * i
                w[i] = UInt32(m[j]) << 24 | UInt32(m[j + 1]) << 16 | UInt32(m[j + 2]) << 8 | UInt32(m[j + 3])
            }
            for i in 16..<80 { w[i] = rotl(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1) }
            var (a, b, c, d, e) = (h[0], h[1], h[2], h[3], h[4])
            for i in 0..<80 {
                let (f, k): (UInt32, UInt32)
                switch i {
                case 0..<20: (f, k) = ((b & c) | (~b & d), 0x5A827999)
                case 20..<40: (f, k) = (b ^ c ^ d, 0x6ED9EBA1)
                case 40..<60: (f, k) = ((b & c) | (b & d) | (c & d), 0x8F1BBCDC)
                default: (f, k) = (b ^ c ^ d, 0xCA62C1D6)
                }
                let t = rotl(a, 5) &+ f &+ e &+ k &+ w[i]
                (e, d, c, b, a) = (d, c, rotl(b, 30), a, t)
            }
            h[0] &+= a; h[1] &+= b; h[2] &+= c; h[3] &+= d; h[4] &+= e
        }
        return h.flatMap { v in [UInt8(v >> 24), UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)] }
    }
}
