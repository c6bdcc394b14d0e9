#!/bin/sh
# Retrieval latency at 75,000 adapters: generate (once), import (once), then one `stylus search
# --batch` process that loads the catalog once and times 500 queries (p50/p95 and where time goes).
# Usage: benchmarks/retrieval_latency.sh [WORK_DIR]   (release build expected in .build/release)
set -e
work=${1:-/tmp/stylus-retrieval-bench}
stylus=${STYLUS:-.build/release/stylus}
[ -f "$work/catalog_75k.jsonl" ] || ${PYTHON:-python3} scripts/gen_catalog_75k.py "$work"
[ -f "$work/catalog.sqlite" ] || "$stylus" catalog import --db "$work/catalog.sqlite" "$work/catalog_75k.jsonl"
"$stylus" search --db "$work/catalog.sqlite" --batch "$work/queries_500.jsonl" >/dev/null
