import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import StylusCore

/// One problem ComfyUI found in a submitted workflow (`node_errors` of a 400 from `/prompt`).
public struct ComfyUINodeProblem: Sendable, Equatable, CustomStringConvertible {
    public init(node: String, classType: String, input: String?, message: String) {
        self.node = node
        self.classType = classType
        self.input = input
        self.message = message
    }

    public var node: String
    public var classType: String
    /// The input it concerns, when ComfyUI names one.
    public var input: String?
    public var message: String

    public var description: String {
        "node \(node) (\(classType))" + (input.map { ", input '\($0)'" } ?? "") + ": \(message)"
    }
}

/// What a ComfyUI server refused or failed at; each says what, where, and what to do. Transport
/// failures are `RemoteServerError`s, as for every render server.
public enum ComfyUIError: Error, Equatable, CustomStringConvertible {
    /// 400 from `/prompt`: the workflow did not validate.
    case rejected(url: String, message: String, problems: [ComfyUINodeProblem])
    /// `execution_error` on the WebSocket.
    case execution(url: String, node: String, nodeType: String, message: String)
    /// The prompt was interrupted by someone else (`execution_interrupted`).
    case interrupted(url: String)
    /// A checkpoint or LoRA the job needs is not on the server.
    case missingModel(url: String, kind: String, name: String, folder: String, available: Int)

    public var description: String {
        switch self {
        case let .rejected(url, message, problems):
            let list = problems.map(\.description).joined(separator: "; ")
            return "the ComfyUI server at \(url) refused the workflow: \(message)" + (list.isEmpty ? "" : " — \(list)")
        case let .execution(url, node, nodeType, message):
            return "the ComfyUI server at \(url) failed in node \(node) (\(nodeType)): \(message)"
        case let .interrupted(url):
            return "the render on the ComfyUI server at \(url) was interrupted there"
        case let .missingModel(url, kind, name, folder, available):
            return "the ComfyUI server at \(url) has no \(kind) '\(name)' (it lists \(available)); copy the file into ComfyUI's models/\(folder) folder or fix the name"
        }
    }
}

/// txt2img on a ComfyUI server: an API-format workflow (`ComfyUIWorkflow`) goes to `POST /prompt`,
/// progress comes over the WebSocket `/ws?clientId=`, the image from `/history/{id}` and `/view`.
/// Checkpoint and LoRA names are matched against what the server lists (`/object_info/…`).
public final class ComfyUIBackend: @unchecked Sendable {
    public let baseURL: URL
    /// Longest silence from the server (no HTTP answer, no WebSocket message).
    public var timeout: TimeInterval

    private var checkpointNames: [String]?
    private var loraNames: [String]?
    private var loraMetadata: [String: [String: String]] = [:]

    public init(baseURL: URL, timeout: TimeInterval = 600) {
        self.baseURL = baseURL
        self.timeout = timeout
    }

    public struct Result {
        /// The PNG as ComfyUI wrote it (with its `prompt` chunk).
        public var png: [UInt8]
        public var promptID: String
        /// The workflow that was submitted.
        public var workflow: [String: Any]
        /// The checkpoint and LoRA names as the server knows them.
        public var checkpoint: String
        public var loras: [String]
        /// Binary preview frames seen on the WebSocket.
        public var previews: Int
    }

    /// A LoRA to apply: its name in the prompt, its local file (for the hash fallback), strengths.
    public struct LoRA: Sendable {
        public var name: String
        public var localPath: String?
        public var localHash: String?
        public var unet: Float
        public var textEncoder: Float

        public init(name: String, localPath: String? = nil, localHash: String? = nil, unet: Float, textEncoder: Float) {
            self.name = name
            self.localPath = localPath
            self.localHash = localHash
            self.unet = unet
            self.textEncoder = textEncoder
        }
    }

    /// Renders one image. `checkpoint` is a name or path (nil: the server's first checkpoint, reported
    /// through `warn`); `progress(step, steps)` reports the sampler's steps.
    public func txt2img(_ r: RenderRequest, prompt: String, negative: String, checkpoint: String?, loras: [LoRA],
                        cancellation: RenderCancellation, warn: (String) -> Void = { _ in },
                        progress: @escaping (Int, Int) -> Void) throws -> Result {
        let ckpt = try resolveCheckpoint(checkpoint, cancellation: cancellation, warn: warn)
        var resolved: [(String, LoRA)] = []
        for l in loras { resolved.append((try resolveLoRA(l, cancellation: cancellation), l)) }
        let workflow = ComfyUIWorkflow.build(
            r, positive: ComfyUIWorkflow.promptText(prompt), negative: ComfyUIWorkflow.promptText(negative), checkpoint: ckpt,
            loras: resolved.map { ($0.0, $0.1.unet, $0.1.textEncoder) })
        let clientID = UUID().uuidString.lowercased()
        let socket: WebSocketClient
        do {
            socket = try WebSocketClient(url: webSocketURL(clientID), timeout: min(timeout, 30))
        } catch let e as WebSocketError {
            throw RemoteServerError(.comfyui, url: webSocketURL(clientID).absoluteString, .connection(reason: "\(e)"))
        }
        defer { socket.close() }
        // ComfyUI sends a prompt's messages only to sockets it has listed under the client id, and
        // says `status` to a socket once it is listed: a prompt posted before that could have its
        // first progress (or all of it, and its end) sent nowhere. A server that never says it is
        // waited for at most two seconds.
        _ = try? socket.receive(timeout: min(timeout, 2))
        let promptID = try submit(workflow, clientID: clientID, cancellation: cancellation)
        let previews = try follow(promptID, socket: socket, cancellation: cancellation, progress: progress)
        let png = try fetchImage(promptID, cancellation: cancellation)
        return Result(png: png, promptID: promptID, workflow: workflow, checkpoint: ckpt, loras: resolved.map(\.0), previews: previews)
    }

    // MARK: Names

    /// The server's name for `given` (a name or a path): the whole relative name, else the file
    /// name, else the file name without extension, compared without case.
    package static func match(_ given: String, in names: [String]) -> String? {
        let g = given.replacingOccurrences(of: "\\", with: "/")
        let file = g.split(separator: "/").last.map(String.init) ?? g
        func slashed(_ n: String) -> String { n.replacingOccurrences(of: "\\", with: "/") }
        func base(_ n: String) -> String { slashed(n).split(separator: "/").last.map(String.init) ?? n }
        func stem(_ n: String) -> String {
            let b = base(n)
            guard let dot = b.lastIndex(of: "."), dot != b.startIndex else { return b }
            return String(b[..<dot])
        }
        if let n = names.first(where: { slashed($0) == g || g.hasSuffix("/" + slashed($0)) }) { return n }
        if let n = names.first(where: { base($0) == file }) { return n }
        if let n = names.first(where: { base($0).lowercased() == file.lowercased() }) { return n }
        let fileStem = stem(file).lowercased()
        return names.first(where: { stem($0).lowercased() == fileStem })
    }

    func resolveCheckpoint(_ given: String?, cancellation: RenderCancellation, warn: (String) -> Void) throws -> String {
        if checkpointNames == nil {
            checkpointNames = try choices("CheckpointLoaderSimple", "ckpt_name", cancellation: cancellation)
        }
        let names = checkpointNames ?? []
        guard let given else {
            guard let first = names.first else {
                throw ComfyUIError.missingModel(url: baseURL.absoluteString, kind: "checkpoint", name: "(none set)", folder: "checkpoints", available: 0)
            }
            warn("no checkpoint is set; rendered with the ComfyUI server's first, '\(first)' (set 'checkpoint:' to choose)")
            return first
        }
        guard let name = Self.match(given, in: names) else {
            let shown = (given as NSString).lastPathComponent
            throw ComfyUIError.missingModel(url: baseURL.absoluteString, kind: "checkpoint", name: shown, folder: "checkpoints", available: names.count)
        }
        return name
    }

    /// By file name first; then, for `.safetensors` files on the server, by the kohya metadata
    /// ComfyUI shows (`/view_metadata/loras`): `ss_output_name` equal to the tag's name, or the
    /// addnet/AutoV3 hash (`sshs_model_hash`) equal to the local file's.
    func resolveLoRA(_ lora: LoRA, cancellation: RenderCancellation) throws -> String {
        if loraNames == nil { loraNames = try choices("LoraLoader", "lora_name", cancellation: cancellation) }
        let names = loraNames ?? []
        if let n = Self.match(lora.localPath.map { ($0 as NSString).lastPathComponent } ?? lora.name, in: names) ?? Self.match(lora.name, in: names) {
            return n
        }
        for name in names.prefix(2000) where name.lowercased().hasSuffix(".safetensors") {
            try cancellation.check()
            let meta = try metadata(name, cancellation: cancellation)
            if meta["ss_output_name"]?.lowercased() == lora.name.lowercased() { return name }
            if let mine = lora.localHash?.lowercased(), !mine.isEmpty,
               let theirs = (meta["sshs_model_hash"] ?? meta["modelspec.hash_sha256"])?.lowercased().replacingOccurrences(of: "0x", with: ""),
               theirs.count >= 10, theirs.hasPrefix(mine) || mine.hasPrefix(theirs) {
                return name
            }
        }
        throw ComfyUIError.missingModel(url: baseURL.absoluteString, kind: "LoRA", name: lora.name, folder: "loras", available: names.count)
    }

    private func metadata(_ name: String, cancellation: RenderCancellation) throws -> [String: String] {
        if let m = loraMetadata[name] { return m }
        var m: [String: String] = [:]
        do {
            let data = try send("GET", "/view_metadata/loras?filename=" + Self.query(name), body: nil, cancellation: cancellation)
            if let obj = try? JSONSerialization.jsonObject(with: data) as? [String: Any] {
                for (k, v) in obj { if let s = v as? String { m[k] = s } }
            }
        } catch let e as RemoteServerError where e.failure.isNotFound {
            // no metadata in that file
        }
        loraMetadata[name] = m
        return m
    }

    /// The allowed values of a node's list input, from `/object_info/{node}`.
    func choices(_ node: String, _ input: String, cancellation: RenderCancellation) throws -> [String] {
        let path = "/object_info/\(node)"
        let data = try send("GET", path, body: nil, cancellation: cancellation)
        guard let obj = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let info = obj[node] as? [String: Any], let inputs = info["input"] as? [String: Any],
              let required = inputs["required"] as? [String: Any], let spec = required[input] as? [Any], let first = spec.first else {
            throw RemoteServerError(.comfyui, url: endpoint(path).absoluteString, .badResponse(reason: "no \(node).input.required.\(input) list (is this a ComfyUI server?)"))
        }
        // Older builds: [[names…], {…}]; newer "COMBO" form: ["COMBO", {"options": [names…]}].
        if let list = first as? [String] { return list }
        if spec.count > 1, let options = (spec[1] as? [String: Any])?["options"] as? [String] { return options }
        throw RemoteServerError(.comfyui, url: endpoint(path).absoluteString, .badResponse(reason: "\(node).\(input) is not a list of names"))
    }

    // MARK: Submit, follow, fetch

    func submit(_ workflow: [String: Any], clientID: String, cancellation: RenderCancellation) throws -> String {
        let body = try JSONSerialization.data(withJSONObject: ["prompt": workflow, "client_id": clientID], options: [.sortedKeys])
        let url = endpoint("/prompt").absoluteString
        let data: Data
        do {
            data = try send("POST", "/prompt", body: body, cancellation: cancellation, rawErrors: true)
        } catch let RawHTTPError.status(status, payload) {
            throw Self.rejection(url: url, status: status, payload: payload)
        }
        guard let obj = try? JSONSerialization.jsonObject(with: data) as? [String: Any], let id = obj["prompt_id"] as? String, !id.isEmpty else {
            throw RemoteServerError(.comfyui, url: url, .badResponse(reason: "no prompt_id in \(RemoteHTTP.snippet(data))"))
        }
        return id
    }

    /// A 400 from `/prompt` as the nodes and inputs ComfyUI named; other statuses as HTTP errors.
    package static func rejection(url: String, status: Int, payload: Data) -> Error {
        guard let obj = try? JSONSerialization.jsonObject(with: payload) as? [String: Any] else {
            return RemoteServerError(.comfyui, url: url, .http(status: status, detail: RemoteHTTP.snippet(payload)))
        }
        let error = obj["error"] as? [String: Any]
        var message = (error?["message"] as? String) ?? (obj["error"] as? String) ?? "HTTP \(status)"
        if let details = error?["details"] as? String, !details.isEmpty { message += " (\(details))" }
        var problems: [ComfyUINodeProblem] = []
        if let nodes = obj["node_errors"] as? [String: Any] {
            for id in nodes.keys.sorted(by: { (Int($0) ?? .max, $0) < (Int($1) ?? .max, $1) }) {
                guard let node = nodes[id] as? [String: Any] else { continue }
                let classType = node["class_type"] as? String ?? "?"
                for e in node["errors"] as? [[String: Any]] ?? [] {
                    var text = e["message"] as? String ?? "invalid"
                    if let d = e["details"] as? String, !d.isEmpty { text += ": \(d)" }
                    let input = (e["extra_info"] as? [String: Any])?["input_name"] as? String
                    problems.append(ComfyUINodeProblem(node: id, classType: classType, input: input, message: text))
                }
            }
        }
        guard status == 400 || !problems.isEmpty else { return RemoteServerError(.comfyui, url: url, .http(status: status, detail: message)) }
        return ComfyUIError.rejected(url: url, message: message, problems: problems)
    }

    /// Reads WebSocket messages until `promptID` has finished; returns how many preview frames came.
    func follow(_ promptID: String, socket: WebSocketClient, cancellation: RenderCancellation,
                progress: (Int, Int) -> Void) throws -> Int {
        let url = socket.url.absoluteString
        var lastHeard = Date()
        var previews = 0
        var running = false
        while true {
            if cancellation.isCancelled {
                interrupt(promptID, running: running)
                throw RenderCancelled()
            }
            let message: WebSocketClient.Message?
            do { message = try socket.receive(timeout: 0.1) } catch let e as WebSocketError {
                throw RemoteServerError(.comfyui, url: url, .connection(reason: "\(e)"))
            }
            guard let message else {
                if Date().timeIntervalSince(lastHeard) > timeout {
                    // Messages come only while our prompt runs: one waiting behind other people's
                    // prompts is fine while the queue lists it as pending; a running one that says
                    // nothing is stuck.
                    if !running, isPending(promptID, cancellation: cancellation) {
                        lastHeard = Date()
                        continue
                    }
                    interrupt(promptID, running: running)
                    throw RemoteServerError(.comfyui, url: url, .timeout(seconds: timeout))
                }
                continue
            }
            lastHeard = Date()
            guard case .text(let text) = message else {
                previews += 1  // 4-byte event type (1 = preview), 4-byte format, image bytes
                continue
            }
            guard let obj = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any],
                  let type = obj["type"] as? String else { continue }
            let data = obj["data"] as? [String: Any] ?? [:]
            if let pid = data["prompt_id"] as? String, pid != promptID { continue }
            switch type {
            case "execution_start": running = true
            case "progress":
                running = true
                if let v = (data["value"] as? NSNumber)?.intValue, let m = (data["max"] as? NSNumber)?.intValue, m > 0 {
                    progress(min(max(v, 0), m), m)
                }
            case "executing":
                if data["prompt_id"] as? String == promptID {
                    running = true
                    if data.keys.contains("node"), data["node"] is NSNull || data["node"] == nil { return previews }
                }
            case "execution_success": return previews
            case "execution_error":
                let node = (data["node_id"] as? String) ?? (data["node_id"] as? NSNumber)?.stringValue ?? "?"
                let nodeType = data["node_type"] as? String ?? "?"
                let message = (data["exception_message"] as? String ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
                let kind = data["exception_type"] as? String
                throw ComfyUIError.execution(url: baseURL.absoluteString, node: node, nodeType: nodeType,
                                             message: [kind, message].compactMap { $0 }.filter { !$0.isEmpty }.joined(separator: ": "))
            case "execution_interrupted": throw ComfyUIError.interrupted(url: baseURL.absoluteString)
            default: continue
            }
        }
    }

    /// Whether `/queue` lists the prompt as pending (not started yet).
    func isPending(_ promptID: String, cancellation: RenderCancellation) -> Bool {
        guard let data = try? send("GET", "/queue", body: nil, timeout: 30, cancellation: cancellation),
              let obj = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return false }
        return (obj["queue_pending"] as? [[Any]] ?? []).contains { $0.count > 1 && $0[1] as? String == promptID }
    }

    /// The first image of the prompt's outputs (`/history/{id}`), fetched with `/view`.
    func fetchImage(_ promptID: String, cancellation: RenderCancellation) throws -> [UInt8] {
        let path = "/history/" + Self.query(promptID)
        let url = endpoint(path).absoluteString
        var entry: [String: Any]?
        for attempt in 0..<50 {  // the history entry is written right after the last message
            let data = try send("GET", path, body: nil, cancellation: cancellation)
            guard let obj = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
                throw RemoteServerError(.comfyui, url: url, .badResponse(reason: "not a JSON object: \(RemoteHTTP.snippet(data))"))
            }
            if let e = obj[promptID] as? [String: Any] { entry = e; break }
            if attempt < 49 { Thread.sleep(forTimeInterval: 0.1) }
        }
        guard let entry else { throw RemoteServerError(.comfyui, url: url, .badResponse(reason: "no history entry for prompt \(promptID)")) }
        let outputs = entry["outputs"] as? [String: Any] ?? [:]
        let order = [ComfyUIWorkflow.saveNode] + outputs.keys.sorted().filter { $0 != ComfyUIWorkflow.saveNode }
        for id in order {
            guard let images = (outputs[id] as? [String: Any])?["images"] as? [[String: Any]], let image = images.first,
                  let filename = image["filename"] as? String else { continue }
            let subfolder = image["subfolder"] as? String ?? ""
            let type = image["type"] as? String ?? "output"
            let view = "/view?filename=\(Self.query(filename))&subfolder=\(Self.query(subfolder))&type=\(Self.query(type))"
            let png = [UInt8](try send("GET", view, body: nil, cancellation: cancellation))
            guard PNGText.chunks(png) != nil else {
                throw RemoteServerError(.comfyui, url: endpoint(view).absoluteString, .badResponse(reason: "the image is not a PNG"))
            }
            return png
        }
        let status = (entry["status"] as? [String: Any])?["status_str"] as? String
        throw RemoteServerError(.comfyui, url: url, .badResponse(reason: "the prompt has no image output" + (status.map { " (status \($0))" } ?? "")))
    }

    /// Stops the prompt: interrupts it when it runs, removes it from the queue otherwise (best effort).
    func interrupt(_ promptID: String, running: Bool) {
        let body = try? JSONSerialization.data(withJSONObject: ["prompt_id": promptID])
        let deleteBody = try? JSONSerialization.data(withJSONObject: ["delete": [promptID]])
        let quick = RenderCancellation()
        _ = try? send("POST", "/queue", body: deleteBody, timeout: 5, cancellation: quick)
        _ = try? send("POST", "/interrupt", body: body, timeout: 5, cancellation: quick)
    }

    // MARK: HTTP

    func endpoint(_ path: String) -> URL {
        var base = baseURL.absoluteString
        while base.hasSuffix("/") { base.removeLast() }
        return URL(string: base + path)!
    }

    func webSocketURL(_ clientID: String) -> URL {
        var c = URLComponents(url: endpoint("/ws"), resolvingAgainstBaseURL: false)!
        c.scheme = c.scheme?.lowercased() == "https" ? "wss" : "ws"
        c.queryItems = [URLQueryItem(name: "clientId", value: clientID)]
        return c.url!
    }

    static func query(_ value: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return value.addingPercentEncoding(withAllowedCharacters: allowed) ?? value
    }

    enum RawHTTPError: Error { case status(Int, Data) }

    /// One HTTP exchange; with `rawErrors`, a failure status comes back as `RawHTTPError` with its body.
    func send(_ method: String, _ path: String, body: Data?, timeout: TimeInterval? = nil,
              cancellation: RenderCancellation, rawErrors: Bool = false) throws -> Data {
        let url = endpoint(path)
        let answer = try RemoteHTTP.send(method, url, body: body, limit: timeout ?? self.timeout, server: .comfyui,
                                         cancellation: cancellation)
        if rawErrors, !(200..<300).contains(answer.status) { throw RawHTTPError.status(answer.status, answer.payload) }
        return try RemoteHTTP.successful(answer, url: url, server: .comfyui)
    }
}

/// The API-format workflow for one txt2img image: CheckpointLoaderSimple → LoraLoader per LoRA
/// (chained) → CLIPSetLastLayer → CLIPTextEncode ×2 → EmptyLatentImage → KSampler → VAEDecode →
/// SaveImage. Node ids are fixed so tests and the history lookup can find them.
public enum ComfyUIWorkflow {
    public static let checkpointNode = "1", clipSkipNode = "2", positiveNode = "3", negativeNode = "4"
    public static let latentNode = "5", samplerNode = "6", decodeNode = "7", saveNode = "8"
    /// LoRA loaders are "10", "11", … in prompt order.
    public static func loraNode(_ i: Int) -> String { "\(10 + i)" }

    /// ComfyUI's sampler and scheduler for ours.
    public static func sampler(_ kind: SamplerKind, _ spacing: SigmaSpacing) -> (sampler: String, scheduler: String) {
        switch kind {
        case .euler: return ("euler", spacing == .karras ? "karras" : "normal")
        case .eulerAncestral: return ("euler_ancestral", spacing == .karras ? "karras" : "normal")
        case .dpmpp2m: return ("dpmpp_2m", spacing == .karras ? "karras" : "normal")
        case .ddim: return ("ddim", "ddim_uniform")
        case .lcm: return ("lcm", "sgm_uniform")
        }
    }

    /// The prompt text ComfyUI encodes: `<lora:…>` and other extra-network tags and `#` comments
    /// removed (LoRAs are loader nodes), spaces and commas left by them tidied. Emphasis passes
    /// through (ComfyUI reads `(x:1.2)` and `(x)`); README, "Render backends", lists what differs.
    public static func promptText(_ text: String) -> String {
        let plain = A1111Prompt.withoutExtraNetworks(text)
        var parts: [String] = []
        for line in plain.split(separator: "\n", omittingEmptySubsequences: false) {
            let pieces = line.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            let joined = pieces.filter { !$0.isEmpty }.joined(separator: ", ")
            if !joined.isEmpty { parts.append(joined) }
        }
        return parts.joined(separator: "\n")
    }

    public static func build(_ r: RenderRequest, positive: String, negative: String, checkpoint: String,
                             loras: [(name: String, unet: Float, textEncoder: Float)], filenamePrefix: String = "stylus") -> [String: Any] {
        var nodes: [String: Any] = [:]
        func node(_ id: String, _ type: String, _ inputs: [String: Any]) { nodes[id] = ["class_type": type, "inputs": inputs] }
        node(checkpointNode, "CheckpointLoaderSimple", ["ckpt_name": checkpoint])
        var model: [Any] = [checkpointNode, 0], clip: [Any] = [checkpointNode, 1]
        for (i, l) in loras.enumerated() {
            let id = loraNode(i)
            // Float's shortest decimal (0.8, not 0.800000011920929), as the tag was written.
            node(id, "LoraLoader", ["model": model, "clip": clip, "lora_name": l.name,
                                    "strength_model": Double("\(l.unet)") ?? Double(l.unet),
                                    "strength_clip": Double("\(l.textEncoder)") ?? Double(l.textEncoder)])
            model = [id, 0]
            clip = [id, 1]
        }
        node(clipSkipNode, "CLIPSetLastLayer", ["clip": clip, "stop_at_clip_layer": -max(1, r.clipSkip)])
        clip = [clipSkipNode, 0]
        node(positiveNode, "CLIPTextEncode", ["clip": clip, "text": positive])
        node(negativeNode, "CLIPTextEncode", ["clip": clip, "text": negative])
        node(latentNode, "EmptyLatentImage", ["width": r.width, "height": r.height, "batch_size": 1])
        let (sampler, scheduler) = sampler(r.sampler, r.spacing)
        node(samplerNode, "KSampler", ["model": model, "positive": [positiveNode, 0], "negative": [negativeNode, 0],
                                       "latent_image": [latentNode, 0], "seed": Int(truncatingIfNeeded: r.seed), "steps": r.steps, "cfg": r.cfgScale,
                                       "sampler_name": sampler, "scheduler": scheduler, "denoise": 1.0])
        node(decodeNode, "VAEDecode", ["samples": [samplerNode, 0], "vae": [checkpointNode, 2]])
        node(saveNode, "SaveImage", ["images": [decodeNode, 0], "filename_prefix": filenamePrefix])
        return nodes
    }
}
