#!/bin/sh
# Catalog benchmarks (release build): refiner quality on the dev benchmark, import and scan throughput.
#
#   swift build -c release && benchmarks/catalog_bench.sh [BENCH_DIR]
#
# BENCH_DIR defaults to ../shared/bench/dev. Prints weight/category accuracy, import throughput
# (adapters/s without embeddings; the dev catalog replicated to ~20,000 cards) and scan throughput
# on a generated folder of 2,000 tiny LoRA files (scripts/gen_lora_folder.py), fresh and incremental.
set -eu
HERE=$(cd "$(dirname "$0")/.." && pwd)
BENCH=${1:-$HERE/../shared/bench/dev}
STYLUS=${STYLUS:-$HERE/.build/release/stylus}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

now() { python3 -c 'import time; print(time.time())'; }
rate() { python3 -c "import sys; n, a, b = float(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]); print('%.0f/s (%d in %.2f s)' % (n / (b - a), n, b - a))" "$@"; }

echo "== refiner on $BENCH"
"$STYLUS" catalog import --db "$WORK/dev.sqlite" "$BENCH/catalog.jsonl"
"$STYLUS" catalog export --jsonl --db "$WORK/dev.sqlite" > "$WORK/export.jsonl"
: > "$WORK/empty.jsonl"
python3 "$BENCH/../score.py" "$BENCH" "$WORK/empty.jsonl" --export "$WORK/export.jsonl" | grep weight_acc
python3 "$HERE/benchmarks/catalog_check.py" "$BENCH/catalog.jsonl" "$WORK/export.jsonl" "$BENCH/weights.jsonl" | head -3

echo "== import throughput"
python3 - "$BENCH/catalog.jsonl" "$WORK/big.jsonl" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
with open(sys.argv[2], "w") as f:
    for k in range(20000 // len(rows) + 1):
        for r in rows:
            r = dict(r, adapter_id="%s-%d" % (r["adapter_id"], k), alias="%s_%d" % (r["alias"], k))
            f.write(json.dumps(r) + "\n")
EOF
N=$(wc -l < "$WORK/big.jsonl")
a=$(now); "$STYLUS" catalog import --db "$WORK/big.sqlite" "$WORK/big.jsonl" >/dev/null; b=$(now)
echo "import (new):        $(rate "$N" "$a" "$b")"
a=$(now); "$STYLUS" catalog import --db "$WORK/big.sqlite" "$WORK/big.jsonl" >/dev/null; b=$(now)
echo "re-import unchanged: $(rate "$N" "$a" "$b")"

echo "== scan throughput"
python3 "$HERE/scripts/gen_lora_folder.py" "$WORK/loras" --count 2000
a=$(now); "$STYLUS" catalog scan --db "$WORK/scan.sqlite" "$WORK/loras" >/dev/null 2>&1; b=$(now)
echo "scan (new):          $(rate 2000 "$a" "$b")"
a=$(now); "$STYLUS" catalog scan --db "$WORK/scan.sqlite" "$WORK/loras" >/dev/null 2>&1; b=$(now)
echo "rescan (unchanged):  $(rate 2000 "$a" "$b")"
