import StylusRender
import XCTest

final class SamplerTests: XCTestCase {
    func testScheduleMatchesDiffusers() {
        let s = NoiseSchedule.sd1
        for (t, ac) in TinySD.reference.alphas_cumprod {
            XCTAssertEqual(s.alphasCumprod[Int(t)!], ac, accuracy: 1e-12, "ᾱ_\(t)")
        }
        XCTAssertEqual(s.sigmaMin, 0.029167, accuracy: 1e-6)
        XCTAssertEqual(s.sigmaMax, 14.6146, accuracy: 1e-4)
        for t in [0.0, 1.0, 333.0, 537.25, 998.5, 999.0] {
            XCTAssertEqual(s.timestep(for: s.sigma(at: t)), t, accuracy: 1e-9)
        }
    }

    func testReferenceSigmaGrids() throws {
        // Karras and discrete sigma grids for 20 steps, worked out from the SD 1.x schedule.
        let karras = try SamplingPlan(kind: .dpmpp2m, spacing: .karras, steps: 20).sigmas
        XCTAssertEqual(karras.count, 21)
        XCTAssertEqual(karras[1], 11.7254, accuracy: 1e-4)
        XCTAssertEqual(karras[2], 9.3402, accuracy: 1e-4)
        XCTAssertEqual(karras[18], 0.0485, accuracy: 1e-4)
        XCTAssertEqual(karras[20], 0)
        let discrete = try SamplingPlan(kind: .euler, steps: 20).sigmas
        XCTAssertEqual(discrete[1], 10.7468, accuracy: 1e-4)
        XCTAssertEqual(discrete[2], 8.0815, accuracy: 1e-4)
        XCTAssertEqual(discrete[18], 0.2322, accuracy: 1e-4)
        XCTAssertEqual(try SamplingPlan(kind: .ddim, steps: 50).timesteps.prefix(3), [981, 961, 941])
        XCTAssertEqual(try SamplingPlan(kind: .ddim, steps: 50).timesteps.last, 1)
    }

    func testBadStepCountsAreRejected() {
        for (kind, steps) in [(SamplerKind.euler, 0), (.euler, 1001), (.lcm, 51), (.ddim, -3)] {
            XCTAssertThrowsError(try Sampler(kind: kind, steps: steps)) { e in
                XCTAssertTrue("\(e)".contains("steps"), "\(e)")
            }
        }
    }

    func testParseNames() {
        XCTAssertEqual(SamplerKind.parse("Euler a")?.0, .eulerAncestral)
        XCTAssertEqual(SamplerKind.parse("DPM++ 2M Karras")?.1, .karras)
        XCTAssertEqual(SamplerKind.parse("dpmpp_2m")?.1, .discrete)
        XCTAssertNil(SamplerKind.parse("heun"))
    }

    /// Drives each sampler with the ε the fixture's diffusers run saw and compares every step:
    /// the UNet input, the timestep, the latent after the step, and the ancestral noise drawn
    /// from the same continuing torch generator.
    func testTrajectoriesMatchDiffusers() throws {
        let cases: [(String, SamplerKind, SigmaSpacing, Bool)] = [
            ("euler", .euler, .discrete, false), ("euler_a", .eulerAncestral, .discrete, false),
            ("dpmpp_2m", .dpmpp2m, .discrete, true), ("dpmpp_2m_karras", .dpmpp2m, .karras, true),
            ("ddim", .ddim, .discrete, true), ("lcm", .lcm, .discrete, true),
        ]
        for (name, kind, spacing, variancePreserving) in cases {
            let ref = try XCTUnwrap(TinySD.reference.samplers[name], name)
            let sampler = try Sampler(kind: kind, spacing: spacing, steps: ref.steps.count)
            var rng = TorchCPURandom(seed: ref.noise_seed)
            let noise = rng.randn(count: ref.noise.count)
            assertClose(noise, ref.noise, tolerance: 1e-6, "\(name) initial noise")
            if let sigmas = ref.sigmas {
                assertClose(sampler.plan.sigmas.map(Float.init), sigmas, tolerance: 2e-6 * 15, "\(name) sigmas")
            }
            // diffusers' DPM solver starts from the variance-preserving x_T = noise; the others
            // agree with initialLatent.
            let sigma0 = sampler.plan.sigmas[0]
            let start = name.hasPrefix("dpmpp") ? noise.map { $0 * Float((sigma0 * sigma0 + 1).squareRoot()) }
                : sampler.initialLatent(noise: noise)
            var step = 0
            let final = try sampler.run(start, model: { input, t in
                let r = ref.steps[step]
                // diffusers rounds Karras timesteps to integers; k-diffusion keeps them fractional.
                XCTAssertEqual(t, Double(r.timestep), accuracy: spacing == .karras ? 0.5 : 1e-6, "\(name) t[\(step)]")
                assertRelative(input, r.model_input, 1e-5, "\(name) model input \(step)")
                return r.eps
            }, noise: { rng.randn(count: noise.count) }, onStep: { i, x in
                // diffusers' VP samplers hold x/√(σ²+1).
                let next = sampler.plan.sigmas[i + 1]
                let scale = Float(variancePreserving ? 1 / (next * next + 1).squareRoot() : 1)
                assertRelative(x.map { $0 * scale }, ref.steps[i].x, 1e-5, "\(name) x after step \(i)")
                step += 1
            })
            XCTAssertEqual(step, ref.steps.count)
            assertRelative(final, ref.steps.last!.x, 1e-5, "\(name) final latent")
        }
    }
}

/// max |a − b| ≤ tolerance · max |b|.
func assertRelative(_ a: [Float], _ b: [Float], _ tolerance: Float, _ message: String,
                    file: StaticString = #filePath, line: UInt = #line) {
    let scale = b.reduce(Float(0)) { max($0, abs($1)) }
    assertClose(a, b, tolerance: tolerance * max(scale, 1e-12), message, file: file, line: line)
}
