import StylusCore

/// Deterministic pseudo-random values in [-scale, scale), shared by the kernel tests.
func values(_ count: Int, seed: UInt64, scale: Float = 2) -> [Float] {
    var g = SeededGenerator(seed: seed)
    return (0..<count).map { _ in Float.random(in: -scale..<scale, using: &g) }
}
