"""`stylus mcp` end to end, with the official MCP Python SDK as the client.

Each test spawns the release binary over stdio: the starter catalog (made by conftest) and a fixture
catalog of two LoRA files from Tests/Fixtures/LoRA, rendered with the tiny SD checkpoint
(Tests/Fixtures/TinySD). Results are checked against the tools' output schemas and against the CLI
(`stylus search --json`, `stylus compose --json`, `stylus catalog show --json`), which must agree."""

import asyncio
import base64
import contextlib
import hashlib
import json
import os
import pathlib
import shutil
import struct
import subprocess
import tempfile
import time
import zlib
from datetime import timedelta

import jsonschema
import pytest
from mcp import ClientSession, StdioServerParameters, types
from mcp.client.stdio import stdio_client
from mcp.shared.exceptions import McpError

from conftest import CATALOG as STARTER_CATALOG, ROOT, SERVER, write_prompt_file

CHECKPOINT = ROOT / "Tests" / "Fixtures" / "TinySD" / "tiny-sd15.safetensors"
LORAS = ROOT / "Tests" / "Fixtures" / "LoRA"
WORK = pathlib.Path(tempfile.mkdtemp(prefix="stylus-e2e-mcp-"))
FIXTURE_CATALOG = WORK / "fixture.sqlite"
TIMEOUT = timedelta(seconds=120)  # a hang fails the test (McpError), it is never skipped
READ_ONLY = {"search_adapters", "compose_prompt", "check_prompt", "show_adapter"}

FIXTURE_ADAPTERS = [
    {"adapter_id": "mcp-1", "alias": "kohya", "title": "Watercolor Style", "tags": ["style", "watercolor", "painting"],
     "description": "A soft watercolor painting style with paper texture.", "weight": 0.8, "trigger_words": ["wtrcolor"],
     "file": str(LORAS / "kohya.safetensors")},
    {"adapter_id": "mcp-2", "alias": "locon_ldm", "title": "Medieval Castle", "tags": ["building", "castle", "architecture"],
     "description": "Stone castles with towers and walls.", "weight": 0.7, "file": str(LORAS / "locon_ldm.safetensors")},
]


def setup_module():
    jsonl = WORK / "fixture.jsonl"
    jsonl.write_text("\n".join(json.dumps({**a, "base_model": "SD 1.5", "type": "LORA"}) for a in FIXTURE_ADAPTERS))
    subprocess.run([SERVER, "catalog", "import", "--db", str(FIXTURE_CATALOG), str(jsonl)], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def teardown_module():
    shutil.rmtree(WORK, ignore_errors=True)


@contextlib.asynccontextmanager
async def server(*args, catalog=STARTER_CATALOG):
    params = StdioServerParameters(command=SERVER, args=["mcp", "--db", str(catalog), *args], env=dict(os.environ))
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write, read_timeout_seconds=TIMEOUT) as session:
            session.init_result = await session.initialize()
            yield session


async def call(session, name, arguments, **kw):
    return await session.call_tool(name, arguments, read_timeout_seconds=TIMEOUT, **kw)


async def ok(session, name, arguments, **kw):
    """A successful call's structured content, checked against the tool's output schema."""
    result = await call(session, name, arguments, **kw)
    assert not result.isError, result.content
    tools = {t.name: t for t in (await session.list_tools()).tools}
    jsonschema.validate(result.structuredContent, tools[name].outputSchema)
    # The text content is the same JSON, for clients that do not read structured content.
    assert json.loads(result.content[0].text) == result.structuredContent
    return result.structuredContent


async def error(session, name, arguments):
    result = await call(session, name, arguments)
    assert result.isError, result
    return result.content[0].text


def cli(*args, catalog=STARTER_CATALOG, stdin=None):
    out = subprocess.run([SERVER, *args, "--db", str(catalog)], check=True, capture_output=True, text=True, input=stdin).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def server_pids():
    """Processes of the stylus binary that are children of this test process (the stdio servers)."""
    pids = []
    for entry in pathlib.Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid == os.getpid() and os.path.realpath(entry / "exe") == os.path.realpath(SERVER):
                pids.append(int(entry.name))
        except (OSError, ValueError, IndexError):
            continue
    return pids


def rss_kb(pid):
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for {pid}")


def png_size(data: bytes):
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def prompt_file(name, body, size="64x64", steps=8):
    return write_prompt_file(WORK, name, body, size, steps, checkpoint=CHECKPOINT)


# --- protocol, schemas, annotations -----------------------------------------------------------


async def test_initialize_lists_tools_with_valid_schemas_and_annotations():
    async with server() as s:
        init = s.init_result
        assert init.serverInfo.name == "stylus"
        assert init.capabilities.tools is not None and init.capabilities.resources is not None and init.capabilities.prompts is not None
        tools = (await s.list_tools()).tools
        assert sorted(t.name for t in tools) == sorted(READ_ONLY | {"render_image"})
        for t in tools:
            # Inputs in MCP's default dialect (2020-12); outputs declare draft-07, which clients that
            # check every result against the schema check much faster (docs/CONTRACTS.md).
            assert "$schema" not in t.inputSchema and t.outputSchema["$schema"] == "http://json-schema.org/draft-07/schema#"
            jsonschema.Draft202012Validator.check_schema(t.inputSchema)
            jsonschema.Draft7Validator.check_schema(t.outputSchema)
            assert jsonschema.validators.validator_for(t.outputSchema) is jsonschema.Draft7Validator
            for schema in (t.inputSchema, t.outputSchema):
                assert schema["type"] == "object"
            assert t.description and len(t.description) > 40
            a = t.annotations
            if t.name in READ_ONLY:
                assert a.readOnlyHint is True and a.destructiveHint is False and a.openWorldHint is False, t.name
            else:
                assert a.readOnlyHint is False and a.destructiveHint is False, t.name
        required = {t.name: t.inputSchema.get("required", []) for t in tools}
        assert required == {"search_adapters": ["query"], "compose_prompt": ["prompt"], "check_prompt": ["text"],
                            "show_adapter": ["alias_or_id"], "render_image": []}


# --- catalog tools agree with the CLI ----------------------------------------------------------


@pytest.mark.parametrize("catalog,query", [(STARTER_CATALOG, "watercolor painting of a castle"),
                                           (FIXTURE_CATALOG, "stone castle with towers")])
async def test_search_adapters_matches_the_cli(catalog, query):
    async with server(catalog=catalog) as s:
        got = await ok(s, "search_adapters", {"query": query, "k": 5})
    want = cli("search", "--json", "--k", "5", query, catalog=catalog)[0]["results"]
    assert [(r["adapter_id"], r["alias"]) for r in got["results"]] == [(r["adapter_id"], r["alias"]) for r in want]
    assert [r["score"] for r in got["results"]] == pytest.approx([r["score"] for r in want], rel=1e-6)
    assert got["results"], "no results"
    scores = [r["score"] for r in got["results"]]
    assert scores == sorted(scores, reverse=True)
    if catalog == FIXTURE_CATALOG:
        top = got["results"][0]
        assert top["alias"] == "locon_ldm" and top["card"]["title"] == "Medieval Castle" and top["card"]["base_model"] == "SD 1.5"


async def test_search_filters_base_model_and_k():
    async with server() as s:
        sdxl = await ok(s, "search_adapters", {"query": "anime girl", "base_model": "SDXL 1.0", "k": 3})
        assert 0 < len(sdxl["results"]) <= 3
        assert all(r["card"]["base_model"] == "SDXL 1.0" for r in sdxl["results"]), sdxl


@pytest.mark.parametrize("catalog,prompt", [
    (STARTER_CATALOG, "an oil painting of a knight in a misty forest, watercolor"),
    (FIXTURE_CATALOG, "---\nbase_model: SD 1.5\n---\na medieval castle on a hill, watercolor"),
])
async def test_compose_prompt_is_the_cli_json(catalog, prompt):
    async with server(catalog=catalog) as s:
        got = await ok(s, "compose_prompt", {"prompt": prompt})
        every = await ok(s, "compose_prompt", {"prompt": prompt, "retrieved": 150})
        assert "'retrieved'" in await error(s, "compose_prompt", {"prompt": prompt, "retrieved": 151})
    # An agent gets the head of the ranking (20) unless it asks for the CLI's 150.
    want = cli("compose", "--json", "--retrieved", "20", "-", catalog=catalog, stdin=prompt)[0]
    want_every = cli("compose", "--json", "-", catalog=catalog, stdin=prompt)[0]
    for o in (got, want, every, want_every):
        o.pop("timings_ms")
    assert got == want and every == want_every
    assert len(got["retrieved"]) <= 20 and every["retrieved"][:20] == got["retrieved"]
    if catalog == STARTER_CATALOG:
        assert len(every["retrieved"]) > 20, every["retrieved"]
    assert got["prompt_with_adapters"].startswith(prompt.split("---\n")[-1])
    if catalog == FIXTURE_CATALOG:
        chosen = {a["alias"] for t in got["topics"] for a in t["adapters"]}
        assert chosen == {"kohya", "locon_ldm"}, got
        assert "<lora:kohya:" in got["prompt_with_adapters"] and "<lora:locon_ldm:" in got["prompt_with_adapters"]


async def test_compose_explain_and_masks():
    async with server(catalog=FIXTURE_CATALOG) as s:
        got = await ok(s, "compose_prompt", {"prompt": "a medieval castle on a hill, watercolor", "base_model": "SD 1.5",
                                             "explain": True, "masks": "one_hot_loras", "samples": 3, "seed": 2})
    assert len(got["samples"]) == 3 and all(x.startswith("a medieval castle on a hill, watercolor") for x in got["samples"])
    assert all(x.count("<lora:") <= 1 for x in got["samples"]), got["samples"]  # at most one adapter kept per sample
    want = cli("compose", "--json", "--base-model", "SD 1.5", "--masks", "one_hot_loras", "--samples", "3", "--seed", "2",
               "a medieval castle on a hill, watercolor", catalog=FIXTURE_CATALOG)[0]
    assert got["samples"] == want["samples"]
    decisions = {d["alias"]: d for t in got["explanation"] for d in t["decisions"]}
    assert decisions["kohya"]["accepted"] and decisions["kohya"]["reason"]
    assert [t["keyword"] for t in got["explanation"]] == [t["keyword"] for t in got["topics"]]


async def test_composed_prompt_has_its_trigger_words_and_checks_clean():
    """compose_prompt adds the trigger words its adapters need (kohya's "wtrcolor"), as the editor and a
    composed render do, so check_prompt finds nothing missing; add_trigger_words=false leaves them out."""
    prompt = "a medieval castle on a hill, watercolor"
    async with server(catalog=FIXTURE_CATALOG) as s:
        got = await ok(s, "compose_prompt", {"prompt": prompt, "base_model": "SD 1.5"})
        assert got["prompt_with_adapters"].startswith(prompt + ", wtrcolor, <lora:"), got["prompt_with_adapters"]
        assert got["prompt_with_adapters"].count("wtrcolor") == 1
        checked = await ok(s, "check_prompt", {"text": got["prompt_with_adapters"], "base_model": "SD 1.5"})
        assert "missing-trigger" not in [d["code"] for d in checked["diagnostics"]], checked
        bare = await ok(s, "compose_prompt", {"prompt": prompt, "base_model": "SD 1.5", "add_trigger_words": False})
        assert "wtrcolor" not in bare["prompt_with_adapters"] and "<lora:kohya:" in bare["prompt_with_adapters"]
        checked = await ok(s, "check_prompt", {"text": bare["prompt_with_adapters"], "base_model": "SD 1.5"})
        assert "missing-trigger" in [d["code"] for d in checked["diagnostics"]], checked
        assert "add_trigger_words" in await error(s, "compose_prompt", {"prompt": prompt, "add_trigger_words": "yes"})
    assert cli("compose", "--json", "--base-model", "SD 1.5", "--no-trigger-words", prompt,
               catalog=FIXTURE_CATALOG)[0]["prompt_with_adapters"] == bare["prompt_with_adapters"]


async def test_check_prompt_gives_the_editor_diagnostics():
    text = "---\nbase_model: SDXL 1.0\n---\na castle, <lora:kohya:0.8>, <lora:nosuch:1>, (glowing eyes:1.2, <lora:kohya:0.5>"
    async with server(catalog=FIXTURE_CATALOG) as s:
        got = await ok(s, "check_prompt", {"text": text})
        codes = [d["code"] for d in got["diagnostics"]]
        for code in ("unknown-lora", "base-model-mismatch", "syntax", "duplicate-lora", "missing-trigger"):
            assert code in codes, got
        unknown = next(d for d in got["diagnostics"] if d["code"] == "unknown-lora")
        line = text.splitlines()[unknown["range"]["start"]["line"]]
        assert line[unknown["range"]["start"]["character"]:unknown["range"]["end"]["character"]] == "nosuch"
        assert "nosuch" in unknown["message"] and unknown["source"] == "stylus"
        counts = got["counts"]
        assert sum(counts.values()) == len(got["diagnostics"])
        assert counts["error"] == sum(d["severity"] == 1 for d in got["diagnostics"])
        # The same diagnostics as `stylus check` gives for the text in a file.
        path = WORK / "check-me.sdprompt"
        path.write_text(text)
        checked = subprocess.run([SERVER, "check", "--json", "--db", str(FIXTURE_CATALOG), str(path)],
                                 capture_output=True, text=True, timeout=120)
        assert checked.returncode == 1, checked.stderr
        severity = {1: "error", 2: "warning", 3: "information", 4: "hint"}
        assert [(d["code"], severity[d["severity"]], d["range"]["start"]["line"] + 1, d["range"]["start"]["character"] + 1,
                 d["message"]) for d in got["diagnostics"]] == \
            [(d["code"], d["severity"], d["line"], d["column"], d["message"])
             for d in json.loads(checked.stdout)["files"][0]["diagnostics"]]
        # A clean prompt for the right base model: no problems, and the composer's hints.
        clean = await ok(s, "check_prompt", {"text": "a medieval castle on a hill, watercolor", "base_model": "SD 1.5"})
        assert clean["counts"]["error"] == clean["counts"]["warning"] == 0, clean
        hints = [d for d in clean["diagnostics"] if d["code"] == "adapter-available"]
        assert hints and all(d["severity"] == 4 for d in hints), clean


async def test_show_adapter_full_card_with_hashes():
    folder = WORK / f"loras-{time.monotonic_ns()}"
    folder.mkdir()
    shutil.copy(LORAS / "kohya.safetensors", folder / "kohya.safetensors")
    catalog = folder / "catalog.sqlite"
    shutil.copy(FIXTURE_CATALOG, catalog)
    async with server("--lora-dir", str(folder), catalog=catalog) as s:  # the folder is scanned into the catalog
        got = await ok(s, "show_adapter", {"alias_or_id": "mcp-1"})
        card = got["adapter"]
        assert card["alias"] == "kohya" and card["title"] == "Watercolor Style" and card["trigger_words"] == ["wtrcolor"]
        assert card["weight"] == 0.8 and card["refined_description"] and got["also_matches"] == []
        scanned = (await ok(s, "show_adapter", {"alias_or_id": "kohya_alias"}))["adapter"]
        sha = hashlib.sha256((LORAS / "kohya.safetensors").read_bytes()).hexdigest()
        assert scanned["file"]["sha256"] == sha and scanned["file"]["autov2"] == sha[:10]
        assert scanned["file"]["path"] == str(folder / "kohya.safetensors") and scanned["file"]["autov3"]
        assert cli("catalog", "show", "--json", "kohya_alias", catalog=catalog)[0] == scanned
        # The alias of one adapter and the file stem of the other: the catalog's lookup order, as the CLI.
        both = await ok(s, "show_adapter", {"alias_or_id": "kohya"})
        shown = cli("catalog", "show", "--json", "kohya", catalog=catalog)
        assert [both["adapter"]["adapter_id"], *both["also_matches"]] == [c["adapter_id"] for c in shown]
    async with server(catalog=FIXTURE_CATALOG) as s:
        by_id = await ok(s, "show_adapter", {"alias_or_id": "mcp-2"})
        assert by_id["adapter"]["alias"] == "locon_ldm"
        assert cli("catalog", "show", "--json", "mcp-2", catalog=FIXTURE_CATALOG)[0] == by_id["adapter"]
        message = await error(s, "show_adapter", {"alias_or_id": "kohyaa"})
        assert "kohyaa" in message and "kohya" in message.split("kohyaa", 1)[1], message  # names it, suggests the close one
    async with server() as s:  # the starter catalog
        starter = await ok(s, "search_adapters", {"query": "watercolor", "k": 1})
        alias = starter["results"][0]["alias"]
        card = (await ok(s, "show_adapter", {"alias_or_id": alias}))["adapter"]
        assert card["alias"] == alias and card["adapter_id"] == starter["results"][0]["adapter_id"]


async def test_adapter_resources_and_prompt_template():
    async with server(catalog=FIXTURE_CATALOG) as s:
        templates = (await s.list_resource_templates()).resourceTemplates
        assert [t.uriTemplate for t in templates] == ["stylus://adapter/{id}"]
        resources = (await s.list_resources()).resources
        assert sorted(str(r.uri) for r in resources) == ["stylus://adapter/mcp-1", "stylus://adapter/mcp-2"]
        read = await s.read_resource("stylus://adapter/mcp-2")
        card = json.loads(read.contents[0].text)
        assert read.contents[0].mimeType == "application/json"
        assert card == (await ok(s, "show_adapter", {"alias_or_id": "mcp-2"}))["adapter"]
        with pytest.raises(McpError, match="nosuch"):
            await s.read_resource("stylus://adapter/nosuch")

        prompts = (await s.list_prompts()).prompts
        assert [p.name for p in prompts] == ["compose_prompt_for"]
        got = await s.get_prompt("compose_prompt_for", {"subject": "a lighthouse in a storm", "base_model": "SD 1.5"})
        text = got.messages[0].content.text
        assert got.messages[0].role == "user" and "a lighthouse in a storm" in text and "compose_prompt" in text and "SD 1.5" in text
        with pytest.raises(McpError, match="subject"):
            await s.get_prompt("compose_prompt_for", {})


async def test_starter_catalog_resources_page():
    async with server() as s:
        first = await s.list_resources()
        assert len(first.resources) > 0
        seen = [str(r.uri) for r in first.resources]
        cursor = first.nextCursor
        while cursor:
            page = await s.list_resources(cursor)
            seen += [str(r.uri) for r in page.resources]
            cursor = page.nextCursor
        assert len(seen) == len(set(seen))
        total = len(cli("catalog", "export", "--jsonl"))
        assert len(seen) == total


# --- errors --------------------------------------------------------------------------------------


async def test_bad_arguments_are_clear_error_results():
    async with server() as s:
        cases = [
            ("search_adapters", {}, ["'query' is missing"]),
            ("search_adapters", {"query": "   "}, ["'query' is empty"]),
            ("search_adapters", {"query": "cat", "k": 0}, ["'k'", "between 1 and 100"]),
            ("search_adapters", {"query": "cat", "k": "many"}, ["'k'", "integer"]),
            ("search_adapters", {"query": "cat", "base_model": ""}, ["'base_model'", "base model name"]),
            ("search_adapters", {"query": "cat", "top": 3}, ["unknown argument 'top'", "query"]),
            ("compose_prompt", {"prompt": 42}, ["'prompt' must be a string"]),
            ("compose_prompt", {"prompt": "a cat", "masks": "some"}, ["'masks'", "one_hot_loras"]),
            ("check_prompt", {}, ["'text' is missing"]),
            ("show_adapter", {"alias_or_id": ""}, ["'alias_or_id' is empty"]),
            ("render_image", {"prompt": "a cat"}, ["prompt_path", "--output-dir"]),
            ("render_image", {"prompt": "a cat", "prompt_file_text": "a dog"}, ["not both"]),
            ("render_image", {"prompt_path": "relative.sdprompt"}, ["absolute path"]),
            ("render_image", {"prompt_path": str(WORK / "missing.sdprompt")}, ["missing.sdprompt", "existing prompt file"]),
            ("render_image", {"prompt_path": str(WORK), "steps": 2}, ["a folder, not a regular file"]),
        ]
        for name, arguments, phrases in cases:
            message = await error(s, name, arguments)
            assert message.startswith(name + ":"), (name, arguments, message)
            for phrase in phrases:
                assert phrase in message, (name, arguments, message)
        with pytest.raises(McpError, match="unknown tool 'nosuch'"):
            await s.call_tool("nosuch", {})
        # Still serving after all that.
        assert (await ok(s, "search_adapters", {"query": "cat", "k": 1}))["results"]


async def test_missing_catalog_is_an_error_result():
    async with server(catalog=WORK / "nothing-here.sqlite") as s:
        message = await error(s, "search_adapters", {"query": "cat"})
        assert "nothing-here.sqlite" in message and "does not exist" in message, message


# --- rendering -----------------------------------------------------------------------------------


async def test_render_beside_the_prompt_file_with_progress_and_thumbnail():
    path, text = prompt_file("castle", "a medieval castle on a hill, watercolor", steps=6)
    progress = []

    async def on_progress(value, total, message):
        progress.append((value, total, message))

    async with server(catalog=FIXTURE_CATALOG) as s:
        result = await call(s, "render_image", {"prompt_path": str(path), "compose": True}, progress_callback=on_progress)
        assert not result.isError, result.content
        tools = {t.name: t for t in (await s.list_tools()).tools}
        jsonschema.validate(result.structuredContent, tools["render_image"].outputSchema)
        (image,) = result.structuredContent["images"]
        assert image["path"] == str(path.parent / "castle-1.png") and pathlib.Path(image["path"]).is_file()
        assert {a["name"] for a in image["adapters"]} == {"kohya", "locon_ldm"}
        assert "<lora:kohya:" in image["prompt"]
        thumbs = [c for c in result.content if c.type == "image"]
        assert len(thumbs) == 1 and thumbs[0].mimeType == "image/png"
        assert png_size(base64.b64decode(thumbs[0].data)) == (64, 64)  # never enlarged
        assert result.structuredContent["thumbnail"] == {"width": 64, "height": 64}

        values = [p[0] for p in progress]
        assert values == sorted(values) and len(set(values)) == len(values), progress  # strictly increasing
        assert all(p[1] == 100 for p in progress) and progress[-1] == (100, 100, "Wrote 1 image"), progress
        steps = [p[2] for p in progress if p[2].startswith("Sampling step")]
        assert "Sampling step 6/6" in steps, progress

        # Text given beside the path (an unsaved editor buffer) renders that text, numbered after the first.
        again = await ok(s, "render_image", {"prompt_path": str(path), "prompt_file_text": text.replace("watercolor", "at night"),
                                             "steps": 2})
        assert again["images"][0]["path"] == str(path.parent / "castle-2.png")
        assert again["images"][0]["prompt"] == "a medieval castle on a hill, at night"
        assert sorted(p.name for p in path.parent.iterdir()) == ["castle-1.png", "castle-2.png", "castle.sdprompt"]


async def test_render_a_bare_prompt_into_the_output_dir_with_a_large_thumbnail_shrunk():
    out = WORK / f"out-{time.monotonic_ns()}"
    out.mkdir()
    (out / "stylus-1.png").write_bytes(b"not mine")
    async with server("--output-dir", str(out), "--checkpoint", str(CHECKPOINT), catalog=FIXTURE_CATALOG) as s:
        result = await call(s, "render_image", {"prompt": "a castle", "size": "256x192", "steps": 2, "seed": 3})
        assert not result.isError, result.content
        (image,) = result.structuredContent["images"]
        assert image["path"] == str(out / "stylus-2.png") and image["seed"] == 3
        assert (out / "stylus-1.png").read_bytes() == b"not mine"  # never overwritten
        thumb = next(c for c in result.content if c.type == "image")
        assert png_size(base64.b64decode(thumb.data)) == (128, 96)
        message = await error(s, "render_image", {"prompt": "a castle", "size": "100x100", "steps": 2})
        assert "multiples of 8" in message, message
        # The precision asked for is the one the PNG's parameters record.
        result = await call(s, "render_image", {"prompt": "a castle", "size": "64x64", "steps": 1, "precision": "fp32"})
        assert not result.isError, result.content
        (image,) = result.structuredContent["images"]
        assert b"Precision: fp32" in pathlib.Path(image["path"]).read_bytes()
        message = await error(s, "render_image", {"prompt": "a castle", "precision": "fp16"})
        assert "precision" in message and "bf16" in message, message


async def test_cancelled_render_stops_and_writes_nothing():
    path, _ = prompt_file("cancel", "a castle on a hill", size="256x256", steps=40)
    sampling = asyncio.Event()
    progress = []

    async def on_progress(value, total, message):
        progress.append(message)
        if message.startswith("Sampling step"):
            sampling.set()

    async with server(catalog=FIXTURE_CATALOG) as s:
        request_id = s._request_id  # the id the next request gets
        task = asyncio.ensure_future(call(s, "render_image", {"prompt_path": str(path)}, progress_callback=on_progress))
        await asyncio.wait_for(sampling.wait(), 120)
        await s.send_notification(types.ClientNotification(types.CancelledNotification(
            params=types.CancelledNotificationParams(requestId=request_id, reason="test"))))
        cancelled_at = len(progress)
        # The server sends no response to a cancelled request; it answers the next one at once.
        started = time.monotonic()
        assert (await ok(s, "search_adapters", {"query": "castle", "k": 1}))["results"]
        await asyncio.sleep(3)
        assert not task.done()
        task.cancel()
        steps = [int(m.split()[2].split("/")[0]) for m in progress if m.startswith("Sampling step")]
        assert max(steps) <= 3 and len(progress) <= cancelled_at + 2, progress  # stopped within a step
        assert not list(path.parent.glob("*.png"))
        # The render session is free again.
        result = await ok(s, "render_image", {"prompt_path": str(path), "steps": 2, "size": "64x64"})
        assert result["images"][0]["path"] == str(path.parent / "cancel-1.png")
        assert time.monotonic() - started < 60


# --- many calls: no memory growth ----------------------------------------------------------------


async def test_ten_thousand_calls_without_memory_growth():
    calls = [
        ("search_adapters", {"query": "watercolor castle", "k": 5}),
        ("check_prompt", {"text": "a castle, <lora:kohya:0.8>, (glowing eyes:1.2"}),
        ("show_adapter", {"alias_or_id": "kohya"}),
        ("compose_prompt", {"prompt": "a medieval castle on a hill, watercolor"}),
        ("search_adapters", {"query": "k", "k": 0}),  # an error result
    ]
    async with server(catalog=FIXTURE_CATALOG) as s:
        (pid,) = server_pids()
        samples = []
        total, batch = 10_000, 20
        for n in range(0, total, batch):
            results = await asyncio.gather(*(call(s, *calls[(n + i) % len(calls)]) for i in range(batch)))
            assert sum(r.isError for r in results) == batch // len(calls)
            if (n + batch) % 1000 == 0:
                samples.append(rss_kb(pid))
        print(f"\nstylus mcp RSS over {total} calls (KB, every 1000): {samples}")
        warm = samples[1]
        assert max(samples[2:]) - warm < 16 * 1024, samples  # less than 16 MB above the warmed-up size
        assert samples[-1] - samples[4] < 8 * 1024, samples  # and flat over the second half


# --- Streamable HTTP on the loopback interface -------------------------------------------------


async def test_streamable_http_sessions_on_loopback():
    import re
    import urllib.error
    import urllib.request
    from mcp.client.streamable_http import streamable_http_client

    p = subprocess.Popen([SERVER, "mcp", "--http", "0", "--db", str(FIXTURE_CATALOG)], stderr=subprocess.PIPE, text=True)
    try:
        line = await asyncio.wait_for(asyncio.to_thread(p.stderr.readline), 60)
        url = re.search(r"http://127\.0\.0\.1:\d+/mcp", line).group(0)
        for _ in range(2):  # two sessions, one after the other, over the same catalog
            async with streamable_http_client(url) as (read, write, _):
                async with ClientSession(read, write, read_timeout_seconds=TIMEOUT) as s:
                    assert (await s.initialize()).serverInfo.name == "stylus"
                    got = await ok(s, "search_adapters", {"query": "stone castle", "k": 1})
                    assert got["results"][0]["alias"] == "locon_ldm"
                    assert "nosuch" in await error(s, "show_adapter", {"alias_or_id": "nosuch"})
        init = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}).encode()
        headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
        for extra, status in [({"Origin": "http://evil.example"}, 403), ({"MCP-Session-Id": "nosuch"}, 404)]:
            request = urllib.request.Request(url, data=init, headers={**headers, **extra}, method="POST")
            with pytest.raises(urllib.error.HTTPError) as refused:
                await asyncio.to_thread(urllib.request.urlopen, request, None, 30)
            assert refused.value.code == status, (extra, refused.value.code)
        with pytest.raises(urllib.error.HTTPError) as missing:
            await asyncio.to_thread(urllib.request.urlopen, url.replace("/mcp", "/other"), None, 30)
        assert missing.value.code == 404
    finally:
        p.kill()
        p.wait()
