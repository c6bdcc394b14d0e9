// Pointer-level numeric kernels: BLAS sgemm plus SIMD loops for the elementwise and row-wise work
// around it. Everything is row-major. These are the hot paths of the encoders (and the renderer),
// so they take raw pointers and never allocate.

import CBLAS

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

public enum Kernels {
    /// SIMD width used by the loops below.
    typealias Vector = SIMD16<Float>
    static let width = 16

    // MARK: threads

    /// BLAS uses one thread per online core unless `OPENBLAS_NUM_THREADS` says otherwise.
    /// Evaluated once, before the first GEMM.
    private static let threadsConfigured: Void = {
        if getenv("OPENBLAS_NUM_THREADS") == nil {
            openblas_set_num_threads(Int32(max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN)))))
        }
    }()

    /// Overrides the number of BLAS threads (process-wide).
    public static func setBLASThreads(_ count: Int) {
        _ = threadsConfigured
        openblas_set_num_threads(Int32(max(1, count)))
    }

    public static var blasThreads: Int {
        _ = threadsConfigured
        return Int(openblas_get_num_threads())
    }

    // MARK: GEMM

    /// `C = alpha · A · op(B) + beta · C` with row-major A (m × k, leading dimension lda),
    /// op(B) = B (k × n) or Bᵀ when `transposeB` (B stored n × k), C m × n.
    /// Leading dimensions let callers address column blocks in place (e.g. one attention head).
    public static func gemm(m: Int, n: Int, k: Int,
                            a: UnsafePointer<Float>, lda: Int, transposeA: Bool = false,
                            b: UnsafePointer<Float>, ldb: Int, transposeB: Bool = false,
                            c: UnsafeMutablePointer<Float>, ldc: Int,
                            alpha: Float = 1, beta: Float = 0) {
        guard m > 0, n > 0 else { return }
        _ = threadsConfigured
        if k == 0 {
            // BLAS leaves C untouched for k = 0; the maths says C = beta · C.
            for i in 0..<m { scale(c + i * ldc, count: n, by: beta) }
            return
        }
        cblas_sgemm(CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    // MARK: elementwise

    /// `y += x`.
    public static func add(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int) {
        var i = 0
        while i + width <= count {
            store(load(y + i) + load(x + i), y + i)
            i += width
        }
        while i < count { y[i] += x[i]; i += 1 }
    }

    /// `x *= factor`.
    public static func scale(_ x: UnsafeMutablePointer<Float>, count: Int, by factor: Float) {
        var i = 0
        while i + width <= count {
            store(load(x + i) * factor, x + i)
            i += width
        }
        while i < count { x[i] *= factor; i += 1 }
    }

    /// Adds `vector` (length `columns`) to each of `rows` rows of `x`.
    public static func addRowVector(_ vector: UnsafePointer<Float>, to x: UnsafeMutablePointer<Float>, rows: Int, columns: Int) {
        for r in 0..<rows { add(vector, into: x + r * columns, count: columns) }
    }

    /// Writes `vector` (length `columns`) into each of `rows` rows of `x`.
    public static func broadcastRow(_ vector: UnsafePointer<Float>, to x: UnsafeMutablePointer<Float>, rows: Int, columns: Int) {
        for r in 0..<rows { (x + r * columns).update(from: vector, count: columns) }
    }

    /// GELU, erf form (BERT's `gelu`): `x · ½(1 + erf(x/√2))`, in place.
    public static func gelu(_ x: UnsafeMutablePointer<Float>, count: Int) {
        forEachVector(x, count: count) { v in
            v * 0.5 * (1 + erf(v * 0.70710678118654752))
        }
    }

    /// `exp` in place.
    public static func exp(_ x: UnsafeMutablePointer<Float>, count: Int) {
        forEachVector(x, count: count) { Kernels.exp($0) }
    }

    // MARK: row-wise

    /// Layer norm of each row in place: `(x − mean) / sqrt(var + eps) · gamma + beta` (biased variance).
    public static func layerNorm(_ x: UnsafeMutablePointer<Float>, rows: Int, columns: Int,
                                 gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>, epsilon: Float) {
        guard columns > 0 else { return }
        for r in 0..<rows {
            let row = x + r * columns
            let mean = sum(row, count: columns) / Float(columns)
            // Two passes (mean, then squared deviations) keep the variance accurate.
            var acc = Vector()
            var i = 0
            while i + width <= columns {
                let d = load(row + i) - mean
                acc += d * d
                i += width
            }
            var squares = acc.sum()
            while i < columns { let d = row[i] - mean; squares += d * d; i += 1 }
            let inverse = 1 / (squares / Float(columns) + epsilon).squareRoot()
            i = 0
            while i + width <= columns {
                store((load(row + i) - mean) * inverse * load(gamma + i) + load(beta + i), row + i)
                i += width
            }
            while i < columns { row[i] = (row[i] - mean) * inverse * gamma[i] + beta[i]; i += 1 }
        }
    }

    /// Softmax of each row in place (rows of length `columns`, consecutive rows `stride` apart).
    public static func softmax(_ x: UnsafeMutablePointer<Float>, rows: Int, columns: Int, stride: Int? = nil) {
        guard columns > 0 else { return }
        let stride = stride ?? columns
        for r in 0..<rows {
            let row = x + r * stride
            var m = -Float.infinity
            var i = 0
            if columns >= width {
                var mv = load(row)
                i = width
                while i + width <= columns { mv = pointwiseMax(mv, load(row + i)); i += width }
                m = mv.max()
            }
            while i < columns { m = Swift.max(m, row[i]); i += 1 }
            forEachVector(row, count: columns) { Kernels.exp($0 - m) }
            let total = sum(row, count: columns)
            scale(row, count: columns, by: 1 / total)
        }
    }

    /// Sum of `count` elements.
    public static func sum(_ x: UnsafePointer<Float>, count: Int) -> Float {
        var acc = Vector()
        var i = 0
        while i + width <= count { acc += load(x + i); i += width }
        var total = acc.sum()
        while i < count { total += x[i]; i += 1 }
        return total
    }

    /// Dot product of two vectors.
    public static func dot(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, count: Int) -> Float {
        var acc = Vector()
        var i = 0
        while i + width <= count { acc += load(x + i) * load(y + i); i += width }
        var total = acc.sum()
        while i < count { total += x[i] * y[i]; i += 1 }
        return total
    }

    // MARK: SIMD helpers

    @inline(__always) static func load(_ p: UnsafePointer<Float>) -> Vector {
        UnsafeRawPointer(p).loadUnaligned(as: Vector.self)
    }

    @inline(__always) static func load(_ p: UnsafeMutablePointer<Float>) -> Vector {
        UnsafeRawPointer(p).loadUnaligned(as: Vector.self)
    }

    @inline(__always) static func store(_ v: Vector, _ p: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: Vector.self)
    }

    /// Applies `f` to `x` in place, a vector at a time; the tail goes through a zero-padded vector.
    @inline(__always) static func forEachVector(_ x: UnsafeMutablePointer<Float>, count: Int, _ f: (Vector) -> Vector) {
        var i = 0
        while i + width <= count {
            store(f(load(x + i)), x + i)
            i += width
        }
        let tail = count - i
        if tail > 0 {
            var v = Vector()
            for j in 0..<tail { v[j] = x[i + j] }
            let y = f(v)
            for j in 0..<tail { x[i + j] = y[j] }
        }
    }

    /// exp on a vector: 2^n · p(r) with x = n·ln2 + r, |r| ≤ ln2/2, p a degree-7 Taylor polynomial
    /// (relative error ≈ 1e-7). Inputs are clamped to the finite range; written with plain arithmetic
    /// and bit operations so it stays vectorised.
    @inline(__always) static func exp(_ x: Vector) -> Vector {
        let x = x.clamped(lowerBound: Vector(repeating: -87.3), upperBound: Vector(repeating: 88.0))
        // Round x·log2(e) to an integer with the 1.5·2^23 trick: the integer lands in the low mantissa bits.
        let magic = Vector(repeating: 12_582_912)
        let shifted = x * 1.44269504088896341 + magic
        let n = shifted - magic
        let r = x - n * 0.693145751953125 - n * 1.42860682030941723e-06
        var p = Vector(repeating: 1.0 / 5040)
        p = p * r + 1.0 / 720
        p = p * r + 1.0 / 120
        p = p * r + 1.0 / 24
        p = p * r + 1.0 / 6
        p = p * r + 0.5
        p = p * r + 1
        p = p * r + 1
        let ni = unsafeBitCast(shifted, to: SIMD16<Int32>.self) &- unsafeBitCast(magic, to: SIMD16<Int32>.self)
        let twoToN = unsafeBitCast((ni &+ 127) &<< 23, to: Vector.self)
        return p * twoToN
    }

    /// erf on a vector (Abramowitz & Stegun 7.1.26, absolute error ≤ 1.5e-7, the same approximation
    /// PyTorch's vectorised CPU erf uses).
    @inline(__always) static func erf(_ x: Vector) -> Vector {
        let bits = unsafeBitCast(x, to: SIMD16<UInt32>.self)
        let sign = bits & 0x8000_0000
        let a = unsafeBitCast(bits & 0x7FFF_FFFF, to: Vector.self)
        let t = 1 / (1 + 0.3275911 * a)
        var p = Vector(repeating: 1.061405429)
        p = p * t - 1.453152027
        p = p * t + 1.421413741
        p = p * t - 0.284496736
        p = p * t + 0.254829592
        p = p * t
        let y = 1 - p * exp(-(a * a))
        return unsafeBitCast(unsafeBitCast(y, to: SIMD16<UInt32>.self) | sign, to: Vector.self)
    }
}
