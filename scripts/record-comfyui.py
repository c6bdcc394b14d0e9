#!/usr/bin/env python3
"""Record what `stylus render --backend comfyui` and a real ComfyUI say to each other, as the
fixture the tests' scripted server replays (Tests/Fixtures/ComfyUI/exchange.json). Not run by CI;
docs/COMFYUI.md says how the committed recording was made.

    scripts/record-comfyui.py --target http://127.0.0.1:8188 --port 8199 --out exchange.json -- \
        .build/release/stylus render FILE.sdprompt --backend comfyui --comfyui-url http://127.0.0.1:8199

A recording proxy on 127.0.0.1:PORT passes every HTTP request and the WebSocket through to the
target unchanged and logs both directions (WebSocket frames decoded: text as JSON, binary frames
base64). It runs the command after `--`, then sends the target one workflow with a sampler name
ComfyUI does not have, to record a real 400 with `node_errors`, and writes the fixture: the
`/object_info` answers, `/view_metadata` answers, the submitted request and its answer, every
WebSocket message of the run, the history entry, the image, the 400, and the target's
`/system_stats`. Python stdlib only.
"""
import argparse
import base64
import http.server
import json
import socket
import socketserver
import struct
import subprocess
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request

LOG = []
LOCK = threading.Lock()


def log(entry):
    with LOCK:
        LOG.append(entry)


def decode(body, content_type):
    if not body:
        return None
    if "json" in (content_type or ""):
        try:
            return {"json": json.loads(body)}
        except ValueError:
            pass
    try:
        return {"text": body.decode()} if "image" not in (content_type or "") else {"base64": base64.b64encode(body).decode()}
    except UnicodeDecodeError:
        return {"base64": base64.b64encode(body).decode()}


def make_handler(target):
    host, port = target.split("//")[1].split(":")
    port = int(port)

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_POST(self):
            self.forward("POST")

        def do_GET(self):
            if self.headers.get("Upgrade", "").lower() == "websocket":
                return self.websocket()
            self.forward("GET")

        def forward(self, method):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0)) if method == "POST" else None
            request = urllib.request.Request(target + self.path, data=body, method=method)
            if body is not None:
                request.add_header("Content-Type", self.headers.get("Content-Type", "application/json"))
            try:
                with urllib.request.urlopen(request, timeout=600) as r:
                    status, ctype, data = r.status, r.headers.get("Content-Type", ""), r.read()
            except urllib.error.HTTPError as e:
                status, ctype, data = e.code, e.headers.get("Content-Type", ""), e.read()
            log({"http": {"method": method, "path": self.path,
                          "request": decode(body, self.headers.get("Content-Type", "application/json")),
                          "status": status, "content_type": ctype, "response": decode(data, ctype)}})
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def websocket(self):
            upstream = socket.create_connection((host, port))
            lines = [f"GET {self.path} HTTP/1.1", f"Host: {host}:{port}"]
            lines += [f"{k}: {v}" for k, v in self.headers.items() if k.lower() != "host"]
            upstream.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = upstream.recv(1)
                if not chunk:
                    return
                head += chunk
            self.connection.sendall(head)
            log({"ws_open": {"path": self.path, "status": head.split(b"\r\n")[0].decode()}})
            self.close_connection = True
            client = self.connection

            def pump_up():
                try:
                    while True:
                        data = client.recv(65536)
                        if not data:
                            break
                        upstream.sendall(data)
                except OSError:
                    pass
                try:
                    upstream.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

            threading.Thread(target=pump_up, daemon=True).start()
            buffer = b""
            try:
                while True:
                    data = upstream.recv(65536)
                    if not data:
                        break
                    client.sendall(data)
                    buffer += data
                    while len(buffer) >= 2:
                        n, off = buffer[1] & 0x7F, 2
                        if n == 126:
                            if len(buffer) < 4:
                                break
                            n, off = struct.unpack(">H", buffer[2:4])[0], 4
                        elif n == 127:
                            if len(buffer) < 10:
                                break
                            n, off = struct.unpack(">Q", buffer[2:10])[0], 10
                        if len(buffer) < off + n:
                            break
                        opcode, payload = buffer[0] & 0x0F, buffer[off:off + n]
                        buffer = buffer[off + n:]
                        if opcode == 1:
                            log({"ws": {"text": json.loads(payload)}})
                        elif opcode == 2:
                            log({"ws": {"binary": base64.b64encode(payload).decode()}})
            except OSError:
                pass
            log({"ws_close": {}})

    return Handler


def fixture(target, commit):
    http_entries = [e["http"] for e in LOG if "http" in e]
    out = {"comfyui_commit": commit, "target": target, "object_info": {}, "lora_metadata": {}}
    for e in http_entries:
        path = e["path"]
        if path.startswith("/object_info/") and e["status"] == 200:
            out["object_info"][path.split("/")[-1]] = e["response"]["json"]
        elif path.startswith("/view_metadata/loras") and e["status"] == 200:
            name = urllib.parse.parse_qs(urllib.parse.urlparse(path).query)["filename"][0]
            out["lora_metadata"][name] = e["response"]["json"]
        elif path == "/prompt" and e["status"] == 200 and "prompt_request" not in out:
            out["prompt_request"] = e["request"]["json"]
            out["prompt_response"] = e["response"]["json"]
        elif path.startswith("/history/") and e["response"] and e["response"].get("json"):
            out["history"] = e["response"]["json"]
        elif path.startswith("/view?"):
            out["view_png"] = e["response"]["base64"]
    out["ws"] = [e["ws"] for e in LOG if "ws" in e]
    out["requests"] = [{"method": e["method"], "path": e["path"], "status": e["status"]} for e in http_entries]
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--target", default="http://127.0.0.1:8188")
    p.add_argument("--port", type=int, default=8199)
    p.add_argument("--out", required=True)
    p.add_argument("--commit", default="")
    p.add_argument("command", nargs=argparse.REMAINDER)
    a = p.parse_args()
    command = a.command[1:] if a.command[:1] == ["--"] else a.command

    class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
        daemon_threads = True
        allow_reuse_address = True

    proxy = Server(("127.0.0.1", a.port), make_handler(a.target))
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    run = subprocess.run(command, capture_output=True, text=True)
    print(run.stdout, run.stderr, sep="\n", file=sys.stderr)
    if run.returncode != 0:
        sys.exit(f"record-comfyui: the command failed ({run.returncode})")
    out = fixture(a.target, a.commit)
    # A real 400: the recorded workflow with a sampler name ComfyUI does not have.
    bad = json.loads(json.dumps(out["prompt_request"]))
    sampler = next(k for k, n in bad["prompt"].items() if n["class_type"] == "KSampler")
    bad["prompt"][sampler]["inputs"]["sampler_name"] = "no_such_sampler"
    request = urllib.request.Request(a.target + "/prompt", data=json.dumps(bad).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        urllib.request.urlopen(request, timeout=60)
        sys.exit("record-comfyui: the bad workflow was accepted")
    except urllib.error.HTTPError as e:
        out["rejected_request"] = bad
        out["rejected_status"] = e.code
        out["rejected_response"] = json.loads(e.read())
    with urllib.request.urlopen(a.target + "/system_stats", timeout=60) as r:
        out["system_stats"] = json.loads(r.read())
    with urllib.request.urlopen(a.target + "/object_info/KSampler", timeout=60) as r:  # sampler and scheduler names
        out["object_info"]["KSampler"] = json.loads(r.read())
    with open(a.out, "w") as f:
        json.dump(out, f, indent=1, sort_keys=True)
        f.write("\n")
    print(f"record-comfyui: wrote {a.out} ({len(out['ws'])} WebSocket messages)", file=sys.stderr)
    proxy.shutdown()


if __name__ == "__main__":
    main()
