"""The internal PKI: root CA → seal-issuing CA → seal, TSA and OCSP-responder certificates.

The CA keys live in the soft key store (scope ``pki``), encrypted under the master key; the
certificates are PEM files beside it.  Seal keys may live elsewhere (a PKCS#11 token): the CA
only needs their public keys.  Revocation state is not kept here: the CRL and the OCSP
responder ask a :data:`StatusLookup` that the metadata store provides.
"""

from __future__ import annotations

import fcntl
import json
import secrets
import warnings
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier
from pyhanko.sign.signers.pdf_cms import Signer

from .asn1_shared import fully_parsed
from .base import KeyAlgorithm
from .errors import KeystoreError
from .signers import LoadedKeySigner
from .soft import SoftKeyStore

__all__ = [
    "AUTHORITY",
    "AUTHORITY_TITLE",
    "OID_USCC",
    "OID_USCC_LEGACY",
    "CertStatus",
    "InternalPki",
    "RevokedCert",
    "SealSubject",
    "StatusLookup",
]

#: Non-critical extension carrying the USCC, as Chinese CAs use it (UTF8String).
OID_USCC = ObjectIdentifier("1.2.156.10260.4.1.4")
#: The older extension some CAs still use for the organisation identifier.
OID_USCC_LEGACY = ObjectIdentifier("1.2.86.11.7.4")

SCOPE = "pki"
#: the role of the registration authority's seal (登记机关电子印章) in ``pki.json``
AUTHORITY = "authority"
#: the title of the registration authority's seal certificate
AUTHORITY_TITLE = "登记机关"

# cryptography warns about names over 64 UTF-8 *bytes* whenever it parses one; X.520 counts
# characters, and Chinese names routinely pass 64 bytes (see _utf8_attribute).
warnings.filterwarnings("ignore", message="Attribute's length must be", category=UserWarning)
Clock = Callable[[], datetime]


@dataclass(frozen=True)
class SealSubject:
    """Who a seal certificate names (DESIGN.md 1, certificate profile)."""

    enterprise_name: str
    uscc: str
    #: the seal label, e.g. 合同专用章; 法定代表人 for the legal representative's seal
    title: str
    #: the legal representative's name, for the 法定代表人章 only
    person: str | None = None

    def name(self) -> x509.Name:
        cn = self.person if self.person else f"{self.enterprise_name}·{self.title}"
        return x509.Name(
            [
                x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
                _utf8_attribute(NameOID.ORGANIZATION_NAME, self.enterprise_name),
                x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, self.uscc),
                _utf8_attribute(NameOID.TITLE, self.title),
                _utf8_attribute(NameOID.COMMON_NAME, cn),
                # ETSI EN 319 412-1 semantics identifier: NTR (national trade register), CN
                x509.NameAttribute(NameOID.ORGANIZATION_IDENTIFIER, f"NTRCN-{self.uscc}"),
            ]
        )


def _utf8_attribute(oid: ObjectIdentifier, value: str) -> x509.NameAttribute:
    """A UTF8String attribute whose upper bound (X.520: 64) counts characters, not bytes.

    ``cryptography`` counts UTF-8 bytes, which refuses ordinary Chinese company names
    (22 characters of CJK are 66 bytes), so the bound is checked here instead.
    """
    if not 1 <= len(value) <= 64:
        raise KeystoreError(
            f"name attribute of {len(value)} characters; at most 64 fit", code="name_too_long"
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return x509.NameAttribute(oid, value, _validate=False)


@dataclass(frozen=True)
class CertStatus:
    """What the registry knows of a serial: revoked when ``revoked_at`` is set."""

    revoked_at: datetime | None = None
    reason: x509.ReasonFlags | None = None


@dataclass(frozen=True)
class RevokedCert:
    """One CRL entry. For a key compromise ``revoked_at`` is the compromise time, which
    ``invalidity_date`` (RFC 5280 5.3.2) states as well."""

    serial: int
    revoked_at: datetime
    reason: x509.ReasonFlags | None = None
    invalidity_date: datetime | None = None


#: serial → status, or None when the serial was never issued by the seal-issuing CA
StatusLookup = Callable[[int], CertStatus | None]


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _to_asn1(cert: x509.Certificate) -> asn1_x509.Certificate:
    # handed to signers and validators that threads share: parsed before it is published
    return fully_parsed(asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER)))


class InternalPki:
    """Creates (once) and operates the CA hierarchy; see the module docstring."""

    ROOT_YEARS = 20
    ISSUING_YEARS = 10
    SERVICE_YEARS = 5
    CRL_VALIDITY = timedelta(days=7)
    OCSP_VALIDITY = timedelta(days=1)

    def __init__(
        self,
        store: SoftKeyStore,
        directory: Path,
        public_url: str,
        *,
        algorithm: KeyAlgorithm = KeyAlgorithm.EC_P256,
        organisation: str = "eseal",
        clock: Clock = _utcnow,
    ) -> None:
        self._store = store
        self._dir = directory
        self.public_url = public_url.rstrip("/")
        self._algorithm = algorithm
        self._clock = clock
        self._organisation = organisation
        self._certs: dict[str, x509.Certificate] = {}
        self._refs: dict[str, str] = {}
        self._retired: dict[str, list[x509.Certificate]] = {}

    # -- set-up ---------------------------------------------------------------------------

    @property
    def exists(self) -> bool:
        return (self._dir / "pki.json").exists()

    def create(self) -> None:
        """Generate the four PKI keys and certificates. Refuses if a PKI exists already."""
        organisation = self._organisation
        if self.exists:
            raise KeystoreError("the PKI exists already", code="pki_exists")
        now = self._clock() - timedelta(minutes=5)
        refs = {
            role: self._store.generate(SCOPE, role, self._algorithm)
            for role in ("root", "issuing", "tsa", "ocsp")
        }
        self._refs = refs

        def base(
            role: str, subject: x509.Name, issuer: x509.Name, years: int
        ) -> x509.CertificateBuilder:
            pub = self._store.private_key_for_pki(refs[role]).public_key()
            return (
                x509.CertificateBuilder()
                .subject_name(subject)
                .issuer_name(issuer)
                .public_key(pub)
                .serial_number(x509.random_serial_number())
                .not_valid_before(now)
                .not_valid_after(now + timedelta(days=365 * years))
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(pub), critical=False)
            )

        def name(cn: str) -> x509.Name:
            return x509.Name(
                [
                    x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
                    x509.NameAttribute(NameOID.COMMON_NAME, cn),
                ]
            )

        root_name = name(f"{organisation} Root CA")
        root_key = self._store.private_key_for_pki(refs["root"])
        root = (
            base("root", root_name, root_name, self.ROOT_YEARS)
            .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
            .add_extension(_ca_usage(), critical=True)
            .sign(root_key, hashes.SHA256())
        )
        issuing_name = name(f"{organisation} Seal CA")
        issuing = (
            base("issuing", issuing_name, root_name, self.ISSUING_YEARS)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_ca_usage(), critical=True)
            .add_extension(_aki(root), critical=False)
            .add_extension(self._crl_dp("root"), critical=False)
            .sign(root_key, hashes.SHA256())
        )
        issuing_key = self._store.private_key_for_pki(refs["issuing"])
        tsa = (
            base("tsa", name(f"{organisation} TSA"), issuing_name, self.SERVICE_YEARS)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_leaf_usage(non_repudiation=False), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True
            )
            .add_extension(_aki(issuing), critical=False)
            .add_extension(self._aia(), critical=False)
            .add_extension(self._crl_dp("issuing"), critical=False)
            .sign(issuing_key, hashes.SHA256())
        )
        ocsp = (
            base("ocsp", name(f"{organisation} OCSP Responder"), issuing_name, self.SERVICE_YEARS)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_leaf_usage(non_repudiation=False), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.OCSP_SIGNING]), critical=False
            )
            .add_extension(x509.OCSPNoCheck(), critical=False)
            .add_extension(_aki(issuing), critical=False)
            .sign(issuing_key, hashes.SHA256())
        )
        self._dir.mkdir(parents=True, exist_ok=True)
        for role, cert in (("root", root), ("issuing", issuing), ("tsa", tsa), ("ocsp", ocsp)):
            (self._dir / f"{role}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
            self._certs[role] = cert
        (self._dir / "pki.json").write_text(json.dumps({"keys": refs}, indent=2))

    def load(self) -> None:
        try:
            self._refs = json.loads((self._dir / "pki.json").read_text())["keys"]
            for role in ("root", "issuing", "tsa", "ocsp"):
                self._certs[role] = x509.load_pem_x509_certificate(
                    (self._dir / f"{role}.pem").read_bytes()
                )
            if AUTHORITY in self._refs:  # made by ensure_authority, once the PKI exists
                self._certs[AUTHORITY] = x509.load_pem_x509_certificate(
                    (self._dir / f"{AUTHORITY}.pem").read_bytes()
                )
        except FileNotFoundError:
            raise KeystoreError("no PKI here: run 'eseal init' first", code="pki_missing") from None
        self._retired = _load_retired(self._dir)
        # Opening a CA key proves the master key is right before anything is served.
        self._store.private_key_for_pki(self._refs["issuing"])

    # -- certificates ---------------------------------------------------------------------

    def certificate(self, role: str) -> x509.Certificate:
        return self._certs[role]

    @property
    def root(self) -> x509.Certificate:
        return self._certs["root"]

    @property
    def issuing(self) -> x509.Certificate:
        return self._certs["issuing"]

    def chain(self) -> list[asn1_x509.Certificate]:
        """Issuing CA then root, as asn1crypto objects (for pyHanko)."""
        return [_to_asn1(self.issuing), _to_asn1(self.root)]

    def chain_pem(self) -> str:
        return "".join(
            c.public_bytes(serialization.Encoding.PEM).decode() for c in (self.issuing, self.root)
        )

    def internal_serials(self) -> set[int]:
        """Serials of the certificates the issuing CA made for the PKI's own services."""
        return {
            self._certs["tsa"].serial_number,
            self._certs["ocsp"].serial_number,
            *(c.serial_number for role, c in self._certs.items() if role == AUTHORITY),
            *(c.serial_number for certs in self._retired.values() for c in certs),
        }

    def retired(self, role: str) -> list[x509.Certificate]:
        """Earlier certificates of a service ("tsa", "ocsp"), oldest first (see :meth:`rotate`)."""
        return list(self._retired.get(role, []))

    def issue_seal_certificate(
        self,
        public_key: asn1_keys.PublicKeyInfo,
        subject: SealSubject,
        *,
        not_before: datetime,
        not_after: datetime,
    ) -> x509.Certificate:
        pub = serialization.load_der_public_key(public_key.dump())
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject.name())
            .issuer_name(self.issuing.subject)
            .public_key(pub)  # type: ignore[arg-type]
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before)
            .not_valid_after(min(not_after, self.issuing.not_valid_after_utc))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_leaf_usage(non_repudiation=True), critical=True)
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(pub),  # type: ignore[arg-type]
                critical=False,
            )
            .add_extension(_aki(self.issuing), critical=False)
            .add_extension(self._aia(), critical=False)
            .add_extension(self._crl_dp("issuing"), critical=False)
            .add_extension(
                x509.UnrecognizedExtension(OID_USCC, _utf8_string(subject.uscc)), critical=False
            )
        )
        return builder.sign(self._store.private_key_for_pki(self._refs["issuing"]), hashes.SHA256())

    # -- service signers ------------------------------------------------------------------

    def tsa_signer(self) -> Signer:
        return LoadedKeySigner(
            self._store.private_key_for_pki(self._refs["tsa"]),
            _to_asn1(self._certs["tsa"]),
            self.chain(),
        )

    def rotate(self, role: str) -> x509.Certificate:
        """A new key and certificate for the TSA or the OCSP responder (``role`` "tsa"/"ocsp").

        Done before the current certificate expires (it lives :attr:`SERVICE_YEARS`).  The old
        certificate is kept as ``{role}-{serial}.pem`` and listed in ``pki.json``: the OCSP
        responder keeps answering "good" for it, so timestamps it made stay verifiable; its key
        is no longer used.  Processes that serve must be restarted to pick up the new key.
        """
        if role not in ("tsa", "ocsp"):
            raise KeystoreError(
                "only the TSA and the OCSP responder are rotated", code="pki_role_invalid"
            )
        now = self._clock() - timedelta(minutes=5)
        old = self._certs[role]
        ref = self._store.generate(SCOPE, f"{role}-{int(now.timestamp())}", self._algorithm)
        pub = self._store.private_key_for_pki(ref).public_key()
        issuing = self.issuing
        usage = (
            [ExtendedKeyUsageOID.TIME_STAMPING]
            if role == "tsa"
            else [ExtendedKeyUsageOID.OCSP_SIGNING]
        )
        builder = (
            x509.CertificateBuilder()
            .subject_name(old.subject)
            .issuer_name(issuing.subject)
            .public_key(pub)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now)
            .not_valid_after(
                min(now + timedelta(days=365 * self.SERVICE_YEARS), issuing.not_valid_after_utc)
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(pub), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_leaf_usage(non_repudiation=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage(usage), critical=role == "tsa")
            .add_extension(_aki(issuing), critical=False)
        )
        if role == "tsa":
            builder = builder.add_extension(self._aia(), critical=False).add_extension(
                self._crl_dp("issuing"), critical=False
            )
        else:
            builder = builder.add_extension(x509.OCSPNoCheck(), critical=False)
        cert = builder.sign(self._store.private_key_for_pki(self._refs["issuing"]), hashes.SHA256())
        kept = f"{role}-{old.serial_number:x}.pem"
        (self._dir / kept).write_bytes(old.public_bytes(serialization.Encoding.PEM))
        meta = json.loads((self._dir / "pki.json").read_text())
        meta.setdefault("retired", {}).setdefault(role, []).append(kept)
        meta["keys"][role] = ref
        tmp = self._dir / f"{role}.pem.new"
        tmp.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        tmp.replace(self._dir / f"{role}.pem")
        (self._dir / "pki.json.new").write_text(json.dumps(meta, indent=2))
        (self._dir / "pki.json.new").replace(self._dir / "pki.json")
        self._refs[role] = ref
        self._certs[role] = cert
        self._retired.setdefault(role, []).append(old)
        return cert

    def issue_service_certificate(
        self, public_key: Any, common_name: str, *, usage: ObjectIdentifier
    ) -> x509.Certificate:
        """A certificate of the seal-issuing CA for one of the platform's own service keys
        (the registry feed's, :mod:`keystore.feed_key`), with ``usage`` as its critical EKU."""
        now = self._clock() - timedelta(minutes=5)
        issuing = self.issuing
        name = x509.Name(
            [
                x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, self._organisation),
                x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            ]
        )
        return (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(issuing.subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now)
            .not_valid_after(
                min(now + timedelta(days=365 * self.SERVICE_YEARS), issuing.not_valid_after_utc)
            )
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_leaf_usage(non_repudiation=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
            .add_extension(_aki(issuing), critical=False)
            .sign(self._store.private_key_for_pki(self._refs["issuing"]), hashes.SHA256())
        )

    # -- the registration authority's seal (a platform seal) ------------------------------

    #: a certificate of the authority's seal this close to its end is replaced at start-up
    AUTHORITY_RENEW_BEFORE = timedelta(days=90)

    def ensure_authority(self, name: str) -> bool:
        """Make the registration authority's seal if it is missing, names another authority
        or ends within :attr:`AUTHORITY_RENEW_BEFORE`; True if a new one was made.

        The seal is a key in the PKI's scope and a certificate of the seal-issuing CA,
        ``C=CN, O=<name>, title=登记机关, CN=<name>``, with no USCC: it seals what the platform
        issues in the authority's name (the license PDF), never a document of an enterprise.
        A replaced certificate is kept as ``authority-{serial}.pem`` and listed in
        ``pki.json`` (as :meth:`rotate` keeps a service's), so OCSP keeps answering "good" for
        it and what it sealed stays verifiable.  What ``eseal init`` and every start-up call:
        an existing data dir gets the seal at its next start.  An exclusive lock on
        ``pki.lock`` keeps two processes starting at once from making two.
        """
        if not name.strip():
            raise KeystoreError(
                "the registration authority needs a name", code="authority_name_missing"
            )
        with _exclusive_lock(self._dir / "pki.lock"):
            self.load()
            current = self._certs.get(AUTHORITY)
            now = self._clock()
            if (
                current is not None
                and _organisation_of(current) == name
                and current.not_valid_after_utc - now > self.AUTHORITY_RENEW_BEFORE
            ):
                return False
            self._issue_authority(name, current, now)
            return True

    def _issue_authority(
        self, name: str, old: x509.Certificate | None, now: datetime
    ) -> x509.Certificate:
        start = now - timedelta(minutes=5)
        ref = self._store.generate(SCOPE, f"{AUTHORITY}-{secrets.token_hex(6)}", self._algorithm)
        pub = self._store.private_key_for_pki(ref).public_key()
        issuing = self.issuing
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
                _utf8_attribute(NameOID.ORGANIZATION_NAME, name),
                _utf8_attribute(NameOID.TITLE, AUTHORITY_TITLE),
                _utf8_attribute(NameOID.COMMON_NAME, name),
            ]
        )
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuing.subject)
            .public_key(pub)
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(
                min(start + timedelta(days=365 * self.SERVICE_YEARS), issuing.not_valid_after_utc)
            )
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_leaf_usage(non_repudiation=True), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(pub), critical=False)
            .add_extension(_aki(issuing), critical=False)
            .add_extension(self._aia(), critical=False)
            .add_extension(self._crl_dp("issuing"), critical=False)
            .sign(self._store.private_key_for_pki(self._refs["issuing"]), hashes.SHA256())
        )
        meta = json.loads((self._dir / "pki.json").read_text())
        if old is not None:
            kept = f"{AUTHORITY}-{old.serial_number:x}.pem"
            (self._dir / kept).write_bytes(old.public_bytes(serialization.Encoding.PEM))
            meta.setdefault("retired", {}).setdefault(AUTHORITY, []).append(kept)
            self._retired.setdefault(AUTHORITY, []).append(old)
        tmp = self._dir / f"{AUTHORITY}.pem.new"
        tmp.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        tmp.replace(self._dir / f"{AUTHORITY}.pem")
        meta["keys"][AUTHORITY] = ref
        (self._dir / "pki.json.new").write_text(json.dumps(meta, indent=2))
        (self._dir / "pki.json.new").replace(self._dir / "pki.json")
        self._refs[AUTHORITY] = ref
        self._certs[AUTHORITY] = cert
        return cert

    def authority_certificate(self) -> x509.Certificate:
        """The current certificate of the registration authority's seal."""
        found = self._certs.get(AUTHORITY)
        if found is None:
            raise KeystoreError(
                "the registration authority has no seal yet: restart the server or run "
                "'eseal init'",
                code="authority_seal_missing",
            )
        return found

    def authority_certificates(self) -> list[x509.Certificate]:
        """Every certificate the authority's seal has had, current first: what a verifier
        recognises as the authority's."""
        current = [self._certs[AUTHORITY]] if AUTHORITY in self._certs else []
        return current + list(reversed(self._retired.get(AUTHORITY, [])))

    def authority_signer(self) -> Signer:
        """A signer of the authority's seal, with the seal CA and the root as its chain."""
        cert = self.authority_certificate()
        return LoadedKeySigner(
            self._store.private_key_for_pki(self._refs[AUTHORITY]), _to_asn1(cert), self.chain()
        )

    # -- revocation -----------------------------------------------------------------------

    def crl(self, revoked: Iterable[RevokedCert], *, ca: str = "issuing") -> bytes:
        """A DER CRL of ``ca`` ("issuing" for seal and service certificates, "root" for CAs)."""
        now = self._clock()
        issuer = self._certs[ca]
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(issuer.subject)
            .last_update(now)
            .next_update(now + self.CRL_VALIDITY)
            .add_extension(x509.CRLNumber(int(now.timestamp() * 1000)), critical=False)
            .add_extension(_aki(issuer), critical=False)
        )
        for entry in revoked:
            rb = (
                x509.RevokedCertificateBuilder()
                .serial_number(entry.serial)
                .revocation_date(entry.revoked_at)
            )
            if entry.reason is not None:
                rb = rb.add_extension(x509.CRLReason(entry.reason), critical=False)
            if entry.invalidity_date is not None:
                rb = rb.add_extension(x509.InvalidityDate(entry.invalidity_date), critical=False)
            builder = builder.add_revoked_certificate(rb.build())
        key = self._store.private_key_for_pki(self._refs[ca])
        return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)

    def ocsp_response(
        self, request_der: bytes, lookup: StatusLookup, *, by_ca: bool = False
    ) -> bytes:
        """Answer an RFC 6960 request about a certificate of the seal-issuing CA.

        Malformed requests get a ``malformedRequest`` response; a serial the CA never issued
        is ``unknown``; certificates of another issuer get ``unauthorized``.  ``by_ca``: signed
        by the seal-issuing CA itself (RFC 6960 4.2.2.2) instead of the responder certificate,
        for validation data embedded long after a responder rotation (see signer/extension.py).
        """
        from cryptography.x509 import ocsp

        try:
            request = ocsp.load_der_ocsp_request(request_der)
        except Exception:
            return ocsp.OCSPResponseBuilder.build_unsuccessful(
                ocsp.OCSPResponseStatus.MALFORMED_REQUEST
            ).public_bytes(serialization.Encoding.DER)
        issuer = self.issuing
        algorithm = request.hash_algorithm
        expected_name_hash, expected_key_hash = _issuer_hashes(issuer, algorithm)
        if (request.issuer_name_hash, request.issuer_key_hash) != (
            expected_name_hash,
            expected_key_hash,
        ):
            return ocsp.OCSPResponseBuilder.build_unsuccessful(
                ocsp.OCSPResponseStatus.UNAUTHORIZED
            ).public_bytes(serialization.Encoding.DER)
        serial = request.serial_number
        status = CertStatus() if serial in self.internal_serials() else lookup(serial)
        now = self._clock()
        if status is None:
            cert_status, rev_time, rev_reason = ocsp.OCSPCertStatus.UNKNOWN, None, None
        elif status.revoked_at is not None:
            cert_status, rev_time, rev_reason = (
                ocsp.OCSPCertStatus.REVOKED,
                status.revoked_at,
                status.reason,
            )
        else:
            cert_status, rev_time, rev_reason = ocsp.OCSPCertStatus.GOOD, None, None
        responder = self._certs["issuing" if by_ca else "ocsp"]
        builder = (
            ocsp.OCSPResponseBuilder()
            .add_response_by_hash(
                issuer_name_hash=request.issuer_name_hash,
                issuer_key_hash=request.issuer_key_hash,
                serial_number=serial,
                algorithm=algorithm,
                cert_status=cert_status,
                this_update=now,
                next_update=now + self.OCSP_VALIDITY,
                revocation_time=rev_time,
                revocation_reason=rev_reason,
            )
            .responder_id(ocsp.OCSPResponderEncoding.HASH, responder)
            .certificates([responder])
        )
        for ext in request.extensions:
            if isinstance(ext.value, x509.OCSPNonce):
                builder = builder.add_extension(ext.value, critical=False)
        key = self._store.private_key_for_pki(self._refs["issuing" if by_ca else "ocsp"])
        return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)

    # -- URLs -----------------------------------------------------------------------------

    def _aia(self) -> x509.AuthorityInformationAccess:
        return x509.AuthorityInformationAccess(
            [
                x509.AccessDescription(
                    x509.AuthorityInformationAccessOID.OCSP,
                    x509.UniformResourceIdentifier(f"{self.public_url}/v1/pki/ocsp"),
                ),
                x509.AccessDescription(
                    x509.AuthorityInformationAccessOID.CA_ISSUERS,
                    x509.UniformResourceIdentifier(f"{self.public_url}/v1/pki/issuing-ca.cer"),
                ),
            ]
        )

    def _crl_dp(self, ca: str) -> x509.CRLDistributionPoints:
        path = "/v1/pki/crl" if ca == "issuing" else "/v1/pki/root-crl"
        return x509.CRLDistributionPoints(
            [
                x509.DistributionPoint(
                    full_name=[x509.UniformResourceIdentifier(f"{self.public_url}{path}")],
                    relative_name=None,
                    reasons=None,
                    crl_issuer=None,
                )
            ]
        )


@contextmanager
def _exclusive_lock(path: Path) -> Iterator[None]:
    """One writer at a time over the PKI's directory, across processes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _organisation_of(cert: x509.Certificate) -> str | None:
    found = cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    return str(found[0].value) if found else None


def _load_retired(directory: Path) -> dict[str, list[x509.Certificate]]:
    """Retired service certificates named in ``pki.json`` (see :meth:`InternalPki.rotate`)."""
    names = json.loads((directory / "pki.json").read_text()).get("retired", {})
    return {
        role: [x509.load_pem_x509_certificate((directory / n).read_bytes()) for n in files]
        for role, files in names.items()
    }


def _ca_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )


def _leaf_usage(*, non_repudiation: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=non_repudiation,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


def _aki(issuer: x509.Certificate) -> x509.AuthorityKeyIdentifier:
    ski = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)


def _utf8_string(text: str) -> bytes:
    from asn1crypto.core import UTF8String

    return bytes(UTF8String(text).dump())


def _issuer_hashes(
    issuer: x509.Certificate, algorithm: hashes.HashAlgorithm
) -> tuple[bytes, bytes]:
    name_hash = hashes.Hash(algorithm)
    name_hash.update(issuer.subject.public_bytes())
    spki = asn1_keys.PublicKeyInfo.load(
        issuer.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    key_hash = hashes.Hash(algorithm)
    key_hash.update(spki["public_key"].contents[1:])  # the BIT STRING value
    return name_hash.finalize(), key_hash.finalize()
