import Foundation
import StylusML
import XCTest

/// The bf16 products on the CPU's bf16 hardware against Float32 references. A host without bf16
/// hardware (or with `STYLUS_BF16_ISA=fp32`) skips them and says why; the other paths are forced
/// in separate processes by CLITests' `BFloat16DispatchTests`.
final class BFloat16ComputeTests: XCTestCase {
    private func requireBF16() throws {
        switch BFloat16Compute.availability {
        case .success(let path):
            FileHandle.standardError.write(Data("bf16 products on \(path.rawValue)\n".utf8))
        case .failure(let why):
            throw XCTSkip("bf16 path not exercised on this host: \(why)")
        }
    }

    private func bf16(_ x: [Float]) -> [UInt16] {
        var out = [UInt16](repeating: 0, count: x.count)
        BFloat16Compute.narrow(x, count: x.count, into: &out)
        return out
    }

    private func widen(_ h: [UInt16]) -> [Float] { h.map { Float(bitPattern: UInt32($0) << 16) } }

    /// Relative RMS error of `got` against `want`.
    private func relativeRMS(_ got: [Float], _ want: [Float]) -> Double {
        var e = 0.0, n = 0.0
        for (g, w) in zip(got, want) { e += Double(g - w) * Double(g - w); n += Double(w) * Double(w) }
        return (e / max(n, 1e-30)).squareRoot()
    }

    func testNarrowingRoundsToNearestEven() {
        // 1 + 2^-8 is halfway between two bf16 values (ties to even: 1); 1 + 3·2^-8 rounds up.
        XCTAssertEqual(bf16([1, 1 + 0x1p-8, 1 + 3 * 0x1p-8, -2.5, 0]), [0x3F80, 0x3F80, 0x3F82, 0xC020, 0])
    }

    /// Every transpose and accumulate form, odd sizes, leading dimensions wider than the rows:
    /// the product of the bf16-rounded inputs, summed in Float32, matches a Double reference closely.
    func testGemmMatchesTheProductOfRoundedInputs() throws {
        try requireBF16()
        for (m, n, k) in [(1, 1, 1), (7, 5, 3), (33, 17, 65), (64, 96, 320)] {
            for (ta, tb) in [(false, false), (false, true), (true, false), (true, true)] {
                for accumulate in [false, true] {
                    let lda = (ta ? m : k) + 3, ldb = (tb ? k : n) + 2, ldc = n + 1
                    let a = values((ta ? k : m) * lda, seed: 31), b = values((tb ? n : k) * ldb, seed: 32)
                    let start = values(m * ldc, seed: 33)
                    let ah = bf16(a), bh = bf16(b), aw = widen(ah), bw = widen(bh)
                    var c = start
                    BFloat16Compute.gemm(m: m, n: n, k: k, a: ah, lda: lda, transposeA: ta, b: bh, ldb: ldb, transposeB: tb,
                                         c: &c, ldc: ldc, accumulate: accumulate)
                    var worst = 0.0
                    for i in 0..<m { for j in 0..<n {
                        var sum = accumulate ? Double(start[i * ldc + j]) : 0
                        for p in 0..<k {
                            sum += Double(ta ? aw[p * lda + i] : aw[i * lda + p]) * Double(tb ? bw[j * ldb + p] : bw[p * ldb + j])
                        }
                        worst = max(worst, abs(sum - Double(c[i * ldc + j])) / max(1, abs(sum)))
                    } }
                    XCTAssertLessThanOrEqual(worst, 1e-5, "\(m)x\(n)x\(k) ta \(ta) tb \(tb) accumulate \(accumulate)")
                    // The fp32 fallback (used when oneDNN refuses a product) computes the same.
                    var fallback = start
                    BFloat16Compute.widenedGemm(m: m, n: n, k: k, a: ah, lda: lda, transposeA: ta, b: bh, ldb: ldb, transposeB: tb,
                                                c: &fallback, ldc: ldc, accumulate: accumulate)
                    for i in 0..<m { for j in 0..<n {
                        XCTAssertEqual(fallback[i * ldc + j], c[i * ldc + j], accuracy: 1e-5 * max(1, abs(c[i * ldc + j])))
                    } }
                    // Columns past n in each row of C are never written.
                    for i in 0..<m { XCTAssertEqual(c[i * ldc + n], start[i * ldc + n]) }
                }
            }
        }
    }

    /// bf16 attention rows (odd key counts and widths, more keys than one L2 block) against a
    /// Double reference of softmax(scale · q·k) · v: the products see bf16 inputs, so about 2^-8.
    func testAttentionRowsInBF16MatchAReference() throws {
        guard Kernels.attentionBF16Supported else { throw XCTSkip("bf16 attention not exercised: this CPU has no AVX512-BF16") }
        for (rows, m, d) in [(1, 1, 1), (5, 7, 3), (64, 77, 40), (9, 4099, 40), (17, 300, 80), (8, 33, 160)] {
            let ld = d + 5
            let q = values(rows * ld, seed: 51), k = values(m * ld, seed: 52), v = values(m * ld, seed: 53)
            var packed = [UInt32](repeating: 0, count: Kernels.attentionPackedBF16Count(keys: m, width: d))
            Kernels.attentionPackBF16(keys: k, values: v, ld: ld, count: m, width: d, into: &packed)
            var scratch = [Float](repeating: .nan, count: Kernels.attentionScratchBF16(rows: rows, keys: m, width: d))
            var out = [Float](repeating: .nan, count: rows * ld)
            let scale = 1 / Float(d).squareRoot()
            Kernels.attentionRowsBF16(q: q, ldq: ld, packed: packed, rows: rows, keys: m, width: d, scale: scale, scratch: &scratch,
                                      out: &out, ldo: ld)
            var got: [Float] = [], want: [Float] = []
            for r in 0..<rows {
                var scores = (0..<m).map { j in (0..<d).reduce(0.0) { $0 + Double(q[r * ld + $1]) * Double(k[j * ld + $1]) } * Double(scale) }
                let top = scores.max()!
                scores = scores.map { exp($0 - top) }
                let total = scores.reduce(0, +)
                for c in 0..<d {
                    want.append(Float((0..<m).reduce(0.0) { $0 + scores[$1] * Double(v[$1 * ld + c]) } / total))
                    got.append(out[r * ld + c])
                }
                XCTAssertTrue(out[(r * ld + d)..<(r * ld + ld)].allSatisfy(\.isNaN), "columns past the head untouched")
            }
            XCTAssertLessThanOrEqual(relativeRMS(got, want), 1.5e-2, "rows \(rows) keys \(m) width \(d)")
        }
    }

    /// bf16 Winograd against the Float32 Winograd of the same (bf16-exact) weights: the difference
    /// is the rounding of the transformed tiles and weights, about 2^-9 relative.
    func testWinogradInBF16MatchesFloat32() throws {
        try requireBF16()
        for (b, c, k, h, w, band) in [(1, 8, 8, 8, 8, nil), (2, 5, 3, 7, 6, 3), (1, 32, 40, 12, 10, 11), (2, 64, 48, 9, 16, nil)] as [(Int, Int, Int, Int, Int, Int?)] {
            let x = values(b * c * h * w, seed: 41), weights = widen(bf16(values(k * c * 9, seed: 42, scale: 0.5)))
            let bias = values(k, seed: 43)
            var want = [Float](repeating: .nan, count: b * k * h * w), got = want
            Kernels.winogradConv3x3(x, batch: b, inChannels: c, height: h, width: w, weights: weights, outChannels: k, bias: bias, out: &want)
            var transformed = [UInt16](repeating: 0, count: 16 * k * c)
            Kernels.winogradWeightsBF16(bf16(weights), outChannels: k, inChannels: c, into: &transformed)
            Kernels.winogradConv3x3BF16(x, batch: b, inChannels: c, height: h, width: w, transformed: transformed, outChannels: k,
                                        bias: bias, out: &got, tilesPerBand: band)
            XCTAssertFalse(got.contains { !$0.isFinite })
            let error = relativeRMS(got, want)
            XCTAssertLessThanOrEqual(error, 6e-3, "batch \(b) in \(c) out \(k) \(h)x\(w)")
            XCTAssertGreaterThan(error, 0, "bf16 rounding shows")
        }
    }
}
