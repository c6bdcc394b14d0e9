#!/usr/bin/env python3
"""diffusers' bf16-autocast outputs on the tiny SD 1.x and SDXL fixtures (reference-bf16.safetensors in
Tests/Fixtures/TinySD and Tests/Fixtures/TinySDXL).

Not run by CI. Needs /work/venv (torch CPU, diffusers, transformers) and the CLIP BPE vocab
installed by scripts/setup; reads the committed fixture, so it never changes the other references:

    /work/venv/bin/python scripts/gen_tiny_sd_bf16_reference.py

It runs what a diffusers user runs on a CPU with bf16 hardware, `torch.autocast("cpu",
dtype=torch.bfloat16)` around the same calls gen_tiny_sd_fixture.py makes in fp32:
- unet.out:       one UNet evaluation on reference.safetensors' unet.x / unet.context at t = 537.25
- vae.out:        the VAE decoder on vae.latent
- pipeline.image: StableDiffusionPipeline, Euler, 4 steps, CFG 7.5, seed 1236, 128x64
and for TinySDXL, unet.out: one SDXL UNet evaluation on its reference unet.* inputs at t = 537.25.
The fixtures' weights are k * 2^e with |k| <= 63, so bf16 holds them exactly: the differences from
the fp32 references are bf16 rounding of activations only. Each is also stored in fp32 from this
same torch, as *.fp32, so a test can tell the size of bf16's own effect.
"""
import argparse
import contextlib
import os
import sys

import torch
from diffusers import AutoencoderKL, EulerDiscreteScheduler, StableDiffusionPipeline, UNet2DConditionModel
from safetensors.torch import load_file, save_file
from transformers import CLIPTextModel, CLIPTokenizer

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from gen_tiny_sd_fixture import VOCAB_PATH, ClipBPE  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--fixture", default=os.path.join(os.path.dirname(HERE), "Tests", "Fixtures", "TinySD"))
    ap.add_argument("--sdxl-fixture", default=os.path.join(os.path.dirname(HERE), "Tests", "Fixtures", "TinySDXL"))
    a = ap.parse_args()
    folder = os.path.join(a.fixture, "diffusers")
    torch.set_num_threads(2)
    unet = UNet2DConditionModel.from_pretrained(os.path.join(folder, "unet")).float().eval()
    vae = AutoencoderKL.from_pretrained(os.path.join(folder, "vae")).float().eval()
    te = CLIPTextModel.from_pretrained(os.path.join(folder, "text_encoder")).float().eval()
    bpe = ClipBPE(VOCAB_PATH)
    tokenizer = CLIPTokenizer(vocab={t: i for i, t in enumerate(bpe.vocab)}, merges=list(bpe.merges), model_max_length=77)
    sched = EulerDiscreteScheduler.from_pretrained(os.path.join(folder, "scheduler"), timestep_spacing="linspace")
    pipe = StableDiffusionPipeline(vae=vae, text_encoder=te, tokenizer=tokenizer, unet=unet, scheduler=sched,
                                   safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    ref = load_file(os.path.join(a.fixture, "reference.safetensors"))
    out = {}
    for suffix, bf16 in (("", True), (".fp32", False)):
        ctx = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
        with torch.no_grad(), ctx:
            out["unet.out" + suffix] = unet(ref["unet.x"], torch.tensor(537.25), encoder_hidden_states=ref["unet.context"]).sample.float()
            out["vae.out" + suffix] = vae.decode(ref["vae.latent"][None] / 0.18215).sample[0].float()
            res = pipe("a photograph of an astronaut riding a horse", negative_prompt="blurry, lowres", num_inference_steps=4,
                       guidance_scale=7.5, height=64, width=128, generator=torch.Generator().manual_seed(1236), output_type="np")
        out["pipeline.image" + suffix] = torch.from_numpy(res.images[0]).permute(2, 0, 1).contiguous().float()
    # How far bf16 autocast moves each output from fp32 (relative RMS), for the record.
    for name in ("unet.out", "vae.out", "pipeline.image"):
        d = out[name] - out[name + ".fp32"]
        print(f"{name}: bf16 vs fp32 relative RMS {float(d.norm() / out[name + '.fp32'].norm()):.4g}")
    save_file({k: v.contiguous() for k, v in out.items()}, os.path.join(a.fixture, "reference-bf16.safetensors"))
    print("wrote", os.path.join(a.fixture, "reference-bf16.safetensors"), "torch", torch.__version__)
    sdxl(a.sdxl_fixture)


def sdxl(fixture):
    unet = UNet2DConditionModel.from_pretrained(os.path.join(fixture, "diffusers", "unet")).float().eval()
    ref = load_file(os.path.join(fixture, "reference.safetensors"))
    added = {"text_embeds": ref["unet.pooled"], "time_ids": ref["unet.time_ids"]}
    out = {}
    for suffix, bf16 in (("", True), (".fp32", False)):
        ctx = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
        with torch.no_grad(), ctx:
            out["unet.out" + suffix] = unet(ref["unet.x"], torch.tensor(537.25), encoder_hidden_states=ref["unet.context"],
                                            added_cond_kwargs=added).sample.float()
    d = out["unet.out"] - out["unet.out.fp32"]
    print(f"SDXL unet.out: bf16 vs fp32 relative RMS {float(d.norm() / out['unet.out.fp32'].norm()):.4g}")
    save_file({k: v.contiguous() for k, v in out.items()}, os.path.join(fixture, "reference-bf16.safetensors"))
    print("wrote", os.path.join(fixture, "reference-bf16.safetensors"))


if __name__ == "__main__":
    main()
