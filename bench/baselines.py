"""The pyHanko baselines, stock, in a process of their own.

    python bench/baselines.py     # a worker: one JSON command per line on stdin, one reply each

eseal's ``signer`` package patches pyHanko when imported (``signer/speedups.py`` replaces its
hex-string reader), so a baseline measured in a process that imported it would not be stock
pyHanko.  The benchmarks therefore start this worker (:class:`BaselineWorker`) and ask it to
time pyHanko; it never imports ``signer`` (nor ``api``, which imports it) and says so in its
first reply, which the benchmarks check.

What it runs, with a throwaway key and a root → issuing → leaf chain of the requested
algorithm made here with ``cryptography``, in a visible field of the size of eseal's 40 mm seal
on the last page (pyHanko's default text stamp):

* ``docs``: as pyHanko's documentation shows it: ``SimpleSigner.load(...)`` for every
  document, ``async_sign_pdf`` without ``bytes_reserved`` (pyHanko sizes the signature container
  with a trial signature);
* ``tuned``: the signer loaded once, its private key parsed once (stock ``SimpleSigner`` parses
  it again for every signature, which for RSA-2048 costs more than the signature), and
  ``bytes_reserved`` set;
* ``cli``: ``pyhanko sign addsig ... pemder``, one process per document, N at a time;
* ``validate``: ``async_validate_pdf_signature`` for every signature with a fresh
  ``ValidationContext`` per document; ``cli_validate``: ``pyhanko sign validate``.

For B-T every variant gets its timestamp from a TSA in this process: eseal's TSA code
(``keystore.tsa``, which does not touch pyHanko) with a throwaway ECDSA P-256 TSA key, asked
in-process by the in-process variants and over loopback HTTP by the CLI.  eseal's own sealing
uses the same TSA code in its process, so the timestamp costs the same on both sides.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import http.server
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

#: the pyHanko field: same size as eseal's default 40 mm seal, bottom right of the last page
FIELD_BOX = (440, 40, 553, 153)
#: the signature container size eseal reserves (signer/core.py SIGNATURE_BYTES); a copy, as
#: this module must not import ``signer``
SIGNATURE_BYTES = 16384
ALGORITHMS = ("ECDSA P-256", "RSA-2048")


# -- throwaway keys --------------------------------------------------------------------------


@dataclass
class Throwaway:
    """A key and a root → issuing → leaf chain for pyHanko."""

    key: Path
    cert: Path
    chain: list[Path]  # issuing, root

    @property
    def root(self) -> Path:
        return self.chain[-1]

    def as_json(self) -> dict[str, Any]:
        return {"key": str(self.key), "cert": str(self.cert), "chain": [str(p) for p in self.chain]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Throwaway:
        return cls(Path(data["key"]), Path(data["cert"]), [Path(p) for p in data["chain"]])


def _new_key(algorithm: str) -> Any:
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    if algorithm == "ECDSA P-256":
        return ec.generate_private_key(ec.SECP256R1())
    if algorithm == "RSA-2048":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    raise ValueError(f"unknown algorithm {algorithm!r}")


def _cert(
    subject: str,
    key: Any,
    issuer: Any,
    issuer_key: Any,
    ca: bool,
    path_length: int | None = None,
    tsa: bool = False,
) -> Any:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "bench"),
            x509.NameAttribute(NameOID.COMMON_NAME, subject),
        ]
    )
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer.subject if issuer is not None else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=path_length), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=not ca,
                content_commitment=not ca and not tsa,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=ca,
                crl_sign=ca,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    )
    if tsa:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True
        )
    return builder.sign(issuer_key, hashes.SHA256())


def make_throwaway(base: Path, algorithm: str) -> Throwaway:
    """A fresh key and chain of ``algorithm`` (``ECDSA P-256`` or ``RSA-2048``) under ``base``."""
    from cryptography.hazmat.primitives import serialization

    out = Path(tempfile.mkdtemp(prefix="pyhanko-keys-", dir=base))
    root_key, issuing_key, leaf_key = (_new_key(algorithm) for _ in range(3))
    root = _cert("bench root", root_key, None, root_key, True, 1)
    issuing = _cert("bench issuing", issuing_key, root, root_key, True, 0)
    leaf = _cert("bench seal", leaf_key, issuing, issuing_key, False)
    pem = serialization.Encoding.PEM
    (out / "key.pem").write_bytes(
        leaf_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    (out / "cert.pem").write_bytes(leaf.public_bytes(pem))
    (out / "issuing.pem").write_bytes(issuing.public_bytes(pem))
    (out / "root.pem").write_bytes(root.public_bytes(pem))
    return Throwaway(out / "key.pem", out / "cert.pem", [out / "issuing.pem", out / "root.pem"])


# -- pyHanko's CLI -----------------------------------------------------------------------------


def pyhanko_exe() -> str | None:
    exe = Path(sys.executable).with_name("pyhanko")
    if exe.exists():
        return str(exe)
    return shutil.which("pyhanko")


def cli_sign_args(
    exe: str, keys: Throwaway, infile: Path, outfile: Path, tsa_url: str | None
) -> list[str]:
    args = [
        exe,
        "sign",
        "addsig",
        "--field",
        "-1/{},{},{},{}/Signature1".format(*FIELD_BOX),
        "--use-pades",
    ]
    if tsa_url:
        args += ["--timestamp-url", tsa_url]
    args += ["pemder", "--key", str(keys.key), "--cert", str(keys.cert)]
    for p in keys.chain:
        args += ["--chain", str(p)]
    return [*args, "--no-pass", str(infile), str(outfile)]


def cli_validate_args(exe: str, root: Path, infile: Path) -> list[str]:
    # --no-revocation-check: without it the CLI fetches OCSP/CRL from the certificates' URLs
    # and hard-fails; eseal and the in-process runs check no revocation online either.
    return [
        exe,
        "sign",
        "validate",
        "--trust",
        str(root),
        "--trust-replace",
        "--no-revocation-check",
        str(infile),
    ]


@dataclass
class ChildRun:
    wall: float
    cpu: float
    max_rss_mib: float


def run_children(
    commands: list[list[str]], parallel: int, what: str
) -> tuple[list[ChildRun], float]:
    """Run ``commands``, ``parallel`` at a time; each one's figures and the wall time of all.

    Each child is reaped with ``wait4``, so its CPU time and peak memory are its own.
    """
    pending = list(commands)
    running: dict[int, tuple[subprocess.Popen[bytes], float, Any]] = {}
    runs: list[ChildRun] = []
    failure = ""
    started = time.perf_counter()
    while pending or running:
        while pending and len(running) < max(1, parallel):
            log = tempfile.TemporaryFile()  # noqa: SIM115 (closed when the child is reaped)
            process = subprocess.Popen(
                pending.pop(0), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
            running[process.pid] = (process, time.perf_counter(), log)
        pid, status, usage = os.wait4(-1, 0)
        if pid not in running:
            continue
        process, t0, log = running.pop(pid)
        process.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - t0
        if process.returncode != 0 and not failure:
            log.seek(0)
            failure = log.read().decode(errors="replace").strip()[-800:]
        log.close()
        runs.append(ChildRun(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024))
    total = time.perf_counter() - started
    if failure:
        raise RuntimeError(f"{what} failed: {failure}")
    return runs, total


# -- the worker: this process ------------------------------------------------------------------


def _count_signatures(data: bytes) -> int:
    from pyhanko.pdf_utils.reader import PdfFileReader

    return len(PdfFileReader(io.BytesIO(data), strict=False).embedded_signatures)


class _Tsa:
    """eseal's TSA code with a throwaway ECDSA P-256 key; in-process and on a loopback port."""

    def __init__(self, base: Path) -> None:
        from asn1crypto import x509 as asn1_x509
        from cryptography.hazmat.primitives import serialization

        from keystore.signers import LoadedKeySigner
        from keystore.tsa import TimeStampAuthority

        root_key, tsa_key = _new_key("ECDSA P-256"), _new_key("ECDSA P-256")
        root = _cert("bench TSA root", root_key, None, root_key, True, 0)
        cert = _cert("bench TSA", tsa_key, root, root_key, False, tsa=True)
        der = serialization.Encoding.DER
        asn_root = asn1_x509.Certificate.load(root.public_bytes(der))
        asn_cert = asn1_x509.Certificate.load(cert.public_bytes(der))
        self.authority = TimeStampAuthority(
            LoadedKeySigner(tsa_key, asn_cert, [asn_root]), asn_cert, [asn_root]
        )
        authority = self.authority

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                reply = asyncio.run(authority.respond(body))
                self.send_response(200)
                self.send_header("Content-Type", "application/timestamp-reply")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/tsa"

    def timestamper(self) -> Any:
        return self.authority.timestamper()


class Worker:
    def __init__(self) -> None:
        self.base = Path(tempfile.mkdtemp(prefix="eseal-baselines-"))
        self.keys: dict[str, Throwaway] = {}
        self.tuned: dict[str, Any] = {}
        self.files: dict[str, bytes] = {}
        self._tsa: _Tsa | None = None

    @property
    def tsa(self) -> _Tsa:
        if self._tsa is None:
            self._tsa = _Tsa(self.base)
        return self._tsa

    def _pdf(self, path: str) -> bytes:
        if path not in self.files:
            self.files[path] = Path(path).read_bytes()
        return self.files[path]

    def _throwaway(self, algorithm: str) -> Throwaway:
        if algorithm not in self.keys:
            self.keys[algorithm] = make_throwaway(self.base, algorithm)
        return self.keys[algorithm]

    # -- commands --

    def hello(self) -> dict[str, Any]:
        from pyhanko.pdf_utils import generic

        ours = sorted(m for m in sys.modules if m.split(".")[0] in ("signer", "api"))
        reader = generic.read_hex_string_from_stream
        stock = not ours and reader.__module__ == "pyhanko.pdf_utils.generic"
        return {
            "stock": stock,
            "eseal_modules": ours,
            "hex_reader": f"{reader.__module__}.{reader.__qualname__}",
            "pid": os.getpid(),
        }

    def keys_for(self, algorithm: str) -> dict[str, Any]:
        return self._throwaway(algorithm).as_json()

    def _signer(self, mode: str, algorithm: str) -> Any:
        from pyhanko.sign import signers

        keys = self._throwaway(algorithm)
        if mode == "docs":
            return signers.SimpleSigner.load(
                str(keys.key), str(keys.cert), ca_chain_files=[str(p) for p in keys.chain]
            )
        if algorithm not in self.tuned:
            loaded = signers.SimpleSigner.load(
                str(keys.key), str(keys.cert), ca_chain_files=[str(p) for p in keys.chain]
            )
            self.tuned[algorithm] = _parsed_key_signer(loaded)
        return self.tuned[algorithm]

    async def sign(
        self, mode: str, algorithm: str, pdf: str, level: str, n: int, check: bool = False
    ) -> dict[str, Any]:
        from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
        from pyhanko.sign import signers
        from pyhanko.sign.fields import SigFieldSpec, SigSeedSubFilter

        if mode not in ("docs", "tuned"):
            raise ValueError(f"unknown mode {mode!r}")
        data = self._pdf(pdf)
        timestamper = self.tsa.timestamper() if level != "B-B" else None
        extra = {"bytes_reserved": SIGNATURE_BYTES} if mode == "tuned" else {}
        walls, cpus = [], []
        out = io.BytesIO()
        for _ in range(n):
            cpu = time.process_time()
            t0 = time.perf_counter()
            signer = self._signer(mode, algorithm)
            meta = signers.PdfSignatureMetadata(
                field_name="Signature1", md_algorithm="sha256", subfilter=SigSeedSubFilter.PADES
            )
            out = io.BytesIO()
            await signers.async_sign_pdf(
                IncrementalPdfFileWriter(io.BytesIO(data)),
                meta,
                signer=signer,
                timestamper=timestamper,
                output=out,
                new_field_spec=SigFieldSpec("Signature1", on_page=-1, box=FIELD_BOX),
                **extra,
            )
            walls.append(time.perf_counter() - t0)
            cpus.append(time.process_time() - cpu)
        if check and _count_signatures(out.getvalue()) != 1:
            raise RuntimeError("pyHanko's output does not hold one signature")
        return {"wall": walls, "cpu": cpus}

    async def validate(self, pdf: str, root: str, n: int) -> dict[str, Any]:
        from asn1crypto import pem
        from asn1crypto import x509 as asn1_x509
        from pyhanko.pdf_utils.reader import PdfFileReader
        from pyhanko.sign.validation import async_validate_pdf_signature
        from pyhanko_certvalidator import ValidationContext

        data = self._pdf(pdf)
        trust = asn1_x509.Certificate.load(pem.unarmor(Path(root).read_bytes())[2])
        walls, cpus = [], []
        for _ in range(n):
            cpu = time.process_time()
            t0 = time.perf_counter()
            reader = PdfFileReader(io.BytesIO(data), strict=False)
            vc = ValidationContext(trust_roots=[trust], allow_fetching=False)
            for sig in reader.embedded_signatures:
                status = await async_validate_pdf_signature(sig, vc)
                if not (status.intact and status.valid and status.trusted):
                    raise RuntimeError(status.pretty_print_details())
            walls.append(time.perf_counter() - t0)
            cpus.append(time.process_time() - cpu)
        return {"wall": walls, "cpu": cpus}

    def cli_sign(
        self,
        algorithm: str,
        pdf: str,
        level: str,
        n: int,
        parallel: int = 1,
        tsa_url: str | None = None,
    ) -> dict[str, Any]:
        exe = _require_exe()
        keys = self._throwaway(algorithm)
        url = (tsa_url or self.tsa.url) if level != "B-B" else None
        outs = [self.base / f"cli-out-{i}.pdf" for i in range(n)]
        commands = [cli_sign_args(exe, keys, Path(pdf), out, url) for out in outs]
        runs, total = run_children(commands, parallel, "pyhanko sign addsig")
        for out in outs[-parallel:]:
            if _count_signatures(out.read_bytes()) != 1:
                raise RuntimeError("pyhanko sign addsig: the output does not hold one signature")
        for out in outs:
            out.unlink(missing_ok=True)
        return _child_figures(runs, total, parallel)

    def cli_validate(self, pdf: str, root: str, n: int, parallel: int = 1) -> dict[str, Any]:
        exe = _require_exe()
        commands = [cli_validate_args(exe, Path(root), Path(pdf)) for _ in range(n)]
        runs, total = run_children(commands, parallel, "pyhanko sign validate")
        return _child_figures(runs, total, parallel)

    async def handle(self, command: dict[str, Any]) -> dict[str, Any]:
        op = command.pop("op")
        if op == "hello":
            return self.hello()
        if op == "keys":
            return self.keys_for(**command)
        if op == "sign":
            return await self.sign(**command)
        if op == "validate":
            return await self.validate(**command)
        if op == "cli_sign":
            return self.cli_sign(**command)
        if op == "cli_validate":
            return self.cli_validate(**command)
        raise ValueError(f"unknown op {op!r}")

    def close(self) -> None:
        if self._tsa is not None:
            self._tsa.server.shutdown()
        shutil.rmtree(self.base, ignore_errors=True)


def _parsed_key_signer(loaded: Any) -> Any:
    """A ``SimpleSigner`` that keeps its private key parsed (stock parses it per signature)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
    from pyhanko.sign.general import get_pyca_cryptography_hash
    from pyhanko.sign.signers import SimpleSigner

    class ParsedKeySigner(SimpleSigner):
        def __init__(self) -> None:
            super().__init__(
                signing_cert=loaded.signing_cert,
                signing_key=loaded.signing_key,
                cert_registry=loaded.cert_registry,
            )
            self.parsed = serialization.load_der_private_key(
                loaded.signing_key.dump(), password=None
            )

        def sign_raw(self, data: bytes, digest_algorithm: str) -> bytes:
            hash_algo = get_pyca_cryptography_hash(digest_algorithm)
            key = self.parsed
            if isinstance(key, ec.EllipticCurvePrivateKey):
                return key.sign(data, ec.ECDSA(hash_algo))
            mechanism = self.get_signature_mechanism_for_digest(digest_algorithm).signature_algo
            if isinstance(key, rsa.RSAPrivateKey) and mechanism == "rsassa_pkcs1v15":
                return key.sign(data, PKCS1v15(), hash_algo)
            return super().sign_raw(data, digest_algorithm)

    return ParsedKeySigner()


def _require_exe() -> str:
    exe = pyhanko_exe()
    if exe is None:
        raise RuntimeError("pyhanko CLI not found: pip install -e '.[bench]'")
    return exe


def _child_figures(runs: list[ChildRun], total: float, parallel: int) -> dict[str, Any]:
    return {
        "wall": [r.wall for r in runs],
        "cpu": [r.cpu for r in runs],
        "max_rss_mib": [r.max_rss_mib for r in runs],
        "total": total,
        "parallel": parallel,
    }


async def serve() -> None:
    worker = Worker()
    try:
        for line in sys.stdin:
            if not line.strip():
                continue
            command = json.loads(line)
            if command.get("op") == "quit":
                break
            try:
                reply = await worker.handle(command)
            except Exception as exc:  # reported to the benchmark, which stops
                reply = {"error": f"{type(exc).__name__}: {exc}"}
            sys.stdout.write(json.dumps(reply) + "\n")
            sys.stdout.flush()
    finally:
        worker.close()


# -- the benchmarks' side ----------------------------------------------------------------------


class BaselineWorker:
    """This module in a process of its own; :meth:`call` sends one command and waits."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve())],
            cwd=ROOT,
            text=True,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        self.facts = self.call("hello")
        if not self.facts["stock"]:
            self.close()
            raise RuntimeError(f"the baseline process is not stock pyHanko: {self.facts}")

    def call(self, op: str, **args: Any) -> dict[str, Any]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps({"op": op, **args}) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the baseline process ended (exit {self.process.poll()})")
        reply: dict[str, Any] = json.loads(line)
        if "error" in reply:
            raise RuntimeError(f"baseline {op}: {reply['error']}")
        return reply

    def close(self) -> None:
        if self.process.poll() is None:
            assert self.process.stdin is not None
            try:
                self.process.stdin.write('{"op": "quit"}\n')
                self.process.stdin.close()
            except BrokenPipeError:
                pass
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> BaselineWorker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def stock_note(facts: dict[str, Any]) -> str:
    """A line for the results: the baselines ran in a process of their own, unpatched."""
    return (
        f"pyHanko baselines: a process of their own (`bench/baselines.py`, pid "
        f"{facts['pid']}) that never imported eseal's `signer` or `api`; pyHanko's hex "
        f"reader there is its own (`{facts['hex_reader']}`)"
    )


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))  # keystore (the TSA), which does not touch pyHanko
    asyncio.run(serve())
