// Matrix products in bfloat16 on the CPU's bf16 hardware, chosen at run time.
//
// oneDNN (libdnnl, loaded on first use) computes them with AMX tiles where the CPU has them and
// AVX512-BF16 where it has only that; elsewhere bf16 is unavailable and callers keep fp32.
// `STYLUS_BF16_ISA` forces a path: `amx`, `avx512_bf16` (AMX not used even when present) or
// `fp32` (bf16 reported unavailable), so tests and benchmarks can exercise each.

import CStylusBF16
import Foundation

public enum BFloat16Compute {
    /// The instruction set bf16 products run on.
    public enum Path: String, Sendable {
        case amx
        case avx512BF16 = "avx512_bf16"
    }

    /// The path in use, or why there is none (loaded on first call; later calls are free).
    public static var availability: Result<Path, Unavailable> { loaded }

    public struct Unavailable: Error, CustomStringConvertible, Sendable {
        public let description: String
    }

    /// The path, nil when bf16 products are unavailable here.
    public static var path: Path? { try? availability.get() }

    private static let loaded: Result<Path, Unavailable> = {
        let forced = ProcessInfo.processInfo.environment["STYLUS_BF16_ISA"]?.lowercased()
        let cap: stylus_bf16_cap
        switch forced {
        case nil, "", "auto": cap = stylus_bf16_cap_none
        case "amx": cap = stylus_bf16_cap_amx
        case "avx512_bf16", "avx512-bf16", "avx512": cap = stylus_bf16_cap_avx512
        case "fp32", "off", "none":
            return .failure(Unavailable(description: "bf16 is turned off by STYLUS_BF16_ISA=\(forced!)"))
        default:
            return .failure(Unavailable(description: "STYLUS_BF16_ISA=\(forced!) is not one of amx, avx512_bf16, fp32"))
        }
        var message: UnsafePointer<CChar>?
        let isa = stylus_bf16_load(cap, Kernels.threadCount, &message)
        switch isa {
        case stylus_bf16_isa_amx:
            return .success(.amx)
        case stylus_bf16_isa_avx512:
            if forced == "amx" {  // asked for AMX, the CPU has only AVX512-BF16
                return .failure(Unavailable(description: "STYLUS_BF16_ISA=amx, but this CPU has no AMX tiles"))
            }
            return .success(.avx512BF16)
        default:
            return .failure(Unavailable(description: message.map { String(cString: $0) } ?? "bf16 is unavailable"))
        }
    }()

    /// `C = A · op(B)` (`+ C` with `accumulate`), A `m × k` (or stored `k × m` when `transposeA`),
    /// op(B) `k × n` (B stored `n × k` when `transposeB`), both bf16 bits, C Float32 `m × n`;
    /// products accumulate in Float32. Runs on every core; call it from one thread at a time
    /// (concurrent calls wait their turn). Precondition: `path != nil`.
    public static func gemm(m: Int, n: Int, k: Int,
                            a: UnsafePointer<UInt16>, lda: Int, transposeA: Bool = false,
                            b: UnsafePointer<UInt16>, ldb: Int, transposeB: Bool = false,
                            c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool = false) {
        guard m > 0, n > 0 else { return }
        precondition(path != nil, "bf16 gemm without bf16 hardware")
        if k == 0 {
            if !accumulate { for i in 0..<m { (c + i * ldc).update(repeating: 0, count: n) } }
            return
        }
        let status = stylus_bf16_gemm(m, n, k, a, lda, transposeA ? 1 : 0, b, ldb, transposeB ? 1 : 0, c, ldc, accumulate ? 1 : 0)
        guard status != 0 else { return }
        // oneDNN refused (out of memory, a shape it has no kernel for): the same product in Float32
        // from the exactly widened operands, so a render goes on; said once on stderr.
        reportFallback("oneDNN bf16 matmul \(m)×\(k)·\(k)×\(n) failed with status \(status); computing it in fp32")
        widenedGemm(m: m, n: n, k: k, a: a, lda: lda, transposeA: transposeA, b: b, ldb: ldb, transposeB: transposeB,
                    c: c, ldc: ldc, accumulate: accumulate)
    }

    /// `gemm` in Float32 from the exactly widened bf16 operands (the fallback when oneDNN refuses).
    package static func widenedGemm(m: Int, n: Int, k: Int,
                                    a: UnsafePointer<UInt16>, lda: Int, transposeA: Bool = false,
                                    b: UnsafePointer<UInt16>, ldb: Int, transposeB: Bool = false,
                                    c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool = false) {
        guard m > 0, n > 0, k > 0 else { return }
        // Up to the last element each operand has (a strided view may end before a whole row).
        let countA = ((transposeA ? k : m) - 1) * lda + (transposeA ? m : k)
        let countB = ((transposeB ? n : k) - 1) * ldb + (transposeB ? k : n)
        let wideA = UnsafeMutablePointer<Float>.allocate(capacity: countA), wideB = UnsafeMutablePointer<Float>.allocate(capacity: countB)
        defer { wideA.deallocate(); wideB.deallocate() }
        Kernels.convertBFloat16(a, to: wideA, count: countA)
        Kernels.convertBFloat16(b, to: wideB, count: countB)
        Kernels.gemm(m: m, n: n, k: k, a: wideA, lda: lda, transposeA: transposeA, b: wideB, ldb: ldb, transposeB: transposeB,
                     c: c, ldc: ldc, beta: accumulate ? 1 : 0)
    }

    private static let fallbackReported = NSLock()
    nonisolated(unsafe) private static var fallbackSaid = false

    private static func reportFallback(_ message: String) {
        fallbackReported.lock(); defer { fallbackReported.unlock() }
        guard !fallbackSaid else { return }
        fallbackSaid = true
        FileHandle.standardError.write(Data("stylus: \(message)\n".utf8))
    }

    /// The oneDNN implementation that ran a product of these sizes (e.g. "brg:avx512_core_bf16"), for reports.
    public static func implementation(m: Int, n: Int, k: Int, transposeA: Bool = false, transposeB: Bool = false) -> String? {
        stylus_bf16_implementation(m, n, k, transposeA ? 1 : 0, transposeB ? 1 : 0).map { String(cString: $0) }
    }

    /// Float32 → bfloat16 bits (nearest even) into `out`, on all cores when large.
    public static func narrow(_ x: UnsafePointer<Float>, count: Int, into out: UnsafeMutablePointer<UInt16>) {
        Kernels.narrowBFloat16(x, to: out, count: count, parallel: true)
    }
}
