import Foundation
import JSONRPC
import LSP
import StylusCore
import StylusRender
import TestSupport
import XCTest

/// The same prompt file through the CLI (`stylus compose`, `stylus render --compose`, a real
/// process) and through the language server (`stylus.compose`, `stylus.render`): the same settings
/// are read (frontmatter `debias` and `restore_concepts`), so the same composition and the same
/// render parameters come out.
final class FrontEndParityTests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures").path
    private var dir = ""
    private var client: TestClient?

    override func setUpWithError() throws {
        _ = try RequiredFiles.clipVocabulary()
        dir = NSTemporaryDirectory() + "stylus-parity-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDown() {
        client?.stop()
        if !dir.isEmpty { try? FileManager.default.removeItem(atPath: dir) }
    }

    private func cli(_ arguments: [String], environment: [String: String] = [:]) throws -> (status: Int32, stdout: String, stderr: String) {
        let process = Process()
        process.executableURL = try ServerProcess.binary()
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: outData, as: UTF8.self), String(decoding: errData, as: UTF8.self))
    }

    private func parameters(_ path: String) throws -> String {
        let png = try XCTUnwrap(FileManager.default.contents(atPath: path), path)
        return try XCTUnwrap(PNGText.textChunks(Array(png))["parameters"], path)
    }

    func testComposeAndRenderAgreeBetweenCLIAndServer() async throws {
        let jsonl = dir + "/catalog.jsonl"
        try """
            {"adapter_id": "c-1", "alias": "kohya", "title": "Watercolor Style", "base_model": "SD 1.5", "tags": ["style", "watercolor"], "description": "Watercolor painting style.", "weight": 0.8, "file": "\(Self.fixtures)/LoRA/kohya.safetensors"}
            {"adapter_id": "c-2", "alias": "locon_ldm", "title": "Medieval Castle", "base_model": "SD 1.5", "tags": ["building", "castle"], "description": "Stone castles.", "weight": 0.7, "file": "\(Self.fixtures)/LoRA/locon_ldm.safetensors"}
            """.write(toFile: jsonl, atomically: true, encoding: .utf8)
        let db = dir + "/catalog.sqlite"
        XCTAssertEqual(try cli(["catalog", "import", "--db", db, jsonl]).status, 0)
        let path = dir + "/scene.sdprompt"
        let text = """
            ---
            checkpoint: \(Self.fixtures)/TinySD/tiny-sd15.safetensors
            steps: 2
            size: 64x64
            seed: 9
            base_model: SD 1.5
            debias: best quality
            restore_concepts: true
            ---
            a castle, watercolor, a lighthouse
            """
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        // The frontmatter's settings shape the prompt: debias text, and the topics without an adapter
        // emphasised. With the sentence-embedding model (installed by set-up) every front end
        // composes semantically: "castle" finds "Medieval Castle".
        let expected = "a castle, watercolor, a (lighthouse:1.1), best quality, <lora:locon_ldm:0.56>, <lora:kohya:0.64>"
        _ = try RequiredFiles.miniLMDirectory()

        // CLI
        let composed = try cli(["compose", "--json", "--db", db, path])
        XCTAssertEqual(composed.status, 0, composed.stderr)
        let cliCompose = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(composed.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(cliCompose["prompt_with_adapters"] as? String, expected)
        // Without the model, the keyword-only mode (its own model and thresholds) finds both adapters
        // by their names, and says that it is the degraded mode.
        let keywordsOnly = try cli(["compose", "--json", "--db", db, path], environment: ["STYLUS_HOME": dir + "/no-models"])
        let cliKeywords = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(keywordsOnly.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(cliKeywords["prompt_with_adapters"] as? String, expected)
        XCTAssertTrue(keywordsOnly.stderr.contains("keyword"), "the degraded mode says so: \(keywordsOnly.stderr)")
        let rendered = try cli(["render", "--compose", "--json", "--db", db, path])
        XCTAssertEqual(rendered.status, 0, rendered.stderr)
        let cliImage = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(rendered.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(cliImage["prompt"] as? String, expected)
        let cliPNG = try XCTUnwrap(cliImage["path"] as? String)

        // Server
        var options = LanguageServer.Options()
        options.diagnosticsDelay = .milliseconds(10)
        // The data directory set-up installed the models in (the catalog is named explicitly).
        options.environment = ["STYLUS_HOME": DataPaths(environment: ProcessInfo.processInfo.environment).dataDirectory]
        options.renderCommand = RenderCommandHandler(session: RenderSession(configuration: .installed()))
        let client = TestClient(options: options)
        self.client = client
        _ = try await client.initialize(initializationOptions: ["stylus": ["db": .string(db)]])
        await client.server.adapterContext()?.composerReady()
        let uri = URL(fileURLWithPath: path).absoluteString
        client.openDocument(text, uri: uri)
        let serverCompose = try await client.request("workspace/executeCommand", ExecuteCommandParams(
            command: "stylus.compose", arguments: [["uri": .string(uri)]]))
        XCTAssertEqual(serverCompose["prompt_with_adapters"], .string(expected))
        let serverRender = try await client.request("workspace/executeCommand", ExecuteCommandParams(
            command: "stylus.render", arguments: [["uri": .string(uri), "compose": true]]))
        let serverImage = try XCTUnwrap(serverRender["images"]?.arrayValue?.first)
        XCTAssertEqual(serverImage["prompt"], .string(expected))
        XCTAssertEqual(serverImage["seed"], .int(cliImage["seed"] as? Int ?? -1))
        let serverPNG = try XCTUnwrap(serverImage["path"]?.stringValue)
        XCTAssertNotEqual(serverPNG, cliPNG, "a render never overwrites an image")

        // The same render parameters in both PNGs: prompt, adapters and their hashes, sampler, seed, size.
        let cliParameters = try parameters(cliPNG)
        XCTAssertEqual(try parameters(serverPNG), cliParameters)
        XCTAssertTrue(cliParameters.contains("Lora hashes"), cliParameters)
    }
}
