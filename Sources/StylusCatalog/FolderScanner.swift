import Foundation
import GRDB
import StylusCore
import StylusML

/// Scans LoRA folders into the catalog: recursive, incremental (a file whose size and mtime and
/// whose sidecars' sizes and mtimes are unchanged is not read again), safe against hostile
/// headers (StylusML's bounds-checked reader), with A1111 name resolution and duplicate reports.
public struct FolderScanner {
    public let store: CatalogStore
    /// Also compute the whole-file SHA-256/AutoV2 while scanning (otherwise lazily, on `show`).
    public var computeFullHashes = false

    public init(store: CatalogStore) { self.store = store }

    struct Candidate {
        var path: String
        var stem: String
        var size: Int64
        var mtime: Double
        var signature: String
    }

    public func scan(_ directory: String) throws -> ImportReport {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDir) else {
            throw CatalogError.unreadableInput(path: directory, reason: "no such folder")
        }
        guard isDir.boolValue else { throw CatalogError.unreadableInput(path: directory, reason: "not a folder") }
        let root = URL(fileURLWithPath: directory).standardizedFileURL.resolvingSymlinksInPath().path
        if let refusal = DirectoryWalk.refusal(forRoot: root) {
            throw CatalogError.unreadableInput(path: directory, reason: refusal)
        }
        guard FileManager.default.isReadableFile(atPath: root),
              (try? FileManager.default.contentsOfDirectory(atPath: root)) != nil else {
            throw CatalogError.unreadableInput(path: directory, reason: "permission denied")
        }
        var report = ImportReport()

        // 1. Walk the tree; remember every file so sidecar lookups are set lookups.
        var allFiles = Set<String>()
        var models: [String] = []
        walk(root, into: &allFiles, models: &models, report: &report)
        models.sort()

        // 2. Stat each model and its sidecars; unchanged signatures are skipped.
        let known = try store.read { db in
            try Row.fetchAll(db, sql: "SELECT adapter_id, file_path, scan_signature, alias, file_stem FROM adapters WHERE file_path IS NOT NULL")
        }
        var knownByPath: [String: (id: String, signature: String?)] = [:]
        for r in known { knownByPath[r["file_path"]] = (r["adapter_id"], r["scan_signature"]) }
        var changed: [Candidate] = []
        for path in models {
            guard let c = candidate(path, allFiles: allFiles) else {
                report.skip(path, "cannot stat the file")
                continue
            }
            if let k = knownByPath[path], k.signature == c.signature {
                report.unchanged += 1
            } else {
                changed.append(c)
            }
        }

        // 3. Read headers and sidecars of changed files.
        var prepared: [(Candidate, AdapterFacts)] = []
        for c in changed {
            let header: SafetensorsHeader
            do {
                header = try SafetensorsHeader.read(at: c.path)
            } catch {
                report.skip(c.path, error.description.replacingOccurrences(of: c.path + ": ", with: ""))
                continue
            }
            var facts = Sidecars.headerFacts(header.metadata)
            if facts.descriptions.isEmpty {
                let seen = Sidecars.allTagsByFrequency(header.metadata["ss_tag_frequency"], limit: 12)
                    .filter { !OfflineRefiner.genericTrainingTags.contains($0.lowercased()) }
                if !seen.isEmpty { facts.descriptions = ["Trained on images tagged: " + seen.joined(separator: ", ") + "."] }
            }
            facts = sidecarFacts(c, allFiles: allFiles, report: &report).filled(from: facts)
            if facts.autov3 == nil || header.metadata["sshs_model_hash"] == nil {
                // The addnet hash: SHA-256 of the tensor bytes after the header (A1111 "Lora hashes", Civitai AutoV3).
                do {
                    facts.autov3 = String(try SHA256.hexOfFile(c.path, from: header.dataStart).prefix(12))
                } catch {
                    report.skip(c.path, "\(error)")
                    continue
                }
            }
            if computeFullHashes, facts.sha256 == nil { facts.sha256 = try? SHA256.hexOfFile(c.path) }
            prepared.append((c, facts))
        }

        // 4. Names (A1111): alias = ss_output_name unless another file claims the same name;
        //    then the file stem. Duplicate stems are reported (A1111 keeps only one of them).
        var stemPaths: [String: [String]] = [:]
        for p in models { stemPaths[Self.stem(of: p).lowercased(), default: []].append(p) }
        for (_, paths) in stemPaths where paths.count > 1 {
            report.note(paths[0], "file name \"\(Self.stem(of: paths[0]))\" also used by \(paths.dropFirst().joined(separator: ", ")); A1111 resolves <lora:\(Self.stem(of: paths[0])):…> to only one of them")
        }
        let preparedPaths = Set(prepared.map(\.0.path))
        var aliasClaims: [String: Set<String>] = [:]
        for r in known where !preparedPaths.contains(r["file_path"]) {
            if let a: String = r["alias"] { aliasClaims[a.lowercased(), default: []].insert(r["file_path"]) }
        }
        for (c, f) in prepared { aliasClaims[(f.alias ?? c.stem).lowercased(), default: []].insert(c.path) }

        let present = Set(models)
        var inputs: [AdapterInput] = []
        var idsInBatch = Set<String>()
        for (c, var facts) in prepared {
            if let a = facts.alias, let claims = aliasClaims[a.lowercased()], claims.count > 1 {
                let others = claims.subtracting([c.path]).sorted()
                let listed = others.prefix(3).joined(separator: ", ") + (others.count > 3 ? " and \(others.count - 3) more" : "")
                report.note(c.path, "alias \"\(a)\" (ss_output_name) is shared with \(listed); using the file name \"\(c.stem)\" instead")
                facts.alias = nil
            }
            let autov3 = facts.autov3 ?? "unknown"
            var id = knownByPath[c.path]?.id ?? "local-\(autov3)"
            if knownByPath[c.path] == nil {
                // Same tensors at two paths are two catalog entries; a row whose file vanished
                // (the file moved) follows the file instead.
                var duplicateOf: String?
                if idsInBatch.contains(id) {
                    duplicateOf = "another file in this scan"
                } else if let owner = try existingOwner(of: id), owner != c.path,
                          present.contains(owner) || FileManager.default.fileExists(atPath: owner) {
                    duplicateOf = owner
                }
                if let duplicateOf {
                    report.note(c.path, "same tensors (AutoV3 \(autov3)) as \(duplicateOf); cataloged separately")
                    id = "local-\(autov3)-\(c.stem)"
                }
            }
            idsInBatch.insert(id)
            inputs.append(input(for: c, facts: facts, id: id))
        }
        var batch: [AdapterInput] = []
        for input in inputs {
            batch.append(input)
            if batch.count >= 500 { try flush(&batch, &report) }
        }
        try flush(&batch, &report)

        // 5. Files that disappeared from this folder leave the catalog.
        let gone = known.map { $0["file_path"] as String }.filter { $0.hasPrefix(root + "/") && !present.contains($0) }
        if !gone.isEmpty {
            try store.write { db in
                for p in gone { try db.execute(sql: "DELETE FROM adapters WHERE file_path = ? AND source = 'scan'", arguments: [p]) }
            }
            for p in gone { report.note(p, "file no longer exists; removed from the catalog") }
        }
        return report
    }

    private func flush(_ batch: inout [AdapterInput], _ report: inout ImportReport) throws {
        guard !batch.isEmpty else { return }
        let outcomes = try store.upsert(batch)
        for o in outcomes {
            switch o {
            case .added: report.added += 1
            case .updated: report.updated += 1
            case .unchanged: report.unchanged += 1
            }
        }
        batch.removeAll()
    }

    private func existingOwner(of id: String) throws -> String? {
        try store.read { db in try String.fetchOne(db, sql: "SELECT file_path FROM adapters WHERE adapter_id = ?", arguments: [id]) }
    }

    /// The walk (StylusML's `DirectoryWalk`): symlinks followed only inside the folder, loops
    /// ended, every skipped model, odd name and unreadable folder reported by path.
    private func walk(_ root: String, into files: inout Set<String>, models: inout [String], report: inout ImportReport) {
        let walk = DirectoryWalk(root: root, matches: { _ in true },
                                 reportable: { $0.lowercased().hasSuffix(".safetensors") })
        for path in walk.files {
            files.insert(path)
            if path.lowercased().hasSuffix(".safetensors") { models.append(path) }
        }
        for s in walk.skipped { report.skip(s.path, s.reason) }
    }

    static func stem(of path: String) -> String {
        ((path as NSString).lastPathComponent as NSString).deletingPathExtension
    }

    static let sidecarSuffixes = [".civitai.info", ".json", ".metadata.json", ".txt", ".description.txt"]

    private func candidate(_ path: String, allFiles: Set<String>) -> Candidate? {
        guard let (size, mtime) = Self.statFile(path) else { return nil }
        let base = (path as NSString).deletingPathExtension
        var signature = "\(size):\(mtime)"
        for suffix in Self.sidecarSuffixes + Sidecars.previewSuffixes where allFiles.contains(base + suffix) {
            if let (s, m) = Self.statFile(base + suffix) { signature += "|\(suffix):\(s):\(m)" }
        }
        return Candidate(path: path, stem: Self.stem(of: path), size: size, mtime: mtime, signature: signature)
    }

    static func statFile(_ path: String) -> (Int64, Double)? {
        guard let attrs = try? FileManager.default.attributesOfItem(atPath: path),
              let size = (attrs[.size] as? NSNumber)?.int64Value,
              let date = attrs[.modificationDate] as? Date else { return nil }
        return (size, date.timeIntervalSince1970)
    }

    private func sidecarFacts(_ c: Candidate, allFiles: Set<String>, report: inout ImportReport) -> AdapterFacts {
        let base = (c.path as NSString).deletingPathExtension
        func load(_ suffix: String, _ parse: ([String: Any]) -> AdapterFacts) -> AdapterFacts {
            let p = base + suffix
            guard allFiles.contains(p) else { return AdapterFacts() }
            switch Sidecars.readJSONObject(p) {
            case let .success(d): return parse(d)
            case let .failure(problem):
                report.note(p, problem.reason)
                return AdapterFacts()
            }
        }
        let a1111 = load(".json", Sidecars.a1111UserMetadata)
        let civitai = load(".civitai.info", Sidecars.civitaiInfo)
        let manager = load(".metadata.json", Sidecars.loraManagerMetadata)
        var text = AdapterFacts()
        for suffix in [".description.txt", ".txt"] where allFiles.contains(base + suffix) {
            if let data = FileManager.default.contents(atPath: base + suffix), data.count < 1 << 20,
               let s = String(data: data, encoding: .utf8), !s.isEmpty {
                text.descriptions.append(s)
            }
        }
        return a1111.filled(from: civitai).filled(from: manager).filled(from: text)
    }

    private func input(for c: Candidate, facts: AdapterFacts, id: String) -> AdapterInput {
        let preview = Sidecars.previewSuffixes.lazy.map { (c.path as NSString).deletingPathExtension + $0 }
            .first { FileManager.default.fileExists(atPath: $0) }
        let sha = facts.sha256.flatMap { $0.count == 64 ? $0 : nil }
        let file = AdapterFile(path: c.path, stem: c.stem, size: c.size, mtime: c.mtime, previewPath: preview,
                               autov3: facts.autov3, autov2: sha.map { String($0.prefix(10)) }, sha256: sha,
                               scanSignature: c.signature)
        let base = facts.baseModelRaw.flatMap(BaseModel.init)
        let title = facts.title.flatMap { $0.isEmpty ? nil : $0 } ?? c.stem.replacingOccurrences(of: "_", with: " ")
        var nsfw = facts.nsfw ?? false
        if facts.nsfw == nil {
            // No Civitai rating: trust obvious training tags and names.
            let words = Set((facts.trainingTags + facts.tags + [c.stem]).flatMap { CategoryRules.wordsOf($0) })
            nsfw = !words.isDisjoint(with: ["nsfw", "nude", "nudity", "naked", "nipples", "pussy", "penis", "sex", "hentai", "porn"])
        }
        let type: String = {
            let module = facts.extra["ss_network_module"] ?? ""
            if module.contains("lycoris") {
                let args = (facts.extra["ss_network_args"] ?? "").lowercased()
                if args.contains("loha") { return "LoHa" }
                if args.contains("lokr") { return "LoKr" }
                return "LoCon"
            }
            return "LORA"
        }()
        let card = AdapterCard(
            adapterId: id, alias: facts.alias ?? c.stem, title: title, baseModel: base, type: type,
            tags: facts.tags, triggerWords: facts.triggerWords, description: facts.descriptions.joined(separator: "\n"),
            weight: facts.weight, nsfw: nsfw, imagePrompts: facts.imagePrompts, imageURLs: facts.imageURLs,
            file: c.path, trainingTags: facts.trainingTags)
        var extra: [String: Any] = facts.extra
        if let m = facts.civitaiModelID { extra["civitai_model_id"] = m }
        if let v = facts.civitaiVersionID { extra["civitai_version_id"] = v }
        return AdapterInput(card: card, baseModelRaw: facts.baseModelRaw, negativePrompts: facts.negativePrompts,
                            extra: extra.isEmpty ? nil : JSONText.serialize(extra), source: "scan", sourceRef: c.path,
                            file: file)
    }

    /// Computes the whole-file SHA-256 (and AutoV2) of a stored local adapter and saves it.
    public func computeFullHash(for entry: CatalogEntry) throws -> CatalogEntry {
        guard var file = entry.file else { return entry }
        let sha = try SHA256.hexOfFile(file.path)
        file.sha256 = sha
        file.autov2 = String(sha.prefix(10))
        try store.write { db in
            try db.execute(sql: "UPDATE adapters SET sha256 = ?, autov2 = ? WHERE id = ?", arguments: [sha, file.autov2, entry.rowID])
        }
        var updated = entry
        updated.file = file
        return updated
    }
}
