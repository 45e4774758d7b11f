"""The README runs as written: its ```sh blocks, in order, against a live server.

A fresh data dir is initialised with ``eseal init`` (as ``scripts/dev.sh serve`` does), ``eseal
serve`` runs on a free port, and every ```sh block of README.md runs with bash in a temporary
directory that holds the repository's ``examples/``, ``docs/`` and ``.venv`` (the README is read
from the repository root), with ``ESEAL_URL``, ``ADMIN_TOKEN`` and ``ESEAL_DATA_DIR`` set as a
reader's shell would have them after the quick start. Variables a block sets are seen by the
blocks after it. Each block must exit 0.

Markers, an HTML comment on the line before a block:
- ``<!-- readme-test: skip (why) -->``: not run (the quick start, anything that stops the server);
- ``<!-- readme-test: provide NAME=examples/FILE -->``: the block needs a file the reader brings;
  the test copies that one to NAME first.

Also here: what a newcomer meets first in the CLI (``--version``, help text on every option, no
library tracebacks for an invalid document) and the OpenAPI request schema of registration.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
MARKER = re.compile(r"<!--\s*readme-test:\s*(skip|provide)\b(.*?)-->")
FENCE = re.compile(r"^```sh\s*$")
BLOCK_TIMEOUT_S = 900
READY_TIMEOUT_S = 120


@dataclass
class Block:
    line: int  # 1-based line of the opening fence
    text: str
    skip: bool = False
    provide: dict[str, str] = field(default_factory=dict)


def readme_blocks(text: str) -> list[Block]:
    """The ```sh blocks of a markdown text with the markers of the line before each."""
    lines = text.splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        if FENCE.match(lines[i]):
            start = i
            body: list[str] = []
            i += 1
            while i < len(lines) and lines[i].strip() != "```":
                body.append(lines[i])
                i += 1
            block = Block(start + 1, "\n".join(body) + "\n")
            j = start - 1
            while j >= 0 and not lines[j].strip():
                j -= 1
            for kind, arg in MARKER.findall(lines[j] if j >= 0 else ""):
                if kind == "skip":
                    block.skip = True
                else:
                    name, _, source = arg.strip().partition("=")
                    block.provide[name.strip()] = source.strip()
            blocks.append(block)
        i += 1
    return blocks


def test_marker_parsing() -> None:
    text = (
        "intro\n<!-- readme-test: skip (serves) -->\n\n```sh\nserve\n```\n"
        "<!-- readme-test: provide scan.jpg=examples/seal-scan.jpg -->\n```sh\nup scan.jpg\n"
        "```\n```python\nnot shell\n```\n```sh\nlast\n```\n"
    )
    blocks = readme_blocks(text)
    assert [(b.text, b.skip, b.provide) for b in blocks] == [
        ("serve\n", True, {}),
        ("up scan.jpg\n", False, {"scan.jpg": "examples/seal-scan.jpg"}),
        ("last\n", False, {}),
    ]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Reader:
    """A reader's shell after the quick start: a served fresh data dir, a working directory."""

    work: Path
    env: dict[str, str]
    log: Path


@pytest.fixture(scope="module")
def reader(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Reader]:
    tmp = tmp_path_factory.mktemp("readme")
    work = tmp / "work"
    work.mkdir()
    for name in ("examples", "docs", ".venv", "scripts"):
        (work / name).symlink_to(ROOT / name)
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ESEAL_")}
    venv_bin = str(Path(sys.executable).parent)
    env.update(
        ESEAL_DATA_DIR=str(tmp / "eseal-data"),
        ESEAL_PUBLIC_URL=f"http://127.0.0.1:{port}",
        PATH=venv_bin + os.pathsep + env.get("PATH", ""),
    )
    init = subprocess.run(
        [sys.executable, "-m", "api.cli", "init"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert init.returncode == 0, init.stderr
    token = json.loads(init.stdout)["admin_key"]["token"]
    assert token.startswith("esk_")
    log = tmp / "server.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "api.cli", "serve", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            assert server.poll() is None, log.read_text(errors="replace")[-3000:]
            try:
                if httpx.get(url + "/healthz", trust_env=False).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "eseal serve did not answer /healthz"
            time.sleep(0.5)
        yield Reader(work, {**env, "ESEAL_URL": url, "ADMIN_TOKEN": token}, log)
    finally:
        server.terminate()
        server.wait(timeout=60)


_RUN = """set -a
[ -f "$1" ] && . "$1"
set -eo pipefail
cd "$2"
. "$3"
set +e
declare -px | grep -Ev '^declare -[-a-zA-Z]* (PWD|OLDPWD|SHLVL|_|BASH[A-Z_]*|SHELLOPTS)=' > "$1"
"""


@pytest.mark.slow
def test_readme_runs_as_written(reader: Reader, tmp_path: Path) -> None:
    """Every ```sh block of the README exits 0, in order, against the live server."""
    blocks = readme_blocks(README.read_text(encoding="utf-8"))
    run = [b for b in blocks if not b.skip]
    assert len(run) >= 5, "the README's runnable blocks are missing"
    state = tmp_path / "state.sh"
    runner = tmp_path / "run.sh"
    runner.write_text(_RUN)
    for n, block in enumerate(run):
        for name, source in block.provide.items():
            shutil.copyfile(ROOT / source, reader.work / name)
        script = tmp_path / f"block{n}.sh"
        script.write_text(block.text, encoding="utf-8")
        done = subprocess.run(
            ["bash", str(runner), str(state), str(reader.work), str(script)],
            env=reader.env,
            capture_output=True,
            text=True,
            timeout=BLOCK_TIMEOUT_S,
        )
        assert done.returncode == 0, (
            f"README.md block at line {block.line} exited {done.returncode}\n"
            f"--- block\n{block.text}--- stdout\n{done.stdout[-4000:]}\n"
            f"--- stderr\n{done.stderr[-4000:]}"
        )
        assert "Traceback" not in done.stderr, (block.line, done.stderr[-4000:])
    # what the text says the blocks did
    work = reader.work
    assert (work / "sealed.pdf").read_bytes().startswith(b"%PDF")
    assert (work / "sealed-http.pdf").read_bytes() == (work / "retried.pdf").read_bytes()
    assert (work / "downloaded.pdf").read_bytes() == (work / "sealed-http.pdf").read_bytes()
    assert json.loads((work / "report-http.json").read_text())["valid"] is True
    assert json.loads((work / "report.json").read_text())["valid"] is True
    assert (work / "archive.zip").read_bytes()[:2] == b"PK"
    assert "BEGIN CERTIFICATE" in (work / "ca.pem").read_text()


def test_readme_links_the_architecture_inside_the_repository() -> None:
    text = README.read_text(encoding="utf-8")
    assert "(docs/architecture.md)" in text
    assert "../shared/" not in text
    for used in re.findall(r"examples/[\w.-]+", text):
        assert (ROOT / used).is_file(), f"the README uses {used}, which is not in examples/"


@pytest.mark.slow
def test_openapi_describes_the_registration_body(reader: Reader) -> None:
    spec = httpx.get(reader.env["ESEAL_URL"] + "/openapi.json", trust_env=False).json()
    body = spec["paths"]["/v1/enterprises"]["post"]["requestBody"]["content"]["application/json"]
    assert {"uscc", "name", "type", "legal_representative"} <= set(body["schema"]["required"])
    assert body["example"]["uscc"] == "91110108551385082Q"


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "api.cli", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.slow
def test_version() -> None:
    from importlib.metadata import version

    done = _cli("--version")
    assert done.returncode == 0
    assert done.stdout.strip() == f"eseal {version('eseal')}"


def _actions(parser: argparse.ArgumentParser, path: str) -> Iterator[tuple[str, argparse.Action]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _actions(sub, f"{path} {name}")
        else:
            yield path, action


def test_every_cli_option_has_help() -> None:
    from api.cli.parser import build_parser as _parser

    missing = [
        f"{path} {'/'.join(a.option_strings) or a.dest}"
        for path, a in _actions(_parser(), "eseal")
        if not a.help and not isinstance(a, argparse._HelpAction)
    ]
    assert missing == []


@pytest.mark.slow
def test_verifying_an_invalid_document_prints_no_traceback(tmp_path: Path) -> None:
    """The shipped sample was sealed by another CA: not valid here, and stderr stays clean."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ESEAL_")}
    env["ESEAL_DATA_DIR"] = str(tmp_path / "data")
    assert _cli("init", env=env).returncode == 0
    done = _cli("verify", str(ROOT / "docs/samples/contract-signed.pdf"), env=env)
    assert done.returncode == 1
    assert done.stdout.startswith("NOT VALID")
    assert "untrusted_certificate" in done.stdout
    assert "Traceback" not in done.stderr
    assert done.stderr.count("\n") <= 1, done.stderr
