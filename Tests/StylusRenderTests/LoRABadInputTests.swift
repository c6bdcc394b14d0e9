import Foundation
import StylusML
import StylusRender
import XCTest

/// Broken or foreign LoRA files: a clear error, and the weights in place before stay in place.
final class LoRABadInputTests: XCTestCase {
    var tmp: String!
    let q = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q"
    let qKey = "model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn1.to_q.weight"

    override func setUpWithError() throws {
        tmp = FileManager.default.temporaryDirectory.appendingPathComponent("stylus-lora-\(UUID())").path
        try FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: tmp) }

    func file(_ name: String, _ tensors: [(String, [Int], [Float])], corruptTail: Int = 0) throws -> String {
        let path = "\(tmp!)/\(name).safetensors"
        try writeSafetensors(tensors, to: path, corruptTail: corruptTail)
        return path
    }

    func ones(_ n: Int) -> [Float] { [Float](repeating: 0.01, count: n) }

    /// Applies a good LoRA, then `bad`; expects `check` to accept the error and the good merge to survive.
    func expectFailure(_ path: String, _ check: (LoRAError) -> Bool, line: UInt = #line) throws {
        let checkpoint = try Checkpoint(path: TinySD.directory + "/tiny-sd15.safetensors")
        let merger = LoRAMerger(checkpoint: checkpoint)
        let good = try LoRAFile(path: LoRAMergeTests.directory + "/kohya.safetensors")
        try merger.apply([LoRAApplication(file: good, textEncoder: 1, unet: 1)])
        let before = try checkpoint.tensor(qKey)
        do {
            let bad = try LoRAFile(path: path)
            try merger.apply([LoRAApplication(file: good, textEncoder: 1, unet: 1), LoRAApplication(file: bad, textEncoder: 1, unet: 1)])
            XCTFail("\(path) was accepted", line: line)
        } catch let error as LoRAError {
            XCTAssertTrue(check(error), "unexpected error \(error)", line: line)
            XCTAssertTrue(error.description.contains(path), "message names the file: \(error)", line: line)
        }
        XCTAssertEqual(try checkpoint.tensor(qKey), before, "weights unchanged", line: line)
    }

    func testTruncatedFile() throws {
        let path = try file("truncated", [("\(q).lora_down.weight", [4, 32], ones(128)), ("\(q).lora_up.weight", [32, 4], ones(128))], corruptTail: 100)
        try expectFailure(path) { if case .unreadable = $0 { return true }; return false }
    }

    func testMismatchedShapes() throws {
        let path = try file("shapes", [("\(q).lora_down.weight", [4, 16], ones(64)), ("\(q).lora_up.weight", [32, 4], ones(128))])
        try expectFailure(path) { if case let .badTensor(_, name, reason) = $0 { return name.hasSuffix("lora_down.weight") && reason.contains("shape") }; return false }
    }

    func testRankZero() throws {
        let path = try file("rank0", [("\(q).lora_down.weight", [0, 32], []), ("\(q).lora_up.weight", [32, 0], [])])
        try expectFailure(path) { if case let .badTensor(_, _, reason) = $0 { return reason.contains("rank 0") }; return false }
    }

    func testNaNAlpha() throws {
        let path = try file("nan", [("\(q).lora_down.weight", [4, 32], ones(128)), ("\(q).lora_up.weight", [32, 4], ones(128)),
                                    ("\(q).alpha", [], [.nan])])
        try expectFailure(path) { if case let .badTensor(_, name, reason) = $0 { return name.hasSuffix(".alpha") && reason.contains("nan") }; return false }
    }

    func testUnknownKeysOnly() throws {
        let path = try file("unknown", [("lora_unet_no_such_module.lora_down.weight", [4, 32], ones(128)),
                                        ("lora_unet_no_such_module.lora_up.weight", [32, 4], ones(128)), ("something_else", [2], [1, 2])])
        try expectFailure(path) { if case .noMatchingTensors = $0 { return true }; return false }
    }

    func testSDXLLoRAIsRefused() throws {
        let path = LoRAMergeTests.directory + "/sdxl.safetensors"
        let file = try LoRAFile(path: path)
        XCTAssertEqual(file.architecture, .sdxl)
        let checkpoint = try Checkpoint(path: TinySD.directory + "/tiny-sd15.safetensors")
        let name = "model.diffusion_model.input_blocks.4.1.transformer_blocks.0.attn2.to_k.weight"
        let before = try checkpoint.tensor(name)
        XCTAssertThrowsError(try LoRAMerger(checkpoint: checkpoint).apply([LoRAApplication(file: file, textEncoder: 1, unet: 1)])) { error in
            guard case let .wrongArchitecture(_, reason) = error as? LoRAError else { return XCTFail("\(error)") }
            XCTAssertTrue(reason.contains("SDXL LoRA") && reason.contains("is SD 1.x"), reason)
        }
        XCTAssertEqual(try checkpoint.tensor(name), before)
    }

    func testUnusedTensorsAreReported() throws {
        let path = try file("partial", [("\(q).lora_down.weight", [4, 32], ones(128)), ("\(q).lora_up.weight", [32, 4], ones(128)),
                                        ("\(q).dora_scale", [32, 1], ones(32)), ("lora_unet_nowhere.lora_down.weight", [1, 1], [1])])
        let checkpoint = try Checkpoint(path: TinySD.directory + "/tiny-sd15.safetensors")
        let reports = try LoRAMerger(checkpoint: checkpoint).apply([LoRAApplication(file: try LoRAFile(path: path), textEncoder: 1, unet: 1)])
        XCTAssertEqual(reports.first?.appliedTensors, 2)
        XCTAssertEqual(reports.first?.totalTensors, 4)
        XCTAssertEqual(reports.first?.unusedTensors, ["\(q).dora_scale", "lora_unet_nowhere.lora_down.weight"])
    }
}
