#!/usr/bin/env python3
"""Recall@K of the whole-prompt retriever on a labelled bench split (default ../shared/bench/dev).

Imports the split's catalog into a fresh database, runs `stylus search --batch --json` once for all
queries, and computes score.py's recall@K: a labelled topic (non-empty `relevant`) counts as found
when one of its relevant adapters is in retrieved[:K]; adapters already present in the prompt as
<lora:alias> tags are removed from the retrieved list first.

Usage: benchmarks/retrieval_quality.py [--bench DIR] [--stylus PATH] [--fusion rrf|score] [-v]
"""
import argparse, json, os, re, subprocess, sys, tempfile

ap = argparse.ArgumentParser()
ap.add_argument("--bench", default="/work/shared/bench/dev")
ap.add_argument("--stylus", default=".build/release/stylus")
ap.add_argument("--fusion", default="rrf")
ap.add_argument("-v", action="store_true", help="list the topics missed at K=20")
a = ap.parse_args()

catalog = [json.loads(l) for l in open(os.path.join(a.bench, "catalog.jsonl")) if l.strip()]
queries = [json.loads(l) for l in open(os.path.join(a.bench, "queries.jsonl")) if l.strip()]
alias_to_ids = {}
for c in catalog:
    alias_to_ids.setdefault(c["alias"].lower(), set()).add(c["adapter_id"])
title = {c["adapter_id"]: c["title"] for c in catalog}

with tempfile.TemporaryDirectory() as tmp:
    db = os.path.join(tmp, "bench.sqlite")
    subprocess.run([a.stylus, "catalog", "import", "--db", db, os.path.join(a.bench, "catalog.jsonl")],
                   check=True, stdout=subprocess.DEVNULL)
    batch = os.path.join(tmp, "queries.jsonl")
    with open(batch, "w") as f:
        for q in queries:
            f.write(json.dumps({"id": q["id"], "prompt": q["prompt"], "base_model": q["base_model"]}) + "\n")
    out = subprocess.run([a.stylus, "search", "--db", db, "--batch", batch, "--json", "--k", "100", "--fusion", a.fusion],
                         check=True, capture_output=True, text=True)
    sys.stderr.write(out.stderr)
retrieved = {}
for line in out.stdout.splitlines():
    o = json.loads(line)
    retrieved[o["id"]] = [r["adapter_id"] for r in o["results"]]

for K in (10, 20, 50):
    found = total = 0
    misses = []
    for q in queries:
        present = set()
        for alias in re.findall(r"<(?:lora|lyco):([^:>]+)", q["prompt"], re.I):
            present |= alias_to_ids.get(alias.strip().lower(), set())
        got = [r for r in retrieved[q["id"]] if r not in present][:K]
        for t in q["topics"]:
            if not t["relevant"]:
                continue
            total += 1
            if set(t["relevant"]) & set(got):
                found += 1
            elif K == 20:
                misses.append((q["id"], t["keyword"], [title[r] for r in t["relevant"]]))
    print(f"recall@{K} = {found / total:.4f} ({found}/{total} topics)")
    if a.v and K == 20:
        for m in misses:
            print("  miss", *m)
