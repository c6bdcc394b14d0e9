#!/usr/bin/env python3
"""Writes a synthetic catalog of N adapters (default 75,000) for retrieval latency benchmarks.

Cards are assembled from a fixed vocabulary (seeded, reproducible); each carries a random unit
384-d `embedding` with `embedding_model` = all-MiniLM-L6-v2, so `stylus catalog import` stores it
instead of computing one. Also writes a query file of 500 prompts for `stylus search --batch`.

Usage: scripts/gen_catalog_75k.py OUT_DIR [--n 75000] [--queries 500] [--seed 7]
"""
import argparse, json, os, random
import numpy as np

ap = argparse.ArgumentParser()
ap.add_argument("out")
ap.add_argument("--n", type=int, default=75000)
ap.add_argument("--queries", type=int, default=500)
ap.add_argument("--seed", type=int, default=7)
a = ap.parse_args()
rng = random.Random(a.seed)
np_rng = np.random.default_rng(a.seed)

styles = "watercolor oil painting ink sketch pixel art anime cel shading photorealistic cyberpunk steampunk vaporwave gothic ukiyo-e pastel neon low-poly claymation comic noir impressionist baroque".split()
subjects = "fox cat dog dragon knight witch robot castle forest city car motorcycle ship flower tree mountain ocean girl boy elf warrior samurai astronaut wizard tiger wolf owl horse train bridge temple village".split()
details = "armor dress kimono hoodie glowing eyes rain snow sunset night fog fire smoke lightning petals stars clouds neon lights reflections bokeh lens flare freckles tattoos scars wings crown mask".split()
bases = ["SD 1.5"] * 6 + ["SDXL 1.0"] * 3 + ["Pony"]

os.makedirs(a.out, exist_ok=True)
with open(os.path.join(a.out, "catalog_75k.jsonl"), "w") as f:
    for i in range(a.n):
        words = rng.sample(styles, 1) + rng.sample(subjects, 2) + rng.sample(details, 3)
        title = " ".join(w.title() for w in words[:3]) + f" v{i % 7 + 1}"
        v = np_rng.standard_normal(384).astype(np.float32)
        v /= np.linalg.norm(v)
        f.write(json.dumps({
            "adapter_id": f"gen-{i:06d}", "alias": f"gen_{words[0]}_{words[1]}_{i}", "title": title,
            "base_model": rng.choice(bases), "type": "LORA", "tags": words[:4],
            "trigger_words": [f"{words[1]}{i % 1000}"],
            "description": f"A {words[0]} adapter for {words[1]} and {words[2]} with {', '.join(words[3:])}.",
            "weight": round(rng.uniform(0.5, 1.0), 2), "nsfw": rng.random() < 0.05,
            "embedding": [round(float(x), 6) for x in v], "embedding_model": "sentence-transformers/all-MiniLM-L6-v2",
        }) + "\n")
with open(os.path.join(a.out, "queries_500.jsonl"), "w") as f:
    for i in range(a.queries):
        words = rng.sample(styles, 1) + rng.sample(subjects, 2) + rng.sample(details, rng.randint(1, 4))
        prompt = f"masterpiece, best quality, a {words[0]} picture of a {words[1]} and a {words[2]}, " + ", ".join(words[3:])
        f.write(json.dumps({"id": f"q{i:03d}", "prompt": prompt, "base_model": rng.choice(bases)}) + "\n")
