import Foundation
import StylusCore

/// Imports adapter cards from files into a catalog: StylusDocs-style JSONL (docs/CONTRACTS.md, Adapter cards) and
/// Civitai API JSON (a `/models` page, an array of models, a model, or model-version objects).
/// Streaming for JSONL; bad items are skipped with their location and reason; everything read
/// before a failure stays stored (writes are committed in batches).
public struct CatalogImporter {
    public enum Format: String, Sendable, CaseIterable { case auto, jsonl, civitai }

    public let store: CatalogStore
    /// Items per write transaction: large enough to be fast, small enough that another process
    /// writing the same catalog is not starved.
    public var batchSize = 500
    /// Whole-document JSON (Civitai) larger than this is refused rather than loaded.
    public var maxDocumentBytes = 512 << 20

    public init(store: CatalogStore) { self.store = store }

    /// Imports one file; `source` labels the rows ("jsonl", "civitai", "starter").
    public func importFile(_ path: String, format: Format = .auto, source: String? = nil) throws -> ImportReport {
        let resolved = format == .auto ? try Self.detectFormat(path) : format
        switch resolved {
        case .jsonl, .auto: return try importJSONL(path, source: source ?? "jsonl")
        case .civitai: return try importCivitai(path, source: source ?? "civitai")
        }
    }

    /// `.jsonl` files are JSONL; `.json`/`.info` files and anything starting with `[` are whole
    /// documents; otherwise a first line that is a complete object with `adapter_id` means JSONL.
    static func detectFormat(_ path: String) throws -> Format {
        let lower = path.lowercased()
        if lower.hasSuffix(".jsonl") || lower.hasSuffix(".ndjson") { return .jsonl }
        if lower.hasSuffix(".json") || lower.hasSuffix(".info") { return .civitai }
        var reader = try LineReader(path: path, maxLineBytes: 16 << 20)
        while let line = try reader.next() {
            guard case let .text(_, bytes) = line else { return .civitai }
            guard let first = bytes.first(where: { $0 != 0x20 && $0 != 0x09 }) else { continue }
            if first == UInt8(ascii: "[") { return .civitai }
            if let obj = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any] {
                return obj["adapter_id"] != nil ? .jsonl : .civitai
            }
            return .civitai
        }
        return .jsonl
    }

    // MARK: - JSONL

    public func importJSONL(_ path: String, source: String = "jsonl") throws -> ImportReport {
        var reader = try LineReader(path: path)
        var report = ImportReport()
        var batch: [AdapterInput] = []
        let name = (path as NSString).lastPathComponent
        while let line = try reader.next() {
            switch line {
            case let .tooLong(number):
                report.skip("\(name):\(number)", "line longer than \(reader.maxLineBytes >> 20) MiB")
            case let .text(number, bytes):
                let location = "\(name):\(number)"
                if bytes.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { continue }
                guard String(validating: bytes, as: UTF8.self) != nil else {
                    report.skip(location, "not valid UTF-8")
                    continue
                }
                let object: Any
                do {
                    object = try JSONSerialization.jsonObject(with: Data(bytes))
                } catch {
                    report.skip(location, "not valid JSON (\(Self.jsonErrorSummary(error)))")
                    continue
                }
                guard let dict = object as? [String: Any] else {
                    report.skip(location, "expected a JSON object, found \(Self.kind(of: object))")
                    continue
                }
                switch Self.stylusDocsInput(dict, source: source, ref: "\(path):\(number)") {
                case let .success(input):
                    if let e = input.embedding, !e.isUsable {
                        report.note(location, "embedding from \(e.model.isEmpty ? "an unnamed model" : e.model) with \(e.values.count) dims ignored (will be recomputed with \(EmbeddingVector.modelID))")
                    }
                    batch.append(input)
                case let .failure(problem):
                    report.skip(location, problem.reason)
                }
                if batch.count >= batchSize { try flush(&batch, into: &report) }
            }
        }
        try flush(&batch, into: &report)
        return report
    }

    func flush(_ batch: inout [AdapterInput], into report: inout ImportReport) throws {
        guard !batch.isEmpty else { return }
        let outcomes = try store.upsert(batch)
        for (input, outcome) in zip(batch, outcomes) {
            switch outcome {
            case .added: report.added += 1
            case .updated: report.updated += 1
            case .unchanged: report.unchanged += 1
            }
            if input.embedding?.isUsable == true, outcome != .unchanged { report.embeddingsStored += 1 }
        }
        batch.removeAll(keepingCapacity: true)
    }

    struct Problem: Error { var reason: String }

    static let stylusDocsFields: Set<String> = [
        "adapter_id", "alias", "title", "base_model", "type", "tags", "trigger_words", "description",
        "llm_description", "weight", "nsfw", "stats", "image_prompts", "image_negative_prompts", "image_urls",
        "download_url", "file", "embedding", "embedding_model", "category",
    ]

    /// One docs/CONTRACTS.md, Adapter cards record. Required: `adapter_id`; `alias` (or a `file` to take the stem from).
    static func stylusDocsInput(_ d: [String: Any], source: String, ref: String) -> Result<AdapterInput, Problem> {
        guard let id = JSONText.string(d["adapter_id"])?.trimmingCharacters(in: .whitespaces), !id.isEmpty else {
            return .failure(Problem(reason: "missing adapter_id"))
        }
        let file = JSONText.string(d["file"])
        var alias = JSONText.string(d["alias"])?.trimmingCharacters(in: .whitespaces) ?? ""
        if alias.isEmpty, let file { alias = ((file as NSString).lastPathComponent as NSString).deletingPathExtension }
        guard !alias.isEmpty else { return .failure(Problem(reason: "adapter \(id): missing alias")) }
        if let problem = controlCharacterProblem(id: id, alias: alias) { return .failure(Problem(reason: problem)) }
        guard !alias.contains(":"), !alias.contains(">") else {
            return .failure(Problem(reason: "adapter \(id): alias \"\(alias)\" cannot be used in <lora:…> (contains ':' or '>')"))
        }
        if let w = d["weight"], !(w is NSNull), JSONText.double(w) == nil {
            return .failure(Problem(reason: "adapter \(id): weight must be a number or null"))
        }
        let baseRaw = JSONText.string(d["base_model"])
        let stats = d["stats"] as? [String: Any]
        let card = AdapterCard(
            adapterId: id, alias: alias,
            title: JSONText.string(d["title"]).flatMap { $0.isEmpty ? nil : $0 } ?? alias,
            baseModel: baseRaw.flatMap(BaseModel.init), type: JSONText.string(d["type"]) ?? "LORA",
            tags: JSONText.strings(d["tags"]), triggerWords: JSONText.strings(d["trigger_words"]),
            description: JSONText.string(d["description"]) ?? "",
            llmDescription: JSONText.string(d["llm_description"]).flatMap { $0.isEmpty ? nil : $0 },
            weight: JSONText.double(d["weight"]).flatMap { $0.isFinite ? $0 : nil },
            nsfw: JSONText.bool(d["nsfw"]) ?? false,
            downloadCount: JSONText.int(stats?["downloadCount"]), rating: JSONText.double(stats?["rating"]),
            imagePrompts: JSONText.strings(d["image_prompts"]), imageURLs: JSONText.strings(d["image_urls"]),
            downloadURL: JSONText.string(d["download_url"]), file: file)
        var embedding: EmbeddingVector?
        if let values = d["embedding"] as? [Any] {
            embedding = EmbeddingVector(model: JSONText.string(d["embedding_model"]) ?? "",
                                        values: values.map { Float(JSONText.double($0) ?? .nan) })
        }
        let unknown = d.filter { !stylusDocsFields.contains($0.key) }
        return .success(AdapterInput(
            card: card, baseModelRaw: baseRaw,
            negativePrompts: (d["image_negative_prompts"] as? [Any])?.map { JSONText.string($0) } ?? [],
            statedCategory: JSONText.string(d["category"]).flatMap { AdapterCategory(tag: $0) },
            extra: unknown.isEmpty ? nil : JSONText.serialize(unknown), source: source, sourceRef: ref,
            embedding: embedding))
    }

    /// Ids and aliases name cards in SQLite, where text ends at a NUL: `"victim\u0000evil"` would
    /// be stored as `victim` and replace that card. No control character belongs in either.
    static func controlCharacterProblem(id: String, alias: String) -> String? {
        for (field, value) in [("adapter_id", id), ("alias", alias)] {
            guard let c = value.unicodeScalars.first(where: { $0.properties.generalCategory == .control }) else { continue }
            let code = String(c.value, radix: 16, uppercase: true)
            return "\(field) \(jsonStringLiteral(value)) contains the control character U+\(String(repeating: "0", count: max(0, 4 - code.count)) + code); use printable text"
        }
        return nil
    }

    static func jsonErrorSummary(_ error: Error) -> String {
        let ns = error as NSError
        if let detail = ns.userInfo[NSDebugDescriptionErrorKey] as? String { return detail }
        return ns.localizedDescription
    }

    static func kind(of v: Any) -> String {
        switch v {
        case is [Any]: return "an array"
        case is String: return "a string"
        case is NSNull: return "null"
        default: return "a \(type(of: v))"
        }
    }

    // MARK: - Civitai API JSON

    public func importCivitai(_ path: String, source: String = "civitai") throws -> ImportReport {
        let data = try Self.readDocument(path, limit: maxDocumentBytes)
        let name = (path as NSString).lastPathComponent
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: data)
        } catch {
            if String(data: data, encoding: .utf8) == nil {
                throw CatalogError.badInput(path: path, reason: "not valid UTF-8")
            }
            throw CatalogError.badInput(path: path, reason: "not valid JSON (\(Self.jsonErrorSummary(error)))")
        }
        var report = ImportReport()
        var inputs = CivitaiMapping.inputs(from: object, file: name, source: source, report: &report)
        for start in stride(from: 0, to: inputs.count, by: batchSize) {
            var batch = Array(inputs[start..<min(inputs.count, start + batchSize)])
            try flush(&batch, into: &report)
        }
        inputs.removeAll()
        return report
    }

    static func readDocument(_ path: String, limit: Int) throws -> Data {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir), !isDir.boolValue,
              let handle = FileHandle(forReadingAtPath: path) else {
            throw CatalogError.unreadableInput(path: path, reason: LineReader.openFailureReason(path))
        }
        defer { try? handle.close() }
        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.intValue ?? 0
        if size > limit {
            throw CatalogError.badInput(path: path, reason: "\(size >> 20) MiB is more than the \(limit >> 20) MiB limit for one JSON document; split it or use JSONL")
        }
        do {
            return try handle.readToEnd() ?? Data()
        } catch {
            throw CatalogError.unreadableInput(path: path, reason: error.localizedDescription)
        }
    }
}

/// Civitai API objects → adapter inputs.
enum CivitaiMapping {
    /// Model types that are adapters we can select and merge.
    static let adapterTypes: Set<String> = ["lora", "locon", "dora", "lycoris", "loha", "lokr"]

    static func inputs(from object: Any, file: String, source: String, report: inout ImportReport) -> [AdapterInput] {
        var out: [AdapterInput] = []
        func visit(_ item: Any, _ location: String) {
            guard let d = item as? [String: Any] else {
                report.skip(location, "expected a Civitai model or model-version object, found \(CatalogImporter.kind(of: item))")
                return
            }
            if d.isEmpty {
                report.skip(location, "empty record (Civitai Helper writes {} for files not on Civitai)")
            } else if d["modelVersions"] != nil {
                out += model(d, location: location, source: source, report: &report)
            } else if d["adapter_id"] != nil {
                switch CatalogImporter.stylusDocsInput(d, source: source, ref: location) {
                case let .success(input): out.append(input)
                case let .failure(p): report.skip(location, p.reason)
                }
            } else if d["baseModel"] != nil || d["modelId"] != nil || d["trainedWords"] != nil {
                if let input = version(d, model: d["model"] as? [String: Any] ?? [:], modelID: JSONText.string(d["modelId"]),
                                       location: location, source: source, report: &report) {
                    out.append(input)
                }
            } else {
                report.skip(location, "not a Civitai model (no modelVersions) or model version (no baseModel/modelId)")
            }
        }
        if let d = object as? [String: Any], let items = d["items"] as? [Any] {
            for (i, item) in items.enumerated() { visit(item, "\(file) items[\(i)]") }
        } else if let items = object as? [Any] {
            for (i, item) in items.enumerated() { visit(item, "\(file) [\(i)]") }
        } else {
            visit(object, file)
        }
        return out
    }

    /// A Model: one adapter per base model, from its newest version for that base (Civitai
    /// lists versions newest first). The first gets `civitai-<modelId>`, others `civitai-<modelId>@<versionId>`.
    static func model(_ m: [String: Any], location: String, source: String, report: inout ImportReport) -> [AdapterInput] {
        let modelID = JSONText.string(m["id"])
        let type = JSONText.string(m["type"]) ?? "LORA"
        guard adapterTypes.contains(type.lowercased()) else {
            report.skip(location, "\(JSONText.string(m["name"]) ?? "model \(modelID ?? "?")"): type \(type) is not a LoRA-style adapter")
            return []
        }
        var seenBases = Set<String>()
        var out: [AdapterInput] = []
        for (i, v) in JSONText.objects(m["modelVersions"]).enumerated() {
            let base = JSONText.string(v["baseModel"]).flatMap(BaseModel.init)?.name ?? "?"
            guard seenBases.insert(base).inserted else { continue }
            var input = version(v, model: m, modelID: modelID, location: "\(location) modelVersions[\(i)]",
                                source: source, report: &report)
            if out.count > 0, let vid = JSONText.string(v["id"]), let mid = modelID {
                input?.card.adapterId = "civitai-\(mid)@\(vid)"
            }
            if let input { out.append(input) }
        }
        if out.isEmpty && seenBases.isEmpty { report.skip(location, "model has no versions") }
        return out
    }

    /// A ModelVersion, with its model's fields (`model` holds at least name/type/nsfw).
    static func version(_ v: [String: Any], model m: [String: Any], modelID: String?, location: String,
                        source: String, report: inout ImportReport) -> AdapterInput? {
        let type = JSONText.string(m["type"]) ?? "LORA"
        guard adapterTypes.contains(type.lowercased()) else {
            report.skip(location, "type \(type) is not a LoRA-style adapter")
            return nil
        }
        let versionID = JSONText.string(v["id"])
        guard let id = modelID.map({ "civitai-\($0)" }) ?? versionID.map({ "civitai-version-\($0)" }) else {
            report.skip(location, "no model id or version id")
            return nil
        }
        let files = JSONText.objects(v["files"])
        let primary = files.first { JSONText.bool($0["primary"]) == true }
            ?? files.first { (JSONText.string($0["type"]) ?? "Model") == "Model" } ?? files.first
        let title = JSONText.string(m["name"]) ?? JSONText.string(v["name"]) ?? id
        var alias = primary.flatMap { JSONText.string($0["name"]) }.map { ($0 as NSString).deletingPathExtension } ?? ""
        if alias.isEmpty { alias = slug(title) }
        alias = alias.replacingOccurrences(of: ":", with: "_").replacingOccurrences(of: ">", with: "_")
        if let problem = CatalogImporter.controlCharacterProblem(id: id, alias: alias) {
            report.skip(location, problem)
            return nil
        }
        let descriptions = [JSONText.string(m["description"]), JSONText.string(v["description"])].compactMap { $0 }
        let images = JSONText.objects(v["images"])
        var prompts: [String] = []
        var negatives: [String?] = []
        for image in images {
            guard let meta = image["meta"] as? [String: Any], let p = JSONText.string(meta["prompt"]), !p.isEmpty else { continue }
            prompts.append(p)
            negatives.append(JSONText.string(meta["negativePrompt"]))
        }
        let tags = (m["tags"] as? [Any] ?? []).compactMap { t -> String? in
            JSONText.string(t) ?? (t as? [String: Any]).flatMap { JSONText.string($0["name"]) }
        }
        let nsfwLevel = JSONText.int(v["nsfwLevel"]) ?? JSONText.int(m["nsfwLevel"]) ?? 0
        let stats = (m["stats"] as? [String: Any]) ?? (v["stats"] as? [String: Any])
        let baseRaw = JSONText.string(v["baseModel"])
        let card = AdapterCard(
            adapterId: id, alias: alias, title: title, baseModel: baseRaw.flatMap(BaseModel.init), type: type,
            tags: tags, triggerWords: JSONText.strings(v["trainedWords"]),
            description: descriptions.joined(separator: "\n"),
            nsfw: JSONText.bool(m["nsfw"]) ?? (nsfwLevel >= 4),  // bitmask: 4 = R, 8 = X, 16 = XXX
            downloadCount: JSONText.int(stats?["downloadCount"]), rating: JSONText.double(stats?["rating"]),
            imagePrompts: prompts, imageURLs: images.compactMap { JSONText.string($0["url"]) },
            downloadURL: JSONText.string(v["downloadUrl"]) ?? primary.flatMap { JSONText.string($0["downloadUrl"]) })
        var extra: [String: Any] = [:]
        if let versionID { extra["civitai_version_id"] = versionID }
        if let modelID { extra["civitai_model_id"] = modelID }
        if let name = JSONText.string(v["name"]) { extra["civitai_version_name"] = name }
        if let hashes = primary?["hashes"] as? [String: Any] { extra["hashes"] = hashes }
        if let creator = (m["creator"] as? [String: Any]).flatMap({ JSONText.string($0["username"]) }) { extra["creator"] = creator }
        if let air = JSONText.string(v["air"]) { extra["air"] = air }
        return AdapterInput(card: card, baseModelRaw: baseRaw, negativePrompts: negatives,
                            extra: JSONText.serialize(extra),
                            source: source, sourceRef: location)
    }

    static func slug(_ s: String) -> String {
        let mapped = s.lowercased().map { $0.isLetter || $0.isNumber ? String($0) : "_" }.joined()
        return mapped.split(separator: "_").joined(separator: "_")
    }
}
