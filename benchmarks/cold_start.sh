#!/bin/sh
# Cold-process latency and peak RSS at 75,000 adapters (issue 16): `stylus compose` and `stylus
# search` each in a fresh process, answered from the retrieval index file beside the catalog
# (`<catalog>.index`, and its delta `<catalog>.index.delta`). Generates and imports the catalog once
# (scripts/gen_catalog_75k.py), times the index build (the first reader after the import builds
# nothing: the import wrote it; this script deletes it once to time a rebuild), then RUNS cold runs
# of each command with /usr/bin/time -v (wall, peak RSS), then an import of 100 new cards (which
# writes only the delta) and the delta rebuilt alone by a reader. Prints the machine load before and after.
#
#   benchmarks/cold_start.sh [WORK_DIR]      (release build expected in .build/release)
#   STYLUS=path/to/stylus  RUNS=5  PYTHON=python3  LSP=1 (also scripts/bench-lsp.py cold starts)
set -e
work=${1:-/tmp/stylus-retrieval-bench}
stylus=${STYLUS:-.build/release/stylus}
runs=${RUNS:-5}
python=${PYTHON:-python3}
db="$work/catalog.sqlite"
[ -x "$stylus" ] || { echo "cold_start: $stylus missing; run: swift build -c release" >&2; exit 2; }
[ -f "$work/catalog_75k.jsonl" ] || "$python" scripts/gen_catalog_75k.py "$work"
[ -f "$db" ] || "$stylus" catalog import --db "$db" "$work/catalog_75k.jsonl" >/dev/null
echo "machine: $(nproc) cores; load before: $(cut -d' ' -f1-3 /proc/loadavg)"

measure() {  # label, command…: one cold process; prints wall seconds and peak RSS
  label=$1; shift
  /usr/bin/time -v "$@" >/dev/null 2>"$work/time.txt" || { cat "$work/time.txt" >&2; exit 1; }
  wall=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$work/time.txt" | awk -F: '{ if (NF == 3) print $1*3600 + $2*60 + $3; else print $1*60 + $2 }')
  rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$work/time.txt")
  printf '%-44s wall %6.3f s   peak RSS %4d MB\n' "$label" "$wall" $((rss / 1024))
}

rm -f "$db.index" "$db.index.delta"
measure "index build (75K) + first search" "$stylus" search --db "$db" --k 5 "a watercolor painting of a fox"
ls -l "$db.index" | awk '{ printf "index file: %.1f MB\n", $5 / 1048576 }'
for i in $(seq "$runs"); do
  measure "cold compose (run $i)" "$stylus" compose --db "$db" "a watercolor painting of a fox in a snowy forest"
done
for i in $(seq "$runs"); do
  measure "cold search --k 5 (run $i)" "$stylus" search --db "$db" --k 5 "a watercolor painting of a fox"
done
# An import of 100 new cards into the 75K catalog (the import writes the index's delta, not the
# base); the delta alone rebuilt by a reader (its note gives the time); the cards are removed again
# afterwards (a delta again).
head -n 100 "$work/catalog_75k.jsonl" | sed -e 's/"adapter_id": "gen-/"adapter_id": "new-/' -e 's/"alias": "gen_/"alias": "new_/' > "$work/new_100.jsonl"
measure "import 100 new cards (index updated)" "$stylus" catalog import --db "$db" "$work/new_100.jsonl"
ls -l "$db.index.delta" | awk '{ printf "delta file: %.1f KB\n", $5 / 1024 }'
measure "cold search after the import" "$stylus" search --db "$db" --k 5 "a watercolor painting of a fox"
rm -f "$db.index.delta"
"$stylus" search --db "$db" --k 5 "a watercolor painting of a fox" 2>&1 >/dev/null | grep "rebuilding its delta" || true
"$stylus" catalog remove --db "$db" $(seq -f 'new-%06g' 0 99) >/dev/null
if [ -n "$LSP" ]; then
  "$python" scripts/bench-lsp.py --bin "$stylus" --db "$db" --skip-protocol --cold-runs 3 2>&1 | grep -i "cold\|rss\|ready" || true
fi
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
