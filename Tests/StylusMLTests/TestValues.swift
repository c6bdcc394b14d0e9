/// Deterministic pseudo-random values in [-scale, scale) (a 64-bit LCG), shared by the kernel tests.
func values(_ count: Int, seed: UInt64, scale: Float = 2) -> [Float] {
    var state = seed &* 6364136223846793005 &+ 1442695040888963407
    return (0..<count).map { _ in
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return (Float(state >> 40) / Float(1 << 24) * 2 - 1) * scale
    }
}
