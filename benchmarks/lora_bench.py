#!/usr/bin/env python3
"""LoRA merge benchmark on the full-size random SD 1.5 checkpoint (benchmarks/render_bench.py gen).

Not run by CI. Needs /work/venv (numpy, safetensors) and a release build of `stylus`.

    /work/venv/bin/python benchmarks/lora_bench.py gen [--ckpt FILE] [--out DIR]   # three rank-32 kohya LoRAs
    /work/venv/bin/python benchmarks/lora_bench.py run [--ckpt FILE] [--out DIR]

`gen` writes DIR/bench_{a,b,c}.safetensors: kohya LoRAs (fp16, alpha 16, rank 32) over every module
kohya targets in SD 1.5 (192 UNet transformer Linear/1x1-conv modules + 72 text-encoder modules =
264 modules, 792 tensors each), names derived from the checkpoint's own LDM keys in diffusers
naming. `run` calls `stylus render --benchmark --lora-dir DIR`, which builds the pipeline, then
times merging the three into its live weights, merging them again, switching to the set without
the first, reverting, and building a second pipeline that shares the weights; prints JSON with wall
and CPU seconds per phase (CPU seconds stay meaningful when other programs share the cores).
"""
import argparse
import json
import os
import struct
import subprocess

import numpy as np
from safetensors.numpy import save_file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_CKPT = "/tmp/stylus-bench/sd15-random.safetensors"
U, T = "model.diffusion_model.", "cond_stage_model.transformer."


def header(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        return json.loads(f.read(n))


def ldm_attention_to_diffusers(name):
    """input_blocks.N.1.rest / middle_block.1.rest / output_blocks.N.1.rest → diffusers."""
    p = name.split(".")
    if p[0] == "middle_block":
        return "mid_block.attentions.0." + ".".join(p[2:])
    n = int(p[1])
    if p[0] == "input_blocks":
        return f"down_blocks.{(n - 1) // 3}.attentions.{(n - 1) % 3}." + ".".join(p[3:])
    return f"up_blocks.{n // 3}.attentions.{n % 3}." + ".".join(p[3:])


def gen(ckpt, out, seed):
    rng = np.random.default_rng(seed)
    h = header(ckpt)
    t = {}
    for key, info in sorted(h.items()):
        if key == "__metadata__" or not key.endswith(".weight"):
            continue
        shape = info["shape"]
        if key.startswith(U) and ".1." in key and ("transformer_blocks" in key or "proj_in" in key or "proj_out" in key):
            rest = key[len(U):-len(".weight")]
            p = rest.split(".")
            attention = (p[0] == "middle_block" and p[1] == "1") or (p[0] in ("input_blocks", "output_blocks") and p[2] == "1")
            if not attention or "norm" in p[-1]:
                continue
            name = "lora_unet_" + ldm_attention_to_diffusers(rest).replace(".", "_")
        elif key.startswith(T) and ("self_attn" in key or ".mlp." in key) and "layer_norm" not in key:
            name = "lora_te_" + key[len(T):-len(".weight")].replace(".", "_")
        else:
            continue
        o, i = shape[0], int(np.prod(shape[1:]))
        extra = [1, 1] if len(shape) == 4 else []
        t[name + ".lora_down.weight"] = (rng.standard_normal((32, i, *extra)) * 0.02).astype(np.float16)
        t[name + ".lora_up.weight"] = (rng.standard_normal((o, 32, *extra)) * 0.02).astype(np.float16)
        t[name + ".alpha"] = np.array(16.0, dtype=np.float16)
    return t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("cmd", choices=["gen", "run"])
    ap.add_argument("--ckpt", default=DEFAULT_CKPT)
    ap.add_argument("--out", default="/tmp/stylus-bench/loras")
    args = ap.parse_args()
    if args.cmd == "gen":
        os.makedirs(args.out, exist_ok=True)
        for seed, n in enumerate("abc"):
            t = gen(args.ckpt, args.out, seed)
            modules = len(t) // 3
            save_file(t, os.path.join(args.out, f"bench_{n}.safetensors"))
            print(f"bench_{n}: {modules} modules, {len(t)} tensors")
    else:
        exe = os.path.join(ROOT, ".build/release/stylus")
        r = subprocess.run([exe, "render", "--benchmark", "--checkpoint", args.ckpt, "--lora-dir", args.out],
                           capture_output=True, text=True, check=True)
        print(r.stdout.strip())


if __name__ == "__main__":
    main()
