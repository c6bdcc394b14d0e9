import Foundation

/// The samplers of docs/CONTRACTS.md, Renderer, as plain math over Float arrays.
///
/// Everything runs in k-diffusion's variance-exploding coordinates: the latent x at noise level σ
/// is `x0 + σ·ε`, the UNet sees `x/√(σ²+1)` and predicts ε, and `D = x − σ·ε` is the denoised
/// estimate. DDIM and LCM are the variance-preserving samplers of diffusers written in these
/// coordinates (DDIM is an Euler step on the DDIM timestep grid), so all five share one loop.
public enum SamplerKind: String, CaseIterable, Sendable {
    case euler
    case eulerAncestral = "euler_a"
    case dpmpp2m = "dpmpp_2m"
    case ddim
    case lcm

    /// Names people type (A1111 labels, ComfyUI/sd.cpp ids) to a sampler and its default sigmas.
    public static func parse(_ name: String) -> (SamplerKind, SigmaSpacing)? {
        let key = name.lowercased().filter { $0.isLetter || $0.isNumber }
        switch key {
        case "euler": return (.euler, .discrete)
        case "eulera", "eulerancestral": return (.eulerAncestral, .discrete)
        case "dpm2m", "dpmpp2m": return (.dpmpp2m, .discrete)
        case "dpm2mkarras", "dpmpp2mkarras": return (.dpmpp2m, .karras)
        case "ddim": return (.ddim, .discrete)
        case "lcm": return (.lcm, .discrete)
        default: return nil
        }
    }

    /// The A1111 infotext label.
    public func label(_ spacing: SigmaSpacing) -> String {
        switch self {
        case .euler: return "Euler"
        case .eulerAncestral: return "Euler a"
        case .dpmpp2m: return spacing == .karras ? "DPM++ 2M Karras" : "DPM++ 2M"
        case .ddim: return "DDIM"
        case .lcm: return "LCM"
        }
    }
}

/// How the k-diffusion samplers space their noise levels. DDIM and LCM use their own grids.
public enum SigmaSpacing: String, Sendable {
    case discrete, karras
}

/// The noise levels and UNet timesteps of one run.
public struct SamplingPlan: Equatable, Sendable {
    /// σ before each step and after the last (n + 1 values).
    public var sigmas: [Double]
    /// The timestep the UNet sees at each step (fractional for Karras sigmas, as in k-diffusion).
    public var timesteps: [Double]

    public init(kind: SamplerKind, spacing: SigmaSpacing = .discrete, steps n: Int,
                schedule: NoiseSchedule = .sd1) throws {
        let last = schedule.sigmas.count - 1
        guard n >= 1, n <= last + 1 else {
            throw RenderError.invalidArgument("steps must be between 1 and \(last + 1), got \(n)")
        }
        switch kind {
        case .ddim:
            // diffusers "leading" spacing with steps_offset 1 (A1111's DDIM grid); the last step
            // lands on ᾱ_0, not on σ = 0.
            let ratio = (last + 1) / n
            timesteps = (0..<n).reversed().map { Double($0 * ratio + 1) }
            sigmas = timesteps.map { schedule.sigma(at: $0) } + [schedule.sigmaMin]
        case .lcm:
            guard n <= 50 else {
                throw RenderError.invalidArgument("LCM samples on a 50-step grid: use at most 50 steps, got \(n)")
            }
            timesteps = (0..<n).map { Double((50 - ($0 * 50) / n) * 20 - 1) }
            sigmas = timesteps.map { schedule.sigma(at: $0) } + [0]
        case .euler, .eulerAncestral, .dpmpp2m:
            switch spacing {
            case .discrete:
                let ts = n == 1 ? [Double(last)] : (0..<n).map { Double(last) - Double($0) * Double(last) / Double(n - 1) }
                sigmas = ts.map { schedule.sigma(at: $0) } + [0]
            case .karras:
                let rho = 7.0
                let maxInv = Foundation.pow(schedule.sigmaMax, 1 / rho), minInv = Foundation.pow(schedule.sigmaMin, 1 / rho)
                sigmas = (0..<n).map { i in
                    let ramp = n == 1 ? 0 : Double(i) / Double(n - 1)
                    return Foundation.pow(maxInv + ramp * (minInv - maxInv), rho)
                } + [0]
            }
            timesteps = sigmas.dropLast().map { schedule.timestep(for: $0) }
        }
    }
}

/// Predicts ε for a UNet input at a timestep (CFG is the caller's business).
public typealias EpsilonModel = (_ input: [Float], _ timestep: Double) throws -> [Float]

public struct Sampler: Sendable {
    public let kind: SamplerKind
    public let plan: SamplingPlan
    public let schedule: NoiseSchedule

    public init(kind: SamplerKind, spacing: SigmaSpacing = .discrete, steps: Int, schedule: NoiseSchedule = .sd1) throws {
        self.kind = kind
        self.plan = try SamplingPlan(kind: kind, spacing: spacing, steps: steps, schedule: schedule)
        self.schedule = schedule
    }

    /// The starting latent from unit noise: σ_max·noise for the k-diffusion samplers (A1111,
    /// ComfyUI); the variance-preserving x_T = noise for DDIM and LCM (diffusers, A1111).
    public func initialLatent(noise: [Float]) -> [Float] {
        let s0 = plan.sigmas[0]
        let scale = Float(kind == .ddim || kind == .lcm ? (s0 * s0 + 1).squareRoot() : s0)
        return noise.map { $0 * scale }
    }

    /// Runs every step from `x` (at σ_0) and returns the latent the VAE decodes.
    /// `noise` supplies fresh unit noise for Euler ancestral and LCM; `onStep(i, x)` sees x after step i.
    public func run(_ start: [Float], model: EpsilonModel, noise: () -> [Float],
                    onStep: (Int, [Float]) throws -> Void = { _, _ in }) throws -> [Float] {
        var x = start
        var previousDenoised: [Float]? = nil
        let sigmas = plan.sigmas
        for i in 0..<plan.timesteps.count {
            let sigma = sigmas[i], next = sigmas[i + 1]
            let cIn = Float(1 / (sigma * sigma + 1).squareRoot())
            let eps = try model(x.map { $0 * cIn }, plan.timesteps[i])
            guard eps.count == x.count else {
                throw RenderError.invalidArgument("the model returned \(eps.count) values for a latent of \(x.count)")
            }
            let s = Float(sigma)
            var denoised = [Float](repeating: 0, count: x.count)
            for j in 0..<x.count { denoised[j] = x[j] - s * eps[j] }

            switch kind {
            case .euler, .ddim:
                x = eulerStep(x, denoised, sigma, next)
            case .eulerAncestral:
                let up = min(next, (next * next * (sigma * sigma - next * next) / (sigma * sigma)).squareRoot())
                let down = (next * next - up * up).squareRoot()
                x = eulerStep(x, denoised, sigma, down)
                if next > 0 { add(&x, noise(), scale: Float(up)) }
            case .dpmpp2m:
                x = dpmpp2mStep(x, denoised, previousDenoised, i)
                previousDenoised = denoised
            case .lcm:
                // Consistency boundary condition (diffusers LCMScheduler): the model's x0 blended
                // with the variance-preserving input; then re-noise to the next level.
                let t = plan.timesteps[i] * 10, sd2 = 0.25
                let cSkip = Float(sd2 / (t * t + sd2)), cOut = Float(t / (t * t + sd2).squareRoot())
                for j in 0..<x.count { x[j] = cOut * denoised[j] + cSkip * (x[j] * cIn) }
                if next > 0 { add(&x, noise(), scale: Float(next)) }
            }
            try onStep(i, x)
        }
        if kind == .ddim {
            // DDIM ends on ᾱ_0 in variance-preserving coordinates, which is what gets decoded.
            let last = sigmas[sigmas.count - 1]
            let scale = Float(1 / (last * last + 1).squareRoot())
            x = x.map { $0 * scale }
        }
        return x
    }

    private func eulerStep(_ x: [Float], _ denoised: [Float], _ sigma: Double, _ to: Double) -> [Float] {
        let dt = Float((to - sigma) / sigma)
        var out = x
        for j in 0..<x.count { out[j] = x[j] + (x[j] - denoised[j]) * dt }
        return out
    }

    private func dpmpp2mStep(_ x: [Float], _ denoised: [Float], _ previous: [Float]?, _ i: Int) -> [Float] {
        let sigmas = plan.sigmas
        let sigma = sigmas[i], next = sigmas[i + 1]
        if next == 0 { return denoised }  // first-order step to σ = 0 is D itself
        let h = Foundation.log(sigma / next)
        let a = Float(next / sigma), b = Float(Foundation.expm1(-h))
        var out = x
        if let previous, i > 0 {
            let r = Foundation.log(sigmas[i - 1] / sigma) / h
            let c1 = Float(1 + 1 / (2 * r)), c2 = Float(1 / (2 * r))
            for j in 0..<x.count { out[j] = a * x[j] - b * (c1 * denoised[j] - c2 * previous[j]) }
        } else {
            for j in 0..<x.count { out[j] = a * x[j] - b * denoised[j] }
        }
        return out
    }

    private func add(_ x: inout [Float], _ n: [Float], scale: Float) {
        for j in 0..<min(x.count, n.count) { x[j] += n[j] * scale }
    }
}
