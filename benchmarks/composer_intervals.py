#!/usr/bin/env python3
"""How sure a composer figure is: 95 % intervals for precision, topic recall, violations, empty-ok
and F1 of one composer output, or for the difference between two outputs on the same labelled set,
by resampling the set's queries (bootstrap, paired: both outputs are scored on the same resampled
queries).

A benchmark of 160-200 prompts decides a selection change by a handful of topics; this tells which
differences are larger than what another draw of prompts from the same author would give.

  benchmarks/composer_intervals.py ../shared/bench/dev-b composed.jsonl
  benchmarks/composer_intervals.py ../shared/bench/dev before.jsonl after.jsonl   # after − before

The outputs are what `stylus compose --batch QUERIES --json` writes. The figures follow the
benchmark's definitions (micro-averaged); when the benchmark's own scorer (`score.py` beside the
set) is there, the point figures are checked against it.
"""
import argparse
import json
import os
import re
import subprocess
import sys

import numpy as np

FIGURES = ("precision", "topic_recall", "violation_rate", "empty_ok", "f1")
# Per-query counts, in this column order.
COUNTS = ("selected", "relevant_selected", "bad_selected", "topics", "topics_found", "empty", "empty_ok")


def load_jsonl(path):
    rows = []
    try:
        with open(path, encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                if line.strip():
                    try:
                        rows.append(json.loads(line))
                    except json.JSONDecodeError as e:
                        sys.exit(f"composer_intervals: {path}:{number}: not JSON ({e.msg}); give what "
                                 "`stylus compose --batch QUERIES --json` writes")
    except OSError as e:
        sys.exit(f"composer_intervals: cannot read {path}: {e.strerror}")
    return rows


def query_counts(bench, output_path):
    """One row of COUNTS per labelled query, in the set's order."""
    catalog = {a["adapter_id"]: a for a in load_jsonl(os.path.join(bench, "catalog.jsonl"))}
    by_alias = {a["alias"]: a["adapter_id"] for a in catalog.values()}
    outputs = {str(o["id"]): o for o in load_jsonl(output_path) if "id" in o}
    rows = []
    for q in load_jsonl(os.path.join(bench, "queries.jsonl")):
        out = outputs.get(q["id"], {})
        # An adapter the prompt already loads is not a selection.
        present = {by_alias.get(m) for m in re.findall(r"<lora:([^:>]+)", q["prompt"])}
        selected = []
        for topic in out.get("topics") or []:
            for a in topic.get("adapters") or []:
                aid = a.get("adapter_id") if isinstance(a, dict) else a
                if aid is not None and aid not in selected and aid not in present:
                    selected.append(aid)
        relevant = {a for t in q["topics"] for a in t["relevant"]}
        forbidden = set(q.get("forbidden", []))

        def bad(aid):
            card = catalog.get(aid)
            return aid in forbidden or card is None or card.get("nsfw") or card.get("base_model") != q["base_model"]

        labelled = [set(t["relevant"]) for t in q["topics"] if t["relevant"]]
        rows.append((len(selected), sum(a in relevant for a in selected), sum(bool(bad(a)) for a in selected),
                     len(labelled), sum(bool(r & set(selected)) for r in labelled),
                     int(not relevant), int(not relevant and not selected)))
    return np.array(rows, dtype=float)


def figures(totals):
    """FIGURES from summed COUNTS; totals has COUNTS in its last axis (any leading shape)."""
    sel, tp, bad, topics, found, empty, empty_ok = np.moveaxis(totals, -1, 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(sel > 0, tp / sel, 0.0)
        recall = np.where(topics > 0, found / topics, 0.0)
        violations = np.where(sel > 0, bad / sel, 0.0)
        ok = np.where(empty > 0, empty_ok / empty, 1.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    return dict(zip(FIGURES, (precision, recall, violations, ok, f1)))


def check_against_scorer(bench, output_path, point):
    """The set's own scorer must give the same point figures (it rounds to four places)."""
    scorer = os.path.join(bench, "..", "score.py")
    if not os.path.exists(scorer):
        return
    result = subprocess.run([sys.executable, scorer, bench, output_path, "--json"], capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"composer_intervals: {scorer} failed on {output_path}: {result.stderr.strip()}")
    theirs = json.loads(result.stdout)
    # F1 is left out: that scorer derives it from its rounded precision and recall.
    for key in ("precision", "topic_recall", "violation_rate", "empty_ok"):
        if theirs.get(key) is not None and abs(float(point[key]) - float(theirs[key])) > 6e-5:
            sys.exit(f"composer_intervals: {key} of {output_path} is {float(point[key]):.4f} here but "
                     f"{theirs[key]} by {scorer}; the two scorers disagree, fix this script first")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("bench", help="a labelled set: catalog.jsonl and queries.jsonl")
    ap.add_argument("outputs", nargs="+", metavar="OUTPUT", help="one composer output, or two (the second minus the first)")
    ap.add_argument("--resamples", type=int, default=4000)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--json", action="store_true", help="print the intervals as JSON")
    args = ap.parse_args()
    if len(args.outputs) > 2:
        ap.error("give one output, or two to compare")

    if args.resamples < 1:
        ap.error("--resamples must be at least 1")
    counts = [query_counts(args.bench, path) for path in args.outputs]
    if len(counts[0]) == 0:
        sys.exit(f"composer_intervals: {args.bench}/queries.jsonl has no queries")
    points = [{k: float(v) for k, v in figures(c.sum(axis=0)).items()} for c in counts]
    for path, point in zip(args.outputs, points):
        check_against_scorer(args.bench, path, point)

    rng = np.random.default_rng(args.seed)
    n = len(counts[0])
    draws = rng.integers(0, n, size=(args.resamples, n))
    # Counts per query for each resample: the sum over the drawn queries.
    resampled = [figures(c[draws].sum(axis=1)) for c in counts]

    def interval(values):
        low, high = np.percentile(values, [2.5, 97.5])
        return [round(float(low), 4), round(float(high), 4)]

    report = dict(queries=n, resamples=args.resamples, outputs=[])
    for path, point, r in zip(args.outputs, points, resampled):
        report["outputs"].append(dict(path=path, **{k: dict(value=round(point[k], 4), interval=interval(r[k])) for k in FIGURES}))
    if len(args.outputs) == 2:
        difference = {}
        for k in FIGURES:
            delta = resampled[1][k] - resampled[0][k]
            # Lower violations are better; every other figure is better higher.
            better = (delta < 0) if k == "violation_rate" else (delta > 0)
            difference[k] = dict(value=round(points[1][k] - points[0][k], 4), interval=interval(delta),
                                 second_better_share=round(float(better.mean()), 3))
        report["difference"] = difference

    if args.json:
        print(json.dumps(report, indent=1))
        return
    print(f"{n} queries, {args.resamples} resamples; 95 % intervals")
    for o in report["outputs"]:
        print(f"{o['path']}:")
        for k in FIGURES:
            print(f"  {k:15s} {o[k]['value']:.4f}  [{o[k]['interval'][0]:.4f}, {o[k]['interval'][1]:.4f}]")
    if "difference" in report:
        print("second − first (share of resamples where the second is strictly better):")
        for k, d in report["difference"].items():
            print(f"  {k:15s} {d['value']:+.4f}  [{d['interval'][0]:+.4f}, {d['interval'][1]:+.4f}]  {d['second_better_share']:.3f}")


if __name__ == "__main__":
    main()
