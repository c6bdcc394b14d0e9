import Foundation
import XCTest

/// `stylus check` as a real process over a real imported catalog: every diagnostic the editor
/// shows, in both output forms, with the exit codes a pre-commit hook relies on.
final class CheckCommandTests: XCTestCase {
    private func file(_ name: String, _ text: String) throws -> String {
        try CLI.temporaryFile("check-\(UUID().uuidString)-\(name)", Data(text.utf8)).path
    }

    func testGoodFileExitsZeroWithOnlyHints() throws {
        let db = try ComposeCommandTests.importedCatalog()
        let good = try file("good.sdprompt", "---\nbase_model: SD 1.5\n---\na watercolor painting of a dog, <lora:dogs_v1:0.6>\n")
        let r = try CLI.run(["check", "--db", db, good])
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        // Hints do not fail a check, but they are shown as in the editor.
        XCTAssertTrue(r.stdout.contains(": hint: ") && r.stdout.contains("[adapter-available]"), r.stdout)
        XCTAssertFalse(r.stdout.contains("warning") || r.stdout.contains("error"), r.stdout)
    }

    func testABaseModelTheCatalogDoesNotHaveIsAWarningOnItsLine() throws {
        let db = try ComposeCommandTests.importedCatalog()
        let unknown = try file("unknown-base.sdprompt", "---\nsteps: 20\nbase_model: SD 1.6\n---\na watercolor painting of a dog\n")
        let r = try CLI.run(["check", "--db", db, unknown])
        XCTAssertEqual(r.status, 1, r.stdout + r.stderr)
        XCTAssertTrue(r.stdout.contains(unknown + ":3:1: warning: No adapter in the catalog is for base model 'SD 1.6', so none can be "
                                        + "proposed or composed; the catalog has SD 1.5 ("), r.stdout)
        XCTAssertTrue(r.stdout.contains("[base-model-mismatch]"), r.stdout)
        // A base model the catalog has, or none at all, says nothing about it.
        for text in ["---\nbase_model: SD 1.5\n---\na dog\n", "a dog\n"] {
            let r = try CLI.run(["check", "--db", db, try file("known-base.sdprompt", text)])
            XCTAssertFalse(r.stdout.contains("No adapter in the catalog is for base model"), r.stdout)
        }
    }

    func testBadFileReportsPromptAndCatalogProblemsAndExitsOne() throws {
        let db = try ComposeCommandTests.importedCatalog()
        let good = try file("good.sdprompt", "a dog\n")
        let bad = try file("bad.sdprompt", "---\nbase_model: SD 1.5\nstpes: 20\n---\na (dog, <lora:dogs_xl:0.8>, <lora:nope_v9:1>, <lora:clifford:0.7>\n")
        let r = try CLI.run(["check", "--db", db, good, bad])
        XCTAssertEqual(r.status, 1, r.stdout + r.stderr)
        let lines = r.stdout.split(separator: "\n").map(String.init)
        XCTAssertTrue(lines.allSatisfy { $0.hasPrefix(bad + ":") || $0.hasPrefix(good + ":") }, r.stdout)
        XCTAssertTrue(lines.contains { $0.hasPrefix(bad + ":3:1: warning: Unknown setting 'stpes'. Did you mean 'steps'?") && $0.hasSuffix("[frontmatter]") }, r.stdout)
        XCTAssertTrue(lines.contains(bad + ":5:3: error: '(' is never closed; add ')' (A1111 applies ×1.1 to the rest of the prompt). [syntax]"), r.stdout)
        XCTAssertTrue(lines.contains { $0.hasPrefix(bad + ":5:15: warning: 'dogs_xl' is a SDXL 1.0 adapter") && $0.hasSuffix("[base-model-mismatch]") }, r.stdout)
        XCTAssertTrue(lines.contains(bad + ":5:35: warning: Unknown LoRA 'nope_v9': no adapter in the catalog has this alias or file name. [unknown-lora]"), r.stdout)
        XCTAssertTrue(lines.contains { $0.hasPrefix(bad + ":5:53: information: 'clifford' works best") && $0.hasSuffix("[missing-trigger]") }, r.stdout)
        XCTAssertTrue(lines.contains { $0.hasPrefix(bad + ":5:4: hint: An adapter fits 'dog': dogs_v1") && $0.hasSuffix("[adapter-available]") }, r.stdout)

        let json = try CLI.run(["check", "--json", "--db", db, good, bad])
        XCTAssertEqual(json.status, 1)
        let obj = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        let files = try XCTUnwrap(obj["files"] as? [[String: Any]])
        XCTAssertEqual(files.map { $0["path"] as? String }, [good, bad])
        let diagnostics = try XCTUnwrap(files[1]["diagnostics"] as? [[String: Any]])
        let unknown = try XCTUnwrap(diagnostics.first { $0["code"] as? String == "unknown-lora" })
        XCTAssertEqual(unknown["severity"] as? String, "warning")
        XCTAssertEqual(unknown["line"] as? Int, 5)
        XCTAssertEqual(unknown["column"] as? Int, 35)
        XCTAssertEqual(unknown["message"] as? String, "Unknown LoRA 'nope_v9': no adapter in the catalog has this alias or file name.")
        XCTAssertTrue(diagnostics.allSatisfy { ["error", "warning", "information", "hint"].contains($0["severity"] as? String ?? "") })
    }

    func testUsageErrorsExitTwo() throws {
        let good = try file("good.sdprompt", "a dog\n")
        for args in [["check"], ["check", "/nonexistent/x.sdprompt"], ["check", "--db", "/nonexistent/catalog.sqlite", good]] {
            let r = try CLI.run(args)
            XCTAssertEqual(r.status, 2, "\(args): \(r.stderr)")
            XCTAssertTrue(r.stderr.hasPrefix("stylus check: "), r.stderr)
            XCTAssertEqual(r.stdout, "")
        }
    }
}
