import Foundation
import Logging
import MCP
#if canImport(Glibc)
import Glibc
#endif

/// The stdio transport of `stylus mcp`: newline-delimited JSON-RPC messages over two file
/// descriptors, read with blocking reads on a thread of its own and written under the actor.
/// (The SDK's `StdioTransport` polls a non-blocking descriptor and sleeps 10 ms whenever no input
/// is waiting, which adds up to that much, more on a busy machine, to every call.)
public actor PipeTransport: Transport {
    public nonisolated let logger: Logger
    private let input: Int32
    private let output: Int32
    private nonisolated let messages: AsyncThrowingStream<Data, Error>
    private let sink: AsyncThrowingStream<Data, Error>.Continuation
    private var reading = false

    /// Messages longer than this are refused and end the session (a request is a few KB).
    public static let maxMessageBytes = 64 << 20

    public init(input: Int32, output: Int32, logger: Logger) {
        self.input = input
        self.output = output
        self.logger = logger
        (messages, sink) = AsyncThrowingStream.makeStream(of: Data.self)
    }

    public func connect() async throws {
        guard !reading else { return }
        reading = true
        // Blocking reads: clear O_NONBLOCK a parent may have left on the descriptor.
        let flags = fcntl(input, F_GETFL)
        if flags >= 0, flags & O_NONBLOCK != 0 { _ = fcntl(input, F_SETFL, flags & ~O_NONBLOCK) }
        let (fd, sink, logger) = (input, sink, logger)
        Thread.detachNewThread {
            var pending: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 1 << 16)
            while true {
                let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if n < 0 {
                    if errno == EINTR { continue }
                    logger.error("reading the client's messages failed: \(String(cString: strerror(errno)))")
                    break
                }
                if n == 0 { break }  // the client closed its end
                pending.append(contentsOf: chunk[0..<n])
                var start = 0
                while let newline = pending[start...].firstIndex(of: 0x0A) {
                    if newline > start { sink.yield(Data(pending[start..<newline])) }
                    start = newline + 1
                }
                pending.removeFirst(start)
                if pending.count > Self.maxMessageBytes {
                    logger.error("a message from the client is longer than \(Self.maxMessageBytes >> 20) MB; closing")
                    break
                }
            }
            sink.finish()
        }
    }

    public func disconnect() async {
        sink.finish()
    }

    public func send(_ data: Data) async throws {
        var bytes = [UInt8](data)
        bytes.append(0x0A)
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { write(output, $0.baseAddress! + offset, $0.count - offset) }
            if n < 0 {
                if errno == EINTR { continue }
                throw MCPError.transportError(POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO))
            }
            offset += n
        }
    }

    public nonisolated func receive() -> AsyncThrowingStream<Data, Error> {
        messages
    }
}
