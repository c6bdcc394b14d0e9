/// Every diagnostic code the project reports, in one list (docs/CONTRACTS.md, Language server).
/// The raw values are the stable strings editors and `stylus check` show.
public enum DiagnosticCode: String, Sendable, Codable, CaseIterable, CustomStringConvertible {
    // Prompt checks (StylusCore: parser, frontmatter, `PromptLinter`).
    case syntax
    case frontmatter
    case duplicateLoRA = "duplicate-lora"
    case loraInNegative = "lora-in-negative"
    case weightRange = "weight-range"
    case tokenLimit = "token-limit"
    // Catalog checks (StylusCatalog: `CatalogLinter`).
    case unknownLoRA = "unknown-lora"
    case baseModelMismatch = "base-model-mismatch"
    case missingTrigger = "missing-trigger"
    case adapterAvailable = "adapter-available"
    /// The file is too large to analyse (`PromptLinter.maxAnalyzedBytes`).
    case documentTooLarge = "document-too-large"

    public var description: String { rawValue }
}

/// A value in a diagnostic's `data`: one string or a list of them.
public enum DiagnosticValue: Sendable, Equatable, Codable {
    case string(String)
    case strings([String])

    public var stringValue: String? { if case .string(let s) = self { s } else { nil } }

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let s = try? c.decode(String.self) { self = .string(s) } else { self = .strings(try c.decode([String].self)) }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .string(let s): try c.encode(s)
        case .strings(let list): try c.encode(list)
        }
    }
}
