"""Builds eseal's services from the settings: the one place the packages are wired together."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from pyhanko.sign.timestamps import TimeStamper
from sqlalchemy.engine import Engine

from keystore import sm2
from keystore.base import KeyStore
from keystore.errors import KeystoreError
from keystore.feed_key import FeedKey
from keystore.masterkey import create_master_key_file, load_master_key
from keystore.pki import InternalPki
from keystore.sm2_pki import SUBDIR as SM2_SUBDIR
from keystore.sm2_pki import Sm2Pki
from keystore.soft import SoftKeyStore
from keystore.tsa import Sm2TsaKey, TimeStampAuthority
from seals.authority import AuthoritySeals
from seals.permits import PermitService
from seals.service import IssuanceSettings, SealService
from seals.vocab import DocumentFormat
from signer.core import DocumentSigner
from signer.national import NationalVerifier
from signer.national_sealing import NationalSealer
from signer.national_trust import NationalTrust
from signer.revocation import Sm2Revocation
from signer.service import SealingService
from signer.sm2_signers import Sm2SealSigners
from signer.sm2_timestamp import Sm2TimeStamper, sm2_timestamper
from signer.verify import Verifier
from storage.apikeys import ApiKeyStore
from storage.archive import Archive, archive_from_settings
from storage.audit import AuditLog
from storage.db import make_engine, migrate
from storage.exports import ArchiveExports, ExportReports
from storage.feed import FeedLog
from storage.permits import SqlPermitRepository
from storage.repository import SqlEnterpriseRepository

from .deadline import Deadline
from .feed import FeedPublisher
from .flows import SignFlow
from .license_desk import LicenseDesk
from .observability import Metrics
from .revocation import RegistryRevocation
from .settings import Settings

__all__ = ["Container", "build", "initialise", "trust_bundle"]

T = TypeVar("T")


@dataclass
class Container:
    settings: Settings
    engine: Engine
    soft_keys: SoftKeyStore
    seal_keys: KeyStore
    pki: InternalPki
    seals: SealService
    tsa: TimeStampAuthority
    revocation: RegistryRevocation
    sealing: SealingService
    verifier: Verifier
    api_keys: ApiKeyStore
    audit: AuditLog
    sign_flow: SignFlow
    archive: Archive
    deadline: Deadline
    sm2_pki: Sm2Pki
    #: the archive export with its audit entry (the route and the CLI)
    exports: ArchiveExports
    #: verification of OFD documents and GB/T 38540 SES signatures
    national: NationalVerifier
    #: SES signatures and OFD sealing with the seals' SM2 keys
    national_sealer: NationalSealer
    #: permits and filings under the licenses (issue 18)
    permits: PermitService
    #: the license PDF, check codes and the check page (issue 18)
    license_desk: LicenseDesk
    metrics: Metrics = field(default_factory=Metrics)
    #: the signed registry feed for front systems (issue 19)
    feed: FeedPublisher | None = None

    def archive_check(self) -> None:
        """Readiness of the archive: the object store answers."""
        self.archive.ping()

    def close(self) -> None:
        self.engine.dispose()


def _soft_store(settings: Settings) -> SoftKeyStore:
    master = load_master_key(
        settings.master_key.get_secret_value() if settings.master_key else None,
        settings.master_key_file,
    )
    return SoftKeyStore(settings.keys_dir, master)


def _seal_keystore(settings: Settings, soft: SoftKeyStore) -> KeyStore:
    if settings.keystore == "soft":
        return soft
    from keystore.pkcs11 import Pkcs11KeyStore

    pin = settings.pkcs11_pin.get_secret_value() if settings.pkcs11_pin else ""
    return Pkcs11KeyStore(settings.pkcs11_module, settings.pkcs11_token_label, pin)


def initialise(settings: Settings) -> bool:
    """Create the data dir, master key file, key store, PKI and schema. False if it existed."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if settings.master_key is None and not settings.master_key_file.exists():
        create_master_key_file(settings.master_key_file)
    soft = _soft_store(settings)
    soft.initialise()
    soft.check()
    pki = InternalPki(
        soft, settings.pki_dir, settings.public_url, organisation=settings.organisation
    )
    created = not pki.exists
    if created:
        pki.create()
    _sm2_pki(settings, soft).ensure()
    pki.ensure_authority(settings.registration_authority)
    FeedKey(soft, pki, feed_key_dir(settings)).ensure()
    migrate(settings.db_url)
    return created


def feed_key_dir(settings: Settings) -> Path:
    """Where the registry feed's key reference and certificate live (issue 19)."""
    return settings.pki_dir / "feed"


def build(settings: Settings, *, clock: Callable[[], datetime] | None = None) -> Container:
    """Open everything for use; fails with one clear error if the master key is wrong.

    ``clock`` (tests: a simulated time) drives the PKI, seals, TSA, revocation and archive."""
    now = clock or (lambda: datetime.now(UTC))
    soft = _soft_store(settings)
    soft.check()
    pki = InternalPki(
        soft, settings.pki_dir, settings.public_url, organisation=settings.organisation, clock=now
    )
    pki.load()
    # data dirs made before the authority's seal, or for another authority, get it here
    pki.ensure_authority(settings.registration_authority)
    sm2_pki = _sm2_pki(settings, soft, clock=now)
    sm2_pki.ensure()  # data dirs made before the SM2 PKI get it here, once
    seal_keys = _seal_keystore(settings, soft)
    seal_keys.check()  # an absent or locked token fails at start-up, not at the first seal
    if settings.sm2_seals and settings.keystore != "soft":
        raise KeystoreError(
            "the PKCS#11 key store cannot hold SM2 seal keys: set ESEAL_SEAL_ALGORITHMS to the "
            f"international key type alone ({settings.key_algorithm.value})",
            code="algorithm_not_supported_by_keystore",
        )
    engine = make_engine(settings.db_url)
    migrate(engine)
    tsa_signer = pki.tsa_signer()
    tsa = TimeStampAuthority(
        tsa_signer,
        tsa_signer.signing_cert,
        pki.chain(),
        clock=now,
        sm2=Sm2TsaKey(sm2_pki.service_signer("tsa"), sm2_pki.certificate("tsa"), sm2_pki.chain()),
    )
    timestamper: TimeStamper = tsa.timestamper()
    sm2_stamper: TimeStamper | None = sm2_timestamper(tsa)
    if settings.tsa_url:
        from pyhanko.sign.timestamps import HTTPTimeStamper

        timestamper = HTTPTimeStamper(settings.tsa_url, timeout=10)
        # an outside TSA is asked for SM2 tokens by the SM3 imprint alone
        sm2_stamper = Sm2TimeStamper(HTTPTimeStamper(settings.tsa_url, timeout=10), policy=None)
    repo = SqlEnterpriseRepository(engine)
    service = SealService(
        repo,
        seal_keys,
        pki,
        IssuanceSettings(
            key_algorithm=settings.key_algorithm,
            validity=timedelta(days=settings.seal_validity_days),
            font_path=settings.font_path,
            sm2=settings.sm2_seals,
            esl_version=settings.ses_seal_version,
        ),
        sm2_pki=sm2_pki,
        esl_timestamp=_esl_timestamp(sm2_stamper),
        clock=now,
    )
    # OCSP responses cached for a minute, dropped as soon as any process changes a status
    revocation = RegistryRevocation(
        pki,
        service,
        clock=now,
        sm2=Sm2Revocation(
            sm2_pki,
            service.sm2_certificate_status,
            clock=now,
            revoked=service.sm2_revoked_certificates,
        ),
    )
    document_signer = DocumentSigner(
        revocation,
        timestamper,
        tsa_certificates=[tsa_signer.signing_cert],
        sm2_timestamper=sm2_stamper,
        sm2_tsa_certificates=[sm2_pki.certificate("tsa")],
    )
    sealing = SealingService(
        service,
        document_signer,
        sm2_signers=Sm2SealSigners(soft, sm2_pki.chain()) if settings.keystore == "soft" else None,
        default_algorithm=settings.pdf_sign_algorithm,
    )
    archive = archive_from_settings(settings, engine)
    archive.clock = now
    archive.index.group_commit = settings.group_commit
    permits = PermitService(SqlPermitRepository(engine), service.find_enterprise, clock=now)
    verifier = Verifier(
        service,
        revocation.root,
        pki.chain()[0],
        extra_roots=[*trust_bundle(settings), sm2_pki.certificate("root")],
        allow_fetching=settings.verify_fetch,
        revocation=revocation,
        sm2_issuing=sm2_pki.certificate("issuing"),
        authority=AuthoritySeals([_asn1(c) for c in pki.authority_certificates()]),
        permits=permits,
    )
    deadline = Deadline(settings.document_cpu_seconds, settings.document_wall_seconds)
    audit = AuditLog(engine)
    national = NationalVerifier(
        verifier,
        NationalTrust(
            [sm2_pki.certificate("root"), *trust_bundle(settings)],
            [sm2_pki.certificate("issuing")],
            responder=revocation,
            allow_fetching=settings.verify_fetch,
        ),
    )
    national_sealer = NationalSealer(
        service, soft if settings.keystore == "soft" else None, sm2_stamper, clock=now
    )
    feed_key = FeedKey(soft, pki, feed_key_dir(settings))
    feed_key.ensure()  # data dirs made before the feed get its key here, once
    container = Container(
        settings,
        engine,
        soft,
        seal_keys,
        pki,
        service,
        tsa,
        revocation,
        sealing,
        verifier,
        ApiKeyStore(engine),
        audit,
        SignFlow(engine, sealing, archive, deadline, national_sealer),
        archive,
        deadline,
        sm2_pki=sm2_pki,
        exports=ArchiveExports(archive, audit, _export_reports(verifier, national, service)),
        national=national,
        national_sealer=national_sealer,
        permits=permits,
        license_desk=LicenseDesk(
            service,
            permits,
            pki,
            document_signer,
            audit,
            public_url=settings.public_url,
            code_lifetime=timedelta(minutes=settings.check_code_minutes),
            font_path=settings.font_path,
            clock=now,
        ),
    )
    container.feed = FeedPublisher(FeedLog(engine), feed_key, pki, sm2_pki, revocation)
    return container


def _asn1(cert: Any) -> Any:
    from asn1crypto import x509 as asn1_x509
    from cryptography.hazmat.primitives import serialization

    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


def _esl_timestamp(stamper: TimeStamper | None) -> Callable[[bytes], bytes] | None:
    """What an SESeal of version 5 carries over the seal maker's signature: the SM2 TSA's
    DER ``TimeStampToken`` for the SM3 imprint of the signature value's bytes (the built-in
    TSA, or ``ESEAL_TSA_URL`` asked for SM2 as for documents)."""
    if stamper is None:
        return None
    sm2_stamper = stamper

    def timestamp(signature: bytes) -> bytes:
        token = _run(sm2_stamper.async_timestamp(sm2.sm3(signature), sm2.NAME_SM3))
        return bytes(token.dump())

    return timestamp


def _run(work: Coroutine[Any, Any, T]) -> T:
    """``work`` to its end from synchronous code: seals are issued in a worker thread (the
    routes) or the CLI, where no event loop runs; from inside a running loop (a test), in a
    thread of its own."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(work)
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, work).result()


def _export_reports(
    verifier: Verifier, national: NationalVerifier, seals: SealService
) -> ExportReports:
    """Each exported document's verification report (against its sealer), and its page."""

    def report_for(record: Any, reader: Any) -> dict[str, Any]:
        # storage keeps reports as the JSON the API sends (it does not import signer)
        data = reader.read()
        fmt = getattr(record, "format", DocumentFormat.PDF)
        if fmt is DocumentFormat.OFD:
            return asyncio.run(national.report_ofd(data, record.uscc)).to_json()
        if fmt is DocumentFormat.SES:
            return asyncio.run(national.report_ses(data, expect_uscc=record.uscc)).to_json()
        return asyncio.run(verifier.report(data, record.uscc)).to_json()

    def report_html(report: dict[str, Any]) -> str:
        from .report_html import render_report, seal_image_lookup

        return render_report(report, seal_image_lookup(seals, report))

    return ExportReports(report_for, report_html)


def _sm2_pki(
    settings: Settings, soft: SoftKeyStore, *, clock: Callable[[], datetime] | None = None
) -> Sm2Pki:
    return Sm2Pki(
        soft,
        settings.pki_dir / SM2_SUBDIR,
        settings.public_url,
        organisation=settings.organisation,
        clock=clock or (lambda: datetime.now(UTC)),
    )


def trust_bundle(settings: Settings) -> list[Any]:
    """Extra trust anchors for verification (``ESEAL_TRUST_BUNDLE``, a PEM file)."""
    if settings.trust_bundle is None:
        return []
    from asn1crypto import pem
    from asn1crypto import x509 as asn1_x509

    try:
        data = settings.trust_bundle.read_bytes()
    except OSError as exc:
        raise KeystoreError(
            f"cannot read the trust bundle: {exc.strerror}", code="trust_bundle_unreadable"
        ) from None
    return [asn1_x509.Certificate.load(der) for _, _, der in pem.unarmor(data, multiple=True)]
