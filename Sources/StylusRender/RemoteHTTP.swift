import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// One HTTP exchange with a render server (A1111, ComfyUI), waited for in short slices so that
/// cancellation and a caller's `whileWaiting` run meanwhile. Each backend words its own errors.
enum RemoteHTTP {
    enum Outcome {
        case done(Data?, HTTPURLResponse?, Error?)
        case timedOut
        case cancelled
    }

    static func exchange(_ request: URLRequest, limit: TimeInterval, cancellation: RenderCancellation,
                         whileWaiting: (() -> Void)? = nil) -> Outcome {
        let done = DispatchSemaphore(value: 0)
        let box = ResultBox()
        let task = URLSession.shared.dataTask(with: request) { data, response, error in
            box.set(data, response as? HTTPURLResponse, error)
            done.signal()
        }
        task.resume()
        let deadline = Date().addingTimeInterval(limit + 1)
        while done.wait(timeout: .now() + 0.05) == .timedOut {
            if cancellation.isCancelled {
                task.cancel()
                return .cancelled
            }
            if Date() > deadline {
                task.cancel()
                return .timedOut
            }
            whileWaiting?()
        }
        let (data, response, error) = box.get()
        if let error {
            let code = (error as NSError).code
            if code == NSURLErrorTimedOut { return .timedOut }
            if code == NSURLErrorCancelled, cancellation.isCancelled { return .cancelled }
        }
        return .done(data, response, error)
    }

    private final class ResultBox: @unchecked Sendable {
        private let lock = NSLock()
        private var value: (Data?, HTTPURLResponse?, Error?) = (nil, nil, nil)
        func set(_ d: Data?, _ r: HTTPURLResponse?, _ e: Error?) { lock.lock(); value = (d, r, e); lock.unlock() }
        func get() -> (Data?, HTTPURLResponse?, Error?) { lock.lock(); defer { lock.unlock() }; return value }
    }
}
