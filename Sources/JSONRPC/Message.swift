import Foundation

/// The `params` of a request or notification, or the `result` of a response, kept as the raw
/// message bytes and decoded on demand into the type the handler expects.
public struct Payload: Sendable {
    let message: Data
    let key: PayloadKey
    /// Whether the member is present in the message (it may still be `null`).
    public let isPresent: Bool

    /// Decodes the member; a missing member or a shape mismatch is an `invalidParams` error
    /// naming the path of the bad field.
    public func decode<T: Decodable>(_ type: T.Type = T.self) throws -> T {
        guard isPresent else { throw ResponseError.invalidParams("missing \(key.rawValue)") }
        do {
            let decoder = JSONDecoder()
            decoder.userInfo[PayloadKey.userInfoKey] = key
            return try decoder.decode(Envelope<T>.self, from: message).value
        } catch let error as DecodingError {
            throw ResponseError.invalidParams("\(key.rawValue): \(Payload.describe(error))")
        }
    }

    /// Decodes the member if present and not null.
    public func decodeIfPresent<T: Decodable>(_ type: T.Type = T.self) throws -> T? {
        guard isPresent else { return nil }
        return try decode(T?.self)
    }

    /// The member as a JSON value (`.null` when absent).
    public var json: JSONValue { (try? decodeIfPresent(JSONValue.self)) ?? .null }

    static func describe(_ error: DecodingError) -> String {
        func path(_ c: DecodingError.Context) -> String {
            let p = c.codingPath.dropFirst().map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
            return p.isEmpty ? "" : "at \(p.hasPrefix(".") ? String(p.dropFirst()) : p): "
        }
        switch error {
        case .typeMismatch(let t, let c): return "\(path(c))expected \(t)"
        case .valueNotFound(let t, let c): return "\(path(c))missing value of type \(t)"
        case .keyNotFound(let k, let c): return "\(path(c))missing field '\(k.stringValue)'"
        case .dataCorrupted(let c): return "\(path(c))\(c.debugDescription)"
        @unknown default: return "\(error)"
        }
    }

    private struct Envelope<T: Decodable>: Decodable {
        let value: T
        init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: PayloadKey.self)
            let key = decoder.userInfo[PayloadKey.userInfoKey] as? PayloadKey ?? .params
            value = try c.decode(T.self, forKey: key)
        }
    }
}

enum PayloadKey: String, CodingKey {
    case params, result
    static let userInfoKey = CodingUserInfoKey(rawValue: "stylus.payloadKey")!
}

/// One decoded incoming message.
public enum IncomingMessage: Sendable {
    case request(id: RequestID, method: String, params: Payload)
    case notification(method: String, params: Payload)
    case response(id: RequestID, result: Result<Payload, ResponseError>)
}

/// Why a message body could not be used. `reply` is the error response to send, if any.
public struct MessageDecodingFailure: Error, Sendable {
    public let reply: (id: RequestID?, error: ResponseError)?
    public let reason: String
}

extension IncomingMessage {
    /// Classifies a message body per JSON-RPC 2.0. Invalid JSON → parse error (id null);
    /// a valid JSON value that is not a message → invalid request. Broken responses are
    /// not answered (answering them could start an error ping-pong).
    public static func decode(_ data: Data) throws(MessageDecodingFailure) -> IncomingMessage {
        let header: Header
        do {
            header = try JSONDecoder().decode(Header.self, from: data)
        } catch let DecodingError.dataCorrupted(context) where context.codingPath.isEmpty {
            throw MessageDecodingFailure(
                reply: (nil, ResponseError(code: ErrorCode.parseError, message: "Parse error: \(context.debugDescription)")),
                reason: "invalid JSON")
        } catch {
            let message = (error as? DecodingError).map(Payload.describe) ?? "\(error)"
            throw MessageDecodingFailure(
                reply: (nil, .invalidRequest("Invalid request: \(message)")), reason: "not a JSON-RPC message: \(message)")
        }
        func invalid(_ message: String) -> MessageDecodingFailure {
            MessageDecodingFailure(reply: (header.id, .invalidRequest("Invalid request: \(message)")), reason: message)
        }
        guard header.jsonrpc == "2.0" else { throw invalid("\"jsonrpc\" must be \"2.0\"") }
        if header.badID { throw invalid("\"id\" must be an integer or a string") }
        let params = Payload(message: data, key: .params, isPresent: header.hasParams)
        if header.hasMethod {
            guard let method = header.method else { throw invalid("\"method\" must be a string") }
            if let id = header.id { return .request(id: id, method: method, params: params) }
            if header.hasID { throw invalid("\"id\" must not be null") }
            return .notification(method: method, params: params)
        }
        if let id = header.id {
            if let error = header.error { return .response(id: id, result: .failure(error)) }
            if header.hasResult { return .response(id: id, result: .success(Payload(message: data, key: .result, isPresent: true))) }
            throw MessageDecodingFailure(reply: nil, reason: "response \(id) without result or error")
        }
        if header.error != nil {
            // An error response to something we could not identify (e.g. our own bad message).
            throw MessageDecodingFailure(reply: nil, reason: "error response without id: \(header.error!.message)")
        }
        throw invalid("neither \"method\" nor \"id\"")
    }

    private struct Header: Decodable {
        var jsonrpc: String?
        var id: RequestID?
        var hasID = false, badID = false
        var method: String?
        var hasMethod = false, hasParams = false, hasResult = false
        var error: ResponseError?

        enum CodingKeys: String, CodingKey { case jsonrpc, id, method, params, result, error }

        init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            jsonrpc = try? c.decode(String.self, forKey: .jsonrpc)
            hasID = c.contains(.id)
            if hasID, !((try? c.decodeNil(forKey: .id)) ?? false) {
                id = try? c.decode(RequestID.self, forKey: .id)
                badID = id == nil
            }
            hasMethod = c.contains(.method)
            method = try? c.decode(String.self, forKey: .method)
            hasParams = c.contains(.params)
            hasResult = c.contains(.result)
            error = try? c.decodeIfPresent(ResponseError.self, forKey: .error)
        }
    }
}

// MARK: - Outgoing

enum OutgoingMessage {
    static func encoder() -> JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.withoutEscapingSlashes]
        return e
    }

    struct Request<P: Encodable>: Encodable {
        let jsonrpc = "2.0"
        let id: RequestID
        let method: String
        let params: P?
    }

    struct Notification<P: Encodable>: Encodable {
        let jsonrpc = "2.0"
        let method: String
        let params: P?
    }

    /// A response always carries `id` (null when unknown) and exactly one of `result` (null
    /// allowed) and `error`.
    struct Response: Encodable {
        let id: RequestID?
        let result: Result<(any Encodable & Sendable)?, ResponseError>

        enum CodingKeys: String, CodingKey { case jsonrpc, id, result, error }

        func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode("2.0", forKey: .jsonrpc)
            if let id { try c.encode(id, forKey: .id) } else { try c.encodeNil(forKey: .id) }
            switch result {
            case .success(let value?): try value.encode(to: c.superEncoder(forKey: .result))
            case .success(nil): try c.encodeNil(forKey: .result)
            case .failure(let error): try c.encode(error, forKey: .error)
            }
        }
    }
}
