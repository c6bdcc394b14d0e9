#!/usr/bin/env bash
# Composer benchmark on the dev split: import the benchmark catalog into a temporary database, compose
# every query in one batch run (catalog loaded once), and score it with the shared scorer.
#
#   scripts/bench_compose.sh [BENCH_DIR] [--failures]
#
# BENCH_DIR defaults to ../shared/bench/dev. Needs a release build (swift build -c release).
# Prints score.py's report (ours vs the rag3 retriever-only ablation, latency p50/p95 from timings_ms).
set -euo pipefail
cd "$(dirname "$0")/.."
bench="${1:-../shared/bench/dev}"
extra="${2:-}"
bin=.build/release/stylus
[ -x "$bin" ] || { echo "bench_compose: $bin missing; run: swift build -c release" >&2; exit 2; }
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
"$bin" catalog import --db "$tmp/catalog.sqlite" "$bench/catalog.jsonl" >/dev/null
"$bin" compose --db "$tmp/catalog.sqlite" --batch "$bench/queries.jsonl" --json > "$tmp/pred.jsonl"
cp "$tmp/pred.jsonl" "${PRED_OUT:-/tmp/stylus_compose_pred.jsonl}"
python3 ../shared/bench/score.py "$bench" "$tmp/pred.jsonl" $extra
