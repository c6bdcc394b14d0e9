import Foundation
import HTTPTestSupport
import StylusCore
import StylusRender
import XCTest

/// The A1111 backend against a scripted HTTP server on a local socket.
final class A1111BackendTests: XCTestCase {
    var dir = ""

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "stylus-a1111-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    /// A real 8×8 PNG, base64, without text chunks (as a server with PNG info turned off sends).
    static let pngBase64: String = {
        let image = try! RGBImage(width: 8, height: 8, pixels: (0..<192).map { UInt8($0) })
        return Data(try! PNGWriter.encode(image)).base64EncodedString()
    }()

    func job(_ backend: RenderBackend, body: String = "a knight <lora:kohya:0.8>") throws -> RenderJob {
        let text = """
            ---
            checkpoint: models/dreamshaper_8.safetensors
            steps: 12
            cfg: 6.5
            seed: 42
            size: 512x768
            sampler: DPM++ 2M Karras
            negative: blurry
            lora_dirs: [\(LoRAMergeTests.directory)]
            ---
            \(body)
            """
        let path = dir + "/remote.sdprompt"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        var job = RenderJob(promptPath: path, text: text)
        job.backend = backend
        return job
    }

    func session(timeout: TimeInterval = 30) -> RenderSession {
        var c = RenderSession.Configuration(vocabularyPath: "/nonexistent", cacheLimitBytes: 0)
        c.a1111Timeout = timeout
        return RenderSession(configuration: c)
    }

    func json(_ data: Data) -> [String: Any] { (try? JSONSerialization.jsonObject(with: data) as? [String: Any]) ?? [:] }

    func testTxt2imgSendsTheComposedPromptAndWritesThePNG() throws {
        let server = try ScriptedHTTPServer { r in
            switch r.path {
            case "/sdapi/v1/options": return .json(200, [:] as [String: Any])
            case "/sdapi/v1/txt2img":
                let info = #"{"seed": 42, "infotexts": ["a knight <lora:kohya:0.8>\nSteps: 12, Sampler: DPM++ 2M Karras, Seed: 42"]}"#
                return .json(200, ["images": [Self.pngBase64], "parameters": [:] as [String: Any], "info": info] as [String: Any])
            default: return .json(404, ["detail": "Not Found"])
            }
        }
        defer { server.stop() }
        var steps: [RenderStage] = []
        let outcome = try session().render(try job(.a1111(url: server.url))) { steps.append($0.stage) }
        let requests = server.requests.filter { !$0.path.hasPrefix("/sdapi/v1/progress") }
        XCTAssertEqual(requests.map(\.method), ["POST", "POST"])
        XCTAssertEqual(requests.map(\.path), ["/sdapi/v1/options", "/sdapi/v1/txt2img"])
        XCTAssertEqual(json(requests[0].body)["sd_model_checkpoint"] as? String, "dreamshaper_8.safetensors")
        let body = json(requests[1].body)
        XCTAssertEqual(body["prompt"] as? String, "a knight <lora:kohya:0.8>")
        XCTAssertEqual(body["negative_prompt"] as? String, "blurry")
        XCTAssertEqual(body["steps"] as? Int, 12)
        XCTAssertEqual(body["cfg_scale"] as? Double, 6.5)
        XCTAssertEqual(body["seed"] as? Int, 42)
        XCTAssertEqual(body["width"] as? Int, 512)
        XCTAssertEqual(body["height"] as? Int, 768)
        XCTAssertEqual(body["sampler_name"] as? String, "DPM++ 2M Karras")

        let image = try XCTUnwrap(outcome.images.first)
        XCTAssertEqual(image.path, dir + "/remote-1.png")
        let png = [UInt8](try Data(contentsOf: URL(fileURLWithPath: image.path)))
        XCTAssertEqual(Data(png.prefix(8)), Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]))
        // The server's PNG had no parameters: its infotext is added.
        XCTAssertEqual(PNGText.textChunks(png)["parameters"], "a knight <lora:kohya:0.8>\nSteps: 12, Sampler: DPM++ 2M Karras, Seed: 42")
        XCTAssertEqual(image.adapters.map(\.name), ["kohya"])
        XCTAssertNotNil(image.adapters.first?.hash, "the LoRA has a local file, so its hash is known")
        XCTAssertTrue(steps.contains(.remote) && steps.last == .write, "\(steps)")
    }

    func testConnectionRefused() throws {
        let server = try ScriptedHTTPServer { _ in .hang }
        let url = server.url
        server.stop()  // nothing listens on that port any more
        XCTAssertThrowsError(try session().render(try job(.a1111(url: url)))) { e in
            guard let e = e as? RemoteServerError, case .connection = e.failure else { return XCTFail("\(e)") }
            XCTAssertEqual(e.server, .a1111)
            XCTAssertTrue(e.url.hasPrefix(url.absoluteString), e.url)
            XCTAssertTrue("\(e)".contains("cannot reach the A1111 server"), "\(e)")
        }
    }

    func testHTTPErrorCarriesTheServersDetail() throws {
        let server = try ScriptedHTTPServer { r in
            r.path == "/sdapi/v1/options" ? .json(200, [:] as [String: Any])
                : .json(500, ["error": "RuntimeError", "detail": "CUDA out of memory"])
        }
        defer { server.stop() }
        XCTAssertThrowsError(try session().render(try job(.a1111(url: server.url)))) { e in
            XCTAssertEqual(e as? RemoteServerError, RemoteServerError(.a1111, url: server.url.absoluteString + "/sdapi/v1/txt2img",
                                                                      .http(status: 500, detail: "CUDA out of memory")))
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".png") }, [])
    }

    func testBadJSONAndNonPNGImages() throws {
        for reply in [ScriptedHTTPServer.Reply.raw(200, "<html>not json</html>"), .json(200, ["images": []]),
                      .json(200, ["images": [Data("GIF89a....".utf8).base64EncodedString()]])] {
            let server = try ScriptedHTTPServer { r in r.path == "/sdapi/v1/txt2img" ? reply : .json(200, [:] as [String: Any]) }
            defer { server.stop() }
            XCTAssertThrowsError(try session().render(try job(.a1111(url: server.url)))) { e in
                guard case .badResponse? = (e as? RemoteServerError)?.failure else { return XCTFail("\(e)") }
            }
        }
    }

    func testTimeout() throws {
        let server = try ScriptedHTTPServer { r in r.path == "/sdapi/v1/txt2img" ? .hang : .json(200, [:] as [String: Any]) }
        defer { server.stop() }
        let started = Date()
        XCTAssertThrowsError(try session(timeout: 1).render(try job(.a1111(url: server.url)))) { e in
            guard case .timeout? = (e as? RemoteServerError)?.failure else { return XCTFail("\(e)") }
        }
        XCTAssertLessThan(Date().timeIntervalSince(started), 10)
    }

    /// Cancelling while the server works stops waiting and asks the server to interrupt.
    func testCancellationInterruptsTheServer() throws {
        let server = try ScriptedHTTPServer { r in
            switch r.path {
            case "/sdapi/v1/txt2img": return .hang
            case let p where p.hasPrefix("/sdapi/v1/progress"):
                return .json(200, ["progress": 0.25, "state": ["sampling_step": 3, "sampling_steps": 12]] as [String: Any])
            default: return .json(200, [:] as [String: Any])
            }
        }
        defer { server.stop() }
        let cancel = RenderCancellation()
        var remoteSteps: [Int] = []
        XCTAssertThrowsError(try session().render(try job(.a1111(url: server.url)), cancellation: cancel) { e in
            if e.stage == .remote, e.steps > 0 {
                remoteSteps.append(e.step)
                cancel.cancel()  // once the server reported a step
            }
        }) { XCTAssertTrue($0 is RenderCancelled, "\($0)") }
        XCTAssertEqual(remoteSteps.first, 3)
        let deadline = Date().addingTimeInterval(5)
        while !server.requests.contains(where: { $0.path == "/sdapi/v1/interrupt" }), Date() < deadline { usleep(20_000) }
        XCTAssertTrue(server.requests.contains { $0.path == "/sdapi/v1/interrupt" }, "\(server.requests.map(\.path))")
    }

    func testBackendNames() {
        XCTAssertEqual(try RenderBackend.parse(nil, url: nil).get(), .local)
        XCTAssertEqual(try RenderBackend.parse("a1111", url: "http://127.0.0.1:7860").get(), .a1111(url: URL(string: "http://127.0.0.1:7860")!))
        XCTAssertEqual(try RenderBackend.parse("forge", url: nil).get(), .a1111(url: URL(string: "http://127.0.0.1:7860")!))
        XCTAssertThrowsError(try RenderBackend.parse("a1111", url: "ftp://x").get())
        XCTAssertThrowsError(try RenderBackend.parse("vllm", url: nil).get())
        XCTAssertEqual(try RenderBackend.parse("comfy", url: nil, environment: [:]).get(), .comfyui(url: URL(string: "http://127.0.0.1:8188")!))
    }

    /// Forge (lllyasviel/stable-diffusion-webui-forge, modules/api/api.py `text2imgapi`) differs from
    /// A1111 where it matters here: it reads the checkpoint from `override_settings.sd_model_checkpoint`
    /// (an unknown name is a RuntimeError, HTTP 500), calls `.get` on `override_settings` (a request
    /// without it fails), and `/sdapi/v1/options` only records the choice. This server answers as
    /// Forge does; the backend's request works with it.
    func testForgeReadsTheCheckpointFromOverrideSettings() throws {
        let aliases = ["dreamshaper_8.safetensors", "dreamshaper_8.safetensors [879db523c3]", "dreamshaper_8"]
        let server = try ScriptedHTTPServer { r in
            switch r.path {
            case "/sdapi/v1/options": return .json(200, [:] as [String: Any])
            case "/sdapi/v1/txt2img":
                guard let overrides = r.json["override_settings"] as? [String: Any] else {
                    return .json(500, ["error": "AttributeError", "detail": "", "body": "",
                                       "errors": "'NoneType' object has no attribute 'get'"])
                }
                if let name = overrides["sd_model_checkpoint"] as? String, !aliases.contains(name) {
                    return .json(500, ["error": "RuntimeError", "detail": "", "body": "", "errors": "model '\(name)' not found"])
                }
                let info = #"{"seed": 42, "infotexts": ["a knight\nSteps: 12, Sampler: DPM++ 2M, Schedule type: Karras, Seed: 42, Version: f2.0.1v1.10.1-previous-669-gdfdcbab6"], "version": "f2.0.1v1.10.1-previous-669-gdfdcbab6"}"#
                return .json(200, ["images": [Self.pngBase64], "parameters": [:] as [String: Any], "info": info] as [String: Any])
            default: return .json(404, ["detail": "Not Found"])
            }
        }
        defer { server.stop() }
        let outcome = try session().render(try job(.a1111(url: server.url)))
        let body = json(try XCTUnwrap(server.requests.last { $0.path == "/sdapi/v1/txt2img" }).body)
        let overrides = try XCTUnwrap(body["override_settings"] as? [String: Any])
        XCTAssertEqual(overrides["sd_model_checkpoint"] as? String, "dreamshaper_8.safetensors")
        XCTAssertEqual(body["override_settings_restore_afterwards"] as? Bool, false)
        let png = [UInt8](try Data(contentsOf: URL(fileURLWithPath: try XCTUnwrap(outcome.images.first).path)))
        XCTAssertTrue(PNGText.textChunks(png)["parameters"]?.contains("Schedule type: Karras") ?? false)

        // An unknown model is Forge's 500 with its message, shown as such.
        var other = try job(.a1111(url: server.url))
        other.overrides.checkpoint = "missing.safetensors"
        XCTAssertThrowsError(try session().render(other)) { e in
            XCTAssertTrue("\(e)".contains("HTTP 500: RuntimeError: model 'missing.safetensors' not found"), "\(e)")
        }
        // Without a checkpoint the request still carries override_settings.
        let text = "---\nsteps: 4\n---\na knight"
        let path = dir + "/bare.sdprompt"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        var bare = RenderJob(promptPath: path, text: text)
        bare.backend = .a1111(url: server.url)
        XCTAssertEqual(try session().render(bare).images.count, 1)
    }
}
