"""Signing and verification speed: eseal beside pyHanko, measured in one run on the same files.

    python bench/sign_verify.py [--quick] [--profile]

Signing (one seal per document, PAdES B-B and B-T, ECDSA P-256 and RSA-2048 seal keys,
a 1-page and a 100-page PDF) is timed four ways:

* **eseal**: ``container.sealing.seal(...)`` in-process (domain checks, visible seal image,
  placement, built-in TSA in-process for B-T);
* **pyHanko CLI**: ``pyhanko sign addsig ... pemder --key --cert`` in a new process per document
  (needs the ``pyhanko-cli`` package); B-T through the same built-in TSA served over loopback
  HTTP with ``--timestamp-url``;
* **pyHanko, as its docs show**: ``SimpleSigner.load(...)`` for every document, then
  ``async_sign_pdf`` with a ``PdfSignatureMetadata``, no ``bytes_reserved`` (pyHanko makes a
  trial signature to size the container);
* **pyHanko, tuned**: the signer loaded once and ``bytes_reserved`` set.

pyHanko signs with a throwaway key and certificate chain of the same algorithm made here with
``cryptography`` (eseal never hands out its seal keys), in a visible field of the same size on
the last page with pyHanko's default text stamp.  For B-T every in-process variant asks the same
built-in TSA in-process (``TimeStampAuthority.timestamper()``), one shared timestamper object.

Verification of a 2-seal B-T document made by eseal is timed three ways: eseal's
``Verifier.verify`` (full report: pyHanko validation, difference analysis, registry), pyHanko's
``async_validate_pdf_signature`` in-process for each signature with a fresh
``ValidationContext`` per document, and ``pyhanko sign validate`` per process.

The table goes to stdout and to ``bench/results.md`` (which says whether it was a ``--quick``
run).  ``--profile`` also runs eseal's 1-page B-T ECDSA signing and the
verification under pyinstrument (install it yourself; it is not a project dependency).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import gc
import http.server
import io
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from asn1crypto import pem  # noqa: E402
from asn1crypto import x509 as asn1_x509  # noqa: E402
from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec, rsa  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter  # noqa: E402
from pyhanko.pdf_utils.reader import PdfFileReader  # noqa: E402
from pyhanko.sign import signers  # noqa: E402
from pyhanko.sign.fields import SigFieldSpec, SigSeedSubFilter  # noqa: E402
from pyhanko.sign.validation import async_validate_pdf_signature  # noqa: E402
from pyhanko_certvalidator import ValidationContext  # noqa: E402

from api.container import Container, build, initialise  # noqa: E402
from api.settings import Settings  # noqa: E402
from keystore.base import KeyAlgorithm  # noqa: E402
from pdfs import simple_pdf  # noqa: E402
from seals.kinds import SealKind  # noqa: E402
from seals.license import parse_license  # noqa: E402
from signer.core import SIGNATURE_BYTES  # noqa: E402
from signer.levels import PadesLevel  # noqa: E402
from signer.service import SealingOptions, SealOrder  # noqa: E402

LICENSE = ROOT / "examples" / "license.json"
TARGET_SIGN_MS = 18.0  # eseal, 1-page, B-T, ECDSA, in-process, per document (issue: signing)
TARGET_VERIFY_PER_S = 80.0  # eseal verification, eventually over HTTP (issue: verification)
#: the pyHanko field: same size as eseal's default 40 mm seal, bottom right of the last page
FIELD_BOX = (440, 40, 553, 153)
ALGORITHMS = {"ECDSA P-256": KeyAlgorithm.EC_P256, "RSA-2048": KeyAlgorithm.RSA_2048}
LEVELS = {"B-B": PadesLevel.B_B, "B-T": PadesLevel.B_T}


# -- statistics ----------------------------------------------------------------------------


@dataclass
class Sample:
    #: wall-clock seconds per run
    seconds: list[float] = field(default_factory=list)
    #: CPU seconds per run (this process, or the child process for the CLI): less sensitive
    #: than wall-clock time to other work on a shared machine
    cpu: list[float] = field(default_factory=list)

    def add(self, wall: float, cpu: float) -> None:
        self.seconds.append(wall)
        self.cpu.append(cpu)

    @property
    def median_ms(self) -> float:
        return statistics.median(self.seconds) * 1000

    @property
    def cpu_median_ms(self) -> float:
        return statistics.median(self.cpu) * 1000

    @property
    def p90_ms(self) -> float:
        ordered = sorted(self.seconds)
        # nearest-rank p90
        index = max(0, -(-len(ordered) * 9 // 10) - 1)
        return ordered[index] * 1000

    def __len__(self) -> int:
        return len(self.seconds)


def fmt_ms(sample: Sample | None) -> str:
    if sample is None or not len(sample):
        return "–"
    return f"{sample.median_ms:.1f} / {sample.p90_ms:.1f}"


def fmt_ratio(ours: Sample, theirs: Sample | None, cpu: bool = False) -> str:
    if theirs is None or not len(theirs):
        return "–"
    if cpu:
        return f"{ours.cpu_median_ms / theirs.cpu_median_ms:.2f}"
    return f"{ours.median_ms / theirs.median_ms:.2f}"


def fmt_cpu(sample: Sample | None) -> str:
    if sample is None or not len(sample):
        return "–"
    return f"{sample.cpu_median_ms:.1f}"


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_child(args: list[str], what: str) -> tuple[float, float]:
    """Run a process; its wall-clock and CPU seconds."""
    cpu_before = _children_cpu()
    start = time.perf_counter()
    done = subprocess.run(args, capture_output=True, text=True)
    wall = time.perf_counter() - start
    cpu = _children_cpu() - cpu_before
    if done.returncode != 0:
        raise RuntimeError(f"{what} failed: {(done.stdout + done.stderr).strip()[-800:]}")
    return wall, cpu


# -- fixtures: eseal instances, throwaway pyHanko keys, input files ------------------------


def make_container(base: Path, algorithm: KeyAlgorithm) -> Container:
    data = base / f"data-{algorithm.value}"
    settings = Settings(data_dir=data, key_algorithm=algorithm)
    initialise(settings)
    c = build(settings)
    c.seals.register(parse_license(_license()))
    return c


def _license() -> dict[str, object]:
    import json

    return json.loads(LICENSE.read_text(encoding="utf-8"))


def _uscc() -> str:
    return str(_license()["uscc"])


def _new_key(algorithm: KeyAlgorithm) -> ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey:
    if algorithm is KeyAlgorithm.EC_P256:
        return ec.generate_private_key(ec.SECP256R1())
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _cert(subject: str, key, issuer_name: x509.Name | None, issuer_key, ca: bool,
          path_length: int | None = None) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "bench"),
                      x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer_name or name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=path_length), critical=True)
        .add_extension(
            x509.KeyUsage(digital_signature=not ca, content_commitment=not ca,
                          key_encipherment=False, data_encipherment=False, key_agreement=False,
                          key_cert_sign=ca, crl_sign=ca, encipher_only=False,
                          decipher_only=False),
            critical=True,
        )
    )
    return builder.sign(issuer_key, hashes.SHA256())


@dataclass
class Throwaway:
    """A key and a root → issuing → leaf chain for pyHanko, the same algorithm as the seal."""

    key: Path
    cert: Path
    chain: list[Path]


def make_throwaway(base: Path, algorithm: KeyAlgorithm) -> Throwaway:
    out = base / f"pyhanko-{algorithm.value}"
    out.mkdir()
    root_key, issuing_key, leaf_key = (_new_key(algorithm) for _ in range(3))
    root = _cert("bench root", root_key, None, root_key, True, 1)
    issuing = _cert("bench issuing", issuing_key, root.subject, root_key, True, 0)
    leaf = _cert("bench seal", leaf_key, issuing.subject, issuing_key, False)
    pem_of = serialization.Encoding.PEM
    (out / "key.pem").write_bytes(leaf_key.private_bytes(
        pem_of, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    (out / "cert.pem").write_bytes(leaf.public_bytes(pem_of))
    (out / "issuing.pem").write_bytes(issuing.public_bytes(pem_of))
    (out / "root.pem").write_bytes(root.public_bytes(pem_of))
    return Throwaway(out / "key.pem", out / "cert.pem", [out / "issuing.pem", out / "root.pem"])


class TsaOverHttp:
    """eseal's built-in TSA on a loopback port, for the pyHanko CLI's ``--timestamp-url``."""

    def __init__(self, container: Container) -> None:
        tsa = container.tsa

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                reply = asyncio.run(tsa.respond(body))
                self.send_response(200)
                self.send_header("Content-Type", "application/timestamp-reply")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/tsa"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# -- the contenders --------------------------------------------------------------------------


def eseal_signer(c: Container, level: PadesLevel) -> Callable[[bytes], Awaitable[bytes]]:
    uscc = _uscc()
    options = SealingOptions(seals=[SealOrder(SealKind.CONTRACT)], level=level)

    async def run(pdf: bytes) -> bytes:
        out, _ = await c.sealing.seal(uscc, pdf, options)
        return out

    return run


def _meta() -> signers.PdfSignatureMetadata:
    return signers.PdfSignatureMetadata(
        field_name="Signature1", md_algorithm="sha256", subfilter=SigSeedSubFilter.PADES)


def _field() -> SigFieldSpec:
    return SigFieldSpec("Signature1", on_page=-1, box=FIELD_BOX)


def pyhanko_docs_signer(keys: Throwaway, timestamper) -> Callable[[bytes], Awaitable[bytes]]:
    """As pyHanko's docs show: load the signer, sign; the container sized by a trial run."""

    async def run(pdf: bytes) -> bytes:
        signer = signers.SimpleSigner.load(
            str(keys.key), str(keys.cert), ca_chain_files=[str(p) for p in keys.chain])
        w = IncrementalPdfFileWriter(io.BytesIO(pdf))
        out = io.BytesIO()
        await signers.async_sign_pdf(w, _meta(), signer=signer, timestamper=timestamper,
                                     new_field_spec=_field(), output=out)
        return out.getvalue()

    return run


def pyhanko_tuned_signer(keys: Throwaway, timestamper) -> Callable[[bytes], Awaitable[bytes]]:
    """The signer loaded once, the container size reserved up front."""
    signer = signers.SimpleSigner.load(
        str(keys.key), str(keys.cert), ca_chain_files=[str(p) for p in keys.chain])

    async def run(pdf: bytes) -> bytes:
        w = IncrementalPdfFileWriter(io.BytesIO(pdf))
        out = io.BytesIO()
        await signers.async_sign_pdf(w, _meta(), signer=signer, timestamper=timestamper,
                                     new_field_spec=_field(), bytes_reserved=SIGNATURE_BYTES,
                                     output=out)
        return out.getvalue()

    return run


def pyhanko_exe() -> str | None:
    exe = Path(sys.executable).with_name("pyhanko")
    if exe.exists():
        return str(exe)
    return shutil.which("pyhanko")


def cli_sign(exe: str, keys: Throwaway, infile: Path, outfile: Path,
             tsa_url: str | None) -> tuple[float, float]:
    args = [exe, "sign", "addsig", "--field", "-1/{},{},{},{}/Signature1".format(*FIELD_BOX),
            "--use-pades"]
    if tsa_url:
        args += ["--timestamp-url", tsa_url]
    args += ["pemder", "--key", str(keys.key), "--cert", str(keys.cert)]
    for p in keys.chain:
        args += ["--chain", str(p)]
    args += ["--no-pass", str(infile), str(outfile)]
    return run_child(args, "pyhanko sign addsig")


def cli_validate(exe: str, root: Path, infile: Path) -> tuple[float, float]:
    # --no-revocation-check: without it the CLI fetches OCSP/CRL from the certificates' URLs
    # and hard-fails; eseal and the in-process runs below check no revocation online either.
    args = [exe, "sign", "validate", "--trust", str(root), "--trust-replace",
            "--no-revocation-check", str(infile)]
    return run_child(args, "pyhanko sign validate")


# -- timing loops ----------------------------------------------------------------------------


async def interleaved(runs: dict[str, Callable[[bytes], Awaitable[object]]], pdf: bytes,
                      iterations: int, warmup: int,
                      check: Callable[[object], None] | None = None) -> dict[str, Sample]:
    """Time every contender on the same input, round-robin so drift hits all alike.

    ``check`` looks at each contender's output of the first warm-up round.
    """
    names = list(runs)
    for round_ in range(max(warmup, 1 if check else 0)):
        for name in names:
            out = await runs[name](pdf)
            if check is not None and round_ == 0:
                check(out)
    samples = {name: Sample() for name in names}
    for i in range(iterations):
        order = names[i % len(names):] + names[: i % len(names)]
        for name in order:
            cpu = time.process_time()
            start = time.perf_counter()
            await runs[name](pdf)
            samples[name].add(time.perf_counter() - start, time.process_time() - cpu)
    return samples


def sanity_check_signed(data: object, expected_signatures: int = 1) -> None:
    assert isinstance(data, bytes)
    reader = PdfFileReader(io.BytesIO(data), strict=False)
    found = len(reader.embedded_signatures)
    if found != expected_signatures:
        raise RuntimeError(f"expected {expected_signatures} signature(s), found {found}")


# -- main ------------------------------------------------------------------------------------


@dataclass
class SignRow:
    algorithm: str
    level: str
    pages: int
    eseal: Sample
    docs: Sample
    tuned: Sample
    cli: Sample | None
    cli_note: str = ""


@dataclass
class Config:
    iterations: dict[int, int]  # pages -> in-process iterations
    warmup: int
    cli_iterations: int
    verify_iterations: int
    cli_verify_iterations: int
    #: one unmeasured CLI run per cell first (warms the page cache, checks the command works)
    cli_warmup: bool = True
    #: document sizes the CLI is run on
    cli_pages: tuple[int, ...] = (1, 100)


FULL = Config({1: 200, 100: 40}, warmup=5, cli_iterations=8, verify_iterations=200,
              cli_verify_iterations=8)
QUICK = Config({1: 8, 100: 2}, warmup=1, cli_iterations=1, verify_iterations=8,
               cli_verify_iterations=1, cli_warmup=False, cli_pages=(1,))


async def bench_signing(cfg: Config, containers: dict[str, Container],
                        throwaways: dict[str, Throwaway], inputs: dict[int, Path],
                        work: Path, exe: str | None) -> list[SignRow]:
    rows = []
    for alg_name, c in containers.items():
        keys = throwaways[alg_name]
        timestamper = c.tsa.timestamper()
        tsa_http = TsaOverHttp(c)
        try:
            for level_name, level in LEVELS.items():
                ts = timestamper if level >= PadesLevel.B_T else None
                runs = {
                    "eseal": eseal_signer(c, level),
                    "docs": pyhanko_docs_signer(keys, ts),
                    "tuned": pyhanko_tuned_signer(keys, ts),
                }
                for pages, path in inputs.items():
                    cell = time.perf_counter()
                    pdf = path.read_bytes()
                    samples = await interleaved(runs, pdf, cfg.iterations[pages], cfg.warmup,
                                                check=sanity_check_signed)
                    cli = None
                    if exe is not None and cfg.cli_iterations and pages in cfg.cli_pages:
                        url = tsa_http.url if ts is not None else None
                        out = work / "cli-out.pdf"
                        if cfg.cli_warmup:
                            cli_sign(exe, keys, path, out, url)
                        cli = Sample()
                        for _ in range(cfg.cli_iterations):
                            cli.add(*cli_sign(exe, keys, path, out, url))
                        sanity_check_signed(out.read_bytes())
                    rows.append(SignRow(alg_name, level_name, pages, samples["eseal"],
                                        samples["docs"], samples["tuned"], cli))
                    print(f"  signed: {alg_name} {level_name} {pages}p "
                          f"eseal {samples['eseal'].median_ms:.1f} ms "
                          f"(cell took {time.perf_counter() - cell:.0f} s)", file=sys.stderr)
        finally:
            tsa_http.close()
    return rows


@dataclass
class VerifyRow:
    name: str
    sample: Sample


async def bench_verification(cfg: Config, c: Container, work: Path,
                             exe: str | None) -> tuple[list[VerifyRow], Path]:
    uscc = _uscc()
    signed, _ = await c.sealing.seal(uscc, simple_pdf(1), SealingOptions(
        seals=[SealOrder(SealKind.CONTRACT), SealOrder(SealKind.LEGAL_REP)],
        level=PadesLevel.B_T))
    path = work / "two-seals-b-t.pdf"
    path.write_bytes(signed)
    root_pem = c.settings.pki_dir / "root.pem"
    root = asn1_x509.Certificate.load(pem.unarmor(root_pem.read_bytes())[2])

    async def eseal_verify(pdf: bytes) -> None:
        report = await c.verifier.verify(pdf)
        if not report["valid"]:
            raise RuntimeError(f"eseal says not valid: {report}")

    async def pyhanko_verify(pdf: bytes) -> None:
        reader = PdfFileReader(io.BytesIO(pdf), strict=False)
        vc = ValidationContext(trust_roots=[root], allow_fetching=False)
        for sig in reader.embedded_signatures:
            status = await async_validate_pdf_signature(sig, vc)
            if not (status.intact and status.valid and status.trusted):
                raise RuntimeError(status.pretty_print_details())

    samples = await interleaved({"eseal": eseal_verify, "pyhanko": pyhanko_verify}, signed,
                                cfg.verify_iterations, cfg.warmup)
    rows = [VerifyRow("eseal `Verifier.verify` (full report), in-process", samples["eseal"]),
            VerifyRow("pyHanko `async_validate_pdf_signature` ×2, in-process",
                      samples["pyhanko"])]
    if exe is not None and cfg.cli_verify_iterations:
        if cfg.cli_warmup:
            cli_validate(exe, root_pem, path)
        cli = Sample()
        for _ in range(cfg.cli_verify_iterations):
            cli.add(*cli_validate(exe, root_pem, path))
        rows.append(VerifyRow("`pyhanko sign validate`, one process per document", cli))
    return rows, path


def machine_facts() -> list[str]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass

    def version(dist: str) -> str:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return "not installed"

    return [
        f"date: {dt.datetime.now(dt.UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        f"CPUs (nproc): {os.cpu_count()} ({cpu})",
        f"Python {platform.python_version()} ({platform.python_implementation()}), "
        f"{platform.system()} {platform.machine()}",
        f"pyHanko {version('pyHanko')}, pyhanko-cli {version('pyhanko-cli')}, "
        f"pyhanko-certvalidator {version('pyhanko-certvalidator')}, "
        f"cryptography {version('cryptography')}",
        f"load average (1/5/15 min) at the end: {'/'.join(f'{x:.2f}' for x in os.getloadavg())}"
        " (above nproc means other work shared the CPUs: expect noise)",
    ]


def render(cfg_name: str, cfg: Config, rows: list[SignRow], verify: list[VerifyRow]) -> str:
    lines = ["# eseal signing and verification benchmark", ""]
    lines += [f"- {fact}" for fact in machine_facts()]
    lines += [
        f"- mode: {cfg_name}; in-process iterations per cell: 1 page {cfg.iterations[1]}, "
        f"100 pages {cfg.iterations[100]} (after {cfg.warmup} warm-up runs, contenders "
        f"interleaved); CLI processes per cell: {cfg.cli_iterations}",
        "- command: `python bench/sign_verify.py" + (" --quick`" if cfg is QUICK else "`"),
        "",
        "## Signing, one seal per document (ms per document: median / p90)",
        "",
        "eseal: `SealingService.seal` in-process (visible seal image, placement, registry "
        "checks). pyHanko docs: `SimpleSigner.load` per document, no `bytes_reserved`. "
        "pyHanko tuned: signer loaded once, `bytes_reserved` set. CLI: `pyhanko sign addsig "
        "... pemder`, one process per document (B-T through the same TSA over loopback HTTP). "
        "Ratios are eseal median / other median (below 1: eseal is faster).",
        "",
        "| key | level | pages | eseal | pyHanko tuned | pyHanko docs | pyHanko CLI "
        "| eseal/tuned | eseal/docs | eseal/CLI |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r.algorithm} | {r.level} | {r.pages} | {fmt_ms(r.eseal)} | {fmt_ms(r.tuned)} "
            f"| {fmt_ms(r.docs)} | {fmt_ms(r.cli)} | {fmt_ratio(r.eseal, r.tuned)} "
            f"| {fmt_ratio(r.eseal, r.docs)} | {fmt_ratio(r.eseal, r.cli)} |")
    lines += [
        "",
        "### The same, CPU time (ms per document, median)",
        "",
        "CPU seconds of this process (in-process runs) or of the child process (CLI; the "
        "loopback TSA's work is in this process and not counted there). Less disturbed than "
        "wall-clock time when other work shares the CPUs.",
        "",
        "| key | level | pages | eseal | pyHanko tuned | pyHanko docs | pyHanko CLI "
        "| eseal/tuned | eseal/docs | eseal/CLI |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r.algorithm} | {r.level} | {r.pages} | {fmt_cpu(r.eseal)} | {fmt_cpu(r.tuned)} "
            f"| {fmt_cpu(r.docs)} | {fmt_cpu(r.cli)} | {fmt_ratio(r.eseal, r.tuned, True)} "
            f"| {fmt_ratio(r.eseal, r.docs, True)} | {fmt_ratio(r.eseal, r.cli, True)} |")
    lines += [
        "",
        "## Verification of a 1-page document with 2 seals at B-T",
        "",
        "eseal: the full report (pyHanko validation of both signatures and their timestamps, "
        "difference analysis, registry and license look-ups). pyHanko in-process: a fresh "
        "`ValidationContext` per document, both signatures. CLI: `pyhanko sign validate --trust "
        "ROOT --trust-replace --no-revocation-check` (no online revocation, as in-process).",
        "",
        "| verifier | ms per document (median / p90) | documents/s (from median) "
        "| eseal/this | CPU ms (median) | eseal/this, CPU |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    eseal_verify = verify[0].sample
    for v in verify:
        lines.append(f"| {v.name} | {fmt_ms(v.sample)} | {1000 / v.sample.median_ms:.0f} "
                     f"| {fmt_ratio(eseal_verify, v.sample)} | {fmt_cpu(v.sample)} "
                     f"| {fmt_ratio(eseal_verify, v.sample, True)} |")
    target = next(r for r in rows if r.algorithm == "ECDSA P-256" and r.level == "B-T"
                  and r.pages == 1)
    per_s = 1000 / eseal_verify.median_ms
    sign_ok = target.eseal.median_ms <= TARGET_SIGN_MS
    verify_ok = per_s >= TARGET_VERIFY_PER_S
    lines += [
        "",
        "## Targets",
        "",
        "| target | measured (median) | CPU time (median) | status |",
        "|---|---:|---:|---|",
        f"| eseal 1-page B-T ECDSA signing in-process ≤ {TARGET_SIGN_MS:.0f} ms per document "
        f"| {target.eseal.median_ms:.1f} ms | {target.eseal.cpu_median_ms:.1f} ms "
        f"| {'met' if sign_ok else 'MISSED'} |",
        f"| verification ≥ {TARGET_VERIFY_PER_S:.0f}/s (eventually over HTTP; here "
        f"in-process, one core) | {per_s:.0f}/s | {1000 / eseal_verify.cpu_median_ms:.0f}/s "
        f"| {'met' if verify_ok else 'MISSED'} |",
        "",
    ]
    return "\n".join(lines)


async def profile(c: Container, two_seals: Path) -> None:
    try:
        from pyinstrument import Profiler
    except ImportError:
        print("--profile needs pyinstrument (pip install pyinstrument)", file=sys.stderr)
        return
    pdf = simple_pdf(1)
    sign = eseal_signer(c, PadesLevel.B_T)
    for _ in range(5):
        await sign(pdf)
    profiler = Profiler(interval=0.001, async_mode="disabled")
    profiler.start()
    for _ in range(50):
        await sign(pdf)
    profiler.stop()
    print("\n# profile: eseal 1-page B-T ECDSA signing, 50 documents\n")
    print(profiler.output_text(unicode=True, color=False, show_all=False))
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
    parser.add_argument("--profile", action="store_true",
                        help="also profile eseal signing and verification (pyinstrument)")
    args = parser.parse_args()
    cfg, cfg_name = (QUICK, "quick") if args.quick else (FULL, "full")
    exe = pyhanko_exe()
    if exe is None:
        print("pyhanko CLI not found (pip install pyhanko-cli); CLI columns left empty",
              file=sys.stderr)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="eseal-bench-") as tmp:
        work = Path(tmp)
        print("setting up: two eseal instances, throwaway keys, input files", file=sys.stderr)
        phase = time.perf_counter()
        containers = {name: make_container(work, alg) for name, alg in ALGORITHMS.items()}
        throwaways = {name: make_throwaway(work, alg) for name, alg in ALGORITHMS.items()}
        inputs = {}
        for pages in (1, 100):
            inputs[pages] = work / f"in-{pages}.pdf"
            inputs[pages].write_bytes(simple_pdf(pages))
        gc.collect()
        print(f"  set up in {time.perf_counter() - phase:.0f} s", file=sys.stderr)
        try:
            rows = await bench_signing(cfg, containers, throwaways, inputs, work, exe)
            verify, two_seals = await bench_verification(cfg, containers["ECDSA P-256"], work,
                                                         exe)
            table = render(cfg_name, cfg, rows, verify)
            print(table)
            (ROOT / "bench" / "results.md").write_text(table, encoding="utf-8")
            print("written to bench/results.md", file=sys.stderr)
            print(f"took {time.perf_counter() - started:.0f} s", file=sys.stderr)
            if args.profile:
                await profile(containers["ECDSA P-256"], two_seals)
        finally:
            for c in containers.values():
                c.close()


if __name__ == "__main__":
    asyncio.run(main())
