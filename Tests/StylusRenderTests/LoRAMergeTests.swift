import Foundation
import StylusML
import StylusRender
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
        for name in ["kohya", "locon_ldm", "loha", "lokr", "peft", "processor", "diff"] {
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
