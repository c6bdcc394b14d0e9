import Foundation
import StylusML

/// One adapter to merge: the file and its A1111 multipliers (text encoder, UNet).
public struct LoRAApplication: Sendable {
    public var file: LoRAFile
    public var textEncoder: Float
    public var unet: Float

    public init(file: LoRAFile, textEncoder: Float, unet: Float) {
        self.file = file
        self.textEncoder = textEncoder
        self.unet = unet
    }
}

/// What merging one file did (sd.cpp's "(applied / total) LoRA tensors" check).
public struct LoRAReport: Sendable, Equatable {
    public var path: String
    public var appliedTensors: Int
    public var totalTensors: Int
    /// LoRA tensors that matched no module of the checkpoint, or had no meaning (e.g. DoRA).
    public var unusedTensors: [String]
    /// Canonical names of the checkpoint weights it changed.
    public var modules: [String]
}

/// Merges LoRAs into a checkpoint's weights: `W' = W + Σ multiplier · scale · ΔW`, computed from
/// the original weights (read again from the open, memory-mapped file) each time, so switching
/// adapter sets (or removing all) is exact and never reopens or re-parses the checkpoint. Merged tensors are installed as the checkpoint's overrides; models
/// built from it afterwards (`Pipeline(checkpoint:…)`) see the merged weights.
public final class LoRAMerger: @unchecked Sendable {
    public let checkpoint: Checkpoint
    /// LoRA module name, in every spelling a file may use → canonical module (without `.weight`).
    let lookup: [String: String]
    private let lock = NSLock()

    public init(checkpoint: Checkpoint) {
        self.checkpoint = checkpoint
        lookup = Self.buildLookup(checkpoint.names)
    }

    /// Every module name a LoRA may use for each UNet/text-encoder weight of the checkpoint, from the
    /// checkpoint's own names in both namings (renderer.md §3, "don't parse the names").
    static func buildLookup(_ names: [String]) -> [String: String] {
        var table: [String: String] = [:]
        for name in names where name.hasSuffix(".weight") {
            let module = String(name.dropLast(".weight".count))
            if module.hasPrefix(KeyMapping.unetPrefix) {
                let ldm = String(module.dropFirst(KeyMapping.unetPrefix.count))
                table["lora_unet_" + ldm.replacingOccurrences(of: ".", with: "_")] = module
                guard let diffusers = KeyMapping.unetToDiffusers(ldm + ".weight").map({ String($0.dropLast(".weight".count)) }) else { continue }
                table["lora_unet_" + diffusers.replacingOccurrences(of: ".", with: "_")] = module
                table["unet." + diffusers] = module
                // Old attention-processor files: `attn1.processor.to_q_lora`, `…processor.to_out_lora`.
                for proj in ["to_q", "to_k", "to_v", "to_out.0"] where diffusers.hasSuffix(".\(proj)") {
                    let head = diffusers.dropLast(proj.count + 1)
                    table["unet." + head + ".processor." + (proj == "to_out.0" ? "to_out" : proj)] = module
                }
            } else if module.hasPrefix(KeyMapping.textPrefix) {
                let hf = String(module.dropFirst(KeyMapping.textPrefix.count))  // text_model.encoder…
                table["lora_te_" + hf.replacingOccurrences(of: ".", with: "_")] = module
                table["text_encoder." + hf] = module
            }
        }
        return table
    }

    /// Merges `applications` (replacing any previous set) and returns one report per file. On any
    /// error nothing changes: the previous weights stay in place.
    @discardableResult
    public func apply(_ applications: [LoRAApplication]) throws -> [LoRAReport] {
        lock.lock(); defer { lock.unlock() }
        // Compute and check every ΔW first; only then build merged weights and install them.
        var plan: [String: [(LoRADelta.Weight, Float)]] = [:]  // canonical weight/bias name → (ΔW, multiplier)
        var reports: [LoRAReport] = []
        for app in applications {
            let file = app.file
            var applied = 0, unused = file.unknownTensors, touched: [String] = []
            for (module, parts) in file.modules.sorted(by: { $0.key < $1.key }) {
                guard let target = lookup[module], let shape = checkpoint.shape(target + ".weight") else {
                    unused += parts.values
                    continue
                }
                let biasName = target + ".bias"
                let d = try file.delta(module: module, parts: parts, shape: shape, biasCount: checkpoint.shape(biasName)?.reduce(1, *))
                guard d.weight != nil || d.bias != nil else { unused += parts.values; continue }
                let m = target.hasPrefix(KeyMapping.textPrefix) ? app.textEncoder : app.unet
                if let w = d.weight { plan[target + ".weight", default: []].append((w, m)); touched.append(target + ".weight") }
                if let b = d.bias { plan[biasName, default: []].append((.dense(b), m)); touched.append(biasName) }
                applied += parts.count
            }
            if applied == 0 {
                throw LoRAError.noMatchingTensors(path: file.path, example: file.modules.keys.sorted().first ?? "(no LoRA tensors)")
            }
            reports.append(LoRAReport(path: file.path, appliedTensors: applied, totalTensors: file.tensorCount,
                                      unusedTensors: unused.sorted(), modules: touched.sorted()))
        }
        var merged: [String: Tensor] = [:]
        for (name, deltas) in plan {
            let base = try checkpoint.baseTensor(name)
            var w = base.data
            // Low-rank deltas of one weight become one gemm over their concatenated ranks: C is
            // streamed once instead of once per LoRA (a rank-32 gemm is bound by reading C).
            var ups: [Float] = [], downs: [Float] = [], rank = 0
            for (delta, m) in deltas {
                guard case let .lowRank(up, down, rows, k, n, scale) = delta, rows * n == w.count else {
                    LoRADelta.add(delta, factor: m, to: &w)
                    continue
                }
                let f = m * scale
                var stacked = [Float](repeating: 0, count: rows * (rank + k))
                for r in 0..<rows {
                    for j in 0..<rank { stacked[r * (rank + k) + j] = ups[r * rank + j] }
                    for j in 0..<k { stacked[r * (rank + k) + rank + j] = f * up[r * k + j] }
                }
                ups = stacked
                downs += down
                rank += k
            }
            if rank > 0 {
                LoRADelta.add(.lowRank(up: ups, down: downs, m: base.shape[0], k: rank, n: w.count / base.shape[0], scale: 1), factor: 1, to: &w)
            }
            merged[name] = Tensor(shape: base.shape, data: w)
        }
        checkpoint.setOverrides(merged)
        return reports
    }

    /// Back to the checkpoint's own weights.
    public func revert() {
        lock.lock(); defer { lock.unlock() }
        checkpoint.setOverrides([:])
    }
}
