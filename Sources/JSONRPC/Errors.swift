/// A JSON-RPC request id: a number or a string, echoed back exactly as received.
public enum RequestID: Sendable, Hashable, Codable, CustomStringConvertible {
    case int(Int)
    case string(String)

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let i = try? c.decode(Int.self) { self = .int(i) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else { throw DecodingError.dataCorruptedError(in: c, debugDescription: "id must be an integer or a string") }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .int(let i): try c.encode(i)
        case .string(let s): try c.encode(s)
        }
    }

    public var description: String {
        switch self {
        case .int(let i): return String(i)
        case .string(let s): return "\"\(s)\""
        }
    }
}

/// JSON-RPC and LSP error codes.
public enum ErrorCode {
    public static let parseError = -32700
    public static let invalidRequest = -32600
    public static let methodNotFound = -32601
    public static let invalidParams = -32602
    public static let internalError = -32603
    public static let serverNotInitialized = -32002
    public static let requestFailed = -32803
    public static let serverCancelled = -32802
    public static let contentModified = -32801
    public static let requestCancelled = -32800
}

/// The `error` member of a response; also what handlers throw to answer with an error.
public struct ResponseError: Error, Sendable, Hashable, Codable, CustomStringConvertible {
    public var code: Int
    public var message: String
    public var data: JSONValue?

    public init(code: Int, message: String, data: JSONValue? = nil) {
        self.code = code
        self.message = message
        self.data = data
    }

    public var description: String { "JSON-RPC error \(code): \(message)" }

    public static func invalidParams(_ message: String) -> ResponseError { .init(code: ErrorCode.invalidParams, message: message) }
    public static func invalidRequest(_ message: String) -> ResponseError { .init(code: ErrorCode.invalidRequest, message: message) }
    public static func methodNotFound(_ method: String) -> ResponseError {
        .init(code: ErrorCode.methodNotFound, message: "method not found: \(method)")
    }
    public static func internalError(_ message: String) -> ResponseError { .init(code: ErrorCode.internalError, message: message) }
    public static let cancelled = ResponseError(code: ErrorCode.requestCancelled, message: "request cancelled")
    public static let contentModified = ResponseError(code: ErrorCode.contentModified, message: "content modified")
    public static let connectionClosed = ResponseError(code: ErrorCode.internalError, message: "connection closed")
}
