import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import StylusCore

/// txt2img on an A1111/Forge server (`--api`): the composed prompt goes as text with its
/// `<lora:…>` tags (the server loads the LoRAs itself), the checkpoint through `/sdapi/v1/options`.
public struct A1111Backend: Sendable {
    public var baseURL: URL
    /// Longest wait for one answer (a txt2img call answers only when the image is done).
    public var timeout: TimeInterval
    /// How often `/sdapi/v1/progress` is asked for the sampler step while waiting.
    public var pollInterval: TimeInterval

    public init(baseURL: URL, timeout: TimeInterval = 600, pollInterval: TimeInterval = 1) {
        self.baseURL = baseURL
        self.timeout = timeout
        self.pollInterval = pollInterval
    }

    /// What the server returned: the PNG bytes and its `info` (seed actually used, infotext).
    public struct Result: Sendable {
        public var png: [UInt8]
        public var seed: Int64?
        public var infotext: String?
    }

    /// Selects `checkpoint` (a model title or file name as the server lists it), when given.
    public func selectCheckpoint(_ checkpoint: String, cancellation: RenderCancellation) throws {
        let body = try JSONSerialization.data(withJSONObject: ["sd_model_checkpoint": checkpoint])
        _ = try send("POST", "/sdapi/v1/options", body: body, cancellation: cancellation, whileWaiting: nil)
    }

    /// Renders one image. `progress(step, steps)` reports the server's sampler steps when it tells them.
    ///
    /// `override_settings` is always sent, with the checkpoint in it when one is given and
    /// `override_settings_restore_afterwards: false`: Forge reads the checkpoint from there (its
    /// `/sdapi/v1/options` only records the choice, and some builds fail on a request without
    /// `override_settings`); A1111 takes it the same way and keeps the model loaded for the next image.
    public func txt2img(_ r: RenderRequest, prompt: String, negative: String, sampler: String, checkpoint: String? = nil,
                        cancellation: RenderCancellation, progress: @escaping (Int, Int) -> Void) throws -> Result {
        var payload: [String: Any] = [
            "prompt": prompt, "negative_prompt": negative, "steps": r.steps, "cfg_scale": r.cfgScale,
            "seed": Int64(r.seed), "width": r.width, "height": r.height, "sampler_name": sampler,
            "batch_size": 1, "n_iter": 1, "send_images": true, "save_images": false,
        ]
        var overrides: [String: Any] = [:]
        if r.clipSkip > 1 { overrides["CLIP_stop_at_last_layers"] = r.clipSkip }
        if let checkpoint { overrides["sd_model_checkpoint"] = checkpoint }
        payload["override_settings"] = overrides
        payload["override_settings_restore_afterwards"] = false
        let body = try JSONSerialization.data(withJSONObject: payload, options: [.sortedKeys])
        let poller = ProgressPoller(backend: self, interval: pollInterval, report: progress)
        let data = try send("POST", "/sdapi/v1/txt2img", body: body, cancellation: cancellation,
                            whileWaiting: { poller.tick() })
        let url = endpoint("/sdapi/v1/txt2img").absoluteString
        guard let obj = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw RemoteServerError(.a1111, url: url, .badResponse(reason: "not a JSON object: \(RemoteHTTP.snippet(data))"))
        }
        guard let images = obj["images"] as? [String], var first = images.first else {
            throw RemoteServerError(.a1111, url: url, .badResponse(reason: "no \"images\" list in the answer"))
        }
        if first.hasPrefix("data:"), let comma = first.firstIndex(of: ",") { first = String(first[first.index(after: comma)...]) }
        guard let decoded = Data(base64Encoded: first, options: .ignoreUnknownCharacters) else {
            throw RemoteServerError(.a1111, url: url, .badResponse(reason: "the image is not base64"))
        }
        let png = [UInt8](decoded)
        guard PNGText.chunks(png) != nil else {
            throw RemoteServerError(.a1111, url: url, .badResponse(reason: "the image is not a PNG (set the server's image format to png)"))
        }
        var result = Result(png: png)
        // `info` is a JSON document inside a string.
        if let infoText = obj["info"] as? String, let info = try? JSONSerialization.jsonObject(with: Data(infoText.utf8)) as? [String: Any] {
            result.seed = (info["seed"] as? NSNumber)?.int64Value
            result.infotext = (info["infotexts"] as? [String])?.first
        }
        return result
    }

    /// Asks the server to stop the current job (best effort, no answer awaited).
    public func interrupt() {
        var request = URLRequest(url: endpoint("/sdapi/v1/interrupt"))
        request.httpMethod = "POST"
        request.timeoutInterval = 5
        URLSession.shared.dataTask(with: request) { _, _, _ in }.resume()
    }

    func endpoint(_ path: String) -> URL {
        var base = baseURL.absoluteString
        while base.hasSuffix("/") { base.removeLast() }
        return URL(string: base + path)!
    }

    /// One HTTP exchange, waited for in short slices so cancellation and `whileWaiting` run meanwhile;
    /// a cancelled txt2img asks the server to stop.
    func send(_ method: String, _ path: String, body: Data?, timeout: TimeInterval? = nil,
              cancellation: RenderCancellation, whileWaiting: (() -> Void)?) throws -> Data {
        let url = endpoint(path)
        let answer = try RemoteHTTP.send(method, url, body: body, limit: timeout ?? self.timeout, server: .a1111,
                                         cancellation: cancellation, whileWaiting: whileWaiting,
                                         onCancel: { if path == "/sdapi/v1/txt2img" { interrupt() } })
        return try RemoteHTTP.successful(answer, url: url, server: .a1111)
    }


    /// Polls `/sdapi/v1/progress` while a txt2img call runs; answers arrive asynchronously and are
    /// reported from the waiting thread. Failures are ignored (older servers, busy servers).
    private final class ProgressPoller: @unchecked Sendable {
        let backend: A1111Backend
        let interval: TimeInterval
        let report: (Int, Int) -> Void
        private let lock = NSLock()
        private var latest: (Int, Int)?
        private var reported: (Int, Int)?
        private var inFlight = false
        private var last = Date()

        init(backend: A1111Backend, interval: TimeInterval, report: @escaping (Int, Int) -> Void) {
            self.backend = backend
            self.interval = interval
            self.report = report
        }

        func tick() {
            lock.lock()
            let pending = latest
            let shouldAsk = !inFlight && Date().timeIntervalSince(last) >= interval
            if shouldAsk { inFlight = true; last = Date() }
            lock.unlock()
            if let pending, pending != reported ?? (-1, -1) {
                reported = pending
                report(pending.0, pending.1)
            }
            guard shouldAsk else { return }
            var request = URLRequest(url: backend.endpoint("/sdapi/v1/progress?skip_current_image=true"))
            request.timeoutInterval = 5
            URLSession.shared.dataTask(with: request) { [self] data, _, _ in
                var step: (Int, Int)?
                if let data, let obj = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                   let state = obj["state"] as? [String: Any],
                   let i = (state["sampling_step"] as? NSNumber)?.intValue, let n = (state["sampling_steps"] as? NSNumber)?.intValue, n > 0 {
                    step = (min(i, n), n)
                }
                lock.lock()
                if let step { latest = step }
                inFlight = false
                lock.unlock()
            }.resume()
        }
    }
}
