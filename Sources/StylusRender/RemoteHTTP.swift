import Foundation
import StylusCore
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

extension RemoteServer.Kind {
    /// How messages name the server.
    var displayName: String { self == .a1111 ? "A1111" : "ComfyUI" }
    /// What to do when it cannot be reached.
    var startHint: String { self == .a1111 ? "start it with --api" : "start it" }
    /// How a timeout reads: ComfyUI's limit is on silence (progress messages count), A1111's on one answer.
    var silence: String { self == .a1111 ? "did not answer within" : "said nothing for" }
}

/// A failed exchange with a render server (A1111, ComfyUI): what failed, where, and what to do.
public struct RemoteServerError: Error, Equatable, CustomStringConvertible {
    public enum Failure: Equatable, Sendable {
        case connection(reason: String)
        case timeout(seconds: Double)
        case http(status: Int, detail: String)
        case badResponse(reason: String)

        /// HTTP 404: the server has no such thing.
        public var isNotFound: Bool {
            if case .http(404, _) = self { return true }
            return false
        }
    }

    public var server: RemoteServer.Kind
    public var url: String
    public var failure: Failure

    public init(_ server: RemoteServer.Kind, url: String, _ failure: Failure) {
        self.server = server
        self.url = url
        self.failure = failure
    }

    public var description: String {
        switch failure {
        case let .connection(reason):
            return "cannot reach the \(server.displayName) server at \(url) (\(reason)); \(server.startHint) or fix the renderer URL"
        case let .timeout(seconds):
            return "the \(server.displayName) server at \(url) \(server.silence) \(formatNumber(seconds, maxDecimals: 0)) s; check that it is not stuck or raise the timeout"
        case let .http(status, detail):
            return "the \(server.displayName) server answered \(url) with HTTP \(status)\(detail.isEmpty ? "" : ": \(detail)")"
        case let .badResponse(reason):
            return "the \(server.displayName) server's answer to \(url) is not usable: \(reason)"
        }
    }
}

/// One HTTP exchange with a render server (A1111, ComfyUI), waited for in short slices so that
/// cancellation and a caller's `whileWaiting` run meanwhile.
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

    /// `method` on `url` with an optional JSON body: the answer's status and body, whatever the
    /// status. Transport failures are `RemoteServerError`s; cancellation runs `onCancel` (e.g. ask
    /// the server to stop) and throws `RenderCancelled`.
    static func send(_ method: String, _ url: URL, body: Data?, limit: TimeInterval, server: RemoteServer.Kind,
                     cancellation: RenderCancellation, whileWaiting: (() -> Void)? = nil,
                     onCancel: () -> Void = {}) throws -> (status: Int, payload: Data) {
        var request = URLRequest(url: url)
        request.httpMethod = method
        request.httpBody = body
        request.timeoutInterval = limit
        if body != nil { request.setValue("application/json", forHTTPHeaderField: "Content-Type") }
        switch exchange(request, limit: limit, cancellation: cancellation, whileWaiting: whileWaiting) {
        case .cancelled:
            onCancel()
            throw RenderCancelled()
        case .timedOut:
            throw RemoteServerError(server, url: url.absoluteString, .timeout(seconds: limit))
        case let .done(data, response, error):
            if let error {
                throw RemoteServerError(server, url: url.absoluteString, .connection(reason: (error as NSError).localizedDescription))
            }
            guard let response else { throw RemoteServerError(server, url: url.absoluteString, .badResponse(reason: "no HTTP response")) }
            return (response.statusCode, data ?? Data())
        }
    }

    /// `payload` when `status` is a success, else the HTTP error with the server's message.
    static func successful(_ answer: (status: Int, payload: Data), url: URL, server: RemoteServer.Kind) throws -> Data {
        guard (200..<300).contains(answer.status) else {
            throw RemoteServerError(server, url: url.absoluteString, .http(status: answer.status, detail: errorDetail(answer.payload)))
        }
        return answer.payload
    }

    /// The server's error message (`detail`/`error`/`errors` in its JSON), else the start of the body.
    static func errorDetail(_ data: Data) -> String {
        if let obj = try? JSONSerialization.jsonObject(with: data) as? [String: Any] {
            // A1111's and Forge's exception answer: {"error": type, "detail": "", "body": "", "errors": message}.
            if let type = obj["error"] as? String, let message = obj["errors"] as? String, !message.isEmpty,
               (obj["detail"] as? String ?? "").isEmpty {
                return "\(type): \(message)"
            }
            for key in ["detail", "error", "errors"] {
                if let s = obj[key] as? String, !s.isEmpty { return s }
                if let v = obj[key], !(v is NSNull), let d = try? JSONSerialization.data(withJSONObject: v) {
                    return String(decoding: d, as: UTF8.self)
                }
            }
        }
        return snippet(data)
    }

    /// The start of a body, for messages.
    static func snippet(_ data: Data) -> String {
        let text = String(decoding: data.prefix(200), as: UTF8.self)
        return data.count > 200 ? text + "…" : text
    }

    private final class ResultBox: @unchecked Sendable {
        private let lock = NSLock()
        private var value: (Data?, HTTPURLResponse?, Error?) = (nil, nil, nil)
        func set(_ d: Data?, _ r: HTTPURLResponse?, _ e: Error?) { lock.lock(); value = (d, r, e); lock.unlock() }
        func get() -> (Data?, HTTPURLResponse?, Error?) { lock.lock(); defer { lock.unlock() }; return value }
    }
}
