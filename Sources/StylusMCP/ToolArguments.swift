import Foundation
import MCP

/// A tool call's arguments, read with errors that name the argument, what is wrong and what to
/// send instead (they become `isError` results the agent can act on).
package struct ToolArguments {
    package let tool: String
    package let values: [String: Value]

    package struct Problem: Error, CustomStringConvertible {
        package var description: String
    }

    package init(tool: String, _ values: [String: Value]?, allowed: Set<String>) throws {
        self.tool = tool
        self.values = values ?? [:]
        let unknown = self.values.keys.filter { !allowed.contains($0) }.sorted()
        if !unknown.isEmpty {
            throw Problem(description: "\(tool): unknown argument\(unknown.count > 1 ? "s" : "") \(unknown.map { "'\($0)'" }.joined(separator: ", ")); "
                          + "the arguments are \(allowed.sorted().joined(separator: ", "))")
        }
    }

    package func problem(_ key: String, _ want: String) -> Problem {
        Problem(description: "\(tool): '\(key)' must be \(want)")
    }

    private func present(_ key: String) -> Value? {
        guard let v = values[key], !v.isNull else { return nil }
        return v
    }

    package func string(_ key: String) throws -> String? {
        guard let v = present(key) else { return nil }
        guard let s = v.stringValue else { throw problem(key, "a string") }
        return s
    }

    /// A string that must be present and not blank.
    package func text(_ key: String, what: String) throws -> String {
        guard let s = try string(key) else { throw Problem(description: "\(tool): '\(key)' is missing; pass \(what)") }
        guard !s.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            throw Problem(description: "\(tool): '\(key)' is empty; pass \(what)")
        }
        return s
    }

    package func int(_ key: String, in range: ClosedRange<Int>) throws -> Int? {
        guard let v = present(key) else { return nil }
        let n: Int
        switch v {
        case .int(let i): n = i
        case .double(let d) where d == d.rounded() && abs(d) < 1e15: n = Int(d)
        default: throw problem(key, "an integer between \(range.lowerBound) and \(range.upperBound)")
        }
        guard range.contains(n) else { throw problem(key, "between \(range.lowerBound) and \(range.upperBound), got \(n)") }
        return n
    }

    package func double(_ key: String, in range: ClosedRange<Double>) throws -> Double? {
        guard let v = present(key) else { return nil }
        let d: Double
        switch v {
        case .int(let i): d = Double(i)
        case .double(let x): d = x
        default: throw problem(key, "a number between \(range.lowerBound) and \(range.upperBound)")
        }
        guard d.isFinite, range.contains(d) else { throw problem(key, "between \(range.lowerBound) and \(range.upperBound), got \(d)") }
        return d
    }

    package func bool(_ key: String) throws -> Bool? {
        guard let v = present(key) else { return nil }
        guard let b = v.boolValue else { throw problem(key, "true or false") }
        return b
    }

    package func choice(_ key: String, _ options: [String]) throws -> String? {
        guard let s = try string(key) else { return nil }
        guard options.contains(s) else { throw problem(key, "one of \(options.joined(separator: ", ")), got '\(s)'") }
        return s
    }
}

/// JSON text (written by the shared library code the CLI uses too) as an MCP value. Parsed with
/// JSONSerialization and converted, not decoded: `Value`'s `Decodable` tries each type in turn
/// and costs milliseconds on a page of adapter cards.
package func jsonValue(_ text: String) throws -> Value {
    try jsonValue(object: JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed]))
}

/// A JSONSerialization result, or the same shapes built in Swift ([String: Any], [Any], String,
/// Bool, Int, Double, NSNull), as an MCP value.
package func jsonValue(object: Any) throws -> Value {
    switch object {
    case is NSNull: return .null
    case let s as String: return .string(s)
    case let d as [String: Any]: return .object(try d.mapValues { try jsonValue(object: $0) })
    case let a as [Any]: return .array(try a.map { try jsonValue(object: $0) })
    default: break
    }
    let type = Swift.type(of: object)
    if type == Bool.self, let b = object as? Bool { return .bool(b) }
    if type == Int.self, let i = object as? Int { return .int(i) }
    if type == Double.self, let d = object as? Double { return d.isFinite ? .double(d) : .null }
    if let n = object as? NSNumber {
        switch String(cString: n.objCType) {
        case "c", "B": return .bool(n.boolValue)
        case "d", "f": return n.doubleValue.isFinite ? .double(n.doubleValue) : .null
        default: return .int(n.intValue)
        }
    }
    throw ToolArguments.Problem(description: "a result held a \(type), which JSON cannot carry")
}

/// An `Encodable` (diagnostics in LSP form) as an MCP value.
package func jsonValue<T: Encodable>(encoding value: T) throws -> Value {
    try jsonValue(object: JSONSerialization.jsonObject(with: JSONEncoder().encode(value), options: [.fragmentsAllowed]))
}

/// Compact JSON text of a value, for the text content beside structured content.
func jsonText(_ value: Value) -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    return (try? encoder.encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
}
