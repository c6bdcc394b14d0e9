#!/usr/bin/env python3
"""Small LoRA files of every supported format for the tiny SD fixture, plus reference merged weights.

Not run by CI. Needs /work/venv (torch, diffusers, peft, safetensors, numpy) and the output of
scripts/gen_tiny_sd_fixture.py. Runs offline in a few seconds:

    /work/venv/bin/python scripts/gen_lora_fixtures.py [--out Tests/Fixtures/LoRA]

For each <name>.safetensors adapter it writes <name>.reference.safetensors: the merged weight
W + multiplier * scale * dW (float32, canonical LDM names) of every module the adapter touches,
at the multiplier stored in reference.json (text encoder and UNet multipliers differ on purpose).
The formula is computed here in float64 (our own code). For the formats
diffusers loads for SD 1.x (kohya LoRA/LoCon with diffusers-style names, PEFT with unet./
text_encoder. prefixes) the script also runs diffusers `load_lora_weights` + `fuse_lora` and
asserts it agrees with the formula, so the reference is checked against diffusers where it can be.
"""
import argparse
import json
import os

import numpy as np
import safetensors.torch
import torch
from safetensors.numpy import load_file, save_file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = os.path.join(ROOT, "Tests/Fixtures/TinySD")
U, T = "model.diffusion_model.", "cond_stage_model.transformer."
rng = np.random.default_rng(2026)

base = {k: v.float().numpy() for k, v in safetensors.torch.load_file(os.path.join(TINY, "tiny-sd15.safetensors")).items()
        if v.is_floating_point()}


def rnd(*shape, s=0.1):
    return (rng.standard_normal(shape) * s).astype(np.float32)


# Modules used below: (kohya diffusers-style name, LDM weight name).
Q = ("down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q", U + "input_blocks.1.1.transformer_blocks.0.attn1.to_q.weight")
K2 = ("down_blocks_1_attentions_0_transformer_blocks_0_attn2_to_k", U + "input_blocks.4.1.transformer_blocks.0.attn2.to_k.weight")
OUT0 = ("up_blocks_1_attentions_1_transformer_blocks_0_attn1_to_out_0", U + "output_blocks.4.1.transformer_blocks.0.attn1.to_out.0.weight")
FF0 = ("mid_block_attentions_0_transformer_blocks_0_ff_net_0_proj", U + "middle_block.1.transformer_blocks.0.ff.net.0.proj.weight")
PROJ_IN = ("down_blocks_0_attentions_1_proj_in", U + "input_blocks.2.1.proj_in.weight")
PROJ_OUT = ("up_blocks_3_attentions_2_proj_out", U + "output_blocks.11.1.proj_out.weight")
CONV1 = ("down_blocks_0_resnets_0_conv1", U + "input_blocks.1.0.in_layers.2.weight")
CONV2 = ("up_blocks_1_resnets_0_conv2", U + "output_blocks.3.0.out_layers.3.weight")
TEMB = ("down_blocks_1_resnets_1_time_emb_proj", U + "input_blocks.5.0.emb_layers.1.weight")
TE_Q = ("text_model_encoder_layers_0_self_attn_q_proj", T + "text_model.encoder.layers.0.self_attn.q_proj.weight")
TE_FC1 = ("text_model_encoder_layers_1_mlp_fc1", T + "text_model.encoder.layers.1.mlp.fc1.weight")
TE_OUT = ("text_model_encoder_layers_2_self_attn_out_proj", T + "text_model.encoder.layers.2.self_attn.out_proj.weight")


def lora_delta(down, up, mid=None):
    """kohya / sd.cpp: up @ down for Linear and convs; Tucker mid for convs."""
    d, u = down.astype(np.float64), up.astype(np.float64)
    r = d.shape[0]
    if mid is not None:
        return np.einsum("oa,abyx,bi->oiyx", u.reshape(u.shape[0], r), mid.astype(np.float64), d.reshape(r, d.shape[1]))
    return (u.reshape(u.shape[0], r) @ d.reshape(r, -1))


def write(out, name, tensors, deltas, te_mult, unet_mult, metadata=None, extra_refs=None):
    """deltas: {ldm weight name: scaled dW (float64, before the multiplier)}."""
    save_file(tensors, os.path.join(out, name + ".safetensors"), metadata=metadata)
    ref = {}
    for key, dw in deltas.items():
        mult = te_mult if key.startswith(T) else unet_mult
        w = base[key].astype(np.float64)
        ref[key] = (w + mult * dw.reshape(w.shape)).astype(np.float32)
    if extra_refs:
        for key, value in extra_refs.items():
            assert np.abs(value - ref[key]).max() <= 1e-5 * max(1, np.abs(ref[key]).max()), key
    save_file(ref, os.path.join(out, name + ".reference.safetensors"))
    return {"te": te_mult, "unet": unet_mult, "tensors": len(tensors), "modules": sorted(ref),
            "checked_against_diffusers": sorted(extra_refs or [])}


def kohya(out):
    """kohya LoRA + LoCon with diffusers-style names (what diffusers loads for SD 1.x)."""
    t, deltas = {}, {}
    # One network_dim/network_alpha for the whole file, as kohya trains (diffusers' loader turns
    # per-module alphas into an alpha_pattern that this diffusers version does not honour).
    spec = [(Q, 4, 1.0, None), (K2, 4, 1.0, None), (OUT0, 4, 1.0, None), (FF0, 4, 1.0, None),
            (PROJ_IN, 4, 1.0, "1x1"), (CONV1, 4, 1.0, "3x3"), (TEMB, 4, 1.0, None),
            (TE_Q, 4, 1.0, None), (TE_FC1, 4, 1.0, None)]
    for (kname, key), r, alpha, conv in spec:
        shape = base[key].shape
        prefix = ("lora_te_" if key.startswith(T) else "lora_unet_") + kname
        if conv == "3x3":
            down, up = rnd(r, shape[1], 3, 3), rnd(shape[0], r, 1, 1)
        elif conv == "1x1":
            down, up = rnd(r, shape[1], 1, 1), rnd(shape[0], r, 1, 1)
        else:
            down, up = rnd(r, shape[1]), rnd(shape[0], r)
        t[prefix + ".lora_down.weight"], t[prefix + ".lora_up.weight"] = down, up
        if alpha is not None:
            t[prefix + ".alpha"] = np.array(alpha, dtype=np.float32)
        deltas[key] = lora_delta(down, up) * ((alpha if alpha is not None else r) / r)
    te, unet = 0.7, 1.3
    fused = diffusers_fuse(os.path.join(out, "kohya.safetensors"), t, te, unet, list(deltas))
    return write(out, "kohya", t, deltas, te, unet, {"ss_output_name": "kohya_alias"}, fused)


def locon_ldm(out):
    """LoCon with LDM-style module names, Tucker lora_mid, an explicit .scale, fp16 storage."""
    t, deltas = {}, {}
    for (kname, key), r, alpha, kind in [
        (("input_blocks_1_1_transformer_blocks_0_attn1_to_q", Q[1]), 4, 2.0, "lin"),
        (("output_blocks_3_0_out_layers_3", CONV2[1]), 4, 1.0, "tucker"),
        (("input_blocks_2_1_proj_in", PROJ_IN[1]), 2, None, "1x1"),
        (("middle_block_1_transformer_blocks_0_ff_net_0_proj", FF0[1]), 4, "scale", "lin"),
    ]:
        shape = base[key].shape
        prefix = "lora_unet_" + kname
        mid = None
        if kind == "tucker":
            down, mid, up = rnd(r, shape[1], 1, 1), rnd(r, r, 3, 3), rnd(shape[0], r, 1, 1)
            t[prefix + ".lora_mid.weight"] = mid.astype(np.float16)
            mid = mid.astype(np.float16)
        elif kind == "1x1":
            down, up = rnd(r, shape[1], 1, 1), rnd(shape[0], r, 1, 1)
        else:
            down, up = rnd(r, shape[1]), rnd(shape[0], r)
        down, up = down.astype(np.float16), up.astype(np.float16)
        t[prefix + ".lora_down.weight"], t[prefix + ".lora_up.weight"] = down, up
        if alpha == "scale":
            t[prefix + ".scale"] = np.array(0.375, dtype=np.float32)
            t[prefix + ".alpha"] = np.array(1.0, dtype=np.float32)  # ignored: .scale wins
            scale = 0.375
        else:
            if alpha is not None:
                t[prefix + ".alpha"] = np.array(alpha, dtype=np.float16)
            scale = (alpha if alpha is not None else r) / r
        deltas[key] = lora_delta(down, up, mid) * scale
    return write(out, "locon_ldm", t, deltas, 1.0, 0.8)


def loha(out):
    t, deltas = {}, {}
    for (kname, key), r, alpha, tucker in [(K2, 4, 2.0, False), (TE_OUT, 2, 1.0, False), (CONV1, 4, 4.0, False), (CONV2, 4, 2.0, True)]:
        shape = base[key].shape
        prefix = ("lora_te_" if key.startswith(T) else "lora_unet_") + kname
        o, i = shape[0], int(np.prod(shape[1:]))
        if tucker:
            k = shape[2]
            w = {n: rnd(*s, s=0.3) for n, s in [("hada_w1_a", (r, o)), ("hada_w1_b", (r, shape[1])), ("hada_t1", (r, r, k, k)),
                                                 ("hada_w2_a", (r, o)), ("hada_w2_b", (r, shape[1])), ("hada_t2", (r, r, k, k))]}
            f64 = {n: v.astype(np.float64) for n, v in w.items()}
            w1 = np.einsum("ijkl,jr,ip->prkl", f64["hada_t1"], f64["hada_w1_b"], f64["hada_w1_a"])
            w2 = np.einsum("ijkl,jr,ip->prkl", f64["hada_t2"], f64["hada_w2_b"], f64["hada_w2_a"])
        else:
            w = {n: rnd(*s, s=0.3) for n, s in [("hada_w1_a", (o, r)), ("hada_w1_b", (r, i)), ("hada_w2_a", (o, r)), ("hada_w2_b", (r, i))]}
            f64 = {n: v.astype(np.float64) for n, v in w.items()}
            w1, w2 = f64["hada_w1_a"] @ f64["hada_w1_b"], f64["hada_w2_a"] @ f64["hada_w2_b"]
        for n, v in w.items():
            t[prefix + "." + n] = v
        t[prefix + ".alpha"] = np.array(alpha, dtype=np.float32)
        deltas[key] = (w1 * w2) * (alpha / r)
    return write(out, "loha", t, deltas, 0.5, 1.0)


def lokr(out):
    t, deltas = {}, {}
    # (module, w1 factors, w2 factors, alpha): full w1 + decomposed w2, both full, decomposed w1 on a conv
    for (kname, key), w1s, w2s, alpha in [(FF0, (16, 2), ("ab", 16, 16, 4), 2.0), (TE_FC1, (8, 4), (8, 4), None),
                                          (PROJ_OUT, ("ab", 4, 4, 2), (8, 8), 1.0)]:
        shape = base[key].shape
        prefix = ("lora_te_" if key.startswith(T) else "lora_unet_") + kname
        rank = None

        def factor(n, spec):
            nonlocal rank
            if spec[0] == "ab":
                _, a, b, r = spec
                fa, fb = rnd(a, r, s=0.3), rnd(r, b, s=0.3)
                t[prefix + f".lokr_{n}_a"], t[prefix + f".lokr_{n}_b"] = fa, fb
                rank = r
                return fa.astype(np.float64) @ fb.astype(np.float64)
            f = rnd(*spec, s=0.3)
            t[prefix + f".lokr_{n}"] = f
            return f.astype(np.float64)
        w1, w2 = factor("w1", w1s), factor("w2", w2s)
        if alpha is not None:
            t[prefix + ".alpha"] = np.array(alpha, dtype=np.float32)
        scale = alpha / rank if (alpha is not None and rank is not None) else 1.0
        deltas[key] = np.kron(w1, w2).reshape(shape) * scale
    return write(out, "lokr", t, deltas, 1.0, 0.6)


def lokr_tucker(out):
    """LyCORIS conv LoKr with a Tucker w2 (lokr_t2, lokr_w2_a [r, out2], lokr_w2_b [r, in2]):
    w2 = einsum("ijkl,jr,ip->prkl", t2, w2_b, w2_a), dW = kron(w1[:, :, None, None], w2)."""
    t, deltas = {}, {}
    r = 3
    for (kname, key), w1s, (o2, i2), alpha in [(CONV1, (4, 2), (8, 16), 1.5), (CONV2, ("ab", 2, 4), (16, 8), 3.0)]:
        shape = base[key].shape
        prefix = "lora_unet_" + kname
        if w1s[0] == "ab":
            fa, fb = rnd(w1s[1], r, s=0.3), rnd(r, w1s[2], s=0.3)
            t[prefix + ".lokr_w1_a"], t[prefix + ".lokr_w1_b"] = fa, fb
            w1 = fa.astype(np.float64) @ fb.astype(np.float64)
        else:
            w1 = rnd(*w1s, s=0.3)
            t[prefix + ".lokr_w1"] = w1
            w1 = w1.astype(np.float64)
        core, wa, wb = rnd(r, r, shape[2], shape[3], s=0.3), rnd(r, o2, s=0.3), rnd(r, i2, s=0.3)
        t[prefix + ".lokr_t2"], t[prefix + ".lokr_w2_a"], t[prefix + ".lokr_w2_b"] = core, wa, wb
        t[prefix + ".alpha"] = np.array(alpha, dtype=np.float32)
        w2 = np.einsum("ijkl,jr,ip->prkl", core.astype(np.float64), wb.astype(np.float64), wa.astype(np.float64))
        deltas[key] = np.kron(w1[:, :, None, None], w2).reshape(shape) * (alpha / r)
    return write(out, "lokr_tucker", t, deltas, 1.0, 0.7)


def peft(out):
    """diffusers/PEFT names: unet.<diffusers module>.lora_A/B.weight, text_encoder.<hf module>."""
    t, deltas = {}, {}
    mods = [("unet.down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q", Q[1], 4),
            ("unet.up_blocks.1.attentions.1.transformer_blocks.0.attn1.to_out.0", OUT0[1], 4),
            ("unet.down_blocks.0.attentions.1.proj_in", PROJ_IN[1], 4),
            ("text_encoder.text_model.encoder.layers.0.self_attn.q_proj", TE_Q[1], 4)]
    for name, key, r in mods:
        shape = base[key].shape
        if len(shape) == 4:
            a, b = rnd(r, shape[1], 1, 1), rnd(shape[0], r, 1, 1)
        else:
            a, b = rnd(r, shape[1]), rnd(shape[0], r)
        t[name + ".lora_A.weight"], t[name + ".lora_B.weight"] = a, b
        deltas[key] = lora_delta(a, b)  # no alpha tensor: scale 1 (lora_alpha = r)
    te, unet = 1.0, 0.5
    fused = diffusers_fuse(os.path.join(out, "peft.safetensors"), t, te, unet, list(deltas))
    return write(out, "peft", t, deltas, te, unet, None, fused)


def processor(out):
    """The old diffusers attention-processor format (to_q_lora.down.weight, to_out_lora → to_out.0)."""
    t, deltas = {}, {}
    for name, key, r in [("unet.down_blocks.0.attentions.0.transformer_blocks.0.attn1.processor.to_q_lora", Q[1], 4),
                         ("unet.up_blocks.1.attentions.1.transformer_blocks.0.attn1.processor.to_out_lora", OUT0[1], 2)]:
        shape = base[key].shape
        d, u = rnd(r, shape[1]), rnd(shape[0], r)
        t[name + ".down.weight"], t[name + ".up.weight"] = d, u
        deltas[key] = lora_delta(d, u)
    return write(out, "processor", t, deltas, 1.0, 1.0)


def diff(out):
    t, deltas = {}, {}
    for (kname, key) in [K2, TE_Q, PROJ_OUT]:
        prefix = ("lora_te_" if key.startswith(T) else "lora_unet_") + kname
        d = rnd(*base[key].shape, s=0.05)
        t[prefix + ".diff"] = d
        deltas[key] = d.astype(np.float64)
    bias = PROJ_OUT[1].replace(".weight", ".bias")
    db = rnd(*base[bias].shape, s=0.05)
    t["lora_unet_" + PROJ_OUT[0] + ".diff_b"] = db
    deltas[bias] = db.astype(np.float64)
    return write(out, "diff", t, deltas, 1.0, 0.9)


def load_text_encoder(d):
    """transformers 5 names CLIPTextModel weights without `text_model.`; the fixture has it."""
    from transformers import CLIPTextConfig, CLIPTextModel
    te = CLIPTextModel(CLIPTextConfig.from_pretrained(d, subfolder="text_encoder")).float()
    sd = safetensors.torch.load_file(os.path.join(d, "text_encoder/model.safetensors"))
    want = te.state_dict()
    sd = {k if k in want else k.replace("text_model.", "", 1): v.float() for k, v in sd.items()}
    te.load_state_dict({k: v for k, v in sd.items() if k in want}, strict=False)
    return te


def diffusers_fuse(path, tensors, te_mult, unet_mult, keys):
    """Fused weights from diffusers for the formats it loads; None when it cannot run here."""
    try:
        from diffusers import AutoencoderKL, EulerDiscreteScheduler, StableDiffusionPipeline, UNet2DConditionModel
        from transformers import CLIPTextModel
    except ImportError:
        return None
    d = os.path.join(TINY, "diffusers")
    pipe = StableDiffusionPipeline(
        vae=AutoencoderKL.from_pretrained(d, subfolder="vae"),
        text_encoder=load_text_encoder(d),
        tokenizer=None, unet=UNet2DConditionModel.from_pretrained(d, subfolder="unet", torch_dtype=torch.float32),
        scheduler=EulerDiscreteScheduler(), safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    pipe.unet.float()
    pipe.text_encoder.float()
    pipe.load_lora_weights({k: torch.from_numpy(v.astype(np.float32)) for k, v in tensors.items()}, adapter_name="a")
    pipe.fuse_lora(components=["text_encoder"], lora_scale=te_mult, adapter_names=["a"])
    pipe.fuse_lora(components=["unet"], lora_scale=unet_mult, adapter_names=["a"])
    unet_sd = pipe.unet.state_dict()
    from_unet = {}
    for name in unet_sd:
        if "lora" in name:
            continue
        from_unet[name.replace(".base_layer", "")] = unet_sd[name]
    result = {}
    # UNet only: with transformers 5 (CLIPTextModel without `text_model.`) diffusers' text-encoder
    # LoRA loading leaves modules out here, so text-encoder references rely on the formula alone.
    for key in keys:
        if not key.startswith(T):
            # our LDM key -> diffusers: reuse the module list from the kohya spec above
            dname = DIFFUSERS_NAME[key]
            result[key] = from_unet[dname].float().numpy().reshape(base[key].shape)
    return result


DIFFUSERS_NAME = {
    Q[1]: "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q.weight",
    K2[1]: "down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k.weight",
    OUT0[1]: "up_blocks.1.attentions.1.transformer_blocks.0.attn1.to_out.0.weight",
    FF0[1]: "mid_block.attentions.0.transformer_blocks.0.ff.net.0.proj.weight",
    PROJ_IN[1]: "down_blocks.0.attentions.1.proj_in.weight",
    CONV1[1]: "down_blocks.0.resnets.0.conv1.weight",
    TEMB[1]: "down_blocks.1.resnets.1.time_emb_proj.weight",
}


def sdxl(out):
    """A LoRA for another architecture (SDXL: lora_te1/lora_te2 and 2048-wide attn2.to_k)."""
    t = {"lora_te1_text_model_encoder_layers_0_self_attn_q_proj.lora_down.weight": rnd(4, 768),
         "lora_te1_text_model_encoder_layers_0_self_attn_q_proj.lora_up.weight": rnd(768, 4),
         "lora_te2_text_model_encoder_layers_0_self_attn_q_proj.lora_down.weight": rnd(4, 1280),
         "lora_te2_text_model_encoder_layers_0_self_attn_q_proj.lora_up.weight": rnd(1280, 4),
         "lora_unet_input_blocks_4_1_transformer_blocks_0_attn2_to_k.lora_down.weight": rnd(4, 2048),
         "lora_unet_input_blocks_4_1_transformer_blocks_0_attn2_to_k.lora_up.weight": rnd(640, 4)}
    save_file(t, os.path.join(out, "sdxl.safetensors"), metadata={"ss_base_model_version": "sdxl_base_v1-0"})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(ROOT, "Tests/Fixtures/LoRA"))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    summary = {}
    for f in [kohya, locon_ldm, loha, lokr, peft, processor, diff]:
        summary[f.__name__] = f(args.out)
    sdxl(args.out)
    # New formats go last: the random stream of the earlier files stays the same.
    summary["lokr_tucker"] = lokr_tucker(args.out)
    with open(os.path.join(args.out, "reference.json"), "w") as fh:
        json.dump(summary, fh, indent=1, sort_keys=True)
    print(json.dumps({k: (v["tensors"], len(v["modules"])) for k, v in summary.items()}))


if __name__ == "__main__":
    main()
