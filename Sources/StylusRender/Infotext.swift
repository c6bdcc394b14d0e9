import Foundation
import StylusCore
import StylusML

/// The generation parameters A1111 writes into a PNG's `parameters` text, so images round-trip
/// into the tools people already use:
///
///     <prompt>
///     Negative prompt: <negative>
///     Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 42, Size: 512x512, Model hash: 6ce0161689, …
///
/// A1111 (`processing.create_infotext`) writes the same fields for SDXL as for SD 1.x, in this
/// order: no SDXL-only field, nothing for v-prediction; "Clip skip" whenever the setting is above 1,
/// even though A1111 (without `sdxl_clip_l_skip`) and Stylus do not apply it to SDXL's encoders;
/// "Lora hashes" as `alias: addnet short hash` with ":" and "," taken out of the alias.
public struct RenderParameters: Equatable, Sendable {
    public var prompt: String
    public var negativePrompt: String
    public var steps: Int
    public var sampler: String
    public var cfgScale: Double
    public var seed: UInt64
    public var width: Int
    public var height: Int
    public var modelHash: String?
    public var modelName: String?
    public var clipSkip: Int = 1
    /// (name, A1111 short hash) per LoRA.
    public var loraHashes: [(name: String, hash: String)] = []
    /// What a local render multiplied in ("fp32", "bf16"); not an A1111 field, which A1111 ignores.
    public var precision: String?
    public var version: String = "stylus"

    public init(prompt: String, negativePrompt: String = "", steps: Int, sampler: String, cfgScale: Double,
                seed: UInt64, width: Int, height: Int, modelHash: String? = nil, modelName: String? = nil) {
        self.prompt = prompt
        self.negativePrompt = negativePrompt
        self.steps = steps
        self.sampler = sampler
        self.cfgScale = cfgScale
        self.seed = seed
        self.width = width
        self.height = height
        self.modelHash = modelHash
        self.modelName = modelName
    }

    public static func == (a: Self, b: Self) -> Bool { a.infotext == b.infotext }

    /// The text in A1111's layout; the negative line only when there is a negative prompt.
    public var infotext: String {
        var fields: [(String, String)] = [
            ("Steps", "\(steps)"), ("Sampler", sampler), ("CFG scale", Self.number(cfgScale)), ("Seed", "\(seed)"),
            ("Size", "\(width)x\(height)"),
        ]
        if let modelHash { fields.append(("Model hash", modelHash)) }
        if let modelName { fields.append(("Model", modelName)) }
        if clipSkip > 1 { fields.append(("Clip skip", "\(clipSkip)")) }
        if !loraHashes.isEmpty {
            fields.append(("Lora hashes", loraHashes.map { "\(Self.alias($0.name)): \($0.hash)" }.joined(separator: ", ")))
        }
        if let precision { fields.append(("Precision", precision)) }
        fields.append(("Version", version))
        var text = prompt
        if !negativePrompt.isEmpty { text += "\nNegative prompt: " + negativePrompt }
        text += "\n" + fields.map { "\($0.0): \(Self.quote($0.1))" }.joined(separator: ", ")
        return text
    }

    /// A LoRA's name as A1111's Lora hashes field writes it (the field's own separators removed).
    static func alias(_ name: String) -> String { name.filter { $0 != ":" && $0 != "," } }

    /// A1111 quotes a value (JSON string syntax) when it contains a comma, colon or newline.
    static func quote(_ value: String) -> String {
        guard value.contains(where: { $0 == "," || $0 == ":" || $0 == "\n" }) else { return value }
        return jsonStringLiteral(value)
    }

    /// 7 → "7", 7.5 → "7.5" (how A1111's infotexts read).
    static func number(_ v: Double) -> String { shortestNumberText(v) }
}

extension SHA256 {
    /// A1111's "Model hash" of a single-file checkpoint: the first 10 hex digits of its SHA-256.
    public static func a1111ModelHash(_ path: String) throws -> String { String(try hexOfFile(path).prefix(10)) }
}
