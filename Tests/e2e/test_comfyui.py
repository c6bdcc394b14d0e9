"""Rendering on ComfyUI servers: the real `stylus` (CLI and language server) against the scripted
ComfyUI of comfy_server.py (real HTTP and WebSocket on 127.0.0.1, replaying a recorded exchange
with a real ComfyUI). Checks the submitted workflow, progress, the written PNG and its text chunks,
every fault the backend must word (node_errors, a missing model, execution_error, interrupt, a
server dying mid-run), and several servers sharing variations."""

import asyncio
import atexit
import json
import os
import pathlib
import shutil
import subprocess
import tempfile
import time

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

from comfy_server import ScriptedComfyUI, load_fixture, validate
from conftest import ROOT, SERVER
from test_render import png_text, wait_for, addnet_hash, open_doc

LORAS = ROOT / "Tests" / "Fixtures" / "LoRA"
WORK = pathlib.Path(tempfile.mkdtemp(prefix="stylus-e2e-comfy-"))
atexit.register(shutil.rmtree, WORK, ignore_errors=True)
FIXTURE = load_fixture()
CHECKPOINT = FIXTURE["object_info"]["CheckpointLoaderSimple"]["CheckpointLoaderSimple"]["input"]["required"]["ckpt_name"][0][0]
CATALOG = WORK / "catalog.sqlite"
ADAPTERS = [
    {"adapter_id": "c-1", "alias": "kohya", "title": "Watercolor Style", "tags": ["style", "watercolor", "painting"],
     "description": "A soft watercolor painting style with paper texture.", "weight": 0.8, "file": str(LORAS / "kohya.safetensors")},
    {"adapter_id": "c-2", "alias": "locon_ldm", "title": "Medieval Castle", "tags": ["building", "castle", "architecture"],
     "description": "Stone castles with towers and walls.", "weight": 0.7, "file": str(LORAS / "locon_ldm.safetensors")},
]


def fixture_with_loras(*names):
    """The recorded fixture with more LoRA files on the server's list."""
    f = json.loads(json.dumps(FIXTURE))
    spec = f["object_info"]["LoraLoader"]["LoraLoader"]["input"]["required"]["lora_name"]
    spec[0] = sorted(set(spec[0]) | set(names))
    return f


def prompt_file(name, body, steps=4, extra="", lora_dirs=True):
    folder = WORK / f"{name}-{time.monotonic_ns()}"
    folder.mkdir()
    text = (f"---\ncheckpoint: {CHECKPOINT}\nsteps: {steps}\nsize: 64x64\nseed: 7\nsampler: DPM++ 2M Karras\ncfg: 5\n"
            f"clip_skip: 2\nnegative: blurry, <lora:kohya:1>\n" + (f"lora_dirs: [{LORAS}]\n" if lora_dirs else "") + f"{extra}---\n{body}\n")
    path = folder / f"{name}.sdprompt"
    path.write_text(text)
    return path, text


def render(path, *args, timeout=120):
    return subprocess.run([SERVER, "render", str(path), *args], capture_output=True, text=True, timeout=timeout)


def make_catalog():
    if not CATALOG.exists():
        jsonl = WORK / "catalog.jsonl"
        jsonl.write_text("\n".join(json.dumps({**a, "base_model": "SD 1.5", "type": "LORA"}) for a in ADAPTERS))
        subprocess.run([SERVER, "catalog", "import", "--db", str(CATALOG), str(jsonl)], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def nodes(workflow, cls):
    return {k: v["inputs"] for k, v in workflow.items() if v["class_type"] == cls}


def test_cli_render_submits_the_workflow_and_writes_the_png():
    server = ScriptedComfyUI()
    try:
        # kohya_alias is the ss_output_name of the local kohya.safetensors: the server has that file name.
        path, _ = prompt_file("knight", "a knight, (glowing eyes:1.2), <lora:kohya_alias:0.8:0.5> BREAK castle ruins")
        run = render(path, "--backend", "comfyui", "--comfyui-url", server.url, "--json")
        assert run.returncode == 0, run.stderr
        out = json.loads(run.stdout)
        image = path.parent / "knight-1.png"
        assert out["path"] == str(image) and image.exists()

        (request,) = server.prompts
        workflow = request["prompt"]
        assert request["client_id"] and any(p == f"/ws?clientId={request['client_id']}" for _, p in server.requests)
        (ckpt,) = nodes(workflow, "CheckpointLoaderSimple").values()
        assert ckpt["ckpt_name"] == CHECKPOINT
        (lora_id, lora), = nodes(workflow, "LoraLoader").items()
        assert lora["lora_name"] == "kohya.safetensors"
        assert lora["strength_clip"] == pytest.approx(0.8) and lora["strength_model"] == pytest.approx(0.5)
        assert lora["model"] == ["1", 0] and lora["clip"] == ["1", 1]
        (skip,) = nodes(workflow, "CLIPSetLastLayer").values()
        assert skip["stop_at_clip_layer"] == -2 and skip["clip"] == [lora_id, 1]
        texts = sorted(n["text"] for n in nodes(workflow, "CLIPTextEncode").values())
        assert texts == ["a knight, (glowing eyes:1.2), BREAK castle ruins", "blurry"]
        (ks,) = nodes(workflow, "KSampler").values()
        assert (ks["sampler_name"], ks["scheduler"], ks["steps"], ks["cfg"], ks["seed"]) == ("dpmpp_2m", "karras", 4, 5, 7)
        assert ks["model"] == [lora_id, 0]
        (latent,) = nodes(workflow, "EmptyLatentImage").values()
        assert (latent["width"], latent["height"], latent["batch_size"]) == (64, 64, 1)
        assert len(nodes(workflow, "VAEDecode")) == 1 and len(nodes(workflow, "SaveImage")) == 1

        # The order of the exchange: names first, then the WebSocket, the prompt, history, view.
        paths = [p.split("?")[0] for _, p in server.requests]
        order = [paths.index(p) for p in ("/object_info/CheckpointLoaderSimple", "/object_info/LoraLoader", "/ws", "/prompt", "/view")]
        assert order == sorted(order), paths
        assert any(p.startswith("/history/") for p in paths)

        chunks = png_text(image)
        assert json.loads(chunks["prompt"]) == workflow, "ComfyUI's own prompt chunk is kept"
        params = chunks["parameters"]
        assert params.splitlines()[0] == "a knight, (glowing eyes:1.2), <lora:kohya_alias:0.8:0.5> BREAK castle ruins"
        assert "Steps: 4, Sampler: DPM++ 2M Karras, CFG scale: 5, Seed: 7, Size: 64x64" in params
        assert f"Lora hashes: \"kohya_alias: {addnet_hash(LORAS / 'kohya.safetensors')}\"" in params, params
        assert "Model: sd15-random" in params
        assert "step 4/4" in run.stderr, run.stderr  # the progress line follows the server's progress messages
    finally:
        server.stop()


def test_node_errors_name_the_node_and_input():
    # A server whose scheduler list lacks sgm_uniform (older ComfyUI builds): LCM's scheduler is refused.
    server = ScriptedComfyUI(drop=("sgm_uniform",))
    try:
        path, _ = prompt_file("lcm", "a knight")
        run = render(path, "--backend", "comfyui", "--comfyui-url", server.url, "--sampler", "LCM")
        assert run.returncode == 1
        assert "refused the workflow: Prompt outputs failed validation" in run.stderr, run.stderr
        assert "node 6 (KSampler), input 'scheduler': Value not in list: scheduler: 'sgm_uniform' not in (list of length" in run.stderr, run.stderr
        assert not list(path.parent.glob("*.png"))
    finally:
        server.stop()


def test_scripted_validation_answers_as_the_recorded_comfyui():
    """The 400 the real ComfyUI gave for a workflow with an unknown sampler, reproduced."""
    error, node_errors = validate(FIXTURE["rejected_request"]["prompt"], FIXTURE["object_info"])
    assert FIXTURE["rejected_status"] == 400
    assert {"error": error, "node_errors": node_errors} == FIXTURE["rejected_response"]


def test_lora_found_by_its_metadata():
    """No local file and another name on the server: ComfyUI's /view_metadata shows the file's
    ss_output_name, which is the tag's name."""
    server = ScriptedComfyUI()
    try:
        path, _ = prompt_file("meta", "a knight <lora:kohya_alias:0.6>", lora_dirs=False)
        run = render(path, "--backend", "comfyui", "--comfyui-url", server.url)
        assert run.returncode == 0, run.stderr
        (lora,) = nodes(server.prompts[0]["prompt"], "LoraLoader").values()
        assert lora["lora_name"] == "kohya.safetensors"
        assert any(p.startswith("/view_metadata/loras?filename=kohya.safetensors") for _, p in server.requests)
    finally:
        server.stop()


def test_missing_models_are_named():
    server = ScriptedComfyUI()
    try:
        path, _ = prompt_file("missing", "a knight <lora:not_there:1>")
        run = render(path, "--backend", "comfyui", "--comfyui-url", server.url)
        assert run.returncode == 1
        assert f"the ComfyUI server at {server.url} has no LoRA 'not_there'" in run.stderr, run.stderr
        assert "models/loras" in run.stderr
        run = render(path, "--backend", "comfyui", "--comfyui-url", server.url, "--checkpoint", "nope.safetensors")
        assert run.returncode == 1 and "has no checkpoint 'nope.safetensors'" in run.stderr, run.stderr
        assert not server.prompts, "nothing is submitted when a name cannot be resolved"
    finally:
        server.stop()


def test_execution_error_is_reported_with_the_node():
    server = ScriptedComfyUI(execution_error=True)
    try:
        path, _ = prompt_file("oom", "a knight")
        run = render(path, "--backend", "comfyui", "--comfyui-url", server.url)
        assert run.returncode == 1
        assert "failed in node 6 (KSampler): torch.OutOfMemoryError: Allocation on device would exceed allowed memory" in run.stderr, run.stderr
        assert not list(path.parent.glob("*.png"))
    finally:
        server.stop()


def test_no_progress_is_lost_when_the_server_lists_the_socket_late():
    """ComfyUI sends a prompt's messages to the sockets it has listed under the client id, and says
    `status` to a socket once it is listed. A client that posts its prompt right after the handshake
    can have the first messages (or all of them, and the end) sent nowhere; stylus waits for that
    first `status`."""
    server = ScriptedComfyUI(late_socket=0.5)
    try:
        path, _ = prompt_file("late", "a knight")
        run = subprocess.run([SERVER, "render", str(path), "--backend", "comfyui", "--comfyui-url", server.url],
                             capture_output=True, text=True, timeout=60, env={**os.environ, "STYLUS_SERVER_TIMEOUT": "5"})
        assert run.returncode == 0, run.stderr
        for step in range(1, 5):
            assert f"step {step}/4" in run.stderr, run.stderr
    finally:
        server.stop()


def test_a_stuck_server_times_out_and_is_interrupted():
    server = ScriptedComfyUI(hold=True)  # one progress message, then silence
    try:
        path, _ = prompt_file("stuck", "a knight")
        started = time.monotonic()
        run = subprocess.run([SERVER, "render", str(path), "--backend", "comfyui", "--comfyui-url", server.url],
                             capture_output=True, text=True, timeout=60, env={**os.environ, "STYLUS_SERVER_TIMEOUT": "2"})
        assert run.returncode == 1 and "said nothing for 2 s" in run.stderr, run.stderr
        assert time.monotonic() - started < 30
        assert server.interrupted.wait(10) and any(p == "/interrupt" for _, p in server.requests)
    finally:
        server.stop()


def test_without_a_checkpoint_the_servers_first_is_used_and_said():
    server = ScriptedComfyUI()
    try:
        folder = WORK / f"nockpt-{time.monotonic_ns()}"
        folder.mkdir()
        path = folder / "nockpt.sdprompt"
        path.write_text("---\nsteps: 2\nsize: 64x64\n---\na knight\n")
        run = render(path, "--backend", "comfyui", "--comfyui-url", server.url)
        assert run.returncode == 0, run.stderr
        assert f"no checkpoint is set; rendered with the ComfyUI server's first, '{CHECKPOINT}'" in run.stderr, run.stderr
        (ckpt,) = nodes(server.prompts[0]["prompt"], "CheckpointLoaderSimple").values()
        assert ckpt["ckpt_name"] == CHECKPOINT and (folder / "nockpt-1.png").exists()
    finally:
        server.stop()


def test_unreachable_server():
    server = ScriptedComfyUI()
    url = server.url
    server.stop()
    path, _ = prompt_file("down", "a knight")
    run = render(path, "--backend", "comfyui", "--comfyui-url", url)
    assert run.returncode == 1 and f"cannot reach the ComfyUI server at {url}" in run.stderr, run.stderr


def test_environment_default_url():
    server = ScriptedComfyUI()
    try:
        path, _ = prompt_file("env", "a knight", extra="renderer: comfyui\n")
        run = subprocess.run([SERVER, "render", str(path)], capture_output=True, text=True, timeout=120,
                             env={**os.environ, "STYLUS_COMFYUI_URL": server.url})
        assert run.returncode == 0, run.stderr
        assert len(server.prompts) == 1 and (path.parent / "env-1.png").exists()
    finally:
        server.stop()


def test_two_servers_share_variations_and_survive_a_failure():
    """Four variations on two servers, one of which dies after its third progress message: every
    image is rendered (the lost one again on the other server), each server ran one prompt at a
    time, and the files are byte for byte those of a run on one server."""
    make_catalog()
    fixture = fixture_with_loras("locon_ldm.safetensors")
    args = ["--variations", "4", "--mask-seed", "3", "--db", str(CATALOG), "--base-model", "SD 1.5"]

    single = ScriptedComfyUI(fixture=fixture)
    try:
        one, _ = prompt_file("vary", "a medieval castle on a hill, watercolor")
        run = render(one, "--backend", "comfyui", "--comfyui-url", single.url, *args)
        assert run.returncode == 0, run.stderr
    finally:
        single.stop()
    expected = sorted(p.name for p in one.parent.glob("*.png"))
    assert expected == [f"vary-{i}.png" for i in (1, 2, 3, 4)]

    failing = ScriptedComfyUI(fixture=fixture, fail_after=3, step_delay=0.05)
    healthy = ScriptedComfyUI(fixture=fixture, step_delay=0.05)
    try:
        two, _ = prompt_file("vary", "a medieval castle on a hill, watercolor")
        run = render(two, "--backend", f"comfyui {failing.url}, comfyui {healthy.url}", *args)
        assert run.returncode == 0, run.stderr
        assert f"render server 127.0.0.1:{failing.port} failed and was left out of this job" in run.stderr, run.stderr
        assert f"on 127.0.0.1:{healthy.port}" in run.stderr, "progress names the server"
        assert len(failing.prompts) == 1 and len(healthy.prompts) == 4, (len(failing.prompts), len(healthy.prompts))
        assert healthy.max_outstanding == 1, "one image at a time per server"
        for i in (1, 2, 3, 4):
            assert (two.parent / f"vary-{i}.png").read_bytes() == (one.parent / f"vary-{i}.png").read_bytes(), i
        seeds = sorted(r["prompt"][k]["inputs"]["seed"] for r in healthy.prompts for k in r["prompt"]
                       if r["prompt"][k]["class_type"] == "KSampler")
        assert seeds == [7, 8, 9, 10], "the failed image was rendered again, nothing twice"
    finally:
        failing.stop()
        healthy.stop()


class ScriptedA1111:
    """An A1111/Forge `--api` server reduced to what the backend calls: options, txt2img (answering
    with the recorded ComfyUI image as its PNG), progress."""

    def __init__(self):
        import base64
        import http.server
        import socketserver
        import threading
        png = FIXTURE["view_png"]
        self.requests = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def answer(self, body):
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                self.answer({"progress": 0.5, "state": {"sampling_step": 2, "sampling_steps": 4}})

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                outer.requests.append((self.path, body))
                if self.path == "/sdapi/v1/txt2img":
                    time.sleep(0.3)  # a GPU at work: the other server surely takes an image meanwhile
                    info = {"seed": body["seed"], "infotexts": [f"{body['prompt']}\nSteps: {body['steps']}, Seed: {body['seed']}"]}
                    return self.answer({"images": [png], "parameters": {}, "info": json.dumps(info)})
                self.answer({})

        class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
            daemon_threads = True

        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def test_a_comfyui_and_an_a1111_server_share_variations():
    """ComfyUI and A1111 side by side; the ComfyUI server dies after its first progress message and
    the A1111 server renders its image too."""
    make_catalog()
    fixture = fixture_with_loras("locon_ldm.safetensors")
    comfy = ScriptedComfyUI(fixture=fixture, fail_after=1, step_delay=0.05)
    a1111 = ScriptedA1111()
    try:
        path, _ = prompt_file("mixed", "a medieval castle on a hill, watercolor")
        run = render(path, "--backend", f"comfyui {comfy.url}, a1111 {a1111.url}", "--variations", "3", "--mask-seed", "3",
                     "--db", str(CATALOG), "--base-model", "SD 1.5")
        assert run.returncode == 0, run.stderr
        assert sorted(p.name for p in path.parent.glob("*.png")) == ["mixed-1.png", "mixed-2.png", "mixed-3.png"]
        seeds = sorted(b["seed"] for p, b in a1111.requests if p == "/sdapi/v1/txt2img")
        assert seeds == [7, 8, 9], seeds
        assert all(b["override_settings"]["sd_model_checkpoint"] == CHECKPOINT for p, b in a1111.requests if p == "/sdapi/v1/txt2img")
        for i in (1, 2, 3):
            assert png_text(path.parent / f"mixed-{i}.png")["parameters"].endswith(f"Seed: {6 + i}"), i
        assert f"render server 127.0.0.1:{comfy.port} failed" in run.stderr, run.stderr
    finally:
        comfy.stop()
        a1111.stop()


def test_all_servers_failing_is_one_error():
    a, b = ScriptedComfyUI(execution_error=True), ScriptedComfyUI(execution_error=True)
    try:
        path, _ = prompt_file("both", "a knight")
        run = render(path, "--backend", f"comfyui {a.url}, comfyui {b.url}")
        assert run.returncode == 1
        assert "every render server failed" in run.stderr and f"127.0.0.1:{a.port}:" in run.stderr and f"127.0.0.1:{b.port}:" in run.stderr, run.stderr
    finally:
        a.stop()
        b.stop()


# The editor's "Render image" on a ComfyUI server, with progress and cancel.

EDITOR_SERVER = ScriptedComfyUI(step_delay=0.02)
atexit.register(EDITOR_SERVER.stop)
# By hand against a real ComfyUI (with the recording's models, see Tests/Fixtures/ComfyUI/README.md):
# STYLUS_E2E_COMFYUI_URL=http://127.0.0.1:8188 pytest Tests/e2e/test_comfyui.py -k editor_render
EDITOR_URL = os.environ.get("STYLUS_E2E_COMFYUI_URL") or EDITOR_SERVER.url


@pytest_lsp.fixture(params=["visual-studio-code"], config=ClientServerConfig(server_command=[SERVER, "lsp"]))
async def client(request, lsp_client: LanguageClient):
    settings = {"renderer": f"comfyui {EDITOR_URL}", "baseModel": "SD 1.5"}
    lsp_client.set_configuration({"stylus": settings})

    @lsp_client.feature(types.CLIENT_REGISTER_CAPABILITY)
    def register_capability(params: types.RegistrationParams):
        return None

    lsp_client.client_name = request.param
    await lsp_client.initialize_session(types.InitializeParams(
        capabilities=client_capabilities(request.param), root_uri=WORK.as_uri(), initialization_options={"stylus": settings}))
    yield
    await lsp_client.shutdown_session()


async def test_editor_render_image_on_comfyui(client: LanguageClient):
    path, text = prompt_file("editor", "a knight, <lora:kohya:0.7>", steps=5)
    open_doc(client, path, text)
    result = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="stylus.render", arguments=[{"uri": path.as_uri()}]))
    image = path.parent / "editor-1.png"
    assert result["paths"] == [str(image)]
    assert png_text(image)["parameters"].startswith("a knight, <lora:kohya:0.7>\n")
    (reports,) = [r for r in client.progress_reports.values() if r and r[0].title == "Rendering editor.sdprompt"]
    messages = [r.message for r in reports[1:-1]]
    assert [m for m in messages if m.startswith("Rendering on the server step")][-5:] == \
        [f"Rendering on the server step {i}/5" for i in range(1, 6)], messages
    percentages = [r.percentage for r in reports[1:-1] if r.percentage is not None]
    assert percentages == sorted(percentages), percentages
    assert client.shown_documents[-1].uri == image.as_uri()


@pytest.mark.skipif(EDITOR_URL != EDITOR_SERVER.url, reason="needs the scripted server's hold")
async def test_editor_cancel_interrupts_comfyui(client: LanguageClient):
    EDITOR_SERVER.hold = True
    EDITOR_SERVER.interrupted.clear()
    try:
        path, text = prompt_file("halt", "a knight", steps=30)
        open_doc(client, path, text)
        before = set(client.progress_reports)
        task = asyncio.ensure_future(client.workspace_execute_command_async(
            types.ExecuteCommandParams(command="stylus.render", arguments=[{"uri": path.as_uri()}])))

        def stepping():
            return [t for t in set(client.progress_reports) - before
                    if any((getattr(r, "message", None) or "").startswith("Rendering on the server step 1/30")
                           for r in client.progress_reports[t])]
        await wait_for(stepping, 60)
        (token,) = stepping()
        client.window_work_done_progress_cancel(types.WorkDoneProgressCancelParams(token=token))
        result = await asyncio.wait_for(task, 30)
        assert result["cancelled"] is True and result["paths"] == []
        await wait_for(lambda: EDITOR_SERVER.interrupted.is_set(), 10)
        assert any(m == "POST" and p == "/interrupt" for m, p in EDITOR_SERVER.requests)
        assert not list(path.parent.glob("*.png"))
    finally:
        EDITOR_SERVER.hold = False
