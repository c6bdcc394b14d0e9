#!/usr/bin/env python3
"""Slow-input figures with the release binary (issue 22, finding 8):

  * keystroke latency of the language server on a large document: open a document of N MB, then
    send single-character edits in its middle, each followed by a request that the server answers
    after applying the edit (`textDocument/documentSymbol`, empty on documents past the analysis
    limit, so the answer costs nothing); the time from the edit to that answer is the keystroke's
    cost to every other message;
  * `stylus parse` of a prompt file whose frontmatter has 700k keys: seconds and peak RSS.

    benchmarks/large_inputs.py [--stylus .build/release/stylus] [--sizes 2,4,20] [--edits 40]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

LINE = "masterpiece, (best quality:1.2), a knight in a castle, <lora:castle_v2:0.8>\n"


class Server:
    def __init__(self, stylus, home):
        self.p = subprocess.Popen([stylus, "lsp"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL, env=dict(os.environ, STYLUS_HOME=home))
        self.next_id = 0

    def send(self, msg):
        data = json.dumps(msg).encode()
        self.p.stdin.write(b"Content-Length: %d\r\n\r\n" % len(data) + data)
        self.p.stdin.flush()

    def read(self):
        length = None
        while True:
            line = self.p.stdout.readline().strip()
            if not line:
                if length is not None:
                    break
                continue
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        return json.loads(self.p.stdout.read(length))

    def request(self, method, params):
        self.next_id += 1
        rid = self.next_id
        self.send({"jsonrpc": "2.0", "id": rid, "method": method, "params": params})
        while True:
            m = self.read()
            if m.get("id") == rid and "method" not in m:
                return m
            if "id" in m and "method" in m:
                self.send({"jsonrpc": "2.0", "id": m["id"], "result": None})

    def notify(self, method, params):
        self.send({"jsonrpc": "2.0", "method": method, "params": params})


def keystrokes(stylus, megabytes, edits):
    with tempfile.TemporaryDirectory() as home:
        s = Server(stylus, home)
        s.request("initialize", {"processId": None, "rootUri": None, "capabilities": {}})
        s.notify("initialized", {})
        text = LINE * (megabytes * 1_000_000 // len(LINE))
        uri = f"file:///large-{megabytes}.sdprompt"
        s.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "sdprompt", "version": 1, "text": text}})
        first = s.request("stylus/debugDocument", {"uri": uri})["result"]
        first.pop("text", None)
        middle = text.count("\n") // 2
        times = []
        for v in range(2, edits + 2):
            start = time.perf_counter()
            s.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": v}, "contentChanges": [
                {"range": {"start": {"line": middle, "character": 3}, "end": {"line": middle, "character": 3}}, "text": "x"}]})
            r = s.request("textDocument/documentSymbol", {"textDocument": {"uri": uri}})
            times.append((time.perf_counter() - start) * 1000)
            assert r.get("result") == [], r
        s.request("shutdown", None)
        s.notify("exit", None)
        s.p.wait(timeout=30)
        followed = first.get("followed", True)
        return statistics.median(times), max(times), followed


def frontmatter(stylus, keys):
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "keys.sdprompt")
        with open(path, "w") as f:
            f.write("---\nsteps: 20\n" + "".join(f"key{i}: {i}\n" for i in range(keys)) + "---\na knight in a castle\n")
        start = time.perf_counter()
        r = subprocess.run(["/usr/bin/time", "-f", "%M", stylus, "parse", path], capture_output=True, text=True)
        seconds = time.perf_counter() - start
        rss_mb = int(r.stderr.strip().splitlines()[-1]) / 1024
        return seconds, rss_mb, r.returncode, os.path.getsize(path) / 1e6


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stylus", default=os.path.join(root, ".build", "release", "stylus"))
    ap.add_argument("--sizes", default="2,4,20")
    ap.add_argument("--edits", type=int, default=40)
    ap.add_argument("--keys", type=int, default=700_000)
    args = ap.parse_args()
    for mb in [int(x) for x in args.sizes.split(",")]:
        median, worst, followed = keystrokes(args.stylus, mb, args.edits)
        print(f"keystroke on a {mb} MB document: median {median:.1f} ms, max {worst:.1f} ms ({'followed' if followed else 'not followed'})")
    seconds, rss, rc, size = frontmatter(args.stylus, args.keys)
    print(f"stylus parse, frontmatter with {args.keys} keys ({size:.1f} MB): {seconds:.2f} s, peak RSS {rss:.0f} MB, exit {rc}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
