"""The SM2 PKI beside the ECDSA/RSA one: root CA → SM2 seal CA → seal, TSA and OCSP certificates.

Same hierarchy and profile as :mod:`keystore.pki` (DESIGN.md 1 and 6), with SM2 keys
(SPKI ``id-ecPublicKey`` + curve ``1.2.156.10197.1.301``) and every certificate and CRL signed
SM2-with-SM3 (``1.2.156.10197.1.501``, no parameters, DER ``(r, s)`` over DER(tbs) with the
default user id).  ``cryptography`` cannot sign with SM2, so the structures are built with
asn1crypto and signed by the store's :class:`keystore.sm2.Sm2Signer`.

Keys live in the soft store, scope ``pki-sm2`` (encrypted at rest like the others); the
certificates are PEM files in the directory given (``root.pem``, ``issuing.pem``, ``tsa.pem``,
``ocsp.pem``, ``maker.pem``) with ``sm2-pki.json`` naming the keys; in a data dir that directory
is ``pki/sm2`` (:data:`SUBDIR`), made by ``eseal init`` or, for older data dirs, at start-up
(:meth:`Sm2Pki.ensure`).

Besides the TSA and the OCSP responder, the seal CA certifies the platform's **seal maker**
(制章者, GB/T 38540 / GM/T 0031): the key that signs every ``SESeal`` the platform makes
(:meth:`Sm2Pki.seal_maker`).  The three service certificates are rotated
(:meth:`Sm2Pki.rotate`) as the international ones are (:meth:`keystore.pki.InternalPki.rotate`);
a rotated certificate stays on disk and in :meth:`Sm2Pki.retired`, and the OCSP responder keeps
calling it good, so what it signed stays verifiable.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import secrets
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from asn1crypto import core as asn1_core
from asn1crypto import crl as asn1_crl
from asn1crypto import keys as asn1_keys
from asn1crypto import pem as asn1_pem
from asn1crypto import x509 as asn1_x509

from . import sm2
from .asn1_shared import fully_parsed
from .base import KeyAlgorithm
from .errors import KeystoreError
from .masterkey import fsync_dir
from .pki import OID_USCC, RevokedCert, SealSubject
from .soft import SoftKeyStore

__all__ = [
    "REASON_NAMES",
    "ROTATED_ROLES",
    "SCOPE",
    "SUBDIR",
    "SealMaker",
    "Sm2Pki",
    "check_certificate_key",
    "seal_subject_name",
    "verify_certificate_signature",
    "verify_crl_signature",
]

SCOPE = "pki-sm2"
#: where the SM2 PKI lives inside the PKI directory of a data dir
SUBDIR = "sm2"
ROLES = ("root", "issuing", "tsa", "ocsp", "maker")
#: the service certificates the seal CA issues to the PKI itself; each may be rotated
ROTATED_ROLES = ("tsa", "ocsp", "maker")
#: what a data dir made before the seal maker existed holds (:meth:`Sm2Pki.ensure` adds it)
_REQUIRED_ROLES = ("root", "issuing", "tsa", "ocsp")
Clock = Callable[[], datetime]

_SM2_WITH_SM3 = {"algorithm": sm2.NAME_SM2_WITH_SM3}


def _utcnow() -> datetime:
    return datetime.now(UTC)


# -- names ---------------------------------------------------------------------------------


def _attribute(kind: str, value: str) -> asn1_x509.RelativeDistinguishedName:
    if kind == "country_name":
        typed: asn1_core.Asn1Value = asn1_core.PrintableString(value)
    else:
        if not 1 <= len(value) <= 64:  # X.520 counts characters (see keystore.pki)
            raise KeystoreError(
                f"name attribute of {len(value)} characters; at most 64 fit", code="name_too_long"
            )
        typed = asn1_x509.DirectoryString(name="utf8_string", value=value)
    return asn1_x509.RelativeDistinguishedName(
        [asn1_x509.NameTypeAndValue({"type": kind, "value": typed})]
    )


def _name(*attributes: tuple[str, str]) -> asn1_x509.Name:
    return asn1_x509.Name(
        name="", value=asn1_x509.RDNSequence([_attribute(k, v) for k, v in attributes])
    )


def seal_subject_name(subject: SealSubject) -> asn1_x509.Name:
    """``C=CN, O, OU=USCC, title, CN, organizationIdentifier=NTRCN-USCC`` (DESIGN.md 1)."""
    cn = subject.person if subject.person else f"{subject.enterprise_name}·{subject.title}"
    return _name(
        ("country_name", "CN"),
        ("organization_name", subject.enterprise_name),
        ("organizational_unit_name", subject.uscc),
        ("title", subject.title),
        ("common_name", cn),
        ("organization_identifier", f"NTRCN-{subject.uscc}"),
    )


# -- extensions ----------------------------------------------------------------------------


def _ext(extn_id: str, value: Any, *, critical: bool) -> asn1_x509.Extension:
    return asn1_x509.Extension({"extn_id": extn_id, "critical": critical, "extn_value": value})


def _crl_ext(extn_id: str, value: Any) -> asn1_crl.TBSCertListExtension:
    return asn1_crl.TBSCertListExtension(
        {"extn_id": extn_id, "critical": False, "extn_value": value}
    )


def _entry_ext(extn_id: str, value: Any) -> asn1_crl.CRLEntryExtension:
    return asn1_crl.CRLEntryExtension({"extn_id": extn_id, "critical": False, "extn_value": value})


def _key_id(spki: asn1_keys.PublicKeyInfo) -> bytes:
    # RFC 5280 4.2.1.2 method (1), as cryptography's SubjectKeyIdentifier.from_public_key
    return hashlib.sha1(bytes(spki["public_key"]), usedforsecurity=False).digest()


def _key_usage(*bits: str) -> asn1_x509.KeyUsage:
    return asn1_x509.KeyUsage(set(bits))


def _ca_usage() -> asn1_x509.KeyUsage:
    return _key_usage("digital_signature", "key_cert_sign", "crl_sign")


def _time(when: datetime) -> asn1_x509.Time:
    when = when.astimezone(UTC).replace(microsecond=0)
    kind = "utc_time" if when.year < 2050 else "general_time"
    return asn1_x509.Time(name=kind, value=when)


# -- signatures ----------------------------------------------------------------------------


def _issuer_key(issuer: asn1_x509.Certificate) -> sm2.Sm2PublicKey:
    return sm2.Sm2PublicKey.from_spki(issuer["tbs_certificate"]["subject_public_key_info"])


def _check_sm2_with_sm3(algorithm: Any) -> None:
    if algorithm["algorithm"].dotted != sm2.OID_SM2_WITH_SM3:
        raise sm2.Sm2Error(
            f"signed with {algorithm['algorithm'].native} by an SM2 key; SM2 signs with SM3 "
            f"({sm2.OID_SM2_WITH_SM3})",
            code="sm2_digest_not_sm3",
        )


def verify_certificate_signature(
    cert: asn1_x509.Certificate, issuer: asn1_x509.Certificate
) -> None:
    """Raise :class:`keystore.sm2.Sm2Error` unless ``issuer``'s SM2 key signed ``cert``."""
    _check_sm2_with_sm3(cert["signature_algorithm"])
    _check_sm2_with_sm3(cert["tbs_certificate"]["signature"])
    _issuer_key(issuer).verify(bytes(cert["signature_value"]), cert["tbs_certificate"].dump())


def verify_crl_signature(crl: asn1_crl.CertificateList, issuer: asn1_x509.Certificate) -> None:
    """Raise :class:`keystore.sm2.Sm2Error` unless ``issuer``'s SM2 key signed ``crl``."""
    _check_sm2_with_sm3(crl["signature_algorithm"])
    _issuer_key(issuer).verify(bytes(crl["signature"]), crl["tbs_cert_list"].dump())


def check_certificate_key(cert: asn1_x509.Certificate, public_key: sm2.Sm2PublicKey) -> None:
    """Raise ``certificate_key_mismatch`` unless ``cert`` certifies ``public_key``."""
    certified = cert["tbs_certificate"]["subject_public_key_info"]
    if not sm2.is_sm2_spki(certified) or sm2.Sm2PublicKey.from_spki(certified) != public_key:
        raise sm2.Sm2Error(
            "the certificate does not certify this SM2 key", code="certificate_key_mismatch"
        )


def _signed_certificate(
    tbs: asn1_x509.TbsCertificate, signer: sm2.Sm2Signer
) -> asn1_x509.Certificate:
    der = asn1_x509.Certificate(
        {
            "tbs_certificate": tbs,
            "signature_algorithm": _SM2_WITH_SM3,
            "signature_value": signer.sign(tbs.dump()),
        }
    ).dump()
    # loaded back from DER: shared between threads, so parsed before it is published
    return fully_parsed(asn1_x509.Certificate.load(der))


def _pem(cert: asn1_x509.Certificate) -> bytes:
    return bytes(asn1_pem.armor("CERTIFICATE", cert.dump()))


def _write_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` all at once, durably (file and directory synced)."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    with open(tmp, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    tmp.replace(path)
    fsync_dir(path.parent)


@contextmanager
def _exclusive_lock(path: Path) -> Iterator[None]:
    with open(path, "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _load_pem(data: bytes) -> asn1_x509.Certificate:
    _, _, der = asn1_pem.unarmor(data)
    return fully_parsed(asn1_x509.Certificate.load(der))


#: RFC 5280 reason names (cryptography's ReasonFlags values) as asn1crypto spells them
REASON_NAMES = {
    "unspecified": "unspecified",
    "keyCompromise": "key_compromise",
    "cACompromise": "ca_compromise",
    "affiliationChanged": "affiliation_changed",
    "superseded": "superseded",
    "cessationOfOperation": "cessation_of_operation",
    "certificateHold": "certificate_hold",
    "removeFromCRL": "remove_from_crl",
    "privilegeWithdrawn": "privilege_withdrawn",
    "aACompromise": "aa_compromise",
}


@dataclass(frozen=True)
class SealMaker:
    """The platform's seal maker (制章者): who signs the GB/T 38540 ``SESeal`` of every seal.

    ``signer`` signs SM2-with-SM3 with the default user id (``SESeal.signedValue`` over
    DER(``SES_SealInfo``)); the key stays in the store.  ``certificate`` is what goes into
    ``SESeal.cert``; ``chain`` (seal CA, then root) is what a verifier needs to trust it.
    """

    signer: sm2.Sm2Signer
    certificate: asn1_x509.Certificate
    chain: list[asn1_x509.Certificate]


class Sm2Pki:
    """Creates (once) and operates the SM2 CA hierarchy; see the module docstring."""

    ROOT_YEARS = 20
    ISSUING_YEARS = 10
    SERVICE_YEARS = 5
    CRL_VALIDITY = timedelta(days=7)

    def __init__(
        self,
        store: SoftKeyStore,
        directory: Path,
        public_url: str,
        *,
        organisation: str = "eseal",
        clock: Clock = _utcnow,
    ) -> None:
        self._store = store
        self._dir = directory
        self.public_url = public_url.rstrip("/")
        self._organisation = organisation
        self._clock = clock
        self._certs: dict[str, asn1_x509.Certificate] = {}
        self._refs: dict[str, str] = {}
        self._retired: dict[str, list[asn1_x509.Certificate]] = {}

    # -- set-up ---------------------------------------------------------------------------

    @property
    def exists(self) -> bool:
        return (self._dir / "sm2-pki.json").exists()

    def create(self) -> None:
        """Generate the SM2 keys and certificates of :data:`ROLES`. Refuses if the SM2 PKI
        exists."""
        if self.exists:
            raise KeystoreError("the SM2 PKI exists already", code="pki_exists")
        now = self._clock() - timedelta(minutes=5)
        self._refs = {role: self._store.generate(SCOPE, role, KeyAlgorithm.SM2) for role in ROLES}
        org = self._organisation

        def name(cn: str) -> asn1_x509.Name:
            return _name(("country_name", "CN"), ("organization_name", org), ("common_name", cn))

        root_name = name(f"{org} SM2 Root CA")
        root = self._issue(
            role_key="root",
            subject=root_name,
            issuer=None,
            signer_role="root",
            not_before=now,
            not_after=now + timedelta(days=365 * self.ROOT_YEARS),
            extensions=[
                _ext("basic_constraints", {"ca": True, "path_len_constraint": 1}, critical=True),
                _ext("key_usage", _ca_usage(), critical=True),
            ],
        )
        issuing = self._issue(
            role_key="issuing",
            subject=name(f"{org} SM2 Seal CA"),
            issuer=root,
            signer_role="root",
            not_before=now,
            not_after=now + timedelta(days=365 * self.ISSUING_YEARS),
            extensions=[
                _ext("basic_constraints", {"ca": True, "path_len_constraint": 0}, critical=True),
                _ext("key_usage", _ca_usage(), critical=True),
                self._crl_dp("root"),
            ],
        )
        self._certs = {"root": root, "issuing": issuing}
        for role in ROTATED_ROLES:
            self._certs[role] = self._service_certificate(role, self._service_name(role), now)
        self._dir.mkdir(parents=True, exist_ok=True)
        for role in ROLES:
            _write_atomic(self._dir / f"{role}.pem", _pem(self._certs[role]))
        # written last: its presence is what "the SM2 PKI exists" means (see ensure)
        _write_atomic(
            self._dir / "sm2-pki.json", json.dumps({"keys": self._refs}, indent=2).encode()
        )

    def ensure(self) -> bool:
        """Load the SM2 PKI, creating it first when this directory has none; True if created.

        What ``eseal init`` and every start-up call: a data dir made before the SM2 PKI existed
        gets it on its next start.  Safe to run from several processes at once (an exclusive
        lock on ``sm2-pki.lock`` in the directory; the second one finds and loads the first
        one's PKI) and after a crash at any point: ``sm2-pki.json`` is written last and
        atomically, so without it nothing was published, and the keys of the interrupted run
        (scope ``pki-sm2``, certified by nothing anyone holds) are removed and made anew.

        A PKI made before the seal maker existed gets its seal maker here too (see
        :meth:`_add_seal_maker`), and the ``{role}.pem`` copies are brought up to date after a
        rotation that was interrupted once its manifest was written (:meth:`rotate`).
        """
        self._dir.mkdir(parents=True, exist_ok=True)
        with self._locked():
            if self.exists:
                self.load()
                if "maker" not in self._refs:
                    self._add_seal_maker()
                self._refresh_role_files()
                return False
            self._store.delete_scope(SCOPE)
            self.create()
            return True

    def load(self) -> None:
        """Read the manifest and the certificates; a data dir from before the seal maker loads
        without it (:meth:`ensure` adds it)."""
        try:
            manifest = self._manifest()
            self._refs = dict(manifest["keys"])
            files: dict[str, str] = manifest.get("certs", {})
            self._certs = {
                role: _load_pem((self._dir / files.get(role, f"{role}.pem")).read_bytes())
                for role in ROLES
                if role in _REQUIRED_ROLES or role in self._refs
            }
            self._retired = {
                role: [_load_pem((self._dir / name).read_bytes()) for name in names]
                for role, names in manifest.get("retired", {}).items()
            }
        except FileNotFoundError:
            raise KeystoreError(
                "no SM2 PKI here: run 'eseal init' first", code="pki_missing"
            ) from None
        # opening the CA key proves the master key is right before anything is served
        self._store.sm2_signer(self._refs["issuing"])

    # -- certificates ---------------------------------------------------------------------

    def now(self) -> datetime:
        """The time of this PKI's clock: the OCSP responder and the TSA date answers by it."""
        return self._clock()

    def certificate(self, role: str) -> asn1_x509.Certificate:
        return self._certs[role]

    def chain(self) -> list[asn1_x509.Certificate]:
        """Seal CA then root."""
        return [self._certs["issuing"], self._certs["root"]]

    def chain_pem(self) -> str:
        return "".join(_pem(c).decode() for c in self.chain())

    def service_signer(self, role: str) -> sm2.Sm2Signer:
        """The SM2 signer of the TSA, the OCSP responder or the seal maker (``role`` "tsa",
        "ocsp", "maker"); the key stays in the store."""
        if role not in ROTATED_ROLES:
            raise KeystoreError(
                "only the TSA, the OCSP responder and the seal maker sign as a service",
                code="pki_role_invalid",
            )
        if role not in self._refs:
            raise KeystoreError(
                "this SM2 PKI has no seal maker yet: start eseal once to add it",
                code="seal_maker_missing",
            )
        return self._store.sm2_signer(self._refs[role])

    def issue_seal_certificate(
        self,
        public_key: asn1_keys.PublicKeyInfo,
        subject: SealSubject,
        *,
        not_before: datetime,
        not_after: datetime,
    ) -> asn1_x509.Certificate:
        """A seal certificate for an SM2 key, profile of DESIGN.md 1."""
        key = sm2.Sm2PublicKey.from_spki(public_key)  # refuses non-SM2 keys and bad points
        issuing = self._certs["issuing"]
        end = min(not_after, issuing["tbs_certificate"]["validity"]["not_after"].native)
        return self._issue(
            role_key=None,
            spki=key.spki(),
            subject=seal_subject_name(subject),
            issuer=issuing,
            signer_role="issuing",
            not_before=not_before,
            not_after=end,
            extensions=[
                _ext("basic_constraints", {"ca": False}, critical=True),
                _ext(
                    "key_usage", _key_usage("digital_signature", "non_repudiation"), critical=True
                ),
                self._aia(),
                self._crl_dp("issuing"),
                _ext(
                    OID_USCC.dotted_string,
                    asn1_core.UTF8String(subject.uscc).dump(),
                    critical=False,
                ),
            ],
        )

    def _issue(
        self,
        *,
        role_key: str | None,
        subject: asn1_x509.Name,
        issuer: asn1_x509.Certificate | None,
        signer_role: str,
        not_before: datetime,
        not_after: datetime,
        extensions: list[asn1_x509.Extension],
        spki: asn1_keys.PublicKeyInfo | None = None,
    ) -> asn1_x509.Certificate:
        if spki is None:
            assert role_key is not None
            spki = self._store.public_key(self._refs[role_key])
        ski = _ext("key_identifier", _key_id(spki), critical=False)
        issuer_name = subject if issuer is None else issuer.subject
        all_extensions = [*extensions, ski]
        if issuer is not None:
            issuer_ski = issuer.key_identifier
            all_extensions.append(
                _ext("authority_key_identifier", {"key_identifier": issuer_ski}, critical=False)
            )
        tbs = asn1_x509.TbsCertificate(
            {
                "version": "v3",
                # 159 random bits: positive, at most 20 octets (RFC 5280 4.1.2.2)
                "serial_number": secrets.randbits(159) | 1 << 158,
                "signature": _SM2_WITH_SM3,
                "issuer": issuer_name,
                "validity": {"not_before": _time(not_before), "not_after": _time(not_after)},
                "subject": subject,
                "subject_public_key_info": spki,
                "extensions": all_extensions,
            }
        )
        return _signed_certificate(tbs, self._store.sm2_signer(self._refs[signer_role]))

    # -- service certificates: the seal maker and rotation --------------------------------
    #
    # The seal CA certifies three services of the PKI itself: the TSA, the OCSP responder and
    # the seal maker (制章者).  The seal maker's certificate is issued by the SM2 seal CA, not
    # by the root: it is then covered by the seal CA's CRL and OCSP responder like every seal
    # certificate, and a relying party trusts it through the chain it imports anyway
    # (``eseal pki ca --algorithm sm2``).  Its key usage is digitalSignature and
    # nonRepudiation (critical), as for the seals: a SESeal is the platform's commitment that
    # this picture and these certificates make this seal; no extended key usage (GM/T 0031
    # defines none for a seal maker, and an EKU would only narrow what verifiers accept).

    def _locked(self) -> AbstractContextManager[None]:
        """One writer at a time over this directory, across processes."""
        return _exclusive_lock(self._dir / "sm2-pki.lock")

    def _manifest(self) -> dict[str, Any]:
        manifest: dict[str, Any] = json.loads((self._dir / "sm2-pki.json").read_text())
        return manifest

    def _service_name(self, role: str) -> asn1_x509.Name:
        org = self._organisation
        what = {"tsa": "SM2 TSA", "ocsp": "SM2 OCSP Responder", "maker": "SM2 Seal Maker"}[role]
        return _name(
            ("country_name", "CN"), ("organization_name", org), ("common_name", f"{org} {what}")
        )

    def _service_extensions(self, role: str) -> list[asn1_x509.Extension]:
        not_ca = _ext("basic_constraints", {"ca": False}, critical=True)
        if role == "tsa":
            return [
                not_ca,
                _ext("key_usage", _key_usage("digital_signature"), critical=True),
                _ext("extended_key_usage", ["time_stamping"], critical=True),
                self._aia(),
                self._crl_dp("issuing"),
            ]
        if role == "ocsp":
            return [
                not_ca,
                _ext("key_usage", _key_usage("digital_signature"), critical=True),
                _ext("extended_key_usage", ["ocsp_signing"], critical=False),
                _ext("ocsp_no_check", None, critical=False),
            ]
        return [  # the seal maker (see above)
            not_ca,
            _ext("key_usage", _key_usage("digital_signature", "non_repudiation"), critical=True),
            self._aia(),
            self._crl_dp("issuing"),
        ]

    def _service_certificate(
        self,
        role: str,
        subject: asn1_x509.Name,
        not_before: datetime,
        *,
        spki: asn1_keys.PublicKeyInfo | None = None,
    ) -> asn1_x509.Certificate:
        """A certificate of the seal CA for a service key (``spki``, else ``role``'s key)."""
        issuing = self._certs["issuing"]
        return self._issue(
            role_key=role if spki is None else None,
            spki=spki,
            subject=subject,
            issuer=issuing,
            signer_role="issuing",
            not_before=not_before,
            not_after=min(
                not_before + timedelta(days=365 * self.SERVICE_YEARS),
                issuing["tbs_certificate"]["validity"]["not_after"].native,
            ),
            extensions=self._service_extensions(role),
        )

    def seal_maker(self) -> SealMaker:
        """The seal maker's signer, certificate and chain (see :class:`SealMaker`)."""
        if "maker" not in self._certs:
            raise KeystoreError(
                "this SM2 PKI has no seal maker yet: start eseal once to add it",
                code="seal_maker_missing",
            )
        return SealMaker(self.service_signer("maker"), self._certs["maker"], self.chain())

    def retired(self, role: str) -> list[asn1_x509.Certificate]:
        """Earlier certificates of a service ("tsa", "ocsp", "maker"), oldest first."""
        return list(self._retired.get(role, []))

    def internal_serials(self) -> set[int]:
        """Serials of the certificates the seal CA made for the PKI itself, current and
        retired: the OCSP responder answers "good" for them (nothing revokes them)."""
        return {
            *(self._certs[role].serial_number for role in ROTATED_ROLES if role in self._certs),
            *(cert.serial_number for certs in self._retired.values() for cert in certs),
        }

    def ocsp_responder(self, *, by_ca: bool = False) -> tuple[asn1_x509.Certificate, sm2.Sm2Signer]:
        """Who signs OCSP answers (for :mod:`keystore.sm2_ocsp`): the responder certificate and
        its signer, or with ``by_ca`` the seal CA's (RFC 6960 4.2.2.2)."""
        role = "issuing" if by_ca else "ocsp"
        return self._certs[role], self._store.sm2_signer(self._refs[role])

    def rotate(self, role: str) -> asn1_x509.Certificate:
        """A new key and certificate for the TSA, the OCSP responder or the seal maker.

        As :meth:`keystore.pki.InternalPki.rotate`: done before the current certificate
        expires (it lives :attr:`SERVICE_YEARS`); the new one has the same subject.  The old
        certificate stays as ``{role}-{serial}.pem``, listed under ``retired`` in
        ``sm2-pki.json`` and in :meth:`retired`; the OCSP responder keeps answering "good" for
        it, so the tokens, OCSP answers and SESeals it signed stay verifiable; its key is no
        longer used.  Processes that serve must be restarted to pick up the new key.

        Crash-safe and one at a time across processes (the lock of :meth:`ensure`): the new
        key has a label of its own (``{role}-{n}``), its certificate goes to a file of its own,
        and the manifest, which names both, is written last and atomically; a run interrupted
        before it leaves the old state in force and its unreferenced key is replaced by the
        next run.  ``{role}.pem`` is rewritten after the manifest, as a copy (:meth:`ensure`
        repairs it if that step was interrupted).
        """
        if role not in ROTATED_ROLES:
            raise KeystoreError(
                "only the TSA, the OCSP responder and the seal maker are rotated",
                code="pki_role_invalid",
            )
        with self._locked():
            self.load()  # another process may have rotated since this one loaded
            if role not in self._refs:  # the seal maker of a PKI not yet upgraded
                return self._add_seal_maker()
            old = self._certs[role]
            generation = len(self._retired.get(role, [])) + 2
            ref = self._fresh_key(f"{role}-{generation}")
            cert = self._service_certificate(
                role,
                old.subject,
                self._clock() - timedelta(minutes=5),
                spki=self._store.public_key(ref),
            )
            self._commit_service(role, ref, cert, retiring=old)
        return cert

    def _add_seal_maker(self) -> asn1_x509.Certificate:
        """Make the seal maker of a PKI created before it existed (under the lock)."""
        ref = self._fresh_key("maker")
        cert = self._service_certificate(
            "maker",
            self._service_name("maker"),
            self._clock() - timedelta(minutes=5),
            spki=self._store.public_key(ref),
        )
        self._commit_service("maker", ref, cert, retiring=None)
        return cert

    def _fresh_key(self, label: str) -> str:
        """A new SM2 key labelled ``label``, replacing an unreferenced one of that label (what
        an interrupted run leaves: no certificate anyone holds names it)."""
        leftover = f"soft:{SCOPE}/{label}"
        if leftover in self._refs.values():
            raise KeystoreError(f"key {label!r} is in use", code="key_exists")
        self._store.delete(leftover)
        return self._store.generate(SCOPE, label, KeyAlgorithm.SM2)

    def _commit_service(
        self,
        role: str,
        ref: str,
        cert: asn1_x509.Certificate,
        *,
        retiring: asn1_x509.Certificate | None,
    ) -> None:
        """Publish ``cert`` (for the key ``ref``) as ``role``'s certificate; see :meth:`rotate`."""
        manifest = self._manifest()
        files: dict[str, str] = manifest.setdefault("certs", {})
        current = f"{role}-{cert.serial_number:x}.pem"
        _write_atomic(self._dir / current, _pem(cert))
        if retiring is not None:
            kept = f"{role}-{retiring.serial_number:x}.pem"
            if not (self._dir / kept).exists():  # the first rotation: the old one was {role}.pem
                _write_atomic(self._dir / kept, _pem(retiring))
            manifest.setdefault("retired", {}).setdefault(role, []).append(kept)
        manifest["keys"][role] = ref
        files[role] = current
        # the commit point: before it the old state is in force, after it the new one
        _write_atomic(self._dir / "sm2-pki.json", json.dumps(manifest, indent=2).encode())
        self._refs[role] = ref
        self._certs[role] = cert
        if retiring is not None:
            self._retired.setdefault(role, []).append(retiring)
        _write_atomic(self._dir / f"{role}.pem", _pem(cert))

    def _refresh_role_files(self) -> None:
        """Make each ``{role}.pem`` the certificate the manifest names (see :meth:`rotate`)."""
        for role in self._manifest().get("certs", {}):
            copy = self._dir / f"{role}.pem"
            data = _pem(self._certs[role])
            if not copy.exists() or copy.read_bytes() != data:
                _write_atomic(copy, data)

    # -- revocation -----------------------------------------------------------------------

    def crl(self, revoked: Iterable[RevokedCert], *, ca: str = "issuing") -> bytes:
        """A DER CRL of ``ca`` ("issuing" for seal and service certificates, "root" for the
        seal CA), signed SM2-with-SM3."""
        now = self._clock()
        issuer = self._certs[ca]
        entries = []
        for entry in revoked:
            entry_extensions = []
            if entry.reason is not None:
                entry_extensions.append(_entry_ext("crl_reason", REASON_NAMES[entry.reason.value]))
            if entry.invalidity_date is not None:
                entry_extensions.append(
                    _entry_ext(
                        "invalidity_date",
                        asn1_core.GeneralizedTime(
                            entry.invalidity_date.astimezone(UTC).replace(microsecond=0)
                        ),
                    )
                )
            revoked_entry: dict[str, Any] = {
                "user_certificate": entry.serial,
                "revocation_date": _time(entry.revoked_at),
            }
            if entry_extensions:
                revoked_entry["crl_entry_extensions"] = entry_extensions
            entries.append(revoked_entry)
        tbs: dict[str, Any] = {
            "version": "v2",
            "signature": _SM2_WITH_SM3,
            "issuer": issuer.subject,
            "this_update": _time(now),
            "next_update": _time(now + self.CRL_VALIDITY),
            "crl_extensions": [
                _crl_ext("crl_number", int(now.timestamp() * 1000)),
                _crl_ext("authority_key_identifier", {"key_identifier": issuer.key_identifier}),
            ],
        }
        if entries:
            tbs["revoked_certificates"] = entries
        tbs_list = asn1_crl.TbsCertList(tbs)
        signature = self._store.sm2_signer(self._refs[ca]).sign(tbs_list.dump())
        return bytes(
            asn1_crl.CertificateList(
                {
                    "tbs_cert_list": tbs_list,
                    "signature_algorithm": _SM2_WITH_SM3,
                    "signature": signature,
                }
            ).dump()
        )

    # -- URLs (the same paths as the ECDSA PKI, with ?algorithm=sm2) ---------------------

    def _aia(self) -> asn1_x509.Extension:
        base = self.public_url
        return _ext(
            "authority_information_access",
            [
                {
                    "access_method": "ocsp",
                    "access_location": asn1_x509.GeneralName(
                        "uniform_resource_identifier", f"{base}/v1/pki/ocsp?algorithm=sm2"
                    ),
                },
                {
                    "access_method": "ca_issuers",
                    "access_location": asn1_x509.GeneralName(
                        "uniform_resource_identifier", f"{base}/v1/pki/issuing-ca.cer?algorithm=sm2"
                    ),
                },
            ],
            critical=False,
        )

    def _crl_dp(self, ca: str) -> asn1_x509.Extension:
        path = "/v1/pki/crl" if ca == "issuing" else "/v1/pki/root-crl"
        url = f"{self.public_url}{path}?algorithm=sm2"
        return _ext(
            "crl_distribution_points",
            [
                {
                    "distribution_point": asn1_x509.DistributionPointName(
                        "full_name", [asn1_x509.GeneralName("uniform_resource_identifier", url)]
                    )
                },
            ],
            critical=False,
        )
