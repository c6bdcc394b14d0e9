import Foundation
import StylusML
import StylusRender
import TestSupport
import XCTest

/// The tiny SDXL fixture written by scripts/gen_tiny_sdxl_fixture.py (diffusers and transformers
/// reference tensors for the same weights).
enum TinySDXL {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fixtures/TinySDXL").path
    static let singleFile = directory + "/tiny-sdxl.safetensors"
    static let diffusers = directory + "/diffusers"

    static let reference: Reference = {
        let data = try! Data(contentsOf: URL(fileURLWithPath: directory + "/reference.json"))
        return try! JSONDecoder().decode(Reference.self, from: data)
    }()

    static let tensors = { () -> SafetensorsFile in try! SafetensorsFile(path: directory + "/reference.safetensors") }()

    static func tensor(_ name: String) throws -> Tensor { try Tensor(tensors, name) }

    struct Reference: Decodable {
        struct Chunks: Decodable {
            let ids: [[Int32]]
            let ids2: [[Int32]]
            let multipliers: [[Float]]
            let token_count: Int
        }
        struct Pipeline: Decodable {
            let prompt: String
            let negative: String
            let steps: Int
            let cfg: Double
            let seed: UInt64
            let height: Int
            let width: Int
            let eps_sigmas: [Double]
            let vpred_sigmas: [Double]
        }
        let chunks: [String: Chunks]
        let unet_timestep: Double
        let scaling_factor: Float
        let pipeline: Pipeline
    }

    static func chunking(_ name: String) -> TokenChunking {
        let c = reference.chunks[name]!
        return TokenChunking(chunks: zip(c.ids, c.multipliers).map { TokenChunk(ids: $0, multipliers: $1) }, tokenCount: c.token_count)
    }

    static func rows(_ t: Tensor, _ i: Int) -> Tensor {
        let n = t.count / t.shape[0]
        return Tensor(shape: Array(t.shape.dropFirst()), data: Array(t.data[(i * n)..<((i + 1) * n)]))
    }
}

/// Merged weights held in half precision (`storage` "F16" or "BF16") are base + ΔW rounded to it, as
/// A1111 and diffusers' `fuse_lora` store them for fp16 models: the error past half a unit in the last
/// place of that format, relative to the reference's scale, must stay within `tolerance`.
func mergedParity(_ got: [Float], _ want: [Float], storage: String?, _ tolerance: Float, _ message: String,
                  file: StaticString = #filePath, line: UInt = #line) {
    let mantissa: Int? = storage == "F16" ? 10 : storage == "BF16" ? 7 : nil
    guard let mantissa else { return sdxlParity(got, want, tolerance, message, file: file, line: line) }
    func halfULP(_ v: Float) -> Float {
        let e = max(Int(v.magnitude.exponent), mantissa == 10 ? -14 : -126)  // subnormals keep the smallest step
        return Float(sign: .plus, exponent: e - mantissa - 1, significand: 1)
    }
    let scale = want.reduce(Float(0)) { max($0, abs($1)) }
    let worst = zip(got, want).reduce(Float(0)) { max($0, abs($1.0 - $1.1) - halfULP(max(abs($1.0), abs($1.1)))) } / max(scale, 1e-12)
    FileHandle.standardError.write(Data("sdxl parity \(message.split(separator: "/").last ?? "") (past \(storage!) rounding): \(max(worst, 0))\n".utf8))
    XCTAssertLessThanOrEqual(worst, tolerance, message, file: file, line: line)
}

/// `assertRelative`, and the error relative to the reference's scale on stderr (the figures in docs/SDXL.md).
func sdxlParity(_ a: [Float], _ b: [Float], _ tolerance: Float, _ message: String, file: StaticString = #filePath, line: UInt = #line) {
    let scale = b.reduce(Float(0)) { max($0, abs($1)) }
    let worst = zip(a, b).reduce(Float(0)) { max($0, abs($1.0 - $1.1)) }
    FileHandle.standardError.write(Data("sdxl parity \(message.split(separator: "/").last ?? ""): \(worst / max(scale, 1e-12))\n".utf8))
    assertRelative(a, b, tolerance, message, file: file, line: line)
}

final class SDXLCheckpointTests: XCTestCase {
    func testBothLayoutsAreDetectedAsSDXLWithTheSameWeights() throws {
        let single = try Checkpoint(path: TinySDXL.singleFile)
        let folder = try Checkpoint(path: TinySDXL.diffusers)
        for c in [single, folder] {
            XCTAssertEqual(c.architecture, .sdxl)
            XCTAssertEqual(c.config.unetChannels, [32, 32, 32])
            XCTAssertEqual(c.config.contextDim, 32)
            XCTAssertEqual(c.config.textWidth, 16)
            XCTAssertEqual(c.config.text2, SD1Config.TextConfig(width: 16, layers: 3, heads: 2, positions: 77, projection: 24))
            XCTAssertEqual(c.config.timeIdWidth, 8)
            XCTAssertEqual(c.config.vaeScalingFactor, TinySDXL.reference.scaling_factor)
            XCTAssertFalse(c.vPredictionMarker)
        }
        XCTAssertEqual(single.names, folder.names)
        // Mixed dtypes on disk (bf16 text encoders, fp16 UNet, fp32 VAE) against fp16 everywhere;
        // the fused OpenCLIP q/k/v and the transposed projection read back as transformers' tensors.
        XCTAssertEqual(single.dtype(KeyMapping.text2Prefix + "text_model.encoder.layers.0.self_attn.k_proj.weight"), "BF16")
        for name in single.names {
            XCTAssertEqual(try single.tensor(name).data, try folder.tensor(name).data, name)
            XCTAssertEqual(single.shape(name)?.reduce(1, *), folder.shape(name)?.reduce(1, *), name)
        }
    }

    /// Linear and conv kernels stay in the stored precision (fp16 UNet, bf16 text encoders in the single
    /// file; fp32 VAE stays fp32) and widen exactly; the rest is Float32.
    func testMatricesKeepTheirStoredPrecisionAndWidenExactly() throws {
        let ckpt = try Checkpoint(path: TinySDXL.singleFile)
        let cases: [(String, WeightBuffer.Storage)] = [
            (KeyMapping.unetPrefix + "input_blocks.7.1.transformer_blocks.1.attn1.to_q.weight", .f16),
            (KeyMapping.unetPrefix + "input_blocks.1.0.in_layers.2.weight", .f16),
            (KeyMapping.textPrefix + "text_model.encoder.layers.0.self_attn.q_proj.weight", .bf16),
            (KeyMapping.vaePrefix + "decoder.conv_in.weight", .f32),
        ]
        for (name, storage) in cases {
            let shape = try XCTUnwrap(ckpt.shape(name))
            let flat = [shape[0], shape.dropFirst().reduce(1, *)]
            let buffer = try ckpt.weight(name, shape: flat, keepHalf: true)
            XCTAssertEqual(buffer.storage, storage, name)
            let widened = buffer.withFloats { Array(UnsafeBufferPointer(start: $0, count: buffer.count)) }
            XCTAssertEqual(widened, try ckpt.baseTensor(name).data, name)
            // A model holding it half cannot be handed a Float32 view by mistake.
            if storage != .f32 { XCTAssertThrowsError(try ckpt.weight(name, shape: flat)) }
        }
        XCTAssertEqual(try ckpt.weight(KeyMapping.unetPrefix + "out.2.bias", shape: [4]).storage, .f32)
    }

    func testSDXLKeyMappingRoundTripsOnEveryUNetName() throws {
        let single = try Checkpoint(path: TinySDXL.singleFile)
        var count = 0
        for name in single.names where name.hasPrefix(KeyMapping.unetPrefix) {
            let short = String(name.dropFirst(KeyMapping.unetPrefix.count))
            let d = try XCTUnwrap(KeyMapping.unetToDiffusers(short, sdxl: true), short)
            XCTAssertEqual(KeyMapping.unetToLDM(d, sdxl: true), short)
            count += 1
        }
        XCTAssertGreaterThan(count, 200)
        // The SDXL-specific places: attention at up level 0, every upsampler after an attention.
        XCTAssertEqual(KeyMapping.unetToDiffusers("output_blocks.2.2.conv.weight", sdxl: true), "up_blocks.0.upsamplers.0.conv.weight")
        XCTAssertEqual(KeyMapping.unetToDiffusers("output_blocks.1.1.proj_in.weight", sdxl: true), "up_blocks.0.attentions.1.proj_in.weight")
        XCTAssertEqual(KeyMapping.openCLIPToTransformers("transformer.resblocks.3.attn.in_proj_weight").map(\.0),
                       ["q", "k", "v"].map { "text_model.encoder.layers.3.self_attn.\($0)_proj.weight" })
        XCTAssertTrue(KeyMapping.openCLIPToTransformers("logit_scale").isEmpty)
    }

    func testOtherArchitecturesAndBrokenFilesAreRefusedByName() throws {
        func expect(_ path: String, _ fragment: String, line: UInt = #line) {
            XCTAssertThrowsError(try Checkpoint(path: path), line: line) { e in
                XCTAssertTrue("\(e)".contains(fragment), "\(e)", line: line)
                XCTAssertTrue("\(e)".contains(path), "\(e)", line: line)
            }
        }
        expect(TinySDXL.directory + "/tiny-sdxl-refiner.safetensors", "not supported: SDXL refiner")
        expect(TinySDXL.directory + "/tiny-sd3-like.safetensors", "not supported: SD3")
        let tmp = NSTemporaryDirectory() + "sdxl-bad-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        // Truncated: the header promises more bytes than the file has.
        let data = try Data(contentsOf: URL(fileURLWithPath: TinySDXL.singleFile))
        try data.prefix(data.count / 2).write(to: URL(fileURLWithPath: tmp + "/truncated.safetensors"))
        expect(tmp + "/truncated.safetensors", "safetensors")
        // An SDXL file missing a whole text encoder names SDXL.
        let single = try Checkpoint(path: TinySDXL.singleFile)
        let kept = try single.names.filter { !$0.hasPrefix(KeyMapping.text2Prefix) }.map { ($0, single.shape($0)!, try single.tensor($0).data) }
        try writeSafetensors(kept, to: tmp + "/no-te2.safetensors")
        expect(tmp + "/no-te2.safetensors", "SDXL")
        // Flux's layout.
        try writeSafetensors([("double_blocks.0.img_attn.qkv.weight", [6, 2], [Float](repeating: 0, count: 12))], to: tmp + "/flux.safetensors")
        expect(tmp + "/flux.safetensors", "not supported: Flux")
    }
}

final class SDXLParityTests: XCTestCase {
    func testTextEncodersMatchTransformers() throws {
        for path in [TinySDXL.singleFile, TinySDXL.diffusers] {
            let c = try Checkpoint(path: path)
            let te1 = try ClipTextEncoder(c), te2 = try ClipTextEncoder(c, encoder: 2)
            for name in TinySDXL.reference.chunks.keys.sorted() {
                let chunking = TinySDXL.chunking(name)
                let a = try te1.encodeSDXL(chunking, padID: nil), b = try te2.encodeSDXL(chunking, padID: 0)
                XCTAssertNil(a.pooled)
                sdxlParity(a.hidden.data, try TinySDXL.tensor("cond.\(name).te1").data, 1e-4, "\(path) \(name) te1")
                sdxlParity(b.hidden.data, try TinySDXL.tensor("cond.\(name).te2").data, 1e-4, "\(path) \(name) te2")
                sdxlParity(try XCTUnwrap(b.pooled).data, try TinySDXL.tensor("pooled.\(name)").data, 1e-4, "\(path) \(name) pooled")
            }
        }
    }

    func testOneUNetEvaluationMatchesDiffusers() throws {
        let x = try TinySDXL.tensor("unet.x"), ctx = try TinySDXL.tensor("unet.context")
        let pooled = try TinySDXL.tensor("unet.pooled"), ids = try TinySDXL.tensor("unet.time_ids"), want = try TinySDXL.tensor("unet.out")
        let added = (0..<2).map { UNet.Added(pooled: TinySDXL.rows(pooled, $0), timeIds: TinySDXL.rows(ids, $0).data.map(Double.init)) }
        for path in [TinySDXL.singleFile, TinySDXL.diffusers] {
            let unet = try UNet(Checkpoint(path: path))
            XCTAssertTrue(unet.takesAddedConditioning)
            let t = TinySDXL.reference.unet_timestep
            let eps = try unet(x, timesteps: [t, t], context: [TinySDXL.rows(ctx, 0), TinySDXL.rows(ctx, 1)], added: added)
            XCTAssertEqual(eps.shape, want.shape)
            sdxlParity(eps.data, want.data, 1e-4, "\(path) UNet")
            // Without the added conditioning the SDXL UNet refuses instead of guessing.
            XCTAssertThrowsError(try unet(x, timesteps: [t, t], context: [TinySDXL.rows(ctx, 0), TinySDXL.rows(ctx, 1)]))
        }
    }

    /// A 9×7 latent (a 72×56 image: multiples of 8, not of 32): the down convs round odd sides up
    /// and each upsampler resizes to its skip's size, as diffusers does with `upsample_size`.
    func testUNetAtALatentSizeNotDivisibleByItsLevelsMatchesDiffusers() throws {
        let x = try TinySDXL.tensor("unet_odd.x"), ids = try TinySDXL.tensor("unet_odd.time_ids"), want = try TinySDXL.tensor("unet_odd.out")
        let ctx = try TinySDXL.tensor("unet.context"), pooled = try TinySDXL.tensor("unet.pooled")
        XCTAssertEqual(x.shape, [2, 4, 7, 9])
        let added = (0..<2).map { UNet.Added(pooled: TinySDXL.rows(pooled, $0), timeIds: TinySDXL.rows(ids, $0).data.map(Double.init)) }
        for path in [TinySDXL.singleFile, TinySDXL.diffusers] {
            let unet = try UNet(Checkpoint(path: path))
            let t = TinySDXL.reference.unet_timestep
            let eps = try unet(x, timesteps: [t, t], context: [TinySDXL.rows(ctx, 0), TinySDXL.rows(ctx, 1)], added: added)
            XCTAssertEqual(eps.shape, want.shape)
            sdxlParity(eps.data, want.data, 1e-4, "\(path) UNet 9x7 latent")
        }
    }

    func testVAEDecodeMatchesDiffusersWithSDXLScale() throws {
        let z = try TinySDXL.tensor("vae.latent"), want = try TinySDXL.tensor("vae.out")
        for path in [TinySDXL.singleFile, TinySDXL.diffusers] {
            let vae = try VAEDecoder(Checkpoint(path: path))
            XCTAssertEqual(vae.scale, 0.13025)
            let out = try vae(Tensor(shape: [1] + z.shape, data: z.data))
            sdxlParity(out.data, want.data, 1e-4, "\(path) VAE")
        }
    }
}

final class SDXLPipelineTests: XCTestCase {
    /// diffusers' StableDiffusionXLPipeline, 2 Euler steps with CFG and a negative prompt, ε and
    /// v-prediction (zero-terminal-SNR schedule, σ_max ≈ 4096): the final latent and the image.
    func testTwoStepEulerMatchesDiffusersForEpsilonAndV() throws {
        let tokenizer = try ClipTokenizer(vocabularyPath: try RequiredFiles.clipVocabulary())
        let p = TinySDXL.reference.pipeline
        for path in [TinySDXL.singleFile, TinySDXL.diffusers] {
            let pipeline = try Pipeline(checkpoint: Checkpoint(path: path), tokenizer: tokenizer)
            for (tag, prediction) in [("eps", Prediction.epsilon), ("vpred", Prediction.v)] {
                var request = RenderRequest(prompt: [.text(p.prompt, weight: 1)])
                request.negative = [.text(p.negative, weight: 1)]
                request.steps = p.steps
                request.cfgScale = p.cfg
                request.seed = p.seed
                request.width = p.width
                request.height = p.height
                request.sampler = .euler
                request.prediction = prediction
                let latent = try pipeline.sample(request, try pipeline.encode(request))
                sdxlParity(latent, try TinySDXL.tensor("pipeline.\(tag).latent").data, 1e-4, "\(path) \(tag) latent")
                let image = try pipeline.decode(latent, request)
                let want = try RGBImage(planar: try TinySDXL.tensor("pipeline.\(tag).image").data, width: p.width, height: p.height)
                let worst = zip(image.pixels, want.pixels).map { abs(Int($0) - Int($1)) }.max() ?? 255
                XCTAssertLessThanOrEqual(worst, 1, "\(path) \(tag) image (8-bit)")
            }
        }
        let sigmas = try Sampler(kind: .euler, steps: 2, schedule: .sd1ZeroTerminalSNR, prediction: .v).plan.sigmas
        sdxlParity(sigmas.map(Float.init), p.vpred_sigmas.map(Float.init), 1e-6, "zero-terminal-SNR sigmas")
    }

    func testVPredictionMarkerIsRead() throws {
        let file = try SafetensorsFile(path: TinySDXL.singleFile)
        let tmp = NSTemporaryDirectory() + "sdxl-vpred-\(UUID().uuidString).safetensors"
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        var tensors = try file.tensorNames.filter { file.header[$0]!.dtype.isConvertibleToFloat }
            .map { ($0, file.header[$0]!.shape, try file.floats($0)) }
        tensors.append(("v_pred", [0], []))
        try writeSafetensors(tensors, to: tmp)
        let marked = try Checkpoint(path: tmp)
        XCTAssertTrue(marked.vPredictionMarker)
        let pipeline = try Pipeline(checkpoint: marked, tokenizer: try ClipTokenizer(vocabularyPath: try RequiredFiles.clipVocabulary()))
        var request = RenderRequest(prompt: [])
        XCTAssertEqual(pipeline.prediction(request), .v)
        request.prediction = .epsilon  // frontmatter `prediction: eps` wins
        XCTAssertEqual(pipeline.prediction(request), .epsilon)
    }

    func testDiffusersFolderSchedulerConfigMarksVPrediction() throws {
        let folder = NSTemporaryDirectory() + "sdxl-vfolder-\(UUID().uuidString)"
        let fm = FileManager.default
        try fm.createDirectory(atPath: folder + "/scheduler", withIntermediateDirectories: true)
        defer { try? fm.removeItem(atPath: folder) }
        for part in ["unet", "vae", "text_encoder", "text_encoder_2"] {
            try fm.createSymbolicLink(atPath: folder + "/" + part, withDestinationPath: TinySDXL.diffusers + "/" + part)
        }
        XCTAssertFalse(try Checkpoint(path: folder).vPredictionMarker)  // no scheduler config
        try #"{"prediction_type": "v_prediction", "rescale_betas_zero_snr": true}"#.write(toFile: folder + "/scheduler/scheduler_config.json",
                                                                                         atomically: true, encoding: .utf8)
        XCTAssertTrue(try Checkpoint(path: folder).vPredictionMarker)
        XCTAssertFalse(try Checkpoint(path: TinySDXL.diffusers).vPredictionMarker)  // epsilon in the fixture's config
    }
}

/// SDXL LoRA merges against scripts/gen_sdxl_lora_fixtures.py (PEFT's own merge checks the PEFT file).
final class SDXLLoRATests: XCTestCase {
    static let directory = TinySDXL.directory + "/LoRA"
    struct Entry: Decodable { let te: Float; let unet: Float; let modules: [String] }
    static let reference: [String: Entry] = {
        let data = try! Data(contentsOf: URL(fileURLWithPath: directory + "/reference.json"))
        return try! JSONDecoder().decode([String: Entry].self, from: data)
    }()

    func testEveryFormatMergesSwitchesAndRevertsOnBothLayouts() throws {
        for path in [TinySDXL.singleFile, TinySDXL.diffusers] {
            let checkpoint = try Checkpoint(path: path)
            let merger = LoRAMerger(checkpoint: checkpoint)
            // A model holds the weights while adapters switch: its buffers are patched in place.
            let unet = try UNet(checkpoint)
            _ = unet
            for name in ["kohya", "loha", "lokr", "peft"] {
                let entry = try XCTUnwrap(Self.reference[name])
                let file = try LoRAFile(path: "\(Self.directory)/\(name).safetensors")
                XCTAssertEqual(file.architecture, .sdxl, name)
                let reports = try merger.apply([LoRAApplication(file: file, textEncoder: entry.te, unet: entry.unet)])
                XCTAssertEqual(reports[0].unusedTensors, [], name)
                XCTAssertEqual(reports[0].modules, entry.modules, name)
                let refs = try SafetensorsFile(path: "\(Self.directory)/\(name).reference.safetensors")
                for key in entry.modules {
                    let expected = try refs.floats(key)
                    let got = try checkpoint.tensor(key).data
                    // The UNet holds its fp16 weights as stored: merged into, they round back to fp16.
                    let held = key.hasPrefix(KeyMapping.unetPrefix) ? checkpoint.dtype(key) : nil
                    mergedParity(got, expected, storage: held, 1e-4, "\(path) \(name) \(key)")
                    XCTAssertNotEqual(got, try checkpoint.baseTensor(key).data, "\(name) \(key) changed")
                }
            }
            merger.revert()
            for entry in Self.reference.values {
                for key in entry.modules {
                    XCTAssertEqual(try checkpoint.tensor(key), try checkpoint.baseTensor(key), "\(key) reverted")
                }
            }
        }
    }

    /// A1111 takes ":" and "," out of a LoRA's alias in "Lora hashes" (extra_networks_lora.py), so the
    /// field splits back into name: hash pairs.
    func testInfotextLoRAAliasesLoseTheFieldSeparators() {
        var p = RenderParameters(prompt: "x", steps: 2, sampler: "Euler", cfgScale: 5, seed: 1, width: 1024, height: 832,
                                 modelHash: "0123456789", modelName: "ponyDiffusionV6XL")
        p.loraHashes = [("style:v2,b", "aaaaaaaaaaaa"), ("plain", "bbbbbbbbbbbb")]
        XCTAssertEqual(p.infotext, "x\nSteps: 2, Sampler: Euler, CFG scale: 5, Seed: 1, Size: 1024x832, Model hash: 0123456789, "
                       + "Model: ponyDiffusionV6XL, Lora hashes: \"stylev2b: aaaaaaaaaaaa, plain: bbbbbbbbbbbb\", Version: stylus")
    }

    func testWrongFamilyIsRefusedNamingBothAndLeavesWeightsAlone() throws {
        let checkpoint = try Checkpoint(path: TinySDXL.singleFile)
        let file = try LoRAFile(path: Self.directory + "/sd15.safetensors")
        XCTAssertEqual(file.architecture, .sd1)
        let key = KeyMapping.textPrefix + "text_model.encoder.layers.0.self_attn.q_proj.weight"
        let before = try checkpoint.tensor(key)
        XCTAssertThrowsError(try LoRAMerger(checkpoint: checkpoint).apply([LoRAApplication(file: file, textEncoder: 1, unet: 1)])) { error in
            XCTAssertTrue("\(error)".contains("SD 1.x LoRA") && "\(error)".contains("is SDXL"), "\(error)")
        }
        XCTAssertEqual(try checkpoint.tensor(key), before)
    }

    /// The render path end to end: an SDXL LoRA merged, a PNG written whose pixels differ from the
    /// base model's, and the same image again after switching back.
    func testRenderWithAndWithoutLoRA() throws {
        let tokenizer = try ClipTokenizer(vocabularyPath: try RequiredFiles.clipVocabulary())
        let checkpoint = try Checkpoint(path: TinySDXL.singleFile)
        let pipeline = try Pipeline(checkpoint: checkpoint, tokenizer: tokenizer)
        var request = RenderRequest(prompt: [.text("a red cat", weight: 1)])
        request.negative = [.text("blurry", weight: 1)]
        request.steps = 2
        request.width = 128
        request.height = 64
        request.sampler = .euler
        let base = try pipeline.render(request)
        let merger = LoRAMerger(checkpoint: checkpoint)
        try merger.apply([LoRAApplication(file: try LoRAFile(path: Self.directory + "/kohya.safetensors"), textEncoder: 1, unet: 1)])
        let styled = try pipeline.render(request)
        XCTAssertNotEqual(styled.pixels, base.pixels)
        merger.revert()
        XCTAssertEqual(try pipeline.render(request).pixels, base.pixels)
        // Multiples of 8 render (88×72: an 11×9 latent); other sizes are an error naming the rule, not a crash.
        request.width = 88
        request.height = 72
        let odd = try pipeline.render(request)
        XCTAssertEqual([odd.width, odd.height], [88, 72])
        request.width = 100
        XCTAssertThrowsError(try pipeline.render(request)) {
            XCTAssertTrue("\($0)".contains("100x72 is not divisible by 8") && "\($0)".contains("multiples of 8"), "\($0)")
        }
    }
}
