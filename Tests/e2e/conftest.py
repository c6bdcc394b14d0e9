"""pytest-lsp end-to-end tests: the built `stylus lsp` over stdio, impersonating real clients.

Run (after `swift build -c release`):
    python -m pytest Tests/e2e -W error::pytest_lsp.checks.LspSpecificationWarning
STYLUS_BIN overrides the server binary (default: .build/release/stylus).
"""

import os
import pathlib
import subprocess
import tempfile
import time

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

ROOT = pathlib.Path(__file__).resolve().parents[2]
FIXTURES = pathlib.Path(__file__).resolve().parent / "fixtures"
SERVER = os.environ.get("STYLUS_BIN", str(ROOT / ".build" / "release" / "stylus"))

# Captured initialize params of real clients, shipped with pytest-lsp.
CLIENTS = ["neovim@v0.7.0", "neovim@v0.10.0", "visual-studio-code", "emacs"]


# A catalog of the shipped starter cards, made once per run with the real CLI; the server gets it
# through the `db` setting, so no test touches the user's own catalog.
CATALOG = pathlib.Path(tempfile.mkdtemp(prefix="stylus-e2e-")) / "catalog.sqlite"
STARTER = ROOT / "Sources" / "StylusCatalog" / "Resources" / "starter_catalog.jsonl"


def write_prompt_file(work: pathlib.Path, name: str, body: str, size="64x64", steps=8, checkpoint=None) -> tuple[pathlib.Path, str]:
    """A render test's prompt file in a folder of its own under `work` (so its images are the only ones there)."""
    folder = work / f"{name}-{time.monotonic_ns()}"
    folder.mkdir()
    header = f"checkpoint: {checkpoint}\n" if checkpoint else ""
    text = f"---\n{header}steps: {steps}\nsize: {size}\nseed: 5\nsampler: Euler\ncfg: 7\n---\n{body}\n"
    path = folder / f"{name}.sdprompt"
    path.write_text(text)
    return path, text


def pytest_configure(config):
    if not os.access(SERVER, os.X_OK):
        raise pytest.UsageError(f"stylus binary not found at {SERVER}: run `swift build -c release` or set STYLUS_BIN")
    subprocess.run([SERVER, "catalog", "import", "--db", str(CATALOG), str(STARTER)], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@pytest_lsp.fixture(
    params=CLIENTS,
    config=ClientServerConfig(server_command=[SERVER, "lsp", "--log-level", "debug"]),
)
async def client(request, lsp_client: LanguageClient):
    lsp_client.set_configuration({"stylus": {"baseModel": "SD 1.5"}})

    # Real clients with dynamic registration accept it; pytest-lsp's client has no handler.
    @lsp_client.feature(types.CLIENT_REGISTER_CAPABILITY)
    def register_capability(params: types.RegistrationParams):
        lsp_client.registrations = getattr(lsp_client, "registrations", []) + list(params.registrations)
        return None

    lsp_client.init_result = await lsp_client.initialize_session(
        types.InitializeParams(
            capabilities=client_capabilities(request.param),
            root_uri=FIXTURES.as_uri(),
            initialization_options={"stylus": {"loraDirs": [str(FIXTURES)], "db": str(CATALOG), "baseModel": "SD 1.5"}},
        )
    )
    yield
    await lsp_client.shutdown_session()
