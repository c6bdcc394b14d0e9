import Foundation

/// A value guarded by a lock. Critical sections are short and never await.
///
/// The value lives behind a pointer, not in a stored property: with a private stored property the
/// optimizer may conclude that `unlock()` cannot touch it and turn the copy `current` takes under
/// the lock into a borrow read after unlocking; ThreadSanitizer then caught a reader counting an
/// array while a writer, seeing the buffer uniquely referenced, grew it in place (a use after free
/// in waiting). Memory behind a pointer may be written by any opaque call, so the copy stays inside.
public final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private let storage: UnsafeMutablePointer<Value>

    public init(_ value: Value) {
        storage = .allocate(capacity: 1)
        storage.initialize(to: value)
    }

    deinit {
        storage.deinitialize(count: 1)
        storage.deallocate()
    }

    @discardableResult
    public func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        lock.lock()
        defer { lock.unlock() }
        return try body(&storage.pointee)
    }

    public var current: Value { withLock { $0 } }
}
