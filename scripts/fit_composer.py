#!/usr/bin/env python3
"""Fit the composer's scorer (Sources/StylusCore/Resources/composer_model.json) on labelled benchmarks.

The Swift composer computes the features (ComposerFeatures.swift) and only evaluates the model; this
script learns the weights. It runs the release binary on each benchmark to dump every scored
(topic, adapter) pair, labels the pairs from the benchmark's queries.jsonl, fits an L2-regularised
logistic regression (numpy, Newton's method), and picks the acceptance threshold by simulating the
composer's decision rules (each adapter to its best topic, at most 3 per topic, at most 2 styles).

  scripts/fit_composer.py --train dev dev-b --out Sources/StylusCore/Resources/composer_model.json
  scripts/fit_composer.py --train dev --out /tmp/fit-dev.json          # fit on one set only
  scripts/fit_composer.py --report                                      # cross-set and 5-fold figures
  scripts/fit_composer.py --parity Tests/Fixtures/composer_parity.json  # Swift evaluation fixture

Benchmarks are folders under --bench-root (default ../shared/bench) with catalog.jsonl and
queries.jsonl. Dumps are cached in --work (default /tmp/stylus-fit); --refresh recomputes them.
Needs: python3 with numpy, and a release build (swift build -c release).
"""
import argparse
import json
import os
import re
import subprocess
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, ".build/release/stylus")
SHIPPED = os.path.join(ROOT, "Sources/StylusCore/Resources/composer_model.json")
# Features the degraded (no embeddings) mode has: everything that is not a cosine.
SEMANTIC_ONLY = {"cos_card", "cos_title", "cos_prompt_card", "cos_card_gap", "cos_title_gap", "cos_title_top",
                 "category_fit"}
L2 = 1.0
MAX_PER_TOPIC, MAX_STYLES = 3, 2
STOP = {"a", "an", "the", "of", "in", "on", "at", "with", "and", "or", "to", "for", "by", "from", "her", "his", "their", "its"}


def load_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def words(text):
    out = set()
    for w in re.findall(r"[a-z0-9]+", text.lower()):
        if w in STOP:
            continue
        if len(w) > 3 and w.endswith("s") and not w.endswith("ss"):
            w = w[:-1]
        out.add(w)
    return out


def dump(bench_dir, work, refresh, model=None, lexical=False):
    """Runs the composer over the benchmark; returns (feature names, rows, predictions path).
    lexical: as in the degraded mode (no embedding model installed), for the lexical variant."""
    name = os.path.basename(os.path.normpath(bench_dir))
    os.makedirs(work, exist_ok=True)
    db = os.path.join(work, f"{name}.sqlite")
    mode = ".lexical" if lexical else ""
    feats = os.path.join(work, f"{name}{mode}.features.jsonl")
    preds = os.path.join(work, f"{name}{mode}.pred.jsonl")
    env = dict(os.environ)
    if lexical:
        env["STYLUS_HOME"] = os.path.join(work, "no-model")  # a data directory without the encoder
        os.makedirs(env["STYLUS_HOME"], exist_ok=True)
    if refresh or model or not os.path.exists(feats):
        if not os.path.exists(db):
            subprocess.run([BIN, "catalog", "import", "--db", db, os.path.join(bench_dir, "catalog.jsonl")],
                           check=True, stdout=subprocess.DEVNULL)
            subprocess.run([BIN, "search", "--db", db, "embed the catalog"], check=True, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
        cmd = [BIN, "compose", "--db", db, "--batch", os.path.join(bench_dir, "queries.jsonl"), "--json",
               "--dump-features", feats]
        if model:
            cmd += ["--composer-model", model]
        with open(preds, "w") as out:
            subprocess.run(cmd, check=True, stdout=out, stderr=subprocess.DEVNULL if lexical else None, env=env)
    lines = load_jsonl(feats)
    return lines[0]["feature_names"], lines[1:], preds


class Data:
    """Labelled pairs of one benchmark."""

    def __init__(self, bench_dir, names, rows):
        self.names = names
        queries = {q["id"]: q for q in load_jsonl(os.path.join(bench_dir, "queries.jsonl"))}
        self.queries = queries
        X, y, w, qid, topic, aid = [], [], [], [], [], []
        for r in rows:
            q = queries[r["id"]]
            kw = words(r["keyword"])
            aligned, all_rel = set(), set()
            for t in q["topics"]:
                all_rel.update(t["relevant"])
                tw = words(t["keyword"])
                if kw & tw:
                    aligned.update(t["relevant"])
            a = r["adapter_id"]
            forbidden = a in q.get("forbidden", [])
            if a in aligned:
                label, weight = 1, 1.0
            elif a in all_rel:
                label, weight = 0, 0.0  # relevant for another labelled topic: not evidence either way here
            else:
                label, weight = 0, 2.0 if forbidden else 1.0
            X.append(r["x"]); y.append(label); w.append(weight)
            qid.append(r["id"]); topic.append(r["topic"]); aid.append(a)
        self.X = np.array(X, dtype=float)
        self.y = np.array(y, dtype=float)
        self.w = np.array(w, dtype=float)
        self.qid = np.array(qid)
        self.topic = np.array(topic)
        self.aid = np.array(aid)

    def subset(self, mask):
        d = object.__new__(Data)
        d.names, d.queries = self.names, {k: v for k, v in self.queries.items() if k in set(self.qid[mask])}
        for f in ("X", "y", "w", "qid", "topic", "aid"):
            setattr(d, f, getattr(self, f)[mask])
        return d


def fit_logistic(X, y, w, l2=L2):
    """Weighted L2 logistic regression by Newton's method on standardised features."""
    mean = X.mean(axis=0)
    scale = X.std(axis=0)
    scale[scale < 1e-9] = 1.0
    Z = np.hstack([(X - mean) / scale, np.ones((len(X), 1))])
    beta = np.zeros(Z.shape[1])
    reg = np.full(Z.shape[1], l2)
    reg[-1] = 0.0
    for _ in range(50):
        p = 1 / (1 + np.exp(-(Z @ beta)))
        g = Z.T @ (w * (p - y)) + reg * beta
        H = (Z * (w * p * (1 - p))[:, None]).T @ Z + np.diag(reg)
        step = np.linalg.solve(H, g)
        beta -= step
        if np.abs(step).max() < 1e-8:
            break
    return mean, scale, beta[:-1], beta[-1]


def probability(variant, names, X):
    idx = [names.index(f) for f in variant["features"]]
    Z = (X[:, idx] - np.array(variant["mean"])) / np.array(variant["scale"])
    return 1 / (1 + np.exp(-(Z @ np.array(variant["weights"]) + variant["bias"])))


def simulate(data, p, threshold):
    """The composer's decisions from probabilities, scored like score.py (micro-averaged)."""
    style = data.X[:, data.names.index("cat_style")] > 0.5
    sel_total = tp = bad = topics = hit = empty = empty_ok = 0
    by_query = {}
    for i in range(len(p)):
        by_query.setdefault(data.qid[i], []).append(i)
    for q_id, q in data.queries.items():
        idx = by_query.get(q_id, [])
        # Each adapter to the topic where it is most probable, if above the threshold.
        best = {}
        for i in idx:
            if p[i] >= threshold and (data.aid[i] not in best or p[i] > p[best[data.aid[i]]]):
                best[data.aid[i]] = i
        chosen = sorted(best.values(), key=lambda i: -p[i])
        styles = [i for i in chosen if style[i]][:MAX_STYLES]
        per_topic, selected = {}, set()
        for i in chosen:
            if style[i] and i not in styles:
                continue
            if per_topic.get(data.topic[i], 0) >= MAX_PER_TOPIC:
                continue
            per_topic[data.topic[i]] = per_topic.get(data.topic[i], 0) + 1
            selected.add(data.aid[i])
        relevant = set(a for t in q["topics"] for a in t["relevant"])
        forbidden = set(q.get("forbidden", []))
        sel_total += len(selected)
        tp += len(selected & relevant)
        bad += len(selected & forbidden)
        for t in q["topics"]:
            if t["relevant"]:
                topics += 1
                hit += bool(set(t["relevant"]) & selected)
        if not relevant:
            empty += 1
            empty_ok += not selected
    P = tp / sel_total if sel_total else 0.0
    R = hit / topics if topics else 0.0
    V = bad / sel_total if sel_total else 0.0
    E = empty_ok / empty if empty else 1.0
    return dict(precision=round(P, 4), topic_recall=round(R, 4), violation_rate=round(V, 4), empty_ok=round(E, 4),
                f1=round(2 * P * R / (P + R), 4) if P + R else 0.0, selected=sel_total)


def objective(m):
    # Precision and recall matter alike; a violation costs more than a miss (a wrong adapter spoils
    # the image, a missing one leaves it as the base model draws it); empty prompts must stay empty.
    return m["precision"] + m["topic_recall"] - 4 * m["violation_rate"] + 0.5 * m["empty_ok"]


def choose_threshold(data, p):
    best = None
    for thr in np.arange(0.20, 0.91, 0.02):
        m = simulate(data, p, thr)
        if best is None or objective(m) > best[0]:
            best = (objective(m), float(thr))
    return best[1]


def fit_variant(datas, features):
    names = datas[0].names
    idx = [names.index(f) for f in features]
    X = np.vstack([d.X[:, idx] for d in datas])
    y = np.concatenate([d.y for d in datas])
    w = np.concatenate([d.w for d in datas])
    mean, scale, weights, bias = fit_logistic(X, y, w)
    variant = dict(features=features, mean=mean.tolist(), scale=scale.tolist(), weights=weights.tolist(),
                   bias=float(bias), threshold=0.5)
    # One threshold for the pooled training sets: the best sum of per-set objectives.
    best = None
    for thr in np.arange(0.20, 0.91, 0.02):
        score = sum(objective(simulate(d, probability(variant, names, d.X), thr)) for d in datas)
        if best is None or score > best[0]:
            best = (score, float(thr))
    variant["threshold"] = round(best[1], 4)
    return variant


def fit_model(datas, label, lexical_datas=None):
    """Both variants; the lexical one on dumps made without embeddings when given (its candidates and
    rankings differ), else on the semantic dumps."""
    names = datas[0].names
    semantic = fit_variant(datas, list(names))
    lexical = fit_variant(lexical_datas or datas, [f for f in names if f not in SEMANTIC_ONLY])
    return dict(semantic=semantic, lexical=lexical, trainedOn=label)


def folds(data, k=5, seed=7):
    ids = sorted(data.queries)
    rng = np.random.default_rng(seed)
    rng.shuffle(ids)
    for f in range(k):
        test = set(ids[f::k])
        yield data.subset(~np.isin(data.qid, list(test))), data.subset(np.isin(data.qid, list(test)))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench-root", default=os.path.join(ROOT, "../shared/bench"))
    ap.add_argument("--train", nargs="*", default=["dev", "dev-b"])
    ap.add_argument("--out")
    ap.add_argument("--report", action="store_true", help="cross-set and 5-fold cross-validation figures (simulated)")
    ap.add_argument("--parity", help="write a Swift parity fixture from the shipped model")
    ap.add_argument("--work", default="/tmp/stylus-fit")
    ap.add_argument("--refresh", action="store_true", help="recompute the feature dumps")
    args = ap.parse_args()

    sets, lexical_sets = {}, {}
    for name in sorted(set(args.train) | ({"dev", "dev-b"} if args.report else set())):
        bench = os.path.join(args.bench_root, name)
        names, rows, _ = dump(bench, args.work, args.refresh)
        sets[name] = Data(bench, names, rows)
        names, rows, _ = dump(bench, args.work, args.refresh, lexical=True)
        lexical_sets[name] = Data(bench, names, rows)
        print(f"{name}: {len(rows)} scored pairs, {int(sets[name].y.sum())} positive", file=sys.stderr)

    if args.out:
        model = fit_model([sets[n] for n in args.train], "+".join(args.train), [lexical_sets[n] for n in args.train])
        with open(args.out, "w") as f:
            json.dump(model, f, indent=1)
            f.write("\n")
        print(f"wrote {args.out} (thresholds: semantic {model['semantic']['threshold']}, lexical {model['lexical']['threshold']})",
              file=sys.stderr)
        for n in args.train:
            d = sets[n]
            print(f"  on {n} (training data, simulated): {simulate(d, probability(model['semantic'], d.names, d.X), model['semantic']['threshold'])}",
                  file=sys.stderr)

    if args.report:
        for train, test in (("dev", "dev-b"), ("dev-b", "dev")):
            model = fit_model([sets[train]], train, [lexical_sets[train]])
            for v, d in (("semantic", sets[test]), ("lexical", lexical_sets[test])):
                m = simulate(d, probability(model[v], d.names, d.X), model[v]["threshold"])
                print(f"fit on {train}, {v}, on {test}: {m}")
        for name in ("dev", "dev-b"):
            totals = []
            for train, test in folds(sets[name]):
                model = fit_model([train], name)
                totals.append(simulate(test, probability(model["semantic"], test.names, test.X), model["semantic"]["threshold"]))
            avg = {k: round(float(np.mean([t[k] for t in totals])), 4) for k in totals[0]}
            print(f"5-fold within {name}, semantic (mean of folds): {avg}")

    if args.parity:
        with open(SHIPPED) as f:
            model = json.load(f)
        d = next(iter(sets.values()))
        rng = np.random.default_rng(3)
        picks = rng.choice(len(d.X), size=min(40, len(d.X)), replace=False)
        cases = []
        for i in picks:
            cases.append(dict(x=d.X[i].tolist(),
                              semantic=float(probability(model["semantic"], d.names, d.X[i:i + 1])[0]),
                              lexical=float(probability(model["lexical"], d.names, d.X[i:i + 1])[0])))
        with open(args.parity, "w") as f:
            json.dump(dict(feature_names=d.names, model=model, cases=cases), f, indent=1)
            f.write("\n")
        print(f"wrote {args.parity} ({len(cases)} cases)", file=sys.stderr)


if __name__ == "__main__":
    main()
