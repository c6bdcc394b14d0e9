import Foundation
import StylusCore

/// Small JSON writing and reading helpers: stable field order for the CLI's machine output,
/// and lenient field access for importers that read hand-made or API JSON.
public enum JSONText {
    public static func quote(_ s: String) -> String { jsonStringLiteral(s) }

    public static func array(_ items: [String]) -> String {
        "[" + items.map(quote).joined(separator: ",") + "]"
    }

    /// Shortest round-tripping form; integers keep a ".0"-free look ("1" not "1.0").
    public static func number(_ d: Double) -> String {
        d.isFinite ? shortestNumberText(d) : "null"
    }

    /// An object with fields in the given order; values are already JSON text.
    public static func object(_ fields: [(String, String)]) -> String {
        "{" + fields.map { quote($0.0) + ":" + $0.1 }.joined(separator: ",") + "}"
    }

    static func decodeStringArray(_ text: String?) -> [String] {
        guard let text, let data = text.data(using: .utf8),
              let array = try? JSONSerialization.jsonObject(with: data) as? [Any] else { return [] }
        return array.compactMap { $0 as? String }
    }

    // MARK: lenient access to JSONSerialization values

    static func string(_ v: Any?) -> String? {
        if let s = v as? String { return s }
        if let n = v as? NSNumber, !isBool(n) { return JSONText.number(n.doubleValue) }
        return nil
    }

    /// JSONSerialization bridges true/false as NSNumber with the boolean type encoding ("c");
    /// `as? Bool` would also accept the number 1.
    static func isBool(_ n: NSNumber) -> Bool {
        String(cString: n.objCType) == "c"
    }

    static func double(_ v: Any?) -> Double? {
        if let s = v as? String { return Double(s.trimmingCharacters(in: .whitespaces)) }
        if let n = v as? NSNumber { return isBool(n) ? nil : n.doubleValue }
        return nil
    }

    static func int(_ v: Any?) -> Int? {
        guard let d = double(v), d.isFinite, abs(d) < 9e15 else { return nil }
        return Int(d)
    }

    static func bool(_ v: Any?) -> Bool? {
        if let s = v as? String {
            switch s.lowercased() {
            case "true", "yes", "1": return true
            case "false", "no", "0": return false
            default: return nil
            }
        }
        if let n = v as? NSNumber { return isBool(n) ? n.boolValue : n.doubleValue != 0 }
        return nil
    }

    /// Strings of an array (non-strings dropped); a single string becomes a one-item array.
    static func strings(_ v: Any?) -> [String] {
        if let s = v as? String { return s.isEmpty ? [] : [s] }
        guard let a = v as? [Any] else { return [] }
        return a.compactMap { string($0) }
    }

    static func objects(_ v: Any?) -> [[String: Any]] {
        (v as? [Any])?.compactMap { $0 as? [String: Any] } ?? []
    }

    static func serialize(_ object: Any) -> String? {
        guard JSONSerialization.isValidJSONObject(object),
              let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) else { return nil }
        return String(decoding: data, as: UTF8.self)
    }
}

/// FNV-1a 64-bit: a cheap fingerprint to tell unchanged re-imports apart (not security).
func fingerprint(_ bytes: some Sequence<UInt8>) -> String {
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    for b in bytes {
        h ^= UInt64(b)
        h = h &* 0x0000_0100_0000_01b3
    }
    return String(h, radix: 16)
}
