import Foundation

/// A value guarded by a lock. Critical sections are short and never await.
public final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value

    public init(_ value: Value) { self.value = value }

    @discardableResult
    public func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }

    /// A copy of the value. A collection that another thread keeps changing is better read inside
    /// `withLock`: the copy shares its storage until the writer's next in-place change, and
    /// ThreadSanitizer, which cannot see the Swift runtime's reference counting, reports reads of
    /// the copy against that change as races.
    public var current: Value { withLock { $0 } }
}
