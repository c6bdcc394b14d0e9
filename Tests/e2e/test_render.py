"""Rendering from the editor: code action -> composer -> LoRA merge -> local render -> PNG.

The server renders the tiny SD fixture (Tests/Fixtures/TinySD) with the fixture LoRA files
(Tests/Fixtures/LoRA), which a catalog made with the real CLI points at; prompts and images live in
a temporary folder. Needs the CLIP vocabulary from scripts/setup (skipped without it)."""

import ast
import asyncio
import atexit
import json
import os
import pathlib
import shutil
import struct
import subprocess
import tempfile
import time
import zlib

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

from conftest import ROOT, SERVER, write_prompt_file

CHECKPOINT = ROOT / "Tests" / "Fixtures" / "TinySD" / "tiny-sd15.safetensors"
LORAS = ROOT / "Tests" / "Fixtures" / "LoRA"
WORK = pathlib.Path(tempfile.mkdtemp(prefix="stylus-e2e-render-"))
atexit.register(shutil.rmtree, WORK, ignore_errors=True)
CATALOG = WORK / "catalog.sqlite"
DATA = pathlib.Path(os.environ.get("STYLUS_HOME") or
                    pathlib.Path(os.environ.get("XDG_DATA_HOME") or pathlib.Path.home() / ".local/share") / "stylus")
VOCAB = DATA / "models" / "clip" / "bpe_simple_vocab_16e6.txt.gz"

ADAPTERS = [
    {"adapter_id": "e2e-1", "alias": "kohya", "title": "Watercolor Style", "tags": ["style", "watercolor", "painting"],
     "description": "A soft watercolor painting style with paper texture.", "weight": 0.8, "file": str(LORAS / "kohya.safetensors")},
    {"adapter_id": "e2e-2", "alias": "locon_ldm", "title": "Medieval Castle", "tags": ["building", "castle", "architecture"],
     "description": "Stone castles with towers and walls.", "weight": 0.7, "file": str(LORAS / "locon_ldm.safetensors")},
]

pytestmark = pytest.mark.skipif(not VOCAB.exists() and os.environ.get("STYLUS_REQUIRE_MODELS") != "1",
                                reason=f"missing {VOCAB}: run scripts/setup")


def make_catalog():
    if CATALOG.exists():
        return
    jsonl = WORK / "catalog.jsonl"
    jsonl.write_text("\n".join(json.dumps({**a, "base_model": "SD 1.5", "type": "LORA"}) for a in ADAPTERS))
    subprocess.run([SERVER, "catalog", "import", "--db", str(CATALOG), str(jsonl)], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@pytest_lsp.fixture(
    params=["visual-studio-code", "neovim@v0.7.0"],  # with and without window/showDocument
    config=ClientServerConfig(server_command=[SERVER, "lsp"]),
)
async def client(request, lsp_client: LanguageClient):
    make_catalog()
    settings = {"db": str(CATALOG), "checkpoint": str(CHECKPOINT), "baseModel": "SD 1.5", "renderer": "local"}
    lsp_client.set_configuration({"stylus": settings})

    @lsp_client.feature(types.CLIENT_REGISTER_CAPABILITY)
    def register_capability(params: types.RegistrationParams):
        return None

    lsp_client.client_name = request.param
    await lsp_client.initialize_session(
        types.InitializeParams(capabilities=client_capabilities(request.param), root_uri=WORK.as_uri(),
                               initialization_options={"stylus": settings}))
    yield
    await lsp_client.shutdown_session()


def prompt_file(name: str, body: str, size="64x64", steps=8) -> tuple[pathlib.Path, str]:
    return write_prompt_file(WORK, name, body, size, steps)


def open_doc(client: LanguageClient, path: pathlib.Path, text: str):
    client.text_document_did_open(types.DidOpenTextDocumentParams(
        text_document=types.TextDocumentItem(uri=path.as_uri(), language_id="sdprompt", version=1, text=text)))


def png_text(path: pathlib.Path) -> dict:
    data, out, i = path.read_bytes(), {}, 8
    while i < len(data):
        (n,), kind = struct.unpack(">I", data[i:i + 4]), data[i + 4:i + 8]
        body = data[i + 8:i + 8 + n]
        if kind == b"tEXt":
            k, v = body.split(b"\0", 1)
            out[k.decode()] = v.decode("latin-1")
        elif kind == b"iTXt":
            k, rest = body.split(b"\0", 1)
            out[k.decode()] = rest[2:].split(b"\0", 2)[2].decode()
        i += 12 + n
    return out


def addnet_hash(path: pathlib.Path) -> str:
    import hashlib
    data = path.read_bytes()
    n = struct.unpack("<Q", data[:8])[0]
    return hashlib.sha256(data[8 + n:]).hexdigest()[:12]


def command_of(action) -> types.Command:
    """The command of a code action. lsprotocol reads a CodeAction that carries a command as a Command
    whose `command` is the nested command object turned into a Python-literal string."""
    c = action.command
    if isinstance(c, str) and c.startswith("{"):
        c = ast.literal_eval(c)
    if isinstance(c, dict):
        return types.Command(title=c["title"], command=c["command"], arguments=c.get("arguments"))
    return c if isinstance(c, types.Command) else action


async def render_actions(client: LanguageClient, path: pathlib.Path, want: str):
    """The code actions, asked again until the composer (built in the background) offers `want`."""
    for _ in range(100):
        result = await client.text_document_code_action_async(types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=path.as_uri()),
            range=types.Range(start=types.Position(7, 0), end=types.Position(7, 0)),
            context=types.CodeActionContext(diagnostics=[])))
        found = {a.title: command_of(a) for a in result or []}
        if want in found:
            return found
        await asyncio.sleep(0.1)
    raise AssertionError(f"no '{want}' action: {list(found)}")


async def wait_for(predicate, timeout=60.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def test_render_action_composes_renders_and_shows(client: LanguageClient):
    path, text = prompt_file("castle", "a medieval castle on a hill, watercolor")
    open_doc(client, path, text)
    actions = await render_actions(client, path, "Render image with composed adapters")
    assert "Render image" in actions and any(t.startswith("Render variations") for t in actions)
    command = actions["Render image with composed adapters"]
    result = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command=command.command, arguments=command.arguments))

    image = path.parent / "castle-1.png"
    assert result["paths"] == [str(image)]
    params = png_text(image)["parameters"]
    first = params.splitlines()[0]
    assert first.startswith("a medieval castle on a hill, watercolor, <lora:"), params
    assert "<lora:locon_ldm:0.56>" in first and "<lora:kohya:0.64>" in first, params
    for alias in ("kohya", "locon_ldm"):
        assert f"{alias}: {addnet_hash(LORAS / (alias + '.safetensors'))}" in params, params
    assert "Steps: 8, Sampler: Euler, CFG scale: 7, Seed: 5, Size: 64x64" in params
    assert "Model: tiny-sd15" in params

    # Work-done progress: one begin (cancellable), reports with stages and every sampler step, one end.
    (reports,) = [r for r in client.progress_reports.values() if r and r[0].title.startswith("Rendering castle")]
    assert isinstance(reports[0], types.WorkDoneProgressBegin) and reports[0].cancellable
    assert isinstance(reports[-1], types.WorkDoneProgressEnd) and "castle-1.png" in reports[-1].message
    messages = [r.message for r in reports[1:-1]]
    for stage in ("Composing adapters", "Loading checkpoint", "Merging LoRAs", "Encoding prompt", "Decoding", "Writing PNG"):
        assert stage in messages, messages
    assert [m for m in messages if m.startswith("Sampling step")][-8:] == [f"Sampling step {i}/8" for i in range(1, 9)]

    if client.client_name == "visual-studio-code":
        assert [d.uri for d in client.shown_documents] == [image.as_uri()]
    else:
        assert any(str(image) in m.message for m in client.messages), client.messages

    # A second render never overwrites: the next number.
    result = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="stylus.render", arguments=[{"uri": path.as_uri()}]))
    assert result["paths"] == [str(path.parent / "castle-2.png")]
    assert result["images"][0]["checkpointWasWarm"] is True
    assert png_text(path.parent / "castle-2.png")["parameters"].splitlines()[0] == "a medieval castle on a hill, watercolor"


async def test_variations_record_their_own_adapters(client: LanguageClient):
    path, text = prompt_file("vary", "a medieval castle on a hill, watercolor")
    open_doc(client, path, text)
    result = await client.workspace_execute_command_async(types.ExecuteCommandParams(
        command="stylus.render", arguments=[{"uri": path.as_uri(), "compose": True, "variations": 3, "maskSeed": 4}]))
    assert result["paths"] == [str(path.parent / f"vary-{i}.png") for i in (1, 2, 3)]
    for image in result["images"]:
        params = png_text(pathlib.Path(image["path"]))["parameters"]
        for alias in ("kohya", "locon_ldm"):
            assert (f"<lora:{alias}:" in params) == (alias in image["adapters"]), params


async def test_cancel_from_the_progress_ui(client: LanguageClient):
    path, text = prompt_file("cancel", "a castle on a hill", size="256x256", steps=40)
    open_doc(client, path, text)
    before = set(client.progress_reports)
    task = asyncio.ensure_future(client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="stylus.render", arguments=[{"uri": path.as_uri()}])))

    def stepping():
        return [t for t in set(client.progress_reports) - before
                if any((getattr(r, "message", None) or "") == "Sampling step 1/40" for r in client.progress_reports[t])]
    await wait_for(stepping)
    (token,) = stepping()
    client.window_work_done_progress_cancel(types.WorkDoneProgressCancelParams(token=token))
    result = await asyncio.wait_for(task, 30)
    assert result["cancelled"] is True and result["paths"] == []
    reports = client.progress_reports[token]
    assert isinstance(reports[-1], types.WorkDoneProgressEnd) and reports[-1].message == "Cancelled"
    steps = [int(r.message.split()[2].split("/")[0]) for r in reports if (getattr(r, "message", None) or "").startswith("Sampling step")]
    assert max(steps) <= 2, steps  # stopped within one step of the cancel
    assert not list(path.parent.glob("*.png"))


async def test_cancel_request_and_one_render_per_document(client: LanguageClient):
    path, text = prompt_file("busy", "a castle on a hill", size="256x256", steps=40)
    open_doc(client, path, text)
    params = types.ExecuteCommandParams(command="stylus.render", arguments=[{"uri": path.as_uri()}])
    first = asyncio.ensure_future(
        client.protocol.send_request_async(types.WORKSPACE_EXECUTE_COMMAND, params, msg_id="render-busy-1"))
    await wait_for(lambda: any((getattr(r, "message", None) or "") == "Sampling step 1/40"
                               for rs in client.progress_reports.values() for r in rs))
    with pytest.raises(Exception, match="already rendering"):
        await client.workspace_execute_command_async(params)
    client.protocol.notify("$/cancelRequest", types.CancelParams(id="render-busy-1"))
    with pytest.raises(Exception) as cancelled:
        await asyncio.wait_for(first, 30)
    assert "cancel" in str(cancelled.value).lower(), cancelled.value
    assert not list(path.parent.glob("*.png"))
    # The document can render again at once.
    result = await client.workspace_execute_command_async(types.ExecuteCommandParams(
        command="stylus.render", arguments=[{"uri": path.as_uri(), "overrides": {"steps": 2, "size": "64x64"}}]))
    assert result["paths"] == [str(path.parent / "busy-1.png")]


async def test_completion_answered_during_a_render(client: LanguageClient):
    path, text = prompt_file("live", "a castle on a hill", size="256x256", steps=40)
    open_doc(client, path, text)
    other, other_text = prompt_file("typing", "a castle on a hill, <lora:ko")
    open_doc(client, other, other_text)
    before = set(client.progress_reports)
    render = asyncio.ensure_future(client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="stylus.render", arguments=[{"uri": path.as_uri()}])))
    await wait_for(lambda: any((getattr(r, "message", None) or "") == "Sampling step 1/40"
                               for t in set(client.progress_reports) - before for r in client.progress_reports[t]))
    line = other_text.splitlines()[7]
    times = []
    for _ in range(5):
        started = time.monotonic()
        result = await client.text_document_completion_async(types.CompletionParams(
            text_document=types.TextDocumentIdentifier(uri=other.as_uri()), position=types.Position(7, len(line))))
        times.append(time.monotonic() - started)
        items = result.items if isinstance(result, types.CompletionList) else result
        assert "kohya" in [i.label for i in items]
        await asyncio.sleep(0.05)
    assert not render.done(), "the render finished before the completions were timed"
    assert max(times) < 0.1, times
    token = next(t for t in set(client.progress_reports) - before)
    client.window_work_done_progress_cancel(types.WorkDoneProgressCancelParams(token=token))
    assert (await asyncio.wait_for(render, 30))["cancelled"] is True
