import Foundation
import StylusML
import StylusRender
import TestSupport
import XCTest

/// bf16 renders on the CPU's bf16 hardware against diffusers with bf16 autocast
/// (`reference-bf16.safetensors`, scripts/gen_tiny_sd_bf16_reference.py) and against fp32. The
/// fixture's weights are exact in bf16, so the differences are activation rounding only. A host
/// without bf16 hardware skips these and says why.
final class BFloat16RenderTests: XCTestCase {
    static let autocast = { () -> SafetensorsFile in try! SafetensorsFile(path: TinySD.directory + "/reference-bf16.safetensors") }()

    private func autocastReference(_ name: String) throws -> Tensor { try Tensor(Self.autocast, name) }

    private func requireBF16() throws {
        switch BFloat16Compute.availability {
        case .success(let path): FileHandle.standardError.write(Data("bf16 render path: \(path.rawValue)\n".utf8))
        case .failure(let why): throw XCTSkip("bf16 path not exercised on this host: \(why)")
        }
    }

    private func relativeRMS(_ got: [Float], _ want: [Float]) -> Double {
        var e = 0.0, n = 0.0
        for (g, w) in zip(got, want) { e += Double(g - w) * Double(g - w); n += Double(w) * Double(w) }
        return (e / max(n, 1e-30)).squareRoot()
    }

    private func psnr(_ a: RGBImage, _ b: RGBImage) -> Double {
        var se = 0.0
        for (x, y) in zip(a.pixels, b.pixels) { se += Double((Int(x) - Int(y)) * (Int(x) - Int(y))) }
        let mse = se / Double(max(1, b.pixels.count))
        return mse == 0 ? .infinity : 10 * log10(255 * 255 / mse)
    }

    private func note(_ text: String) { FileHandle.standardError.write(Data((text + "\n").utf8)) }

    func testPrecisionSettingParsesAndResolves() throws {
        XCTAssertEqual(PrecisionSetting(setting: " BF16 "), .bf16)
        XCTAssertEqual(PrecisionSetting(setting: "fp32"), .fp32)
        XCTAssertNil(PrecisionSetting(setting: "fp16"))
        XCTAssertEqual(try PrecisionSetting.fp32.resolved(), .fp32)
        XCTAssertEqual(try PrecisionSetting.auto.resolved(), BFloat16Compute.path == nil ? .fp32 : .bf16)
        if BFloat16Compute.path == nil {
            XCTAssertThrowsError(try PrecisionSetting.bf16.resolved()) { e in
                XCTAssertTrue("\(e)".contains("precision bf16 is not available here"), "\(e)")
            }
            XCTAssertThrowsError(try Checkpoint(path: CheckpointTests.ldmPath, precision: .bf16))
        } else {
            XCTAssertEqual(try PrecisionSetting.bf16.resolved(), .bf16)
        }
    }

    /// Matrices are held once in bf16 (the fixture's UNet is fp16 and its text encoder bf16 on
    /// disk), with the same values; vectors stay Float32; fp32 checkpoints are untouched.
    func testBF16CheckpointHoldsMatricesInBF16() throws {
        try requireBF16()
        let ckpt = try Checkpoint(path: CheckpointTests.ldmPath, precision: .bf16)
        let name = "model.diffusion_model.input_blocks.0.0.weight"
        let shape = try XCTUnwrap(ckpt.shape(name))
        let weight = try ckpt.weight(name, shape: [shape[0], shape.dropFirst().reduce(1, *)], keepHalf: true)
        XCTAssertEqual(weight.storage, .bf16)
        XCTAssertTrue(weight.computesInBF16)
        XCTAssertEqual((0..<weight.count).map { weight[$0] }, try ckpt.baseTensor(name).data)
        XCTAssertEqual(try ckpt.weight("model.diffusion_model.input_blocks.0.0.bias", shape: [shape[0]]).storage, .f32)
        let fp32 = try Checkpoint(path: CheckpointTests.ldmPath)
        let stored = try fp32.weight(name, shape: [shape[0], shape.dropFirst().reduce(1, *)], keepHalf: true)
        XCTAssertEqual(stored.storage, .f16)
        XCTAssertFalse(stored.computesInBF16)
    }

    func testUNetInBF16MatchesDiffusersAutocast() throws {
        try requireBF16()
        let x = try reference("unet.x"), ctx = try reference("unet.context")
        let fp32 = try reference("unet.out"), autocast = try autocastReference("unet.out")
        let torchGap = relativeRMS(autocast.data, fp32.data)
        let n = ctx.shape[1] * ctx.shape[2]
        let contexts = (0..<2).map { Tensor(shape: [ctx.shape[1], ctx.shape[2]], data: Array(ctx.data[($0 * n)..<(($0 + 1) * n)])) }
        for path in [CheckpointTests.ldmPath, CheckpointTests.diffusersPath] {
            let t = Double(TinySD.reference.unet_timestep)
            let eps = try UNet(Checkpoint(path: path, precision: .bf16))(x, timesteps: [t, t], context: contexts)
            let toAutocast = relativeRMS(eps.data, autocast.data), toFP32 = relativeRMS(eps.data, fp32.data)
            note("UNet bf16 (\(path.split(separator: "/").last!)): rel. RMS vs diffusers bf16 \(toAutocast), vs fp32 \(toFP32); diffusers bf16 vs fp32 \(torchGap)")
            XCTAssertGreaterThan(toFP32, 1e-4, "the bf16 path ran (bf16 rounding shows)")
            // As close to diffusers' bf16 as its own bf16 is to fp32, and as close to fp32 as it.
            XCTAssertLessThanOrEqual(toAutocast, 2 * torchGap, path)
            XCTAssertLessThanOrEqual(toFP32, 1.5 * torchGap, path)
        }
    }

    /// The SDXL family takes the same bf16 layers.
    func testSDXLUNetInBF16MatchesDiffusersAutocast() throws {
        try requireBF16()
        let autocastFile = try SafetensorsFile(path: TinySDXL.directory + "/reference-bf16.safetensors")
        let x = try TinySDXL.tensor("unet.x"), ctx = try TinySDXL.tensor("unet.context")
        let pooled = try TinySDXL.tensor("unet.pooled"), ids = try TinySDXL.tensor("unet.time_ids")
        let fp32 = try TinySDXL.tensor("unet.out"), autocast = try Tensor(autocastFile, "unet.out")
        let torchGap = relativeRMS(autocast.data, fp32.data)
        let added = (0..<2).map { UNet.Added(pooled: TinySDXL.rows(pooled, $0), timeIds: TinySDXL.rows(ids, $0).data.map(Double.init)) }
        for path in [TinySDXL.singleFile, TinySDXL.diffusers] {
            let unet = try UNet(Checkpoint(path: path, precision: .bf16))
            let t = TinySDXL.reference.unet_timestep
            let eps = try unet(x, timesteps: [t, t], context: [TinySDXL.rows(ctx, 0), TinySDXL.rows(ctx, 1)], added: added)
            let toAutocast = relativeRMS(eps.data, autocast.data), toFP32 = relativeRMS(eps.data, fp32.data)
            note("SDXL UNet bf16 (\(path.split(separator: "/").last!)): rel. RMS vs diffusers bf16 \(toAutocast), vs fp32 \(toFP32); diffusers bf16 vs fp32 \(torchGap)")
            XCTAssertGreaterThan(toFP32, 1e-4, "the bf16 path ran")
            XCTAssertLessThanOrEqual(toAutocast, 2 * torchGap, path)
            XCTAssertLessThanOrEqual(toFP32, 1.5 * torchGap, path)
        }
    }

    func testVAEInBF16MatchesDiffusersAutocast() throws {
        try requireBF16()
        let z = try reference("vae.latent"), fp32 = try reference("vae.out"), autocast = try autocastReference("vae.out")
        let torchGap = relativeRMS(autocast.data, fp32.data)
        let out = try VAEDecoder(Checkpoint(path: CheckpointTests.ldmPath, precision: .bf16))(z.reshaped([1] + z.shape))
        let toAutocast = relativeRMS(out.data, autocast.data), toFP32 = relativeRMS(out.data, fp32.data)
        note("VAE bf16: rel. RMS vs diffusers bf16 \(toAutocast), vs fp32 \(toFP32); diffusers bf16 vs fp32 \(torchGap)")
        XCTAssertGreaterThan(toFP32, 1e-5)
        XCTAssertLessThanOrEqual(toAutocast, 2 * torchGap)
        XCTAssertLessThanOrEqual(toFP32, 2 * torchGap)
    }

    /// The whole txt2img path in bf16 (tokenizer to PNG pixels) against diffusers' pipeline under
    /// bf16 autocast: Euler, 4 steps, CFG 7.5.
    func testRenderInBF16MatchesDiffusersAutocast() throws {
        try requireBF16()
        let tokenizer = try ClipTokenizer(vocabularyPath: try RequiredFiles.clipVocabulary())
        let autocast = try RGBImage(planar: try autocastReference("pipeline.image").data, width: 128, height: 64)
        let fp32 = try RGBImage(planar: try reference("pipeline.image").data, width: 128, height: 64)
        let torchPSNR = psnr(autocast, fp32)
        for path in [CheckpointTests.ldmPath, CheckpointTests.diffusersPath] {
            let pipeline = try Pipeline(checkpoint: Checkpoint(path: path, precision: .bf16), tokenizer: tokenizer)
            let image = try pipeline.render(PipelineTests.referenceRequest())
            let toAutocast = psnr(image, autocast), toFP32 = psnr(image, fp32)
            note("render bf16 (\(path.split(separator: "/").last!)): PSNR vs diffusers bf16 \(toAutocast) dB, vs fp32 \(toFP32) dB; diffusers bf16 vs fp32 \(torchPSNR) dB")
            XCTAssertGreaterThanOrEqual(toAutocast, torchPSNR - 3, path)
            XCTAssertGreaterThanOrEqual(toFP32, torchPSNR - 3, path)
        }
    }

    /// Merging LoRAs into a bf16 checkpoint reaches its layers without a rebuild, drops what the
    /// layers derived from the old weights, and a revert restores the image exactly.
    func testLoRAMergeIntoBF16Weights() throws {
        try requireBF16()
        let tokenizer = try ClipTokenizer(vocabularyPath: try RequiredFiles.clipVocabulary())
        let ckpt = try Checkpoint(path: CheckpointTests.ldmPath, precision: .bf16)
        var request = RenderRequest(prompt: [.text("a photograph of an astronaut riding a horse", weight: 1)])
        request.steps = 2
        request.seed = 7
        request.width = 64
        request.height = 64
        let pipeline = try Pipeline(checkpoint: ckpt, tokenizer: tokenizer)
        let plain = try pipeline.render(request)
        let entry = try XCTUnwrap(LoRAMergeTests.reference["kohya"])
        let module = try XCTUnwrap(entry.modules.first { $0.hasPrefix("model.diffusion_model.") && ckpt.shape($0)?.count == 4 })
        let shape = try XCTUnwrap(ckpt.shape(module))
        let weight = try ckpt.weight(module, shape: [shape[0], shape.dropFirst().reduce(1, *)], keepHalf: true)
        final class Probe {}
        let before = weight.derived("probe") { Probe() }
        XCTAssertTrue(before === weight.derived("probe") { Probe() }, "kept while the weight is unchanged")
        let merger = LoRAMerger(checkpoint: ckpt)
        try merger.apply([LoRAApplication(file: try LoRAMergeTests.lora("kohya"), textEncoder: entry.te, unet: entry.unet)])
        XCTAssertFalse(before === weight.derived("probe") { Probe() }, "dropped when a merge changes the weight")
        XCTAssertEqual(weight.storage, .bf16)
        XCTAssertNotEqual(try pipeline.render(request).pixels, plain.pixels)
        merger.revert()
        XCTAssertEqual(try pipeline.render(request).pixels, plain.pixels)
    }
}
