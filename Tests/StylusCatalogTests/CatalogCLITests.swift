import Foundation
import XCTest

/// `stylus catalog …` as a real process: outputs, stderr lines and exit codes (docs/CONTRACTS.md, CLI).
final class CatalogCLITests: XCTestCase {
    struct Run {
        var status: Int32
        var out: String
        var err: String
    }

    static var binary: String {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("stylus").path
    }

    func stylus(_ args: [String], env: [String: String] = [:]) throws -> Run {
        guard FileManager.default.isExecutableFile(atPath: Self.binary) else {
            XCTFail("\(Self.binary) is missing; build the package before testing")
            return Run(status: -1, out: "", err: "")
        }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Self.binary)
        p.arguments = args
        var environment = ProcessInfo.processInfo.environment
        environment.removeValue(forKey: "STYLUS_DB")
        for (k, v) in env { environment[k] = v }
        p.environment = environment
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return Run(status: p.terminationStatus, out: String(decoding: o, as: UTF8.self), err: String(decoding: e, as: UTF8.self))
    }

    func testImportExportShowStatsRemove() throws {
        let db = try Support.tempDir() + "/c.sqlite"
        let imp = try stylus(["catalog", "import", "--db", db, Support.fixture("stylusdocs.jsonl"), Support.fixture("civitai_models_page.json")])
        XCTAssertEqual(imp.status, 0, imp.err)
        XCTAssertTrue(imp.out.contains("imported: 8 added"), imp.out)
        XCTAssertTrue(imp.err.contains("stylus: stylusdocs.jsonl:2: not valid JSON"), imp.err)

        let export = try stylus(["catalog", "export", "--jsonl", "--db", db])
        XCTAssertEqual(export.status, 0)
        let lines = export.out.split(separator: "\n")
        XCTAssertEqual(lines.count, 8)
        for line in lines {
            let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            XCTAssertEqual(Set(object.keys), ["adapter_id", "alias", "title", "base_model", "category", "weight",
                                              "trigger_words", "refined_description", "nsfw"])
        }

        let show = try stylus(["catalog", "show", "--json", "--db", db, "paperboat_v1"])
        XCTAssertEqual(show.status, 0, show.err)
        let card = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(show.out.utf8)) as? [String: Any])
        XCTAssertEqual(card["weight"] as? Double, 0.7)
        XCTAssertEqual(card["category"] as? String, "object")
        XCTAssertEqual(try stylus(["catalog", "show", "--db", db, "no-such-adapter"]).status, 2)

        let stats = try stylus(["catalog", "stats", "--json", "--db", db])
        XCTAssertEqual(stats.status, 0)
        XCTAssertTrue(stats.out.contains("\"adapters\":8"), stats.out)

        let removed = try stylus(["catalog", "remove", "--db", db, "paperboat_v1"])
        XCTAssertEqual(removed.status, 0)
        XCTAssertEqual(try stylus(["catalog", "remove", "--db", db, "paperboat_v1"]).status, 2)
    }

    func testExitCodes() throws {
        let dir = try Support.tempDir()
        let db = dir + "/c.sqlite"
        // Nothing readable: exit 2 with one clear line.
        let missing = try stylus(["catalog", "import", "--db", db, dir + "/missing.jsonl"])
        XCTAssertEqual(missing.status, 2)
        XCTAssertEqual(missing.err.split(separator: "\n").first.map(String.init), "stylus: \(dir)/missing.jsonl: cannot read: no such file")
        let allBad = dir + "/bad.jsonl"
        try Support.write(allBad, Array("not json\n{also not\n".utf8))
        XCTAssertEqual(try stylus(["catalog", "import", "--db", db, allBad]).status, 2)
        // Some good lines: success (bad lines reported).
        XCTAssertEqual(try stylus(["catalog", "import", "--db", db, Support.fixture("stylusdocs.jsonl")]).status, 0)
        // A database from the future: refused, nothing touched.
        let junk = dir + "/junk.sqlite"
        try Support.write(junk, [UInt8](repeating: 0x41, count: 8192))
        let notDB = try stylus(["catalog", "stats", "--db", junk])
        XCTAssertEqual(notDB.status, 2)
        XCTAssertTrue(notDB.err.contains("not a SQLite catalog"), notDB.err)
        XCTAssertEqual(try stylus(["catalog", "export", "--db", db]).status, 2, "export without --jsonl")
        let scan = try stylus(["catalog", "scan", "--db", db, dir + "/nofolder"])
        XCTAssertEqual(scan.status, 2)
        XCTAssertTrue(scan.err.contains("no such folder"))
    }

    func testFreshInstallGetsTheStarterCatalog() throws {
        let home = try Support.tempDir()
        let run = try stylus(["catalog", "stats", "--json"], env: ["STYLUS_HOME": home])
        XCTAssertEqual(run.status, 0, run.err)
        XCTAssertTrue(run.err.contains("with the starter catalog"))
        let stats = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(run.out.utf8)) as? [String: Any])
        XCTAssertGreaterThanOrEqual(stats["adapters"] as? Int ?? 0, 150)
        XCTAssertTrue(FileManager.default.fileExists(atPath: home + "/catalog.sqlite"))
    }

    func testScanCommand() throws {
        let dir = try Support.tempDir()
        try Support.writeLoRA(dir + "/a.safetensors", metadata: ["ss_output_name": "alpha"])
        try Support.write(dir + "/bad.safetensors", [1, 2, 3])
        let db = dir + "/c.sqlite"
        let run = try stylus(["catalog", "scan", "--json", "--db", db, dir])
        XCTAssertEqual(run.status, 0, run.err)
        let report = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(run.out.utf8)) as? [String: Any])
        XCTAssertEqual(report["added"] as? Int, 1)
        XCTAssertEqual((report["skipped"] as? [Any])?.count, 1)
        let show = try stylus(["catalog", "show", "--db", db, "alpha"])
        XCTAssertTrue(show.out.contains("SHA256 "), show.out)
    }
}
