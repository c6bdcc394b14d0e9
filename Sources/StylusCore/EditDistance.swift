/// Levenshtein distance for "did you mean" suggestions, or nil when it exceeds `limit`
/// (a row whose minimum passes the limit ends the search early, which keeps scans of large
/// catalogs cheap).
@inlinable
public func editDistance<T: Equatable>(_ a: [T], _ b: [T], max limit: Int = .max) -> Int? {
    if a.isEmpty { return b.count <= limit ? b.count : nil }
    var previous = Array(0...b.count)
    var current = [Int](repeating: 0, count: b.count + 1)
    for i in 1...a.count {
        current[0] = i
        var rowMinimum = i
        for j in stride(from: 1, through: b.count, by: 1) {
            current[j] = Swift.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            rowMinimum = Swift.min(rowMinimum, current[j])
        }
        if rowMinimum > limit { return nil }
        swap(&previous, &current)
    }
    return previous[b.count] <= limit ? previous[b.count] : nil
}
