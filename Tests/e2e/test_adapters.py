"""Catalog features through real client capabilities: completion, hover, diagnostics, code actions.

The server reads the starter catalog (conftest.CATALOG); every answer is also checked by
pytest-lsp against the client's declared capabilities (snippets, documentation formats, ...)."""

import asyncio
import json
import os
import re
import subprocess
import tempfile

from lsprotocol import types
from pytest_lsp import LanguageClient

from conftest import CATALOG, FIXTURES, SERVER
from test_features import diagnostics_for
from test_protocol import open_doc as open_any

URI = (FIXTURES / "adapters.sdprompt").as_uri()


def open_doc(client: LanguageClient, text: str, uri: str = URI):
    open_any(client, text, uri=uri)


def doc(uri=URI):
    return types.TextDocumentIdentifier(uri=uri)


def items(result):
    return result.items if isinstance(result, types.CompletionList) else result


def apply(text: str, edits) -> str:
    """Applies single-line-document edits (character offsets) from the end backwards."""
    for e in sorted(edits, key=lambda e: e.range.start.character, reverse=True):
        assert e.range.start.line == e.range.end.line == 0
        text = text[: e.range.start.character] + e.new_text + text[e.range.end.character:]
    return text


def hover_text(hover: types.Hover) -> str:
    c = hover.contents
    return c.value if isinstance(c, types.MarkupContent) else str(c)


async def test_completion_of_lora_aliases(client: LanguageClient):
    text = "a fox, <lora:gou"
    open_doc(client, text)
    result = await client.text_document_completion_async(
        types.CompletionParams(text_document=doc(), position=types.Position(0, len(text))))
    found = items(result)
    # The file has no base_model; the settings say SD 1.5: no XL or Pony variants.
    assert [i.label for i in found] == ["gouachebook_v2"]
    item = found[0]
    assert item.text_edit.range.start == types.Position(0, len("a fox, <lora:"))
    assert item.text_edit.range.end == types.Position(0, len(text))
    assert item.text_edit.new_text.startswith("gouachebook_v2:")
    assert "Gouache Storybook" in item.detail
    # The card comes with the item, or on completionItem/resolve for clients that resolve it.
    if item.documentation is None:
        item = await client.completion_item_resolve_async(item)
    card = item.documentation
    assert "gouachebook" in (card.value if isinstance(card, types.MarkupContent) else card)


async def test_completion_on_a_word_adds_the_tag(client: LanguageClient):
    text = "a lightho"
    open_doc(client, text)
    result = await client.text_document_completion_async(
        types.CompletionParams(text_document=doc(), position=types.Position(0, len(text))))
    item = next(i for i in items(result) if i.label == "lighthse_v3")
    edited = apply(text, [item.text_edit] + list(item.additional_text_edits or []))
    assert edited.startswith("lighthse, a lighthouse, <lora:lighthse_v3:")


async def test_hover_shows_the_adapter_card(client: LanguageClient):
    text = "a fox, <lora:linoprint_v1:0.6>"
    open_doc(client, text)
    hover = await client.text_document_hover_async(
        types.HoverParams(text_document=doc(), position=types.Position(0, 12)))
    value = hover_text(hover)
    assert "Linocut Print" in value and "linoprint" in value and "SD 1.5" in value
    assert hover.range.start == types.Position(0, 7)


async def wait_for_composer(client: LanguageClient, text: str, position: types.Position):
    """The composer's index is built in the background after start-up: poll a keyword hover."""
    for _ in range(200):
        hover = await client.text_document_hover_async(types.HoverParams(text_document=doc(), position=position))
        if hover is not None:
            return hover
        await asyncio.sleep(0.05)
    raise AssertionError("no keyword hover: the composer never became ready")


async def test_catalog_diagnostics(client: LanguageClient):
    uri = URI + "#catalog"
    open_doc(client, "linocut print of a lighthouse, <lora:gouachebookXL:0.6>, <lora:nosuch:1>", uri=uri)
    codes = set()
    for _ in range(20):
        codes = {d.code for d in await diagnostics_for(client, uri)}
        if "adapter-available" in codes:
            break
    assert {"unknown-lora", "base-model-mismatch", "missing-trigger", "adapter-available"} <= codes
    found = await diagnostics_for(client, uri) if not codes else list(client.diagnostics[uri])
    unknown = next(d for d in found if d.code == "unknown-lora")
    assert unknown.range.start.character == len("linocut print of a lighthouse, <lora:gouachebookXL:0.6>, <lora:")
    assert all(d.source == "stylus" for d in found)


def cli_tags(text: str) -> list[str]:
    """The tags `stylus compose` adds to `text` on the same catalog and base model (the server's
    setting): the editor must agree."""
    out = subprocess.run([SERVER, "compose", "--json", "--db", str(CATALOG), "--base-model", "SD 1.5", "-"], input=text, capture_output=True,
                         text=True, check=True, timeout=60)
    return re.findall(r"<lora:[^>]+>", json.loads(out.stdout)["prompt_with_adapters"])


def check_codes(text: str) -> list[str]:
    """The diagnostic codes `stylus check` gives `text` on the test catalog."""
    with tempfile.NamedTemporaryFile("w", suffix=".sdprompt", delete=False) as f:
        f.write("---\nbase_model: SD 1.5\n---\n" + text + "\n")
    out = subprocess.run([SERVER, "check", "--json", "--db", str(CATALOG), f.name], capture_output=True, text=True, timeout=60)
    os.unlink(f.name)
    return [d["code"] for file in json.loads(out.stdout)["files"] for d in file["diagnostics"]]


async def test_compose_code_action(client: LanguageClient):
    text = "linocut print of a lighthouse"
    open_doc(client, text)
    keyword = await wait_for_composer(client, text, types.Position(0, 3))
    assert "linoprint_v1" in hover_text(keyword)
    actions = await client.text_document_code_action_async(types.CodeActionParams(
        text_document=doc(), range=types.Range(start=types.Position(0, 0), end=types.Position(0, 0)),
        context=types.CodeActionContext(diagnostics=[])))
    compose = next(a for a in actions if a.title.startswith("Compose adapters"))
    if isinstance(compose, types.CodeAction):
        edit = compose.edit
        edits = edit.changes[URI] if edit.changes else edit.document_changes[0].edits
        tags = cli_tags(text)
        assert "<lora:linoprint_v1:0.48>" in tags
        composed = apply(text, edits)
        # The CLI's tags, after the trigger words they lack, so the result raises no missing-trigger.
        assert composed.startswith(text + ", ") and composed.endswith(", ".join(tags)), composed
        assert "linoprint, " in composed, composed
        assert "missing-trigger" not in check_codes(composed)
    else:
        assert compose.command == "stylus.compose"
    assert not any(a.title == "Render image" for a in actions) or "stylus.render" in \
        client.init_result.capabilities.execute_command_provider.commands


async def test_compose_command(client: LanguageClient):
    applied = []

    @client.feature(types.WORKSPACE_APPLY_EDIT)
    def apply_edit(params: types.ApplyWorkspaceEditParams):
        applied.append(params)
        return types.ApplyWorkspaceEditResult(applied=True)

    text = "linocut print of a lighthouse"
    open_doc(client, text)
    await wait_for_composer(client, text, types.Position(0, 3))
    result = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="stylus.compose", arguments=[{"uri": URI}]))
    assert "<lora:linoprint_v1:0.48>" in result["tags"]
    assert result["tags"] == cli_tags(text)
    supports = bool(client.capabilities.workspace and client.capabilities.workspace.apply_edit)
    assert result["applied"] == supports
    assert len(applied) == (1 if supports else 0)
