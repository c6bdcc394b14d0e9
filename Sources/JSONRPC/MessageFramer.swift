import Foundation

/// Splits a byte stream into LSP base-protocol messages (`Content-Length: N\r\n\r\n` + N bytes).
///
/// A pure state machine: `feed` any chunks (a read may end mid-header or hold several
/// messages), then call `next()` until it returns nil. A bad header is reported as an event
/// and skipped, so one broken message never stops the stream.
public struct MessageFramer: Sendable {
    public enum Event: Sendable, Equatable {
        case message(Data)
        /// A header block without a usable Content-Length (or an oversized one); it was skipped.
        case headerError(String)
    }

    /// Headers are a line or two; anything this long without `\r\n\r\n` is not a header.
    public static let maxHeaderBytes = 16 * 1024
    /// Refuse bodies larger than this instead of waiting forever for them.
    public static let maxContentLength = 512 * 1024 * 1024

    private var buffer: [UInt8] = []
    private var start = 0          // first unconsumed byte
    private var scanFrom = 0       // where to resume looking for the header terminator
    private var bodyLength: Int?   // set while reading a body

    public init() {}

    /// Bytes received but not yet returned as messages.
    public var bufferedCount: Int { buffer.count - start }

    public mutating func feed<S: Sequence>(_ bytes: S) where S.Element == UInt8 {
        buffer.append(contentsOf: bytes)
    }

    public mutating func next() -> Event? {
        if bodyLength == nil {
            guard let end = findHeaderEnd() else {
                if buffer.count - start > Self.maxHeaderBytes {
                    // Keep the last 3 bytes: they may begin a terminator split across chunks.
                    start = buffer.count - 3
                    scanFrom = start
                    compact()
                    return .headerError("no end of header within \(Self.maxHeaderBytes) bytes")
                }
                return nil
            }
            let header = buffer[start..<end]
            start = end + 4
            scanFrom = start
            switch Self.contentLength(in: header) {
            case .success(let n): bodyLength = n
            case .failure(let message):
                compact()
                return .headerError(message)
            }
        }
        guard let n = bodyLength, buffer.count - start >= n else { return nil }
        let body = Data(buffer[start..<start + n])
        start += n
        scanFrom = start
        bodyLength = nil
        compact()
        return .message(body)
    }

    private mutating func findHeaderEnd() -> Int? {
        var i = max(scanFrom, start)
        while i + 3 < buffer.count {
            if buffer[i] == 13, buffer[i + 1] == 10, buffer[i + 2] == 13, buffer[i + 3] == 10 { return i }
            i += 1
        }
        scanFrom = max(start, buffer.count - 3)
        return nil
    }

    private mutating func compact() {
        if start >= buffer.count {
            buffer.removeAll(keepingCapacity: buffer.capacity <= 1 << 20)
            start = 0
            scanFrom = 0
        } else if start > 64 * 1024, start > buffer.count / 2 {
            buffer.removeFirst(start)
            scanFrom -= start
            start = 0
        }
    }

    private enum HeaderResult { case success(Int), failure(String) }

    /// Finds `Content-Length` (case-insensitive) in a header block. Other headers are ignored;
    /// stray bytes before the name on the same line (left over from a broken message) are tolerated.
    private static func contentLength(in header: ArraySlice<UInt8>) -> HeaderResult {
        let text = String(decoding: header, as: UTF8.self)
        for line in text.split(separator: "\r\n", omittingEmptySubsequences: true) {
            guard let r = line.range(of: "content-length:", options: .caseInsensitive) else { continue }
            let value = line[r.upperBound...].trimmingCharacters(in: .whitespaces)
            guard let n = Int(value), n >= 0 else {
                return .failure("invalid Content-Length '\(value.prefix(40))'")
            }
            guard n <= maxContentLength else {
                return .failure("Content-Length \(n) exceeds the limit of \(maxContentLength) bytes")
            }
            return .success(n)
        }
        return .failure("header without Content-Length: '\(text.prefix(80))'")
    }

    /// Frames one message body for sending.
    public static func frame(_ body: Data) -> Data {
        var out = Data("Content-Length: \(body.count)\r\n\r\n".utf8)
        out.append(body)
        return out
    }
}
