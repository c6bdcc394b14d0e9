import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A test step that did not finish in time: a hang is a failure, never a skip.
public struct TimedOut: Error, CustomStringConvertible {
    public var description: String
    public init(description: String) { self.description = description }
}

public enum Deadline {
    /// Runs `body` on its own thread and waits at most `seconds` for it. When it is still running,
    /// `unblock` is called (to free the stuck thread, e.g. by opening a FIFO's other end) and
    /// `TimedOut` is thrown, which fails the test.
    public static func run<T>(within seconds: Double, _ what: String, unblock: () -> Void = {},
                              _ body: @escaping @Sendable () throws -> T) throws -> T {
        nonisolated(unsafe) var outcome: Result<T, Error>?
        let done = DispatchSemaphore(value: 0)
        let thread = Thread {
            outcome = Result { try body() }
            done.signal()
        }
        thread.start()
        if done.wait(timeout: .now() + seconds) == .timedOut {
            unblock()
            throw TimedOut(description: "\(what) did not finish within \(seconds) s (hung)")
        }
        return try outcome!.get()
    }
}

public enum FIFO {
    /// Creates a named pipe at `path`.
    public static func make(_ path: String) throws {
        guard mkfifo(path, 0o644) == 0 else {
            throw NSError(domain: NSPOSIXErrorDomain, code: Int(errno), userInfo: [NSLocalizedDescriptionKey: "mkfifo \(path): \(String(cString: strerror(errno)))"])
        }
    }

    /// Frees readers blocked opening or reading `path`: opens and closes its writing end.
    public static func releaseReaders(_ path: String) {
        let fd = open(path, O_WRONLY | O_NONBLOCK)
        if fd >= 0 { close(fd) }
    }
}
