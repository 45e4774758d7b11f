"""``eseal sign --batch DIR -o OUTDIR``: every PDF and OFD under a directory, sealed.

Each document is sealed on the path of ``eseal sign`` (and ``POST /v1/sign``): checked,
sealed, archived and audited before its sealed file is written to ``OUTDIR`` under the same
relative path (with the sealed format's extension).  A document that fails is reported and
the others go on; the exit code is 1 if any failed.

Resumable: ``OUTDIR/.eseal-batch.jsonl`` records every finished document (one JSON line,
appended and synced as each finishes).  Run again, the command skips a document whose line
says sealed, whose input and options are unchanged and whose sealed file is still in
``OUTDIR`` with its SHA-256; it seals the others (failed ones included).  Each document is
sealed under an idempotency key of its own (its path, bytes, options, the enterprise and
``OUTDIR``), so a run killed after a document was archived but before its line was written
gets that archived document back on the next run instead of sealing it twice.

A progress bar goes to stderr (a line per document when stderr is not a terminal); the
summary table to stdout (``--json``: the summary as JSON).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import sys
import threading
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from keystore.errors import EsealError

from ..errors import InvalidRequest
from .common import unreadable
from .output import EXIT_OK, EXIT_REFUSED, print_json

if TYPE_CHECKING:
    from ..container import Container
    from ..settings import Settings

__all__ = ["STATE_FILE", "cmd_sign_batch", "documents"]

#: the record of finished documents, in OUTDIR
STATE_FILE = ".eseal-batch.jsonl"
#: what the command takes from DIR (by extension; the content decides how it is sealed)
SUFFIXES = (".pdf", ".ofd")


def documents(root: Path, outdir: Path) -> list[Path]:
    """The documents under ``root`` (relative paths, sorted): ``*.pdf`` and ``*.ofd`` at any
    depth, not hidden, not inside ``outdir``."""
    out = outdir.resolve()
    found = []
    for path in root.rglob("*"):
        rel = path.relative_to(root)
        if any(part.startswith(".") for part in rel.parts) or path.suffix.lower() not in SUFFIXES:
            continue
        if not path.is_file() or path.resolve().is_relative_to(out):
            continue
        found.append(rel)
    return sorted(found, key=lambda p: p.as_posix())


@dataclass
class Outcome:
    """One document's line in the state file and in the summary."""

    name: str
    status: str  # sealed, skipped (sealed by an earlier run), failed
    input_sha256: str
    options_sha256: str
    output: str | None = None
    sha256: str | None = None
    archive_id: str | None = None
    code: str | None = None
    detail: str | None = None


def _read_state(path: Path) -> dict[str, dict[str, Any]]:
    """The last line of each document; a torn last line (a killed run) is ignored."""
    state: dict[str, dict[str, Any]] = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return state
    except OSError as exc:
        raise unreadable(str(path), exc.strerror or "unreadable") from None
    for line in lines:
        with contextlib.suppress(ValueError):
            entry = json.loads(line)
            if isinstance(entry, dict) and isinstance(entry.get("name"), str):
                state[entry["name"]] = entry
    return state


def _sha256_of(path: Path) -> str | None:
    try:
        with path.open("rb") as f:
            return hashlib.file_digest(f, "sha256").hexdigest()
    except OSError:
        return None


def _already(entry: dict[str, Any] | None, outcome: Outcome, outdir: Path) -> bool:
    return (
        entry is not None
        and entry.get("status") == "sealed"
        and entry.get("input_sha256") == outcome.input_sha256
        and entry.get("options_sha256") == outcome.options_sha256
        and isinstance(entry.get("output"), str)
        and _sha256_of(outdir / entry["output"]) == entry.get("sha256")
    )


class Progress:
    """A bar redrawn on a terminal; otherwise one line per finished document."""

    WIDTH = 30

    def __init__(self, total: int, stream: IO[str] | None = None) -> None:
        self.total = total
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.counts = {"sealed": 0, "skipped": 0, "failed": 0}

    @property
    def finished(self) -> int:
        return sum(self.counts.values())

    def update(self, outcome: Outcome) -> None:
        self.counts[outcome.status] += 1
        n = self.finished
        if self.tty:
            filled = self.WIDTH * n // max(self.total, 1)
            bar = "#" * filled + "-" * (self.WIDTH - filled)
            self.stream.write(
                f"\r[{bar}] {n}/{self.total}  sealed {self.counts['sealed']}  "
                f"skipped {self.counts['skipped']}  failed {self.counts['failed']} "
            )
        else:
            why = f" ({outcome.code})" if outcome.code else ""
            self.stream.write(f"eseal: [{n}/{self.total}] {outcome.status} {outcome.name}{why}\n")
        self.stream.flush()

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()


def _per_file(path: str | None, names: set[str]) -> dict[str, dict[str, Any]]:
    if path is None:
        return {}
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        why = exc.strerror if isinstance(exc, OSError) else "not a JSON file"
        raise unreadable(path, why or "unreadable") from None
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise InvalidRequest(
            "--per-file takes a JSON object of path (relative to DIR) → options object",
            code="invalid_options",
        )
    unknown = sorted(set(data) - names)
    if unknown:
        raise InvalidRequest(
            f"--per-file names documents that are not in DIR: {', '.join(unknown)[:200]}",
            code="invalid_options",
        )
    return data


def _output_name(name: str, extension: str) -> str:
    stem, dot, suffix = name.rpartition(".")
    if dot and suffix.lower() == extension:
        return name
    return (stem if dot and "." + suffix.lower() in SUFFIXES else name) + "." + extension


class _Job:
    """Seals one document into OUTDIR (in a worker thread)."""

    def __init__(self, c: Container, uscc: str, root: Path, outdir: Path) -> None:
        from ..auth import Principal, Role

        self.c = c
        self.uscc = uscc
        self.root = root
        self.outdir = outdir
        self.principal = Principal("cli", Role.ENTERPRISE, uscc, "cli")

    def __call__(self, outcome: Outcome, options: Any, data: bytes) -> Outcome:
        from storage.archive.model import EXTENSIONS

        key = hashlib.sha256(
            "\0".join(
                (
                    self.uscc,
                    str(self.outdir.resolve()),
                    outcome.name,
                    outcome.input_sha256,
                    outcome.options_sha256,
                )
            ).encode()
        ).hexdigest()
        try:
            done = self.c.sign_flow.sign(
                self.principal, data, options, f"cli-batch:{key}", Path(outcome.name).name
            )
        except EsealError as exc:
            outcome.status, outcome.code, outcome.detail = "failed", exc.code, exc.detail
            return outcome
        output = _output_name(outcome.name, EXTENSIONS[done.format])
        target = self.outdir / output
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.{threading.get_ident()}.part")
        try:
            with partial.open("wb") as out:
                for chunk in done.chunks():
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            os.replace(partial, target)
        except OSError as exc:
            with contextlib.suppress(OSError):
                partial.unlink()
            outcome.status, outcome.code = "failed", "output_unwritable"
            outcome.detail = f"cannot write {target}: {exc.strerror}"
            return outcome
        outcome.status, outcome.output, outcome.sha256 = "sealed", output, done.sha256
        outcome.archive_id = done.archive_id
        return outcome


def _append(state: IO[str], outcome: Outcome) -> None:
    line = {**asdict(outcome), "at": datetime.now(UTC).isoformat()}
    state.write(json.dumps(line, ensure_ascii=False) + "\n")
    state.flush()
    os.fsync(state.fileno())


def _plan(
    args: argparse.Namespace, root: Path, names: list[Path]
) -> list[tuple[Outcome, Any, Path]]:
    """Every document with its options (checked before anything is sealed)."""
    from pydantic import ValidationError

    from ..flows import to_sealing_options
    from ..models import SignOptions
    from .documents import sign_options

    common = sign_options(args).model_dump(mode="json", exclude_defaults=True)
    per_file = _per_file(args.per_file, {p.as_posix() for p in names})
    planned = []
    for rel in names:
        name = rel.as_posix()
        try:
            options = SignOptions.model_validate({**common, **per_file.get(name, {})})
        except ValidationError as exc:
            detail = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'options'}: {e['msg']}"
                for e in exc.errors()
            )
            raise InvalidRequest(
                f"invalid options for {name}: {detail}", code="invalid_options"
            ) from None
        to_sealing_options(options)  # unknown kinds and bad placements, before any work
        digest = hashlib.sha256(options.model_dump_json().encode()).hexdigest()
        planned.append((Outcome(name, "queued", "", digest), options, root / rel))
    return planned


def cmd_sign_batch(args: argparse.Namespace, settings: Settings) -> int:
    from seals.uscc import validate_uscc

    from .common import container

    uscc = validate_uscc(args.uscc)
    if args.jobs < 1:
        raise InvalidRequest("--jobs takes a number from 1", code="invalid_request")
    root = Path(args.batch)
    if not root.is_dir():
        raise unreadable(args.batch, "not a directory")
    outdir = Path(args.output)
    names = documents(root, outdir)
    if not names:
        raise InvalidRequest(f"{args.batch} holds no documents (*.pdf, *.ofd)", code="no_documents")
    plan = _plan(args, root, names)
    try:
        outdir.mkdir(parents=True, exist_ok=True)
        state_path = outdir / STATE_FILE
        state = _read_state(state_path)
        state_file = state_path.open("a", encoding="utf-8")
        if state_file.tell() and not state_path.read_bytes().endswith(b"\n"):
            state_file.write("\n")  # a torn last line (a killed run) stays on its own
    except OSError as exc:
        raise unreadable(str(outdir), exc.strerror or "cannot write there") from None
    c = container(settings)
    job = _Job(c, uscc, root, outdir)
    progress = Progress(len(plan))
    outcomes: list[Outcome] = []
    pool = ThreadPoolExecutor(max_workers=args.jobs, thread_name_prefix="eseal-sign")
    in_flight: set[Future[Outcome]] = set()

    def collect(everything: bool) -> None:
        nonlocal in_flight
        if in_flight:
            done, in_flight = wait(
                in_flight, return_when="ALL_COMPLETED" if everything else FIRST_COMPLETED
            )
            for future in done:
                _finish(future.result(), outcomes, progress, state_file)

    try:
        for outcome, options, path in plan:
            try:
                data = path.read_bytes()
            except OSError as exc:
                outcome.status, outcome.code = "failed", "file_unreadable"
                outcome.detail = f"cannot read it: {exc.strerror}"
                _finish(outcome, outcomes, progress, state_file)
                continue
            outcome.input_sha256 = hashlib.sha256(data).hexdigest()
            earlier = state.get(outcome.name)
            if _already(earlier, outcome, outdir):
                assert earlier is not None
                outcome.status = "skipped"
                outcome.output, outcome.sha256 = earlier["output"], earlier["sha256"]
                outcome.archive_id = earlier.get("archive_id")
                _finish(outcome, outcomes, progress, None)
                continue
            in_flight.add(pool.submit(job, outcome, options, data))
            if len(in_flight) >= 2 * args.jobs:  # a few documents in memory at a time
                collect(everything=False)
        collect(everything=True)
    except KeyboardInterrupt:
        pool.shutdown(wait=False, cancel_futures=True)
        progress.close()
        sys.stderr.write(
            f"eseal: interrupted after {progress.finished} of {len(plan)} documents; "
            "run the same command again to go on\n"
        )
        return 130
    finally:
        pool.shutdown(wait=True)
        state_file.close()
    progress.close()
    order = {o.name: i for i, (o, _, _) in enumerate(plan)}
    outcomes.sort(key=lambda o: order[o.name])
    if args.json:
        print_json(_summary_json(outcomes, outdir))
    else:
        _print_summary(outcomes, outdir)
    return EXIT_REFUSED if any(o.status == "failed" for o in outcomes) else EXIT_OK


def _finish(
    outcome: Outcome, outcomes: list[Outcome], progress: Progress, state: IO[str] | None
) -> None:
    outcomes.append(outcome)
    if state is not None:
        _append(state, outcome)
    progress.update(outcome)


def _summary_json(outcomes: list[Outcome], outdir: Path) -> dict[str, Any]:
    counts = {s: sum(o.status == s for o in outcomes) for s in ("sealed", "skipped", "failed")}
    return {
        "output": str(outdir),
        "total": len(outcomes),
        **counts,
        "files": [
            {
                "name": o.name,
                "status": o.status,
                "output": o.output,
                "sha256": o.sha256,
                "archive_id": o.archive_id,
                "code": o.code,
                "detail": o.detail,
            }
            for o in outcomes
        ],
    }


def _print_summary(outcomes: list[Outcome], outdir: Path) -> None:
    out = sys.stdout
    rows = [
        ("sealed", sum(o.status == "sealed" for o in outcomes)),
        ("already sealed (skipped)", sum(o.status == "skipped" for o in outcomes)),
        ("failed", sum(o.status == "failed" for o in outcomes)),
        ("total", len(outcomes)),
    ]
    width = max(len(label) for label, _ in rows)
    out.write(f"{'documents':<{width}}  {'count':>6}\n")
    for label, n in rows:
        out.write(f"{label:<{width}}  {n:>6}\n")
    failed = [o for o in outcomes if o.status == "failed"]
    if failed:
        name_w = min(max(len(o.name) for o in failed), 60)
        code_w = max(len(str(o.code)) for o in failed)
        out.write(f"\n{'failed':<{name_w}}  {'code':<{code_w}}  detail\n")
        for o in failed:
            out.write(f"{o.name:<{name_w}}  {o.code!s:<{code_w}}  {o.detail or ''}\n")
    out.write(f"\nsealed files in {outdir}; a second run skips what is done ({STATE_FILE})\n")
