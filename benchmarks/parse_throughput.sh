#!/usr/bin/env bash
# Parse throughput of the prompt parser (release build): a 1 MB and a 10 MB realistic prompt,
# and every prompt of the development benchmark. Prints the parser's own timings (no process start).
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release >/dev/null
STYLUS=.build/release/stylus
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
python3 - "$TMP" <<'PY'
import sys
unit = ("masterpiece, (best quality:1.2), 1girl, [silver armor], <lora:castle_v2:0.8>, "
        "a knight in (full plate armor:1.1) riding a horse, [cat:dog:0.5] BREAK ")
for name, size in (("1mb", 1_000_000), ("10mb", 10_000_000)):
    open(f"{sys.argv[1]}/{name}.sdprompt", "w").write(unit * (size // len(unit)))
PY
for f in 1mb 10mb; do
  for run in 1 2 3; do $STYLUS parse --timing "$TMP/$f.sdprompt" 2>&1 >/dev/null; done
done
DEV="../shared/bench/dev/queries.jsonl"
if [ -f "$DEV" ]; then
  python3 -c "import json,sys; print('\n'.join(json.loads(l)['prompt'] for l in open(sys.argv[1])))" "$DEV" > "$TMP/dev.sdprompt"
  echo "dev prompts (one file, $(wc -l < "$TMP/dev.sdprompt") lines):"
  for run in 1 2 3; do $STYLUS parse --timing "$TMP/dev.sdprompt" 2>&1 >/dev/null; done
fi
