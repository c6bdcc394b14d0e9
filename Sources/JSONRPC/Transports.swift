import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A connection over two file descriptors (stdin/stdout for `stylus lsp`, pipes in tests).
/// A dedicated thread does blocking reads and feeds the connection; writes are serialized.
public final class FileDescriptorTransport: Transport {
    private let readFD: Int32
    private let writeFD: Int32
    private let writeLock = NSLock()
    private let broken = Locked(false)

    public init(readFD: Int32, writeFD: Int32) {
        self.readFD = readFD
        self.writeFD = writeFD
    }

    public func write(_ data: Data) {
        writeLock.lock()
        defer { writeLock.unlock() }
        if broken.current { return }
        data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            guard var p = raw.baseAddress else { return }
            var left = raw.count
            while left > 0 {
                let n = Glibc.write(writeFD, p, left)
                if n < 0 {
                    if errno == EINTR { continue }
                    broken.withLock { $0 = true }  // peer gone (EPIPE): drop further output
                    return
                }
                p += n
                left -= n
            }
        }
    }

    /// Starts the reader thread. It feeds `connection` until EOF or a read error, then
    /// calls `receiveEOF()`.
    public func startReading(into connection: Connection) {
        let fd = readFD
        let thread = Thread {
            let size = 64 * 1024
            let buffer = UnsafeMutablePointer<UInt8>.allocate(capacity: size)
            defer { buffer.deallocate() }
            while true {
                let n = read(fd, buffer, size)
                if n < 0, errno == EINTR { continue }
                if n <= 0 { break }
                connection.receive(UnsafeBufferPointer(start: buffer, count: n))
            }
            connection.receiveEOF()
        }
        thread.name = "jsonrpc-reader"
        thread.start()
    }
}

/// An in-process transport for tests: what one side writes is delivered, in order, to the
/// peer's connection on a serial queue (never re-entrantly inside `write`).
public final class LocalTransport: Transport {
    private let peer = Locked<Connection?>(nil)
    private let delivery: DispatchQueue

    private init(label: String) {
        delivery = DispatchQueue(label: label)
    }

    /// Two transports wired back to back; attach each side's connection with `connect`.
    public static func pair() -> (LocalTransport, LocalTransport) {
        (LocalTransport(label: "local-a→b"), LocalTransport(label: "local-b→a"))
    }

    /// Sets the connection that receives what this transport writes.
    public func deliver(to connection: Connection) {
        peer.withLock { $0 = connection }
    }

    public func write(_ data: Data) {
        guard let target = peer.current else { return }
        delivery.async { target.receive(data) }
    }

    /// Delivers raw bytes as if written by this side, bypassing framing (for malformed-input tests).
    public func writeRaw(_ bytes: [UInt8]) {
        guard let target = peer.current else { return }
        delivery.async { target.receive(bytes) }
    }

    /// Ends the stream towards the peer (after everything already written).
    public func closeWrite() {
        guard let target = peer.current else { return }
        delivery.async { target.receiveEOF() }
    }
}
