import Foundation
import StylusCore
import StylusML

/// What the files around a LoRA say about it. Each source fills a
/// partial record; `merged` applies the precedence users expect: their own A1111 edits first,
/// then Civitai data (Civitai Helper, Lora-Manager), then the safetensors header.
struct AdapterFacts {
    var title: String?
    var descriptions: [String] = []
    var baseModelRaw: String?
    var triggerWords: [String] = []
    var weight: Double?
    var tags: [String] = []
    var nsfw: Bool?
    var imagePrompts: [String] = []
    var negativePrompts: [String?] = []
    var imageURLs: [String] = []
    var civitaiModelID: String?
    var civitaiVersionID: String?
    var alias: String?
    var trainingTags: [String] = []
    var autov3: String?
    var sha256: String?
    var extra: [String: String] = [:]

    /// Fills what `self` lacks from `lower` (a lower-precedence source).
    func filled(from lower: AdapterFacts) -> AdapterFacts {
        var m = self
        if m.title == nil { m.title = lower.title }
        m.descriptions += lower.descriptions.filter { d in !m.descriptions.contains(d) }
        if m.baseModelRaw == nil { m.baseModelRaw = lower.baseModelRaw }
        if m.triggerWords.isEmpty { m.triggerWords = lower.triggerWords }
        if m.weight == nil { m.weight = lower.weight }
        if m.tags.isEmpty { m.tags = lower.tags }
        if m.nsfw == nil { m.nsfw = lower.nsfw }
        if m.imagePrompts.isEmpty {
            m.imagePrompts = lower.imagePrompts
            m.negativePrompts = lower.negativePrompts
        }
        if m.imageURLs.isEmpty { m.imageURLs = lower.imageURLs }
        if m.civitaiModelID == nil { m.civitaiModelID = lower.civitaiModelID }
        if m.civitaiVersionID == nil { m.civitaiVersionID = lower.civitaiVersionID }
        if m.alias == nil { m.alias = lower.alias }
        if m.trainingTags.isEmpty { m.trainingTags = lower.trainingTags }
        if m.autov3 == nil { m.autov3 = lower.autov3 }
        if m.sha256 == nil { m.sha256 = lower.sha256 }
        m.extra.merge(lower.extra) { mine, _ in mine }
        return m
    }
}

enum Sidecars {
    struct Problem: Error { var reason: String }

    static func readJSONObject(_ path: String) -> Result<[String: Any], Problem> {
        if let problem = RegularFile.problem(at: path) { return .failure(Problem(reason: problem + ", ignored")) }
        guard let data = FileManager.default.contents(atPath: path) else {
            return .failure(Problem(reason: "cannot read"))
        }
        if data.count > 64 << 20 { return .failure(Problem(reason: "larger than 64 MiB, ignored")) }
        guard let object = try? JSONSerialization.jsonObject(with: data) else {
            return .failure(Problem(reason: "not valid JSON, ignored"))
        }
        guard let dict = object as? [String: Any] else { return .failure(Problem(reason: "not a JSON object, ignored")) }
        return .success(dict)
    }

    /// Civitai Helper `<stem>.civitai.info`: a Civitai model-version object (`{}` = not on Civitai).
    static func civitaiInfo(_ d: [String: Any]) -> AdapterFacts {
        var f = AdapterFacts()
        let model = d["model"] as? [String: Any] ?? [:]
        f.title = JSONText.string(model["name"])
        f.descriptions = [JSONText.string(model["description"]), JSONText.string(d["description"])].compactMap { $0 }.filter { !$0.isEmpty }
        f.baseModelRaw = JSONText.string(d["baseModel"])
        f.triggerWords = JSONText.strings(d["trainedWords"])
        f.tags = JSONText.strings(model["tags"])
        if let nsfw = JSONText.bool(model["nsfw"]) { f.nsfw = nsfw }
        else if let level = JSONText.int(d["nsfwLevel"]) { f.nsfw = level >= 4 }
        imageFacts(JSONText.objects(d["images"]), into: &f)
        f.civitaiModelID = JSONText.string(d["modelId"])
        f.civitaiVersionID = JSONText.string(d["id"])
        let files = JSONText.objects(d["files"])
        if let hashes = (files.first { JSONText.bool($0["primary"]) == true } ?? files.first)?["hashes"] as? [String: Any] {
            f.autov3 = JSONText.string(hashes["AutoV3"])?.lowercased()
            f.sha256 = JSONText.string(hashes["SHA256"])?.lowercased()
        }
        return f
    }

    static func imageFacts(_ images: [[String: Any]], into f: inout AdapterFacts) {
        for image in images {
            if let url = JSONText.string(image["url"]) { f.imageURLs.append(url) }
            guard let meta = image["meta"] as? [String: Any], let p = JSONText.string(meta["prompt"]), !p.isEmpty else { continue }
            f.imagePrompts.append(p)
            f.negativePrompts.append(JSONText.string(meta["negativePrompt"]))
        }
    }

    /// A1111 user metadata `<stem>.json`: description, sd version, activation text, preferred weight.
    static func a1111UserMetadata(_ d: [String: Any]) -> AdapterFacts {
        var f = AdapterFacts()
        if let desc = JSONText.string(d["description"]), !desc.isEmpty { f.descriptions.append(desc) }
        if let notes = JSONText.string(d["notes"]), !notes.isEmpty { f.extra["notes"] = notes }
        if let sd = JSONText.string(d["sd version"]), BaseModel(sd) != nil { f.baseModelRaw = sd }
        if let activation = JSONText.string(d["activation text"]) { f.triggerWords = splitActivationText(activation) }
        // 0 means "use the default multiplier" in A1111.
        if let w = JSONText.double(d["preferred weight"]), w != 0, w.isFinite { f.weight = w }
        if let neg = JSONText.string(d["negative text"]), !neg.isEmpty { f.extra["negative_text"] = neg }
        return f
    }

    /// "a, b" → ["a", "b"]; "prompt one, x || prompt two" (whole alternative prompts) → split on "||".
    static func splitActivationText(_ s: String) -> [String] {
        let parts = s.contains("||") ? s.components(separatedBy: "||") : s.components(separatedBy: ",")
        return parts.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }.filter { !$0.isEmpty }
    }

    /// Lora-Manager `<stem>.metadata.json`: top-level fields plus the embedded Civitai version.
    static func loraManagerMetadata(_ d: [String: Any]) -> AdapterFacts {
        var f = AdapterFacts()
        f.title = JSONText.string(d["model_name"])
        if let desc = JSONText.string(d["modelDescription"]), !desc.isEmpty { f.descriptions.append(desc) }
        if let notes = JSONText.string(d["notes"]), !notes.isEmpty { f.descriptions.append(notes) }
        f.baseModelRaw = JSONText.string(d["base_model"])
        f.tags = JSONText.strings(d["tags"])
        if let level = JSONText.int(d["preview_nsfw_level"]), level > 0 { f.nsfw = level >= 4 }
        f.sha256 = JSONText.string(d["sha256"])?.lowercased()
        f.autov3 = JSONText.string(d["autov3"])?.lowercased()
        // usage_tips is a JSON object encoded in a string: {strength, strength_min, strength_max, …}.
        if let tipsText = JSONText.string(d["usage_tips"]), let data = tipsText.data(using: .utf8),
           let tips = try? JSONSerialization.jsonObject(with: data) as? [String: Any] {
            if let w = JSONText.double(tips["strength"]), w != 0 {
                f.weight = w
            } else if let lo = JSONText.double(tips["strength_min"]), let hi = JSONText.double(tips["strength_max"]), lo < hi {
                f.weight = ((lo + hi) / 2 * 1000).rounded() / 1000
            }
        }
        if let civitai = d["civitai"] as? [String: Any], !civitai.isEmpty {
            f = f.filled(from: civitaiInfo(civitai))
        }
        return f
    }

    /// The safetensors `__metadata__` (kohya `ss_*`, ModelSpec `modelspec.*`, additional-networks `ssmd_*`).
    static func headerFacts(_ meta: [String: String]) -> AdapterFacts {
        var f = AdapterFacts()
        func value(_ key: String) -> String? {
            guard let v = meta[key]?.trimmingCharacters(in: .whitespacesAndNewlines), !v.isEmpty, v != "None" else { return nil }
            return v
        }
        f.title = value("ssmd_display_name") ?? value("modelspec.title")
        f.descriptions = [value("ssmd_description"), value("modelspec.description"), value("modelspec.usage_hint")].compactMap { $0 }
        if let v = value("ss_base_model_version") {
            f.baseModelRaw = v
        } else if let arch = value("modelspec.architecture") {
            f.baseModelRaw = arch
        } else if value("ss_v2") == "True" {
            f.baseModelRaw = "sd_v2"
        } else if meta.keys.contains(where: { $0.hasPrefix("ss_") }) {
            f.baseModelRaw = "sd_v1"  // A1111: any kohya metadata without v2/sdxl markers means SD1
        }
        f.triggerWords = (value("ssmd_keywords") ?? value("modelspec.trigger_phrase")).map(splitActivationText) ?? []
        f.tags = (value("ssmd_tags") ?? value("modelspec.tags")).map { $0.components(separatedBy: ",") }?
            .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty } ?? []
        if let name = value("ss_output_name"), name.lowercased() != "none", name != "Addams" { f.alias = name }
        if let hash = value("sshs_model_hash")?.lowercased(), hash.count >= 12, hash.allSatisfy(\.isHexDigit) {
            f.autov3 = String(hash.prefix(12))
        }
        f.trainingTags = classTokens(value("ss_datasets")) + frequentTags(value("ss_tag_frequency"))
        for key in ["ss_network_module", "ss_network_dim", "ss_network_alpha", "ss_sd_model_name", "ssmd_author", "modelspec.author", "ss_network_args"] {
            if let v = value(key) { f.extra[key] = v }
        }
        return f
    }

    /// Tags present in at least 90% of as many captions as the most frequent tag, most frequent first
    /// (the token a trainer put in every caption is the trigger). Sums over dataset folders.
    static func frequentTags(_ json: String?) -> [String] {
        guard let json, let data = json.data(using: .utf8),
              let dirs = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return [] }
        var counts: [String: Int] = [:]
        for case let tags as [String: Any] in dirs.values {
            for (tag, n) in tags {
                let t = tag.trimmingCharacters(in: .whitespaces)
                guard !t.isEmpty else { continue }
                counts[t, default: 0] += JSONText.int(n) ?? 0
            }
        }
        guard let top = counts.values.max(), top > 0 else { return [] }
        return counts.filter { Double($0.value) >= 0.9 * Double(top) }
            .sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
            .prefix(8).map(\.key)
    }

    /// All tags by frequency (for describing what the dataset showed).
    static func allTagsByFrequency(_ json: String?, limit: Int) -> [String] {
        guard let json, let data = json.data(using: .utf8),
              let dirs = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return [] }
        var counts: [String: Int] = [:]
        for case let tags as [String: Any] in dirs.values {
            for (tag, n) in tags { counts[tag.trimmingCharacters(in: .whitespaces), default: 0] += JSONText.int(n) ?? 0 }
        }
        return counts.filter { !$0.key.isEmpty }.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
            .prefix(limit).map(\.key)
    }

    /// `ss_datasets[].subsets[].class_tokens` (DreamBooth-style datasets name their token there).
    static func classTokens(_ json: String?) -> [String] {
        guard let json, let data = json.data(using: .utf8),
              let datasets = try? JSONSerialization.jsonObject(with: data) as? [Any] else { return [] }
        var out: [String] = []
        for case let ds as [String: Any] in datasets {
            for sub in JSONText.objects(ds["subsets"]) {
                if let t = JSONText.string(sub["class_tokens"]), !t.isEmpty, !out.contains(t) { out.append(t) }
            }
        }
        return out
    }

    /// Lora-Manager's preview discovery order.
    static let previewSuffixes = [".webp", ".preview.webp", ".preview.png", ".preview.jpeg", ".preview.jpg", ".preview.mp4",
                                  ".png", ".jpeg", ".jpg", ".mp4", ".gif", ".webm", ".avif", ".jxl"]
}
