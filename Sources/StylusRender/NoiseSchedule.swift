import Foundation

/// The SD 1.x training schedule: 1000 scaled-linear betas from 0.00085 to 0.012 and the
/// k-diffusion view of it, σ_t = √((1−ᾱ_t)/ᾱ_t).
///
/// Computed the way diffusers does (float32 betas from a float32 linspace, cumulative product
/// accumulated in double and stored as float32) so sigmas agree with it to the last bit.
public struct NoiseSchedule: Sendable {
    public static let sd1 = NoiseSchedule(trainSteps: 1000, betaStart: 0.00085, betaEnd: 0.012)

    /// ᾱ_t for t = 0..<trainSteps.
    public let alphasCumprod: [Double]
    /// σ_t, ascending.
    public let sigmas: [Double]
    private let logSigmas: [Double]

    /// SD's schedule rescaled to zero terminal SNR (Lin et al. 2024), as v-prediction finetunes
    /// (NoobAI v-pred) are trained: ᾱ at the last step is 0, kept at 2⁻²⁴ as diffusers does, so σ_max ≈ 4096.
    public static let sd1ZeroTerminalSNR = NoiseSchedule(trainSteps: 1000, betaStart: 0.00085, betaEnd: 0.012, zeroTerminalSNR: true)

    public let zeroTerminalSNR: Bool

    public init(trainSteps: Int, betaStart: Double, betaEnd: Double, zeroTerminalSNR: Bool = false) {
        let start = Float(betaStart.squareRoot()), end = Float(betaEnd.squareRoot())
        let step = (end - start) / Float(trainSteps - 1)
        var alphas: [Float] = []
        for i in 0..<trainSteps {
            // torch.linspace fills the first half from the start and the second from the end.
            let root = i < trainSteps / 2 ? start + step * Float(i) : end - step * Float(trainSteps - 1 - i)
            alphas.append(1 - root * root)
        }
        if zeroTerminalSNR {
            // √ᾱ shifted so the last is 0 and scaled so the first is unchanged; betas recovered from it.
            var cumulative = 1.0
            var roots = alphas.map { a -> Double in cumulative *= Double(a); return cumulative.squareRoot() }
            let first = roots[0], last = roots[roots.count - 1]
            roots = roots.map { ($0 - last) * first / (first - last) }
            let bars = roots.map { $0 * $0 }
            alphas = (0..<trainSteps).map { Float($0 == 0 ? bars[0] : bars[$0] / bars[$0 - 1]) }
        }
        var cumulative = 1.0
        var ac: [Double] = [], sg: [Double] = []
        for (i, alpha) in alphas.enumerated() {
            cumulative *= Double(alpha)
            var a = Float(cumulative)
            if zeroTerminalSNR, i == trainSteps - 1 { a = 1.0 / 16_777_216 }  // 2⁻²⁴: σ stays finite
            ac.append(Double(a))
            sg.append(Double(((1 - a) / a).squareRoot()))
        }
        self.zeroTerminalSNR = zeroTerminalSNR
        alphasCumprod = ac
        sigmas = sg
        logSigmas = sg.map { Foundation.log($0) }
    }

    public var sigmaMin: Double { sigmas[0] }
    public var sigmaMax: Double { sigmas[sigmas.count - 1] }

    /// σ at a possibly fractional timestep, interpolating log σ (k-diffusion `t_to_sigma`).
    public func sigma(at t: Double) -> Double {
        let t = min(max(t, 0), Double(sigmas.count - 1))
        let low = Int(t.rounded(.down)), high = min(low + 1, sigmas.count - 1)
        let w = t - Double(low)
        return Foundation.exp((1 - w) * logSigmas[low] + w * logSigmas[high])
    }

    /// The fractional timestep of σ (k-diffusion `sigma_to_t`).
    public func timestep(for sigma: Double) -> Double {
        let ls = Foundation.log(sigma)
        if ls <= logSigmas[0] { return 0 }
        if ls >= logSigmas[logSigmas.count - 1] { return Double(logSigmas.count - 1) }
        var low = 0, high = logSigmas.count - 1  // binary search: logSigmas[low] <= ls < logSigmas[high]
        while high - low > 1 {
            let mid = (low + high) / 2
            if logSigmas[mid] <= ls { low = mid } else { high = mid }
        }
        let w = (logSigmas[low] - ls) / (logSigmas[low] - logSigmas[high])
        return Double(low) + w
    }
}
