#!/usr/bin/env bash
# How the composer's learned scorer generalises: fit on one labelled set, score on the other (both
# directions), and the shipped model (fit on both) on each; then 5-fold cross-validation within each
# set (simulated by the fitting script from the same feature dumps). "Paraphrased topics found": recall
# on the labelled topics whose relevant cards share no word with the keyword (benchmarks/paraphrase_recall.py).
# Needs a release build, numpy and ../shared/bench/{dev,dev-b}.
#
#   benchmarks/composer_generalisation.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bin=.build/release/stylus
[ -x "$bin" ] || { echo "composer_generalisation: $bin missing; run: swift build -c release" >&2; exit 2; }
work="${STYLUS_FIT_WORK:-/tmp/stylus-fit}"
mkdir -p "$work"
python3 scripts/fit_composer.py --refresh --work "$work" --train dev --out "$work/fit-dev.json" 2>/dev/null
python3 scripts/fit_composer.py --refresh --work "$work" --train dev-b --out "$work/fit-dev-b.json" 2>/dev/null
score() {  # model (or "shipped") bench label
  model=(--composer-model "$1")
  [ "$1" = shipped ] && model=()
  "$bin" compose --db "$work/$2.sqlite" --batch "../shared/bench/$2/queries.jsonl" --json "${model[@]}" > "$work/$2.eval.jsonl"
  paraphrased=$(python3 benchmarks/paraphrase_recall.py "../shared/bench/$2" "$work/$2.eval.jsonl")
  python3 ../shared/bench/score.py "../shared/bench/$2" "$work/$2.eval.jsonl" --json | python3 -c "
import json, sys
d = json.load(sys.stdin)
print(f\"$3 | {d['precision']} | {d['topic_recall']} | {d['violation_rate']} | {d['empty_ok']} | {d['f1']} | $paraphrased | {d['recall@20']} | {d.get('latency_ms_p50')} / {d.get('latency_ms_p95')}\")"
}
echo "measured on | precision | topic recall | violations | empty-ok | F1 | paraphrased topics found | retrieved recall@20 | compose ms p50 / p95"
score "$work/fit-dev.json" dev-b "dev-b, fit on dev only"
score "$work/fit-dev-b.json" dev "dev, fit on dev-b only"
score shipped dev "dev, shipped model (fit on both)"
score shipped dev-b "dev-b, shipped model (fit on both)"
python3 scripts/fit_composer.py --work "$work" --report 2>/dev/null | grep "5-fold"
