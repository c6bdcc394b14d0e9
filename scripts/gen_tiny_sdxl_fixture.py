#!/usr/bin/env python3
"""Build the tiny random SDXL-shaped fixture and its reference tensors (Tests/Fixtures/TinySDXL).

Not run by CI. Needs /work/venv (torch CPU, diffusers, transformers, safetensors, regex) and the
CLIP BPE vocab installed by scripts/setup. Runs offline in under a minute:

    /work/venv/bin/python scripts/gen_tiny_sdxl_fixture.py [--out Tests/Fixtures/TinySDXL]

What it writes
- diffusers/              a diffusers StableDiffusionXLPipeline folder (fp16 weights; no tokenizer
                          files: the Swift side reads the CLIP vocab from the data directory)
- tiny-sdxl.safetensors   the same weights as one single-file checkpoint in the layout A1111, ComfyUI
                          and Civitai ship (`model.diffusion_model.`, `first_stage_model.`,
                          `conditioner.embedders.0.transformer.` for CLIP ViT-L in transformers names,
                          `conditioner.embedders.1.model.` for OpenCLIP ViT-bigG in open_clip names with
                          fused q/k/v and a transposed `text_projection`), mixed dtypes: text encoders
                          bf16, UNet fp16, VAE fp32
- tiny-sdxl-refiner.safetensors, tiny-sd3-like.safetensors  small files with the key shapes of an
                          SDXL refiner and an MMDiT model, for the architecture-detection errors
- reference.json          token ids per encoder, chunking, time ids, configs
- reference.safetensors   fp32 tensors: per-encoder hidden states, the 2048-style concatenated
                          context and pooled output, one UNet evaluation, a VAE decode, 2-step Euler
                          images (epsilon and v-prediction with zero-terminal-SNR rescaling)

Architecture: SDXL's with small widths. UNet levels (32, 32, 32) with no attention at the top level,
transformer depth (-, 1, 2) per level, linear proj_in/out, 8-wide heads, `add_embedding` fed by the
pooled text embedding and six 8-wide sinusoidal time-id embeddings. CLIP ViT-L stand-in: width 16,
3 layers, quick_gelu. OpenCLIP ViT-bigG stand-in: width 16, 3 layers, 2 heads, erf gelu, projection 24.
Both with the full 49,408-token vocabulary. Every weight is k·2^e (|k| <= 63) so fp16/bf16/fp32
hold it exactly.
"""
import argparse
import json
import os
import shutil
import sys

import torch
from safetensors.torch import save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_tiny_sd_fixture import BOS, EOS, VOCAB_PATH, ClipBPE, a1111_chunks, quantise_, unet_to_ldm, vae_to_ldm  # noqa: E402

SEED = 4321
LATENT_H, LATENT_W = 8, 16
SCALING = 0.13025


def sdxl_unet_to_ldm(name):
    """diffusers -> LDM for SDXL's three levels. Same numbering as SD 1.x except that the up block
    without attention is the last one, so every upsampler sits at `.2` (after resnet and attention)."""
    top = {"add_embedding.linear_1": "label_emb.0.0", "add_embedding.linear_2": "label_emb.0.2"}
    for k, v in top.items():
        if name.startswith(k + "."):
            return v + name[len(k):]
    p = name.split(".")
    if p[0] == "up_blocks" and p[2] == "upsamplers":
        return f"output_blocks.{3 * int(p[1]) + 2}.2.conv." + ".".join(p[5:])
    return unet_to_ldm(name)


def openclip_names(te2_sd, width):
    """transformers CLIPTextModelWithProjection state dict -> open_clip names under `model.`."""
    out = {}
    layers = sorted({int(k.split(".")[3]) for k in te2_sd if k.startswith("text_model.encoder.layers.")})
    for i in layers:
        h = f"text_model.encoder.layers.{i}."
        r = f"model.transformer.resblocks.{i}."
        out[r + "attn.in_proj_weight"] = torch.cat([te2_sd[h + f"self_attn.{x}_proj.weight"] for x in "qkv"], 0)
        out[r + "attn.in_proj_bias"] = torch.cat([te2_sd[h + f"self_attn.{x}_proj.bias"] for x in "qkv"], 0)
        for a, b in [("self_attn.out_proj", "attn.out_proj"), ("layer_norm1", "ln_1"), ("layer_norm2", "ln_2"),
                     ("mlp.fc1", "mlp.c_fc"), ("mlp.fc2", "mlp.c_proj")]:
            for s in ("weight", "bias"):
                out[r + f"{b}.{s}"] = te2_sd[h + f"{a}.{s}"]
    out["model.token_embedding.weight"] = te2_sd["text_model.embeddings.token_embedding.weight"]
    out["model.positional_embedding"] = te2_sd["text_model.embeddings.position_embedding.weight"]
    out["model.ln_final.weight"] = te2_sd["text_model.final_layer_norm.weight"]
    out["model.ln_final.bias"] = te2_sd["text_model.final_layer_norm.bias"]
    out["model.text_projection"] = te2_sd["text_projection.weight"].t().contiguous()
    out["model.logit_scale"] = torch.tensor(4.6052)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "Tests", "Fixtures", "TinySDXL"))
    out = os.path.abspath(ap.parse_args().out)
    torch.manual_seed(SEED)
    torch.set_num_threads(2)

    from diffusers import AutoencoderKL, EulerDiscreteScheduler, StableDiffusionXLPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

    tok = ClipBPE(VOCAB_PATH)
    fast1 = CLIPTokenizer(vocab={t: i for i, t in enumerate(tok.vocab)}, merges=list(tok.merges), model_max_length=77)
    # OpenCLIP pads with id 0 ("!") after the end token, as SDXL's tokenizer_2 and A1111 do.
    fast2 = CLIPTokenizer(vocab={t: i for i, t in enumerate(tok.vocab)}, merges=list(tok.merges), model_max_length=77,
                          pad_token="!")
    ref = {"seed": SEED, "latent": [4, LATENT_H, LATENT_W], "scaling_factor": SCALING}

    chunk_cases = {
        "simple": [["a photograph of an astronaut riding a horse", 1.0]],
        "negative": [["blurry, lowres", 1.0]],
        "empty": [],
        "weighted": [["a ", 1.0], ["red", 1.5], [" cat on a ", 1.0], ["blue mat", 0.7]],
        "break": [["first part", 1.0], ["BREAK", -1], ["second part", 1.2]],
    }
    ref["chunks"] = {}
    for name, segs in chunk_cases.items():
        chunks, mults, count = a1111_chunks(tok, [tuple(s) for s in segs])
        # encoder 2: everything after the first end token becomes 0
        chunks2 = []
        for c in chunks:
            e = c.index(EOS)
            chunks2.append(c[:e + 1] + [0] * (len(c) - e - 1))
        ref["chunks"][name] = {"segments": segs, "ids": chunks, "ids2": chunks2, "multipliers": mults, "token_count": count}
    for text in ("a photograph of an astronaut riding a horse", "blurry, lowres"):
        ids1 = fast1(text, padding="max_length", max_length=77).input_ids
        ids2 = fast2(text, padding="max_length", max_length=77).input_ids
        case = next(c for c in ref["chunks"].values() if c["segments"] and c["segments"][0][0] == text)
        assert ids1 == case["ids"][0], (text, ids1)
        assert ids2 == case["ids2"][0], (text, ids2)

    # --- models ---------------------------------------------------------------------------------
    gen = torch.Generator().manual_seed(SEED)
    te1_cfg = CLIPTextConfig(vocab_size=49408, hidden_size=16, intermediate_size=64, num_hidden_layers=3,
                             num_attention_heads=2, max_position_embeddings=77, hidden_act="quick_gelu",
                             bos_token_id=BOS, eos_token_id=EOS, pad_token_id=1, projection_dim=16)
    te2_cfg = CLIPTextConfig(vocab_size=49408, hidden_size=16, intermediate_size=64, num_hidden_layers=3,
                             num_attention_heads=2, max_position_embeddings=77, hidden_act="gelu",
                             bos_token_id=BOS, eos_token_id=EOS, pad_token_id=1, projection_dim=24)
    te1 = CLIPTextModel(te1_cfg).eval()
    te2 = CLIPTextModelWithProjection(te2_cfg).eval()
    time_dim = 8
    unet = UNet2DConditionModel(
        sample_size=LATENT_H, in_channels=4, out_channels=4, layers_per_block=2, block_out_channels=(32, 32, 32),
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
        transformer_layers_per_block=(1, 1, 2), attention_head_dim=(4, 4, 4), use_linear_projection=True,
        cross_attention_dim=16 + 16, norm_num_groups=32,
        addition_embed_type="text_time", addition_time_embed_dim=time_dim,
        projection_class_embeddings_input_dim=6 * time_dim + 24).eval()
    vae = AutoencoderKL(in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * 4,
                        up_block_types=("UpDecoderBlock2D",) * 4, block_out_channels=(32, 32, 32, 32),
                        layers_per_block=1, latent_channels=4, norm_num_groups=32,
                        sample_size=LATENT_H * 8, scaling_factor=SCALING, force_upcast=True).eval()
    for m in (te1, te2, unet, vae):
        quantise_(m, gen)
    used = sorted({i for c in ref["chunks"].values() for ch in c["ids"] + c["ids2"] for i in ch})
    with torch.no_grad():
        for te in (te1, te2):
            emb = getattr(te, "text_model", te).embeddings.token_embedding.weight
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
                     prediction_type="epsilon", steps_offset=1, timestep_spacing="linspace")
    sched = EulerDiscreteScheduler(**sched_cfg)
    pipe = StableDiffusionXLPipeline(vae=vae, text_encoder=te1, text_encoder_2=te2, tokenizer=fast1, tokenizer_2=fast2,
                                     unet=unet, scheduler=sched, force_zeros_for_empty_prompt=True)
    dpath = os.path.join(out, "diffusers")
    pipe.to(torch.float16).save_pretrained(dpath, safe_serialization=True)
    pipe.to(torch.float32)
    for d in ("tokenizer", "tokenizer_2"):
        shutil.rmtree(os.path.join(dpath, d))
    # Published SDXL folders keep the `text_model.` level (transformers 5 drops it when saving).
    te1_sd = {("text_model." + k if not k.startswith(("text_model.", "text_projection")) else k): v
              for k, v in te1.state_dict().items()}
    te2_sd = {("text_model." + k if not k.startswith(("text_model.", "text_projection")) else k): v
              for k, v in te2.state_dict().items()}
    te1_sd = {k: v for k, v in te1_sd.items() if not k.endswith("position_ids")}
    te2_sd = {k: v for k, v in te2_sd.items() if not k.endswith("position_ids")}
    save_file({k: v.half().contiguous() for k, v in te1_sd.items()}, os.path.join(dpath, "text_encoder", "model.safetensors"))
    save_file({k: v.half().contiguous() for k, v in te2_sd.items()}, os.path.join(dpath, "text_encoder_2", "model.safetensors"))

    single = {}
    for k, v in unet.state_dict().items():
        single["model.diffusion_model." + sdxl_unet_to_ldm(k)] = v.half()
    for k, v in vae.state_dict().items():
        nk = vae_to_ldm(k, 4)
        if ".mid.attn_1." in nk and nk.endswith(".weight") and v.dim() == 2:
            v = v[:, :, None, None]
        single["first_stage_model." + nk] = v.float()
    for k, v in te1_sd.items():
        single["conditioner.embedders.0.transformer." + k] = v.to(torch.bfloat16)
    single["conditioner.embedders.0.transformer.text_model.embeddings.position_ids"] = torch.arange(77, dtype=torch.int64)[None]
    for k, v in openclip_names(te2_sd, 16).items():
        single["conditioner.embedders.1." + k] = v.to(torch.bfloat16)
    single["denoiser.sigmas"] = ((1 - sched.alphas_cumprod) / sched.alphas_cumprod).sqrt().float()
    single = {k: v.contiguous() for k, v in single.items()}
    save_file(single, os.path.join(out, "tiny-sdxl.safetensors"), metadata={"format": "pt"})

    # Our mapping must agree with diffusers' own single-file loader.
    try:
        from diffusers.loaders.single_file_utils import convert_ldm_unet_checkpoint, convert_open_clip_checkpoint  # noqa
        back = convert_ldm_unet_checkpoint(dict(single), dict(unet.config))
        for k, v in unet.state_dict().items():
            assert torch.equal(back[k].float(), v), k
        print("SDXL UNet LDM mapping checked against diffusers' convert_ldm_unet_checkpoint")
    except (ImportError, TypeError, KeyError) as e:
        print("could not cross-check the UNet mapping with diffusers:", repr(e))
    try:
        from diffusers.loaders.single_file_utils import convert_open_clip_checkpoint
        back = convert_open_clip_checkpoint(te2, dict(single), prefix="conditioner.embedders.1.model.")
        for k, v in te2_sd.items():
            assert torch.equal(back[k].float(), v.float()), k
        print("OpenCLIP mapping checked against diffusers' convert_open_clip_checkpoint")
    except (ImportError, TypeError, KeyError, AttributeError) as e:
        print("could not cross-check the OpenCLIP mapping with diffusers:", repr(e))

    # Architecture-detection fixtures: right names, tiny shapes.
    refiner = {"conditioner.embedders.0.model.ln_final.weight": torch.ones(32),
               "conditioner.embedders.0.model.token_embedding.weight": torch.zeros(8, 32),
               "model.diffusion_model.input_blocks.0.0.weight": torch.zeros(16, 4, 3, 3),
               "model.diffusion_model.label_emb.0.0.weight": torch.zeros(16, 8 * 5 + 32),
               "first_stage_model.post_quant_conv.weight": torch.zeros(4, 4, 1, 1)}
    save_file(refiner, os.path.join(out, "tiny-sdxl-refiner.safetensors"))
    mmdit = {"model.diffusion_model.joint_blocks.0.x_block.attn.qkv.weight": torch.zeros(6, 2),
             "model.diffusion_model.x_embedder.proj.weight": torch.zeros(2, 16, 2, 2)}
    save_file(mmdit, os.path.join(out, "tiny-sd3-like.safetensors"))

    # --- reference tensors ------------------------------------------------------------------------
    tensors = {}

    def hidden(te, ids):
        with torch.no_grad():
            o = te(torch.tensor([ids]), output_hidden_states=True)
        return o.hidden_states[-2][0], o

    for name, case in ref["chunks"].items():
        parts = []
        for te, key in ((te1, "ids"), (te2, "ids2")):
            zs = []
            for ids, mult in zip(case[key], case["multipliers"]):
                z, _ = hidden(te, ids)
                original = z.mean()
                z = z * torch.tensor(mult)[:, None]
                z = z * (original / z.mean())
                zs.append(z)
            parts.append(torch.cat(zs, 0))
        tensors[f"cond.{name}.te1"] = parts[0]
        tensors[f"cond.{name}.te2"] = parts[1]
        tensors[f"cond.{name}"] = torch.cat(parts, 1)
        _, o = hidden(te2, case["ids2"][0])
        tensors[f"pooled.{name}"] = o.text_embeds[0]

    # diffusers' own prompt encoding must equal ours for plain prompts
    with torch.no_grad():
        pe, npe, ppe, nppe = pipe.encode_prompt("a photograph of an astronaut riding a horse", device="cpu",
                                                num_images_per_prompt=1, do_classifier_free_guidance=True,
                                                negative_prompt="blurry, lowres")
    assert torch.allclose(pe[0], tensors["cond.simple"], atol=1e-6)
    assert torch.allclose(npe[0], tensors["cond.negative"], atol=1e-6)
    assert torch.allclose(ppe[0], tensors["pooled.simple"], atol=1e-6)

    ctx = torch.stack([tensors["cond.negative"], tensors["cond.simple"]])
    pooled = torch.stack([tensors["pooled.negative"], tensors["pooled.simple"]])
    time_ids = torch.tensor([[LATENT_H * 8, LATENT_W * 8, 0, 0, LATENT_H * 8, LATENT_W * 8]] * 2, dtype=torch.float32)
    x = torch.randn((2, 4, LATENT_H, LATENT_W), generator=gen)
    with torch.no_grad():
        eps = unet(x, torch.tensor(537.25), encoder_hidden_states=ctx,
                   added_cond_kwargs={"text_embeds": pooled, "time_ids": time_ids}).sample
    tensors["unet.x"], tensors["unet.context"], tensors["unet.pooled"], tensors["unet.out"] = x, ctx, pooled, eps
    tensors["unet.time_ids"] = time_ids
    ref["unet_timestep"] = 537.25

    z = torch.randn((1, 4, LATENT_H, LATENT_W), generator=gen)
    with torch.no_grad():
        img = vae.decode(z / SCALING).sample
    tensors["vae.latent"], tensors["vae.out"] = z[0], img[0]

    # --- whole pipeline: 2-step Euler, epsilon and v-prediction with zero-terminal-SNR -------------
    prompt, negative, cfg = "a photograph of an astronaut riding a horse", "blurry, lowres", 5.0
    ref["pipeline"] = {"prompt": prompt, "negative": negative, "steps": 2, "cfg": cfg, "seed": SEED + 2,
                       "height": LATENT_H * 8, "width": LATENT_W * 8}
    for tag, extra in (("eps", {}), ("vpred", {"prediction_type": "v_prediction", "rescale_betas_zero_snr": True})):
        cfg_s = dict(sched_cfg, **extra)
        pipe.scheduler = EulerDiscreteScheduler(**cfg_s)
        g = torch.Generator().manual_seed(SEED + 2)
        res = pipe(prompt, negative_prompt=negative, num_inference_steps=2, guidance_scale=cfg,
                   height=LATENT_H * 8, width=LATENT_W * 8, generator=g, output_type="latent")
        lat = res.images
        with torch.no_grad():
            im = vae.decode(lat / SCALING).sample
        tensors[f"pipeline.{tag}.latent"] = lat[0]
        tensors[f"pipeline.{tag}.image"] = (im[0] / 2 + 0.5).clamp(0, 1)
        ref["pipeline"][f"{tag}_sigmas"] = [float(s) for s in pipe.scheduler.sigmas]
        ref["pipeline"][f"{tag}_timesteps"] = [float(t) for t in pipe.scheduler.timesteps]

    # --- a latent not divisible by 2^levels (image sizes in multiples of 8, 9x7 latent): diffusers
    # forwards each skip's size to the upsamplers (`upsample_size`), nearest interpolation to it ---
    g = torch.Generator().manual_seed(SEED + 3)
    odd_h, odd_w = 7, 9
    x_odd = torch.randn((2, 4, odd_h, odd_w), generator=g)
    ids_odd = torch.tensor([[odd_h * 8, odd_w * 8, 0, 0, odd_h * 8, odd_w * 8]] * 2, dtype=torch.float32)
    with torch.no_grad():
        eps_odd = unet(x_odd, torch.tensor(537.25), encoder_hidden_states=ctx,
                       added_cond_kwargs={"text_embeds": pooled, "time_ids": ids_odd}).sample
    tensors["unet_odd.x"], tensors["unet_odd.time_ids"], tensors["unet_odd.out"] = x_odd, ids_odd, eps_odd

    ref["configs"] = {"te1": te1_cfg.to_diff_dict(), "te2": te2_cfg.to_diff_dict(), "unet": dict(unet.config),
                      "vae": dict(vae.config)}
    for c in ref["configs"].values():  # diffusers lists these from a set: sorted, the file is reproducible
        if isinstance(c.get("_use_default_values"), list):
            c["_use_default_values"] = sorted(c["_use_default_values"])
    save_file({k: v.float().contiguous() for k, v in tensors.items()}, os.path.join(out, "reference.safetensors"))
    with open(os.path.join(out, "reference.json"), "w") as f:
        json.dump(ref, f, indent=None, separators=(",", ":"), default=str)
    total = sum(os.path.getsize(os.path.join(r, fn)) for r, _, fs in os.walk(out) for fn in fs)
    print(f"wrote {out} ({total / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
