import StylusCore
import XCTest

/// The composer's cosines computed side by side in SIMD lanes are the same bits as one `dot` at a
/// time (features, and so selections, must not move).
final class ComposerDotTests: XCTestCase {
    func testTransposedDotsHaveTheBitsOfDot() {
        var rng = SystemRandomNumberGenerator()
        func vector(_ n: Int) -> [Float] {
            var v = (0..<n).map { _ in Float.random(in: -1...1, using: &rng) }
            let norm = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
            for i in v.indices { v[i] /= norm }
            return v
        }
        for topics in [1, 7, 8, 9, 17] {
            let vectors = (0..<topics).map { _ in vector(384) }
            let transposed = ComposerFeatures.TransposedVectors(vectors)
            for _ in 0..<20 {
                let b = vector(384)
                let dots = transposed.dots(b)
                XCTAssertEqual(dots.count, topics)
                for (k, v) in vectors.enumerated() {
                    XCTAssertEqual(dots[k].bitPattern, ComposerFeatures.dot(v, b).bitPattern, "topic \(k) of \(topics)")
                }
            }
        }
        // Mismatched or empty vectors give what `dot` gives (0).
        let transposed = ComposerFeatures.TransposedVectors([vector(384), vector(384)])
        XCTAssertEqual(transposed.dots(vector(10)), [0, 0])
        XCTAssertEqual(transposed.dots([]), [0, 0])
        XCTAssertEqual(ComposerFeatures.TransposedVectors([vector(4), vector(3)]).dots(vector(4)).count, 2)
        XCTAssertEqual(ComposerFeatures.TransposedVectors([]).dots(vector(4)), [])
    }
}
