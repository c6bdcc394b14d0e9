import JSONRPC
import StylusRender

/// User settings (docs/CONTRACTS.md, Language server), from `initializationOptions` and the `workspace/configuration`
/// section `stylus`. Unknown keys are ignored; a value of the wrong type is ignored and reported.
public struct Settings: Sendable, Hashable {
    public var db: String?
    public var loraDirs: [String] = []
    public var baseModel: String?
    public var checkpoint: String?
    public var renderer: String?
    /// What local renders multiply in: auto, bf16 or fp32 (below the frontmatter's `precision`).
    public var precision: String?
    /// Whether composing adds the trigger words of the chosen adapters that the prompt lacks.
    public var addTriggerWords = true

    public init() {}

    /// Reads settings from either `{"stylus": {...}}` or the section itself. Returns the
    /// settings and the problems found (one line each).
    public static func parse(_ json: JSONValue?, over base: Settings = Settings()) -> (Settings, [String]) {
        var s = base
        var problems: [String] = []
        guard var section = json, section != .null else { return (s, problems) }
        if let inner = section["stylus"] { section = inner }
        guard case .object(let o) = section else {
            return (s, ["stylus settings must be an object, got \(section)"])
        }
        func string(_ key: String) -> String?? {
            guard let v = o[key] else { return .none }           // absent: keep the old value
            if v == .null { return .some(nil) }                   // null: reset
            if let str = v.stringValue { return .some(str) }
            problems.append("setting stylus.\(key) must be a string")
            return .none
        }
        if let v = string("db") { s.db = v }
        if let v = string("baseModel") { s.baseModel = v }
        if let v = string("checkpoint") { s.checkpoint = v }
        if let v = string("precision") {
            if let p = v, PrecisionSetting(setting: p) == nil {
                problems.append("setting stylus.precision must be auto, bf16 or fp32")
            } else {
                s.precision = v?.lowercased()
            }
        }
        if let list = o["renderer"]?.arrayValue {  // several render servers
            if list.allSatisfy({ $0.stringValue != nil }) { s.renderer = list.compactMap(\.stringValue).joined(separator: ", ") } else {
                problems.append("setting stylus.renderer must be a string or a list of strings")
            }
        } else if let v = string("renderer") { s.renderer = v }
        if let v = o["addTriggerWords"] {
            if let b = v.boolValue { s.addTriggerWords = b }
            else if v == .null { s.addTriggerWords = true }
            else { problems.append("setting stylus.addTriggerWords must be true or false") }
        }
        if let v = o["loraDirs"] {
            if let dirs = v.arrayValue, dirs.allSatisfy({ $0.stringValue != nil }) {
                s.loraDirs = dirs.compactMap(\.stringValue)
            } else if let one = v.stringValue {
                s.loraDirs = [one]
            } else if v == .null {
                s.loraDirs = []
            } else {
                problems.append("setting stylus.loraDirs must be a list of folder paths")
            }
        }
        return (s, problems)
    }
}
