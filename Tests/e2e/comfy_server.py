"""A scripted ComfyUI server for the tests: real HTTP and WebSocket (RFC 6455) on 127.0.0.1, Python
stdlib only, answering with the shapes a real ComfyUI sent (Tests/Fixtures/ComfyUI/exchange.json,
recorded by scripts/record-comfyui.py; see docs/COMFYUI.md).

It checks every submitted workflow the way ComfyUI validates one (known node classes, required
inputs, links to existing nodes and outputs, model and sampler names in the server's lists) and
answers a bad one with a 400 and `node_errors`; a good one is "run" by replaying the recorded
WebSocket messages (status, execution_start, execution_cached, executing, progress with binary
preview frames, executed, execution_success), with this run's prompt id, steps and node ids, then
served from /history and /view.

Faults, per server: `fail_after=N` drops every connection and stops answering after N progress
messages (a crashed server); `execution_error=True` fails the KSampler node; `hold=True` stops after
the first progress message until POST /interrupt. `step_delay` paces progress messages.

    python Tests/e2e/comfy_server.py [--port 8188]     # serve until interrupted
"""

import base64
import copy
import hashlib
import http.server
import json
import pathlib
import socket
import socketserver
import struct
import threading
import time
import urllib.parse
import uuid

FIXTURE = pathlib.Path(__file__).resolve().parents[1] / "Fixtures" / "ComfyUI" / "exchange.json"
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

# Inputs each node class needs (ComfyUI's INPUT_TYPES "required"), and how many outputs it has.
NODES = {
    "CheckpointLoaderSimple": (["ckpt_name"], 3),
    "LoraLoader": (["model", "clip", "lora_name", "strength_model", "strength_clip"], 2),
    "CLIPSetLastLayer": (["clip", "stop_at_clip_layer"], 1),
    "CLIPTextEncode": (["text", "clip"], 1),
    "EmptyLatentImage": (["width", "height", "batch_size"], 1),
    "KSampler": (["model", "seed", "steps", "cfg", "sampler_name", "scheduler", "positive", "negative", "latent_image", "denoise"], 1),
    "VAEDecode": (["samples", "vae"], 1),
    "SaveImage": (["images", "filename_prefix"], 0),
}



def load_fixture():
    return json.loads(FIXTURE.read_text())


def choices(object_info, node, name):
    spec = object_info[node][node]["input"]["required"][name]
    return spec[0] if isinstance(spec[0], list) else spec[1]["options"]


def validate(workflow, object_info, drop=()):
    """ComfyUI's checks of an API-format prompt, reduced to what this backend sends; returns
    (error, node_errors) in ComfyUI's shapes, or None. Names in `drop` are left out of the
    server's lists (an older server without them)."""
    if not isinstance(workflow, dict) or not workflow:
        return {"type": "invalid_prompt", "message": "Cannot execute because the prompt is empty or not an object.",
                "details": "", "extra_info": {}}, {}
    lists = {("CheckpointLoaderSimple", "ckpt_name"): choices(object_info, "CheckpointLoaderSimple", "ckpt_name"),
             ("LoraLoader", "lora_name"): choices(object_info, "LoraLoader", "lora_name"),
             ("KSampler", "sampler_name"): choices(object_info, "KSampler", "sampler_name"),
             ("KSampler", "scheduler"): choices(object_info, "KSampler", "scheduler")}
    lists = {k: [n for n in v if n not in drop] for k, v in lists.items()}
    node_errors = {}
    outputs = [i for i, n in workflow.items() if isinstance(n, dict) and n.get("class_type") == "SaveImage"]
    for node_id, node in workflow.items():
        cls = node.get("class_type") if isinstance(node, dict) else None
        if cls not in NODES:
            return {"type": "invalid_prompt", "message": f"Cannot execute because node {cls} does not exist.",
                    "details": f"Node ID '#{node_id}'", "extra_info": {}}, {}
        errors = []
        inputs = node.get("inputs", {})
        for name in NODES[cls][0]:
            if name not in inputs:
                errors.append({"type": "required_input_missing", "message": "Required input is missing",
                               "details": name, "extra_info": {"input_name": name}})
                continue
            value = inputs[name]
            if isinstance(value, list):
                if len(value) != 2 or str(value[0]) not in workflow or not isinstance(value[1], int) \
                        or value[1] >= NODES.get(workflow[str(value[0])].get("class_type"), ([], 0))[1]:
                    errors.append({"type": "bad_linked_input", "message": "Bad linked input, must be a length-2 list of [string, int]",
                                   "details": f"{name}: {value}", "extra_info": {"input_name": name, "received_value": value}})
            elif (cls, name) in lists and value not in lists[(cls, name)]:
                shown = lists[(cls, name)]
                errors.append({"type": "value_not_in_list", "message": "Value not in list",
                               "details": f"{name}: '{value}' not in (list of length {len(shown)})",
                               "extra_info": {"input_name": name, "input_config": None, "received_value": value}})
        if errors:
            node_errors[node_id] = {"errors": errors, "dependent_outputs": outputs, "class_type": cls}
    if node_errors:
        return {"type": "prompt_outputs_failed_validation", "message": "Prompt outputs failed validation",
                "details": "", "extra_info": {}}, node_errors
    if not outputs:
        return {"type": "prompt_no_outputs", "message": "Prompt has no outputs", "details": "", "extra_info": {}}, {}
    return None


class ScriptedComfyUI:
    def __init__(self, fail_after=None, execution_error=False, hold=False, step_delay=0.0, fixture=None, drop=(),
                 late_socket=0.0):
        self.fixture = fixture or load_fixture()
        # Seconds between the WebSocket handshake and listing the socket under its client id (a
        # server may answer the handshake before it knows where to send that client's messages).
        self.late_socket = late_socket
        self.drop = drop
        self.fail_after = fail_after
        self.execution_error = execution_error
        self.hold = hold
        self.step_delay = step_delay
        self.prompts = []           # submitted request bodies (JSON), in order
        self.requests = []          # (method, path)
        self.history = {}
        self.images = {}
        self.interrupted = threading.Event()
        self.dead = False
        self.lock = threading.Lock()
        self.sockets = {}           # client id -> (socket, write lock)
        self.queue = []
        self.run_lock = threading.Lock()  # one prompt at a time, like ComfyUI's single worker
        self.counter = 0
        self.outstanding = 0        # accepted prompts not finished yet
        self.max_outstanding = 0    # the most at once (a client keeping one job per server sees 1)
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                server.handle(self, "GET")

            def do_POST(self):
                server.handle(self, "POST")

        class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
            daemon_threads = True
            allow_reuse_address = True

        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self):
        self.dead = True
        self.httpd.shutdown()
        self.httpd.server_close()
        with self.lock:
            for sock, _ in self.sockets.values():
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    # HTTP

    def reply(self, h, status, body, content_type="application/json"):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        h.send_response(status)
        h.send_header("Content-Type", content_type)
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)

    def handle(self, h, method):
        url = urllib.parse.urlparse(h.path)
        path = url.path[4:] if url.path.startswith("/api/") else url.path
        query = urllib.parse.parse_qs(url.query)
        body = h.rfile.read(int(h.headers.get("Content-Length") or 0)) if method == "POST" else b""
        with self.lock:
            self.requests.append((method, h.path))
        if self.dead:
            h.close_connection = True
            h.connection.shutdown(socket.SHUT_RDWR)
            return
        if method == "GET" and path == "/ws":
            return self.websocket(h, query.get("clientId", [""])[0])
        if method == "GET" and path.startswith("/object_info/"):
            node = path.split("/")[-1]
            if node in self.fixture["object_info"]:
                return self.reply(h, 200, self.fixture["object_info"][node])
            return self.reply(h, 200, {})
        if method == "GET" and path == "/view_metadata/loras":
            meta = self.fixture.get("lora_metadata", {}).get(query.get("filename", [""])[0])
            return self.reply(h, 200, meta) if meta else self.reply(h, 404, b"", "text/plain")
        if method == "POST" and path == "/prompt":
            return self.submit(h, json.loads(body or b"{}"))
        if method == "GET" and path.startswith("/history/"):
            pid = path.split("/")[-1]
            with self.lock:
                entry = self.history.get(pid)
            return self.reply(h, 200, {pid: entry} if entry else {})
        if method == "GET" and path == "/view":
            name = query.get("filename", [""])[0]
            with self.lock:
                png = self.images.get(name)
            if png is None or query.get("type", ["output"])[0] != "output":
                return self.reply(h, 404, b"", "text/plain")
            return self.reply(h, 200, png, "image/png")
        if method == "POST" and path == "/interrupt":
            self.interrupted.set()
            return self.reply(h, 200, b"", "text/plain")
        if method == "POST" and path == "/queue":
            request = json.loads(body or b"{}")
            with self.lock:
                self.queue = [p for p in self.queue if p not in request.get("delete", [])]
            return self.reply(h, 200, b"", "text/plain")
        if method == "GET" and path == "/queue":
            with self.lock:
                items = [[i, pid, {}, {}, []] for i, pid in enumerate(self.queue)]
            return self.reply(h, 200, {"queue_running": items[:1], "queue_pending": items[1:]})
        if method == "GET" and path == "/system_stats":
            return self.reply(h, 200, self.fixture.get("system_stats", {}))
        self.reply(h, 404, b"404: Not Found", "text/plain")

    def submit(self, h, request):
        with self.lock:
            self.prompts.append(request)
        workflow = request.get("prompt")
        problem = validate(workflow, self.fixture["object_info"], self.drop)
        if problem:
            error, node_errors = problem
            return self.reply(h, 400, {"error": error, "node_errors": node_errors})
        pid = str(uuid.uuid4())
        with self.lock:
            number = self.counter
            self.counter += 1
            self.queue.append(pid)
            self.outstanding += 1
            self.max_outstanding = max(self.max_outstanding, self.outstanding)
        self.reply(h, 200, {"prompt_id": pid, "number": number, "node_errors": {}})
        threading.Thread(target=self.run, args=(pid, number, workflow, request.get("client_id", "")), daemon=True).start()

    # The run: the recorded messages with this prompt's ids and steps

    def send(self, client, message):
        with self.lock:
            entry = self.sockets.get(client)
        if not entry:
            return
        sock, lock = entry
        if isinstance(message, (bytes, bytearray)):
            frame = ws_frame(2, bytes(message))
        else:
            frame = ws_frame(1, json.dumps(message).encode())
        with lock:
            try:
                sock.sendall(frame)
            except OSError:
                pass

    def crash(self):
        self.dead = True
        with self.lock:
            for sock, _ in self.sockets.values():
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def run(self, pid, number, workflow, client):
        with self.run_lock:
            with self.lock:
                if pid not in self.queue:
                    return  # deleted from the queue before it started
            recorded = self.fixture["ws"]
            old_pid = self.fixture["prompt_response"]["prompt_id"]
            sampler = next(i for i, n in workflow.items() if n["class_type"] == "KSampler")
            save = next(i for i, n in workflow.items() if n["class_type"] == "SaveImage")
            steps = workflow[sampler]["inputs"]["steps"]
            name = f"{workflow[save]['inputs']['filename_prefix']}_{self.port}_{number:05d}_.png"
            progress_seen = 0
            for item in recorded:
                if self.dead:
                    return
                if "binary" in item:
                    continue  # previews are sent after each step's progress message below
                message = json.loads(json.dumps(item["text"]).replace(old_pid, pid))
                kind, data = message["type"], message.get("data", {})
                if kind == "status":
                    continue  # sent for the queue changes below
                if kind == "execution_start":
                    self.send(client, {"type": "status", "data": {"status": {"exec_info": {"queue_remaining": 1}}}})
                if kind == "progress":
                    if data.get("value") != 1:
                        continue  # one recorded progress message is the template of every step
                    for step in range(1, steps + 1):
                        progress_seen += 1
                        if self.fail_after is not None and progress_seen > self.fail_after:
                            self.crash()
                            return
                        data = dict(data, value=step, max=steps, node=sampler)
                        self.send(client, {"type": "progress", "data": data})
                        preview = next((b for b in recorded if "binary" in b), None)
                        if preview:
                            self.send(client, base64.b64decode(preview["binary"]))
                        if self.execution_error:
                            self.send(client, {"type": "execution_error", "data": {
                                "prompt_id": pid, "node_id": sampler, "node_type": "KSampler", "executed": ["1"],
                                "exception_message": "Allocation on device would exceed allowed memory. (out of memory)\n",
                                "exception_type": "torch.OutOfMemoryError", "traceback": ["..."],
                                "current_inputs": {}, "current_outputs": {}, "timestamp": int(time.time() * 1000)}})
                            self.finish(pid, number, workflow, client, None, "error")
                            return
                        if self.hold:
                            while not self.interrupted.wait(0.05):
                                if self.dead:
                                    return
                            self.send(client, {"type": "execution_interrupted", "data": {
                                "prompt_id": pid, "node_id": sampler, "node_type": "KSampler", "executed": ["1"],
                                "timestamp": int(time.time() * 1000)}})
                            self.finish(pid, number, workflow, client, None, "error")
                            return
                        time.sleep(self.step_delay)
                    continue
                if kind == "executed":
                    data["node"] = save
                    data["display_node"] = save
                    data["output"] = {"images": [{"filename": name, "subfolder": "", "type": "output"}]}
                    self.finish(pid, number, workflow, client, name, "success")
                if kind == "executing" and data.get("node") is not None:
                    continue  # node ids differ per workflow; the final `node: null` is kept
                self.send(client, message)
            self.send(client, {"type": "status", "data": {"status": {"exec_info": {"queue_remaining": 0}}}})

    def finish(self, pid, number, workflow, client, name, status):
        with self.lock:
            self.outstanding -= 1
            if pid in self.queue:
                self.queue.remove(pid)
            outputs = {}
            if name:
                png = base64.b64decode(self.fixture["view_png"])
                self.images[name] = png_with_prompt(png, workflow)
                save = next(i for i, n in workflow.items() if n["class_type"] == "SaveImage")
                outputs[save] = {"images": [{"filename": name, "subfolder": "", "type": "output"}]}
            self.history[pid] = {
                "prompt": [number, pid, workflow, {"client_id": client}, list(outputs)],
                "outputs": outputs,
                "status": {"status_str": status, "completed": status == "success", "messages": []},
                "meta": {k: {"node_id": k, "display_node": k, "parent_node": None, "real_node_id": k} for k in outputs},
            }

    # WebSocket

    def websocket(self, h, client):
        key = h.headers.get("Sec-WebSocket-Key", "")
        accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
        sock = h.connection
        client = client or uuid.uuid4().hex
        # The socket is listed before the client can read the 101: a prompt it posts right after
        # the handshake must not run before its socket is known (its first progress would be lost).
        # Holding the socket's write lock keeps every message after the handshake's headers.
        write_lock = threading.Lock()
        with write_lock:
            if not self.late_socket:
                with self.lock:
                    self.sockets[client] = (sock, write_lock)
            h.send_response(101)
            h.send_header("Upgrade", "websocket")
            h.send_header("Connection", "Upgrade")
            h.send_header("Sec-WebSocket-Accept", accept)
            h.end_headers()
            h.wfile.flush()
        h.close_connection = True
        if self.late_socket:
            time.sleep(self.late_socket)
            with self.lock:
                self.sockets[client] = (sock, write_lock)
        self.send(client, {"type": "status", "data": {"status": {"exec_info": {"queue_remaining": len(self.queue)}}, "sid": client}})
        try:
            while not self.dead:
                header = recv_exact(sock, 2)
                if not header:
                    break
                length = header[1] & 0x7F
                if length == 126:
                    length = struct.unpack(">H", recv_exact(sock, 2))[0]
                elif length == 127:
                    length = struct.unpack(">Q", recv_exact(sock, 8))[0]
                mask = recv_exact(sock, 4) if header[1] & 0x80 else b"\0\0\0\0"
                recv_exact(sock, length)
                if header[0] & 0x0F == 8:
                    break
        except OSError:
            pass
        with self.lock:
            if self.sockets.get(client, (None,))[0] is sock:
                del self.sockets[client]


def recv_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            return b"" if not data else data
        data += chunk
    return data


def ws_frame(opcode, payload):
    n = len(payload)
    if n < 126:
        head = struct.pack(">BB", 0x80 | opcode, n)
    elif n < 65536:
        head = struct.pack(">BBH", 0x80 | opcode, 126, n)
    else:
        head = struct.pack(">BBQ", 0x80 | opcode, 127, n)
    return head + payload


def png_with_prompt(png, workflow):
    """The image with ComfyUI's `prompt` tEXt chunk for this workflow (replacing the recorded one)."""
    import zlib
    out, i = png[:8], 8
    chunks = []
    while i < len(png):
        n = struct.unpack(">I", png[i:i + 4])[0]
        kind = png[i + 4:i + 8]
        data = png[i + 8:i + 8 + n]
        chunks.append((kind, data))
        i += 12 + n
    text = b"prompt\0" + json.dumps(workflow).encode("latin-1", "replace")
    for kind, data in chunks:
        if kind == b"tEXt" and (data.startswith(b"prompt\0") or data.startswith(b"workflow\0")):
            continue
        out += struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        if kind == b"IHDR":
            out += struct.pack(">I", len(text)) + b"tEXt" + text + struct.pack(">I", zlib.crc32(b"tEXt" + text) & 0xFFFFFFFF)
    return out


if __name__ == "__main__":
    import argparse
    p = argparse.ArgumentParser()
    p.add_argument("--step-delay", type=float, default=0.0)
    a = p.parse_args()
    s = ScriptedComfyUI(step_delay=a.step_delay)
    print(s.url, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        s.stop()
