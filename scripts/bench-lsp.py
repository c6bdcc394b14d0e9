#!/usr/bin/env python3
"""Client-side timings of `stylus lsp` over stdio (stdlib only).

    python3 scripts/bench-lsp.py [--bin .build/release/stylus] [--db CATALOG.sqlite ...] [--skip-protocol]

Protocol part: cold start to the initialize reply; opening a 10 MB document; 1,000 single-character
edits sent back to back (throughput and the round trip of a request queued behind them);
time from the last keystroke to publishDiagnostics; p50/p95 of the feature requests on the
example prompt file; peak RSS of the server.

Catalog part, once for the starter catalog (seeded into a temporary STYLUS_HOME) and once per
--db (e.g. the 75,000-adapter catalog of scripts/gen_catalog_75k.py, imported with
`stylus catalog import --db`): cold start (process spawn) to the first completion (the first
starter run includes seeding the catalog, as on a fresh install; then median and max over
--cold-runs more spawns); completion and hover p50/p95 over 500 requests each, every one after
an edit; diagnostics (with the catalog checks) after the last keystroke; peak RSS.
"""
import argparse, json, os, subprocess, sys, tempfile, threading, time, statistics


class Client:
    def __init__(self, cmd, env=None):
        self.t0 = time.perf_counter()
        self.p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
        self.cv = threading.Condition()
        self.msgs = []
        threading.Thread(target=self._read, daemon=True).start()
        self.next_id = 0

    def _read(self):
        f = self.p.stdout
        while True:
            line = f.readline()
            if not line:
                return
            n = None
            while line not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length:"):
                    n = int(line.split(b":")[1])
                line = f.readline()
            body = json.loads(f.read(n))
            with self.cv:
                self.msgs.append((time.perf_counter(), body))
                self.cv.notify_all()

    def send(self, obj):
        b = json.dumps(obj).encode()
        self.p.stdin.write(b"Content-Length: %d\r\n\r\n" % len(b) + b)
        self.p.stdin.flush()

    def request(self, method, params=None):
        self.next_id += 1
        i = self.next_id
        self.send({"jsonrpc": "2.0", "id": i, "method": method, "params": params})
        return self.wait(lambda m: m.get("id") == i and "method" not in m)

    def notify(self, method, params=None):
        self.send({"jsonrpc": "2.0", "method": method, "params": params})

    def wait(self, pred, timeout=30):
        end = time.perf_counter() + timeout
        with self.cv:
            while True:
                for k, (t, m) in enumerate(self.msgs):
                    if pred(m):
                        del self.msgs[k]
                        return t, m
                if not self.cv.wait(end - time.perf_counter()):
                    raise TimeoutError("no matching message")

    def rss_mb(self):
        with open(f"/proc/{self.p.pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024


def percentiles(times):
    times = sorted(times)
    return times[len(times) // 2], times[int(len(times) * 0.95) - 1]


def start(binary, env, settings, doc):
    """Spawns the server, opens the document and asks the first completion: (client, ms, uri)."""
    text, cases = doc
    c = Client([binary, "lsp"], env=env)
    c.request("initialize", {"processId": os.getpid(), "rootUri": None, "initializationOptions": {"stylus": settings},
                             # Like VS Code: markdown, and adapter cards fetched on completionItem/resolve.
                             "capabilities": {"textDocument": {"hover": {"contentFormat": ["markdown"]},
                                                               "completion": {"completionItem": {
                                                                   "documentationFormat": ["markdown"],
                                                                   "resolveSupport": {"properties": ["documentation"]}}}}}})
    c.notify("initialized", {})
    uri = "file:///bench.sdprompt"
    c.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "sdprompt", "version": 1, "text": text}})
    name, method, pos, check = cases[0]
    t, r = c.request(method, {"textDocument": {"uri": uri}, "position": pos})
    assert check(r["result"]), (name, r)
    return c, (t - c.t0) * 1000, uri


def bench_catalog(binary, label, env, settings, doc, cold_runs):
    """Cold start to first completion, then completion/hover/diagnostics latency on one catalog."""
    text, cases = doc
    times = []
    for _ in range(1 + cold_runs):  # one server at a time: a loading server would slow the next spawn
        c, ms, uri = start(binary, env, settings, doc)
        times.append(ms)
        c.request("shutdown")
        c.notify("exit")
        c.p.wait(10)
    print(f"[{label}] cold start (spawn) to first completion: {times[0]:.0f} ms")
    if cold_runs:
        print(f"[{label}] cold start to first completion over {cold_runs} more spawns: "
              f"median {statistics.median(times[1:]):.0f} ms, max {max(times[1:]):.0f} ms")
    c, _, uri = start(binary, env, settings, doc)
    # The composer's index is built in the background: keyword hovers answer once it is ready.
    name, method, pos, check = cases[-1]
    deadline = time.perf_counter() + 120
    while True:
        t, r = c.request(method, {"textDocument": {"uri": uri}, "position": pos})
        if r.get("result") is not None:
            break
        if t > deadline:
            raise TimeoutError(f"[{label}] no hover on the keyword within 120 s")
        time.sleep(0.05)
    print(f"[{label}] cold start to composer ready (first keyword hover): {(t - c.t0) * 1000:.0f} ms")
    lines = text.split("\n")
    version = 1
    for name, method, pos, check in cases:
        times = []
        for _ in range(500):
            # Type and delete one character at the end of the last line: a new version each time.
            version += 1
            end = {"line": len(lines) - 1, "character": len(lines[-1])}
            change = {"range": {"start": end, "end": end}, "text": " "} if version % 2 == 0 else \
                {"range": {"start": end, "end": dict(end, character=end["character"] + 1)}, "text": ""}
            c.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": version}, "contentChanges": [change]})
            t0 = time.perf_counter()
            _, r = c.request(method, {"textDocument": {"uri": uri}, "position": pos})
            times.append((time.perf_counter() - t0) * 1000)
            assert "result" in r and check(r["result"]), (name, r)
        p50, p95 = percentiles(times)
        print(f"[{label}] {name}, 500 requests: p50 {p50:.2f} ms, p95 {p95:.2f} ms")
    # Diagnostics after the last keystroke: bursts of 5 edits 30 ms apart, then one that adds a
    # syntax error (so a publish is due), timed until its diagnostics arrive.
    text = text.rsplit(", <lora:", 1)[0]  # no unclosed tag: the only syntax error is the one added
    lines = text.split("\n")
    version += 1
    c.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": version}, "contentChanges": [{"text": text}]})
    lat, hints = [], []
    for k in range(20):
        for i in range(5):
            version += 1
            end = {"line": len(lines) - 1, "character": len(lines[-1])}
            change = {"range": {"start": end, "end": end}, "text": " "} if version % 2 == 0 else \
                {"range": {"start": end, "end": dict(end, character=end["character"] + 1)}, "text": ""}
            c.msgs.clear()
            c.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": version}, "contentChanges": [change]})
            t0 = time.perf_counter()
            time.sleep(0.03)
        version += 1
        bad = text + (" (" if k % 2 == 0 else " [")
        c.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": version}, "contentChanges": [{"text": bad}]})
        t0 = time.perf_counter()
        t, m = c.wait(lambda m: m.get("method") == "textDocument/publishDiagnostics" and m["params"].get("uri") == uri
                      and any(d["code"] == "syntax" for d in m["params"]["diagnostics"]))
        lat.append((t - t0) * 1000)
        if not any(d["code"] == "adapter-available" for d in m["params"]["diagnostics"]):
            # Large catalogs publish the composer's hints as a second stage; a composer that proposes
            # nothing publishes no second stage (the generated catalogs' synthetic vectors rarely
            # pass the semantic composer), so that wait is bounded.
            try:
                t2, m = c.wait(lambda m: m.get("method") == "textDocument/publishDiagnostics" and m["params"].get("uri") == uri
                               and any(d["code"] == "adapter-available" for d in m["params"]["diagnostics"]), timeout=2)
                hints.append((t2 - t0) * 1000)
            except TimeoutError:
                pass
        else:
            hints.append((t - t0) * 1000)
        version += 1
        c.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": version}, "contentChanges": [{"text": text}]})
        c.wait(lambda m: m.get("method") == "textDocument/publishDiagnostics" and m["params"].get("uri") == uri
               and not any(d["code"] == "syntax" for d in m["params"]["diagnostics"]))
    codes = sorted({d["code"] for d in m["params"]["diagnostics"]})
    print(f"[{label}] last keystroke to publishDiagnostics (150 ms debounce, catalog checks {codes}): "
          f"median {statistics.median(lat):.0f} ms, max {max(lat):.0f} ms; " + (
              f"with the composer's hints: median {statistics.median(hints):.0f} ms, max {max(hints):.0f} ms"
              if hints else "the composer proposed nothing here (no hints published)"))
    print(f"[{label}] server peak RSS: {c.rss_mb():.0f} MB")
    c.request("shutdown")
    c.notify("exit")
    c.p.wait(10)


def items(r):
    return r["items"] if isinstance(r, dict) else r


def catalog_documents(kind):
    """A prompt file and the requests measured on it: (name, method, position, result check)."""
    if kind == "starter":
        text = "---\nbase_model: SD 1.5\n---\nlinocut print of a lighthouse at dusk, <lora:gouachebook_v2:0.7>, <lora:gou"
    else:
        text = "---\nbase_model: SD 1.5\n---\nmasterpiece, a watercolor picture of a fox and a castle, glowing eyes, <lora:gen_watercolor_fox_11035:0.8>, <lora:gen_wat"
    lines = text.split("\n")
    body = lines[3]
    tag_at = body.index("<lora:") + 8
    word = "lighthouse" if kind == "starter" else "watercolor"
    word_at = body.index(word) + 3
    last = len(body)
    return text, [
        ("completion <lora: aliases", "textDocument/completion", {"line": 3, "character": last}, lambda r: len(items(r)) > 0),
        (f"completion on the word '{word[:3]}'", "textDocument/completion", {"line": 3, "character": word_at}, lambda r: len(items(r)) > 0),
        ("hover on a <lora:> tag", "textDocument/hover", {"line": 3, "character": tag_at}, lambda r: r is not None),
        (f"hover on the keyword '{word}'", "textDocument/hover", {"line": 3, "character": word_at}, lambda r: r is not None),
    ]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=".build/release/stylus")
    ap.add_argument("--db", action="append", default=[], help="also benchmark this catalog (e.g. the 75K one)")
    ap.add_argument("--skip-protocol", action="store_true", help="only the catalog benchmarks")
    ap.add_argument("--cold-runs", type=int, default=5, help="more cold starts per catalog for a median (default 5)")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as home:
        env = dict(os.environ, STYLUS_HOME=home)
        bench_catalog(a.bin, "starter catalog", env, {}, catalog_documents("starter"), a.cold_runs)
        for db in a.db:
            bench_catalog(a.bin, os.path.basename(db), env, {"db": db}, catalog_documents("generated"), a.cold_runs)
    if a.skip_protocol:
        return
    c = Client([a.bin, "lsp"])
    t, _ = c.request("initialize", {"processId": os.getpid(), "rootUri": None, "capabilities": {}})
    print(f"cold start to initialize reply: {(t - c.t0) * 1000:.1f} ms")
    c.notify("initialized", {})

    line = "masterpiece, (best quality:1.2), a 🐱 knight <lora:cat:0.8>, BREAK\n"
    big = line * (10_000_000 // len(line.encode()))
    uri = "file:///big.sdprompt"
    t0 = time.perf_counter()
    c.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "sdprompt", "version": 1, "text": big}})
    t, r = c.request("stylus/debugDocument", {"uri": uri})
    assert len(r["result"]["text"]) == len(big)
    print(f"open 10 MB document + read back: {(t - t0) * 1000:.0f} ms")
    t0 = time.perf_counter()
    c.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": 2}, "contentChanges": [
        {"range": {"start": {"line": 5, "character": 0}, "end": {"line": 5, "character": 0}}, "text": "x"}]})
    t, _ = c.request("stylus/debugDocument", {"uri": uri})
    print(f"one edit to the 10 MB document + read back: {(t - t0) * 1000:.0f} ms")
    c.notify("textDocument/didClose", {"textDocument": {"uri": uri}})

    uri = "file:///small.sdprompt"
    c.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "sdprompt", "version": 1, "text": ""}})
    c.wait(lambda m: m.get("method") == "textDocument/publishDiagnostics" and m["params"]["uri"] == uri)
    c.msgs.clear()
    t0 = time.perf_counter()
    for i in range(1000):
        c.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": i + 2}, "contentChanges": [
            {"range": {"start": {"line": 0, "character": i}, "end": {"line": 0, "character": i}}, "text": "x"}]})
    t_sent = time.perf_counter()
    t, r = c.request("stylus/debugDocument", {"uri": uri})
    assert r["result"]["text"] == "x" * 1000, "edits lost"
    print(f"1,000 edits: sent in {(t_sent - t0) * 1000:.0f} ms, applied and read back after {(t - t0) * 1000:.0f} ms "
          f"({1000 / (t - t0):.0f} edits/s)")
    # Diagnostics (currently always empty for this text) are diffed: the close/reopen forces a publish.
    c.notify("textDocument/didClose", {"textDocument": {"uri": uri}})
    c.wait(lambda m: m.get("method") == "textDocument/publishDiagnostics")
    lat = []
    for k in range(10):
        u = f"file:///d{k}.sdprompt"
        c.notify("textDocument/didOpen", {"textDocument": {"uri": u, "languageId": "sdprompt", "version": 1, "text": "a"}})
        t0 = time.perf_counter()
        for i in range(5):
            c.notify("textDocument/didChange", {"textDocument": {"uri": u, "version": i + 2}, "contentChanges": [{"text": "a" * (i + 2)}]})
            t0 = time.perf_counter()
            time.sleep(0.03)
        t, _ = c.wait(lambda m: m.get("method") == "textDocument/publishDiagnostics" and m["params"]["uri"] == u)
        lat.append((t - t0) * 1000)
    print(f"last keystroke to publishDiagnostics: median {statistics.median(lat):.0f} ms, max {max(lat):.0f} ms (debounce 150 ms)")
    # Feature requests on a typical prompt file, measured at the client (each after an edit, so
    # every request parses a fresh snapshot).
    text = open(os.path.join(os.path.dirname(__file__), "..", "Tests", "e2e", "fixtures", "knight.sdprompt")).read()
    uri = "file:///knight.sdprompt"
    c.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "sdprompt", "version": 1, "text": text}})
    doc = {"textDocument": {"uri": uri}}
    whole = {"start": {"line": 0, "character": 0}, "end": {"line": 99, "character": 0}}
    requests = {
        "semanticTokens/full": ("textDocument/semanticTokens/full", doc),
        "inlayHint": ("textDocument/inlayHint", dict(doc, range=whole)),
        "documentSymbol": ("textDocument/documentSymbol", doc),
        "formatting": ("textDocument/formatting", dict(doc, options={"tabSize": 2, "insertSpaces": True})),
    }
    version = 1
    for name, (method, params) in requests.items():
        times = []
        for _ in range(500):
            version += 1
            c.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": version}, "contentChanges": [
                {"range": {"start": {"line": 5, "character": 0}, "end": {"line": 5, "character": 1}}, "text": "a"}]})
            t0 = time.perf_counter()
            _, r = c.request(method, params)
            assert "result" in r, r
            times.append((time.perf_counter() - t0) * 1000)
        times.sort()
        print(f"{name} on {len(text)} bytes, 500 requests: p50 {times[249]:.2f} ms, p95 {times[474]:.2f} ms")
    print(f"server peak RSS: {c.rss_mb():.0f} MB")
    c.request("shutdown")
    c.notify("exit")
    print(f"exit code: {c.p.wait(10)}")


if __name__ == "__main__":
    main()
