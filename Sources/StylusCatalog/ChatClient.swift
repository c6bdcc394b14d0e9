import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import StylusCore

/// Where an OpenAI-compatible chat-completions endpoint is and how to call it. Shared by the LLM
/// refiner and the LLM composer; both are optional and configured the same way.
public struct ChatEndpoint: Sendable {
    /// Base URL (".../v1") or the full ".../chat/completions" URL.
    public var url: URL
    public var model: String
    public var apiKey: String?
    /// Seconds to wait for one answer.
    public var timeout: TimeInterval

    public init(url: URL, model: String, apiKey: String? = nil, timeout: TimeInterval = 120) {
        self.url = url
        self.model = model
        self.apiKey = apiKey
        self.timeout = timeout
    }

    /// `STYLUS_LLM_URL`, `STYLUS_LLM_MODEL` (both required), `STYLUS_LLM_API_KEY`, `STYLUS_LLM_TIMEOUT` (seconds).
    public init?(environment env: [String: String], defaultTimeout: TimeInterval = 120) {
        guard let raw = env["STYLUS_LLM_URL"], !raw.isEmpty, let url = URL(string: raw),
              let model = env["STYLUS_LLM_MODEL"], !model.isEmpty else { return nil }
        self.init(url: url, model: model, apiKey: env["STYLUS_LLM_API_KEY"].flatMap { $0.isEmpty ? nil : $0 },
                  timeout: env["STYLUS_LLM_TIMEOUT"].flatMap(Double.init).flatMap { $0 > 0 ? $0 : nil } ?? defaultTimeout)
    }

    /// POST target: `{url}/chat/completions` unless the URL already names it.
    public var completionsURL: URL {
        url.path.hasSuffix("/chat/completions") ? url : url.appendingPathComponent("chat/completions")
    }
}

public enum ChatError: Error, Sendable, CustomStringConvertible {
    case transport(String)
    case timeout(TimeInterval)
    case http(Int, String)
    case badResponse(String)

    public var description: String {
        switch self {
        case let .transport(m): return "LLM endpoint unreachable: \(m)"
        case let .timeout(s): return "LLM endpoint gave no answer within \(formatNumber(s.rounded(.up), maxDecimals: 0)) s"
        case let .http(code, body): return "LLM endpoint answered HTTP \(code): \(body.prefix(200))"
        case let .badResponse(m): return "LLM endpoint's response is not a chat completion: \(m)"
        }
    }
}

/// A blocking chat-completions client (the CLI and the refiner are synchronous).
public struct ChatClient: ChatCompleting {
    public let endpoint: ChatEndpoint
    /// Deterministic answers by default, so reruns compose the same.
    public var temperature: Double = 0

    public init(endpoint: ChatEndpoint) { self.endpoint = endpoint }

    public var modelName: String { endpoint.model }

    /// The assistant's text for `messages` (`choices[0].message.content`, possibly empty).
    public func complete(_ messages: [ChatMessage]) throws -> String {
        var request = URLRequest(url: endpoint.completionsURL, timeoutInterval: endpoint.timeout)
        request.httpMethod = "POST"
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        if let key = endpoint.apiKey { request.setValue("Bearer \(key)", forHTTPHeaderField: "Authorization") }
        let body: [String: Any] = [
            "model": endpoint.model,
            "temperature": temperature,
            "messages": messages.map { ["role": $0.role, "content": $0.content] },
        ]
        request.httpBody = try JSONSerialization.data(withJSONObject: body)
        let (data, status) = try Self.send(request, timeout: endpoint.timeout)
        guard (200..<300).contains(status) else { throw ChatError.http(status, String(decoding: data, as: UTF8.self)) }
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let choice = JSONText.objects(object["choices"]).first,
              let message = choice["message"] as? [String: Any] else {
            throw ChatError.badResponse("no choices[0].message in \"\(String(decoding: data.prefix(120), as: UTF8.self))\"")
        }
        return JSONText.string(message["content"]) ?? ""
    }

    /// Sends and waits at most `timeout` seconds (plus a moment for URLSession's own timeout to report).
    static func send(_ request: URLRequest, timeout: TimeInterval) throws -> (Data, Int) {
        final class Box: @unchecked Sendable {
            var data: Data?
            var status = 0
            var error: Error?
        }
        let box = Box()
        let done = DispatchSemaphore(value: 0)
        let session = URLSession(configuration: .ephemeral)
        defer { session.finishTasksAndInvalidate() }
        let task = session.dataTask(with: request) { data, response, error in
            box.data = data
            box.status = (response as? HTTPURLResponse)?.statusCode ?? 0
            box.error = error
            done.signal()
        }
        task.resume()
        if done.wait(timeout: .now() + timeout + 1) == .timedOut {
            task.cancel()
            throw ChatError.timeout(timeout)
        }
        if let error = box.error {
            if (error as? URLError)?.code == .timedOut { throw ChatError.timeout(timeout) }
            throw ChatError.transport(error.localizedDescription)
        }
        return (box.data ?? Data(), box.status)
    }
}
