"""Signing and verification speed in-process: eseal beside stock pyHanko, in one run.

    python bench/sign_verify.py [--quick] [--profile]

Signing (one seal per document, PAdES B-B and B-T, ECDSA P-256 and RSA-2048 seal keys, a
1-page and a 100-page PDF, and the 4-page multi-font Chinese contract of about 85 KB from
``tests/contract_docs.py``) is timed four ways:

* **eseal**: ``container.sealing.seal(...)`` in this process (domain checks, visible seal image,
  placement, built-in TSA in-process for B-T);
* **pyHanko, as its docs show**, **pyHanko tuned** and **pyHanko's CLI**, in a process of their
  own that never imports eseal's ``signer`` (which patches pyHanko): ``bench/baselines.py``
  says exactly what each does.

eseal and the two in-process pyHanko variants run one document each in turn (round-robin after
a warm-up), so that a slow moment of the shared machine hits all of them alike; only one of the
two processes works at a time, so each has a core to itself.  Ratios are pyHanko's median over
eseal's: how many times faster eseal is.

Verification of a 2-seal B-T document made by eseal is timed three ways: eseal's
``Verifier.verify`` (full report: pyHanko validation, difference analysis, registry) here,
stock pyHanko's ``async_validate_pdf_signature`` for each signature with a fresh
``ValidationContext`` per document in the baseline process, and ``pyhanko sign validate`` per
process.

The table goes to stdout and to ``bench/results.md``.  ``--profile`` also runs eseal's B-T
ECDSA signing of the contract and the verification under pyinstrument.  ``--signing-only``
leaves out the verification and the CLI columns (a reduced run).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import io
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "bench")]

from baselines import ALGORITHMS, BaselineWorker, stock_note  # noqa: E402
from contract_docs import multi_font_contract  # noqa: E402
from facts import header, write_results  # noqa: E402
from pyhanko.pdf_utils.reader import PdfFileReader  # noqa: E402

from api.container import Container, build, initialise  # noqa: E402
from api.settings import Settings  # noqa: E402
from keystore.base import KeyAlgorithm  # noqa: E402
from pdfs import simple_pdf  # noqa: E402
from seals.kinds import SealKind  # noqa: E402
from seals.license import parse_license  # noqa: E402
from signer.levels import PadesLevel  # noqa: E402
from signer.service import SealingOptions, SealOrder  # noqa: E402

LICENSE = ROOT / "examples" / "license.json"
TARGET_SIGN_MS = 18.0  # eseal, 1-page, B-T, ECDSA, in-process, per document (issue: signing)
#: issue 16: in-process sealing of the Chinese contract at B-T, ECDSA P-256: CPU per document,
#: and how many times less than pyHanko tuned
TARGET_CONTRACT_CPU_MS = 6.0
TARGET_CONTRACT_RATIO = 4.0
CONTRACT = "contract"
TARGET_VERIFY_PER_S = 80.0  # eseal verification, eventually over HTTP (issue: verification)
KEY_ALGORITHMS = {"ECDSA P-256": KeyAlgorithm.EC_P256, "RSA-2048": KeyAlgorithm.RSA_2048}
LEVELS = {"B-B": PadesLevel.B_B, "B-T": PadesLevel.B_T}


# -- statistics ----------------------------------------------------------------------------


@dataclass
class Sample:
    #: wall-clock seconds per document
    seconds: list[float] = field(default_factory=list)
    #: CPU seconds per document (of the process that did the work)
    cpu: list[float] = field(default_factory=list)

    def add(self, wall: float, cpu: float) -> None:
        self.seconds.append(wall)
        self.cpu.append(cpu)

    def extend(self, reply: dict[str, list[float]]) -> None:
        self.seconds += reply["wall"]
        self.cpu += reply["cpu"]

    @property
    def median_ms(self) -> float:
        return statistics.median(self.seconds) * 1000

    @property
    def cpu_median_ms(self) -> float:
        return statistics.median(self.cpu) * 1000

    @property
    def p90_ms(self) -> float:
        ordered = sorted(self.seconds)
        return ordered[max(0, -(-len(ordered) * 9 // 10) - 1)] * 1000  # nearest rank

    def __len__(self) -> int:
        return len(self.seconds)


def fmt_ms(sample: Sample | None) -> str:
    if sample is None or not len(sample):
        return "–"
    return f"{sample.median_ms:.1f} / {sample.p90_ms:.1f}"


def fmt_cpu(sample: Sample | None) -> str:
    if sample is None or not len(sample):
        return "–"
    return f"{sample.cpu_median_ms:.1f}"


def speedup(ours: Sample, theirs: Sample | None, cpu: bool = False) -> str:
    """How many times faster eseal is: their median over ours."""
    if theirs is None or not len(theirs):
        return "–"
    if cpu:
        return f"{theirs.cpu_median_ms / ours.cpu_median_ms:.1f}×"
    return f"{theirs.median_ms / ours.median_ms:.1f}×"


# -- eseal ---------------------------------------------------------------------------------


def _license() -> dict[str, object]:
    return json.loads(LICENSE.read_text(encoding="utf-8"))


def make_container(base: Path, algorithm: KeyAlgorithm) -> Container:
    settings = Settings(data_dir=base / f"data-{algorithm.value}", key_algorithm=algorithm)
    initialise(settings)
    c = build(settings)
    c.seals.register(parse_license(_license()))
    return c


def count_signatures(data: bytes) -> int:
    return len(PdfFileReader(io.BytesIO(data), strict=False).embedded_signatures)


Contender = Callable[[], Awaitable[tuple[float, float]]]


def eseal_sealing(c: Container, level: PadesLevel, pdf: bytes) -> Contender:
    uscc = str(_license()["uscc"])
    options = SealingOptions(seals=[SealOrder(SealKind.CONTRACT)], level=level)

    async def run() -> tuple[float, float]:
        cpu = time.process_time()
        t0 = time.perf_counter()
        out, _ = await c.sealing.seal(uscc, pdf, options)
        wall, used = time.perf_counter() - t0, time.process_time() - cpu
        if count_signatures(out) != 1:
            raise RuntimeError("eseal's output does not hold one signature")
        return wall, used

    return run


def baseline_sealing(
    worker: BaselineWorker, mode: str, algorithm: str, path: Path, level: str
) -> Contender:
    async def run() -> tuple[float, float]:
        r = worker.call("sign", mode=mode, algorithm=algorithm, pdf=str(path), level=level, n=1)
        return r["wall"][0], r["cpu"][0]

    return run


async def interleaved(
    runs: dict[str, Contender], iterations: int, warmup: int
) -> dict[str, Sample]:
    """Every contender one document in turn, the order rotating, after ``warmup`` rounds."""
    names = list(runs)
    for _ in range(warmup):
        for name in names:
            await runs[name]()
    samples = {name: Sample() for name in names}
    for i in range(iterations):
        for name in names[i % len(names) :] + names[: i % len(names)]:
            samples[name].add(*await runs[name]())
    return samples


# -- the runs ------------------------------------------------------------------------------


@dataclass
class Config:
    iterations: dict[str, int]  # document -> in-process documents per contender
    warmup: int
    cli_iterations: int
    verify_iterations: int
    cli_verify_iterations: int
    cli_documents: tuple[str, ...] = ("1", "100")


FULL = Config(
    {"1": 60, "100": 15, CONTRACT: 60},
    warmup=3,
    cli_iterations=4,
    verify_iterations=60,
    cli_verify_iterations=4,
)
QUICK = Config(
    {"1": 8, "100": 2, CONTRACT: 8},
    warmup=1,
    cli_iterations=1,
    verify_iterations=8,
    cli_verify_iterations=1,
    cli_documents=("1",),
)


@dataclass
class SignRow:
    algorithm: str
    level: str
    #: "1" or "100" (pages of the plain PDF), or "contract"
    document: str
    eseal: Sample
    docs: Sample
    tuned: Sample
    cli: Sample | None


async def bench_signing(
    cfg: Config,
    containers: dict[str, Container],
    worker: BaselineWorker,
    inputs: dict[int, Path],
    cli: bool,
) -> list[SignRow]:
    rows = []
    for alg_name, c in containers.items():
        for level_name, level in LEVELS.items():
            for document, path in inputs.items():
                cell = time.perf_counter()
                worker.call(
                    "sign",
                    mode="docs",
                    algorithm=alg_name,
                    pdf=str(path),
                    level=level_name,
                    n=1,
                    check=True,
                )
                worker.call(
                    "sign",
                    mode="tuned",
                    algorithm=alg_name,
                    pdf=str(path),
                    level=level_name,
                    n=1,
                    check=True,
                )
                runs = {
                    "eseal": eseal_sealing(c, level, path.read_bytes()),
                    "docs": baseline_sealing(worker, "docs", alg_name, path, level_name),
                    "tuned": baseline_sealing(worker, "tuned", alg_name, path, level_name),
                }
                samples = await interleaved(runs, cfg.iterations[document], cfg.warmup)
                cli_sample = None
                if cli and document in cfg.cli_documents:
                    worker.call(
                        "cli_sign", algorithm=alg_name, pdf=str(path), level=level_name, n=1
                    )  # warm-up: page cache, and the command works
                    cli_sample = Sample()
                    cli_sample.extend(
                        worker.call(
                            "cli_sign",
                            algorithm=alg_name,
                            pdf=str(path),
                            level=level_name,
                            n=cfg.cli_iterations,
                            parallel=1,
                        )
                    )
                rows.append(
                    SignRow(
                        alg_name,
                        level_name,
                        document,
                        samples["eseal"],
                        samples["docs"],
                        samples["tuned"],
                        cli_sample,
                    )
                )
                print(
                    f"  signed: {alg_name} {level_name} {document} eseal "
                    f"{samples['eseal'].median_ms:.1f} ms, tuned "
                    f"{samples['tuned'].median_ms:.1f} ms (cell took "
                    f"{time.perf_counter() - cell:.0f} s)",
                    file=sys.stderr,
                )
    return rows


@dataclass
class VerifyRow:
    name: str
    sample: Sample


async def bench_verification(
    cfg: Config, c: Container, work: Path, worker: BaselineWorker, cli: bool
) -> tuple[list[VerifyRow], Path]:
    signed, _ = await c.sealing.seal(
        str(_license()["uscc"]),
        simple_pdf(1),
        SealingOptions(
            seals=[SealOrder(SealKind.CONTRACT), SealOrder(SealKind.LEGAL_REP)],
            level=PadesLevel.B_T,
        ),
    )
    path = work / "two-seals-b-t.pdf"
    path.write_bytes(signed)
    root = str(c.settings.pki_dir / "root.pem")

    async def eseal_verify() -> tuple[float, float]:
        cpu = time.process_time()
        t0 = time.perf_counter()
        report = await c.verifier.verify(signed)
        wall, used = time.perf_counter() - t0, time.process_time() - cpu
        if not report["valid"]:
            raise RuntimeError(f"eseal says not valid: {report}")
        return wall, used

    async def pyhanko_verify() -> tuple[float, float]:
        r = worker.call("validate", pdf=str(path), root=root, n=1)
        return r["wall"][0], r["cpu"][0]

    samples = await interleaved(
        {"eseal": eseal_verify, "pyhanko": pyhanko_verify}, cfg.verify_iterations, cfg.warmup
    )
    rows = [
        VerifyRow("eseal `Verifier.verify` (full report), in-process", samples["eseal"]),
        VerifyRow(
            "stock pyHanko `async_validate_pdf_signature` ×2, in its own process",
            samples["pyhanko"],
        ),
    ]
    if cli and cfg.cli_verify_iterations:
        worker.call("cli_validate", pdf=str(path), root=root, n=1)
        sample = Sample()
        sample.extend(
            worker.call(
                "cli_validate", pdf=str(path), root=root, n=cfg.cli_verify_iterations, parallel=1
            )
        )
        rows.append(VerifyRow("`pyhanko sign validate`, one process per document", sample))
    return rows, path


# -- the table -----------------------------------------------------------------------------


def _doc_name(document: str) -> str:
    if document == CONTRACT:
        return "Chinese contract, 4 pages, 85 KB"
    return "1 page" if document == "1" else f"{document} pages"


def render(
    command: str,
    quick: bool,
    cfg: Config,
    rows: list[SignRow],
    verify: list[VerifyRow],
    baseline_facts: dict[str, object],
) -> str:
    lines = header(
        "eseal in-process beside stock pyHanko: signing and verification",
        command,
    )[:-1]
    lines += [
        f"- {stock_note(baseline_facts)}",
        f"- mode: {'quick' if quick else 'full'}; documents per in-process cell: 1 page "
        f"{cfg.iterations['1']}, 100 pages {cfg.iterations['100']}, contract "
        f"{cfg.iterations[CONTRACT]} (after {cfg.warmup} warm-up "
        f"rounds; contenders one document each in turn); CLI processes per cell: "
        f"{cfg.cli_iterations}, one at a time",
        "",
        "## Like for like: one document at a time, one core each, in-process",
        "",
        "eseal's `SealingService.seal` in this process against stock pyHanko in a process of "
        "its own, one document after another, taking turns (one process works while the other "
        "waits). B-T timestamps from the same TSA code in each process.",
        "",
        "| document | eseal ms | pyHanko tuned ms | eseal faster by | pyHanko as its docs "
        "show ms | eseal faster by |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        if r.document in ("1", CONTRACT) and r.level == "B-T":
            lines.append(
                f"| {_doc_name(r.document)}, B-T, {r.algorithm} | {r.eseal.median_ms:.1f} "
                f"| {r.tuned.median_ms:.1f} | {speedup(r.eseal, r.tuned)} "
                f"| {r.docs.median_ms:.1f} | {speedup(r.eseal, r.docs)} |"
            )
    if verify:
        ev, pv = verify[0].sample, verify[1].sample
        lines += [
            "",
            f"Verification, 2 seals at B-T: eseal's full report {ev.median_ms:.1f} ms, stock "
            f"pyHanko's validation alone {pv.median_ms:.1f} ms (eseal/pyHanko time "
            f"{ev.median_ms / pv.median_ms:.2f}).",
        ]
    lines += [
        "",
        "## Signing, one seal per document (ms per document: median / p90)",
        "",
        "eseal: `SealingService.seal` in-process (visible seal image, placement, registry "
        "checks). pyHanko docs: `SimpleSigner.load` per document, no `bytes_reserved`. "
        "pyHanko tuned: `SimpleSigner` loaded once with its key parsed once, `bytes_reserved` "
        "set. CLI: `pyhanko sign addsig ... pemder`, one process per document, one at a time "
        "(B-T from the baseline process's TSA over loopback HTTP). 'faster by' is pyHanko's "
        "median over eseal's.",
        "",
        "| key | level | document | eseal | pyHanko tuned | pyHanko docs | pyHanko CLI "
        "| vs tuned | vs docs | vs CLI |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r.algorithm} | {r.level} | {_doc_name(r.document)} | {fmt_ms(r.eseal)} "
            f"| {fmt_ms(r.tuned)} "
            f"| {fmt_ms(r.docs)} | {fmt_ms(r.cli)} | {speedup(r.eseal, r.tuned)} "
            f"| {speedup(r.eseal, r.docs)} | {speedup(r.eseal, r.cli)} |"
        )
    lines += [
        "",
        "### The same, CPU time (ms per document, median)",
        "",
        "CPU seconds of the process that did the work (the CLI's own process; the TSA's work "
        "for the CLI is in the baseline process and not counted there).",
        "",
        "| key | level | document | eseal | pyHanko tuned | pyHanko docs | pyHanko CLI "
        "| vs tuned | vs docs | vs CLI |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r.algorithm} | {r.level} | {_doc_name(r.document)} | {fmt_cpu(r.eseal)} "
            f"| {fmt_cpu(r.tuned)} "
            f"| {fmt_cpu(r.docs)} | {fmt_cpu(r.cli)} | {speedup(r.eseal, r.tuned, True)} "
            f"| {speedup(r.eseal, r.docs, True)} | {speedup(r.eseal, r.cli, True)} |"
        )
    if verify:
        lines += _verification_lines(verify)
    lines += _target_lines(rows, verify)
    return "\n".join(lines)


def _verification_lines(verify: list[VerifyRow]) -> list[str]:
    ev = verify[0].sample
    lines = [
        "",
        "## Verification of a 1-page document with 2 seals at B-T",
        "",
        "eseal: the full report (pyHanko validation of both signatures and their timestamps, "
        "difference analysis, registry and license look-ups). Stock pyHanko: a fresh "
        "`ValidationContext` per document, both signatures, no eseal code in its process. "
        "CLI: `pyhanko sign validate --trust ROOT --trust-replace --no-revocation-check` (no "
        "online revocation, as in-process).",
        "",
        "| verifier | ms per document (median / p90) | documents/s (from median) "
        "| eseal faster by | CPU ms (median) | eseal faster by, CPU |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for v in verify:
        lines.append(
            f"| {v.name} | {fmt_ms(v.sample)} | {1000 / v.sample.median_ms:.1f} "
            f"| {speedup(ev, v.sample)} | {fmt_cpu(v.sample)} "
            f"| {speedup(ev, v.sample, True)} |"
        )
    return lines


def _target_lines(rows: list[SignRow], verify: list[VerifyRow]) -> list[str]:
    def cell(document: str) -> SignRow:
        return next(
            r
            for r in rows
            if r.algorithm == "ECDSA P-256" and r.level == "B-T" and r.document == document
        )

    target, contract = cell("1"), cell(CONTRACT)
    cpu = contract.eseal.cpu_median_ms
    ratio = contract.tuned.cpu_median_ms / cpu
    lines = [
        "",
        "## Targets",
        "",
        "| target | measured (median) | CPU time (median) | status |",
        "|---|---:|---:|---|",
        f"| eseal contract B-T ECDSA sealing in-process ≤ {TARGET_CONTRACT_CPU_MS:.0f} ms CPU "
        f"per document | {contract.eseal.median_ms:.1f} ms | {cpu:.1f} ms "
        f"| {'met' if cpu <= TARGET_CONTRACT_CPU_MS else 'MISSED'} |",
        f"| the same ≥ {TARGET_CONTRACT_RATIO:.0f}× pyHanko tuned (CPU; tuned "
        f"{contract.tuned.cpu_median_ms:.1f} ms) | {speedup(contract.eseal, contract.tuned)} "
        f"| {ratio:.1f}× | {'met' if ratio >= TARGET_CONTRACT_RATIO else 'MISSED'} |",
        f"| eseal 1-page B-T ECDSA signing in-process ≤ {TARGET_SIGN_MS:.0f} ms per document "
        f"| {target.eseal.median_ms:.1f} ms | {target.eseal.cpu_median_ms:.1f} ms "
        f"| {'met' if target.eseal.median_ms <= TARGET_SIGN_MS else 'MISSED'} |",
    ]
    if verify:
        ev = verify[0].sample
        per_s = 1000 / ev.median_ms
        lines.append(
            f"| verification ≥ {TARGET_VERIFY_PER_S:.0f}/s (over HTTP; here in-process, one "
            f"core) | {per_s:.1f}/s | {1000 / ev.cpu_median_ms:.1f}/s "
            f"| {'met' if per_s >= TARGET_VERIFY_PER_S else 'MISSED'} |"
        )
    return [*lines, ""]


async def profile(c: Container, contract: bytes, two_seals: Path | None) -> None:
    try:
        from pyinstrument import Profiler
    except ImportError:
        print("--profile needs pyinstrument (pip install -e '.[bench]')", file=sys.stderr)
        return
    sign = eseal_sealing(c, PadesLevel.B_T, contract)
    for _ in range(5):
        await sign()
    profiler = Profiler(interval=0.001, async_mode="disabled")
    profiler.start()
    for _ in range(50):
        await sign()
    profiler.stop()
    print("\n# profile: eseal B-T ECDSA sealing of the Chinese contract, 50 documents\n")
    print(profiler.output_text(unicode=True, color=False, show_all=False))
    if two_seals is None:
        return
    signed = two_seals.read_bytes()
    profiler = Profiler(interval=0.001, async_mode="disabled")
    profiler.start()
    for _ in range(30):
        await c.verifier.verify(signed)
    profiler.stop()
    print("\n# profile: eseal verification of the 2-seal B-T document, 30 documents\n")
    print(profiler.output_text(unicode=True, color=False, show_all=False))


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="few iterations (< 1 minute)")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also profile eseal signing and verification (pyinstrument)",
    )
    parser.add_argument(
        "--signing-only",
        action="store_true",
        help="signing in-process only: no verification, no CLI columns (a reduced run)",
    )
    args = parser.parse_args()
    command = "python bench/sign_verify.py" + "".join(
        f" --{flag}" for flag in ("quick", "signing-only") if getattr(args, flag.replace("-", "_"))
    )
    cfg = QUICK if args.quick else FULL
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="eseal-bench-") as tmp, BaselineWorker() as worker:
        work = Path(tmp)
        cli = not args.signing_only
        try:
            worker.call(
                "cli_sign", algorithm="ECDSA P-256", pdf=str(work / "none.pdf"), level="B-B", n=0
            )
            if not cli:
                raise RuntimeError("--signing-only")
        except RuntimeError as exc:
            cli = False
            print(f"no CLI columns: {exc}", file=sys.stderr)
        containers = {name: make_container(work, KEY_ALGORITHMS[name]) for name in ALGORITHMS}
        inputs = {}
        for pages in (1, 100):
            inputs[str(pages)] = work / f"in-{pages}.pdf"
            inputs[str(pages)].write_bytes(simple_pdf(pages))
        inputs[CONTRACT] = work / "contract.pdf"
        inputs[CONTRACT].write_bytes(multi_font_contract(work))
        gc.collect()
        try:
            rows = await bench_signing(cfg, containers, worker, inputs, cli)
            verify: list[VerifyRow] = []
            two_seals = None
            if not args.signing_only:
                verify, two_seals = await bench_verification(
                    cfg, containers["ECDSA P-256"], work, worker, cli
                )
            table = render(command, args.quick, cfg, rows, verify, worker.facts)
            print(table)
            write_results("results.md", table)
            print(
                f"written to bench/results.md in {time.perf_counter() - started:.0f} s",
                file=sys.stderr,
            )
            if args.profile:
                await profile(containers["ECDSA P-256"], inputs[CONTRACT].read_bytes(), two_seals)
        finally:
            for c in containers.values():
                c.close()


if __name__ == "__main__":
    asyncio.run(main())
