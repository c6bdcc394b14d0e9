import Foundation
import TestSupport
import XCTest

/// The CLI survives prompt files whose numbers are huge or not finite (they once ended it with SIGILL).
final class HostileNumberCLITests: XCTestCase {
    static let prompts = HostilePrompts.numbers

    func testParseExitsZeroOnHostileNumbers() throws {
        for text in Self.prompts {
            let stdin = Data((text + "\n").utf8)
            let plain = try CLI.run(["parse", "-"], stdin: stdin)
            XCTAssertEqual(plain.status, 0, "\(text): \(plain.stderr)")
            let json = try CLI.run(["parse", "--json", "-"], stdin: stdin)
            XCTAssertEqual(json.status, 0, "\(text): \(json.stderr)")
            XCTAssertNoThrow(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)), text)
        }
        let r = try CLI.run(["parse", "-"], stdin: Data("a cat, <lora:x:1e30>\n".utf8))
        XCTAssertTrue(r.stdout.contains("error [weight-range] LoRA text-encoder weight 1e30 is out of range"), r.stdout)
    }

    func testComposeDoesNotCrashOnHostileNumbers() throws {
        let home = FileManager.default.temporaryDirectory.appendingPathComponent("stylus-hostile-\(ProcessInfo.processInfo.processIdentifier)").path
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        for (i, text) in Self.prompts.enumerated() {
            let file = try CLI.temporaryFile("hostile-\(i).sdprompt", Data((text + "\n").utf8))
            let r = try CLI.run(["compose", "--db", home + "/catalog.sqlite", file.path], environment: ["STYLUS_HOME": home])
            XCTAssertEqual(r.status, 0, "\(text): \(r.stderr)")
            XCTAssertFalse(r.stdout.isEmpty, text)
        }
    }
}
