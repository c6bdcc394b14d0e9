import Foundation
import StylusCore
import StylusRender
import XCTest

/// The ComfyUI backend's pure parts: the workflow it submits, the prompt text, name matching, how a
/// 400 is read, and the renderer setting. The protocol itself (HTTP, WebSocket, history, view,
/// faults, several servers) is tested end to end against the scripted server in Tests/e2e.
final class ComfyUIBackendTests: XCTestCase {
    func request(sampler: SamplerKind = .dpmpp2m, spacing: SigmaSpacing = .karras, clipSkip: Int = 2) -> RenderRequest {
        var r = RenderRequest(prompt: [])
        r.sampler = sampler
        r.spacing = spacing
        r.steps = 12
        r.cfgScale = 6.5
        r.seed = 42
        r.width = 512
        r.height = 768
        r.clipSkip = clipSkip
        return r
    }

    func inputs(_ w: [String: Any], _ id: String) -> [String: Any] { (w[id] as? [String: Any])?["inputs"] as? [String: Any] ?? [:] }
    func type(_ w: [String: Any], _ id: String) -> String? { (w[id] as? [String: Any])?["class_type"] as? String }
    func link(_ v: Any?) -> [String]? { (v as? [Any]).map { $0.map { "\($0)" } } }

    func testWorkflowChainsLoRAsAndMapsSettings() throws {
        let w = ComfyUIWorkflow.build(request(), positive: "a knight", negative: "blurry", checkpoint: "sd15/dreamshaper_8.safetensors",
                                      loras: [("styles/ink.safetensors", 0.8, 0.6), ("castle.safetensors", 1.0, 1.0)])
        XCTAssertEqual(Set(w.keys), ["1", "2", "3", "4", "5", "6", "7", "8", "10", "11"])
        XCTAssertEqual(type(w, "1"), "CheckpointLoaderSimple")
        XCTAssertEqual(inputs(w, "1")["ckpt_name"] as? String, "sd15/dreamshaper_8.safetensors")
        // LoRAs chained: checkpoint → 10 → 11; the model path goes to the sampler, the CLIP path to clip skip.
        XCTAssertEqual(type(w, "10"), "LoraLoader")
        XCTAssertEqual(link(inputs(w, "10")["model"]), ["1", "0"])
        XCTAssertEqual(link(inputs(w, "10")["clip"]), ["1", "1"])
        XCTAssertEqual(inputs(w, "10")["lora_name"] as? String, "styles/ink.safetensors")
        XCTAssertEqual(inputs(w, "10")["strength_model"] as? Double, 0.8)
        XCTAssertEqual(inputs(w, "10")["strength_clip"] as? Double, 0.6)
        XCTAssertEqual(link(inputs(w, "11")["model"]), ["10", "0"])
        XCTAssertEqual(link(inputs(w, "11")["clip"]), ["10", "1"])
        XCTAssertEqual(type(w, "2"), "CLIPSetLastLayer")
        XCTAssertEqual(link(inputs(w, "2")["clip"]), ["11", "1"])
        XCTAssertEqual(inputs(w, "2")["stop_at_clip_layer"] as? Int, -2)
        XCTAssertEqual(inputs(w, "3")["text"] as? String, "a knight")
        XCTAssertEqual(inputs(w, "4")["text"] as? String, "blurry")
        XCTAssertEqual(link(inputs(w, "3")["clip"]), ["2", "0"])
        let ks = inputs(w, "6")
        XCTAssertEqual(type(w, "6"), "KSampler")
        XCTAssertEqual(link(ks["model"]), ["11", "0"])
        XCTAssertEqual(link(ks["positive"]), ["3", "0"])
        XCTAssertEqual(link(ks["negative"]), ["4", "0"])
        XCTAssertEqual(link(ks["latent_image"]), ["5", "0"])
        XCTAssertEqual(ks["sampler_name"] as? String, "dpmpp_2m")
        XCTAssertEqual(ks["scheduler"] as? String, "karras")
        XCTAssertEqual(ks["seed"] as? Int, 42)
        XCTAssertEqual(ks["steps"] as? Int, 12)
        XCTAssertEqual(ks["cfg"] as? Double, 6.5)
        XCTAssertEqual(inputs(w, "5")["width"] as? Int, 512)
        XCTAssertEqual(inputs(w, "5")["height"] as? Int, 768)
        XCTAssertEqual(link(inputs(w, "7")["vae"]), ["1", "2"])
        XCTAssertEqual(link(inputs(w, "8")["images"]), ["7", "0"])
        XCTAssertTrue(JSONSerialization.isValidJSONObject(w))
    }

    func testWorkflowWithoutLoRAs() {
        let w = ComfyUIWorkflow.build(request(clipSkip: 1), positive: "x", negative: "", checkpoint: "a.ckpt", loras: [])
        XCTAssertEqual(link(inputs(w, "2")["clip"]), ["1", "1"])
        XCTAssertEqual(inputs(w, "2")["stop_at_clip_layer"] as? Int, -1)
        XCTAssertEqual(link(inputs(w, "6")["model"]), ["1", "0"])
    }

    func testSamplerNames() {
        XCTAssertTrue(ComfyUIWorkflow.sampler(.euler, .discrete) == ("euler", "normal"))
        XCTAssertTrue(ComfyUIWorkflow.sampler(.eulerAncestral, .discrete) == ("euler_ancestral", "normal"))
        XCTAssertTrue(ComfyUIWorkflow.sampler(.dpmpp2m, .discrete) == ("dpmpp_2m", "normal"))
        XCTAssertTrue(ComfyUIWorkflow.sampler(.dpmpp2m, .karras) == ("dpmpp_2m", "karras"))
        XCTAssertTrue(ComfyUIWorkflow.sampler(.ddim, .discrete) == ("ddim", "ddim_uniform"))
        XCTAssertTrue(ComfyUIWorkflow.sampler(.lcm, .discrete) == ("lcm", "sgm_uniform"))
    }

    func testPromptTextDropsTagsAndComments() {
        XCTAssertEqual(ComfyUIWorkflow.promptText("a knight, <lora:ink:0.8>, (glowing eyes:1.2) <lyco:x:1>\n# a note\ncastle, <lora:y:1>"),
                       "a knight, (glowing eyes:1.2)\ncastle")
        XCTAssertEqual(ComfyUIWorkflow.promptText("<lora:only:1>"), "")
        XCTAssertEqual(ComfyUIWorkflow.promptText("cat [dog:0.5] BREAK sky"), "cat [dog:0.5] BREAK sky", "the rest passes through")
    }

    func testNameMatching() {
        let names = ["SD1.5/dreamshaper_8.safetensors", "v1-5-pruned-emaonly.ckpt", "styles/Ink Wash.safetensors"]
        XCTAssertEqual(ComfyUIBackend.match("/home/me/models/SD1.5/dreamshaper_8.safetensors", in: names), names[0])
        XCTAssertEqual(ComfyUIBackend.match("dreamshaper_8.safetensors", in: names), names[0])
        XCTAssertEqual(ComfyUIBackend.match("v1-5-pruned-emaonly", in: names), names[1])
        XCTAssertEqual(ComfyUIBackend.match("ink wash", in: names), names[2])
        XCTAssertNil(ComfyUIBackend.match("ink", in: names))
        XCTAssertNil(ComfyUIBackend.match("x.safetensors", in: []))
    }

    /// A 400 from /prompt in ComfyUI's shape names each node and input.
    func testRejectionNamesNodeAndInput() throws {
        let body: [String: Any] = [
            "error": ["type": "prompt_outputs_failed_validation", "message": "Prompt outputs failed validation", "details": "", "extra_info": [:] as [String: Any]],
            "node_errors": ["6": ["class_type": "KSampler", "dependent_outputs": ["8"],
                                  "errors": [["type": "value_not_in_list", "message": "Value not in list",
                                              "details": "sampler_name: 'nope' not in ['euler']",
                                              "extra_info": ["input_name": "sampler_name", "received_value": "nope"]]]]],
        ]
        let e = ComfyUIBackend.rejection(url: "http://h:1/prompt", status: 400, payload: try JSONSerialization.data(withJSONObject: body))
        guard case let .rejected(_, message, problems)? = e as? ComfyUIError else { return XCTFail("\(e)") }
        XCTAssertEqual(message, "Prompt outputs failed validation")
        XCTAssertEqual(problems, [ComfyUINodeProblem(node: "6", classType: "KSampler", input: "sampler_name",
                                                     message: "Value not in list: sampler_name: 'nope' not in ['euler']")])
        XCTAssertTrue("\(e)".contains("node 6 (KSampler), input 'sampler_name'"), "\(e)")
        XCTAssertEqual(ComfyUIBackend.rejection(url: "u", status: 500, payload: Data("oops".utf8)) as? RemoteServerError,
                       RemoteServerError(.comfyui, url: "u", .http(status: 500, detail: "oops")))
        XCTAssertEqual("\(ComfyUIBackend.rejection(url: "u", status: 500, payload: Data("oops".utf8)))",
                       "the ComfyUI server answered u with HTTP 500: oops")
    }

    func testRendererSettings() throws {
        func parse(_ s: String?, comfy: [String] = [], env: [String: String] = [:]) -> Result<RenderBackend, RenderError> {
            RenderBackend.parse(s, url: nil, comfyuiURLs: comfy, environment: env)
        }
        XCTAssertEqual(try parse(nil).get(), .local)
        XCTAssertEqual(try parse("comfyui").get(), .comfyui(url: URL(string: "http://127.0.0.1:8188")!))
        XCTAssertEqual(try parse("comfyui", env: ["STYLUS_COMFYUI_URL": "http://gpu:9000"]).get(), .comfyui(url: URL(string: "http://gpu:9000")!))
        XCTAssertEqual(try parse("comfyui", comfy: ["http://a:1"]).get(), .comfyui(url: URL(string: "http://a:1")!))
        XCTAssertEqual(try parse("http://box:7860").get(), .a1111(url: URL(string: "http://box:7860")!))
        XCTAssertEqual(try parse("comfyui http://a:1, a1111 http://b:2\nhttp://c:3").get(),
                       .servers([RemoteServer(.comfyui, URL(string: "http://a:1")!), RemoteServer(.a1111, URL(string: "http://b:2")!),
                                 RemoteServer(.a1111, URL(string: "http://c:3")!)]))
        XCTAssertEqual(try parse("comfyui", comfy: ["http://a:1", "http://b:2", "http://a:1"]).get().servers.count, 2)
        for bad in ["comfy ui", "vllm", "local, comfyui", "comfyui ftp://x", "local http://x:1"] {
            guard case .failure(let e) = parse(bad) else { return XCTFail("accepted '\(bad)'") }
            XCTAssertFalse("\(e)".isEmpty)
        }
        // The frontmatter takes a YAML list of servers and reports a bad entry on its line.
        let file = PromptFile(text: "---\nrenderer: [comfyui http://a:1, http://b:2]\n---\nx")
        XCTAssertEqual(file.settings.renderer, "comfyui http://a:1, http://b:2")
        let bad = PromptFile(text: "---\nrenderer: [comfyui, vllm]\n---\nx")
        XCTAssertNil(bad.settings.renderer)
        XCTAssertTrue(bad.diagnostics.contains { $0.message.contains("unknown renderer 'vllm'") }, "\(bad.diagnostics.map(\.message))")
    }

    func testRenderEventNamesTheServer() {
        var e = RenderEvent(stage: .remote)
        e.step = 3
        e.steps = 20
        e.variation = 2
        e.variations = 4
        e.server = "gpu:8188"
        XCTAssertEqual(e.message, "Rendering on the server step 3/20 (image 2/4) on gpu:8188")
    }
}

/// The WebSocket client's own pieces (the whole client runs against the scripted ComfyUI in Tests/e2e).
final class WebSocketPiecesTests: XCTestCase {
    func testSHA1AndTheHandshakeKey() {
        func hex(_ b: [UInt8]) -> String { b.map { String(format: "%02x", $0) }.joined() }
        XCTAssertEqual(hex(SHA1.digest(Array("The quick brown fox jumps over the lazy dog".utf8))), "2fd4e1c67a2d28fced849ee1bb76e7391b93eb12")
        XCTAssertEqual(hex(SHA1.digest([])), "da39a3ee5e6b4b0d3255bfef95601890afd80709")
        XCTAssertEqual(hex(SHA1.digest(Array(repeating: UInt8(ascii: "a"), count: 1000))), "291e9a6c66994949b57ba5e650361e98fc36b1ba")
        // RFC 6455 section 1.3's example.
        let accept = Data(SHA1.digest(Array("dGhlIHNhbXBsZSBub25jZQ==258EAFA5-E914-47DA-95CA-C5AB0DC85B11".utf8))).base64EncodedString()
        XCTAssertEqual(accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
    }

    func testClientFramesAreMaskedWithTheRightLength() {
        for n in [0, 5, 125, 126, 65535, 65536, 70000] {
            let payload = (0..<n).map { UInt8(truncatingIfNeeded: $0 * 7) }
            let f = WebSocketClient.frame(opcode: 1, payload: payload)
            XCTAssertEqual(f[0], 0x81)
            XCTAssertEqual(f[1] & 0x80, 0x80, "masked")
            var length = Int(f[1] & 0x7F), offset = 2
            if length == 126 { length = Int(f[2]) << 8 | Int(f[3]); offset = 4 }
            if length == 127 { length = f[2..<10].reduce(0) { $0 << 8 | Int($1) }; offset = 10 }
            XCTAssertEqual(length, n)
            let mask = Array(f[offset..<(offset + 4)])
            let unmasked = f[(offset + 4)...].enumerated().map { $1 ^ mask[$0 & 3] }
            XCTAssertEqual(unmasked, payload)
        }
    }

    func testRefusesOtherSchemesAndClosedPorts() {
        XCTAssertThrowsError(try WebSocketClient(url: URL(string: "wss://127.0.0.1:1/ws")!)) { e in
            XCTAssertTrue("\(e)".contains("only ws://"), "\(e)")
        }
        XCTAssertThrowsError(try WebSocketClient(url: URL(string: "ws://127.0.0.1:1/ws")!, timeout: 2)) { e in
            guard case .connection? = e as? WebSocketError else { return XCTFail("\(e)") }
        }
    }
}
