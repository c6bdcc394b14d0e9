#!/usr/bin/env python3
"""Swift renderer vs diffusers (PyTorch CPU) on the full-size SDXL architecture with random weights.

Not run by CI. Needs /work/venv (torch, diffusers, transformers, safetensors) and a release build of
`stylus`. Nothing it writes is committed.

    /work/venv/bin/python benchmarks/sdxl_bench.py gen [--dir DIR] [--small]   # fp16 single file + fp16 diffusers folder
    /work/venv/bin/python benchmarks/sdxl_bench.py run [--dir DIR] [--threads N] [--repeat N] [--small]

`gen` builds SDXL base's architecture (UNet 320/640/1280 with transformer depth 1/2/10, CLIP ViT-L +
OpenCLIP ViT-bigG, the SDXL VAE) with random weights scaled to stay finite, and writes
DIR/sdxl-random.safetensors (single file in the A1111 layout, through the same key mappings as
scripts/gen_tiny_sdxl_fixture.py) and DIR/diffusers (fp16). The full size needs ~10 GB of memory for
each side in fp32 and ~7 GB of disk: run the two sides one after the other (`run` does), never
beside another big job on a 24 GiB machine. `--small` is a smoke test of the script itself (widths /4).

`run` measures each side in its own process so peak RSS is comparable: both text encoders on one
prompt, UNet evaluations at a 128x128 latent with batch 2 (CFG), one VAE decode at 1024x1024, the
process's peak RSS; then the Swift/diffusers ratios and the implied 20-step 1024² image time.
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DEFAULT_DIR = os.path.join(os.environ.get("STYLUS_HOME") or os.path.expanduser("~/.local/share/stylus"), "bench-sdxl")


def configs(small):
    """SDXL base's configs; `small` divides widths and depths by 4 (heads stay 64 wide)."""
    k = 4 if small else 1
    te1 = dict(vocab_size=49408, hidden_size=768 // k, intermediate_size=3072 // k, num_hidden_layers=12 // k,
               num_attention_heads=12 // k, max_position_embeddings=77, hidden_act="quick_gelu",
               bos_token_id=49406, eos_token_id=49407, pad_token_id=1, projection_dim=768 // k)
    te2 = dict(vocab_size=49408, hidden_size=1280 // k, intermediate_size=5120 // k, num_hidden_layers=32 // k,
               num_attention_heads=20 // k, max_position_embeddings=77, hidden_act="gelu",
               bos_token_id=49406, eos_token_id=49407, pad_token_id=1, projection_dim=1280 // k)
    channels = (320, 640, 1280) if not small else (128, 256, 512)
    unet = dict(sample_size=128, in_channels=4, out_channels=4, layers_per_block=2, block_out_channels=channels,
                down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
                up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
                transformer_layers_per_block=(1, 2, 10 // k), attention_head_dim=tuple(c // 64 for c in channels),
                use_linear_projection=True, cross_attention_dim=te1["hidden_size"] + te2["hidden_size"], norm_num_groups=32,
                addition_embed_type="text_time", addition_time_embed_dim=256,
                projection_class_embeddings_input_dim=6 * 256 + te2["projection_dim"])
    vae = dict(down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
               block_out_channels=(128, 256, 512, 512), layers_per_block=2, latent_channels=4, sample_size=1024,
               scaling_factor=0.13025)
    return te1, te2, unet, vae


def gen(d, small):
    import torch
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from safetensors.torch import save_file
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection
    sys.path.insert(0, os.path.join(ROOT, "scripts"))
    from gen_tiny_sd_fixture import vae_to_ldm
    from gen_tiny_sdxl_fixture import openclip_names, sdxl_unet_to_ldm

    torch.manual_seed(0)
    c1, c2, cu, cv = configs(small)
    os.makedirs(os.path.join(d, "diffusers"), exist_ok=True)
    single = {}
    # One model at a time, in fp16, so generation fits beside other work.
    te1 = CLIPTextModel(CLIPTextConfig(**c1)).eval().half()
    te1_sd = {("text_model." + k if not k.startswith("text_model.") else k): v for k, v in te1.state_dict().items()
              if not k.endswith("position_ids")}
    os.makedirs(os.path.join(d, "diffusers", "text_encoder"), exist_ok=True)
    te1.config.to_json_file(os.path.join(d, "diffusers", "text_encoder", "config.json"))
    save_file({k: v.contiguous() for k, v in te1_sd.items()}, os.path.join(d, "diffusers", "text_encoder", "model.safetensors"))
    single.update({"conditioner.embedders.0.transformer." + k: v for k, v in te1_sd.items()})
    del te1
    te2 = CLIPTextModelWithProjection(CLIPTextConfig(**c2)).eval().half()
    te2_sd = {("text_model." + k if not k.startswith(("text_model.", "text_projection")) else k): v
              for k, v in te2.state_dict().items() if not k.endswith("position_ids")}
    os.makedirs(os.path.join(d, "diffusers", "text_encoder_2"), exist_ok=True)
    te2.config.to_json_file(os.path.join(d, "diffusers", "text_encoder_2", "config.json"))
    save_file({k: v.contiguous() for k, v in te2_sd.items()}, os.path.join(d, "diffusers", "text_encoder_2", "model.safetensors"))
    single.update({"conditioner.embedders.1." + k: v for k, v in openclip_names(te2_sd, c2["hidden_size"]).items()})
    del te2
    unet = UNet2DConditionModel(**cu).eval()
    with torch.no_grad():
        for p in unet.parameters():
            p.mul_(0.5)
    unet = unet.half()
    unet.save_pretrained(os.path.join(d, "diffusers", "unet"))
    single.update({"model.diffusion_model." + sdxl_unet_to_ldm(k): v for k, v in unet.state_dict().items()})
    del unet
    vae = AutoencoderKL(**cv).eval().half()
    vae.save_pretrained(os.path.join(d, "diffusers", "vae"))
    for k, v in vae.state_dict().items():
        nk = vae_to_ldm(k, 4)
        if ".mid.attn_1." in nk and nk.endswith(".weight") and v.dim() == 2:
            v = v[:, :, None, None]
        single["first_stage_model." + nk] = v
    del vae
    save_file({k: v.contiguous() for k, v in single.items()}, os.path.join(d, "sdxl-random.safetensors"))
    print("wrote", d)


def cpu():
    u = resource.getrusage(resource.RUSAGE_SELF)
    return u.ru_utime + u.ru_stime


def torch_side(d, threads, repeat, size):
    import torch
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTextModelWithProjection
    torch.set_num_threads(threads)
    t0 = time.time()
    te1 = CLIPTextModel.from_pretrained(os.path.join(d, "diffusers", "text_encoder"), torch_dtype=torch.float32).eval()
    te2 = CLIPTextModelWithProjection.from_pretrained(os.path.join(d, "diffusers", "text_encoder_2"), torch_dtype=torch.float32).eval()
    unet = UNet2DConditionModel.from_pretrained(os.path.join(d, "diffusers", "unet"), torch_dtype=torch.float32).eval()
    vae = AutoencoderKL.from_pretrained(os.path.join(d, "diffusers", "vae"), torch_dtype=torch.float32).eval()
    load = time.time() - t0
    g = torch.Generator().manual_seed(0)
    ids = torch.tensor([[49406, 320, 8853, 539, 550, 18376, 6765, 320, 4558, 49407] + [49407] * 67])
    with torch.no_grad():
        t = time.time()
        a = te1(ids, output_hidden_states=True).hidden_states[-2]
        o = te2(ids, output_hidden_states=True)
        text = time.time() - t
        ctx = torch.cat([a, o.hidden_states[-2]], -1).repeat(2, 1, 1)
        pooled = o.text_embeds.repeat(2, 1)
        tid = torch.tensor([[size, size, 0, 0, size, size]] * 2, dtype=torch.float32)
        x = torch.randn((2, 4, size // 8, size // 8), generator=g)
        unet_times, unet_cpu = [], []
        for _ in range(repeat):
            t, c = time.time(), cpu()
            unet(x, torch.tensor(500.0), encoder_hidden_states=ctx, added_cond_kwargs={"text_embeds": pooled, "time_ids": tid})
            unet_times.append(time.time() - t)
            unet_cpu.append(cpu() - c)
        t, c = time.time(), cpu()
        vae.decode(torch.randn((1, 4, size // 8, size // 8), generator=g) / 0.13025)
        vae_time, vae_cpu = time.time() - t, cpu() - c
    return {"load_s": load, "text_encode_s": text, "unet_eval_s": unet_times, "vae_decode_s": vae_time,
            "unet_cpu_s": unet_cpu, "vae_cpu_s": vae_cpu,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["gen", "run", "torch"])
    ap.add_argument("--dir", default=DEFAULT_DIR)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--small", action="store_true")
    ap.add_argument("--size", type=int, default=1024)
    a = ap.parse_args()
    if a.mode == "gen":
        return gen(a.dir, a.small)
    if a.mode == "torch":
        return print(json.dumps(torch_side(a.dir, a.threads, a.repeat, a.size)))
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(a.threads))
    # One side after the other: never both models in memory at once.
    torch_out = json.loads(subprocess.run([sys.executable, __file__, "torch", "--dir", a.dir, "--threads", str(a.threads),
                                           "--repeat", str(a.repeat), "--size", str(a.size)],
                                          check=True, capture_output=True, text=True).stdout)
    swift_out = json.loads(subprocess.run([os.path.join(ROOT, ".build", "release", "stylus"), "render", "--benchmark",
                                           "--checkpoint", os.path.join(a.dir, "sdxl-random.safetensors"),
                                           "--steps", str(a.repeat), "--size", f"{a.size}x{a.size}"],
                                          check=True, capture_output=True, text=True, env=env).stdout)
    ratio = {
        "unet_time_ratio": min(swift_out["unet_eval_s"]) / min(torch_out["unet_eval_s"]),
        "text_time_ratio": swift_out["text_encode_s"] / torch_out["text_encode_s"],
        "vae_time_ratio": swift_out["vae_decode_s"] / torch_out["vae_decode_s"],
        "peak_rss_ratio": swift_out["peak_rss_mb"] / torch_out["peak_rss_mb"],
        "unet_cpu_ratio": min(swift_out["unet_cpu_s"]) / min(torch_out["unet_cpu_s"]),
    }
    implied = {side: 2 * out["text_encode_s"] + 20 * min(out["unet_eval_s"]) + out["vae_decode_s"]
               for side, out in (("swift", swift_out), ("torch", torch_out))}
    print(json.dumps({"threads": a.threads, "size": a.size, "small": a.small, "swift": swift_out, "torch": torch_out,
                      "ratios": ratio, "implied_20_step_image_s": implied}, indent=1))


if __name__ == "__main__":
    main()
