import Foundation

/// `torch.Generator()` on the CPU, so a seed gives the same noise as diffusers/ComfyUI on CPU:
/// the mt19937 engine seeded with the low 32 bits, and `torch.randn`'s two paths — ATen's
/// `normal_fill` (Box–Muller over blocks of 16 uniforms) for float tensors of 16 or more values,
/// and the cached double-precision Box–Muller of `at::normal_distribution` below that.
/// The generator continues across calls, as torch's does (ancestral samplers draw from it).
public struct TorchCPURandom: Sendable {
    private var state = [UInt32](repeating: 0, count: 624)
    private var index = 624
    /// The second value of the last double Box–Muller pair (torch's `next_double_normal_sample`).
    private var cachedNormal: Double?

    public init(seed: UInt64) {
        state[0] = UInt32(truncatingIfNeeded: seed)
        for i in 1..<624 {
            state[i] = 1_812_433_253 &* (state[i - 1] ^ (state[i - 1] >> 30)) &+ UInt32(i)
        }
    }

    /// One mt19937 output.
    public mutating func next32() -> UInt32 {
        if index >= 624 { twist() }
        var y = state[index]
        index += 1
        y ^= y >> 11
        y ^= (y << 7) & 0x9D2C_5680
        y ^= (y << 15) & 0xEFC6_0000
        y ^= y >> 18
        return y
    }

    private mutating func twist() {
        for i in 0..<624 {
            let y = (state[i] & 0x8000_0000) | (state[(i + 1) % 624] & 0x7FFF_FFFF)
            state[i] = state[(i + 397) % 624] ^ (y >> 1) ^ ((y & 1) != 0 ? 0x9908_B0DF : 0)
        }
        index = 0
    }

    /// torch's float uniform in [0, 1): the low 24 bits of one draw.
    private mutating func uniformFloat() -> Float { Float(next32() & 0xFF_FFFF) * (1.0 / 16_777_216.0) }

    /// torch's double uniform in [0, 1): the low 53 bits of two draws (first draw high).
    private mutating func uniformDouble() -> Double {
        let hi = UInt64(next32()), lo = UInt64(next32())
        return Double((hi << 32 | lo) & ((1 << 53) - 1)) * (1.0 / 9_007_199_254_740_992.0)
    }

    /// `torch.randn(count, generator=g)` for a contiguous float32 tensor.
    public mutating func randn(count: Int) -> [Float] {
        guard count > 0 else { return [] }
        if count < 16 { return (0..<count).map { _ in Float(normalDouble()) } }
        var data = (0..<count).map { _ in uniformFloat() }
        var i = 0
        while i + 16 <= count {
            Self.boxMuller16(&data, at: i)
            i += 16
        }
        if count % 16 != 0 {
            // torch redraws the last 16 values and transforms them again.
            for j in (count - 16)..<count { data[j] = uniformFloat() }
            Self.boxMuller16(&data, at: count - 16)
        }
        return data
    }

    private static func boxMuller16(_ data: inout [Float], at start: Int) {
        let twoPi = Float(2.0 * Double.pi)
        for j in start..<(start + 8) {
            let radius = (-2 * Foundation.log(1 - data[j])).squareRoot()
            let theta = twoPi * data[j + 8]
            data[j] = radius * Foundation.cos(theta)
            data[j + 8] = radius * Foundation.sin(theta)
        }
    }

    private mutating func normalDouble() -> Double {
        if let cached = cachedNormal {
            cachedNormal = nil
            return cached
        }
        let u1 = uniformDouble(), u2 = uniformDouble()
        let r = (-2 * Foundation.log1p(-u2)).squareRoot()
        let theta = 2 * Double.pi * u1
        cachedNormal = r * Foundation.sin(theta)
        return r * Foundation.cos(theta)
    }
}
