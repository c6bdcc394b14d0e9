import JSONRPC

/// A progress token: an integer or a string, like a request id.
public typealias ProgressToken = RequestID

public struct WorkDoneProgressCreateParams: Codable, Sendable, Hashable {
    public var token: ProgressToken
}

/// The `value` of a `$/progress` notification for work-done progress.
public struct WorkDoneProgress: Codable, Sendable, Hashable {
    public enum Kind: String, Codable, Sendable { case begin, report, end }
    public var kind: Kind
    public var title: String?
    public var cancellable: Bool?
    public var message: String?
    public var percentage: Int?

    public init(kind: Kind, title: String? = nil, cancellable: Bool? = nil, message: String? = nil, percentage: Int? = nil) {
        self.kind = kind; self.title = title; self.cancellable = cancellable; self.message = message; self.percentage = percentage
    }
}

public struct ProgressParams: Codable, Sendable, Hashable {
    public var token: ProgressToken
    public var value: WorkDoneProgress
    public init(token: ProgressToken, value: WorkDoneProgress) { self.token = token; self.value = value }
}
