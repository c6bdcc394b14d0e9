#!/usr/bin/env python3
"""Swift renderer vs diffusers (PyTorch CPU) on a full-size SD 1.5 architecture with random weights.

Not run by CI. Needs /work/venv (torch CPU, diffusers, transformers) and a release build of `stylus`.

    /work/venv/bin/python benchmarks/render_bench.py gen   [--dir DIR]   # ~2 GB fp16 checkpoint + diffusers folder
    /work/venv/bin/python benchmarks/render_bench.py run   [--dir DIR] [--threads N] [--repeat N]
    OPENBLAS_CORETYPE=SkylakeX /work/venv/bin/python benchmarks/render_bench.py peak [--threads N]   # sgemm GFLOP/s

`gen` writes DIR/sd15-random.safetensors (LDM single file, fp16, our key mapping) and DIR/diffusers
(fp32 diffusers folder); nothing is committed. `run` measures, each side in its own process so peak
RSS is comparable: one UNet evaluation at a 64x64 latent with batch 2 (CFG), one VAE decode at
512x512, and the process's peak RSS; then prints the ratios as one JSON object.

Per-op breakdown of the Swift side (wall and CPU seconds by op kind and shape, on stderr):
    STYLUS_PROFILE=1 OPENBLAS_CORETYPE=SkylakeX .build/release/stylus render --benchmark --checkpoint DIR/sd15-random.safetensors --steps 1
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
DEFAULT_DIR = os.path.join(os.environ.get("STYLUS_HOME") or os.path.expanduser("~/.local/share/stylus"), "bench")


def gen(d):
    import torch
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from safetensors.torch import save_file
    from transformers import CLIPTextConfig, CLIPTextModel
    sys.path.insert(0, os.path.join(ROOT, "scripts"))
    from gen_tiny_sd_fixture import to_ldm

    torch.manual_seed(0)
    os.makedirs(d, exist_ok=True)
    te = CLIPTextModel(CLIPTextConfig(vocab_size=49408, hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
                                      num_attention_heads=12, max_position_embeddings=77, hidden_act="quick_gelu",
                                      bos_token_id=49406, eos_token_id=49407, pad_token_id=49407)).eval()
    unet = UNet2DConditionModel(sample_size=64, cross_attention_dim=768, attention_head_dim=8,
                                block_out_channels=(320, 640, 1280, 1280)).eval()
    vae = AutoencoderKL(down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
                        block_out_channels=(128, 256, 512, 512), layers_per_block=2, latent_channels=4,
                        sample_size=512).eval()
    with torch.no_grad():  # keep activations finite with random weights
        for m in (te, unet, vae):
            for p in m.parameters():
                p.mul_(0.5)
    unet.save_pretrained(os.path.join(d, "diffusers", "unet"))
    vae.save_pretrained(os.path.join(d, "diffusers", "vae"))
    te_sd = {"text_model." + k: v for k, v in te.state_dict().items()}
    os.makedirs(os.path.join(d, "diffusers", "text_encoder"), exist_ok=True)
    te.config.to_json_file(os.path.join(d, "diffusers", "text_encoder", "config.json"))
    save_file({k: v.contiguous() for k, v in te_sd.items()}, os.path.join(d, "diffusers", "text_encoder", "model.safetensors"))
    ldm = to_ldm({k: v.half() for k, v in te_sd.items()}, {k: v.half() for k, v in unet.state_dict().items()},
                 {k: v.half() for k, v in vae.state_dict().items()}, vae_levels=4)
    save_file({k: v.contiguous() for k, v in ldm.items()}, os.path.join(d, "sd15-random.safetensors"))
    print("wrote", d)


def torch_side(d, threads, repeat):
    import torch
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextModel
    torch.set_num_threads(threads)
    t0 = time.time()
    te = CLIPTextModel.from_pretrained(os.path.join(d, "diffusers", "text_encoder")).eval()
    unet = UNet2DConditionModel.from_pretrained(os.path.join(d, "diffusers", "unet")).eval()
    vae = AutoencoderKL.from_pretrained(os.path.join(d, "diffusers", "vae")).eval()
    load = time.time() - t0
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        ctx = te(torch.full((2, 77), 49407)).last_hidden_state
        x = torch.randn((2, 4, 64, 64), generator=g)
        unet_times, unet_cpu = [], []
        for _ in range(repeat):
            t, c = time.time(), cpu()
            unet(x, torch.tensor(500.0), encoder_hidden_states=ctx)
            unet_times.append(time.time() - t)
            unet_cpu.append(cpu() - c)
        t, c = time.time(), cpu()
        vae.decode(torch.randn((1, 4, 64, 64), generator=g) / 0.18215)
        vae_time, vae_cpu = time.time() - t, cpu() - c
    return {"load_s": load, "unet_eval_s": unet_times, "vae_decode_s": vae_time, "unet_cpu_s": unet_cpu, "vae_cpu_s": vae_cpu,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def cpu():
    """CPU seconds (user + system) of this process: robust when other programs share the cores."""
    u = resource.getrusage(resource.RUSAGE_SELF)
    return u.ru_utime + u.ru_stime


def sgemm_peak(threads, n=2048, repeat=5):
    """Sustained GFLOP/s of the system OpenBLAS sgemm (the library Stylus links) on n³ products,
    with `threads` threads; best of `repeat`. Run with OPENBLAS_CORETYPE set like the Swift side."""
    import ctypes
    import numpy as np
    lib = ctypes.CDLL("libopenblas.so.0")
    lib.openblas_set_num_threads(threads)
    lib.openblas_get_corename.restype = ctypes.c_char_p
    a, b = np.random.rand(n, n).astype(np.float32), np.random.rand(n, n).astype(np.float32)
    c = np.zeros((n, n), np.float32)
    p = lambda x: x.ctypes.data_as(ctypes.POINTER(ctypes.c_float))
    best = float("inf")
    for _ in range(repeat):
        t = time.time()
        lib.cblas_sgemm(101, 111, 111, n, n, n, ctypes.c_float(1), p(a), n, p(b), n, ctypes.c_float(0), p(c), n)
        best = min(best, time.time() - t)
    return {"core": lib.openblas_get_corename().decode(), "threads": threads, "n": n, "gflops": 2 * n ** 3 / best / 1e9}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["gen", "run", "torch", "peak"])
    ap.add_argument("--dir", default=DEFAULT_DIR)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--repeat", type=int, default=2)
    a = ap.parse_args()
    if a.mode == "gen":
        return gen(a.dir)
    if a.mode == "peak":
        return print(json.dumps([sgemm_peak(t) for t in sorted({1, a.threads})]))
    if a.mode == "torch":
        return print(json.dumps(torch_side(a.dir, a.threads, a.repeat)))
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(a.threads))
    torch_out = json.loads(subprocess.run([sys.executable, __file__, "torch", "--dir", a.dir, "--threads", str(a.threads),
                                           "--repeat", str(a.repeat)], check=True, capture_output=True, text=True).stdout)
    swift_out = json.loads(subprocess.run([os.path.join(ROOT, ".build", "release", "stylus"), "render", "--benchmark",
                                           "--checkpoint", os.path.join(a.dir, "sd15-random.safetensors"),
                                           "--steps", str(a.repeat)],
                                          check=True, capture_output=True, text=True, env=env).stdout)
    ratio = {
        "unet_time_ratio": min(swift_out["unet_eval_s"]) / min(torch_out["unet_eval_s"]),
        "vae_time_ratio": swift_out["vae_decode_s"] / torch_out["vae_decode_s"],
        "peak_rss_ratio": swift_out["peak_rss_mb"] / torch_out["peak_rss_mb"],
        "unet_cpu_ratio": min(swift_out["unet_cpu_s"]) / min(torch_out["unet_cpu_s"]),
        "vae_cpu_ratio": swift_out["vae_cpu_s"] / torch_out["vae_cpu_s"],
        "swift_unet_gflops": 2 * 803e9 / min(swift_out["unet_eval_s"]) / 1e9,  # 803 GMAC per UNet evaluation, batch 2
        "swift_vae_gflops": 2 * 1.26e12 / swift_out["vae_decode_s"] / 1e9,  # 1.26 TMAC at 512²
        "torch_unet_gflops": 2 * 803e9 / min(torch_out["unet_eval_s"]) / 1e9,
    }
    print(json.dumps({"threads": a.threads, "swift": swift_out, "torch": torch_out, "ratios": ratio}, indent=1))


if __name__ == "__main__":
    main()
