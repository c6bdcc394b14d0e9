/// The one place numbers become text for people and for JSON. Every conversion here is checked:
/// prompt files carry any number (`1e30`, `inf`, 20 digits), and a trapping `Int(x)` would take
/// the CLI or the language server down.

/// A weight the way people write it: `1.2`, `0.75`, `1`. Numbers too large for decimals, and
/// values that are not finite, come out in their shortest exact form (`1e30`, `inf`, `nan`).
public func formatNumber(_ x: Double, maxDecimals: Int = 2) -> String {
    guard x.isFinite, x.magnitude < 1e15 else { return shortestNumberText(x) }
    let decimals = min(max(maxDecimals, 0), 15)
    var scale = 1.0
    for _ in 0..<decimals { scale *= 10 }
    let rounded = (x * scale).rounded() / scale
    if let whole = Int64(exactly: rounded) { return String(whole) }
    var s = shortestNumberText(rounded)
    // Binary fractions can print with more digits than asked for (0.30000000000000004).
    if !s.contains("e"), let dot = s.firstIndex(of: "."), s.distance(from: dot, to: s.endIndex) > decimals + 1 {
        s = String(s[..<s.index(dot, offsetBy: decimals + 1)])
        while s.hasSuffix("0") { s.removeLast() }
        if s.hasSuffix(".") { s.removeLast() }
    }
    return s
}

/// The shortest text that reads back as the same `Double`: `7`, `7.5`, `1e30`, `1e-5`,
/// `inf`, `-inf`, `nan`.
public func shortestNumberText(_ x: Double) -> String {
    if x.isNaN { return "nan" }
    if x.isInfinite { return x < 0 ? "-inf" : "inf" }
    if x.magnitude < 1e15, let whole = Int64(exactly: x) { return String(whole) }
    let s = String(x)
    guard let e = s.firstIndex(of: "e") else { return s }
    // Swift writes `1e+30` and `1e-05`; people write `1e30` and `1e-5`.
    var exponent = Substring(s[s.index(after: e)...])
    var sign = ""
    if exponent.first == "+" { exponent = exponent.dropFirst() }
    else if exponent.first == "-" { sign = "-"; exponent = exponent.dropFirst() }
    while exponent.count > 1, exponent.first == "0" { exponent = exponent.dropFirst() }
    return String(s[..<e]) + "e" + sign + String(exponent)
}

/// A whole number for display or counting, or nil when `x` is not finite or does not fit in an `Int`.
public func wholeNumber(_ x: Double) -> Int? {
    Int(exactly: x.rounded())
}
