import CStylusKernels

/// A fast 64-bit checksum for telling a damaged file from a good one (`stylus_checksum_update`
/// in CStylusKernels: Fletcher sums in eight lanes, mixed at the end). Not a cryptographic hash.
public struct Checksum: Sendable {
    private var state = stylus_checksum_state()

    public init() { stylus_checksum_init(&state) }

    /// Adds bytes; every piece but the last must be a multiple of 32 bytes long.
    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return }
        stylus_checksum_update(&state, base, bytes.count)
    }

    public func value(seed: UInt64 = 0) -> UInt64 { withUnsafePointer(to: state) { stylus_checksum_final($0, seed) } }

    /// The checksum of one buffer.
    public static func of(_ bytes: UnsafeRawBufferPointer, seed: UInt64 = 0) -> UInt64 {
        var c = Checksum()
        c.update(bytes)
        return c.value(seed: seed)
    }
}
