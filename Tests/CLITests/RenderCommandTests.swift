import Foundation
import StylusCore
import XCTest
import TestSupport

/// `stylus render` as a real process on the tiny fixture: composing, variations, usage errors.
final class RenderCommandTests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures").path
    var dir = ""

    override func setUpWithError() throws {
        _ = try RequiredFiles.clipVocabulary()
        dir = NSTemporaryDirectory() + "stylus-render-cli-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDown() { if !dir.isEmpty { try? FileManager.default.removeItem(atPath: dir) } }

    func prompt(_ body: String) throws -> String {
        let path = dir + "/scene.sdprompt"
        try """
            ---
            checkpoint: \(Self.fixtures)/TinySD/tiny-sd15.safetensors
            steps: 2
            size: 64x64
            seed: 9
            base_model: SD 1.5
            ---
            \(body)
            """.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func testComposeVariationsWriteOneImageEachWithItsAdapters() throws {
        let jsonl = dir + "/catalog.jsonl"
        try """
            {"adapter_id": "c-1", "alias": "kohya", "title": "Watercolor Style", "base_model": "SD 1.5", "tags": ["style", "watercolor"], "description": "Watercolor painting style.", "weight": 0.8, "file": "\(Self.fixtures)/LoRA/kohya.safetensors"}
            {"adapter_id": "c-2", "alias": "locon_ldm", "title": "Medieval Castle", "base_model": "SD 1.5", "tags": ["building", "castle"], "description": "Stone castles.", "weight": 0.7, "file": "\(Self.fixtures)/LoRA/locon_ldm.safetensors"}
            """.write(toFile: jsonl, atomically: true, encoding: .utf8)
        let db = dir + "/catalog.sqlite"
        XCTAssertEqual(try CLI.run(["catalog", "import", "--db", db, jsonl]).status, 0)
        let file = try prompt("a castle, watercolor")
        let r = try CLI.run(["render", "--db", db, "--variations", "3", "--mask-seed", "2", "--json", file])
        XCTAssertEqual(r.status, 0, r.stderr)
        let images = r.stdout.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        XCTAssertEqual(images.compactMap { $0["path"] as? String }, (1...3).map { dir + "/scene-\($0).png" })
        XCTAssertEqual(images.compactMap { $0["seed"] as? Int }, [9, 10, 11])
        for image in images {
            let names = (image["adapters"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String }
            let prompt = image["prompt"] as? String ?? ""
            for alias in ["kohya", "locon_ldm"] { XCTAssertEqual(prompt.contains("<lora:\(alias):"), names.contains(alias), prompt) }
            XCTAssertNotNil((image["timings_s"] as? [String: Double])?["compose"])
        }
        XCTAssertTrue(r.stderr.contains("Composing adapters") && r.stderr.contains("step 2/2"), r.stderr)
    }

    func testUsageErrorsExitTwo() throws {
        let file = try prompt("a castle")
        for args in [["--backend", "vllm"], ["--backend", "comfyui ftp://host"], ["--backend", "local, comfyui"], ["--backend", "a1111", "--a1111-url", "ftp://host"], ["--variations", "0"], ["--masks", "some"], ["--size", "65x64"]] {
            let r = try CLI.run(["render"] + args + [file])
            XCTAssertEqual(r.status, 2, "\(args): \(r.stderr)")
            XCTAssertTrue(r.stderr.hasPrefix("stylus render: "), r.stderr)
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".png") }, [])
    }

    func testSeedMinusOneIsARandomSeedNotAnOption() throws {
        let r = try CLI.run(["render", "--json", "--seed", "-1", try prompt("a castle")])
        XCTAssertEqual(r.status, 0, r.stderr)
        let image = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        XCTAssertNotEqual(image["seed"] as? Int, 9, "the frontmatter's seed 9 was not overridden: \(r.stdout)")
    }

    func testA1111ConnectionRefusedIsARuntimeFailure() throws {
        let r = try CLI.run(["render", "--backend", "a1111", "--a1111-url", "http://127.0.0.1:9", try prompt("a castle")])
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains("cannot reach the A1111 server at http://127.0.0.1:9"), r.stderr)
    }

    func testFullOutputNumberingIsAnErrorNotACrash() throws {
        let file = try prompt("a cat")
        XCTAssertTrue(FileManager.default.createFile(atPath: dir + "/scene-9223372036854775807.png", contents: Data()))
        let r = try CLI.run(["render", file])
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains("scene-9223372036854775807.png: no scene-<n>.png number is left after this one"), r.stderr)
    }
}

/// `stylus render` on the tiny SDXL checkpoint: the pipeline comes from the checkpoint.
final class SDXLRenderCommandTests: XCTestCase {
    func testRendersSDXLWithAnSDXLLoRAAndRefusesAnSD1LoRA() throws {
        _ = try RequiredFiles.clipVocabulary()
        let dir = NSTemporaryDirectory() + "stylus-sdxl-cli-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let tiny = RenderCommandTests.fixtures + "/TinySDXL"
        func write(_ body: String, extra: String = "") throws -> String {
            let path = dir + "/xl.sdprompt"
            try """
                ---
                checkpoint: \(tiny)/tiny-sdxl.safetensors
                steps: 2
                size: 128x64
                seed: 5
                sampler: Euler
                lora_dirs: [\(tiny)/LoRA]
                \(extra)
                ---
                \(body)
                Negative prompt: blurry
                """.write(toFile: path, atomically: true, encoding: .utf8)
            return path
        }
        // $STYLUS_PRECISION under no other setting: fp32, whatever the host's bf16 hardware.
        let r = try CLI.run(["render", "--json", try write("a red cat <lora:kohya:0.8>", extra: "clip_skip: 2")],
                            environment: ["STYLUS_PRECISION": "fp32"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let png = dir + "/xl-1.png"
        let data = try Data(contentsOf: URL(fileURLWithPath: png))
        XCTAssertEqual(Array(data.prefix(4)), [0x89, 0x50, 0x4E, 0x47])
        // A1111's parameters: size, model hash, the LoRA's hash.
        let text = String(decoding: data, as: UTF8.self)
        XCTAssertTrue(text.contains("Size: 128x64") && text.contains("Model hash: ") && text.contains("Lora hashes: \"kohya: "), text)
        // A1111's SDXL fields and order exactly: model hash = SHA-256 of the file [:10], Lora hash =
        // addnet SHA-256 (tensor bytes after the header) [:12], both computed with Python's hashlib;
        // Clip skip written as A1111 writes it for SDXL (the setting, though neither applies it).
        XCTAssertTrue(text.contains("\nSteps: 2, Sampler: Euler, CFG scale: 7, Seed: 5, Size: 128x64, Model hash: 30038b3629, "
            + "Model: tiny-sdxl, Clip skip: 2, Lora hashes: \"kohya: 57057b564ffa\", Precision: fp32, Version: stylus"), text)

        let v = try CLI.run(["render", "--json", try write("a red cat", extra: "prediction: v")])
        XCTAssertEqual(v.status, 0, v.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/xl-2.png"))

        let wrong = try CLI.run(["render", try write("a red cat <lora:sd15:1>")])
        XCTAssertEqual(wrong.status, 2, wrong.stderr)  // bad input
        XCTAssertTrue(wrong.stderr.contains("SD 1.x LoRA") && wrong.stderr.contains("is SDXL"), wrong.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/xl-3.png"))

        // `check` opens the catalog: its own data directory, so the user's (possibly from another
        // stylus version) stays out of it.
        let bad = try CLI.run(["check", try write("a red cat", extra: "prediction: x0")], environment: ["STYLUS_HOME": dir + "/home"])
        XCTAssertEqual(bad.status, 1, bad.stdout)
        XCTAssertTrue(bad.stdout.contains("'prediction' must be v or eps (got 'x0')"), bad.stdout)
    }
}
