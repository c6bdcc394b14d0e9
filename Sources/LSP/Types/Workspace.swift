import JSONRPC

public struct ConfigurationItem: Codable, Sendable, Hashable {
    public var scopeUri: String?
    public var section: String?
    public init(scopeUri: String? = nil, section: String?) { self.scopeUri = scopeUri; self.section = section }
}

public struct ConfigurationParams: Codable, Sendable, Hashable {
    public var items: [ConfigurationItem]
    public init(items: [ConfigurationItem]) { self.items = items }
}

public struct DidChangeConfigurationParams: Codable, Sendable {
    public var settings: JSONValue?
    public init(settings: JSONValue?) { self.settings = settings }
}

public struct Registration: Codable, Sendable, Hashable {
    public var id: String
    public var method: String
    public var registerOptions: JSONValue?
}

public struct RegistrationParams: Codable, Sendable, Hashable {
    public var registrations: [Registration]
}

public struct ExecuteCommandParams: Codable, Sendable {
    public var command: String
    public var arguments: [JSONValue]?
    public var workDoneToken: ProgressToken?
    public init(command: String, arguments: [JSONValue]? = nil, workDoneToken: ProgressToken? = nil) {
        self.command = command; self.arguments = arguments; self.workDoneToken = workDoneToken
    }
}
