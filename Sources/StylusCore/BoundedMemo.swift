import Foundation

/// Values computed once per key and kept, for any thread (bounded: cleared when full, as the
/// working set — a catalog's tags, the candidates of recent prompts — is small next to the capacity).
package final class BoundedMemo<Key: Hashable, Value>: @unchecked Sendable {  // state behind `lock`
    private let lock = NSLock()
    private var known: [Key: Value] = [:]
    let capacity: Int

    package init(capacity: Int) { self.capacity = capacity }

    /// The value kept for `key`, else `compute(key)` (outside the lock), kept.
    package func value(_ key: Key, _ compute: (Key) -> Value) -> Value {
        lock.lock()
        let seen = known[key]
        lock.unlock()
        if let seen { return seen }
        let fresh = compute(key)
        lock.lock()
        if known.count >= capacity { known.removeAll(keepingCapacity: true) }
        known[key] = fresh
        lock.unlock()
        return fresh
    }
}
