/// Names of SD 1.x weights in the two layouts people have: the single-file LDM
/// layout (`model.diffusion_model.*`, `first_stage_model.*`, `cond_stage_model.transformer.*`),
/// which is our canonical namespace, and diffusers folders (`unet/`, `vae/`, `text_encoder/`).
/// Both directions are pure functions of the name; LoRA loading registers both spellings.
public enum KeyMapping {
    public static let unetPrefix = "model.diffusion_model."
    public static let vaePrefix = "first_stage_model."
    public static let textPrefix = "cond_stage_model.transformer."

    /// SDXL single files: CLIP ViT-L in transformers names, OpenCLIP ViT-bigG in open_clip names.
    public static let sdxlText1FilePrefix = "conditioner.embedders.0.transformer."
    public static let sdxlText2FilePrefix = "conditioner.embedders.1.model."
    /// Canonical prefix of SDXL's second text encoder, in transformers names
    /// (`text_model.…`, `text_projection.weight` as [projection, width]). The first one (CLIP ViT-L)
    /// uses SD 1.x's `textPrefix`.
    public static let text2Prefix = "conditioner.embedders.1.transformer."

    public enum Component: String, Sendable { case unet, vae, textEncoder = "text_encoder", textEncoder2 = "text_encoder_2" }

    /// An open_clip text-tower name (after `model.`) → its transformers names, each with the third of
    /// the stored rows it takes (the fused `in_proj` holds q, k, v) or nil for the whole tensor.
    /// Empty for names that have no counterpart (`logit_scale`, `attn_mask`).
    public static func openCLIPToTransformers(_ name: String) -> [(String, Int?)] {
        switch name {
        case "token_embedding.weight": return [("text_model.embeddings.token_embedding.weight", nil)]
        case "positional_embedding": return [("text_model.embeddings.position_embedding.weight", nil)]
        case "ln_final.weight": return [("text_model.final_layer_norm.weight", nil)]
        case "ln_final.bias": return [("text_model.final_layer_norm.bias", nil)]
        case "text_projection": return [("text_projection.weight", nil)]
        default: break
        }
        let p = name.split(separator: ".").map(String.init)
        guard p.count >= 5, p[0] == "transformer", p[1] == "resblocks", let i = Int(p[2]) else { return [] }
        let layer = "text_model.encoder.layers.\(i)."
        let rest = p[3...].joined(separator: ".")
        switch rest {
        case "attn.in_proj_weight", "attn.in_proj_bias":
            let kind = rest.hasSuffix("weight") ? "weight" : "bias"
            return ["q", "k", "v"].enumerated().map { (layer + "self_attn.\($1)_proj.\(kind)", $0) }
        default:
            let table = ["attn.out_proj": "self_attn.out_proj", "ln_1": "layer_norm1", "ln_2": "layer_norm2",
                         "mlp.c_fc": "mlp.fc1", "mlp.c_proj": "mlp.fc2"]
            guard let last = p.last, let mapped = table[p[3..<(p.count - 1)].joined(separator: ".")] else { return [] }
            return [(layer + mapped + "." + last, nil)]
        }
    }

    // MARK: UNet

    private static let resnetToLDM = [
        "norm1": "in_layers.0", "conv1": "in_layers.2", "time_emb_proj": "emb_layers.1",
        "norm2": "out_layers.0", "conv2": "out_layers.3", "conv_shortcut": "skip_connection",
    ]
    private static let resnetToDiffusers = Dictionary(uniqueKeysWithValues: resnetToLDM.map { ($1, $0) })
    private static let unetTopToLDM = [
        "time_embedding.linear_1": "time_embed.0", "time_embedding.linear_2": "time_embed.2",
        "conv_in": "input_blocks.0.0", "conv_norm_out": "out.0", "conv_out": "out.2",
        "add_embedding.linear_1": "label_emb.0.0", "add_embedding.linear_2": "label_emb.0.2",
    ]
    private static let unetTopToDiffusers = Dictionary(uniqueKeysWithValues: unetTopToLDM.map { ($1, $0) })

    /// diffusers UNet name (without `unet.`) → LDM name (without the prefix), nil if unknown.
    /// `sdxl`: SDXL's layout, whose attention-free up block is the last one (not the first), so every
    /// upsampler follows a resnet and an attention (`.2`).
    public static func unetToLDM(_ name: String, sdxl: Bool = false) -> String? {
        if let (head, rest) = splitKnownHead(name, unetTopToLDM) { return head + rest }
        let p = name.split(separator: ".").map(String.init)
        func resnet(_ r: ArraySlice<String>) -> String? {
            guard let first = r.first, let mapped = resnetToLDM[first] else { return nil }
            return ([mapped] + r.dropFirst()).joined(separator: ".")
        }
        func int(_ i: Int) -> Int? { i < p.count ? Int(p[i]) : nil }
        switch p.first {
        case "down_blocks":
            guard let b = int(1), p.count > 4 else { return nil }
            if p[2] == "resnets", let l = int(3), let r = resnet(p[4...]) { return "input_blocks.\(3 * b + l + 1).0.\(r)" }
            if p[2] == "attentions", let l = int(3) { return "input_blocks.\(3 * b + l + 1).1." + p[4...].joined(separator: ".") }
            if p[2] == "downsamplers", p.count > 5, p[4] == "conv" { return "input_blocks.\(3 * (b + 1)).0.op." + p[5...].joined(separator: ".") }
        case "mid_block":
            guard p.count > 3, let l = int(2) else { return nil }
            if p[1] == "resnets", let r = resnet(p[3...]) { return "middle_block.\(2 * l).\(r)" }
            if p[1] == "attentions", l == 0 { return "middle_block.1." + p[3...].joined(separator: ".") }
        case "up_blocks":
            guard let b = int(1), p.count > 4 else { return nil }
            if p[2] == "resnets", let l = int(3), let r = resnet(p[4...]) { return "output_blocks.\(3 * b + l).0.\(r)" }
            if p[2] == "attentions", let l = int(3) { return "output_blocks.\(3 * b + l).1." + p[4...].joined(separator: ".") }
            if p[2] == "upsamplers", p.count > 5, p[4] == "conv" {
                return "output_blocks.\(3 * b + 2).\(b == 0 && !sdxl ? 1 : 2).conv." + p[5...].joined(separator: ".")
            }
        default: break
        }
        return nil
    }

    /// LDM UNet name (without the prefix) → diffusers name, nil if unknown (`sdxl` as in `unetToLDM`).
    public static func unetToDiffusers(_ name: String, sdxl: Bool = false) -> String? {
        if let (head, rest) = splitKnownHead(name, unetTopToDiffusers) { return head + rest }
        let p = name.split(separator: ".").map(String.init)
        func resnet(_ r: ArraySlice<String>) -> String? {
            for n in [2, 1] where r.count > n {  // "in_layers.0" or "skip_connection"
                if let mapped = resnetToDiffusers[r.prefix(n).joined(separator: ".")] {
                    return ([mapped] + r.dropFirst(n)).joined(separator: ".")
                }
            }
            return nil
        }
        guard p.count > 3, let n = Int(p[1]) else { return nil }
        if p[0] == "middle_block" {
            if n == 1 { return "mid_block.attentions.0." + p[2...].joined(separator: ".") }
            if n == 0 || n == 2, let r = resnet(p[2...]) { return "mid_block.resnets.\(n / 2).\(r)" }
            return nil
        }
        guard let sub = Int(p[2]) else { return nil }
        switch p[0] {
        case "input_blocks" where n >= 1:
            let b = (n - 1) / 3, l = (n - 1) % 3
            if l == 2, sub == 0, p[3] == "op" { return "down_blocks.\(b).downsamplers.0.conv." + p[4...].joined(separator: ".") }
            if l < 2, sub == 0, let r = resnet(p[3...]) { return "down_blocks.\(b).resnets.\(l).\(r)" }
            if l < 2, sub == 1 { return "down_blocks.\(b).attentions.\(l)." + p[3...].joined(separator: ".") }
        case "output_blocks":
            let b = n / 3, l = n % 3
            if sub == 0, let r = resnet(p[3...]) { return "up_blocks.\(b).resnets.\(l).\(r)" }
            if l == 2, p[3] == "conv", sub == (b == 0 && !sdxl ? 1 : 2) {
                return "up_blocks.\(b).upsamplers.0.conv." + p[4...].joined(separator: ".")
            }
            if sub == 1, b > 0 || sdxl { return "up_blocks.\(b).attentions.\(l)." + p[3...].joined(separator: ".") }
        default: break
        }
        return nil
    }

    // MARK: VAE

    /// diffusers VAE name → LDM name (without the prefix). `levels` is the number of resolution
    /// levels (4 in SD), needed because the decoder's up blocks are numbered in reverse.
    public static func vaeToLDM(_ name: String, levels: Int = 4) -> String? {
        let p = name.split(separator: ".").map(String.init)
        guard p.count >= 2 else { return nil }
        let side = p[0]
        guard side == "encoder" || side == "decoder" else { return name }  // quant_conv, post_quant_conv
        switch p[1] {
        case "down_blocks", "up_blocks":
            guard p.count > 5, let i = Int(p[2]) else { return nil }
            let down = p[1] == "down_blocks"
            let head = "\(side).\(down ? "down" : "up").\(down ? i : levels - 1 - i)"
            if p[3] == "resnets" {
                return "\(head).block.\(p[4])." + p[5...].joined(separator: ".").replacingOccurrences(of: "conv_shortcut", with: "nin_shortcut")
            }
            if p[3] == (down ? "downsamplers" : "upsamplers"), p.count > 6, p[5] == "conv" {
                return "\(head).\(down ? "downsample" : "upsample").conv." + p[6...].joined(separator: ".")
            }
        case "mid_block":
            guard p.count > 4 else { return nil }
            if p[2] == "resnets", let i = Int(p[3]) { return "\(side).mid.block_\(i + 1)." + p[4...].joined(separator: ".") }
            if p[2] == "attentions" {
                let sub = ["group_norm": "norm", "to_q": "q", "to_k": "k", "to_v": "v", "to_out": "proj_out"][p[4]]
                guard let sub else { return nil }
                return "\(side).mid.attn_1.\(sub).\(p[p.count - 1])"
            }
        case "conv_norm_out":
            return "\(side).norm_out." + p[2...].joined(separator: ".")
        case "conv_in", "conv_out":
            return name
        default: break
        }
        return nil
    }

    /// LDM VAE name (without the prefix) → diffusers name.
    public static func vaeToDiffusers(_ name: String, levels: Int = 4) -> String? {
        let p = name.split(separator: ".").map(String.init)
        guard p.count >= 2 else { return nil }
        let side = p[0]
        guard side == "encoder" || side == "decoder" else { return name }
        switch p[1] {
        case "down", "up":
            guard p.count > 4, let i = Int(p[2]) else { return nil }
            let down = p[1] == "down"
            let head = "\(side).\(down ? "down_blocks" : "up_blocks").\(down ? i : levels - 1 - i)"
            if p[3] == "block" {
                return "\(head).resnets." + p[4...].joined(separator: ".").replacingOccurrences(of: "nin_shortcut", with: "conv_shortcut")
            }
            if p[3] == (down ? "downsample" : "upsample"), p[4] == "conv" {
                return "\(head).\(down ? "downsamplers" : "upsamplers").0.conv." + p[5...].joined(separator: ".")
            }
        case "mid":
            guard p.count > 3 else { return nil }
            if p[2] == "block_1" || p[2] == "block_2" {
                return "\(side).mid_block.resnets.\(p[2] == "block_1" ? 0 : 1)." + p[3...].joined(separator: ".")
            }
            if p[2] == "attn_1" {
                let sub = ["norm": "group_norm", "q": "to_q", "k": "to_k", "v": "to_v", "proj_out": "to_out.0"][p[3]]
                guard let sub else { return nil }
                return "\(side).mid_block.attentions.0.\(sub)." + p[4...].joined(separator: ".")
            }
        case "norm_out":
            return "\(side).conv_norm_out." + p[2...].joined(separator: ".")
        case "conv_in", "conv_out":
            return name
        default: break
        }
        return nil
    }

    // MARK: Text encoder

    /// A text-encoder name from either layout (`text_model.…`, the old LDM form without
    /// `text_model.`, or transformers 5's unprefixed form) → the canonical `text_model.…` name.
    public static func canonicalTextName(_ name: String) -> String {
        for head in ["embeddings.", "encoder.", "final_layer_norm."] where name.hasPrefix(head) {
            return "text_model." + name
        }
        return name
    }

    private static func splitKnownHead(_ name: String, _ table: [String: String]) -> (String, String)? {
        for (from, to) in table where name.hasPrefix(from + ".") {
            return (to, String(name.dropFirst(from.count)))
        }
        return nil
    }
}
