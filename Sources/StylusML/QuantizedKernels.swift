// Int8 vectors for the retrieval scan: a copy of the unit vectors at a quarter of the bytes, so a
// brute-force pass over 75,000 adapters reads 29 MB instead of 115 MB (the scan is memory-bound).
// Scores from the codes are approximate; the retriever rescores its best few hundred in fp32.
// The scan itself is C (CStylusKernels): AVX-512 VNNI, AVX2 or portable, picked by CPU.

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
            for x in v { codes.append(Kernels.int8Code(x, inverse)) }
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

    /// x · inverse rounded to an int8 code in -127...127; 0 for a value that is not finite.
    static func int8Code(_ x: Float, _ inverse: Float) -> Int8 {
        let code = (x * inverse).rounded()
        return code.isFinite ? Int8(Swift.max(-127, Swift.min(127, code))) : 0
    }

    /// The query's int8 codes (the scan's other operand) and their scale.
    public static func int8QueryCodes(_ q: [Float]) -> (codes: [Int8], scale: Float) {
        q.withUnsafeBufferPointer { v in
            let (scale, inverse) = int8Scale(v)
            return (v.map { int8Code($0, inverse) }, scale)
        }
    }

    /// `STYLUS_PORTABLE_KERNELS` turns off the CPU-specific retrieval kernels (to compare or test
    /// the portable paths).
    static let portableKernels = getenv("STYLUS_PORTABLE_KERNELS") != nil

    /// True when the CPU runs the AVX-512 kernels (the encoder's small-batch linear layers).
    public static let hasAVX512: Bool = {
        #if arch(x86_64) && os(Linux)
        return !portableKernels && (BLASRuntime.readCPUFlags()?.contains("avx512f") ?? false)
        #else
        return false
        #endif
    }()

    /// True when the CPU runs the encoder's small-batch linear layers in AVX2 register blocks
    /// (AVX2, FMA and F16C for the half-precision weights), used where AVX-512 is missing.
    public static let hasAVX2FMA: Bool = {
        #if arch(x86_64) && os(Linux)
        guard !portableKernels, let flags = BLASRuntime.readCPUFlags() else { return false }
        return flags.contains("avx2") && flags.contains("fma") && flags.contains("f16c")
        #else
        return false
        #endif
    }()

    /// The fastest scan path for vectors of `dim` codes on this CPU (2 AVX-512 VNNI, 1 AVX2,
    /// 0 portable C; 0 with `STYLUS_PORTABLE_KERNELS`).
    public static func int8ScanLevel(dim: Int) -> Int32 {
        portableKernels ? 0 : stylus_scan_i8_best_level(dim)
    }

    /// scores[r] = scales[r] · Σ_j q[j] · codes[r·dim + j] for `rows` rows (the sum exact in int32).
    /// `level` (at most `int8ScanLevel(dim:)`) picks the code path; tests pass each in turn.
    public static func scanInt8(_ q: UnsafePointer<Int8>, _ codes: UnsafePointer<Int8>, scales: UnsafePointer<Float>,
                                rows: Int, dim: Int, into scores: UnsafeMutablePointer<Float>, level: Int32? = nil) {
        guard rows > 0, dim > 0 else { return }
        let best = int8ScanLevel(dim: dim)
        stylus_scan_i8(q, codes, scales, rows, dim, scores, min(level ?? best, best))
    }

    /// `scanInt8` for `count` queries (`queries`: count × dim codes) over the same rows, reading
    /// the rows once: the scores of query i go to scores + i·stride, the same values `scanInt8` gives.
    public static func scanInt8(queries: UnsafePointer<Int8>, count: Int, _ codes: UnsafePointer<Int8>,
                                scales: UnsafePointer<Float>, rows: Int, dim: Int, into scores: UnsafeMutablePointer<Float>,
                                stride: Int, level: Int32? = nil) {
        guard rows > 0, dim > 0, count > 0 else { return }
        let best = int8ScanLevel(dim: dim)
        stylus_scan_i8_many(queries, count, codes, scales, rows, dim, scores, stride, min(level ?? best, best))
    }

    /// `scanInt8(queries:…)` over the listed rows only (row numbers of `codes` and `scales`): the
    /// score of query i for `rows[k]` goes to scores + i·stride + k, the value the full scan gives that row.
    public static func scanInt8(queries: UnsafePointer<Int8>, count: Int, _ codes: UnsafePointer<Int8>,
                                scales: UnsafePointer<Float>, listedRows rows: UnsafeBufferPointer<Int32>, dim: Int,
                                into scores: UnsafeMutablePointer<Float>, stride: Int, level: Int32? = nil) {
        guard let list = rows.baseAddress, rows.count > 0, dim > 0, count > 0 else { return }
        let best = int8ScanLevel(dim: dim)
        stylus_scan_i8_many_listed(queries, count, codes, scales, list, rows.count, dim, scores, stride, min(level ?? best, best))
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
