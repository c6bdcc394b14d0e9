import StylusCore

/// The catalog checks of a prompt file (docs/CONTRACTS.md, Language server): `unknown-lora`,
/// `base-model-mismatch`, `missing-trigger`, and the composer's `adapter-available` hints. Front
/// ends get them with `PromptLinter`'s prompt checks through `PromptChecks`.
public struct CatalogLinter: Sendable {
    public let catalog: CatalogIndex

    public init(catalog: CatalogIndex) { self.catalog = catalog }

    /// `unknown-lora`, `base-model-mismatch` and `missing-trigger` for the file's `<lora:…>` tags.
    public func diagnostics(_ request: PromptRequest) -> [PromptDiagnostic] {
        var out: [PromptDiagnostic] = []
        let file = request.file
        let base = request.baseModel
        let body = PhraseLookup(file.triggerSearchText)
        // The file's own base model, when the catalog has no adapter for it: the composer would
        // find nothing, and say nothing about why.
        if let range = file.baseModelRange, let base, file.settings.baseModel.flatMap(BaseModel.init) == base {
            let counts = catalog.baseModelCounts
            if !counts.isEmpty, counts[base] == nil {
                let known = counts.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key.name < $1.key.name }
                    .prefix(6).map { "\($0.key.name) (\($0.value))" }
                out.append(PromptDiagnostic(
                    code: .baseModelMismatch, severity: .warning,
                    message: "No adapter in the catalog is for base model '\(base.name)', so none can be proposed or composed; "
                        + "the catalog has \(known.joined(separator: ", ")).",
                    range: range, data: ["base_model": .string(base.name)]))
            }
        }
        for (tag, negative) in file.loraTags where !tag.name.isEmpty && tag.isClosed {
            guard let e = catalog.summary(alias: tag.name) else {
                out.append(PromptDiagnostic(code: .unknownLoRA, severity: .warning,
                                            message: "Unknown LoRA '\(tag.name)': no adapter in the catalog has this alias or file name.",
                                            range: tag.nameRange, data: ["alias": .string(tag.name)]))
                continue
            }
            guard !negative else { continue }  // lora-in-negative already says it is not applied
            if let base, let own = e.baseModel, own != base {
                let incompatible = own.architecture != base.architecture
                out.append(PromptDiagnostic(
                    code: .baseModelMismatch, severity: incompatible ? .warning : .information,
                    message: "'\(e.alias)' is a \(own.name) adapter but this prompt is for \(base.name)"
                        + (incompatible ? "; it will not load into a \(base.name) checkpoint." : "; results may be off."),
                    range: tag.nameRange, data: ["alias": .string(e.alias)]))
            }
            let triggers = e.triggerWords
            if !triggers.isEmpty, !triggers.contains(where: body.contains) {
                out.append(PromptDiagnostic(
                    code: .missingTrigger, severity: .information,
                    message: "'\(e.alias)' works best with its trigger word\(triggers.count > 1 ? "s" : "") "
                        + triggers.map { "'\($0)'" }.joined(separator: ", ") + ", which the prompt does not contain.",
                    range: tag.nameRange, data: ["alias": .string(e.alias), "trigger": .string(triggers[0])]))
            }
        }
        return out
    }

    /// `adapter-available` hints when the composer is ready (never waits for it).
    public func hints(_ request: PromptRequest) -> [PromptDiagnostic] {
        catalog.composeIfReady(request).map(Self.hints) ?? []
    }

    /// `adapter-available`: one hint per topic the composer found adapters for.
    public static func hints(_ outcome: ComposeOutcome) -> [PromptDiagnostic] {
        outcome.composition.topics.filter { !$0.adapters.isEmpty }.map { topic in
            let names = topic.adapters.map(\.alias)
            return PromptDiagnostic(
                code: .adapterAvailable, severity: .hint,
                message: "\(names.count == 1 ? "An adapter fits" : "\(names.count) adapters fit") '\(topic.keyword)': "
                    + names.joined(separator: ", ") + " (code action: Compose adapters).",
                range: topic.range, data: ["aliases": .strings(names)])
        }
    }
}
