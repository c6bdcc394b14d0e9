import StylusCore
import StylusML
import XCTest

/// The retrieval scan's int8 kernels and the encoder's packed small-batch linear layer, against
/// plain loops on random data (both the CPU-specific and the portable paths).
final class QuantizedKernelTests: XCTestCase {
    func testInt8ScanPathsAreExact() {
        var g = SeededGenerator(seed: 7)
        for (rows, dim) in [(37, 384), (5, 64), (3, 32), (6, 40)] {  // VNNI needs dim % 64, AVX2 dim % 32
            let codes = (0..<(rows * dim)).map { _ in Int8.random(in: -127...127, using: &g) }
            let query = (0..<dim).map { _ in Int8.random(in: -127...127, using: &g) }
            let scales = (0..<rows).map { _ in Float(Int.random(in: 1...1000, using: &g)) / 1e5 }
            let expected = (0..<rows).map { r in
                Float((0..<dim).reduce(Int32(0)) { $0 + Int32(query[$1]) * Int32(codes[r * dim + $1]) }) * scales[r]
            }
            for level in 0...Kernels.int8ScanLevel(dim: dim) {
                var scores = [Float](repeating: .nan, count: rows)
                Kernels.scanInt8(query, codes, scales: scales, rows: rows, dim: dim, into: &scores, level: level)
                XCTAssertEqual(scores, expected, "level \(level), dim \(dim)")
            }
        }
        // The extremes of the code range: −127 · −127 over 384 lanes is exact too.
        let worst = [Int8](repeating: -127, count: 384)
        var score: Float = 0
        for level in 0...Kernels.int8ScanLevel(dim: 384) {
            Kernels.scanInt8(worst, worst, scales: [1], rows: 1, dim: 384, into: &score, level: level)
            XCTAssertEqual(score, Float(384 * 127 * 127), "level \(level)")
        }
    }

    func testSeveralQueriesInOneScanScoreAsEachAlone() {
        var g = SeededGenerator(seed: 13)
        // 300 rows of 384 codes span several of the scan's cache blocks, the last one partial.
        for (rows, dim, count) in [(300, 384, 5), (7, 64, 3), (2, 40, 1)] {
            let (codes, queries, scales) = Self.scanInputs(rows: rows, dim: dim, queries: count, &g)
            for level in 0...Kernels.int8ScanLevel(dim: dim) {
                let stride = rows + 3  // the scores of each query start `stride` after the last's
                var together = [Float](repeating: .nan, count: count * stride)
                Kernels.scanInt8(queries: queries, count: count, codes, scales: scales, rows: rows, dim: dim,
                                 into: &together, stride: stride, level: level)
                for i in 0..<count {
                    var alone = [Float](repeating: .nan, count: rows)
                    Kernels.scanInt8(Array(queries[i * dim..<(i + 1) * dim]), codes, scales: scales, rows: rows, dim: dim,
                                     into: &alone, level: level)
                    XCTAssertEqual(Array(together[i * stride..<i * stride + rows]), alone, "level \(level), dim \(dim), query \(i)")
                    XCTAssertTrue(together[i * stride + rows..<(i + 1) * stride].allSatisfy(\.isNaN), "wrote past its rows")
                }
            }
        }
    }

    /// A scan over listed rows (a base model's) gives each listed row the full scan's score, in
    /// list order, on every code path; over several cache blocks and with 1–6 queries (the
    /// four-query kernel and its remainder).
    func testScanOverListedRowsScoresThemAsTheFullScan() {
        var g = SeededGenerator(seed: 17)
        for (rows, dim, count) in [(400, 384, 6), (9, 64, 1), (5, 40, 4)] {
            let (codes, queries, scales) = Self.scanInputs(rows: rows, dim: dim, queries: count, &g)
            // Every other row and then some: ascending, with gaps of different lengths.
            let listed = (0..<rows).filter { $0 % 2 == 0 || $0 % 7 == 3 }.map(Int32.init)
            for level in 0...Kernels.int8ScanLevel(dim: dim) {
                var full = [Float](repeating: .nan, count: count * rows)
                Kernels.scanInt8(queries: queries, count: count, codes, scales: scales, rows: rows, dim: dim,
                                 into: &full, stride: rows, level: level)
                let stride = listed.count + 2
                var picked = [Float](repeating: .nan, count: count * stride)
                listed.withUnsafeBufferPointer { list in
                    Kernels.scanInt8(queries: queries, count: count, codes, scales: scales, listedRows: list, dim: dim,
                                     into: &picked, stride: stride, level: level)
                }
                for i in 0..<count {
                    XCTAssertEqual(Array(picked[i * stride..<i * stride + listed.count]), listed.map { full[i * rows + Int($0)] },
                                   "level \(level), dim \(dim), query \(i)")
                    XCTAssertTrue(picked[i * stride + listed.count..<(i + 1) * stride].allSatisfy(\.isNaN), "wrote past its rows")
                }
            }
        }
    }

    /// Random codes for `rows` rows and `queries` queries of `dim` codes, and a scale per row.
    static func scanInputs(rows: Int, dim: Int, queries: Int, _ g: inout SeededGenerator) -> ([Int8], [Int8], [Float]) {
        let codes = (0..<(rows * dim)).map { _ in Int8.random(in: -127...127, using: &g) }
        let query = (0..<(queries * dim)).map { _ in Int8.random(in: -127...127, using: &g) }
        let scales = (0..<rows).map { _ in Float(Int.random(in: 1...1000, using: &g)) / 1e5 }
        return (codes, query, scales)
    }

    func testInt8CodesStayWithinHalfAStepOfTheVector() {
        var g = SeededGenerator(seed: 11)
        var codes = Kernels.Int8Codes(dimension: 64)
        var vectors: [[Float]] = []
        for n in 0..<5 {
            var v = (0..<64).map { _ in Float.random(in: -1...1, using: &g) }
            if n == 3 { v = [Float](repeating: 0, count: 64) }  // a zero vector stays zero
            vectors.append(v)
            v.withUnsafeBufferPointer { codes.append($0) }
        }
        XCTAssertEqual(codes.count, 5)
        for (n, v) in vectors.enumerated() {
            let scale = codes.scales[n]
            for j in 0..<64 {
                let restored = Float(codes.codes[n * 64 + j]) * scale
                XCTAssertLessThanOrEqual(abs(restored - v[j]), scale / 2 + 1e-6)
            }
        }
        XCTAssertEqual(codes.scales[3], 0)
        XCTAssertEqual(Kernels.int8QueryCodes([0.5, -1, 0.25]).codes, [64, -127, 32])
        // A value that is not finite (a broken model's output) becomes 0 instead of trapping.
        XCTAssertEqual(Kernels.int8QueryCodes([.nan, 1]).codes, [0, 127])
        XCTAssertEqual(Kernels.int8QueryCodes([1, -.infinity]).codes, [0, 0])  // no finite scale: all 0
    }

    func testPackedLinearMatchesBLASAndRoundsWeightsToHalf() {
        var g = SeededGenerator(seed: 3)
        // Every row remainder of the 8-row and 6-row blocks, panels not a multiple of 3, and a BLAS-sized batch.
        // 97 rows: one kernel call; 300: two calls of at most `maxRows`; 400: past `chunkedRows`, the fp32 layer.
        // From 24 rows the wide kernel widens each group of panels once (groups of 3, 2 and 1 panels here).
        var cases = [(48, 32, 1, false, true), (64, 40, 9, true, true), (96, 17, 20, false, false), (160, 64, 97, true, true),
                     (32, 16, 300, true, true), (32, 16, 400, false, true)]
        cases += (2...8).map { rows in (16 * (rows % 4 + 1), 24, rows, rows % 2 == 0, rows % 3 != 0) }
        for (n, k, rows, accumulate, withBias) in cases {
            // Weights already at half precision (the packed layout stores halves): both sides then
            // multiply the same numbers.
            let weight = Tensor(shape: [n, k], data: (0..<(n * k)).map { _ in Float(Float16(Float.random(in: -1...1, using: &g))) })
            let bias = withBias ? Tensor(shape: [n], data: (0..<n).map { _ in Float.random(in: -1...1, using: &g) }) : nil
            let linear = Linear(weight: weight, bias: bias)
            let x = (0..<(rows * k)).map { _ in Float.random(in: -1...1, using: &g) }
            let start = (0..<(rows * n)).map { _ in Float.random(in: -1...1, using: &g) }
            var viaBLAS = start
            x.withUnsafeBufferPointer { xp in
                viaBLAS.withUnsafeMutableBufferPointer { linear.apply(xp.baseAddress!, rows: rows, into: $0.baseAddress!, accumulate: accumulate) }
            }
            // Both register blockings, whichever this CPU would pick.
            for blocking in [PackedLinear.Blocking.wide, .narrow] {
                let packed = PackedLinear(linear, blocking: blocking)
                var viaPacked = start
                x.withUnsafeBufferPointer { xp in
                    viaPacked.withUnsafeMutableBufferPointer { packed.apply(xp.baseAddress!, rows: rows, into: $0.baseAddress!, accumulate: accumulate) }
                }
                for i in viaBLAS.indices {
                    XCTAssertEqual(viaPacked[i], viaBLAS[i], accuracy: 1e-4, "\(blocking) n \(n) k \(k) rows \(rows) at \(i)")
                }
            }
        }
        // Packing rounds each weight to the nearest half: 1 + 2⁻¹² is halfway (ties to even, 1),
        // 1 + 3·2⁻¹² rounds up to 1 + 2⁻¹⁰.
        var weights = [Float](repeating: 1, count: 16 * 2)
        weights[1] = 1 + 0x1p-12
        weights[3] = 1 + 3 * 0x1p-12
        let panels = PackedLinear(Linear(weight: Tensor(shape: [16, 2], data: weights), bias: nil), blocking: .narrow).panels
        XCTAssertEqual(panels?.count, 32)
        XCTAssertEqual(panels.map { [$0[16], $0[17]].map { Float(Float16(bitPattern: $0)) } }, [1, 1 + 0x1p-10])
    }

    /// The encoder packs its layers straight from the mapped model file, q, k and v as three row
    /// blocks, and builds the fp32 layer only when an input is longer than the kernel takes.
    func testPackedFromRowBlocksEqualsStackedAndBuildsFP32OnlyForLongInputs() {
        var g = SeededGenerator(seed: 5)
        let (n, k) = (48, 24)
        let weights = (0..<(n * k)).map { _ in Float(Float16(Float.random(in: -1...1, using: &g))) }
        let bias = Tensor(shape: [n], data: (0..<n).map { _ in Float.random(in: -1...1, using: &g) })
        let linear = Linear(weight: Tensor(shape: [n, k], data: weights), bias: bias)
        final class Count: @unchecked Sendable { var made = 0 }
        let count = Count()
        let packed = weights.withUnsafeBufferPointer { w in
            PackedLinear(parts: [UnsafeBufferPointer(rebasing: w[0..<(16 * k)]), UnsafeBufferPointer(rebasing: w[(16 * k)...])],
                         n: n, k: k, bias: bias, blocking: .narrow) {
                count.made += 1
                return linear
            }
        }
        XCTAssertEqual(packed.panels, PackedLinear(linear, blocking: .narrow).panels)
        for rows in [5, PackedLinear.chunkedRows, PackedLinear.chunkedRows + 1] {
            let x = (0..<(rows * k)).map { _ in Float.random(in: -1...1, using: &g) }
            var expected = [Float](repeating: 0, count: rows * n), got = expected
            x.withUnsafeBufferPointer { xp in
                expected.withUnsafeMutableBufferPointer { linear.apply(xp.baseAddress!, rows: rows, into: $0.baseAddress!) }
                got.withUnsafeMutableBufferPointer { packed.apply(xp.baseAddress!, rows: rows, into: $0.baseAddress!) }
            }
            for i in expected.indices { XCTAssertEqual(got[i], expected[i], accuracy: 1e-4, "rows \(rows) at \(i)") }
            XCTAssertEqual(count.made, rows > PackedLinear.chunkedRows ? 1 : 0, "fp32 layer built for \(rows) rows")
        }
    }
}
