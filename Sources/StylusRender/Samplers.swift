import Foundation

/// The samplers of docs/CONTRACTS.md, Renderer, as plain math over Float arrays.
///
/// Everything runs in k-diffusion's variance-exploding coordinates: the latent x at noise level σ
/// is `x0 + σ·ε`, the UNet sees `x/√(σ²+1)` and predicts ε, and `D = x − σ·ε` is the denoised
/// estimate. DDIM and LCM are the variance-preserving samplers of diffusers written in these
/// coordinates (DDIM is an Euler step on the DDIM timestep grid); each sampler is one function over
/// a denoiser (`Samplers`).
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
/// What a UNet's output is: the noise ε, or v = α·ε − σ·x₀ (v-prediction).
public enum Prediction: String, Sendable {
    case epsilon, v
}

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

    /// What the model predicts: ε (SD 1.x, SDXL) or v (v-prediction finetunes).
    public var prediction = Prediction.epsilon

    public init(kind: SamplerKind, spacing: SigmaSpacing = .discrete, steps: Int, schedule: NoiseSchedule = .sd1,
                prediction: Prediction = .epsilon) throws {
        self.prediction = prediction
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
        // The closures live only for this call; `SamplerRun` stores them for the sampler functions.
        try withoutActuallyEscaping(model) { model in
            try withoutActuallyEscaping(noise) { noise in
                try withoutActuallyEscaping(onStep) { onStep in try sample(start, model: model, noise: noise, onStep: onStep) }
            }
        }
    }

    private func sample(_ start: [Float], model: @escaping EpsilonModel, noise: @escaping () -> [Float],
                     onStep: @escaping (Int, [Float]) throws -> Void) throws -> [Float] {
        let run = SamplerRun(plan: plan, denoise: { x, sigma, timestep in
            let cIn = Float(1 / (sigma * sigma + 1).squareRoot())
            let eps = try model(x.map { $0 * cIn }, timestep)
            guard eps.count == x.count else {
                throw RenderError.invalidArgument("the model returned \(eps.count) values for a latent of \(x.count)")
            }
            let s = Float(sigma)
            var denoised = [Float](repeating: 0, count: x.count)
            switch prediction {
            case .epsilon:
                for j in 0..<x.count { denoised[j] = x[j] - s * eps[j] }
            case .v:
                // D = x·σ_data²/(σ²+σ_data²) − v·σ·σ_data/√(σ²+σ_data²), σ_data = 1 (k-diffusion's VDenoiser)
                let cSkip = Float(1 / (sigma * sigma + 1)), cOut = Float(-sigma / (sigma * sigma + 1).squareRoot())
                for j in 0..<x.count { denoised[j] = x[j] * cSkip + eps[j] * cOut }
            }
            return denoised
        }, noise: noise, onStep: onStep)
        switch kind {
        case .euler: return try Samplers.euler(start, run)
        case .eulerAncestral: return try Samplers.eulerAncestral(start, run)
        case .dpmpp2m: return try Samplers.dpmpp2m(start, run)
        case .ddim: return try Samplers.ddim(start, run)
        case .lcm: return try Samplers.lcm(start, run)
        }
    }
}

/// What a sampler works with: the noise levels, the model as a denoiser, fresh noise and the
/// per-step report. A sampler may evaluate the denoiser more than once per step (a Heun-like
/// sampler evaluates it again at the next noise level, with `timestep(for:)`).
struct SamplerRun {
    let plan: SamplingPlan
    /// The denoised estimate D = x − σ·ε of latent `x` at noise level σ and UNet timestep t.
    let denoise: (_ x: [Float], _ sigma: Double, _ timestep: Double) throws -> [Float]
    let noise: () -> [Float]
    let onStep: (Int, [Float]) throws -> Void

    var steps: Int { plan.timesteps.count }

    /// D at step i's own noise level and timestep.
    func denoised(_ x: [Float], step i: Int) throws -> [Float] {
        try denoise(x, plan.sigmas[i], plan.timesteps[i])
    }
}

/// One function per sampler, each the whole loop over a `SamplerRun`. To add one: write its
/// function here, a `SamplerKind` case with its names and label, and its grid in `SamplingPlan`.
enum Samplers {
    /// k-diffusion's Euler: x moves along the derivative (x − D)/σ to the next σ.
    static func euler(_ start: [Float], _ run: SamplerRun) throws -> [Float] {
        var x = start
        for i in 0..<run.steps {
            x = eulerStep(x, try run.denoised(x, step: i), run.plan.sigmas[i], run.plan.sigmas[i + 1])
            try run.onStep(i, x)
        }
        return x
    }

    /// Euler ancestral: an Euler step down to σ_down, then fresh noise up to the next σ.
    static func eulerAncestral(_ start: [Float], _ run: SamplerRun) throws -> [Float] {
        var x = start
        for i in 0..<run.steps {
            let sigma = run.plan.sigmas[i], next = run.plan.sigmas[i + 1]
            let denoised = try run.denoised(x, step: i)
            let up = min(next, (next * next * (sigma * sigma - next * next) / (sigma * sigma)).squareRoot())
            let down = (next * next - up * up).squareRoot()
            x = eulerStep(x, denoised, sigma, down)
            if next > 0 { add(&x, run.noise(), scale: Float(up)) }
            try run.onStep(i, x)
        }
        return x
    }

    /// DPM++ 2M: second order from the previous step's D (first order on the first step and to σ = 0).
    static func dpmpp2m(_ start: [Float], _ run: SamplerRun) throws -> [Float] {
        var x = start
        var previous: [Float]? = nil
        let sigmas = run.plan.sigmas
        for i in 0..<run.steps {
            let denoised = try run.denoised(x, step: i)
            let sigma = sigmas[i], next = sigmas[i + 1]
            if next == 0 {
                x = denoised  // first-order step to σ = 0 is D itself
            } else {
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
                x = out
            }
            previous = denoised
            try run.onStep(i, x)
        }
        return x
    }

    /// DDIM: Euler steps on the DDIM timestep grid, ending on ᾱ_0 in variance-preserving
    /// coordinates, which is what gets decoded.
    static func ddim(_ start: [Float], _ run: SamplerRun) throws -> [Float] {
        let x = try euler(start, run)
        let last = run.plan.sigmas[run.plan.sigmas.count - 1]
        let scale = Float(1 / (last * last + 1).squareRoot())
        return x.map { $0 * scale }
    }

    /// LCM: the consistency boundary condition (diffusers LCMScheduler) blends the model's x0 with
    /// the variance-preserving input; then re-noise to the next level.
    static func lcm(_ start: [Float], _ run: SamplerRun) throws -> [Float] {
        var x = start
        for i in 0..<run.steps {
            let sigma = run.plan.sigmas[i], next = run.plan.sigmas[i + 1]
            let denoised = try run.denoised(x, step: i)
            let cIn = Float(1 / (sigma * sigma + 1).squareRoot())
            let t = run.plan.timesteps[i] * 10, sd2 = 0.25
            let cSkip = Float(sd2 / (t * t + sd2)), cOut = Float(t / (t * t + sd2).squareRoot())
            for j in 0..<x.count { x[j] = cOut * denoised[j] + cSkip * (x[j] * cIn) }
            if next > 0 { add(&x, run.noise(), scale: Float(next)) }
            try run.onStep(i, x)
        }
        return x
    }

    static func eulerStep(_ x: [Float], _ denoised: [Float], _ sigma: Double, _ to: Double) -> [Float] {
        let dt = Float((to - sigma) / sigma)
        var out = x
        for j in 0..<x.count { out[j] = x[j] + (x[j] - denoised[j]) * dt }
        return out
    }

    static func add(_ x: inout [Float], _ n: [Float], scale: Float) {
        for j in 0..<min(x.count, n.count) { x[j] += n[j] * scale }
    }
}
