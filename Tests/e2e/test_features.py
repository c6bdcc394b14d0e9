"""Prompt features through real client capabilities: diagnostics, tokens, hints, symbols, formatting."""

import asyncio

import pytest
from lsprotocol import types
from pytest_lsp import LanguageClient

from conftest import FIXTURES
from test_protocol import open_doc

URI = (FIXTURES / "features.sdprompt").as_uri()


def doc(uri=URI):
    return types.TextDocumentIdentifier(uri=uri)


async def diagnostics_for(client: LanguageClient, uri: str):
    while True:
        await asyncio.wait_for(client.wait_for_notification("textDocument/publishDiagnostics"), 5)
        if uri in client.diagnostics:
            return list(client.diagnostics[uri])


async def test_diagnostics_have_codes_and_utf16_ranges(client: LanguageClient):
    uri = URI + "#diagnostics"
    open_doc(client, "a 🐱 cat, (masterpiece, <lora:x:0.8>, <lora:x:0.5>\nNegative prompt: <lora:y:1>", uri=uri)
    found = await diagnostics_for(client, uri)
    codes = {d.code for d in found}
    assert {"syntax", "duplicate-lora", "lora-in-negative"} <= codes
    assert all(d.source == "stylus" for d in found)
    syntax = next(d for d in found if d.code == "syntax")
    # "a 🐱 cat, (": the cat takes two UTF-16 units, so '(' is at column 10.
    assert (syntax.range.start.line, syntax.range.start.character) == (0, 10)
    assert syntax.severity == types.DiagnosticSeverity.Error


async def test_semantic_tokens(client: LanguageClient):
    open_doc(client, "(cat:1.2), <lora:armor:0.7> BREAK __hair__", uri=URI)
    tokens = await client.text_document_semantic_tokens_full_async(types.SemanticTokensParams(text_document=doc()))
    data = tokens.data
    assert len(data) % 5 == 0 and len(data) >= 5 * 6
    legend = client.init_result.capabilities.semantic_tokens_provider.legend.token_types
    kinds = [legend[data[i + 3]] for i in range(0, len(data), 5)]
    assert kinds.count("keyword") == 2  # "lora" and BREAK
    assert "function" in kinds and "number" in kinds and "variable" in kinds


async def test_inlay_hints_for_nested_emphasis(client: LanguageClient):
    if client.capabilities.text_document.inlay_hint is None:
        pytest.skip("this client does not ask for inlay hints")
    open_doc(client, "((masterpiece)), [dim]", uri=URI)
    hints = await client.text_document_inlay_hint_async(types.InlayHintParams(
        text_document=doc(), range=types.Range(start=types.Position(0, 0), end=types.Position(1, 0))))
    assert [(h.position.character, h.label) for h in hints] == [(15, "×1.21"), (22, "×0.91")]


async def test_document_symbols_follow_the_client(client: LanguageClient):
    text = (FIXTURES / "knight.sdprompt").read_text()
    open_doc(client, text, uri=URI)
    symbols = await client.text_document_document_symbol_async(types.DocumentSymbolParams(text_document=doc()))
    hierarchical = bool(client.capabilities.text_document.document_symbol
                        and client.capabilities.text_document.document_symbol.hierarchical_document_symbol_support)
    names = [s.name for s in symbols]
    assert names[:2] == ["Frontmatter", "Prompt"]
    if hierarchical:
        assert isinstance(symbols[0], types.DocumentSymbol)
        assert [c.name for c in symbols[1].children] == ["Chunk 1", "Chunk 2"]
    else:
        assert isinstance(symbols[0], types.SymbolInformation)
        assert "Chunk 2" in names


async def test_formatting_tidies_commas_and_spaces(client: LanguageClient):
    open_doc(client, "a  cat ,dog,,  (red  hat:1.2) ,<lora:x:0.8>", uri=URI)
    edits = await client.text_document_formatting_async(types.DocumentFormattingParams(
        text_document=doc(), options=types.FormattingOptions(tab_size=2, insert_spaces=True)))
    text = "a  cat ,dog,,  (red  hat:1.2) ,<lora:x:0.8>"
    for e in sorted(edits, key=lambda e: e.range.start.character, reverse=True):
        assert e.range.start.line == e.range.end.line == 0
        text = text[: e.range.start.character] + e.new_text + text[e.range.end.character:]
    assert text == "a cat, dog, (red hat:1.2), <lora:x:0.8>"
