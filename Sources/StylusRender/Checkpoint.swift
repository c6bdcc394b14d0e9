import Foundation
import StylusML

/// An SD 1.x checkpoint opened for reading: every weight under its canonical LDM name
/// (`model.diffusion_model.…`, `first_stage_model.…`, `cond_stage_model.transformer.text_model.…`),
/// whatever the layout on disk. Files stay memory-mapped; weights are read when a model asks for them
/// (fp16/bf16/fp32 on disk): linear and conv kernels keep their stored precision and are widened per
/// operation, everything else is converted to Float32 (compute in fp32).
public final class Checkpoint: @unchecked Sendable {
    public enum Layout: String, Sendable { case singleFile = "single-file", diffusers }

    public let path: String
    public let layout: Layout
    public let config: SD1Config
    /// What models built from this checkpoint multiply in (fixed for its life: a render in the
    /// other precision opens the file again).
    public let precision: ComputePrecision
    fileprivate let files: [SafetensorsFile]
    private let entries: [String: Entry]
    // Weights handed to models, shared so the LoRA merger can patch them in place (weak: a weight
    // lives as long as a model holds it), and the merged LoRAs' patches by canonical name.
    private var live: [String: WeakWeight] = [:]
    private var patches: [String: WeightPatch] = [:]
    private let stateLock = NSLock()

    struct Entry {
        let file: Int
        let name: String
        let info: SafetensorsTensorInfo
        /// A block of rows of the stored tensor (OpenCLIP's fused q/k/v projections), nil for all of it.
        var rows: Range<Int>? = nil
        /// Stored as [in, out] and read as its transpose (OpenCLIP's `text_projection`).
        var transposed = false
        /// The shape this entry is read as.
        var shape: [Int]

        init(file: Int, name: String, info: SafetensorsTensorInfo, rows: Range<Int>? = nil, transposed: Bool = false) {
            self.file = file
            self.name = name
            self.info = info
            self.rows = rows
            self.transposed = transposed
            var shape = info.shape
            if let rows, !shape.isEmpty { shape[0] = rows.count }
            if transposed, shape.count == 2 { shape = [shape[1], shape[0]] }
            self.shape = shape
        }

        var elementCount: Int { shape.reduce(1, *) }
    }

    /// Opens a single-file `.safetensors` checkpoint or a diffusers folder. With `.bf16`, every
    /// linear and convolution kernel is held in bfloat16 (converted once here) and computed on the
    /// CPU's bf16 hardware.
    public convenience init(path: String, precision: ComputePrecision = .fp32) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw RenderError.unreadableFile(path: path, reason: "no such checkpoint file or folder")
        }
        if isDirectory.boolValue {
            try self.init(diffusersFolder: path, precision: precision)
        } else {
            try self.init(singleFile: path, precision: precision)
        }
    }

    private init(path: String, layout: Layout, files: [SafetensorsFile], entries: [String: Entry], vPrediction: Bool = false,
                 precision: ComputePrecision) throws {
        if precision == .bf16 { try ComputePrecision.requireBF16() }
        self.path = path
        self.precision = precision
        self.layout = layout
        self.files = files
        self.entries = entries
        self.config = try SD1Config.detect(path: path, shape: { entries[$0]?.shape }, names: Array(entries.keys))
        self.vPredictionMarker = vPrediction
    }

    /// The file carries NoobAI's `v_pred` marker key: the UNet predicts v (with a zero-terminal-SNR schedule).
    public let vPredictionMarker: Bool

    /// Which model family the checkpoint is.
    public var architecture: Architecture { config.architecture }

    private convenience init(singleFile path: String, precision: ComputePrecision) throws {
        let file = try Self.open(path)
        let names = file.tensorNames
        if let reason = Self.foreignArchitecture(names) { throw RenderError.unsupportedCheckpoint(path: path, reason: reason) }
        var entries: [String: Entry] = [:]
        for name in names {
            guard let info = file.header[name], info.dtype.isConvertibleToFloat else { continue }  // position_ids etc.
            var canonical: String
            if name.hasPrefix(KeyMapping.unetPrefix) || name.hasPrefix(KeyMapping.vaePrefix) {
                canonical = name
            } else if name.hasPrefix("vae.") {
                canonical = KeyMapping.vaePrefix + name.dropFirst(4)
            } else if name.hasPrefix(KeyMapping.textPrefix) {
                // Old checkpoints lack the `text_model.` level (A1111 fixes this the same way).
                canonical = KeyMapping.textPrefix + KeyMapping.canonicalTextName(String(name.dropFirst(KeyMapping.textPrefix.count)))
            } else if name.hasPrefix(KeyMapping.sdxlText1FilePrefix) {
                // SDXL's CLIP ViT-L keeps transformers names; it takes SD 1.x's canonical place.
                canonical = KeyMapping.textPrefix + KeyMapping.canonicalTextName(String(name.dropFirst(KeyMapping.sdxlText1FilePrefix.count)))
            } else if name.hasPrefix(KeyMapping.sdxlText2FilePrefix) {
                // OpenCLIP ViT-bigG in open_clip names: fused q/k/v are read as three row blocks.
                let rest = String(name.dropFirst(KeyMapping.sdxlText2FilePrefix.count))
                for (mapped, part) in KeyMapping.openCLIPToTransformers(rest) {
                    var e = Entry(file: 0, name: name, info: info, transposed: mapped == "text_projection.weight")
                    if let part {
                        guard let rows = info.shape.first, rows % 3 == 0 else {
                            throw RenderError.badWeight(path: path, name: name, reason: "has shape \(info.shape), expected 3·width rows")
                        }
                        e = Entry(file: 0, name: name, info: info, rows: (part * rows / 3)..<((part + 1) * rows / 3))
                    }
                    entries[KeyMapping.text2Prefix + mapped] = e
                }
                continue
            } else {
                continue  // EMA copies, schedule buffers, anything else
            }
            if canonical.hasSuffix(".position_ids") { continue }
            entries[canonical] = Entry(file: 0, name: name, info: info)
        }
        try self.init(path: path, layout: .singleFile, files: [file], entries: entries, vPrediction: names.contains("v_pred"),
                      precision: precision)
    }

    private convenience init(diffusersFolder path: String, precision: ComputePrecision) throws {
        var files: [SafetensorsFile] = []
        var entries: [String: Entry] = [:]
        var parts: [(dir: String, stem: String, component: KeyMapping.Component)] = [
            ("unet", "diffusion_pytorch_model", .unet), ("vae", "diffusion_pytorch_model", .vae),
            ("text_encoder", "model", .textEncoder),
        ]
        if FileManager.default.fileExists(atPath: path + "/text_encoder_2") {
            if !FileManager.default.fileExists(atPath: path + "/text_encoder") {
                throw RenderError.unsupportedCheckpoint(path: path, reason: "not supported: SDXL refiner (it has only the OpenCLIP text encoder; Stylus renders with SDXL base models)")
            }
            parts.append(("text_encoder_2", "model", .textEncoder2))
        }
        for part in parts {
            let dir = path + "/" + part.dir
            let candidates = [".safetensors", ".fp16.safetensors"].map { "\(dir)/\(part.stem)\($0)" }
            guard let filePath = candidates.first(where: { FileManager.default.fileExists(atPath: $0) }) else {
                let pickle = FileManager.default.fileExists(atPath: "\(dir)/\(part.stem).bin")
                throw RenderError.unsupportedCheckpoint(path: path, reason: pickle
                    ? "\(part.dir)/ has only pickle (.bin) weights, which Stylus does not load; convert them to .safetensors"
                    : "diffusers folder without \(part.dir)/\(part.stem).safetensors")
            }
            let file = try Self.open(filePath)
            if let reason = Self.foreignArchitecture(file.tensorNames) {
                throw RenderError.unsupportedCheckpoint(path: path, reason: reason)
            }
            let index = files.count
            files.append(file)
            // SDXL's UNet puts its attention-free level last (its upsamplers then sit at `.2`).
            let sdxl = part.component == .unet && file.tensorNames.contains { $0.hasPrefix("add_embedding.") }
            let levels = Set(file.tensorNames.compactMap { n -> Int? in
                let p = n.split(separator: ".")
                return p.count > 2 && p[0] == "decoder" && p[1] == "up_blocks" ? Int(p[2]) : nil
            }).count
            for name in file.tensorNames {
                guard let info = file.header[name], info.dtype.isConvertibleToFloat else { continue }
                let mapped: String?
                switch part.component {
                case .unet: mapped = KeyMapping.unetToLDM(name, sdxl: sdxl).map { KeyMapping.unetPrefix + $0 }
                case .textEncoder2: mapped = KeyMapping.text2Prefix + KeyMapping.canonicalTextName(name)
                case .vae: mapped = KeyMapping.vaeToLDM(name, levels: max(levels, 1)).map { KeyMapping.vaePrefix + $0 }
                case .textEncoder: mapped = KeyMapping.textPrefix + KeyMapping.canonicalTextName(name)
                }
                guard let canonical = mapped, !canonical.hasSuffix(".position_ids") else { continue }
                entries[canonical] = Entry(file: index, name: name, info: info)
            }
        }
        try self.init(path: path, layout: .diffusers, files: files, entries: entries, vPrediction: Self.schedulerPredictsV(path),
                      precision: precision)
    }

    /// A diffusers folder's `scheduler/scheduler_config.json` says `"prediction_type": "v_prediction"`
    /// (how v-prediction folders are marked); anything unreadable counts as ε.
    static func schedulerPredictsV(_ folder: String) -> Bool {
        let url = URL(fileURLWithPath: folder + "/scheduler/scheduler_config.json")
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: url.path),
              (attributes[.size] as? Int ?? 0) < 1 << 20, attributes[.type] as? FileAttributeType == .typeRegular,
              let data = try? Data(contentsOf: url),
              let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return false }
        return json["prediction_type"] as? String == "v_prediction"
    }

    private static func open(_ path: String) throws -> SafetensorsFile {
        do {
            return try SafetensorsFile(path: path)
        } catch {
            throw RenderError.unreadableFile(path: path, reason: "not a readable safetensors checkpoint: \(error)")
        }
    }

    /// A reason when the names belong to SDXL, SD 2.x or another family (before looking at shapes).
    static func foreignArchitecture(_ names: [String]) -> String? {
        func any(_ test: (String) -> Bool) -> Bool { names.contains(where: test) }
        if any({ $0.contains("double_blocks.") && $0.contains("img_attn") }) || any({ $0.hasPrefix("double_blocks.") }) {
            return "not supported: Flux (a transformer model, not a UNet)"
        }
        if any({ $0.contains("joint_blocks.") }) {
            return "not supported: SD3 (an MMDiT transformer model, not a UNet)"
        }
        if any({ $0.contains("transformer_blocks.0.ff_context") }) {
            return "not supported: a Flux/SD3-style transformer model (diffusers layout), not a UNet"
        }
        if any({ $0.hasPrefix("conditioner.embedders.0.model.") }) && !any({ $0.hasPrefix("conditioner.embedders.1.") }) {
            return "not supported: SDXL refiner (it has only the OpenCLIP text encoder; Stylus renders with SDXL base models)"
        }
        if any({ $0.hasPrefix("cond_stage_model.model.") }) {
            return "this is an SD 2.x checkpoint (OpenCLIP text encoder)"
        }
        return nil
    }

    /// Canonical names, sorted.
    public var names: [String] { entries.keys.sorted() }

    public func contains(_ name: String) -> Bool { entries[name] != nil }

    /// The shape as stored (VAE attention projections are [C, C] in diffusers, [C, C, 1, 1] in LDM).
    public func shape(_ name: String) -> [Int]? { entries[name]?.shape }

    /// The stored dtype name (F32, F16, BF16).
    public func dtype(_ name: String) -> String? { entries[name]?.info.dtype.name }

    /// A weight as Float32 with the given shape (element counts must agree; layouts that differ
    /// only by trailing 1×1 dimensions are the same data), with merged LoRAs. Non-finite values are
    /// refused. A copy: models hold `weight(_:shape:)` instead.
    public func tensor(_ name: String, shape expected: [Int]? = nil) throws -> Tensor {
        stateLock.lock(); defer { stateLock.unlock() }
        let entry = try self.entry(name, shape: expected)
        let shape = expected ?? entry.shape
        if let buffer = live[name]?.buffer {
            return Tensor(shape: shape, data: [Float](unsafeUninitializedCapacity: buffer.count) { p, n in
                buffer.widen(into: p.baseAddress!, parallel: true)
                n = buffer.count
            })
        }
        var data = try baseData(name, entry)
        if let patch = patches[name] {
            data.withUnsafeMutableBufferPointer { patch.add(to: $0.baseAddress!, rows: entry.shape.first ?? 1, parallel: true) }
        }
        return Tensor(shape: shape, data: data)
    }

    /// The weight as stored in the file, ignoring merged LoRAs.
    public func baseTensor(_ name: String, shape expected: [Int]? = nil) throws -> Tensor {
        let entry = try self.entry(name, shape: expected)
        return Tensor(shape: expected ?? entry.shape, data: try baseData(name, entry))
    }

    /// The weight models compute with: one buffer per name, shared by every model built from this
    /// checkpoint and patched in place when LoRAs are merged or reverted, so switching adapter sets
    /// needs no rebuild. Don't merge while a model of this checkpoint is running. With `keepHalf`
    /// (matrices read through `WeightBuffer.withFloats`), an fp16 or bf16 weight stays in its
    /// stored format; otherwise it is Float32. In a `.bf16` checkpoint such matrices are bfloat16
    /// whatever the file holds, and their layers compute in bf16 (`WeightBuffer.computesInBF16`).
    package func weight(_ name: String, shape expected: [Int], keepHalf: Bool = false) throws -> WeightBuffer {
        stateLock.lock(); defer { stateLock.unlock() }
        let entry = try self.entry(name, shape: expected)
        if let buffer = live[name]?.buffer {
            // The first model to ask decides; a Float32 reader of a half buffer would be a bug here.
            if buffer.storage != .f32 && !keepHalf {
                throw RenderError.badWeight(path: path, name: name, reason: "is held in half precision and was asked for as Float32")
            }
            return buffer
        }
        let bf16 = precision == .bf16 && keepHalf && !entry.transposed
        let storage: WeightBuffer.Storage = bf16 ? .bf16 : !keepHalf || entry.transposed ? .f32
            : entry.info.dtype == .f16 ? .f16 : entry.info.dtype == .bf16 ? .bf16 : .f32
        let buffer = WeightBuffer(count: entry.elementCount, rows: entry.shape.first ?? 1, storage: storage, computesInBF16: bf16)
        try loadBase(name, entry, into: buffer)
        if let patch = patches[name] {
            buffer.add(patch, parallel: true)
            buffer.patched = true
        }
        live[name] = WeakWeight(buffer: buffer)
        return buffer
    }

    private func entry(_ name: String, shape expected: [Int]?) throws -> Entry {
        guard let entry = entries[name] else { throw RenderError.missingWeight(path: path, name: name) }
        if let expected, expected.reduce(1, *) != entry.elementCount {
            throw RenderError.badWeight(path: path, name: name, reason: "has shape \(entry.shape), expected \(expected)")
        }
        return entry
    }

    private func baseData(_ name: String, _ entry: Entry) throws -> [Float] {
        try [Float](unsafeUninitializedCapacity: entry.elementCount) { p, initialized in
            try loadBase(name, entry, into: p.baseAddress!)
            initialized = entry.elementCount
        }
    }

    /// Loads a stored weight into a model's buffer: its bits for half storage (refusing non-finite
    /// values), else converted to Float32.
    private func loadBase(_ name: String, _ entry: Entry, into buffer: WeightBuffer, parallel: Bool = true) throws {
        guard buffer.storage != .f32 else { return try loadBase(name, entry, into: buffer.pointer, parallel: parallel) }
        if buffer.storage == .bf16 && entry.info.dtype != .bf16 {
            // A bf16 checkpoint over an fp16 or fp32 file: through Float32, rounded once.
            let wide = UnsafeMutablePointer<Float>.allocate(capacity: max(buffer.count, 1))
            defer { wide.deallocate() }
            try loadBase(name, entry, into: wide, parallel: parallel)
            return buffer.store(wide, parallel: parallel)
        }
        let (raw, source) = try bytes(name, entry)
        Self.populate(source)
        if let base = source.baseAddress {
            UnsafeMutableRawPointer(buffer.halves).copyMemory(from: base, byteCount: min(source.count, 2 * buffer.count))
        }
        if entry.rows == nil { releasePages(raw) }
        // Finite check by widening in slices (vectorised; one small scratch buffer).
        let slice = 1 << 16
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: slice)
        defer { scratch.deallocate() }
        var start = 0
        while start < buffer.count {
            let n = min(slice, buffer.count - start)
            let finite = buffer.storage == .f16 ? Kernels.convertHalf(buffer.halves + start, to: scratch, count: n, parallel: false)
                : Kernels.convertBFloat16(buffer.halves + start, to: scratch, count: n, parallel: false)
            if !finite {
                let bad = (0..<n).first { !scratch[$0].isFinite } ?? 0
                throw RenderError.badWeight(path: path, name: name, reason: "contains \(scratch[bad]) at element \(start + bad)")
            }
            start += n
        }
    }

    /// The tensor's mapped bytes, and the part this entry reads (a block of rows, or all of it).
    private func bytes(_ name: String, _ entry: Entry) throws -> (all: UnsafeRawBufferPointer, part: UnsafeRawBufferPointer) {
        let raw: UnsafeRawBufferPointer
        do {
            raw = try files[entry.file].rawBytes(entry.name)
        } catch {
            throw RenderError.badWeight(path: path, name: name, reason: "cannot be read (\(error))")
        }
        var source = raw
        if let rows = entry.rows, let base = raw.baseAddress {
            let rowBytes = entry.info.shape.isEmpty ? raw.count : raw.count / max(entry.info.shape[0], 1)
            source = UnsafeRawBufferPointer(start: base + rows.lowerBound * rowBytes, count: rows.count * rowBytes)
        }
        return (raw, source)
    }

    /// Converts a stored weight to Float32 into `out`, refusing non-finite values.
    private func loadBase(_ name: String, _ entry: Entry, into out: UnsafeMutablePointer<Float>, parallel: Bool = true) throws {
        let (raw, source) = try bytes(name, entry)
        let finite: Bool?
        if entry.transposed, entry.shape.count == 2 {
            // Stored [in, out]: convert, then write the transpose.
            let stored = UnsafeMutablePointer<Float>.allocate(capacity: max(entry.elementCount, 1))
            defer { stored.deallocate() }
            finite = Self.convert(source, entry.info.dtype, count: entry.elementCount, into: stored, parallel: parallel)
            let (r, c) = (entry.shape[1], entry.shape[0])  // stored rows, columns
            for i in 0..<r { for j in 0..<c { out[j * r + i] = stored[i * c + j] } }
        } else {
            finite = Self.convert(source, entry.info.dtype, count: entry.elementCount, into: out, parallel: parallel)
        }
        guard let finite else {
            throw RenderError.badWeight(path: path, name: name, reason: "has the unsupported type \(entry.info.dtype.name)")
        }
        if entry.rows == nil { releasePages(raw) }
        if !finite {
            let bad = (0..<entry.elementCount).first { !out[$0].isFinite } ?? 0
            throw RenderError.badWeight(path: path, name: name, reason: "contains \(out[bad]) at element \(bad)")
        }
    }

    /// Whether all values are finite, nil for a type that is not converted here.
    private static func convert(_ raw: UnsafeRawBufferPointer, _ dtype: SafetensorsDType, count: Int, into out: UnsafeMutablePointer<Float>,
                                parallel: Bool) -> Bool? {
        guard count > 0, let base = raw.baseAddress else { return true }
        populate(raw)
        switch dtype {
        case .f16: return Kernels.convertHalf(base, to: out, count: count, parallel: parallel)
        case .bf16: return Kernels.convertBFloat16(base, to: out, count: count, parallel: parallel)
        case .f32: return Kernels.copyFloats(base, to: out, count: count, parallel: parallel)
        case .f64:
            for k in 0..<count { out[k] = Float(Double(bitPattern: UInt64(littleEndian: base.loadUnaligned(fromByteOffset: 8 * k, as: UInt64.self)))) }
            return Kernels.allFinite(out, count: count)
        default: return nil
        }
    }
}

/// A weight shared by the models of a checkpoint and patched in place by the LoRA merger.
/// Allocated once; its address never changes. Matrices stored as fp16 or bf16 stay in that format
/// (half the memory: an SDXL UNet is 5.2 GB instead of 10.4) and are widened per operation
/// (`withFloats`); everything else is Float32.
package final class WeightBuffer: @unchecked Sendable {
    package enum Storage: Sendable { case f32, f16, bf16 }
    package let count: Int
    /// Rows of the stored weight (its first dimension): the `m` of a LoRA gemm on it.
    package let rows: Int
    package let storage: Storage
    private let raw: UnsafeMutableRawPointer
    /// Holds base + a LoRA patch (a revert must reload it); guarded by the checkpoint's lock.
    var patched = false
    /// Layers multiply this weight in bf16 on the CPU's bf16 hardware (storage is `.bf16`).
    package let computesInBF16: Bool
    /// Values layers compute from the weight once (Winograd-transformed kernels), by key; dropped
    /// when a merge changes the weight.
    private var derived: [String: AnyObject] = [:]
    private let derivedLock = NSLock()

    init(count: Int, rows: Int, storage: Storage = .f32, computesInBF16: Bool = false) {
        precondition(!computesInBF16 || storage == .bf16)
        self.count = count
        self.rows = rows
        self.storage = storage
        self.computesInBF16 = computesInBF16
        raw = .allocate(byteCount: max(count, 1) * (storage == .f32 ? 4 : 2), alignment: 64)
    }

    deinit { raw.deallocate() }

    /// The value `make` computes from this weight, made on first use and kept until the weight changes.
    package func derived<Value: AnyObject>(_ key: String, _ make: () -> Value) -> Value {
        derivedLock.lock(); defer { derivedLock.unlock() }
        if let value = derived[key] as? Value { return value }
        let value = make()
        derived[key] = value
        return value
    }

    /// The merger changed the values: whatever was derived from them is stale.
    func contentChanged() {
        derivedLock.lock(); defer { derivedLock.unlock() }
        derived = [:]
    }

    /// The Float32 values; only for `.f32` storage.
    package var pointer: UnsafeMutablePointer<Float> {
        precondition(storage == .f32, "a half-precision weight read as Float32")
        return raw.assumingMemoryBound(to: Float.self)
    }

    /// The stored bits of a `.f16` or `.bf16` weight.
    package var halves: UnsafeMutablePointer<UInt16> { raw.assumingMemoryBound(to: UInt16.self) }

    package subscript(_ i: Int) -> Float {
        switch storage {
        case .f32: return pointer[i]
        case .f16: return Float(Float16(bitPattern: halves[i]))
        case .bf16: return Float(bitPattern: UInt32(halves[i]) << 16)
        }
    }

    /// Runs `body` on the weight as Float32: in place, or widened into a temporary buffer for this
    /// one operation (a pass over the weight; in a 1024² UNet step each weight element meets ≥ 2,048 token rows).
    package func withFloats<R>(parallel: Bool = true, _ body: (UnsafePointer<Float>) throws -> R) rethrows -> R {
        if storage == .f32 { return try body(pointer) }
        let wide = UnsafeMutablePointer<Float>.allocate(capacity: max(count, 1))
        defer { wide.deallocate() }
        widen(into: wide, parallel: parallel)
        return try body(wide)
    }

    /// The values as Float32 into `out` (exact for every storage).
    func widen(into out: UnsafeMutablePointer<Float>, parallel: Bool) {
        switch storage {
        case .f32: out.update(from: pointer, count: count)
        case .f16: Kernels.convertHalf(halves, to: out, count: count, parallel: parallel)
        case .bf16: Kernels.convertBFloat16(halves, to: out, count: count, parallel: parallel)
        }
    }

    /// Stores Float32 values, rounded to nearest even for half storage.
    func store(_ values: UnsafePointer<Float>, parallel: Bool) {
        switch storage {
        case .f32: pointer.update(from: values, count: count)
        case .f16: Kernels.narrowHalf(values, to: halves, count: count, parallel: parallel)
        case .bf16: Kernels.narrowBFloat16(values, to: halves, count: count, parallel: parallel)
        }
    }

    /// Adds a LoRA patch: in place for Float32; widened, patched and rounded back for half storage
    /// (as A1111 and diffusers' `fuse_lora` do for fp16 models).
    func add(_ patch: WeightPatch, parallel: Bool) {
        if storage == .f32 { return patch.add(to: pointer, rows: rows, parallel: parallel) }
        let wide = UnsafeMutablePointer<Float>.allocate(capacity: max(count, 1))
        defer { wide.deallocate() }
        widen(into: wide, parallel: parallel)
        patch.add(to: wide, rows: rows, parallel: parallel)
        store(wide, parallel: parallel)
    }
}

private struct WeakWeight {
    weak var buffer: WeightBuffer?
}

/// What a LoRA set adds to one stored weight (LoRAMerger builds these).
protocol WeightPatch: Sendable {
    /// weight += ΔW, for a weight of `rows` rows stored at `weight`.
    func add(to weight: UnsafeMutablePointer<Float>, rows: Int, parallel: Bool)
}

extension Checkpoint {
    /// LoRA hook: replaces the merged patches and brings every weight a model holds to base + its
    /// new patch (reloading the stored weight exactly where an old patch was, patching in place).
    /// Runs over both cores, one weight per task.
    func setPatches(_ new: [String: WeightPatch]) {
        stateLock.lock(); defer { stateLock.unlock() }
        var work: [(name: String, buffer: WeightBuffer, patch: WeightPatch?)] = []
        for name in Set(patches.keys).union(new.keys) {
            guard let buffer = live[name]?.buffer, buffer.patched || new[name] != nil else { continue }
            work.append((name, buffer, new[name]))
        }
        patches = new
        work.sort { $0.buffer.count > $1.buffer.count }  // biggest first: the two cores finish together
        let items = UncheckedBox(work)
        DispatchQueue.concurrentPerform(iterations: work.count) { i in
            let (name, buffer, patch) = items.value[i]
            if buffer.patched, let entry = entries[name] {
                // Was finite when first loaded; the file cannot change under the mapping.
                try? loadBase(name, entry, into: buffer, parallel: false)
            }
            if let patch { buffer.add(patch, parallel: false) }
            buffer.patched = patch != nil
            buffer.contentChanged()
        }
    }

    /// Maps a tensor's file pages in one call before converting it (instead of one fault per page).
    fileprivate static func populate(_ raw: UnsafeRawBufferPointer) {
        #if os(Linux)
        guard raw.count >= 1 << 16, let range = pageRange(raw, outward: true) else { return }
        _ = madvise(UnsafeMutableRawPointer(bitPattern: range.lowerBound), range.count, 22)  // MADV_POPULATE_READ (Linux 5.14)
        #endif
    }

    /// Drops the file pages of a tensor that has been converted, so a 2 GB fp16 checkpoint does not
    /// stay resident next to its 4 GB of Float32 weights (peak RSS is part of the benchmark).
    /// The mapping is read-only and private: dropped pages are simply read again if touched.
    fileprivate func releasePages(_ raw: UnsafeRawBufferPointer) {
        guard let range = Self.pageRange(raw, outward: false) else { return }
        madvise(UnsafeMutableRawPointer(bitPattern: range.lowerBound), range.count, MADV_DONTNEED)
    }

    /// Whole pages covering (outward) or inside (inward) a byte range, as addresses.
    private static func pageRange(_ raw: UnsafeRawBufferPointer, outward: Bool) -> Range<Int>? {
        guard let base = raw.baseAddress, raw.count > 0 else { return nil }
        let page = Int(sysconf(Int32(_SC_PAGESIZE))), start = Int(bitPattern: base), end = start + raw.count
        let lo = outward ? start / page * page : (start + page - 1) / page * page
        let hi = outward ? (end + page - 1) / page * page : end / page * page
        return hi > lo ? lo..<hi : nil
    }
}


/// The SD 1.x variant in a checkpoint, read from tensor shapes (real SD 1.x and the small test
/// models the fixture scripts build share the structure and differ only in widths).
public struct SD1Config: Equatable, Sendable {
    public var textWidth: Int
    public var textLayers: Int
    public var textHeads: Int
    public var textPositions: Int
    public var unetChannels: [Int]
    public var unetHeads = 8
    public var contextDim: Int
    public var latentChannels: Int
    public var vaeChannels: [Int]
    /// Resnets per decoder level (3 in SD).
    public var vaeDecoderBlocks: Int
    public var architecture = Architecture.sd1
    /// SDXL: attention heads are this wide (64; 8 in the small test models); nil: `unetHeads` heads.
    public var unetHeadWidth: Int?
    /// SDXL's second text encoder (OpenCLIP ViT-bigG).
    public var text2: TextConfig?
    /// SDXL: width of each of the six size/crop time-id embeddings (256).
    public var timeIdWidth = 0
    /// Latents are the VAE's latents times this (SD 1.x 0.18215, SDXL 0.13025).
    public var vaeScalingFactor: Float = 0.18215

    public struct TextConfig: Equatable, Sendable {
        public var width: Int, layers: Int, heads: Int, positions: Int
        /// Width of the pooled output after `text_projection` (1280 in SDXL).
        public var projection: Int

        public init(width: Int, layers: Int, heads: Int, positions: Int, projection: Int) {
            (self.width, self.layers, self.heads, self.positions, self.projection) = (width, layers, heads, positions, projection)
        }
    }

    /// Heads of a spatial transformer `width` channels wide.
    public func unetHeads(width: Int) -> Int {
        guard let w = unetHeadWidth else { return unetHeads }
        return max(1, width / w)
    }

    public init(textWidth: Int, textLayers: Int, textHeads: Int, textPositions: Int, unetChannels: [Int],
                unetHeads: Int = 8, contextDim: Int, latentChannels: Int, vaeChannels: [Int], vaeDecoderBlocks: Int) {
        self.textWidth = textWidth
        self.textLayers = textLayers
        self.textHeads = textHeads
        self.textPositions = textPositions
        self.unetChannels = unetChannels
        self.unetHeads = unetHeads
        self.contextDim = contextDim
        self.latentChannels = latentChannels
        self.vaeChannels = vaeChannels
        self.vaeDecoderBlocks = vaeDecoderBlocks
    }

    static func detect(path: String, shape: (String) -> [Int]?, names: [String]) throws -> SD1Config {
        let u = KeyMapping.unetPrefix, v = KeyMapping.vaePrefix, t = KeyMapping.textPrefix + "text_model."
        func need(_ name: String, rank: Int) throws -> [Int] {
            guard let s = shape(name) else { throw RenderError.missingWeight(path: path, name: name) }
            guard s.count == rank else {
                throw RenderError.badWeight(path: path, name: name, reason: "has shape \(s), expected rank \(rank)")
            }
            return s
        }
        guard names.contains(where: { $0.hasPrefix(u) }) else {
            throw RenderError.unsupportedCheckpoint(path: path, reason: "no Stable Diffusion UNet weights found (model.diffusion_model.* or unet/)")
        }
        if names.contains(where: { $0.hasPrefix(u + "label_emb.") || $0.hasPrefix(KeyMapping.text2Prefix) }) {
            return try detectSDXL(path: path, shape: shape, names: names)
        }
        let convIn = try need(u + "input_blocks.0.0.weight", rank: 4)
        switch convIn[1] {
        case 4: break
        case 9: throw RenderError.unsupportedCheckpoint(path: path, reason: "this is an inpainting checkpoint (9 input channels)")
        case 8: throw RenderError.unsupportedCheckpoint(path: path, reason: "this is an instruct-pix2pix checkpoint (8 input channels)")
        default: throw RenderError.unsupportedCheckpoint(path: path, reason: "the UNet takes \(convIn[1]) input channels, not 4")
        }
        let projIn = u + "input_blocks.1.1.proj_in.weight"
        if let s = shape(projIn), s.count == 2 {
            throw RenderError.unsupportedCheckpoint(path: path, reason: "this is an SD 2.x checkpoint (linear attention projections)")
        }
        let toK = try need(u + "input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight", rank: 2)
        if toK[1] == 1024 { throw RenderError.unsupportedCheckpoint(path: path, reason: "this is an SD 2.x checkpoint (1024-wide text context)") }
        if toK[1] == 2048 { throw RenderError.unsupportedCheckpoint(path: path, reason: "this is an SDXL checkpoint (2048-wide text context)") }
        var channels: [Int] = []
        for level in 0..<4 {
            channels.append(try need(u + "input_blocks.\(3 * level + 1).0.out_layers.3.weight", rank: 4)[0])
        }
        guard shape(u + "input_blocks.12.0.out_layers.3.weight") == nil, shape(u + "output_blocks.11.0.out_layers.3.weight") != nil else {
            throw RenderError.unsupportedCheckpoint(path: path, reason: "the UNet does not have SD 1.x's 4 levels of 2 blocks")
        }

        let embedding = try need(t + "embeddings.token_embedding.weight", rank: 2)
        guard embedding[0] == ClipTokenizer.vocabularySize else {
            throw RenderError.unsupportedCheckpoint(path: path, reason: "the text encoder has \(embedding[0]) tokens, not CLIP's \(ClipTokenizer.vocabularySize)")
        }
        guard embedding[1] == toK[1] else {
            throw RenderError.unsupportedCheckpoint(path: path, reason: "text width \(embedding[1]) does not match the UNet's context width \(toK[1])")
        }
        let positions = try need(t + "embeddings.position_embedding.weight", rank: 2)
        var layers = 0
        while shape(t + "encoder.layers.\(layers).self_attn.q_proj.weight") != nil { layers += 1 }
        guard layers > 0 else { throw RenderError.missingWeight(path: path, name: t + "encoder.layers.0.self_attn.q_proj.weight") }

        let postQuant = try need(v + "post_quant_conv.weight", rank: 4)
        var vaeChannels: [Int] = []
        while let s = shape(v + "decoder.up.\(vaeChannels.count).block.0.conv2.weight") { vaeChannels.append(s[0]) }
        guard !vaeChannels.isEmpty else { throw RenderError.missingWeight(path: path, name: v + "decoder.up.0.block.0.conv2.weight") }
        var blocks = 0
        while shape(v + "decoder.up.0.block.\(blocks).conv2.weight") != nil { blocks += 1 }

        let width = embedding[1]
        return SD1Config(
            // CLIP ViT-L/14 uses 64-wide heads; test models narrower than 64 use 8-wide heads.
            textWidth: width, textLayers: layers, textHeads: width >= 64 ? width / 64 : max(1, width / 8),
            textPositions: positions[0], unetChannels: channels, contextDim: toK[1],
            latentChannels: postQuant[0], vaeChannels: vaeChannels, vaeDecoderBlocks: blocks)
    }
}


/// The model families a checkpoint can be.
public enum Architecture: String, Sendable {
    case sd1 = "SD 1.x"
    case sdxl = "SDXL"
}

extension SD1Config {
    /// SDXL (base, and its finetunes Pony, Illustrious, NoobAI): three UNet levels, the first without
    /// attention, `label_emb` fed by the pooled text embedding and six time ids, two text encoders
    /// whose penultimate hidden states are concatenated. Every problem names SDXL.
    static func detectSDXL(path: String, shape: (String) -> [Int]?, names: [String]) throws -> SD1Config {
        let u = KeyMapping.unetPrefix, v = KeyMapping.vaePrefix
        let t1 = KeyMapping.textPrefix + "text_model.", t2 = KeyMapping.text2Prefix + "text_model."
        func need(_ name: String, rank: Int) throws -> [Int] {
            guard let s = shape(name) else {
                throw RenderError.unsupportedCheckpoint(path: path, reason: "an SDXL checkpoint without \(name) (truncated or incomplete)")
            }
            guard s.count == rank else {
                throw RenderError.badWeight(path: path, name: name, reason: "has shape \(s), expected rank \(rank) (SDXL)")
            }
            return s
        }
        let convIn = try need(u + "input_blocks.0.0.weight", rank: 4)
        guard convIn[1] == 4 else {
            throw RenderError.unsupportedCheckpoint(path: path, reason: "an SDXL UNet taking \(convIn[1]) input channels (inpainting or other variants are not supported)")
        }
        var channels: [Int] = []
        while let s = shape(u + "input_blocks.\(3 * channels.count + 1).0.out_layers.3.weight") { channels.append(s[0]) }
        guard channels.count == 3, shape(u + "output_blocks.8.0.out_layers.3.weight") != nil,
              shape(u + "output_blocks.9.0.out_layers.3.weight") == nil else {
            throw RenderError.unsupportedCheckpoint(path: path, reason: "the SDXL UNet does not have SDXL's 3 levels of 2 blocks (found \(channels.count) levels)")
        }
        var found: [Int]?
        for block in 1...8 where found == nil { found = shape(u + "input_blocks.\(block).1.transformer_blocks.0.attn2.to_k.weight") }
        guard let toK = found, toK.count == 2 else {
            throw RenderError.unsupportedCheckpoint(path: path, reason: "an SDXL checkpoint without cross-attention weights (truncated)")
        }
        func text(_ prefix: String, projection: String?) throws -> TextConfig {
            let embedding = try need(prefix + "embeddings.token_embedding.weight", rank: 2)
            guard embedding[0] == ClipTokenizer.vocabularySize else {
                throw RenderError.unsupportedCheckpoint(path: path, reason: "an SDXL text encoder with \(embedding[0]) tokens, not CLIP's \(ClipTokenizer.vocabularySize)")
            }
            let positions = try need(prefix + "embeddings.position_embedding.weight", rank: 2)
            var layers = 0
            while shape(prefix + "encoder.layers.\(layers).self_attn.q_proj.weight") != nil { layers += 1 }
            guard layers > 1 else {
                throw RenderError.unsupportedCheckpoint(path: path, reason: "an SDXL text encoder with \(layers) layers (truncated)")
            }
            let width = embedding[1]
            let proj = try projection.map { try need($0, rank: 2) }
            if let proj, proj[1] != width {
                throw RenderError.badWeight(path: path, name: projection!, reason: "has shape \(proj), expected [_, \(width)]")
            }
            return TextConfig(width: width, layers: layers, heads: width >= 64 ? width / 64 : max(1, width / 8),
                              positions: positions[0], projection: proj?[0] ?? width)
        }
        let te1 = try text(t1, projection: nil)
        let te2 = try text(t2, projection: KeyMapping.text2Prefix + "text_projection.weight")
        guard te1.width + te2.width == toK[1] else {
            throw RenderError.unsupportedCheckpoint(path: path, reason: "SDXL text widths \(te1.width) + \(te2.width) do not match the UNet's context width \(toK[1])")
        }
        let label = try need(u + "label_emb.0.0.weight", rank: 2)
        let timeIds = label[1] - te2.projection
        guard timeIds > 0, timeIds % 6 == 0 else {
            throw RenderError.unsupportedCheckpoint(path: path, reason: "the SDXL UNet's label_emb takes \(label[1]) inputs, not pooled \(te2.projection) + 6 time ids (an SDXL refiner takes 5)")
        }
        let postQuant = try need(v + "post_quant_conv.weight", rank: 4)
        var vaeChannels: [Int] = []
        while let s = shape(v + "decoder.up.\(vaeChannels.count).block.0.conv2.weight") { vaeChannels.append(s[0]) }
        guard !vaeChannels.isEmpty else {
            throw RenderError.unsupportedCheckpoint(path: path, reason: "an SDXL checkpoint without VAE decoder weights (first_stage_model.decoder.*)")
        }
        var blocks = 0
        while shape(v + "decoder.up.0.block.\(blocks).conv2.weight") != nil { blocks += 1 }
        var config = SD1Config(
            textWidth: te1.width, textLayers: te1.layers, textHeads: te1.heads, textPositions: te1.positions,
            unetChannels: channels, contextDim: toK[1], latentChannels: postQuant[0], vaeChannels: vaeChannels,
            vaeDecoderBlocks: blocks)
        config.architecture = .sdxl
        // SDXL's heads are 64 wide (5/10/20 per level); the small test models use 8-wide heads.
        config.unetHeadWidth = channels[0] >= 128 ? 64 : 8
        config.text2 = te2
        config.timeIdWidth = timeIds / 6
        config.vaeScalingFactor = 0.13025
        return config
    }
}
