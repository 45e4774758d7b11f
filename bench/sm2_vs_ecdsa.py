"""SM2 beside ECDSA P-256 in one run: raw signatures, and PAdES seals of a small PDF.

    python bench/sm2_vs_ecdsa.py [--quick] [--output bench/results-sm2.md]

Two tables, each SM2 and ECDSA taking turns in this one process (the order alternating each
round, after a warm-up), so that a slow moment of the shared machine hits both alike:

* **raw**: sign and verify a 256-byte message (the size of a CMS signed-attributes block).
  SM2 is :mod:`keystore.sm2` (GmSSL 3 through ``gmssl-pyx``; SM3(Z || M), default user id),
  through the store's :class:`~keystore.sm2.Sm2Signer` as eseal signs; ECDSA P-256 with SHA-256
  is ``cryptography`` (OpenSSL).  Timed in batches of 50; the median batch, per operation.
* **PAdES**: a 1-page PDF (``tests/pdfs.py::simple_pdf``) sealed by pyHanko's ``PdfSigner`` with
  the seal key of each algorithm from eseal's soft key store, its certificate from eseal's PKI
  of that algorithm: SM2 through :class:`signer.sm2_cms.Sm2CmsSigner` (SM3 digest,
  SM2-with-SM3, signing-certificate-v2 with SM3), ECDSA through the store's own signer
  (SHA-256).  Same field (a new invisible one), same ``bytes_reserved`` as eseal's sealing
  (16 KiB), PAdES subfilter.  B-B, and B-T with eseal's built-in TSA in-process (an SM3 imprint
  gets the SM2 TSA's token, a SHA-256 one the ECDSA TSA's).  The output is checked (one
  signature, the right algorithm) outside the timing.

"× ECDSA" is SM2's rate over ECDSA's (ECDSA's median time over SM2's): 1.0 is as fast, 0.5 half
as fast.  The issue asks SM2 sealing to reach 0.7×.  This is sealing below eseal's
``SealingService`` (no registry checks, seal image or archive, which cost the same for both
algorithms and would only bring the ratio closer to 1): the share SM2 changes.

Figures of a run are in ``bench/README.md`` ("SM2 beside ECDSA").
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import io
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "bench")]

from asn1crypto import x509 as asn1_x509  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from facts import header, write_results  # noqa: E402
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter  # noqa: E402
from pyhanko.pdf_utils.reader import PdfFileReader  # noqa: E402
from pyhanko.sign.fields import SigSeedSubFilter  # noqa: E402
from pyhanko.sign.signers import PdfSignatureMetadata, PdfSigner, Signer  # noqa: E402
from pyhanko.sign.timestamps import TimeStamper  # noqa: E402

from keystore import sm2  # noqa: E402
from keystore.base import KeyAlgorithm  # noqa: E402
from keystore.masterkey import MasterKey  # noqa: E402
from keystore.pki import InternalPki, SealSubject  # noqa: E402
from keystore.sm2_pki import Sm2Pki  # noqa: E402
from keystore.soft import SoftKeyStore  # noqa: E402
from keystore.tsa import Sm2TsaKey, TimeStampAuthority  # noqa: E402
from pdfs import simple_pdf  # noqa: E402
from signer.sm2_cms import Sm2CmsSigner  # noqa: E402

URL = "https://eseal.example.cn"
SUBJECT = SealSubject("北京测试科技有限公司", "91110108551385082Q", "合同专用章")
MESSAGE = secrets.token_bytes(256)
BATCH = 50
#: eseal's sealing reserves this much for the CMS (signer/core.py SIGNATURE_BYTES)
SIGNATURE_BYTES = 16_384
TARGET = 0.7  # SM2 sealing rate over ECDSA's (issue 14, "Speed")


@dataclass(frozen=True)
class Config:
    raw_rounds: int
    pades_rounds: int
    warmup: int


FULL = Config(raw_rounds=40, pades_rounds=150, warmup=10)
QUICK = Config(raw_rounds=8, pades_rounds=25, warmup=3)


@dataclass
class Sample:
    """Seconds per operation, one per round: wall-clock and this process's CPU time."""

    seconds: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)

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

    @property
    def per_second(self) -> float:
        return 1000 / self.median_ms


#: one timed operation: (wall-clock seconds, CPU seconds)
Run = Callable[[], Awaitable[tuple[float, float]]]


async def interleaved(runs: dict[str, Run], rounds: int, warmup: int) -> dict[str, Sample]:
    """Each contender once per round, the order alternating, after ``warmup`` rounds."""
    names = list(runs)
    for _ in range(warmup):
        for name in names:
            await runs[name]()
    gc.collect()
    samples = {name: Sample() for name in names}
    for i in range(rounds):
        for name in names if i % 2 == 0 else names[::-1]:
            wall, cpu = await runs[name]()
            samples[name].seconds.append(wall)
            samples[name].cpu.append(cpu)
    return samples


# -- raw signatures ---------------------------------------------------------------------


def _batch(operation: Callable[[], object]) -> Run:
    async def run() -> tuple[float, float]:
        cpu, t0 = time.process_time(), time.perf_counter()
        for _ in range(BATCH):
            operation()
        return (time.perf_counter() - t0) / BATCH, (time.process_time() - cpu) / BATCH

    return run


async def bench_raw(cfg: Config, store: SoftKeyStore) -> dict[str, dict[str, Sample]]:
    sm2_signer = store.sm2_signer(store.generate("bench", "raw-sm2", KeyAlgorithm.SM2))
    sm2_public = sm2_signer.public_key
    sm2_signature = sm2_signer.sign(MESSAGE)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    ec_public = ec_key.public_key()
    ecdsa = ec.ECDSA(hashes.SHA256())
    ec_signature = ec_key.sign(MESSAGE, ecdsa)
    sign = await interleaved(
        {
            "SM2": _batch(lambda: sm2_signer.sign(MESSAGE)),
            "ECDSA P-256": _batch(lambda: ec_key.sign(MESSAGE, ecdsa)),
        },
        cfg.raw_rounds,
        cfg.warmup,
    )
    verify = await interleaved(
        {
            "SM2": _batch(lambda: sm2_public.verify(sm2_signature, MESSAGE)),
            "ECDSA P-256": _batch(lambda: ec_public.verify(ec_signature, MESSAGE, ecdsa)),
        },
        cfg.raw_rounds,
        cfg.warmup,
    )
    return {"sign": sign, "verify": verify}


# -- PAdES seals ------------------------------------------------------------------------


@dataclass(frozen=True)
class Sealer:
    signer: Signer
    md_algorithm: str
    #: the signature algorithm the output's SignerInfo must name
    mechanism: str


def _sealers(store: SoftKeyStore, work: Path) -> tuple[dict[str, Sealer], TimeStamper]:
    ecdsa_pki = InternalPki(store, work / "pki", URL)
    ecdsa_pki.create()
    sm2_pki = Sm2Pki(store, work / "pki" / "sm2", URL)
    sm2_pki.ensure()
    now = datetime.now(UTC) - timedelta(minutes=5)
    until = now + timedelta(days=365)

    ec_ref = store.generate("bench", "seal-ec", KeyAlgorithm.EC_P256)
    ec_cert = ecdsa_pki.issue_seal_certificate(
        store.public_key(ec_ref), SUBJECT, not_before=now, not_after=until
    )
    ec_signer = store.signer(
        ec_ref,
        asn1_x509.Certificate.load(ec_cert.public_bytes(serialization.Encoding.DER)),
        ecdsa_pki.chain(),
    )
    sm2_ref = store.generate("bench", "seal-sm2", KeyAlgorithm.SM2)
    sm2_cert = sm2_pki.issue_seal_certificate(
        store.public_key(sm2_ref), SUBJECT, not_before=now, not_after=until
    )
    sm2_signer = Sm2CmsSigner(store.sm2_signer(sm2_ref), sm2_cert, sm2_pki.chain())

    tsa_signer = ecdsa_pki.tsa_signer()
    tsa = TimeStampAuthority(
        tsa_signer,
        tsa_signer.signing_cert,
        ecdsa_pki.chain(),
        sm2=Sm2TsaKey(sm2_pki.service_signer("tsa"), sm2_pki.certificate("tsa"), sm2_pki.chain()),
    )
    sealers = {
        "SM2": Sealer(sm2_signer, "sm3", sm2.OID_SM2_WITH_SM3),
        "ECDSA P-256": Sealer(ec_signer, "sha256", "1.2.840.10045.4.3.2"),
    }
    return sealers, tsa.timestamper()


async def _seal(pdf: bytes, sealer: Sealer, timestamper: TimeStamper | None) -> bytes:
    meta = PdfSignatureMetadata(
        field_name="Seal1", md_algorithm=sealer.md_algorithm, subfilter=SigSeedSubFilter.PADES
    )
    out = await PdfSigner(meta, signer=sealer.signer, timestamper=timestamper).async_sign_pdf(
        IncrementalPdfFileWriter(io.BytesIO(pdf)), bytes_reserved=SIGNATURE_BYTES
    )
    return bytes(out.getvalue())


def _check(sealed: bytes, sealer: Sealer, timestamped: bool) -> None:
    (embedded,) = PdfFileReader(io.BytesIO(sealed)).embedded_signatures
    info = embedded.signer_info
    if info["signature_algorithm"]["algorithm"].dotted != sealer.mechanism:
        raise RuntimeError(f"sealed with {info['signature_algorithm']['algorithm'].native}")
    tokens = [a for a in info["unsigned_attrs"] if a["type"].native == "signature_time_stamp_token"]
    if bool(tokens) != timestamped:
        raise RuntimeError("the signature timestamp is missing or unexpected")


async def bench_pades(cfg: Config, store: SoftKeyStore, work: Path) -> dict[str, dict[str, Sample]]:
    sealers, timestamper = _sealers(store, work)
    pdf = simple_pdf(1)
    results: dict[str, dict[str, Sample]] = {}
    for level, stamper in (("B-B", None), ("B-T", timestamper)):
        for sealer in sealers.values():
            _check(await _seal(pdf, sealer, stamper), sealer, stamper is not None)

        def run(sealer: Sealer, stamper: TimeStamper | None = stamper) -> Run:
            async def one() -> tuple[float, float]:
                cpu, t0 = time.process_time(), time.perf_counter()
                await _seal(pdf, sealer, stamper)
                return time.perf_counter() - t0, time.process_time() - cpu

            return one

        results[level] = await interleaved(
            {name: run(sealer) for name, sealer in sealers.items()}, cfg.pades_rounds, cfg.warmup
        )
    return results


# -- output -----------------------------------------------------------------------------


def _ratio(samples: dict[str, Sample]) -> float:
    """SM2's rate over ECDSA's (wall-clock)."""
    return samples["ECDSA P-256"].median_ms / samples["SM2"].median_ms


def _cpu_ratio(samples: dict[str, Sample]) -> float:
    """SM2's rate over ECDSA's by CPU time: steadier when other work shares the CPUs."""
    return samples["ECDSA P-256"].cpu_median_ms / samples["SM2"].cpu_median_ms


def render(
    quick: bool,
    cfg: Config,
    raw: dict[str, dict[str, Sample]],
    pades: dict[str, dict[str, Sample]],
) -> str:
    lines = header(
        "SM2 beside ECDSA P-256" + (" (quick run: not figures to quote)" if quick else ""),
        "python bench/sm2_vs_ecdsa.py" + (" --quick" if quick else ""),
    )
    lines += [
        f"Raw: {cfg.raw_rounds} rounds of {BATCH} operations each on a 256-byte message; "
        f"PAdES: {cfg.pades_rounds} documents each (1 page); {cfg.warmup} warm-up rounds. "
        "Median (p90) wall-clock per operation; SM2 and ECDSA alternate. "
        "\"× ECDSA\": SM2's rate over ECDSA's, by wall-clock and by CPU time.",
        "",
        "## Raw signatures",
        "",
        "| operation | SM2 ms | ECDSA P-256 ms | SM2 /s | ECDSA /s | SM2 × ECDSA | by CPU |",
        "|---|---|---|---|---|---|---|",
    ]
    for operation, samples in raw.items():
        s, e = samples["SM2"], samples["ECDSA P-256"]
        lines.append(
            f"| {operation} | {s.median_ms:.3f} ({s.p90_ms:.3f}) | "
            f"{e.median_ms:.3f} ({e.p90_ms:.3f}) | {s.per_second:,.0f} | {e.per_second:,.0f} | "
            f"{_ratio(samples):.2f}× | {_cpu_ratio(samples):.2f}× |"
        )
    lines += [
        "",
        "## PAdES seal of a 1-page PDF (pyHanko PdfSigner, in-process)",
        "",
        "| level | SM2 ms | ECDSA P-256 ms | SM2 /s | ECDSA /s | SM2 × ECDSA | by CPU | target |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for level, samples in pades.items():
        s, e = samples["SM2"], samples["ECDSA P-256"]
        ratio = _ratio(samples)
        lines.append(
            f"| {level} | {s.median_ms:.2f} ({s.p90_ms:.2f}) | {e.median_ms:.2f} ({e.p90_ms:.2f}) "
            f"| {s.per_second:,.0f} | {e.per_second:,.0f} | {ratio:.2f}× | "
            f"{_cpu_ratio(samples):.2f}× | "
            f"≥ {TARGET}× {'met' if min(ratio, _cpu_ratio(samples)) >= TARGET else 'NOT met'} |"
        )
    return "\n".join(lines) + "\n"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="few rounds (seconds)")
    parser.add_argument("--output", help="also write the table to this file (bench/results-*.md)")
    args = parser.parse_args()
    cfg = QUICK if args.quick else FULL
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="eseal-bench-sm2-") as tmp:
        work = Path(tmp)
        store = SoftKeyStore(work / "keys", MasterKey(secrets.token_bytes(32)))
        store.initialise()
        raw = await bench_raw(cfg, store)
        pades = await bench_pades(cfg, store, work)
    table = render(args.quick, cfg, raw, pades)
    print(table)
    if args.output:
        path = Path(args.output)
        if path.parent.resolve() == (ROOT / "bench").resolve():
            write_results(path.name, table)
        else:
            path.write_text(table, encoding="utf-8")
    print(f"done in {time.perf_counter() - started:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    asyncio.run(main())
