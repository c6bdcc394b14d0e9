"""Protocol-level behaviour every client relies on: handshake, sync, diagnostics, errors."""

import asyncio

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcMethodNotFound
from pytest_lsp import LanguageClient

from conftest import FIXTURES

URI = (FIXTURES / "knight.sdprompt").as_uri()


def open_doc(client: LanguageClient, text: str, version: int = 1, uri: str = URI):
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(uri=uri, language_id="sdprompt", version=version, text=text)
        )
    )


def change(client: LanguageClient, version: int, start, end, text: str, uri: str = URI):
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
            content_changes=[
                types.TextDocumentContentChangePartial(
                    range=types.Range(start=types.Position(*start), end=types.Position(*end)), text=text
                )
            ],
        )
    )


async def server_copy(client: LanguageClient, uri: str = URI) -> dict:
    result = await client.protocol.send_request_async("stylus/debugDocument", {"uri": uri})
    get = (lambda k: result[k]) if isinstance(result, dict) else (lambda k: getattr(result, k))
    return {"version": get("version"), "text": get("text")}


async def test_initialize_advertises_incremental_utf16_sync(client: LanguageClient):
    result = client.init_result.capabilities
    assert result.text_document_sync.change == types.TextDocumentSyncKind.Incremental
    assert result.text_document_sync.open_close is True
    assert result.position_encoding in (None, types.PositionEncodingKind.Utf16)


async def test_incremental_edits_with_astral_characters(client: LanguageClient):
    text = (FIXTURES / "knight.sdprompt").read_text()
    open_doc(client, text)
    # Line 5 is "a 🐱 knight in ...": the cat is 2 UTF-16 units, so "knight" starts at column 5.
    change(client, 2, (5, 5), (5, 11), "paladin")
    change(client, 3, (5, 2), (5, 4), "🐶")
    copy = await server_copy(client)
    assert copy["version"] == 3
    lines = copy["text"].split("\n")
    assert lines[5].startswith("a 🐶 paladin in (shining armor:1.2)")


async def test_diagnostics_published_on_open_and_cleared_on_close(client: LanguageClient):
    open_doc(client, "a cat, (masterpiece", uri=URI + "#diag")
    await asyncio.wait_for(client.wait_for_notification("textDocument/publishDiagnostics"), 5)
    assert URI + "#diag" in client.diagnostics
    client.text_document_did_close(
        types.DidCloseTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=URI + "#diag"))
    )
    await asyncio.wait_for(client.wait_for_notification("textDocument/publishDiagnostics"), 5)
    assert list(client.diagnostics[URI + "#diag"]) == []


async def test_unknown_request_is_method_not_found_and_server_keeps_serving(client: LanguageClient):
    with pytest.raises(JsonRpcMethodNotFound):
        await client.protocol.send_request_async("stylus/noSuchThing", {})
    open_doc(client, "still serving", uri=URI + "#alive")
    assert (await server_copy(client, URI + "#alive"))["text"] == "still serving"


async def test_many_rapid_changes_arrive_in_order(client: LanguageClient):
    uri = URI + "#rapid"
    open_doc(client, "", uri=uri)
    expected = ""
    for i in range(1, 501):
        piece = "\n" if i % 50 == 0 else "x"
        lines = expected.split("\n")
        end = (len(lines) - 1, len(lines[-1]))
        change(client, i + 1, end, end, piece, uri=uri)
        expected += piece
    copy = await server_copy(client, uri)
    assert copy == {"version": 501, "text": expected}
