#!/usr/bin/env python3
"""Client-side timings of `stylus lsp` over stdio (stdlib only).

    python3 scripts/bench-lsp.py [--bin .build/release/stylus]

Reports: cold start to the initialize reply; opening a 10 MB document; 1,000 single-character
edits sent back to back (throughput and the round trip of a request queued behind them);
time from the last keystroke to publishDiagnostics; p50/p95 of the feature requests on the
example prompt file; peak RSS of the server.
"""
import argparse, json, os, subprocess, sys, threading, time, statistics


class Client:
    def __init__(self, cmd):
        self.t0 = time.perf_counter()
        self.p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=".build/release/stylus")
    a = ap.parse_args()
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
