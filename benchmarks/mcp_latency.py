#!/usr/bin/env python3
"""Client-side latency of `stylus mcp` tool calls (target: p95 <= 20 ms).

    .venv/bin/python benchmarks/mcp_latency.py BENCH_DIR [--calls 500] [--k 10] [--tools search_adapters,compose_prompt]
                                               [--bin .build/release/stylus]

BENCH_DIR holds a benchmark split (catalog.jsonl, queries.jsonl with {"id", "prompt", "base_model"}
lines), e.g. the dev split the composer benchmark uses. The catalog is imported into a temporary
database with the real CLI; one `stylus mcp` server is spawned over stdio with the official MCP
Python SDK (scripts/setup-e2e installs it into .venv). After one warm-up call per tool (the first
waits for the catalog to load), `--calls` calls of search_adapters and of compose_prompt run one
at a time, cycling over the queries; each is timed from the client's send to the parsed result.
The server keeps the vectors of texts it has embedded, so a compose after the search loop finds
each prompt's own vector there and encodes only its topics; `--tools compose_prompt` times compose
on a server that has seen no search (the whole prompt encoded on each prompt's first call).
The same calls are then timed with a minimal JSON-RPC client writing and reading newline-delimited
messages on the pipes ("raw"): the difference is the Python SDK's own cost per call (pydantic
models, and a jsonschema check of each result against the tool's output schema, which first checks
the schema itself against its metaschema, on every call: hence the draft-07 output schemas).
Prints p50/p95/mean/max per tool and client, the server's own compose timing (timings_ms.total),
the load average and the CPU count, since the figures depend on what else the machine runs."""

import argparse
import asyncio
import json
import os
import pathlib
import statistics
import subprocess
import tempfile
import time
from datetime import timedelta

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

ROOT = pathlib.Path(__file__).resolve().parents[1]


def arguments_for(tool, q, k):
    arguments = {"query": q["prompt"], "k": k} if tool == "search_adapters" else {"prompt": q["prompt"]}
    if q.get("base_model"):
        arguments["base_model"] = q["base_model"]
    return arguments


def summary(times, server_ms=None):
    entry = {"calls": len(times), "p50_ms": pct(times, 0.5), "p95_ms": pct(times, 0.95),
             "mean_ms": statistics.mean(times), "max_ms": max(times)}
    if server_ms:
        entry["server_compose_p50_ms"] = pct(server_ms, 0.5)
        entry["server_compose_p95_ms"] = pct(server_ms, 0.95)
    return entry


def run_raw(args, db, queries):
    """The same calls over the pipes with newline-delimited JSON-RPC and nothing else."""
    p = subprocess.Popen([args.bin, "mcp", "--db", str(db)], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    ids = iter(range(1, 1 << 30))

    def rpc(method, params):
        p.stdin.write((json.dumps({"jsonrpc": "2.0", "id": next(ids), "method": method, "params": params}) + "\n").encode())
        p.stdin.flush()
        answer = json.loads(p.stdout.readline())
        assert "result" in answer and not answer["result"].get("isError"), answer
        return answer["result"]

    rpc("initialize", {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "bench", "version": "1"}})
    p.stdin.write(b'{"jsonrpc":"2.0","method":"notifications/initialized"}\n')
    report = {}
    for tool in args.tools:
        rpc("tools/call", {"name": tool, "arguments": arguments_for(tool, queries[0], args.k)})
        times = []
        for n in range(args.calls):
            t = time.perf_counter()
            rpc("tools/call", {"name": tool, "arguments": arguments_for(tool, queries[n % len(queries)], args.k)})
            times.append((time.perf_counter() - t) * 1000)
        report[tool] = summary(times)
    p.stdin.close()
    p.wait(60)
    return report


def pct(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, max(0, int(round(p * len(s) + 0.5)) - 1))]


async def run(args, db, queries):
    params = StdioServerParameters(command=args.bin, args=["mcp", "--db", str(db)], env=dict(os.environ))
    report = {}
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write, read_timeout_seconds=timedelta(seconds=300)) as s:
            await s.initialize()
            started = time.perf_counter()
            first = await s.call_tool(args.tools[0], arguments_for(args.tools[0], queries[0], args.k))
            assert not first.isError, first.content
            report["first_call_including_load_ms"] = (time.perf_counter() - started) * 1000
            for tool in args.tools[1:]:
                await s.call_tool(tool, arguments_for(tool, queries[0], args.k))
            for tool in args.tools:
                times, server_ms = [], []
                for n in range(args.calls):
                    arguments = arguments_for(tool, queries[n % len(queries)], args.k)
                    t = time.perf_counter()
                    result = await s.call_tool(tool, arguments)
                    times.append((time.perf_counter() - t) * 1000)
                    assert not result.isError, result.content
                    if tool == "compose_prompt":
                        server_ms.append(result.structuredContent["timings_ms"]["total"])
                report[tool] = summary(times, server_ms)
    return report


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("bench_dir", type=pathlib.Path)
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--k", type=int, default=10, help="search_adapters' k (its default is 10)")
    parser.add_argument("--tools", default="search_adapters,compose_prompt",
                        help="the tools to time, in this order (comma-separated)")
    parser.add_argument("--bin", default=str(ROOT / ".build" / "release" / "stylus"))
    args = parser.parse_args()
    args.tools = [t for t in args.tools.split(",") if t]
    unknown = set(args.tools) - {"search_adapters", "compose_prompt"}
    if not args.tools or unknown:
        parser.error(f"--tools: choose from search_adapters, compose_prompt (got {args.tools or 'none'})")
    queries = [json.loads(line) for line in (args.bench_dir / "queries.jsonl").read_text().splitlines() if line.strip()]
    with tempfile.TemporaryDirectory() as tmp:
        db = pathlib.Path(tmp) / "catalog.sqlite"
        subprocess.run([args.bin, "catalog", "import", "--db", str(db), str(args.bench_dir / "catalog.jsonl")],
                       check=True, stdout=subprocess.DEVNULL)
        load_before = os.getloadavg()
        report = {"sdk_client": asyncio.run(run(args, db, queries)), "raw_client": run_raw(args, db, queries)}
        report["loadavg_before"] = load_before
        report["loadavg_after"] = os.getloadavg()
        report["cpus"] = os.cpu_count()
    print(json.dumps(report, indent=2))
    for client in ("sdk_client", "raw_client"):
        for tool in args.tools:
            r = report[client][tool]
            print(f"{client} {tool}: {r['calls']} calls, p50 {r['p50_ms']:.1f} ms, p95 {r['p95_ms']:.1f} ms, "
                  f"mean {r['mean_ms']:.1f} ms, max {r['max_ms']:.1f} ms")


if __name__ == "__main__":
    main()
