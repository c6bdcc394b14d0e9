import Foundation
import StylusML

/// Errors of LoRA loading and merging. Each message names the file and says what to do.
public enum LoRAError: Error, Equatable, CustomStringConvertible {
    case unreadable(path: String, reason: String)
    case wrongArchitecture(path: String, reason: String)
    case noMatchingTensors(path: String, example: String)
    case badTensor(path: String, name: String, reason: String)

    public var description: String {
        switch self {
        case let .unreadable(path, reason):
            return "\(path): not a readable LoRA file (\(reason)); re-download it"
        case let .wrongArchitecture(path, reason):
            return "\(path): \(reason)"
        case let .noMatchingTensors(path, example):
            return "\(path): no tensor matches a module of the checkpoint (e.g. \(example)); it is for another model or uses an unknown naming"
        case let .badTensor(path, name, reason):
            return "\(path): \(name) \(reason); the LoRA file is damaged or made for another model"
        }
    }
}

/// What a LoRA tensor is, from its name's suffix.
enum LoRARole: String, CaseIterable {
    case down, up, mid, alpha, scale, diff, diffBias
    case hadaW1a, hadaW1b, hadaW2a, hadaW2b, hadaT1, hadaT2
    case lokrW1, lokrW1a, lokrW1b, lokrW2, lokrW2a, lokrW2b, lokrT2

    /// Suffixes, longest first where one ends another.
    static let suffixes: [(String, LoRARole)] = [
        (".lora_down.weight", .down), (".lora_up.weight", .up), (".lora_mid.weight", .mid),
        (".lora_A.default.weight", .down), (".lora_B.default.weight", .up),
        (".lora_A.weight", .down), (".lora_B.weight", .up),
        ("_lora.down.weight", .down), ("_lora.up.weight", .up),  // old attention-processor format
        (".lora.down.weight", .down), (".lora.up.weight", .up),
        (".alpha", .alpha), (".scale", .scale), (".diff_b", .diffBias), (".diff", .diff),
        (".hada_w1_a", .hadaW1a), (".hada_w1_b", .hadaW1b), (".hada_w2_a", .hadaW2a), (".hada_w2_b", .hadaW2b),
        (".hada_t1", .hadaT1), (".hada_t2", .hadaT2),
        (".lokr_w1_a", .lokrW1a), (".lokr_w1_b", .lokrW1b), (".lokr_w2_a", .lokrW2a), (".lokr_w2_b", .lokrW2b),
        (".lokr_w1", .lokrW1), (".lokr_w2", .lokrW2), (".lokr_t2", .lokrT2),
    ]

    static func split(_ name: String) -> (module: String, role: LoRARole)? {
        for (suffix, role) in suffixes where name.hasSuffix(suffix) && name.count > suffix.count {
            return (String(name.dropLast(suffix.count)), role)
        }
        return nil
    }
}

/// A LoRA / LyCORIS / PEFT / diff file opened for merging: its tensors grouped by module name.
public final class LoRAFile: @unchecked Sendable {
    public let path: String
    public let metadata: [String: String]
    let file: SafetensorsFile
    /// module name as written in the file → role → tensor name.
    let modules: [String: [LoRARole: String]]
    /// Tensors whose suffix is not a known LoRA part (e.g. DoRA `dora_scale`).
    let unknownTensors: [String]

    public init(path: String) throws {
        self.path = path
        do {
            file = try SafetensorsFile(path: path)
        } catch {
            throw LoRAError.unreadable(path: path, reason: "\(error)")
        }
        metadata = file.header.metadata
        var modules: [String: [LoRARole: String]] = [:]
        var unknown: [String] = []
        for name in file.tensorNames {
            if let (module, role) = LoRARole.split(name) {
                modules[module, default: [:]][role] = name
            } else {
                unknown.append(name)
            }
        }
        self.modules = modules
        unknownTensors = unknown.sorted()
        if let reason = Self.foreignArchitecture(Array(modules.keys), metadata: metadata) {
            throw LoRAError.wrongArchitecture(path: path, reason: reason)
        }
        architecture = Self.family(Array(modules.keys), metadata: metadata)
    }

    /// The model family the file's names (or kohya's `ss_base_model_version`) show, nil when they
    /// fit both (a UNet-only LoRA on modules SD 1.x and SDXL share).
    public let architecture: Architecture?

    static func family(_ modules: [String], metadata: [String: String]) -> Architecture? {
        let version = (metadata["ss_base_model_version"] ?? "").lowercased()
        if version.hasPrefix("sdxl") { return .sdxl }
        if version.hasPrefix("sd_v1") { return .sd1 }
        func any(_ test: (String) -> Bool) -> Bool { modules.contains(where: test) }
        if any({ $0.hasPrefix("lora_te1_") || $0.hasPrefix("lora_te2_") || $0.hasPrefix("text_encoder_2.") }) { return .sdxl }
        // Deeper transformers and attention in the first up block are SDXL's; attention at the first
        // input level and a fourth level are SD 1.x's.
        if any({ $0.contains("transformer_blocks_1_") || $0.contains("transformer_blocks.1.") || $0.contains("label_emb") }) { return .sdxl }
        if any({ $0.hasPrefix("lora_te_") || $0.contains("input_blocks_1_1_") || $0.contains("down_blocks_0_attentions")
                 || $0.contains("down_blocks.0.attentions") || $0.contains("down_blocks_3_") || $0.contains("down_blocks.3.")
                 || $0.contains("input_blocks_10_") || $0.contains("input_blocks_11_") }) { return .sd1 }
        return nil
    }

    public var tensorCount: Int { file.tensorNames.count }

    /// The A1111 display alias: `ss_output_name` when present, else the file stem.
    public var alias: String {
        metadata["ss_output_name"].flatMap { $0.isEmpty ? nil : $0 } ?? URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
    }

    static func foreignArchitecture(_ modules: [String], metadata: [String: String]) -> String? {
        if modules.contains(where: { $0.hasPrefix("lora_transformer_") || $0.hasPrefix("transformer.") || $0.contains("double_blocks") }) {
            return "it is a LoRA for a transformer model (Flux/SD3)"
        }
        return nil
    }

    func floats(_ name: String) throws -> Tensor {
        do {
            let info = try file.info(name)
            if info.dtype == .f16 {  // the common case, converted with the vectorised kernel
                let raw = try file.rawBytes(name)
                let data = [Float](unsafeUninitializedCapacity: info.elementCount) { p, n in
                    if let base = raw.baseAddress { Kernels.convertHalf(base, to: p.baseAddress!, count: info.elementCount) }
                    n = info.elementCount
                }
                return Tensor(shape: info.shape, data: data)
            }
            return Tensor(shape: info.shape, data: try file.floats(name))
        } catch {
            throw LoRAError.badTensor(path: path, name: name, reason: "cannot be read (\(error))")
        }
    }
}

/// ΔW of one module (already multiplied by its scale, not by the user's multiplier).
struct LoRADelta {
    enum Weight {
        case dense([Float])
        /// scale · up[m×k] · down[k×n], added later with one gemm straight into the merged weight.
        case lowRank(up: [Float], down: [Float], m: Int, k: Int, n: Int, scale: Float)
    }
    var weight: Weight?
    var bias: [Float]?
}

extension LoRAFile {
    /// Computes the scaled ΔW of `module` for a target weight of `shape` (PyTorch order), and the
    /// bias difference for a bias of `biasCount` elements.
    func delta(module: String, parts: [LoRARole: String], shape: [Int], biasCount: Int?) throws -> LoRADelta {
        func t(_ role: LoRARole) throws -> Tensor? { try parts[role].map { try floats($0) } }
        func fail(_ role: LoRARole, _ reason: String) -> LoRAError {
            .badTensor(path: path, name: parts[role] ?? module, reason: reason)
        }
        let count = shape.reduce(1, *), out = shape[0], rest = count / max(out, 1)
        let explicitScale = try t(.scale).map { $0.data.first ?? .nan }
        let alpha = try t(.alpha).map { $0.data.first ?? .nan }
        if let a = alpha, !a.isFinite { throw fail(.alpha, "is \(a)") }
        if let s = explicitScale, !s.isFinite { throw fail(.scale, "is \(s)") }
        func scale(rank: Int?) -> Float {
            if let s = explicitScale { return s }
            guard let rank, let a = alpha, a != 0 else { return 1 }  // alpha defaults to rank
            return a / Float(rank)
        }
        func checked(_ w: [Float], _ role: LoRARole) throws -> [Float] {
            guard w.count == count else { throw fail(role, "gives \(w.count) values for a weight of shape \(shape)") }
            if let bad = w.first(where: { !$0.isFinite }) { throw fail(role, "contains \(bad)") }
            return w
        }

        var result = LoRADelta()
        if let down = try t(.down) {
            guard let up = try t(.up) else { throw fail(.down, "has no matching lora_up/lora_B tensor") }
            let r = down.shape.first ?? 0
            guard r > 0, down.count > 0 else { throw fail(.down, "has rank 0") }
            guard up.count == out * r else { throw fail(.up, "has shape \(up.shape), expected \(out)×\(r) for a weight of shape \(shape)") }
            if let mid = try t(.mid) {
                // Tucker: ΔW[o,i,y,x] = Σ_a up[o,a] Σ_b mid[a,b,y,x] down[b,i]
                let kk = mid.count / max(r * r, 1), inputs = down.count / r
                guard mid.count == r * r * kk, rest == inputs * kk else {
                    throw fail(.mid, "has shape \(mid.shape), which does not fit down \(down.shape) and a weight of shape \(shape)")
                }
                var core = [Float](repeating: 0, count: r * rest)  // [r, in·kk]
                for a in 0..<r { for b in 0..<r { for i in 0..<inputs {
                    let d = down.data[b * inputs + i]
                    for yx in 0..<kk { core[a * rest + i * kk + yx] += mid.data[(a * r + b) * kk + yx] * d }
                } } }
                var w = matmul(up.data, core, m: out, k: r, n: rest)
                let s = scale(rank: r)
                for i in w.indices { w[i] *= s }
                result.weight = .dense(try checked(w, .up))
            } else {
                guard down.count == r * rest else {
                    throw fail(.down, "has shape \(down.shape), expected rank×\(rest) for a weight of shape \(shape)")
                }
                for (role, f) in [(LoRARole.down, down), (.up, up)] {
                    if let bad = f.data.first(where: { !$0.isFinite }) { throw fail(role, "contains \(bad)") }
                }
                result.weight = .lowRank(up: up.data, down: down.data, m: out, k: r, n: rest, scale: scale(rank: r))
            }
        } else if let w1a = try t(.hadaW1a) {
            guard let w1b = try t(.hadaW1b), let w2a = try t(.hadaW2a), let w2b = try t(.hadaW2b) else {
                throw fail(.hadaW1a, "lacks one of hada_w1_b, hada_w2_a, hada_w2_b")
            }
            let r = w1b.shape.first ?? 0
            guard r > 0 else { throw fail(.hadaW1b, "has rank 0") }
            func factor(_ a: Tensor, _ b: Tensor, _ tucker: Tensor?, _ role: LoRARole) throws -> [Float] {
                if let tucker {
                    let inputs = b.count / r, kk = tucker.count / max(r * r, 1)
                    guard a.count == r * out, b.count == r * inputs, tucker.count == r * r * kk, inputs * kk == rest else {
                        throw fail(role, "has shapes that do not fit a weight of shape \(shape)")
                    }
                    return tuckerProduct(a.data, b.data, tucker.data, rank: r, rows: out, inputs: inputs, kernel: kk)
                }
                let rank = a.count / max(out, 1)
                guard rank > 0, a.count == out * rank, b.count == rank * rest else {
                    throw fail(role, "has shapes \(a.shape)·\(b.shape) that do not give a weight of shape \(shape)")
                }
                return matmul(a.data, b.data, m: out, k: rank, n: rest)
            }
            let p1 = try factor(w1a, w1b, try t(.hadaT1), .hadaW1a)
            let p2 = try factor(w2a, w2b, try t(.hadaT2), .hadaW2a)
            let s = scale(rank: r)
            result.weight = .dense(try checked(zip(p1, p2).map { $0 * $1 * s }, .hadaW1a))
        } else if parts[.lokrW1] != nil || parts[.lokrW1a] != nil {
            var rank: Int?
            func factor(_ full: LoRARole, _ a: LoRARole, _ b: LoRARole, tucker: LoRARole? = nil) throws -> (rows: Int, data: [Float]) {
                if let f = try t(full) { return (f.shape.first ?? 0, f.data) }
                guard let fa = try t(a), let fb = try t(b) else { throw fail(full, "lacks its factor (lokr_w*_a/_b)") }
                if let tucker, let core = try t(tucker) {
                    // LyCORIS conv LoKr: w2 = Tucker(t2; w2_a [r, out₂], w2_b [r, in₂]) of shape [out₂, in₂, k, k].
                    let r = fb.shape.first ?? 0
                    guard r > 0, core.shape.count == 4, core.shape[0] == r, core.shape[1] == r, fa.count % r == 0, fb.count % r == 0 else {
                        throw fail(tucker, "has shape \(core.shape), which does not fit lokr_w2_a \(fa.shape) and lokr_w2_b \(fb.shape)")
                    }
                    if rank == nil { rank = r }
                    let rows = fa.count / r, inputs = fb.count / r, kk = core.count / (r * r)
                    return (rows, tuckerProduct(fa.data, fb.data, core.data, rank: r, rows: rows, inputs: inputs, kernel: kk))
                }
                let r = fb.shape.first ?? 0, rows = fa.shape.first ?? 0
                guard r > 0, fa.count == rows * r, fb.count % r == 0 else { throw fail(b, "has rank 0 or a shape that does not fit \(fa.shape)") }
                if rank == nil { rank = r }
                return (rows, matmul(fa.data, fb.data, m: rows, k: r, n: fb.count / r))
            }
            let w1 = try factor(.lokrW1, .lokrW1a, .lokrW1b), w2 = try factor(.lokrW2, .lokrW2a, .lokrW2b, tucker: .lokrT2)
            let cols1 = w1.data.count / max(w1.rows, 1), cols2 = w2.data.count / max(w2.rows, 1)
            guard w1.rows * w2.rows == out, cols1 * cols2 == rest else {
                throw fail(.lokrW1, "kron(\(w1.rows)×\(cols1), \(w2.rows)×\(cols2)) does not give a weight of shape \(shape)")
            }
            let s = rank == nil ? 1 : scale(rank: rank)
            var w = [Float](repeating: 0, count: count)
            for i in 0..<w1.rows { for j in 0..<cols1 {
                let v = w1.data[i * cols1 + j] * s
                for p in 0..<w2.rows {
                    let row = (i * w2.rows + p) * rest + j * cols2
                    for q in 0..<cols2 { w[row + q] = v * w2.data[p * cols2 + q] }
                }
            } }
            result.weight = .dense(try checked(w, .lokrW1))
        } else if let diff = try t(.diff) {
            result.weight = .dense(try checked(diff.data, .diff))
        }
        if let db = try t(.diffBias) {
            guard let biasCount, db.count == biasCount else { throw fail(.diffBias, "has \(db.count) values but the module's bias has \(biasCount ?? 0)") }
            if let bad = db.data.first(where: { !$0.isFinite }) { throw fail(.diffBias, "contains \(bad)") }
            result.bias = db.data
        }
        return result
    }
}

/// LyCORIS Tucker factor: W[p, q, kl] = Σ_i a[i, p] Σ_j core[i, j, kl] b[j, q], with a [rank, rows],
/// b [rank, inputs], core [rank, rank, kernel]; W is [rows, inputs·kernel].
func tuckerProduct(_ a: [Float], _ b: [Float], _ core: [Float], rank r: Int, rows: Int, inputs: Int, kernel kk: Int) -> [Float] {
    let rest = inputs * kk
    var tmp = [Float](repeating: 0, count: r * rest)  // [i, q, kl]
    for i in 0..<r { for j in 0..<r { for q in 0..<inputs {
        let bv = b[j * inputs + q]
        for kl in 0..<kk { tmp[i * rest + q * kk + kl] += core[(i * r + j) * kk + kl] * bv }
    } } }
    return matmul(a, tmp, m: rows, k: r, n: rest, transposeA: true)
}

/// C[m×n] = A[m×k]·B[k×n] (or Aᵀ·B with A stored k×m).
func matmul(_ a: [Float], _ b: [Float], m: Int, k: Int, n: Int, transposeA: Bool = false) -> [Float] {
    var c = [Float](repeating: 0, count: m * n)
    a.withUnsafeBufferPointer { ap in b.withUnsafeBufferPointer { bp in c.withUnsafeMutableBufferPointer { cp in
        Kernels.gemm(m: m, n: n, k: k, a: ap.baseAddress!, lda: transposeA ? m : k, transposeA: transposeA,
                     b: bp.baseAddress!, ldb: n, c: cp.baseAddress!, ldc: n)
    } } }
    return c
}
