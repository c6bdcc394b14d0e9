#!/usr/bin/env python3
"""Small SDXL LoRA files (kohya LDM- and diffusers-style names, LoCon, LoHa, LoKr, PEFT) for the tiny
SDXL fixture, plus reference merged weights (Tests/Fixtures/TinySDXL/LoRA).

Not run by CI. Needs /work/venv (torch, peft, safetensors, numpy) and the output of
scripts/gen_tiny_sdxl_fixture.py. Runs offline in a few seconds:

    /work/venv/bin/python scripts/gen_sdxl_lora_fixtures.py

For each <name>.safetensors it writes <name>.reference.safetensors: the merged weights
W + multiplier * scale * dW (float32, the canonical names Stylus uses: `model.diffusion_model.` LDM
UNet names, `cond_stage_model.transformer.` for CLIP ViT-L, `conditioner.embedders.1.transformer.`
with transformers names for OpenCLIP ViT-bigG). Where a reference implementation exists, the merged
weights come from it (and are checked against the float64 formula computed here):
- kohya/LoCon: diffusers' `load_lora_weights` (its kohya → PEFT conversion, alpha/rank scale) and
  `fuse_lora`, on the fp32 diffusers pipeline; `label_emb` is not read by diffusers' converter, so
  that one module keeps the formula (reference.json lists which is which);
- LoHa and LoKr: peft's LyCORIS ports (`LoHaConfig`, `LoKrConfig`) injected into the diffusers
  UNet and text encoders with the file's factors, scaled by the multiplier and merged;
- PEFT: peft's own merge.
"""
import json
import os
import sys

import numpy as np
import safetensors.torch
import torch
from safetensors.numpy import save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_tiny_sdxl_fixture import sdxl_unet_to_ldm  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = os.path.join(ROOT, "Tests/Fixtures/TinySDXL")
DIFF = os.path.join(TINY, "diffusers")
U, T1, T2 = "model.diffusion_model.", "cond_stage_model.transformer.", "conditioner.embedders.1.transformer."
rng = np.random.default_rng(2027)


def load(sub, fn):
    return {k: v.float().numpy() for k, v in safetensors.torch.load_file(os.path.join(DIFF, sub, fn)).items()}


unet_d = load("unet", "diffusion_pytorch_model.safetensors")
te1_d = load("text_encoder", "model.safetensors")
te2_d = load("text_encoder_2", "model.safetensors")
base = {U + sdxl_unet_to_ldm(k): v for k, v in unet_d.items()}
base.update({T1 + k: v for k, v in te1_d.items()})
base.update({T2 + k: v for k, v in te2_d.items()})


def rnd(*shape, s=0.1):
    return (rng.standard_normal(shape) * s).astype(np.float32)


def lora_delta(down, up):
    d, u = down.astype(np.float64), up.astype(np.float64)
    r = d.shape[0]
    return u.reshape(u.shape[0], r) @ d.reshape(r, -1)


def write(out, name, tensors, deltas, te_mult, unet_mult, metadata=None, reference=None):
    """`reference(name → merged)` from a reference implementation replaces the formula where it has
    a key, after checking the two agree."""
    save_file(tensors, os.path.join(out, name + ".safetensors"), metadata=metadata)
    ref, by_impl = {}, []
    for key, dw in deltas.items():
        mult = te_mult if key.startswith((T1, T2)) else unet_mult
        w = base[key].astype(np.float64)
        ref[key] = (w + mult * dw.reshape(w.shape)).astype(np.float32)
        if reference is not None and key in reference:
            got = reference[key].reshape(ref[key].shape)
            err = np.abs(got - ref[key]).max()
            assert err <= 1e-5 * max(1.0, np.abs(ref[key]).max()), (name, key, err)
            ref[key] = got.astype(np.float32)
            by_impl.append(key)
    save_file(ref, os.path.join(out, name + ".reference.safetensors"))
    result = {"te": te_mult, "unet": unet_mult, "modules": sorted(ref)}
    if reference is not None:
        result["reference_implementation"] = sorted(by_impl)
        result["formula_only"] = sorted(set(ref) - set(by_impl))
    return result


def canonical(component, name):
    """A diffusers-pipeline parameter name → Stylus' canonical name (None for the rest)."""
    if component == "unet":
        ldm = sdxl_unet_to_ldm(name)
        return U + ldm if ldm else None
    return {"text_encoder": T1, "text_encoder_2": T2}[component] + name


def pipeline():
    from diffusers import StableDiffusionXLPipeline
    return StableDiffusionXLPipeline.from_pretrained(DIFF, torch_dtype=torch.float32)


def changed_weights(pipe):
    """Weights that differ from the fixture's base after a merge, under canonical names."""
    out = {}
    for comp in ("unet", "text_encoder", "text_encoder_2"):
        for n, v in getattr(pipe, comp).state_dict().items():
            n = n.replace(".base_layer.", ".")
            if comp != "unet" and not n.startswith(("text_model.", "text_projection")):
                n = "text_model." + n  # this transformers' CLIPTextModel names its parameters without the level
            if "lora_" in n or "hada_" in n or "lokr_" in n:
                continue
            key = canonical(comp, n)
            if key in base and not np.array_equal(v.float().numpy(), base[key]):
                out[key] = v.float().numpy()
    return out


def diffusers_kohya(tensors, te_mult, unet_mult):
    """diffusers' own kohya loader and fuse_lora. It drops LDM-named ("SGM") UNet modules from a file
    that also has diffusers-named ones, so the two kinds are loaded into fresh pipelines apart."""
    sgm = ("input_blocks", "middle_block", "output_blocks")
    merged = {}
    for part in ([k for k in tensors if not any(p in k for p in sgm)], [k for k in tensors if any(p in k for p in sgm)]):
        pipe = pipeline()
        pipe.load_lora_weights({k: torch.from_numpy(np.array(tensors[k])) for k in part}, adapter_name="kohya")
        pipe.fuse_lora(components=["unet"], lora_scale=unet_mult)
        pipe.fuse_lora(components=["text_encoder", "text_encoder_2"], lora_scale=te_mult)
        merged.update(changed_weights(pipe))
    return merged


def peft_lycoris(kind, modules, mult_te, mult_unet):
    """peft's LoHa/LoKr: one adapter per module with the file's factors, scaled and merged.
    modules: (component, diffusers module name, {parameter: array}, r, alpha)."""
    from peft import LoHaConfig, LoKrConfig, inject_adapter_in_model
    pipe = pipeline()
    for i, (comp, name, params, r, alpha) in enumerate(modules):
        model = getattr(pipe, comp)
        cfg = (LoHaConfig if kind == "loha" else LoKrConfig)(r=r, alpha=alpha, target_modules=[name])
        inject_adapter_in_model(cfg, model, adapter_name=f"m{i}")
        module = model.get_submodule(name)
        with torch.no_grad():
            for pname, value in params.items():
                # The file's factors, whatever shapes peft picked (LoKr's split of the sides).
                getattr(module, pname)[f"m{i}"] = torch.nn.Parameter(torch.from_numpy(value).float())
    # Merged only once all are injected: a later injection into the same model unmerges it.
    for i, (comp, name, _, _, _) in enumerate(modules):
        module = getattr(pipe, comp).get_submodule(name)
        module.set_adapter(f"m{i}")
        module.scale_layer(mult_unet if comp == "unet" else mult_te)
        module.merge(adapter_names=[f"m{i}"])
    return changed_weights(pipe)


# (kohya module name, canonical weight name)
Q_DEEP = ("input_blocks_7_1_transformer_blocks_1_attn1_to_q", U + "input_blocks.7.1.transformer_blocks.1.attn1.to_q.weight")
K2_D = ("down_blocks_2_attentions_0_transformer_blocks_1_attn2_to_k", U + "input_blocks.7.1.transformer_blocks.1.attn2.to_k.weight")
UP0_PROJ = ("up_blocks_0_attentions_0_proj_in", U + "output_blocks.0.1.proj_in.weight")
UPSAMPLE = ("up_blocks_0_upsamplers_0_conv", U + "output_blocks.2.2.conv.weight")
UPSAMPLE_LDM = ("output_blocks_2_2_conv", U + "output_blocks.2.2.conv.weight")
LABEL = ("label_emb_0_0", U + "label_emb.0.0.weight")
CONV1 = ("input_blocks_1_0_in_layers_2", U + "input_blocks.1.0.in_layers.2.weight")
TE1_Q = ("lora_te1_text_model_encoder_layers_0_self_attn_q_proj", T1 + "text_model.encoder.layers.0.self_attn.q_proj.weight")
TE2_K = ("lora_te2_text_model_encoder_layers_1_self_attn_k_proj", T2 + "text_model.encoder.layers.1.self_attn.k_proj.weight")
TE1_OUT = ("lora_te1_text_model_encoder_layers_0_self_attn_out_proj", T1 + "text_model.encoder.layers.0.self_attn.out_proj.weight")
TE2_OUT = ("lora_te2_text_model_encoder_layers_1_self_attn_out_proj", T2 + "text_model.encoder.layers.1.self_attn.out_proj.weight")
TE2_FC1 = ("lora_te2_text_model_encoder_layers_2_mlp_fc1", T2 + "text_model.encoder.layers.2.mlp.fc1.weight")


def kohya(out):
    """kohya LoRA + LoCon: LDM-style and diffusers-style UNet names in one file, both text encoders."""
    t, deltas = {}, {}
    r, alpha = 4, 2.0
    for (kname, key), conv in [(Q_DEEP, None), (K2_D, None), (UP0_PROJ, None), (UPSAMPLE_LDM, "3x3"), (LABEL, None),
                               ((TE1_Q[0], TE1_Q[1]), None), ((TE2_K[0], TE2_K[1]), None)]:
        shape = base[key].shape
        prefix = kname if kname.startswith("lora_te") else "lora_unet_" + kname
        if conv == "3x3":
            down, up = rnd(r, shape[1], 3, 3), rnd(shape[0], r, 1, 1)
        else:
            down, up = rnd(r, shape[1]), rnd(shape[0], r)
        t[prefix + ".lora_down.weight"], t[prefix + ".lora_up.weight"] = down, up
        t[prefix + ".alpha"] = np.array(alpha, dtype=np.float32)
        deltas[key] = lora_delta(down, up) * (alpha / r)
    # Output projections too: diffusers tells a kohya text-encoder part by its `to_out` module. Their
    # own generator, so the modules above and the other files keep their values.
    extra = np.random.default_rng(2028)
    for kname, key in [TE1_OUT, TE2_OUT]:
        shape = base[key].shape
        down = (extra.standard_normal((r, shape[1])) * 0.1).astype(np.float32)
        up = (extra.standard_normal((shape[0], r)) * 0.1).astype(np.float32)
        t[kname + ".lora_down.weight"], t[kname + ".lora_up.weight"] = down, up
        t[kname + ".alpha"] = np.array(alpha, dtype=np.float32)
        deltas[key] = lora_delta(down, up) * (alpha / r)
    return write(out, "kohya", t, deltas, 0.7, 1.3, {"ss_base_model_version": "sdxl_base_v1-0", "ss_output_name": "xl_kohya"},
                 reference=diffusers_kohya(t, 0.7, 1.3))


DIFFUSERS_MODULE = {K2_D: ("unet", "down_blocks.2.attentions.0.transformer_blocks.1.attn2.to_k"),
                    TE2_FC1: ("text_encoder_2", "text_model.encoder.layers.2.mlp.fc1"),
                    CONV1: ("unet", "down_blocks.0.resnets.0.conv1"),
                    Q_DEEP: ("unet", "down_blocks.2.attentions.0.transformer_blocks.1.attn1.to_q"),
                    TE2_K: ("text_encoder_2", "text_model.encoder.layers.1.self_attn.k_proj")}


def loha(out):
    t, deltas, modules = {}, {}, []
    for (kname, key), r, alpha in [(K2_D, 4, 2.0), ((TE2_FC1[0], TE2_FC1[1]), 2, 1.0), (CONV1, 4, 4.0)]:
        shape = base[key].shape
        prefix = kname if kname.startswith("lora_te") else "lora_unet_" + kname
        o, i = shape[0], int(np.prod(shape[1:]))
        w = {n: rnd(*s, s=0.3) for n, s in [("hada_w1_a", (o, r)), ("hada_w1_b", (r, i)), ("hada_w2_a", (o, r)), ("hada_w2_b", (r, i))]}
        f = {n: v.astype(np.float64) for n, v in w.items()}
        for n, v in w.items():
            t[prefix + "." + n] = v
        t[prefix + ".alpha"] = np.array(alpha, dtype=np.float32)
        deltas[key] = (f["hada_w1_a"] @ f["hada_w1_b"]) * (f["hada_w2_a"] @ f["hada_w2_b"]) * (alpha / r)
        modules.append(DIFFUSERS_MODULE[(kname, key)] + (w, r, alpha))
    return write(out, "loha", t, deltas, 0.5, 1.0, reference=peft_lycoris("loha", modules, 0.5, 1.0))


def lokr(out):
    t, deltas, modules = {}, {}, []
    for (kname, key), w1s, w2s in [(Q_DEEP, (8, 4), (4, 8)), ((TE2_K[0], TE2_K[1]), (4, 2), (4, 8))]:
        shape = base[key].shape
        prefix = kname if kname.startswith("lora_te") else "lora_unet_" + kname
        w1, w2 = rnd(*w1s, s=0.3), rnd(*w2s, s=0.3)
        t[prefix + ".lokr_w1"], t[prefix + ".lokr_w2"] = w1, w2
        deltas[key] = np.kron(w1.astype(np.float64), w2.astype(np.float64)).reshape(shape)
        # Full w1 and w2 (no alpha in the file): scale 1, so alpha = r, and r large enough that
        # peft keeps both factors whole.
        modules.append(DIFFUSERS_MODULE[(kname, key)] + ({"lokr_w1": w1, "lokr_w2": w2}, 64, 64.0))
    return write(out, "lokr", t, deltas, 1.0, 0.6, reference=peft_lycoris("lokr", modules, 1.0, 0.6))


def peft(out):
    """diffusers/PEFT names (unet.<diffusers module>, text_encoder_2.<transformers module>), checked with peft."""
    t, deltas = {}, {}
    r = 4
    mods = [("unet", "down_blocks.2.attentions.0.transformer_blocks.1.attn2.to_k", K2_D[1]),
            ("unet", "up_blocks.0.attentions.0.proj_in", UP0_PROJ[1]),
            ("unet", "add_embedding.linear_1", LABEL[1]),
            ("text_encoder_2", "text_model.encoder.layers.1.self_attn.k_proj", TE2_K[1]),
            ("text_encoder", "text_model.encoder.layers.0.self_attn.q_proj", TE1_Q[1])]
    for comp, name, key in mods:
        shape = base[key].shape
        a, b = rnd(r, shape[1]), rnd(shape[0], r)
        t[f"{comp}.{name}.lora_A.weight"], t[f"{comp}.{name}.lora_B.weight"] = a, b
        deltas[key] = lora_delta(a, b)  # lora_alpha = r: scale 1
    te_mult, unet_mult = 1.0, 0.5
    result = write(out, "peft", t, deltas, te_mult, unet_mult)
    # Check the formula with peft itself: inject, load, merge with the multiplier as the scale.
    from diffusers import UNet2DConditionModel
    from peft import LoraConfig, inject_adapter_in_model, set_peft_model_state_dict
    unet = UNet2DConditionModel.from_pretrained(DIFF, subfolder="unet", torch_dtype=torch.float32)
    unet_mods = [n for c, n, _ in mods if c == "unet"]
    cfg = LoraConfig(r=r, lora_alpha=r, target_modules=unet_mods)
    unet = inject_adapter_in_model(cfg, unet, adapter_name="default")
    sd = {k[len("unet."):]: torch.from_numpy(v) for k, v in t.items() if k.startswith("unet.")}
    set_peft_model_state_dict(unet, sd, adapter_name="default")
    ref = safetensors.torch.load_file(os.path.join(out, "peft.reference.safetensors"))
    checked = []
    for comp, name, key in mods:
        if comp != "unet":
            continue
        module = unet.get_submodule(name)
        module.scale_layer(unet_mult)
        module.merge()
        merged = module.base_layer.weight.detach().float().reshape(ref[key].shape)
        err = (merged - ref[key]).abs().max().item()
        assert err <= 1e-5 * max(1.0, ref[key].abs().max().item()), (name, err)
        checked.append(key)
    result["checked_against_peft"] = checked
    return result


def sd1_lora(out):
    """An SD 1.x kohya LoRA (lora_te_, attention at input level 1) for the wrong-family error."""
    t = {"lora_te_text_model_encoder_layers_0_self_attn_q_proj.lora_down.weight": rnd(4, 16),
         "lora_te_text_model_encoder_layers_0_self_attn_q_proj.lora_up.weight": rnd(16, 4),
         "lora_unet_input_blocks_1_1_transformer_blocks_0_attn1_to_q.lora_down.weight": rnd(4, 32),
         "lora_unet_input_blocks_1_1_transformer_blocks_0_attn1_to_q.lora_up.weight": rnd(32, 4)}
    save_file(t, os.path.join(out, "sd15.safetensors"), metadata={"ss_base_model_version": "sd_v1"})


def main():
    out = os.path.join(TINY, "LoRA")
    os.makedirs(out, exist_ok=True)
    summary = {f.__name__: f(out) for f in [kohya, loha, lokr, peft]}
    sd1_lora(out)
    with open(os.path.join(out, "reference.json"), "w") as fh:
        json.dump(summary, fh, indent=1, sort_keys=True)
    print("wrote", out, json.dumps({k: v.get("checked_against_peft", len(v["modules"])) for k, v in summary.items()}))


if __name__ == "__main__":
    main()
