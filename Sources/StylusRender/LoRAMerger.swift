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

/// Merges LoRAs into a checkpoint's weights: `W' = W + Σ multiplier · scale · ΔW`. The weights
/// models hold (`Checkpoint.weight`) are patched in place: a merge adds each module's low-rank
/// deltas with one gemm straight into the weight, a switch or revert first reloads the touched
/// weights from the open, memory-mapped checkpoint (exact, no copies kept), so changing adapter
/// sets never rebuilds a model or reopens the file. Pipelines built before or after a merge both
/// see the merged weights; don't merge while one of them is rendering.
public final class LoRAMerger: @unchecked Sendable {
    public let checkpoint: Checkpoint
    /// LoRA module name, in every spelling a file may use → canonical module (without `.weight`).
    let lookup: [String: String]
    private let lock = NSLock()

    public init(checkpoint: Checkpoint) {
        self.checkpoint = checkpoint
        lookup = Self.buildLookup(checkpoint.names, sdxl: checkpoint.architecture == .sdxl)
    }

    /// Every module name a LoRA may use for each UNet/text-encoder weight of the checkpoint, from the
    /// checkpoint's own names in both namings.
    static func buildLookup(_ names: [String], sdxl: Bool = false) -> [String: String] {
        var table: [String: String] = [:]
        for name in names where name.hasSuffix(".weight") {
            let module = String(name.dropLast(".weight".count))
            if module.hasPrefix(KeyMapping.unetPrefix) {
                let ldm = String(module.dropFirst(KeyMapping.unetPrefix.count))
                table["lora_unet_" + ldm.replacingOccurrences(of: ".", with: "_")] = module
                guard let diffusers = KeyMapping.unetToDiffusers(ldm + ".weight", sdxl: sdxl).map({ String($0.dropLast(".weight".count)) }) else { continue }
                table["lora_unet_" + diffusers.replacingOccurrences(of: ".", with: "_")] = module
                table["unet." + diffusers] = module
                // Old attention-processor files: `attn1.processor.to_q_lora`, `…processor.to_out_lora`.
                for proj in ["to_q", "to_k", "to_v", "to_out.0"] where diffusers.hasSuffix(".\(proj)") {
                    let head = diffusers.dropLast(proj.count + 1)
                    table["unet." + head + ".processor." + (proj == "to_out.0" ? "to_out" : proj)] = module
                }
            } else if module.hasPrefix(KeyMapping.textPrefix) {
                let hf = String(module.dropFirst(KeyMapping.textPrefix.count))  // text_model.encoder…
                // SDXL's CLIP ViT-L is kohya's te1; SD 1.x's only encoder is te.
                table[(sdxl ? "lora_te1_" : "lora_te_") + hf.replacingOccurrences(of: ".", with: "_")] = module
                table["text_encoder." + hf] = module
            } else if module.hasPrefix(KeyMapping.text2Prefix) {
                let hf = String(module.dropFirst(KeyMapping.text2Prefix.count))
                table["lora_te2_" + hf.replacingOccurrences(of: ".", with: "_")] = module
                table["text_encoder_2." + hf] = module
            }
        }
        return table
    }

    /// Merges `applications` (replacing any previous set) and returns one report per file. On any
    /// error nothing changes: the previous weights stay in place.
    @discardableResult
    public func apply(_ applications: [LoRAApplication]) throws -> [LoRAReport] {
        lock.lock(); defer { lock.unlock() }
        // Read and check every ΔW first; only then touch the weights.
        var plan: [String: LoRAPatch] = [:]  // canonical weight/bias name → its patch
        var reports: [LoRAReport] = []
        for app in applications {
            let file = app.file
            if let family = file.architecture, family != checkpoint.architecture {
                throw LoRAError.wrongArchitecture(path: file.path, reason: "it is an \(family.rawValue) LoRA and the checkpoint \(checkpoint.path) is \(checkpoint.architecture.rawValue)")
            }
            var applied = 0, unused = file.unknownTensors, touched: [String] = []
            for (module, parts) in file.modules.sorted(by: { $0.key < $1.key }) {
                guard let target = lookup[module], let shape = checkpoint.shape(target + ".weight") else {
                    unused += parts.values
                    continue
                }
                let biasName = target + ".bias"
                let d = try file.delta(module: module, parts: parts, shape: shape, biasCount: checkpoint.shape(biasName)?.reduce(1, *))
                guard d.weight != nil || d.bias != nil else { unused += parts.values; continue }
                let m = target.hasPrefix(KeyMapping.textPrefix) || target.hasPrefix(KeyMapping.text2Prefix) ? app.textEncoder : app.unet
                if let w = d.weight { plan[target + ".weight", default: LoRAPatch()].append(w, multiplier: m); touched.append(target + ".weight") }
                if let b = d.bias { plan[biasName, default: LoRAPatch()].append(.dense(b), multiplier: m); touched.append(biasName) }
                applied += parts.count
            }
            if applied == 0 {
                throw LoRAError.noMatchingTensors(path: file.path, example: file.modules.keys.sorted().first ?? "(no LoRA tensors)")
            }
            reports.append(LoRAReport(path: file.path, appliedTensors: applied, totalTensors: file.tensorCount,
                                      unusedTensors: unused.sorted(), modules: touched.sorted()))
        }
        checkpoint.setPatches(plan)
        return reports
    }

    /// Back to the checkpoint's own weights.
    public func revert() {
        lock.lock(); defer { lock.unlock() }
        checkpoint.setPatches([:])
    }
}

/// Everything the merged LoRAs add to one weight. Low-rank deltas are stacked into one product
/// `[up₁·f₁ | up₂·f₂ | …] · [down₁; down₂; …]` (multiplier and scale folded into `up`), added with
/// a single gemm: the weight is streamed once however many LoRAs touch it.
struct LoRAPatch: WeightPatch {
    private var ups: [[Float]] = [], downs: [Float] = [], rank = 0
    private var dense: [([Float], Float)] = []

    mutating func append(_ delta: LoRADelta.Weight, multiplier: Float) {
        switch delta {
        case let .dense(d): dense.append((d, multiplier))
        case let .lowRank(up, down, _, k, _, scale):
            let f = multiplier * scale
            ups.append(f == 1 ? up : up.map { $0 * f })
            downs += down
            rank += k
        }
    }

    func add(to weight: UnsafeMutablePointer<Float>, rows: Int, parallel: Bool) {
        for (d, f) in dense {
            d.withUnsafeBufferPointer { p in for i in 0..<p.count { weight[i] += f * p[i] } }
        }
        guard rank > 0 else { return }
        // [rows × rank]: row r holds every LoRA's row r of up, side by side.
        var up = [Float](repeating: 0, count: rows * rank)
        var offset = 0
        for u in ups {
            let k = u.count / rows
            for r in 0..<rows { for j in 0..<k { up[r * rank + offset + j] = u[r * k + j] } }
            offset += k
        }
        let columns = downs.count / rank
        up.withUnsafeBufferPointer { u in downs.withUnsafeBufferPointer { d in
            Kernels.gemm(m: rows, n: columns, k: rank, a: u.baseAddress!, lda: rank, b: d.baseAddress!, ldb: columns,
                         c: weight, ldc: columns, beta: 1, parallel: parallel)
        } }
    }
}
