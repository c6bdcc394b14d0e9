#!/usr/bin/env python3
"""Build the tiny random SD-1.x fixture and its reference tensors (Tests/Fixtures/TinySD).

Not run by CI. Needs /work/venv (torch CPU, diffusers, transformers, safetensors, regex) and the
CLIP BPE vocab installed by scripts/setup. Runs offline in about a minute:

    /work/venv/bin/python scripts/gen_tiny_sd_fixture.py [--out Tests/Fixtures/TinySD]

What it writes
- diffusers/            a diffusers StableDiffusionPipeline folder (fp16 weights, no tokenizer files:
                        the Swift side reads the CLIP vocab from the data directory)
- tiny-sd15.safetensors the same weights as one LDM single-file checkpoint, our own
                        diffusers->LDM key mapping, mixed dtypes: text encoder bf16,
                        UNet fp16, VAE fp32, plus the buffers real checkpoints carry (alphas_cumprod,
                        position_ids as int64) that a loader must ignore
- reference.json        token ids (plain and A1111-chunked), sigma grids, sampler trajectories,
                        torch.randn samples, configs
- reference.safetensors larger fp32 tensors: text embeddings, one UNet output, VAE decoder output,
                        the full pipeline's image

Every weight is quantised to k * 2^e with |k| <= 63, so fp32, fp16 and bf16 hold it exactly and the
same reference tensors serve every dtype. The architecture is SD 1.x with small widths: CLIP text
encoder (full 49,408-token vocab, width 16, 3 layers, 2 heads, quick_gelu), UNet with SD 1.x block
structure (channels 32 at every level so GroupNorm keeps 32 groups, 8 heads, GEGLU, 1x1-conv
proj_in/out), VAE with 4 levels (one resnet per encoder level). Token-embedding rows of tokens
that no reference prompt uses repeat a 61-row pattern so git compresses them to almost nothing.
"""
import argparse
import gzip
import json
import os
import shutil
import unicodedata

import numpy as np
import regex
import torch
from safetensors.torch import save_file

SEED = 1234
LATENT_H, LATENT_W = 8, 16  # non-square on purpose: catches H/W transpositions
VOCAB_PATH = os.path.expanduser("~/.local/share/stylus/models/clip/bpe_simple_vocab_16e6.txt.gz")
BOS, EOS = 49406, 49407

# ----------------------------------------------------------------------------------------------
# CLIP BPE tokenizer (our own reading of the published BPE rules), cross-checked below
# against the HF fast tokenizer built from the same merges.


def bytes_to_unicode():
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    table, extra = {}, 0
    for b in range(256):
        if b in printable:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + extra)
            extra += 1
    return table


class ClipBPE:
    PATTERN = regex.compile(
        r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+""",
        regex.IGNORECASE)

    def __init__(self, path):
        with gzip.open(path, "rt", encoding="utf-8") as f:
            lines = f.read().split("\n")
        self.merges = [tuple(line.split()) for line in lines[1:1 + 48894]]
        self.byte_chars = bytes_to_unicode()
        # Vocab order is the bytes_to_unicode table order: printable bytes first, then the rest.
        order = sorted(range(256), key=lambda b: (ord(self.byte_chars[b]) >= 256, ord(self.byte_chars[b])))
        base = [self.byte_chars[b] for b in order]
        vocab = base + [c + "</w>" for c in base] + ["".join(m) for m in self.merges]
        vocab += ["<|startoftext|>", "<|endoftext|>"]
        self.vocab = vocab
        self.ids = {tok: i for i, tok in enumerate(vocab)}
        self.ranks = {m: i for i, m in enumerate(self.merges)}

    def bpe(self, word):
        parts = list(word[:-1]) + [word[-1] + "</w>"]
        while len(parts) > 1:
            pairs = [(self.ranks.get((a, b), 1 << 30), i) for i, (a, b) in enumerate(zip(parts, parts[1:]))]
            rank, _ = min(pairs)
            if rank == 1 << 30:
                break
            a, b = self.merges[rank]
            out, i = [], 0
            while i < len(parts):
                if i + 1 < len(parts) and parts[i] == a and parts[i + 1] == b:
                    out.append(a + b)
                    i += 2
                else:
                    out.append(parts[i])
                    i += 1
            parts = out
        return parts

    def encode(self, text):
        # What SD tools run (HF CLIPTokenizer): NFC, collapse whitespace, lowercase. open_clip's extra
        # html.unescape is not part of it.
        text = regex.sub(r"\s+", " ", unicodedata.normalize("NFC", text)).strip().lower()
        ids = []
        for piece in self.PATTERN.findall(text):
            word = "".join(self.byte_chars[b] for b in piece.encode("utf-8"))
            ids.extend(self.ids[p] for p in self.bpe(word))
        return ids


def a1111_chunks(tok, segments, comma_backtrack=20, chunk_len=75):
    """A1111 sd_hijack_clip.tokenize_line semantics. segments: list of (text, weight); ("BREAK", -1)
    is a BREAK. Returns (chunks of 77 ids, chunks of 77 multipliers, token_count)."""
    comma = tok.ids[",</w>"]
    chunks, mults = [], []
    cur_t, cur_m = [], []
    state = {"count": 0, "last_comma": -1}

    def next_chunk(is_last=False):
        nonlocal cur_t, cur_m
        state["count"] += len(cur_t) if is_last else chunk_len
        pad = chunk_len - len(cur_t)
        cur_t = [BOS] + cur_t + [EOS] * pad + [EOS]
        cur_m = [1.0] + cur_m + [1.0] * pad + [1.0]
        state["last_comma"] = -1
        chunks.append(cur_t)
        mults.append(cur_m)
        cur_t, cur_m = [], []

    for text, weight in segments:
        if text == "BREAK" and weight == -1:
            next_chunk()
            continue
        for token in tok.encode(text):
            if token == comma:
                state["last_comma"] = len(cur_t)
            elif (comma_backtrack and len(cur_t) == chunk_len and state["last_comma"] != -1
                  and len(cur_t) - state["last_comma"] <= comma_backtrack):
                cut = state["last_comma"] + 1
                moved_t, moved_m = cur_t[cut:], cur_m[cut:]
                cur_t, cur_m = cur_t[:cut], cur_m[:cut]
                next_chunk()
                cur_t, cur_m = moved_t, moved_m
            if len(cur_t) == chunk_len:
                next_chunk()
            cur_t.append(token)
            cur_m.append(weight)
    if cur_t or not chunks:
        next_chunk(is_last=True)
    return chunks, mults, state["count"]


# ----------------------------------------------------------------------------------------------
# diffusers -> LDM single-file names (our own table)

RESNET_UNET = {"norm1": "in_layers.0", "conv1": "in_layers.2", "time_emb_proj": "emb_layers.1",
               "norm2": "out_layers.0", "conv2": "out_layers.3", "conv_shortcut": "skip_connection"}


def unet_to_ldm(name):
    p = name.split(".")
    top = {"time_embedding.linear_1": "time_embed.0", "time_embedding.linear_2": "time_embed.2",
           "conv_in": "input_blocks.0.0", "conv_norm_out": "out.0", "conv_out": "out.2"}
    for k, v in top.items():
        if name.startswith(k + "."):
            return v + name[len(k):]

    def resnet(rest):
        return RESNET_UNET[rest[0]] + "." + ".".join(rest[1:])

    if p[0] == "down_blocks":
        b = int(p[1])
        if p[2] == "resnets":
            return f"input_blocks.{3 * b + int(p[3]) + 1}.0." + resnet(p[4:])
        if p[2] == "attentions":
            return f"input_blocks.{3 * b + int(p[3]) + 1}.1." + ".".join(p[4:])
        if p[2] == "downsamplers":
            return f"input_blocks.{3 * (b + 1)}.0.op." + ".".join(p[5:])
    if p[0] == "mid_block":
        if p[1] == "resnets":
            return f"middle_block.{2 * int(p[2])}." + resnet(p[3:])
        return "middle_block.1." + ".".join(p[3:])
    if p[0] == "up_blocks":
        b = int(p[1])
        if p[2] == "resnets":
            return f"output_blocks.{3 * b + int(p[3])}.0." + resnet(p[4:])
        if p[2] == "attentions":
            return f"output_blocks.{3 * b + int(p[3])}.1." + ".".join(p[4:])
        if p[2] == "upsamplers":
            return f"output_blocks.{3 * b + 2}.{1 if b == 0 else 2}.conv." + ".".join(p[5:])
    raise KeyError(name)


def vae_to_ldm(name, levels):
    p = name.split(".")
    if p[0] in ("encoder", "decoder") and p[1] in ("down_blocks", "up_blocks"):
        i = int(p[2])
        lvl = i if p[1] == "down_blocks" else levels - 1 - i
        head = f"{p[0]}.{'down' if p[1] == 'down_blocks' else 'up'}.{lvl}"
        if p[3] == "resnets":
            rest = ".".join(p[5:]).replace("conv_shortcut", "nin_shortcut")
            return f"{head}.block.{p[4]}.{rest}"
        kind = "downsample" if p[1] == "down_blocks" else "upsample"
        return f"{head}.{kind}.conv.{'.'.join(p[6:])}"
    if p[0] in ("encoder", "decoder") and p[1] == "mid_block":
        if p[2] == "resnets":
            return f"{p[0]}.mid.block_{int(p[3]) + 1}.{'.'.join(p[4:])}"
        sub = {"group_norm": "norm", "to_q": "q", "to_k": "k", "to_v": "v", "to_out": "proj_out"}[p[4]]
        tail = p[-1]
        return f"{p[0]}.mid.attn_1.{sub}.{tail}"
    if p[0] in ("encoder", "decoder") and p[1] == "conv_norm_out":
        return f"{p[0]}.norm_out.{p[2]}"
    return name  # conv_in, conv_out, quant_conv, post_quant_conv keep their names


def to_ldm(te, unet, vae, vae_levels, old_clip=False):
    out = {}
    for k, v in unet.items():
        out["model.diffusion_model." + unet_to_ldm(k)] = v
    for k, v in vae.items():
        nk = vae_to_ldm(k, vae_levels)
        if ".mid.attn_1." in nk and nk.endswith(".weight") and v.dim() == 2:
            v = v[:, :, None, None]  # LDM keeps the VAE attention projections as 1x1 convs
        out["first_stage_model." + nk] = v
    for k, v in te.items():
        if old_clip:
            k = k.replace("text_model.", "", 1)
        out["cond_stage_model.transformer." + k] = v
    return out


# ----------------------------------------------------------------------------------------------


def quantise_(model, gen):
    """Re-draw every parameter as k * 2^e (|k| <= 63) with a sensible scale."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("bias"):
                std = 0.05
                centre = 0.0
            elif p.dim() == 1:  # norm scales
                std, centre = 0.1, 1.0
            else:
                fan_in = p[0].numel()
                std, centre = 1.0 / np.sqrt(fan_in), 0.0
            if "embedding" in name and p.dim() == 2:
                std = 0.5
            step = 2.0 ** np.round(np.log2(std / 16))
            k = torch.clamp(torch.round(torch.randn(p.shape, generator=gen) * 16), -63, 63)
            p.copy_(centre + k * step)
            assert torch.equal(p.to(torch.float16).float(), p) and torch.equal(p.to(torch.bfloat16).float(), p), name


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "Tests", "Fixtures", "TinySD"))
    out = os.path.abspath(ap.parse_args().out)
    torch.manual_seed(SEED)
    torch.set_num_threads(1)

    from diffusers import (AutoencoderKL, DDIMScheduler, DPMSolverMultistepScheduler, EulerAncestralDiscreteScheduler,
                           EulerDiscreteScheduler, LCMScheduler, StableDiffusionPipeline, UNet2DConditionModel)
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    tok = ClipBPE(VOCAB_PATH)
    ref = {"seed": SEED, "latent": [4, LATENT_H, LATENT_W]}

    # --- tokenizer ------------------------------------------------------------------------------
    prompts = [
        "a photograph of an astronaut riding a horse",
        "A lovely cat",
        "masterpiece, best quality, 1girl",
        "It's 3D!",
        "",
        "  Café  déjà-vu &amp; naïve   résumé!!  ", "Cafe\u0301 ÀÉÎ 1,000 (big:1.2) 'twas we're THEY'LL ½ ٣ 日本語テスト 🙂\n\ttab",
        "blurry, lowres",
        "portrait of a woman, oil painting, 8k, highly detailed, <lora:foo:0.8> ((dramatic lighting))",
    ]
    vectors = {"a photograph of an astronaut riding a horse": [49406, 320, 8853, 539, 550, 18376, 6765, 320, 4558, 49407],
               "A lovely cat": [49406, 320, 2165, 2368, 49407],
               "masterpiece, best quality, 1girl": [49406, 12066, 267, 949, 3027, 267, 272, 1611, 49407],
               "It's 3D!": [49406, 585, 568, 274, 323, 256, 49407]}
    for text, ids in vectors.items():
        assert [BOS] + tok.encode(text) + [EOS] == ids, text

    # Cross-check with the HF tokenizer built from the same merges.
    fast = CLIPTokenizer(vocab={t: i for i, t in enumerate(tok.vocab)}, merges=list(tok.merges), model_max_length=77)
    for text in prompts:
        assert fast(text).input_ids == [BOS] + tok.encode(text) + [EOS], (text, fast(text).input_ids)
    ref["tokens"] = [{"text": t, "ids": [BOS] + tok.encode(t) + [EOS]} for t in prompts]

    long_text = ", ".join(["a very detailed landscape with mountains"] * 11) + ", sunset over the sea, golden hour glow"
    chunk_cases = {
        "simple": [["a photograph of an astronaut riding a horse", 1.0]],
        "empty": [],
        "weighted": [["a ", 1.0], ["red", 1.5], [" cat on a ", 1.0], ["blue mat", 0.7]],
        "break": [["first part", 1.0], ["BREAK", -1], ["second part", 1.2]],
        "long_commas": [[long_text, 1.0]],
        "long_nocommas": [[" ".join(["word"] * 80), 1.0]],
        "exactly75": [[" ".join(["cat"] * 75), 1.0]],
    }
    ref["chunks"] = {}
    for name, segs in chunk_cases.items():
        chunks, mults, count = a1111_chunks(tok, [tuple(s) for s in segs])
        ref["chunks"][name] = {"segments": segs, "ids": chunks, "multipliers": mults, "token_count": count}

    # --- models ---------------------------------------------------------------------------------
    gen = torch.Generator().manual_seed(SEED)
    te_cfg = CLIPTextConfig(vocab_size=49408, hidden_size=16, intermediate_size=64, num_hidden_layers=3,
                            num_attention_heads=2, max_position_embeddings=77, hidden_act="quick_gelu",
                            bos_token_id=BOS, eos_token_id=EOS, pad_token_id=EOS, projection_dim=16)
    te = CLIPTextModel(te_cfg).eval()
    unet = UNet2DConditionModel(
        sample_size=LATENT_H, in_channels=4, out_channels=4, layers_per_block=2, block_out_channels=(32, 32, 32, 32),
        down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
        up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
        cross_attention_dim=16, attention_head_dim=8, norm_num_groups=32).eval()
    vae = AutoencoderKL(in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * 4,
                        up_block_types=("UpDecoderBlock2D",) * 4, block_out_channels=(32, 32, 32, 32),
                        layers_per_block=1, latent_channels=4, norm_num_groups=32,
                        sample_size=LATENT_H * 8, scaling_factor=0.18215).eval()
    for m in (te, unet, vae):
        quantise_(m, gen)
    used = sorted({i for c in ref["chunks"].values() for ch in c["ids"] for i in ch} |
                  {i for t in ref["tokens"] for i in t["ids"]})
    with torch.no_grad():
        emb = te.embeddings.token_embedding.weight
        keep = emb[used].clone()
        for i in range(emb.shape[0]):
            emb[i] = emb[i % 61]
        emb[used] = keep
    ref["used_token_rows"] = used

    # --- save both checkpoint forms ---------------------------------------------------------------
    if os.path.exists(out):
        shutil.rmtree(out)
    os.makedirs(out)
    sched_cfg = dict(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                     prediction_type="epsilon", steps_offset=1)
    vp_cfg = dict(sched_cfg, set_alpha_to_one=False, clip_sample=False)
    sched = EulerDiscreteScheduler(**sched_cfg, timestep_spacing="linspace")
    tokenizer = fast
    pipe = StableDiffusionPipeline(vae=vae, text_encoder=te, tokenizer=tokenizer, unet=unet, scheduler=sched,
                                   safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    dpath = os.path.join(out, "diffusers")
    pipe.to(torch.float16).save_pretrained(dpath, safe_serialization=True)
    pipe.to(torch.float32)
    shutil.rmtree(os.path.join(dpath, "tokenizer"))  # 2 MB of vocab the Swift side reads from the data dir

    # transformers 5 saves CLIPTextModel without the `text_model.` level that every published SD 1.x
    # folder and checkpoint has; write the text encoder in the published layout.
    te_sd = {"text_model." + k: v for k, v in te.state_dict().items()}
    save_file({k: v.half().contiguous() for k, v in te_sd.items()}, os.path.join(dpath, "text_encoder", "model.safetensors"),
              metadata={"format": "pt"})
    te_sd = {k: v.to(torch.bfloat16) for k, v in te_sd.items()}
    te_sd["text_model.embeddings.position_ids"] = torch.arange(77, dtype=torch.int64)[None]
    ldm = to_ldm(te_sd, {k: v.half() for k, v in unet.state_dict().items()},
                 {k: v.float() for k, v in vae.state_dict().items()}, vae_levels=4)
    ldm["alphas_cumprod"] = sched.alphas_cumprod.float()
    ldm["betas"] = sched.betas.float()
    ldm = {k: v.contiguous() for k, v in ldm.items()}
    save_file(ldm, os.path.join(out, "tiny-sd15.safetensors"), metadata={"format": "pt"})

    # Our mapping must agree with diffusers' own single-file loader (LDM -> diffusers).
    try:
        from diffusers.loaders.single_file_utils import (convert_ldm_clip_checkpoint, convert_ldm_unet_checkpoint,
                                                         convert_ldm_vae_checkpoint)
        back = convert_ldm_unet_checkpoint({k: v for k, v in ldm.items()}, dict(unet.config))
        for k, v in unet.state_dict().items():
            assert torch.equal(back[k].float(), v), k
        back = convert_ldm_vae_checkpoint({k: v for k, v in ldm.items()}, dict(vae.config))
        for k, v in vae.state_dict().items():
            assert torch.equal(back[k].float().reshape(v.shape), v), k
        print("LDM mapping checked against diffusers' convert_ldm_* functions")
    except (ImportError, TypeError) as e:
        print("could not cross-check the LDM mapping with diffusers:", e)

    # --- reference tensors ------------------------------------------------------------------------
    tensors = {}

    def encode(ids, skip=1):
        with torch.no_grad():
            o = te(torch.tensor([ids]), output_hidden_states=True)
            h = o.last_hidden_state if skip == 1 else te.final_layer_norm(o.hidden_states[-skip])
        return h[0]

    for name, case in ref["chunks"].items():
        zs = []
        for ids, mult in zip(case["ids"], case["multipliers"]):
            z = encode(ids)
            original = z.mean()
            z = z * torch.tensor(mult)[:, None]
            z = z * (original / z.mean())
            zs.append(z)
        tensors[f"cond.{name}"] = torch.cat(zs, 0)
    tensors["cond.simple.clipskip2"] = encode(ref["chunks"]["simple"]["ids"][0], skip=2)

    uncond = encode(ref["chunks"]["empty"]["ids"][0])
    cond = tensors["cond.simple"]
    ctx = torch.stack([uncond, cond])
    x = torch.randn((2, 4, LATENT_H, LATENT_W), generator=gen)
    with torch.no_grad():
        eps = unet(x, torch.tensor(537.25), encoder_hidden_states=ctx).sample
    tensors["unet.x"], tensors["unet.context"], tensors["unet.out"] = x, ctx, eps
    ref["unet_timestep"] = 537.25

    z = torch.randn((1, 4, LATENT_H, LATENT_W), generator=gen)
    with torch.no_grad():
        img = vae.decode(z / 0.18215).sample
    tensors["vae.latent"], tensors["vae.out"] = z[0], img[0]

    # --- samplers: diffusers schedulers driving the tiny UNet with CFG ------------------------------
    cfg_scale = 7.5

    def model_eps(inp, t):
        with torch.no_grad():
            e = unet(torch.cat([inp, inp]), t, encoder_hidden_states=ctx).sample
        return e[0:1] + cfg_scale * (e[1:2] - e[0:1])

    samplers = {
        "euler": (EulerDiscreteScheduler(**sched_cfg, timestep_spacing="linspace"), 4, None),
        "euler_a": (EulerAncestralDiscreteScheduler(**sched_cfg, timestep_spacing="linspace"), 4, None),
        "dpmpp_2m": (DPMSolverMultistepScheduler(**sched_cfg,
                                                 algorithm_type="dpmsolver++", solver_order=2, final_sigmas_type="zero"),
                     None, [999, 666, 333, 0]),
        "dpmpp_2m_karras": (DPMSolverMultistepScheduler(**sched_cfg,
                                                        algorithm_type="dpmsolver++", solver_order=2, final_sigmas_type="zero",
                                                        use_karras_sigmas=True), 4, None),
        "ddim": (DDIMScheduler(**vp_cfg, timestep_spacing="leading"), 4, None),
        "lcm": (LCMScheduler(**vp_cfg, original_inference_steps=50, timestep_spacing="leading"), 4, None),
    }
    ref["samplers"] = {}
    ref["cfg_scale"] = cfg_scale
    for name, (s, n, custom) in samplers.items():
        if custom is not None:
            s.set_timesteps(timesteps=custom)
        else:
            s.set_timesteps(n)
        g = torch.Generator().manual_seed(SEED + 1)
        x = torch.randn((1, 4, LATENT_H, LATENT_W), generator=g)
        noise0 = x.clone()
        x = x * s.init_noise_sigma
        steps = []
        for t in s.timesteps:
            inp = s.scale_model_input(x, t)
            e = model_eps(inp, t)
            x = s.step(e, t, x, generator=g).prev_sample
            steps.append({"timestep": float(t), "model_input": inp.flatten().tolist(), "eps": e.flatten().tolist(),
                          "x": x.flatten().tolist()})
        rec = {"noise_seed": SEED + 1, "noise": noise0.flatten().tolist(), "init_noise_sigma": float(s.init_noise_sigma),
               "steps": steps}
        if hasattr(s, "sigmas"):
            rec["sigmas"] = [float(v) for v in s.sigmas]
        ref["samplers"][name] = rec

    # --- the whole pipeline through diffusers -------------------------------------------------------
    pipe.scheduler = EulerDiscreteScheduler(**sched_cfg, timestep_spacing="linspace")
    prompt, negative = "a photograph of an astronaut riding a horse", "blurry, lowres"
    res = pipe(prompt, negative_prompt=negative, num_inference_steps=4, guidance_scale=cfg_scale,
               height=LATENT_H * 8, width=LATENT_W * 8, generator=torch.Generator().manual_seed(SEED + 2),
               output_type="np")
    tensors["pipeline.image"] = torch.from_numpy(res.images[0]).permute(2, 0, 1).contiguous()
    ref["pipeline"] = {"prompt": prompt, "negative": negative, "steps": 4, "sampler": "euler", "cfg": cfg_scale,
                       "seed": SEED + 2, "height": LATENT_H * 8, "width": LATENT_W * 8}

    # --- torch.randn on CPU -----------------------------------------------------------------------
    ref["randn"] = []
    for seed, shape in [(0, [5]), (0, [16]), (0, [17]), (42, [2, 3, 7]), (42, [1, 4, 8, 16]), (2**32 + 7, [40]),
                        (123456789, [3]), (7, [1])]:
        g = torch.Generator().manual_seed(seed)
        a = torch.randn(shape, generator=g)
        b = torch.randn(shape, generator=g)  # the generator continues
        ref["randn"].append({"seed": seed, "shape": shape, "first": a.flatten().tolist(), "second": b.flatten().tolist()})
    g = torch.Generator().manual_seed(31337)
    big = torch.randn((1, 4, 64, 64), generator=g).flatten()
    ref["randn_big"] = {"seed": 31337, "shape": [1, 4, 64, 64], "head": big[:64].tolist(), "tail": big[-64:].tolist(),
                        "sum": float(big.double().sum())}

    # --- schedule facts ---------------------------------------------------------------------------
    ref["alphas_cumprod"] = {str(i): float(sched.alphas_cumprod[i]) for i in (0, 1, 250, 500, 999)}
    ref["configs"] = {"text_encoder": te_cfg.to_diff_dict(), "unet": dict(unet.config), "vae": dict(vae.config)}

    save_file({k: v.float().contiguous() for k, v in tensors.items()}, os.path.join(out, "reference.safetensors"))
    with open(os.path.join(out, "reference.json"), "w") as f:
        json.dump(ref, f, indent=None, separators=(",", ":"), default=str)
    total = sum(os.path.getsize(os.path.join(r, fn)) for r, _, fs in os.walk(out) for fn in fs)
    print(f"wrote {out} ({total / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
