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
        let job = Job(body)
        #if canImport(Glibc)
        // A pthread we join once it finished: whatever the body captured is released while the
        // caller still holds its own references. (A Foundation Thread drops its closure in the
        // thread's exit destructors, where releasing the last reference to a Dispatch queue, e.g.
        // a GRDB pool's, crashed libdispatch.)
        var thread = pthread_t()
        let context = Unmanaged<Runnable>.passRetained(job).toOpaque()
        guard pthread_create(&thread, nil, { context in
            Unmanaged<Runnable>.fromOpaque(context!).takeRetainedValue().run()
            return nil
        }, context) == 0 else {
            Unmanaged<Runnable>.fromOpaque(context).release()
            throw TimedOut(description: "\(what): could not start a thread")
        }
        if job.done.wait(timeout: .now() + seconds) == .timedOut {
            pthread_detach(thread)
            unblock()
            throw TimedOut(description: "\(what) did not finish within \(seconds) s (hung)")
        }
        pthread_join(thread, nil)
        #else
        Thread { job.run() }.start()
        if job.done.wait(timeout: .now() + seconds) == .timedOut {
            unblock()
            throw TimedOut(description: "\(what) did not finish within \(seconds) s (hung)")
        }
        #endif
        return try job.outcome!.get()
    }

    /// What the thread runs (not generic: a C thread entry cannot name T).
    private class Runnable: @unchecked Sendable {
        let done = DispatchSemaphore(value: 0)
        func run() {}
    }

    /// The body and its outcome; the body is dropped as soon as it has run.
    private final class Job<T>: Runnable, @unchecked Sendable {
        var body: (() throws -> T)?
        var outcome: Result<T, Error>?

        init(_ body: @escaping () throws -> T) { self.body = body }

        override func run() {
            if let body {
                self.body = nil
                outcome = Result { try body() }
            }
            done.signal()
        }
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
