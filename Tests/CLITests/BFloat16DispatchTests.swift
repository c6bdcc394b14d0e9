import Foundation
import XCTest
import TestSupport

/// Each bf16 dispatch path forced with `STYLUS_BF16_ISA` in a real `stylus` process (the path is
/// chosen once per process): a render's PNG parameters say which precision it used. Paths this
/// host lacks are skipped with the reason, after checking that asking for them fails clearly.
final class BFloat16DispatchTests: XCTestCase {
    var dir = ""

    override func setUpWithError() throws {
        _ = try RequiredFiles.clipVocabulary()
        dir = NSTemporaryDirectory() + "stylus-bf16-cli-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDown() { if !dir.isEmpty { try? FileManager.default.removeItem(atPath: dir) } }

    private func prompt(precision: String?) throws -> String {
        let path = dir + "/scene.sdprompt"
        try """
            ---
            checkpoint: \(RenderCommandTests.fixtures)/TinySD/tiny-sd15.safetensors
            steps: 2
            size: 64x64
            seed: 9
            \(precision.map { "precision: \($0)" } ?? "")
            ---
            a lighthouse at dusk
            """.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// The precision the PNG's parameters record, from `--json`.
    private func render(_ file: String, isa: String, extra: [String] = []) throws -> (CLIResult, String?) {
        let r = try CLI.run(["render", "--json"] + extra + [file], environment: ["STYLUS_BF16_ISA": isa], timeout: 300)
        XCTAssertFalse(r.timedOut, "render hung")
        guard r.status == 0, let line = r.stdout.split(separator: "\n").last,
              let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
              let parameters = object["parameters"] as? String else { return (r, nil) }
        let field = parameters.components(separatedBy: ", ").first { $0.hasPrefix("Precision: ") }
        return (r, field.map { String($0.dropFirst("Precision: ".count)) })
    }

    /// The host's bf16 path as `stylus render --benchmark` reports it on the tiny checkpoint.
    private func hostPath(isa: String) throws -> String {
        let r = try CLI.run(["render", "--benchmark", "--checkpoint", "\(RenderCommandTests.fixtures)/TinySD/tiny-sd15.safetensors",
                             "--size", "64x64", "--steps", "1"], environment: ["STYLUS_BF16_ISA": isa], timeout: 300)
        XCTAssertEqual(r.status, 0, r.stderr)
        let object = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
        return object?["bf16_path"] as? String ?? "missing"
    }

    func testFP32IsForcedAndAutoFollowsIt() throws {
        XCTAssertEqual(try hostPath(isa: "fp32"), "none")
        let (auto, used) = try render(try prompt(precision: nil), isa: "fp32")
        XCTAssertEqual(auto.status, 0, auto.stderr)
        XCTAssertEqual(used, "fp32")
        let (explicit, _) = try render(try prompt(precision: "bf16"), isa: "fp32")
        XCTAssertEqual(explicit.status, 2, explicit.stderr)
        XCTAssertTrue(explicit.stderr.contains("precision bf16 is not available here: bf16 is turned off by STYLUS_BF16_ISA=fp32"), explicit.stderr)
    }

    func testAVX512BF16Path() throws {
        let path = try hostPath(isa: "avx512_bf16")
        let file = try prompt(precision: "bf16")
        guard path == "avx512_bf16" else {
            let (r, _) = try render(file, isa: "avx512_bf16")
            XCTAssertEqual(r.status, 2, r.stderr)
            XCTAssertTrue(r.stderr.contains("precision bf16 is not available here"), r.stderr)
            throw XCTSkip("AVX512-BF16 path not exercised: this host has no AVX512-BF16 (\(path))")
        }
        let (r, used) = try render(file, isa: "avx512_bf16")
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(used, "bf16")
        // auto is bf16 on this host; --precision on the command line wins over the frontmatter.
        XCTAssertEqual(try render(try prompt(precision: nil), isa: "avx512_bf16").1, "bf16")
        XCTAssertEqual(try render(file, isa: "avx512_bf16", extra: ["--precision", "fp32"]).1, "fp32")
    }

    func testAMXPath() throws {
        let path = try hostPath(isa: "amx")
        guard path == "amx" else {
            let (r, _) = try render(try prompt(precision: "bf16"), isa: "amx")
            XCTAssertEqual(r.status, 2, r.stderr)
            XCTAssertTrue(r.stderr.contains("precision bf16 is not available here"), r.stderr)
            throw XCTSkip("AMX path not exercised: this host has no AMX-BF16 tiles (\(path))")
        }
        let (r, used) = try render(try prompt(precision: "bf16"), isa: "amx")
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(used, "bf16")
    }

    func testUnknownPrecisionIsAUsageError() throws {
        let r = try CLI.run(["render", "--precision", "fp16", try prompt(precision: nil)])
        XCTAssertEqual(r.status, 2, r.stderr)
        XCTAssertTrue(r.stderr.contains("unknown precision 'fp16'; use auto, bf16 or fp32"), r.stderr)
        let bad = try CLI.run(["check", try prompt(precision: "half")])
        XCTAssertTrue((bad.stdout + bad.stderr).contains("'precision' must be auto, bf16 or fp32 (got 'half')"), bad.stdout + bad.stderr)
    }
}
