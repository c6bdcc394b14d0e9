#!/usr/bin/env bash
# How the composer's learned scorer generalises: fit on one labelled set, score on the other (both
# directions), and the shipped model (fit on both) on each; then 5-fold cross-validation within each
# set (simulated by the fitting script from the same feature dumps). "Paraphrased topics found": recall
# on the labelled topics whose relevant cards share no word with the keyword (benchmarks/paraphrase_recall.py).
# Last, 95 % intervals for the four composer runs (benchmarks/composer_intervals.py: the set's prompts
# resampled); each run's output stays in the work folder as SET.NAME.jsonl for comparisons.
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
score() {  # model (or "shipped") bench label output-name
  model=(--composer-model "$1")
  [ "$1" = shipped ] && model=()
  out="$work/$2.$4.jsonl"
  "$bin" compose --db "$work/$2.sqlite" --batch "../shared/bench/$2/queries.jsonl" --json "${model[@]}" > "$out"
  paraphrased=$(python3 benchmarks/paraphrase_recall.py "../shared/bench/$2" "$out")
  python3 ../shared/bench/score.py "../shared/bench/$2" "$out" --json | python3 -c "
import json, sys
d = json.load(sys.stdin)
print(f\"$3 | {d['precision']} | {d['topic_recall']} | {d['violation_rate']} | {d['empty_ok']} | {d['f1']} | $paraphrased | {d['recall@20']} | {d.get('latency_ms_p50')} / {d.get('latency_ms_p95')}\")"
}
echo "measured on | precision | topic recall | violations | empty-ok | F1 | paraphrased topics found | retrieved recall@20 | compose ms p50 / p95"
score "$work/fit-dev.json" dev-b "dev-b, fit on dev only" fit-dev
score "$work/fit-dev-b.json" dev "dev, fit on dev-b only" fit-dev-b
score shipped dev "dev, shipped model (fit on both)" shipped
score shipped dev-b "dev-b, shipped model (fit on both)" shipped
python3 scripts/fit_composer.py --work "$work" --report 2>/dev/null | grep "5-fold"
echo
echo "95 % intervals (prompts resampled) | precision | topic recall | violations | empty-ok | F1"
for run in "dev-b fit-dev" "dev fit-dev-b" "dev shipped" "dev-b shipped"; do
  set -- $run
  python3 benchmarks/composer_intervals.py "../shared/bench/$1" "$work/$1.$2.jsonl" --json | python3 -c "
import json, sys
o = json.load(sys.stdin)['outputs'][0]
print('$1, $2 | ' + ' | '.join(f\"{o[k]['interval'][0]:.3f}-{o[k]['interval'][1]:.3f}\" for k in ('precision', 'topic_recall', 'violation_rate', 'empty_ok', 'f1')))"
done
