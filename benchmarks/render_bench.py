#!/usr/bin/env python3
"""Swift renderer vs diffusers (PyTorch CPU) on a full-size SD 1.5 architecture with random weights.

Not run by CI. Needs /work/venv (torch CPU, diffusers, transformers) and a release build of `stylus`.

    /work/venv/bin/python benchmarks/render_bench.py gen   [--dir DIR]   # ~2 GB fp16 checkpoint + diffusers folder
    /work/venv/bin/python benchmarks/render_bench.py run   [--dir DIR] [--threads N] [--repeat N]
    OPENBLAS_CORETYPE=SkylakeX /work/venv/bin/python benchmarks/render_bench.py peak [--threads N]   # sgemm GFLOP/s
    /work/venv/bin/python benchmarks/render_bench.py bf16  [--dir DIR] [--repeat N] [--render] [--loras DIR]

`bf16` (CPUs with AVX512-BF16 or AMX): one run of diffusers under bf16 autocast, Swift bf16 and
Swift fp32 (each its own process), printing the host's CPU model and bf16 flags, the path Swift
dispatched to, UNet/VAE times, peak RSS and the ratios. With `--render`, also two 20-step 512²
renders of the same prompt and seed through `stylus render` (fp32, bf16) and their PSNR, and, with
`--loras DIR` (benchmarks/lora_bench.py gen), a bf16 render with three LoRAs, timed end to end.

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
import shutil
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


def torch_side(d, threads, repeat, bf16=False):
    """diffusers in fp32, or with `torch.autocast("cpu", dtype=torch.bfloat16)` (what a diffusers
    user turns on for bf16 hardware)."""
    import contextlib
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
    autocast = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
    with torch.no_grad(), autocast:
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


def host():
    """The CPU model and the flags that decide the bf16 path."""
    model, flags = "unknown", set()
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name") and model == "unknown":
                model = line.split(":", 1)[1].strip()
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
    wanted = ["avx512f", "avx512_bf16", "amx_bf16", "amx_tile", "avx512_vnni"]
    return {"cpu": model, "cores": os.cpu_count(), "flags": [f for f in wanted if f in flags], "load_avg": os.getloadavg()}


def swift_bench(d, repeat, precision, threads):
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(threads))
    return json.loads(subprocess.run([os.path.join(ROOT, ".build", "release", "stylus"), "render", "--benchmark",
                                      "--checkpoint", os.path.join(d, "sd15-random.safetensors"),
                                      "--steps", str(repeat), "--precision", precision],
                                     check=True, capture_output=True, text=True, env=env).stdout)


def psnr(a, b):
    import numpy as np
    from PIL import Image
    x = np.asarray(Image.open(a).convert("RGB"), dtype=np.float64)
    y = np.asarray(Image.open(b).convert("RGB"), dtype=np.float64)
    mse = float(((x - y) ** 2).mean())
    return float("inf") if mse == 0 else 10 * np.log10(255 ** 2 / mse)


def render(d, out, precision, loras=None, steps=20):
    """One `stylus render` of a 512² prompt file; returns (PNG path, wall seconds, the JSON line)."""
    os.makedirs(out, exist_ok=True)
    tags = "".join(f" <lora:{n}:0.8>" for n in sorted(os.path.splitext(f)[0] for f in os.listdir(loras))) if loras else ""
    prompt = os.path.join(out, f"bench-{precision}{'-loras' if loras else ''}.sdprompt")
    with open(prompt, "w") as f:
        f.write(f"---\ncheckpoint: {os.path.join(d, 'sd15-random.safetensors')}\nsteps: {steps}\nsize: 512x512\nseed: 42\n"
                f"sampler: Euler\nprecision: {precision}\n---\na lighthouse on a cliff at dusk, oil painting{tags}\n")
    args = [os.path.join(ROOT, ".build", "release", "stylus"), "render", "--json", prompt]
    if loras:
        args[3:3] = ["--lora-dir", loras]
    t = time.time()
    line = subprocess.run(args, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
    wall = time.time() - t
    result = json.loads(line)
    return result["path"], wall, result


def bf16_report(d, threads, repeat, with_render, loras):
    torch_bf16 = json.loads(subprocess.run([sys.executable, __file__, "torch-bf16", "--dir", d, "--threads", str(threads),
                                            "--repeat", str(repeat)], check=True, capture_output=True, text=True).stdout)
    swift_bf16 = swift_bench(d, repeat, "bf16", threads)
    swift_fp32 = swift_bench(d, repeat, "fp32", threads)
    unet = lambda r: min(r["unet_eval_s"])
    report = {
        "host": host(), "swift_bf16_path": swift_bf16.get("bf16_path"), "threads": threads,
        "swift_bf16": swift_bf16, "swift_fp32": swift_fp32, "torch_bf16_autocast": torch_bf16,
        "ratios": {
            "unet_bf16_vs_torch_bf16": unet(swift_bf16) / unet(torch_bf16),
            "unet_bf16_vs_swift_fp32": unet(swift_bf16) / unet(swift_fp32),
            "vae_bf16_vs_torch_bf16": swift_bf16["vae_decode_s"] / torch_bf16["vae_decode_s"],
            "vae_bf16_vs_swift_fp32": swift_bf16["vae_decode_s"] / swift_fp32["vae_decode_s"],
            "peak_rss_bf16_vs_fp32": swift_bf16["peak_rss_mb"] / swift_fp32["peak_rss_mb"],
        },
    }
    if with_render:
        out = os.path.join(d, "renders")
        shutil.rmtree(out, ignore_errors=True)
        fp32_png, fp32_wall, _ = render(d, out, "fp32")
        bf16_png, bf16_wall, _ = render(d, out, "bf16")
        report["render_20_steps_512"] = {"fp32_wall_s": fp32_wall, "bf16_wall_s": bf16_wall,
                                         "psnr_bf16_vs_fp32_db": psnr(bf16_png, fp32_png)}
        if loras:
            png, wall, result = render(d, out, "bf16", loras=loras)
            report["render_20_steps_512_three_loras_bf16"] = {"wall_s": wall, "timings_s": result.get("timings_s"),
                                                              "adapters": [a["name"] for a in result.get("adapters", [])]}
    report["host"]["load_avg_after"] = os.getloadavg()
    print(json.dumps(report, indent=1))


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
    ap.add_argument("mode", choices=["gen", "run", "torch", "torch-bf16", "peak", "bf16"])
    ap.add_argument("--render", action="store_true", help="bf16: also 20-step 512² renders, fp32 vs bf16")
    ap.add_argument("--loras", help="bf16 --render: a folder of three LoRAs for a bf16 render with them")
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
    if a.mode == "torch-bf16":
        return print(json.dumps(torch_side(a.dir, a.threads, a.repeat, bf16=True)))
    if a.mode == "bf16":
        return bf16_report(a.dir, a.threads, a.repeat, a.render, a.loras)
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
