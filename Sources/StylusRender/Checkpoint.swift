import Foundation
import StylusML

/// An SD 1.x checkpoint opened for reading: every weight under its canonical LDM name
/// (`model.diffusion_model.…`, `first_stage_model.…`, `cond_stage_model.transformer.text_model.…`),
/// whatever the layout on disk. Files stay memory-mapped; weights are converted to Float32 when a
/// model asks for them (fp16/bf16/fp32 on disk, compute in fp32).
public final class Checkpoint: @unchecked Sendable {
    public enum Layout: String, Sendable { case singleFile = "single-file", diffusers }

    public let path: String
    public let layout: Layout
    public let config: SD1Config
    fileprivate let files: [SafetensorsFile]
    private let entries: [String: Entry]
    // LoRA hook (LoRAMerger): merged weights by canonical name, in stored shape.
    private var overrides: [String: Tensor] = [:]
    private let overridesLock = NSLock()

    struct Entry {
        let file: Int
        let name: String
        let info: SafetensorsTensorInfo
    }

    /// Opens a single-file `.safetensors` checkpoint or a diffusers folder.
    public convenience init(path: String) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw RenderError.unreadableFile(path: path, reason: "no such checkpoint file or folder")
        }
        if isDirectory.boolValue {
            try self.init(diffusersFolder: path)
        } else {
            try self.init(singleFile: path)
        }
    }

    private init(path: String, layout: Layout, files: [SafetensorsFile], entries: [String: Entry]) throws {
        self.path = path
        self.layout = layout
        self.files = files
        self.entries = entries
        self.config = try SD1Config.detect(path: path, shape: { entries[$0]?.info.shape }, names: Array(entries.keys))
    }

    private convenience init(singleFile path: String) throws {
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
            } else {
                continue  // EMA copies, schedule buffers, anything else
            }
            if canonical.hasSuffix(".position_ids") { continue }
            entries[canonical] = Entry(file: 0, name: name, info: info)
        }
        try self.init(path: path, layout: .singleFile, files: [file], entries: entries)
    }

    private convenience init(diffusersFolder path: String) throws {
        var files: [SafetensorsFile] = []
        var entries: [String: Entry] = [:]
        let parts: [(dir: String, stem: String, component: KeyMapping.Component)] = [
            ("unet", "diffusion_pytorch_model", .unet), ("vae", "diffusion_pytorch_model", .vae),
            ("text_encoder", "model", .textEncoder),
        ]
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
            let levels = Set(file.tensorNames.compactMap { n -> Int? in
                let p = n.split(separator: ".")
                return p.count > 2 && p[0] == "decoder" && p[1] == "up_blocks" ? Int(p[2]) : nil
            }).count
            for name in file.tensorNames {
                guard let info = file.header[name], info.dtype.isConvertibleToFloat else { continue }
                let mapped: String?
                switch part.component {
                case .unet: mapped = KeyMapping.unetToLDM(name).map { KeyMapping.unetPrefix + $0 }
                case .vae: mapped = KeyMapping.vaeToLDM(name, levels: max(levels, 1)).map { KeyMapping.vaePrefix + $0 }
                case .textEncoder: mapped = KeyMapping.textPrefix + KeyMapping.canonicalTextName(name)
                }
                guard let canonical = mapped, !canonical.hasSuffix(".position_ids") else { continue }
                entries[canonical] = Entry(file: index, name: name, info: info)
            }
        }
        try self.init(path: path, layout: .diffusers, files: files, entries: entries)
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
        if names.contains(where: { $0.hasPrefix("conditioner.embedders.") || $0.contains("label_emb.") || $0.hasPrefix("add_embedding.") }) {
            return "this is an SDXL checkpoint (it has SDXL's extra conditioning weights)"
        }
        if names.contains(where: { $0.hasPrefix("cond_stage_model.model.") }) {
            return "this is an SD 2.x checkpoint (OpenCLIP text encoder)"
        }
        if names.contains(where: { $0.hasPrefix("double_blocks.") || $0.hasPrefix("joint_blocks.") || $0.contains("transformer_blocks.0.ff_context") }) {
            return "this is a transformer (Flux/SD3-style) checkpoint, not a UNet model"
        }
        return nil
    }

    /// Canonical names, sorted.
    public var names: [String] { entries.keys.sorted() }

    public func contains(_ name: String) -> Bool { entries[name] != nil }

    /// The shape as stored (VAE attention projections are [C, C] in diffusers, [C, C, 1, 1] in LDM).
    public func shape(_ name: String) -> [Int]? { entries[name]?.info.shape }

    /// The stored dtype name (F32, F16, BF16).
    public func dtype(_ name: String) -> String? { entries[name]?.info.dtype.name }

    /// A weight as Float32 with the given shape (element counts must agree; layouts that differ
    /// only by trailing 1×1 dimensions are the same data). Non-finite values are refused.
    public func tensor(_ name: String, shape expected: [Int]? = nil) throws -> Tensor {
        if let merged = override(name) {  // LoRA hook: merged weights replace the stored ones
            let shape = expected ?? merged.shape
            guard shape.reduce(1, *) == merged.count else {
                throw RenderError.badWeight(path: path, name: name, reason: "has shape \(merged.shape), expected \(shape)")
            }
            return Tensor(shape: shape, data: merged.data)
        }
        return try baseTensor(name, shape: expected)
    }

    /// The weight as stored in the file, ignoring merged LoRAs.
    public func baseTensor(_ name: String, shape expected: [Int]? = nil) throws -> Tensor {
        guard let entry = entries[name] else { throw RenderError.missingWeight(path: path, name: name) }
        let shape = expected ?? entry.info.shape
        guard shape.reduce(1, *) == entry.info.elementCount else {
            throw RenderError.badWeight(path: path, name: name, reason: "has shape \(entry.info.shape), expected \(shape)")
        }
        let data: [Float]
        do {
            data = try files[entry.file].floats(entry.name)
        } catch {
            throw RenderError.badWeight(path: path, name: name, reason: "cannot be read (\(error))")
        }
        releasePages(of: entry)
        if let bad = data.firstIndex(where: { !$0.isFinite }) {
            throw RenderError.badWeight(path: path, name: name, reason: "contains \(data[bad]) at element \(bad)")
        }
        return Tensor(shape: shape, data: data)
    }
}

extension Checkpoint {
    /// LoRA hook: installs merged weights (replacing earlier ones; empty = the file's own weights).
    func setOverrides(_ merged: [String: Tensor]) {
        overridesLock.lock(); defer { overridesLock.unlock() }
        overrides = merged
    }

    private func override(_ name: String) -> Tensor? {
        overridesLock.lock(); defer { overridesLock.unlock() }
        return overrides[name]
    }

    /// Drops the file pages of a tensor that has been converted, so a 2 GB fp16 checkpoint does not
    /// stay resident next to its 4 GB of Float32 weights (peak RSS is part of the benchmark).
    /// The mapping is read-only and private: dropped pages are simply read again if touched.
    fileprivate func releasePages(of entry: Entry) {
        guard let raw = try? files[entry.file].rawBytes(entry.name), let base = raw.baseAddress, raw.count > 0 else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = (Int(bitPattern: base) + page - 1) / page * page
        let end = (Int(bitPattern: base) + raw.count) / page * page
        if end > start { madvise(UnsafeMutableRawPointer(bitPattern: start), end - start, MADV_DONTNEED) }
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
