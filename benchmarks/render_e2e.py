#!/usr/bin/env python3
"""End-to-end render time: compose -> merge 3 LoRAs -> sample -> decode -> PNG, 512x512.

Not run by CI. Needs a release build of `stylus` and the CLIP vocabulary (scripts/setup). Two
configurations per checkpoint: 20 steps Euler at CFG 7, and 4 steps LCM at CFG 1 (one UNet
evaluation per step). Each render is one `stylus render --compose --json` process (cold: the
checkpoint load is included and reported apart); the composer picks the 3 LoRAs from a small catalog
whose adapters point at the LoRA files.

    /work/venv/bin/python benchmarks/render_e2e.py tiny    # Tests/Fixtures/TinySD + Tests/Fixtures/LoRA
    /work/venv/bin/python benchmarks/render_e2e.py full    # random full-size SD 1.5 + three rank-32 LoRAs
        [--ckpt /tmp/stylus-bench/sd15-random.safetensors] [--loras /tmp/stylus-bench/loras] [--only euler|lcm]

`full` expects the files of `benchmarks/render_bench.py gen` and `benchmarks/lora_bench.py gen`
(it runs them when missing). Prints one JSON object per render and a table of seconds per stage.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXE = os.environ.get("STYLUS_BIN", os.path.join(ROOT, ".build", "release", "stylus"))
PROMPT = "a castle at night under moonlight, watercolor"
# Three adapters the composer matches to the prompt's topics (castle, moonlight, watercolor).
CARDS = [
    ("castle_v1", "Medieval Castle", ["building", "castle", "architecture"], "Stone castles with towers and walls.", 0.7),
    ("moonlight_v2", "Moonlight", ["lighting", "moonlight", "night"], "Cold moonlight at night.", 0.6),
    ("watercolor_v3", "Watercolor Style", ["style", "watercolor", "painting"], "A soft watercolor painting style.", 0.8),
]
CONFIGS = {"euler": dict(sampler="Euler", steps=20, cfg=7), "lcm": dict(sampler="LCM", steps=4, cfg=1)}


def catalog(work, files):
    jsonl = os.path.join(work, "catalog.jsonl")
    with open(jsonl, "w") as f:
        for (alias, title, tags, desc, w), path in zip(CARDS, files):
            f.write(json.dumps({"adapter_id": alias, "alias": alias, "title": title, "base_model": "SD 1.5", "type": "LORA",
                                "tags": tags, "description": desc, "weight": w, "file": path}) + "\n")
    db = os.path.join(work, "catalog.sqlite")
    subprocess.run([EXE, "catalog", "import", "--db", db, jsonl], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return db


def render(work, db, ckpt, name, sampler, steps, cfg):
    path = os.path.join(work, f"{name}.sdprompt")
    with open(path, "w") as f:
        f.write(f"---\ncheckpoint: {ckpt}\nsteps: {steps}\ncfg: {cfg}\nsampler: {sampler}\nseed: 1\nsize: 512x512\n"
                f"base_model: SD 1.5\n---\n{PROMPT}\n")
    started = time.monotonic()
    r = subprocess.run([EXE, "render", "--compose", "--db", db, "--json", path], capture_output=True, text=True)
    wall = time.monotonic() - started
    if r.returncode != 0:
        sys.exit(f"stylus render failed: {r.stderr.strip()}")
    out = json.loads(r.stdout.strip().splitlines()[-1])
    out["wall_s"] = wall
    out["config"] = name
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model", choices=["tiny", "full"])
    ap.add_argument("--ckpt", default="/tmp/stylus-bench/sd15-random.safetensors")
    ap.add_argument("--loras", default="/tmp/stylus-bench/loras")
    ap.add_argument("--only", choices=list(CONFIGS))
    args = ap.parse_args()
    if args.model == "tiny":
        ckpt = os.path.join(ROOT, "Tests/Fixtures/TinySD/tiny-sd15.safetensors")
        files = [os.path.join(ROOT, "Tests/Fixtures/LoRA", f"{n}.safetensors") for n in ("locon_ldm", "peft", "kohya")]
    else:
        ckpt = args.ckpt
        if not os.path.exists(ckpt):
            subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks/render_bench.py"), "gen", "--dir", os.path.dirname(ckpt)], check=True)
        files = [os.path.join(args.loras, f"bench_{n}.safetensors") for n in "abc"]
        if not all(map(os.path.exists, files)):
            subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks/lora_bench.py"), "gen", "--ckpt", ckpt, "--out", args.loras], check=True)
    work = tempfile.mkdtemp(prefix="stylus-render-e2e-")
    db = catalog(work, files)
    rows = []
    for name, c in CONFIGS.items():
        if args.only and name != args.only:
            continue
        out = render(work, db, ckpt, name, **c)
        assert len(out["adapters"]) == 3, f"the composer picked {out['adapters']}"
        print(json.dumps(out), flush=True)
        rows.append(out)
    stages = ["compose", "load", "hash", "merge", "encode", "sample", "decode", "write"]
    print(f"\n{args.model} 512x512, 3 composed LoRAs (seconds)")
    print("config  " + "  ".join(f"{s:>8}" for s in stages + ["total"]) + "  per-step")
    for r in rows:
        t = r["timings_s"]
        steps = CONFIGS[r["config"]]["steps"]
        print(f"{r['config']:<7} " + "  ".join(f"{t.get(s, 0):8.3f}" for s in stages) + f"  {r['wall_s']:8.2f}  {t['sample'] / steps:8.3f}")


if __name__ == "__main__":
    main()
