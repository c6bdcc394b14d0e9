import Foundation
import StylusML
import XCTest

/// The C attention and GEGLU kernels against direct double-precision references on small random
/// inputs, over shapes that exercise every blocking remainder (rows not a multiple of 8, keys not
/// a multiple of 32 or spanning several key blocks, head widths not a multiple of 48, strided rows).
final class AttentionKernelTests: XCTestCase {
    func testAttentionRowsMatchesDirectSoftmaxAttention() {
        // (query rows, keys, head width, heads side by side in the rows)
        for (rows, keys, d, heads) in [(1, 1, 1, 1), (9, 5, 3, 2), (17, 77, 40, 3), (8, 32, 48, 1), (23, 100, 80, 2), (5, 64, 50, 1), (11, 300, 600, 1)] {
            let width = d * heads, scale = 1 / Float(d).squareRoot()
            let q = values(rows * width, seed: 1, scale: 3), k = values(keys * width, seed: 2, scale: 3), v = values(keys * width, seed: 3)
            let dp = Kernels.attentionPaddedWidth(d)
            XCTAssertGreaterThanOrEqual(dp, d)
            var out = [Float](repeating: .nan, count: rows * width)
            for h in 0..<heads {
                // The head's keys transposed and values padded, as the kernel reads them.
                var kt = [Float](repeating: 0, count: d * Kernels.attentionPaddedKeys(keys)), vp = [Float](repeating: 0, count: keys * dp)
                for j in 0..<keys { for c in 0..<d { kt[(j / 32) * 32 * d + c * 32 + j % 32] = k[j * width + h * d + c]; vp[j * dp + c] = v[j * width + h * d + c] } }
                var scratch = [Float](repeating: .nan, count: Kernels.attentionScratch(rows: rows, keys: keys, width: d))
                q.withUnsafeBufferPointer { qp in out.withUnsafeMutableBufferPointer { op in
                    Kernels.attentionRows(q: qp.baseAddress! + h * d, ldq: width, keyPanels: kt, paddedValues: vp, rows: rows, keys: keys,
                                          width: d, scale: scale, scratch: &scratch, out: op.baseAddress! + h * d, ldo: width)
                } }
            }
            var worst: Double = 0
            for h in 0..<heads { for r in 0..<rows {
                let s = (0..<keys).map { j in (0..<d).reduce(0.0) { $0 + Double(q[r * width + h * d + $1]) * Double(k[j * width + h * d + $1]) } * Double(scale) }
                let m = s.max()!, e = s.map { Foundation.exp($0 - m) }, total = e.reduce(0, +)
                for c in 0..<d {
                    let want = (0..<keys).reduce(0.0) { $0 + e[$1] * Double(v[$1 * width + h * d + c]) } / total
                    worst = max(worst, abs(want - Double(out[r * width + h * d + c])))
                }
            } }
            // fp32 sums of up to 600 products of values up to 9: a few 1e-6 absolute.
            XCTAssertLessThanOrEqual(worst, 1e-5, "rows \(rows) keys \(keys) width \(d) heads \(heads)")
        }
    }

    func testAttentionRowsIsStableForLargeScores() {
        // Scores around ±1000: exp must be taken after subtracting the row maximum.
        let d = 4, keys = 40
        let q = [Float](repeating: 30, count: d), k = values(keys * d, seed: 5, scale: 10), v = values(keys * d, seed: 6)
        let dp = Kernels.attentionPaddedWidth(d)
        var kt = [Float](repeating: 0, count: d * Kernels.attentionPaddedKeys(keys)), vp = [Float](repeating: 0, count: keys * dp)
        for j in 0..<keys { for c in 0..<d { kt[(j / 32) * 32 * d + c * 32 + j % 32] = k[j * d + c]; vp[j * dp + c] = v[j * d + c] } }
        var scratch = [Float](repeating: 0, count: Kernels.attentionScratch(rows: 1, keys: keys, width: d)), out = [Float](repeating: 0, count: d)
        Kernels.attentionRows(q: q, ldq: d, keyPanels: kt, paddedValues: vp, rows: 1, keys: keys, width: d, scale: 1,
                              scratch: &scratch, out: &out, ldo: d)
        // Scores are 30 · (row sum of k): the softmax is all but one-hot on the largest.
        let sums = (0..<keys).map { j in k[(j * d)..<((j + 1) * d)].reduce(0, +) }
        let best = sums.indices.max { sums[$0] < sums[$1] }!
        XCTAssertGreaterThan(sums[best] - sums.filter { $0 < sums[best] }.max()!, 0.5)
        XCTAssertTrue(out.allSatisfy(\.isFinite))
        XCTAssertEqual(out, Array(v[(best * d)..<((best + 1) * d)]), accuracy: 1e-5)
    }

    func testShortAttentionMatchesDirectSoftmaxAttentionInPlace() {
        // Q, K and V side by side in each row, as the encoder's stacked projection holds them
        // (heads of `d` columns, rows 3·heads·d apart); large scores on the last case.
        for (keys, d, heads, scoreScale) in [(1, 16, 1, Float(1)), (2, 32, 2, 1), (5, 32, 12, 3), (17, 48, 2, 3), (64, 32, 1, 1), (9, 16, 1, 40)] {
            let width = d * heads, ld = 3 * width, scale = 1 / Float(d).squareRoot()
            let qkv = values(keys * ld, seed: UInt64(keys * 7 + d), scale: scoreScale)
            var out = [Float](repeating: .nan, count: keys * width)
            var scores = [Float](repeating: .nan, count: keys)
            qkv.withUnsafeBufferPointer { p in out.withUnsafeMutableBufferPointer { o in
                for h in 0..<heads {
                    let q = p.baseAddress! + h * d
                    Kernels.attentionShort(q: q, k: q + width, v: q + 2 * width, ld: ld, keys: keys, width: d, scale: scale,
                                           scores: &scores, out: o.baseAddress! + h * d, ldo: width)
                }
            } }
            var worst: Double = 0
            for h in 0..<heads { for i in 0..<keys {
                let s = (0..<keys).map { j in
                    (0..<d).reduce(0.0) { $0 + Double(qkv[i * ld + h * d + $1]) * Double(qkv[j * ld + width + h * d + $1]) } * Double(scale)
                }
                let m = s.max()!, e = s.map { Foundation.exp($0 - m) }, total = e.reduce(0, +)
                for c in 0..<d {
                    let want = (0..<keys).reduce(0.0) { $0 + e[$1] * Double(qkv[$1 * ld + 2 * width + h * d + c]) } / total
                    worst = max(worst, abs(want - Double(out[i * width + h * d + c])))
                }
            } }
            XCTAssertTrue(out.allSatisfy(\.isFinite), "keys \(keys) width \(d)")
            XCTAssertLessThanOrEqual(worst, 1e-5, "keys \(keys) width \(d) heads \(heads)")
        }
    }

    func testGegluMatchesErfGelu() {
        for (rows, inner) in [(1, 1), (3, 5), (4, 16), (7, 37)] {
            let x = values(rows * 2 * inner, seed: 9, scale: 6)
            var out = [Float](repeating: .nan, count: rows * inner)
            Kernels.geglu(x, rows: rows, inner: inner, into: &out)
            for r in 0..<rows { for i in 0..<inner {
                let a = Double(x[r * 2 * inner + i]), g = Double(x[r * 2 * inner + inner + i])
                let want = a * g * 0.5 * (1 + Foundation.erf(g / 2.0.squareRoot()))
                XCTAssertEqual(Double(out[r * inner + i]), want, accuracy: 1e-5 * max(1, abs(want)), "row \(r) column \(i)")
            } }
        }
    }
}

private func XCTAssertEqual(_ a: [Float], _ b: [Float], accuracy: Float, file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(a.count, b.count, file: file, line: line)
    for (x, y) in zip(a, b) { XCTAssertEqual(x, y, accuracy: accuracy, file: file, line: line) }
}

/// Winograd F(2×2, 3×3) against a direct double-precision 3×3 convolution (stride 1, padding 1).
final class WinogradTests: XCTestCase {
    func testWinogradConvMatchesDirectConvolution() {
        // (batch, in, out, height, width, tiles per band): odd sizes leave half tiles at the edges;
        // small bands split the batch and rows mid-way.
        for (b, c, k, h, w, band) in [(1, 1, 1, 1, 1, nil), (2, 5, 3, 7, 6, 3), (1, 16, 8, 8, 8, nil), (2, 3, 4, 5, 9, 7), (1, 32, 40, 12, 10, 11)] as [(Int, Int, Int, Int, Int, Int?)] {
            let x = values(b * c * h * w, seed: 21), weights = values(k * c * 9, seed: 22, scale: 0.5), bias = values(k, seed: 23)
            var out = [Float](repeating: .nan, count: b * k * h * w)
            Kernels.winogradConv3x3(x, batch: b, inChannels: c, height: h, width: w, weights: weights, outChannels: k, bias: bias,
                                    out: &out, tilesPerBand: band)
            var worst: Double = 0
            for n in 0..<b { for o in 0..<k { for y in 0..<h { for xx in 0..<w {
                var sum = Double(bias[o])
                for i in 0..<c { for dy in 0..<3 { for dx in 0..<3 {
                    let yy = y + dy - 1, xc = xx + dx - 1
                    guard yy >= 0, yy < h, xc >= 0, xc < w else { continue }
                    let weight: Float = weights[(o * c + i) * 9 + dy * 3 + dx]
                    let input: Float = x[((n * c + i) * h + yy) * w + xc]
                    sum += Double(weight) * Double(input)
                } } }
                let got: Float = out[((n * k + o) * h + y) * w + xx]
                worst = max(worst, abs(sum - Double(got)))
            } } } }
            XCTAssertLessThanOrEqual(worst, 1e-5, "batch \(b) in \(c) out \(k) \(h)x\(w) band \(band.map(String.init) ?? "auto")")
        }
        // Without a bias the outputs are the bare convolution.
        var out = [Float](repeating: .nan, count: 4)
        Kernels.winogradConv3x3([1, 2, 3, 4], batch: 1, inChannels: 1, height: 2, width: 2, weights: [0, 0, 0, 0, 1, 0, 0, 0, 0],
                                outChannels: 1, bias: nil, out: &out)
        XCTAssertEqual(out, [1, 2, 3, 4])
    }
}
