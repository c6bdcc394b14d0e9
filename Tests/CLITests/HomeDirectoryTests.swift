import Foundation
import XCTest

/// `$HOME` decides the data directory (as it does for scripts/setup), not the account entry.
final class HomeDirectoryTests: XCTestCase {
    func testDataDirectoryFollowsHOME() throws {
        let home = FileManager.default.temporaryDirectory.appendingPathComponent("stylus-home-\(ProcessInfo.processInfo.processIdentifier)").path
        try? FileManager.default.removeItem(atPath: home)
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: home) }
        var env = ProcessInfo.processInfo.environment
        for key in ["STYLUS_HOME", "XDG_DATA_HOME", "STYLUS_DB"] { env[key] = nil }
        env["HOME"] = home
        let r = try CLI.run(["catalog", "stats", "--json"], replacingEnvironment: env)
        XCTAssertEqual(r.status, 0, r.stderr)
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(json["path"] as? String, home + "/.local/share/stylus/catalog.sqlite")
        XCTAssertTrue(FileManager.default.fileExists(atPath: home + "/.local/share/stylus/catalog.sqlite"))
    }

    func testRenderExpandsTildeInFrontmatterWithHOME() throws {
        let home = "/nonexistent/stylus-home-\(ProcessInfo.processInfo.processIdentifier)"
        let file = try CLI.temporaryFile("tilde.sdprompt", Data("---\ncheckpoint: ~/nothing.safetensors\nsteps: 1\n---\na cat\n".utf8))
        let r = try CLI.run(["render", file.path], environment: ["HOME": home])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.contains("\(home)/nothing.safetensors: no such checkpoint file"), r.stderr)
    }
}
