// Int8 vectors for the retrieval scan: a copy of the unit vectors at a quarter of the bytes, so a
// brute-force pass over 75,000 adapters reads 29 MB instead of 115 MB (the scan is memory-bound).
// Scores from the codes are approximate; the retriever rescores its best few hundred in fp32.

import CStylusKernels

extension Kernels {
    /// Vectors quantized to int8 with one scale per vector: v[j] ≈ codes[j] · scale.
    public struct Int8Codes: Sendable {
        public let dimension: Int
        public private(set) var codes: [Int8]
        public private(set) var scales: [Float]
        public var count: Int { scales.count }

        public init(dimension: Int) {
            self.dimension = dimension
            codes = []
            scales = []
        }

        /// Appends one vector (length `dimension`), scaled so its largest magnitude maps to 127.
        public mutating func append(_ v: UnsafeBufferPointer<Float>) {
            precondition(v.count == dimension)
            let (scale, inverse) = Kernels.int8Scale(v)
            for x in v { codes.append(Int8((x * inverse).rounded())) }
            scales.append(scale)
        }

        public mutating func reserveCapacity(_ vectors: Int) {
            codes.reserveCapacity(vectors * dimension)
            scales.reserveCapacity(vectors)
        }
    }

    /// (scale, 1/scale) mapping the largest magnitude of `v` to 127; (0, 0) for a zero vector.
    static func int8Scale(_ v: UnsafeBufferPointer<Float>) -> (Float, Float) {
        var largest: Float = 0
        for x in v { largest = Swift.max(largest, abs(x)) }
        guard largest > 0, largest.isFinite else { return (0, 0) }
        return (largest / 127, 127 / largest)
    }

    /// Query codes widened to int16 (the layout the scan kernel multiplies) and their scale.
    public static func int16QueryCodes(_ q: [Float]) -> (codes: [Int16], scale: Float) {
        q.withUnsafeBufferPointer { v in
            let (scale, inverse) = int8Scale(v)
            return (v.map { Int16(($0 * inverse).rounded()) }, scale)
        }
    }

    /// True when the CPU runs the AVX2 kernels (checked once from /proc/cpuinfo; false elsewhere).
    /// `STYLUS_PORTABLE_KERNELS` forces the portable paths (to compare or test them).
    public static let hasAVX2: Bool = cpuHas("avx2")
    /// True when the CPU runs the AVX-512 kernels (the encoder's small-batch linear layers).
    public static let hasAVX512: Bool = cpuHas("avx512f")

    private static func cpuHas(_ flag: String) -> Bool {
        #if arch(x86_64) && os(Linux)
        if getenv("STYLUS_PORTABLE_KERNELS") != nil { return false }
        return BLASRuntime.readCPUFlags()?.contains(flag) ?? false
        #else
        return false
        #endif
    }

    /// out[r] = Σ_j q[j] · codes[r·dim + j] exactly, for `rows` rows (dim a multiple of 32).
    public static func dotInt8Rows(_ q: UnsafePointer<Int16>, _ codes: UnsafePointer<Int8>, rows: Int, dim: Int,
                                   into out: UnsafeMutablePointer<Int32>) {
        precondition(dim % 32 == 0)
        #if arch(x86_64)
        if hasAVX2 {
            stylus_dot_rows_i8_avx2(q, codes, out, rows, dim)
            return
        }
        #endif
        dotInt8RowsPortable(q, codes, rows: rows, dim: dim, into: out)
    }

    /// The portable form: int16 products of two 16-lane blocks summed in int16 (|a·b| ≤ 127·127, so a
    /// pair cannot overflow), then widened, which keeps baseline SSE2 code on 8-lane int16 operations.
    package static func dotInt8RowsPortable(_ q: UnsafePointer<Int16>, _ codes: UnsafePointer<Int8>, rows: Int, dim: Int,
                                    into out: UnsafeMutablePointer<Int32>) {
        let blocks = dim / 16
        for r in 0..<rows {
            let row = UnsafeRawPointer(codes + r * dim)
            let query = UnsafeRawPointer(q)
            var acc = SIMD16<Int32>()
            var c = 0
            while c < blocks {
                let a = SIMD16<Int16>(truncatingIfNeeded: row.loadUnaligned(fromByteOffset: c * 16, as: SIMD16<Int8>.self))
                let b = SIMD16<Int16>(truncatingIfNeeded: row.loadUnaligned(fromByteOffset: c * 16 + 16, as: SIMD16<Int8>.self))
                let qa = query.loadUnaligned(fromByteOffset: c * 32, as: SIMD16<Int16>.self)
                let qb = query.loadUnaligned(fromByteOffset: c * 32 + 32, as: SIMD16<Int16>.self)
                acc &+= SIMD16<Int32>(truncatingIfNeeded: a &* qa &+ b &* qb)
                c += 2
            }
            out[r] = acc.wrappedSum()
        }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
