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
        if let seen = self[key] { return seen }
        let fresh = compute(key)
        lock.lock(); defer { lock.unlock() }
        makeRoom(for: 1)
        known[key] = fresh
        return fresh
    }

    /// The value kept for `key`, if any.
    package subscript(key: Key) -> Value? {
        lock.lock(); defer { lock.unlock() }
        return known[key]
    }

    /// Keeps `fresh` (computed together by the caller, e.g. in one encoder pass).
    package func store(_ fresh: [Key: Value]) {
        lock.lock(); defer { lock.unlock() }
        makeRoom(for: fresh.count)
        known.merge(fresh) { _, new in new }
    }

    /// Drops everything kept when `count` more would pass the bound (the caller holds the lock).
    private func makeRoom(for count: Int) {
        if known.count + count > capacity { known.removeAll(keepingCapacity: true) }
    }
}
