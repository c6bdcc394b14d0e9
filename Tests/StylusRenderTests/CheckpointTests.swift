import Foundation
import StylusML
import StylusRender
import XCTest

/// Writes an f32 safetensors file (test helper; the reader under test is StylusML's).
func writeSafetensors(_ tensors: [(String, [Int], [Float])], to path: String, corruptTail: Int = 0) throws {
    var header = "{"
    var offset = 0
    for (i, (name, shape, data)) in tensors.enumerated() {
        header += (i > 0 ? "," : "") + "\"\(name)\":{\"dtype\":\"F32\",\"shape\":\(shape),\"data_offsets\":[\(offset),\(offset + data.count * 4)]}"
        offset += data.count * 4
    }
    header += "}"
    var bytes = [UInt8]()
    let h = Array(header.utf8)
    withUnsafeBytes(of: UInt64(h.count).littleEndian) { bytes += $0 }
    bytes += h
    for (_, _, data) in tensors { data.withUnsafeBytes { bytes += $0 } }
    bytes.removeLast(corruptTail)
    try Data(bytes).write(to: URL(fileURLWithPath: path))
}

final class CheckpointTests: XCTestCase {
    var tmp: String!

    override func setUpWithError() throws {
        tmp = FileManager.default.temporaryDirectory.appendingPathComponent("stylus-ckpt-\(UUID())").path
        try FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: tmp) }

    static let ldmPath = TinySD.directory + "/tiny-sd15.safetensors"
    static let diffusersPath = TinySD.directory + "/diffusers"

    func testBothLayoutsHoldTheSameWeights() throws {
        let ldm = try Checkpoint(path: Self.ldmPath)
        let diffusers = try Checkpoint(path: Self.diffusersPath)
        XCTAssertEqual(ldm.layout, .singleFile)
        XCTAssertEqual(diffusers.layout, .diffusers)
        XCTAssertEqual(ldm.names, diffusers.names)
        XCTAssertEqual(ldm.config, diffusers.config)
        XCTAssertEqual(ldm.config, SD1Config(textWidth: 16, textLayers: 3, textHeads: 2, textPositions: 77,
                                             unetChannels: [32, 32, 32, 32], contextDim: 16, latentChannels: 4,
                                             vaeChannels: [32, 32, 32, 32], vaeDecoderBlocks: 2))
        // dtypes differ (bf16/fp16/fp32 vs fp16); the fixture's values are exact in all of them.
        XCTAssertEqual(ldm.dtype("cond_stage_model.transformer.text_model.final_layer_norm.weight"), "BF16")
        XCTAssertEqual(ldm.dtype("model.diffusion_model.out.2.weight"), "F16")
        XCTAssertEqual(ldm.dtype("first_stage_model.decoder.conv_in.weight"), "F32")
        for name in ldm.names {
            let a = try ldm.tensor(name)
            let b = try diffusers.tensor(name, shape: a.shape)
            XCTAssertEqual(a, b, name)
        }
        XCTAssertFalse(ldm.names.contains { $0.contains("position_ids") || $0.contains("alphas_cumprod") })
        XCTAssertEqual(ldm.shape("first_stage_model.decoder.mid.attn_1.q.weight"), [32, 32, 1, 1])
        XCTAssertEqual(diffusers.shape("first_stage_model.decoder.mid.attn_1.q.weight"), [32, 32])
    }

    func testKeyMappingRoundTripsOnEveryFixtureName() throws {
        let ldm = try Checkpoint(path: Self.ldmPath)
        var unet = 0, vae = 0
        for name in ldm.names {
            if name.hasPrefix(KeyMapping.unetPrefix) {
                let short = String(name.dropFirst(KeyMapping.unetPrefix.count))
                let d = try XCTUnwrap(KeyMapping.unetToDiffusers(short), short)
                XCTAssertEqual(KeyMapping.unetToLDM(d), short)
                unet += 1
            } else if name.hasPrefix(KeyMapping.vaePrefix) {
                let short = String(name.dropFirst(KeyMapping.vaePrefix.count))
                let d = try XCTUnwrap(KeyMapping.vaeToDiffusers(short), short)
                XCTAssertEqual(KeyMapping.vaeToLDM(d), short)
                vae += 1
            }
        }
        XCTAssertGreaterThan(unet, 300)
        XCTAssertGreaterThan(vae, 100)
        XCTAssertEqual(KeyMapping.unetToDiffusers("input_blocks.4.1.transformer_blocks.0.attn1.to_q.weight"),
                       "down_blocks.1.attentions.0.transformer_blocks.0.attn1.to_q.weight")
        XCTAssertEqual(KeyMapping.unetToDiffusers("output_blocks.8.2.conv.bias"), "up_blocks.2.upsamplers.0.conv.bias")
        XCTAssertEqual(KeyMapping.unetToDiffusers("output_blocks.2.1.conv.weight"), "up_blocks.0.upsamplers.0.conv.weight")
        XCTAssertEqual(KeyMapping.unetToDiffusers("input_blocks.9.0.op.weight"), "down_blocks.2.downsamplers.0.conv.weight")
        XCTAssertEqual(KeyMapping.vaeToDiffusers("decoder.up.3.block.0.nin_shortcut.weight"),
                       "decoder.up_blocks.0.resnets.0.conv_shortcut.weight")
        XCTAssertEqual(KeyMapping.unetToDiffusers("label_emb.0.0.weight"), "add_embedding.linear_1.weight")  // SDXL's
        XCTAssertNil(KeyMapping.unetToDiffusers("label_emb.1.weight"))
    }

    func testOldTextEncoderLayoutLoads() throws {
        let ldm = try Checkpoint(path: Self.ldmPath)
        let oldClip = KeyMapping.textPrefix + "text_model."
        var tensors: [(String, [Int], [Float])] = []
        for name in ldm.names {
            let t = try ldm.tensor(name)
            let stored = name.hasPrefix(oldClip) ? KeyMapping.textPrefix + name.dropFirst(oldClip.count) : name
            tensors.append((stored, t.shape, t.data))
        }
        let path = tmp + "/old.safetensors"
        try writeSafetensors(tensors, to: path)
        let old = try Checkpoint(path: path)
        XCTAssertEqual(old.names, ldm.names)
        XCTAssertEqual(try old.tensor(oldClip + "embeddings.token_embedding.weight"),
                       try ldm.tensor(oldClip + "embeddings.token_embedding.weight"))
    }

    func testOtherArchitecturesAndBrokenFilesGiveClearErrors() throws {
        let ldm = try Checkpoint(path: Self.ldmPath)
        func variant(_ file: String, _ edit: (inout [(String, [Int], [Float])]) -> Void, corruptTail: Int = 0) throws -> String {
            var tensors: [(String, [Int], [Float])] = try ldm.names.map { ($0, ldm.shape($0)!, try ldm.tensor($0).data) }
            edit(&tensors)
            let path = tmp + "/" + file
            try writeSafetensors(tensors, to: path, corruptTail: corruptTail)
            return path
        }
        func expect(_ path: String, _ fragment: String, line: UInt = #line) {
            XCTAssertThrowsError(try Checkpoint(path: path), line: line) { e in
                XCTAssertTrue("\(e)".contains(fragment), "\(e)", line: line)
                XCTAssertTrue("\(e)".contains(path), "\(e)", line: line)
            }
        }
        expect(try variant("sdxl.safetensors") { $0.append(("conditioner.embedders.1.model.ln_final.weight", [2], [1, 1])) }, "SDXL")
        expect(try variant("sd2.safetensors") { $0.append(("cond_stage_model.model.ln_final.weight", [2], [1, 1])) }, "SD 2.x")
        expect(try variant("sd2linear.safetensors") { t in
            let i = t.firstIndex { $0.0 == "model.diffusion_model.input_blocks.1.1.proj_in.weight" }!
            t[i].1 = [32, 32]
        }, "SD 2.x")
        expect(try variant("inpaint.safetensors") { t in
            let i = t.firstIndex { $0.0 == "model.diffusion_model.input_blocks.0.0.weight" }!
            t[i] = (t[i].0, [32, 9, 3, 3], [Float](repeating: 0, count: 32 * 9 * 9))
        }, "inpainting")
        expect(try variant("novae.safetensors") { $0.removeAll { $0.0.hasPrefix("first_stage_model.") } }, "missing weight first_stage_model.")
        expect(try variant("unknown.safetensors") { t in t = [("foo.weight", [2], [1, 2])] }, "no Stable Diffusion UNet")
        expect(try variant("truncated.safetensors", { _ in }, corruptTail: 1000), "truncated")
        try Data("not a checkpoint".utf8).write(to: URL(fileURLWithPath: tmp + "/text.safetensors"))
        expect(tmp + "/text.safetensors", "safetensors")
        expect(tmp + "/does-not-exist.safetensors", "no such checkpoint")
        try FileManager.default.createDirectory(atPath: tmp + "/emptyfolder", withIntermediateDirectories: true)
        expect(tmp + "/emptyfolder", "unet/diffusion_pytorch_model.safetensors")
    }

    func testNaNWeightsAreRefusedWhenRead() throws {
        let ldm = try Checkpoint(path: Self.ldmPath)
        var tensors: [(String, [Int], [Float])] = try ldm.names.map { ($0, ldm.shape($0)!, try ldm.tensor($0).data) }
        let i = tensors.firstIndex { $0.0 == "model.diffusion_model.out.2.weight" }!
        tensors[i].2[5] = .nan
        let path = tmp + "/nan.safetensors"
        try writeSafetensors(tensors, to: path)
        let ckpt = try Checkpoint(path: path)
        XCTAssertThrowsError(try ckpt.tensor("model.diffusion_model.out.2.weight")) { e in
            XCTAssertTrue("\(e)".contains("nan at element 5"), "\(e)")
        }
        XCTAssertThrowsError(try ckpt.tensor("model.diffusion_model.out.2.weight", shape: [7])) { e in
            XCTAssertTrue("\(e)".contains("expected [7]"), "\(e)")
        }
    }
}
