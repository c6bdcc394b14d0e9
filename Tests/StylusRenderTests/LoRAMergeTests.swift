import Foundation
import StylusML
import StylusRender
import TestSupport
import XCTest

/// Merged weights against the references written by scripts/gen_lora_fixtures.py.
final class LoRAMergeTests: XCTestCase {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fixtures/LoRA").path

    struct Entry: Decodable { let te: Float; let unet: Float; let tensors: Int; let modules: [String] }
    static let reference: [String: Entry] = {
        let data = try! Data(contentsOf: URL(fileURLWithPath: directory + "/reference.json"))
        return try! JSONDecoder().decode([String: Entry].self, from: data)
    }()

    static func lora(_ name: String) throws -> LoRAFile { try LoRAFile(path: "\(directory)/\(name).safetensors") }

    func checkMerge(_ name: String, checkpoint: Checkpoint, file: StaticString = #filePath, line: UInt = #line) throws {
        let entry = try XCTUnwrap(Self.reference[name])
        let merger = LoRAMerger(checkpoint: checkpoint)
        let reports = try merger.apply([LoRAApplication(file: try Self.lora(name), textEncoder: entry.te, unet: entry.unet)])
        XCTAssertEqual(reports.count, 1)
        XCTAssertEqual(reports[0].appliedTensors, entry.tensors, "\(name): every tensor applied", file: file, line: line)
        XCTAssertEqual(reports[0].unusedTensors, [], file: file, line: line)
        XCTAssertEqual(reports[0].modules, entry.modules, "\(name): modules", file: file, line: line)
        let refs = try SafetensorsFile(path: "\(Self.directory)/\(name).reference.safetensors")
        for key in entry.modules {
            let expected = try refs.floats(key)
            let got = try checkpoint.tensor(key).data
            let peak = expected.map(abs).max() ?? 1
            assertClose(got, expected, tolerance: 1e-5 * max(1, peak), "\(name) \(key)")
            XCTAssertNotEqual(got, try checkpoint.baseTensor(key).data, "\(name) \(key) changed", file: file, line: line)
        }
        merger.revert()
        for key in entry.modules {
            XCTAssertEqual(try checkpoint.tensor(key), try checkpoint.baseTensor(key), "\(name) \(key) reverted", file: file, line: line)
        }
    }

    func testEveryFormatMatchesReferenceOnSingleFile() throws {
        let checkpoint = try Checkpoint(path: TinySD.directory + "/tiny-sd15.safetensors")
        for name in ["kohya", "locon_ldm", "loha", "lokr", "lokr_tucker", "peft", "processor", "diff"] {
            try checkMerge(name, checkpoint: checkpoint)
        }
    }

    func testDiffusersFolderCheckpoint() throws {
        let checkpoint = try Checkpoint(path: TinySD.directory + "/diffusers")
        for name in ["kohya", "locon_ldm", "peft"] { try checkMerge(name, checkpoint: checkpoint) }
    }

    func testSameFileTwiceAddsMultipliersAndSetsSwitchExactly() throws {
        let checkpoint = try Checkpoint(path: TinySD.directory + "/tiny-sd15.safetensors")
        let merger = LoRAMerger(checkpoint: checkpoint)
        let kohya = try Self.lora("kohya"), entry = try XCTUnwrap(Self.reference["kohya"])
        try merger.apply([LoRAApplication(file: kohya, textEncoder: entry.te / 2, unet: entry.unet / 2),
                          LoRAApplication(file: kohya, textEncoder: entry.te / 2, unet: entry.unet / 2)])
        let refs = try SafetensorsFile(path: "\(Self.directory)/kohya.reference.safetensors")
        for key in entry.modules { assertClose(try checkpoint.tensor(key).data, try refs.floats(key), tolerance: 1e-5, key) }
        // Switch to another set: kohya's modules not touched by loha return to the base exactly.
        try merger.apply([LoRAApplication(file: try Self.lora("loha"), textEncoder: 0.5, unet: 1)])
        let loha = Set(try XCTUnwrap(Self.reference["loha"]).modules)
        for key in entry.modules where !loha.contains(key) {
            XCTAssertEqual(try checkpoint.tensor(key), try checkpoint.baseTensor(key), key)
        }
        XCTAssertEqual(merger.checkpoint.names.count, checkpoint.names.count)
    }

    func testAliasFromMetadataElseStem() throws {
        XCTAssertEqual(try Self.lora("kohya").alias, "kohya_alias")
        XCTAssertEqual(try Self.lora("loha").alias, "loha")
    }
}

/// A short render with two LoRAs at different multipliers, against the same render from a checkpoint
/// file that holds the reference merged weights (written here in f32).
final class LoRARenderTests: XCTestCase {
    func testTwoLoRAsRenderLikeReferenceWeights() throws {
        let tokenizer = try ClipTokenizer(vocabularyPath: try RequiredFiles.clipVocabulary())
        let base = try Checkpoint(path: TinySD.directory + "/tiny-sd15.safetensors")
        var request = RenderRequest(prompt: [.text("a photograph of an astronaut riding a horse", weight: 1)])
        request.steps = 3
        request.cfgScale = 5
        request.seed = 7
        request.width = 128
        request.height = 64
        request.sampler = .euler
        let warm = try Pipeline(checkpoint: base, tokenizer: tokenizer)
        let plain = try warm.render(request)

        let merger = LoRAMerger(checkpoint: base)
        let a = try XCTUnwrap(LoRAMergeTests.reference["kohya"]), b = try XCTUnwrap(LoRAMergeTests.reference["lokr"])
        try merger.apply([LoRAApplication(file: try LoRAMergeTests.lora("kohya"), textEncoder: a.te, unet: a.unet),
                          LoRAApplication(file: try LoRAMergeTests.lora("lokr"), textEncoder: b.te, unet: b.unet)])
        let merged = try Pipeline(checkpoint: base, tokenizer: tokenizer).render(request)
        // The pipeline built before the merge computes with the patched weights: no rebuild needed.
        XCTAssertEqual(try warm.render(request).pixels, merged.pixels)

        // Reference checkpoint: base + (refA − base) + (refB − base), every tensor f32.
        var tensors: [(String, [Int], [Float])] = []
        let refA = try SafetensorsFile(path: LoRAMergeTests.directory + "/kohya.reference.safetensors")
        let refB = try SafetensorsFile(path: LoRAMergeTests.directory + "/lokr.reference.safetensors")
        for name in base.names {
            var w = try base.baseTensor(name).data
            for ref in [refA, refB] where ref.header[name] != nil {
                let r = try ref.floats(name), o = try base.baseTensor(name).data
                for i in w.indices { w[i] += r[i] - o[i] }
            }
            tensors.append((name, base.shape(name)!, w))
        }
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("stylus-lora-ref-\(UUID()).safetensors").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try writeSafetensors(tensors, to: path)
        let expected = try Pipeline(checkpoint: Checkpoint(path: path), tokenizer: tokenizer).render(request)

        func psnr(_ x: RGBImage, _ y: RGBImage) -> Double {
            var se = 0.0
            for (p, q) in zip(x.pixels, y.pixels) { se += Double((Int(p) - Int(q)) * (Int(p) - Int(q))) }
            let mse = se / Double(x.pixels.count)
            return mse == 0 ? .infinity : 10 * log10(255 * 255 / mse)
        }
        XCTAssertGreaterThanOrEqual(psnr(merged, expected), 40)
        XCTAssertLessThan(psnr(merged, plain), 40, "the LoRAs change the image")
        // Reverting gives back the base render exactly, without reopening the checkpoint.
        merger.revert()
        XCTAssertEqual(try Pipeline(checkpoint: base, tokenizer: tokenizer).render(request).pixels, plain.pixels)
        XCTAssertEqual(try warm.render(request).pixels, plain.pixels)
        // Switching sets in place: the second set alone gives what merging it alone gives.
        try merger.apply([LoRAApplication(file: try LoRAMergeTests.lora("kohya"), textEncoder: a.te, unet: a.unet)])
        try merger.apply([LoRAApplication(file: try LoRAMergeTests.lora("lokr"), textEncoder: b.te, unet: b.unet)])
        let switched = try warm.render(request)
        let fresh = try Checkpoint(path: TinySD.directory + "/tiny-sd15.safetensors")
        try LoRAMerger(checkpoint: fresh).apply([LoRAApplication(file: try LoRAMergeTests.lora("lokr"), textEncoder: b.te, unet: b.unet)])
        XCTAssertEqual(try Pipeline(checkpoint: fresh, tokenizer: tokenizer).render(request).pixels, switched.pixels)
    }
}
