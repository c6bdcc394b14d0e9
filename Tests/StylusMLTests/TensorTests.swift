import Foundation
import StylusML
import XCTest

final class TensorTests: XCTestCase {
    func assertClose(_ a: [Float], _ b: [Float], tolerance: Float, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.count, b.count, file: file, line: line)
        let worst = zip(a, b).map { abs($0 - $1) }.max() ?? 0
        XCTAssertLessThanOrEqual(worst, tolerance, file: file, line: line)
    }

    func testTensorShapeAndIndexing() {
        var t = Tensor(shape: [2, 3], data: [1, 2, 3, 4, 5, 6])
        XCTAssertEqual(t.rows, 2)
        XCTAssertEqual(t.columns, 3)
        XCTAssertEqual(t[1, 2], 6)
        t[0, 1] = 9
        XCTAssertEqual(t.row(0), [1, 9, 3])
        XCTAssertEqual(t.reshaped([3, 2]).shape, [3, 2])
        XCTAssertEqual(Tensor(zeros: [2, 0, 3]).count, 0)
        XCTAssertEqual(Tensor(shape: [4, 2, 5], repeating: 1).rows, 8)
    }

    func testMatmulMatchesNaiveProductForAllLayouts() {
        for (m, n, k) in [(1, 1, 1), (3, 5, 7), (17, 33, 20), (2, 40, 1)] {
            let a = Tensor(shape: [m, k], data: values(m * k, seed: 1))
            let b = Tensor(shape: [k, n], data: values(k * n, seed: 2))
            var expected = [Float](repeating: 0, count: m * n)
            for i in 0..<m { for j in 0..<n { for p in 0..<k { expected[i * n + j] += a[i, p] * b[p, j] } } }
            assertClose(a.matmul(b).data, expected, tolerance: 1e-4)
            // Bᵀ stored as [n, k].
            var bt = Tensor(zeros: [n, k])
            for p in 0..<k { for j in 0..<n { bt[j, p] = b[p, j] } }
            assertClose(a.matmul(bt, transposeOther: true).data, expected, tolerance: 1e-4)
        }
    }

    func testGemmWithLeadingDimensionsAlphaBetaAndTransposedA() {
        // A is the right 2 columns of a 3×4 buffer; C accumulates with beta = 1.
        let buffer: [Float] = [9, 9, 1, 2, 9, 9, 3, 4, 9, 9, 5, 6]
        let b: [Float] = [1, 0, 0, 1]
        var c: [Float] = [1, 1, 1, 1, 1, 1]
        buffer.withUnsafeBufferPointer { a in
            b.withUnsafeBufferPointer { b in
                c.withUnsafeMutableBufferPointer { c in
                    Kernels.gemm(m: 3, n: 2, k: 2, a: a.baseAddress! + 2, lda: 4, b: b.baseAddress!, ldb: 2,
                                 c: c.baseAddress!, ldc: 2, alpha: 2, beta: 1)
                }
            }
        }
        XCTAssertEqual(c, [3, 5, 7, 9, 11, 13])
        // Aᵀ: A stored 2×3, used as 3×2.
        let stored: [Float] = [1, 3, 5, 2, 4, 6]
        var d = [Float](repeating: 7, count: 6)
        stored.withUnsafeBufferPointer { a in
            b.withUnsafeBufferPointer { b in
                d.withUnsafeMutableBufferPointer { d in
                    Kernels.gemm(m: 3, n: 2, k: 2, a: a.baseAddress!, lda: 3, transposeA: true,
                                 b: b.baseAddress!, ldb: 2, c: d.baseAddress!, ldc: 2)
                }
            }
        }
        XCTAssertEqual(d, [1, 2, 3, 4, 5, 6])
        XCTAssertGreaterThanOrEqual(Kernels.blasThreads, 1)
    }

    func testLinearAddsBiasAndUsesPyTorchLayout() {
        let w = Tensor(shape: [2, 3], data: [1, 0, -1, 2, 1, 0])
        let linear = Linear(weight: w, bias: Tensor(shape: [2], data: [0.5, -1]))
        let x = Tensor(shape: [2, 3], data: [1, 2, 3, -1, 0, 4])
        XCTAssertEqual(linear(x).shape, [2, 2])
        let expected: [Float] = [-1.5, 3, -4.5, -3]
        XCTAssertEqual(linear(x).data, expected)
        XCTAssertEqual(Linear(weight: w, bias: nil)(x).data, [-2, 4, -5, -2])
    }

    func testAddBroadcastAndScale() {
        let x = Tensor(shape: [2, 2], data: [1, 2, 3, 4])
        XCTAssertEqual((x + x).data, [2, 4, 6, 8])
        XCTAssertEqual((x + Tensor(shape: [2], data: [10, 20])).data, [11, 22, 13, 24])
        XCTAssertEqual((x * 0.5).data, [0.5, 1, 1.5, 2])
        let long = Tensor(shape: [37], data: values(37, seed: 3))
        assertClose((long + long).data, long.data.map { 2 * $0 }, tolerance: 0)
    }

    func testLayerNormMatchesDoublePrecision() {
        for columns in [1, 5, 16, 384, 397] {
            let x = Tensor(shape: [3, columns], data: values(3 * columns, seed: UInt64(columns)).map { $0 * 3 + 1 })
            let gamma = Tensor(shape: [columns], data: values(columns, seed: 7))
            let beta = Tensor(shape: [columns], data: values(columns, seed: 8))
            let y = x.layerNormed(gamma: gamma, beta: beta, epsilon: 1e-12)
            var expected: [Float] = []
            for r in 0..<3 {
                let row = x.row(r).map(Double.init)
                let mean = row.reduce(0, +) / Double(columns)
                let variance = row.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(columns)
                for (c, v) in row.enumerated() {
                    expected.append(Float((v - mean) / (variance + 1e-12).squareRoot() * Double(gamma.data[c]) + Double(beta.data[c])))
                }
            }
            assertClose(y.data, expected, tolerance: columns == 1 ? 1e-3 : 2e-5)
        }
    }

    func testGeluMatchesErfForm() {
        let x = (0..<2001).map { Float($0 - 1000) / 100 }  // -10 ... 10
        let y = Tensor(shape: [x.count], data: x).gelu().data
        let expected = x.map { v in Float(Double(v) * 0.5 * (1 + Foundation.erf(Double(v) / 2.0.squareRoot()))) }
        assertClose(y, expected, tolerance: 2e-6)
        XCTAssertEqual(Tensor(shape: [2], data: [0, -0.0]).gelu().data, [0, 0])
        // No subnormal outputs (products with subnormal inputs take a microcode assist on Intel CPUs,
        // ~100× slower, in the next layer): the far negative tail and tiny inputs give 0.
        let tail = Tensor(shape: [5], data: [-13.5, -20, -1e30, 1e-38, -2e-38]).gelu().data
        XCTAssertEqual(tail, [0, 0, 0, 0, 0])
        XCTAssertFalse(y.contains { $0.isSubnormal })
    }

    func testExpIsAccurateOverItsRange() {
        let x = (0..<1761).map { Float($0 - 1700) / 20 }  // -85 ... 3
        var y = x
        y.withUnsafeMutableBufferPointer { Kernels.exp($0.baseAddress!, count: $0.count) }
        for (v, e) in zip(x, y) {
            let reference = Float(Foundation.exp(Double(v)))
            XCTAssertLessThanOrEqual(abs(e - reference) / reference, 3e-7, "exp(\(v))")
        }
    }

    func testSoftmaxRowsSumToOneAndMatchReference() {
        for columns in [1, 3, 16, 45] {
            let x = Tensor(shape: [4, columns], data: values(4 * columns, seed: 11).map { $0 * 20 })
            let y = x.softmax()
            for r in 0..<4 {
                let row = x.row(r).map(Double.init)
                let m = row.max()!
                let e = row.map { Foundation.exp($0 - m) }
                let total = e.reduce(0, +)
                assertClose(y.row(r), e.map { Float($0 / total) }, tolerance: 1e-6)
            }
        }
        // Rows with a stride: only the first `columns` entries of each row change.
        var strided: [Float] = [0, 0, 5, 1, 1, 5]
        strided.withUnsafeMutableBufferPointer { Kernels.softmax($0.baseAddress!, rows: 2, columns: 2, stride: 3) }
        XCTAssertEqual(strided, [0.5, 0.5, 5, 0.5, 0.5, 5])
        // Probabilities below the smallest normal float are 0, not subnormal.
        XCTAssertEqual(Tensor(shape: [1, 3], data: [0, -100, -87]).softmax().data.map { $0.isSubnormal }, [false, false, false])
        XCTAssertEqual(Tensor(shape: [1, 2], data: [0, -100]).softmax().data, [1, 0])
    }

    func testTensorFromSafetensorsAndLinearLoading() throws {
        let json = #"{"l.weight":{"dtype":"F32","shape":[1,2],"data_offsets":[0,8]},"l.bias":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}"#
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("stylus-linear-\(UUID().uuidString).safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        try Data(SafetensorsBuilder.file(headerJSON: json, data: SafetensorsBuilder.floats([2, 3, 1]))).write(to: url)
        let file = try SafetensorsFile(path: url.path)
        let linear = try Linear(file, prefix: "l")
        XCTAssertEqual(linear(Tensor(shape: [1, 2], data: [1, 1])).data, [6])
        XCTAssertThrowsError(try Linear(file, prefix: "missing"))
    }

    /// Products above the parallel threshold are split over threads by rows or by columns; the result
    /// must equal the single-call product.
    func testParallelGemmSplitsMatchSerialProduct() {
        for (m, n, k, transposeB) in [(200, 96, 64, false), (24, 400, 400, true), (24, 400, 400, false), (300, 40, 100, true)] {
            let a = values(m * k, seed: 21), b = values(n * k, seed: 22)
            var serial = [Float](repeating: 0, count: m * n), split = serial
            a.withUnsafeBufferPointer { a in
                b.withUnsafeBufferPointer { b in
                    serial.withUnsafeMutableBufferPointer { c in
                        Kernels.gemm(m: m, n: n, k: k, a: a.baseAddress!, lda: k, b: b.baseAddress!, ldb: transposeB ? k : n,
                                     transposeB: transposeB, c: c.baseAddress!, ldc: n, parallel: false)
                    }
                    split.withUnsafeMutableBufferPointer { c in
                        Kernels.gemm(m: m, n: n, k: k, a: a.baseAddress!, lda: k, b: b.baseAddress!, ldb: transposeB ? k : n,
                                     transposeB: transposeB, c: c.baseAddress!, ldc: n)
                    }
                }
            }
            assertClose(split, serial, tolerance: 1e-4)
        }
        var covered = [Int](repeating: 0, count: 1000)
        covered.withUnsafeMutableBufferPointer { buffer in
            let p = buffer.baseAddress!
            nonisolated(unsafe) let q = p
            Kernels.parallelFor(1000, minimumChunk: 10) { range in for i in range { q[i] += 1 } }
        }
        XCTAssertEqual(covered, [Int](repeating: 1, count: 1000))
    }

    /// The kernels' thread pool: every index exactly once, also with callers on several threads at
    /// once, calls from inside a part, many uneven parts, and thousands of jobs in a row.
    func testParallelForCoversEveryIndexOnceUnderConcurrencyAndNesting() {
        let n = 4096
        var counts = [Int32](repeating: 0, count: 4 * n)
        counts.withUnsafeMutableBufferPointer { buffer in
            nonisolated(unsafe) let base = buffer.baseAddress!
            DispatchQueue.concurrentPerform(iterations: 4) { caller in
                let mine = base + caller * n
                for job in 0..<500 {
                    if job % 50 == 0 {
                        // Nested: each part asks for parallelism again (it runs on its own thread then).
                        Kernels.parallelFor(n, minimumChunk: 256) { outer in
                            Kernels.parallelFor(outer.count, minimumChunk: 1) { inner in
                                for i in inner { mine[outer.lowerBound + i] += 1 }
                            }
                        }
                    } else {
                        Kernels.parallelFor(n, minimumChunk: 1, uneven: job % 2 == 0) { range in
                            for i in range { mine[i] += 1 }
                        }
                    }
                }
            }
        }
        XCTAssertEqual(Set(counts), [500])
    }

    func testRecommendedOpenBLASCoreType() {
        let avx512: Set<String> = ["avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512dq"]
        XCTAssertEqual(BLASRuntime.recommendedCoreType(currentCore: "Prescott", cpuFlags: avx512), "SkylakeX")
        XCTAssertEqual(BLASRuntime.recommendedCoreType(currentCore: "Prescott", cpuFlags: ["avx2", "fma"]), "Haswell")
        XCTAssertNil(BLASRuntime.recommendedCoreType(currentCore: "Prescott", cpuFlags: ["sse2"]))
        XCTAssertNil(BLASRuntime.recommendedCoreType(currentCore: "SkylakeX", cpuFlags: avx512))
        XCTAssertFalse(BLASRuntime.coreName.isEmpty)
    }
}
