"""``eseal sign --batch DIR -o OUTDIR``: a directory sealed, resumably.

The command runs in-process (its parser and command function, as ``eseal`` would call them);
its archive and audit are the data dir's, read back through a container.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from api.cli.batch import STATE_FILE
from api.cli.parser import build_parser
from api.container import build
from api.settings import Settings
from helpers import USCC
from ofds import simple_ofd
from pdfs import simple_pdf


def _run(settings: Settings, *args: str) -> int:
    parsed = build_parser().parse_args(["sign", "--uscc", USCC, *args])
    rc: int = parsed.func(parsed, settings)
    return rc


def _count(settings: Settings, sql: str) -> int:
    c = build(settings)
    try:
        with c.engine.connect() as conn:
            return int(conn.execute(text(sql)).scalar_one())
    finally:
        c.close()


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    d = tmp_path / "in"
    (d / "sub").mkdir(parents=True)
    (d / "a.pdf").write_bytes(simple_pdf(1, text="Contract A page"))
    (d / "sub" / "b.PDF").write_bytes(simple_pdf(2, text="Contract B page"))
    (d / "bad.pdf").write_bytes(b"not a PDF")
    (d / "order.ofd").write_bytes(simple_ofd())
    (d / ".hidden.pdf").write_bytes(simple_pdf(1))
    (d / "notes.txt").write_text("not a document")
    return d


def test_a_directory_is_sealed_and_a_second_run_skips_what_is_done(
    settings: Settings,
    _registered_template: Any,
    docs: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "out"
    options = tmp_path / "options.json"
    options.write_text(json.dumps({"seals": [{"kind": "contract"}], "level": "B-B"}))
    per_file = tmp_path / "per-file.json"
    per_file.write_text(json.dumps({"order.ofd": {"reference": "PO-1"}}))
    args = ("--batch", str(docs), "-o", str(out), "--options", str(options))

    assert _run(settings, *args, "--per-file", str(per_file)) == 1  # one failed
    captured = capsys.readouterr()
    # progress on stderr (a line per document off a terminal), the table on stdout
    assert captured.err.count("eseal: [") == 4 and "failed bad.pdf (invalid_pdf)" in captured.err
    table = captured.out.splitlines()
    assert [line.split()[-1] for line in table[1:5]] == ["3", "0", "1", "4"]
    assert any(line.startswith("bad.pdf") and "invalid_pdf" in line for line in table)
    sealed = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert sealed == [STATE_FILE, "a.pdf", "order.ofd", "sub/b.PDF"]
    assert (out / "a.pdf").read_bytes()[:4] == b"%PDF"
    assert _count(settings, "SELECT count(*) FROM archives") == 3
    assert _count(settings, "SELECT count(*) FROM archives WHERE reference = 'PO-1'") == 1
    assert _count(settings, "SELECT count(*) FROM audit WHERE action = 'seal.use'") == 3

    # the bad document replaced; a.pdf's line lost with a torn last line, as a run killed
    # between archiving a.pdf and writing its line leaves it
    (docs / "bad.pdf").write_bytes(simple_pdf(1, text="Contract C page"))
    lines = (out / STATE_FILE).read_text().splitlines()
    kept = [line for line in lines if json.loads(line)["name"] != "a.pdf"]
    (out / STATE_FILE).write_text("\n".join(kept) + '\n{"name": "a.p')
    before = _sha(out / "a.pdf")
    assert _run(settings, *args, "--per-file", str(per_file), "--json") == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["sealed"], summary["skipped"], summary["failed"]) == (2, 2, 0)
    status = {f["name"]: f["status"] for f in summary["files"]}
    assert status == {
        "a.pdf": "sealed",
        "bad.pdf": "sealed",
        "order.ofd": "skipped",
        "sub/b.PDF": "skipped",
    }
    # a.pdf came back from the archive (its idempotency key), not sealed a second time
    assert _sha(out / "a.pdf") == before
    assert _count(settings, "SELECT count(*) FROM archives") == 4

    # a changed document is sealed again; the rest stays
    (docs / "a.pdf").write_bytes(simple_pdf(1, text="Contract A, amended"))
    assert _run(settings, *args, "--per-file", str(per_file), "--json") == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["sealed"], summary["skipped"]) == (1, 3)
    assert _count(settings, "SELECT count(*) FROM archives") == 5


def test_batch_refusals(
    settings: Settings,
    _registered_template: Any,
    docs: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from api.cli.run import main

    empty = tmp_path / "empty"
    empty.mkdir()
    parser = build_parser()
    parsed = parser.parse_args(["sign", "--uscc", USCC, "--batch", str(empty), "-o", "x"])
    with pytest.raises(Exception) as refused:
        parsed.func(parsed, settings)
    assert getattr(refused.value, "code", None) == "no_documents"
    unknown = tmp_path / "per-file.json"
    unknown.write_text(json.dumps({"missing.pdf": {}}))
    parsed = parser.parse_args(
        ["sign", "--uscc", USCC, "--batch", str(docs), "-o", "x", "--per-file", str(unknown)]
    )
    with pytest.raises(Exception) as refused:
        parsed.func(parsed, settings)
    assert getattr(refused.value, "code", None) == "invalid_options"
    assert main(["sign", "--uscc", USCC, "-o", "x"]) == 2  # neither IN nor --batch
    assert json.loads(capsys.readouterr().err)["code"] == "invalid_request"
    assert not (tmp_path / "x").exists()
