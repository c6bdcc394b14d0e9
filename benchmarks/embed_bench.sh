#!/bin/sh
# One command: build the release driver (under the shared build lock), then run the benchmark.
set -e
cd "$(dirname "$0")/.."
flock /tmp/swift.lock swift build -c release --product StylusBench
exec "${PYTHON:-/work/venv/bin/python}" benchmarks/embed_bench.py "$@"
