"""Installed vs known adapters, from the editor to the PNG (VS Code's capabilities, and Neovim 0.7's
for the clients without window/showDocument and $/progress).

Debian 12's eglot (1.9) stands for the clients without `window` capabilities (progress as messages).

A LoRA folder holds one file, with a Civitai Helper sidecar that makes it a "Snow Globe Scenes"
adapter; the catalog is the shipped starter catalog (known cards, no files). The example prompt asks
for a snow globe. "Render image with composed adapters" must compose from the installed file only,
apply every <lora:> its PNG names, say which known adapters it did not use, and show the image with
`external: true` (a PNG is not a text document)."""

import asyncio
import atexit
import json
import os
import pathlib
import re
import shutil
import struct
import subprocess
import tempfile

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

from conftest import ROOT, SERVER, STARTER, write_prompt_file
from test_render import CHECKPOINT, LORAS, VOCAB, addnet_hash, command_of, open_doc, png_text, render_actions

WORK = pathlib.Path(tempfile.mkdtemp(prefix="stylus-e2e-installed-"))
atexit.register(shutil.rmtree, WORK, ignore_errors=True)
CATALOG = WORK / "catalog.sqlite"
LORA_DIR = WORK / "loras"
STEM = "SnowGlobeScenes"
ALIAS = "snowglobe_scenes_v1"  # the file's ss_output_name

pytestmark = pytest.mark.skipif(not VOCAB.exists() and os.environ.get("STYLUS_REQUIRE_MODELS") != "1",
                                reason=f"missing {VOCAB}: run scripts/setup")


def make_lora_folder():
    """The fixture kohya LoRA (it fits the tiny checkpoint) under a name of its own, with a Civitai
    Helper `.civitai.info` sidecar saying what it is."""
    if LORA_DIR.exists():
        return
    LORA_DIR.mkdir()
    data = (LORAS / "kohya.safetensors").read_bytes()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    header["__metadata__"] = {"ss_output_name": ALIAS}
    blob = json.dumps(header, separators=(",", ":")).encode()
    blob += b" " * (-len(blob) % 8)
    (LORA_DIR / f"{STEM}.safetensors").write_bytes(struct.pack("<Q", len(blob)) + blob + data[8 + n:])
    (LORA_DIR / f"{STEM}.civitai.info").write_text(json.dumps({
        "id": 910001, "modelId": 810001, "name": "v1.0", "baseModel": "SD 1.5", "trainedWords": ["snowglobe"],
        "description": "Puts any scene inside a glass snow globe with falling snow.",
        "model": {"name": "Snow Globe Scenes", "type": "LORA", "nsfw": False,
                  "tags": ["concept", "snow globe", "glass", "miniature"],
                  "description": "A glass snow globe around the subject: tiny scenes, falling snow, reflections."},
    }))


def make_catalog():
    if not CATALOG.exists():
        subprocess.run([SERVER, "catalog", "import", "--db", str(CATALOG), str(STARTER)], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def example_body() -> str:
    """The example prompt that asks for a snow globe, without its frontmatter."""
    text = (ROOT / "examples" / "quixote.sdprompt").read_text()
    body = text.split("---\n", 2)[2].strip()
    assert "snow globe" in body
    return body


def capabilities(name: str) -> types.ClientCapabilities:
    """A captured client's capabilities; "eglot-1.9" is Debian 12's eglot (Emacs 28), which declares
    no `window` capabilities at all: no $/progress, no window/showDocument."""
    if name == "eglot-1.9":
        caps = client_capabilities("emacs")
        caps.window = None
        return caps
    return client_capabilities(name)


@pytest_lsp.fixture(
    params=["visual-studio-code", "neovim@v0.7.0", "eglot-1.9"],
    config=ClientServerConfig(server_command=[SERVER, "lsp"]),
)
async def client(request, lsp_client: LanguageClient):
    make_lora_folder()
    make_catalog()
    settings = {"db": str(CATALOG), "checkpoint": str(CHECKPOINT), "baseModel": "SD 1.5", "renderer": "local",
                "loraDirs": [str(LORA_DIR)]}
    lsp_client.set_configuration({"stylus": settings})

    @lsp_client.feature(types.CLIENT_REGISTER_CAPABILITY)
    def register_capability(params: types.RegistrationParams):
        return None

    lsp_client.client_name = request.param
    lsp_client.show_document_success = True
    lsp_client.shown = []

    @lsp_client.feature(types.WORKSPACE_APPLY_EDIT)
    def apply_edit(params: types.ApplyWorkspaceEditParams):
        return types.ApplyWorkspaceEditResult(applied=False)  # the file on disk stays as written

    def show_document(params: types.ShowDocumentParams):
        lsp_client.shown.append(params)
        return types.ShowDocumentResult(success=lsp_client.show_document_success)
    # pytest-lsp answers window/showDocument with success: true itself; this answer can also fail.
    lsp_client.protocol.fm.features[types.WINDOW_SHOW_DOCUMENT] = show_document

    await lsp_client.initialize_session(
        types.InitializeParams(capabilities=capabilities(request.param), root_uri=WORK.as_uri(),
                               initialization_options={"stylus": settings}))
    yield
    await lsp_client.shutdown_session()


def lora_tags(text: str) -> list[tuple[str, str]]:
    return re.findall(r"<lora:([^:>]+):([^>]+)>", text)


async def test_snow_globe_renders_with_the_installed_file(client: LanguageClient):
    path, text = write_prompt_file(WORK, "quixote", example_body(), size="64x64", steps=4)
    open_doc(client, path, text)
    actions = await render_actions(client, path, "Render image with composed adapters")

    # What the composer would choose from every known adapter (the starter cards have no files).
    known = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="stylus.compose", arguments=[{"uri": path.as_uri()}]))
    known_aliases = [a for a, _ in lora_tags(" ".join(known["tags"]))]
    assert known_aliases, known
    assert set(known["not_installed"]) <= set(known_aliases)

    command = actions["Render image with composed adapters"]
    result = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command=command.command, arguments=command.arguments))
    (image,) = [pathlib.Path(p) for p in result["paths"]]
    assert result["warnings"] == []
    params = png_text(image)["parameters"]
    first = params.splitlines()[0]
    tags = lora_tags(first)
    # The installed file was composed (by its ss_output_name alias) and merged: its addnet hash is listed.
    assert ALIAS in [a for a, _ in tags], params
    assert f"{ALIAS}: {addnet_hash(LORA_DIR / (STEM + '.safetensors'))}" in params, params
    # Its trigger word was added, so the composed prompt raises no missing-trigger.
    assert "snowglobe" in first.split("<lora:")[0], first
    # Every <lora:> in the parameters was applied (it has a hash), and nothing else.
    hashes = re.search(r'Lora hashes: "([^"]*)"', params)
    assert hashes, params
    applied = dict(h.split(": ") for h in hashes.group(1).split(", "))
    assert sorted(applied) == sorted(a for a, _ in tags), params
    assert result["images"][0]["adapters"] == [a for a, _ in tags]
    # Known adapters the render did not use are named in a message, with how to install them.
    unused = [a for a in known_aliases if a not in applied]
    if unused:
        notes = [m.message for m in client.messages if "not installed, so not used" in m.message]
        assert notes and all(a in notes[0] for a in unused), client.messages
        assert "loraDirs" in notes[0]

    # The image is shown outside the editor (external: true), else its path is given.
    if client.client_name == "visual-studio-code":
        assert [(d.uri, d.external) for d in client.shown] == [(image.as_uri(), True)]
        assert not any(str(image) in m.message for m in client.messages)
    else:
        assert client.shown == []
        assert any(str(image) in m.message for m in client.messages), client.messages
    if client.client_name == "eglot-1.9":
        # No $/progress: a message when the render starts, percentages in the log.
        assert not client.progress_reports
        assert any(m.message.startswith("Rendering quixote.sdprompt") for m in client.messages), client.messages
        logged = [m.message for m in client.log_messages if m.message.startswith("Rendering quixote.sdprompt:")]
        assert any("100%" in m or "Wrote" in m for m in logged) and any("%" in m for m in logged), logged


async def test_show_document_failure_gives_the_path(client: LanguageClient):
    client.show_document_success = False
    path, text = write_prompt_file(WORK, "refused", "a snow globe on a desk", size="64x64", steps=2)
    open_doc(client, path, text)
    result = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="stylus.render", arguments=[{"uri": path.as_uri()}]))
    (image,) = result["paths"]
    if client.client_name == "visual-studio-code":
        assert len(client.shown) == 1 and client.shown[0].external is True
    assert any(image in m.message for m in client.messages), client.messages


async def test_a_written_tag_without_a_file_is_refused_with_the_fix(client: LanguageClient):
    path, text = write_prompt_file(WORK, "known", "a lighthouse, <lora:lighthse_v3:0.6>", size="64x64", steps=2)
    open_doc(client, path, text)
    with pytest.raises(Exception) as refused:
        await client.workspace_execute_command_async(
            types.ExecuteCommandParams(command="stylus.render", arguments=[{"uri": path.as_uri()}]))
    message = str(refused.value)
    assert "lighthse_v3" in message and "LoRA folder" in message and str(LORA_DIR) in message, message
    assert not list(path.parent.glob("*.png"))


async def test_completion_and_hover_mark_installed_adapters(client: LanguageClient):
    path, text = write_prompt_file(WORK, "marks", "a snow globe, <lora:snow")
    open_doc(client, path, text)
    line = text.splitlines()[7]
    await render_actions(client, path, "Render image")  # the catalog is loaded
    for _ in range(100):
        result = await client.text_document_completion_async(types.CompletionParams(
            text_document=types.TextDocumentIdentifier(uri=path.as_uri()), position=types.Position(7, len(line))))
        items = result.items if isinstance(result, types.CompletionList) else result
        if items and items[0].detail.startswith("installed"):
            break
        await asyncio.sleep(0.1)
    labels = [i.label for i in items]
    assert labels[0] == ALIAS, labels
    assert "snowglobe_v1" in labels and items[labels.index("snowglobe_v1")].detail.startswith("not installed"), items
