import StylusML
import XCTest

/// The retrieval scan's int8 kernels and the encoder's packed small-batch linear layer, against
/// plain loops on random data (both the CPU-specific and the portable paths).
final class QuantizedKernelTests: XCTestCase {
    struct Generator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return state >> 33
        }
        mutating func float() -> Float { Float(next() % 20001) / 10000 - 1 }
    }

    func testInt8DotKernelsAreExact() {
        var g = Generator(state: 7)
        let rows = 37, dim = 384
        let codes = (0..<(rows * dim)).map { _ in Int8(Int(g.next() % 255) - 127) }
        let query = (0..<dim).map { _ in Int16(Int(g.next() % 255) - 127) }
        var expected = [Int32](repeating: 0, count: rows)
        for r in 0..<rows {
            for j in 0..<dim { expected[r] += Int32(query[j]) * Int32(codes[r * dim + j]) }
        }
        var fast = [Int32](repeating: 0, count: rows), portable = fast
        Kernels.dotInt8Rows(query, codes, rows: rows, dim: dim, into: &fast)
        Kernels.dotInt8RowsPortable(query, codes, rows: rows, dim: dim, into: &portable)
        XCTAssertEqual(fast, expected)
        XCTAssertEqual(portable, expected)
    }

    func testInt8CodesStayWithinHalfAStepOfTheVector() {
        var g = Generator(state: 11)
        var codes = Kernels.Int8Codes(dimension: 64)
        var vectors: [[Float]] = []
        for n in 0..<5 {
            var v = (0..<64).map { _ in g.float() }
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
        XCTAssertEqual(Kernels.int16QueryCodes([0.5, -1, 0.25]).codes, [64, -127, 32])
    }

    func testPackedLinearMatchesBLAS() {
        var g = Generator(state: 3)
        for (n, k, rows, accumulate, withBias) in [(48, 32, 1, false, true), (64, 40, 9, true, true), (96, 17, 20, false, false),
                                                   (160, 64, 97, true, true)] {
            let weight = Tensor(shape: [n, k], data: (0..<(n * k)).map { _ in g.float() })
            let bias = withBias ? Tensor(shape: [n], data: (0..<n).map { _ in g.float() }) : nil
            let linear = Linear(weight: weight, bias: bias)
            let packed = PackedLinear(linear)
            let x = (0..<(rows * k)).map { _ in g.float() }
            let start = (0..<(rows * n)).map { _ in g.float() }
            var viaBLAS = start, viaPacked = start
            x.withUnsafeBufferPointer { xp in
                viaBLAS.withUnsafeMutableBufferPointer { linear.apply(xp.baseAddress!, rows: rows, into: $0.baseAddress!, accumulate: accumulate) }
                viaPacked.withUnsafeMutableBufferPointer { packed.apply(xp.baseAddress!, rows: rows, into: $0.baseAddress!, accumulate: accumulate) }
            }
            for i in viaBLAS.indices {
                XCTAssertEqual(viaPacked[i], viaBLAS[i], accuracy: 1e-4, "n \(n) k \(k) rows \(rows) at \(i)")
            }
        }
        if Kernels.hasAVX512 { XCTAssertNotNil(PackedLinear(Linear(weight: Tensor(shape: [16, 8], data: .init(repeating: 1, count: 128)), bias: nil)).panels) }
    }
}
