"""SM2 signatures with SM3 (GB/T 32918 / GM/T 0003, GM/T 0009): the one module that owns them.

What it does:

* registers the national OIDs with asn1crypto once, at import (:func:`register_oids`): the SM2
  curve ``1.2.156.10197.1.301`` (SPKI ``id-ecPublicKey`` + this curve), SM2-with-SM3
  ``1.2.156.10197.1.501``, SM3 ``1.2.156.10197.1.401``, SM2-1 ``1.2.156.10197.1.301.1``;
* makes SM2 key pairs, keeps them as PKCS#8 (for the soft store, which encrypts them at rest),
  signs and verifies.

A signature is over ``e = SM3(Z || M)``, where ``Z = SM3(ENTL || ID || a || b || xG || yG || xA
|| yA)`` and ``ID`` is the default user id ``1234567812345678`` (GM/T 0009); it is encoded as
DER ``SEQUENCE { r INTEGER, s INTEGER }``.  ``Z`` is computed here from public values (plain
arithmetic on bytes, nothing secret); key generation, the nonce and the point multiplications
happen in C, in GmSSL 3 through the ``gmssl-pyx`` binding, which draws the nonce from the
operating system's CSPRNG (``/dev/urandom``).  README, "National cryptography", says why this
binding and not the others.

Verification is strict (Bouncy Castle's habit): DER only, ``1 <= r, s < n``, the key's point on
the curve, the digest SM3.  Each failure has its own problem code; see :class:`Sm2Error`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import gmssl_pyx
from asn1crypto import algos as asn1_algos
from asn1crypto import core as asn1_core
from asn1crypto import keys as asn1_keys
from cryptography.hazmat.primitives import hashes

from .errors import ErrorKind, KeystoreError

__all__ = [
    "CURVE",
    "DEFAULT_USER_ID",
    "OID_SM2_CURVE",
    "OID_SM2_SIGN",
    "OID_SM2_WITH_SM3",
    "OID_SM3",
    "Sm2Error",
    "Sm2PrivateKey",
    "Sm2PublicKey",
    "Sm2Signer",
    "check_digest_is_sm3",
    "is_sm2_pkcs8",
    "is_sm2_spki",
    "parse_signature",
    "register_oids",
    "sm3",
]

#: GM/T 0009 default signer identity, used for Z unless a protocol says otherwise
DEFAULT_USER_ID = b"1234567812345678"

OID_SM2_CURVE = "1.2.156.10197.1.301"
OID_SM2_SIGN = "1.2.156.10197.1.301.1"  # SM2-1 signature (GB/T 35275 CMS)
OID_SM2_WITH_SM3 = "1.2.156.10197.1.501"
OID_SM3 = "1.2.156.10197.1.401"

#: asn1crypto names for the OIDs above
NAME_CURVE = "sm2p256v1"
NAME_SM2_WITH_SM3 = "sm2_sm3"
NAME_SM2_SIGN = "sm2"
NAME_SM3 = "sm3"


@dataclass(frozen=True)
class _Curve:
    """The SM2 recommended curve (GB/T 32918.5): y^2 = x^3 + ax + b over GF(p)."""

    p: int
    a: int
    b: int
    n: int
    gx: int
    gy: int

    def contains(self, x: int, y: int) -> bool:
        return (
            0 <= x < self.p
            and 0 <= y < self.p
            and (y * y - (x * x * x + self.a * x + self.b)) % self.p == 0
        )


CURVE = _Curve(
    p=0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFF,
    a=0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC,
    b=0x28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93,
    n=0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123,
    gx=0x32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7,
    gy=0xBC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0,
)


class Sm2Error(KeystoreError):
    """Bad SM2 input; ``code`` says which check failed.

    ``sm2_signature_invalid`` (does not verify under the user id, by default
    ``1234567812345678``: a signature made with another user id ends here),
    ``sm2_signature_malformed`` (not DER ``(r, s)`` or out of range),
    ``sm2_point_not_on_curve``, ``sm2_key_invalid`` (not an SM2 key at all, or a bad encoding),
    ``sm2_digest_not_sm3`` (an SM2 key asked to pair with another digest),
    ``sm2_user_id_invalid``, ``certificate_key_mismatch``.
    """

    code = "sm2_signature_invalid"
    kind = ErrorKind.INVALID
    title = "SM2 check failed"


# -- OIDs ----------------------------------------------------------------------------------

_registered = False
_register_lock = threading.Lock()


def _add(cls: type[asn1_core.ObjectIdentifier], oid: str, name: str) -> None:
    mapping = cls._map
    if mapping.get(oid, name) != name:
        raise RuntimeError(f"OID {oid} is registered as {mapping[oid]!r} already")
    mapping[oid] = name
    reverse = getattr(cls, "_reverse_map", None)
    if reverse is not None:
        reverse[name] = oid


def register_oids() -> None:
    """Teach asn1crypto the national OIDs (idempotent; done at import of this module).

    asn1crypto keeps one table per OID type, shared by every importer: pyHanko and
    pyhanko-certvalidator see the same names (``sm3``, ``sm2_sm3``, curve ``sm2p256v1``).
    """
    global _registered
    with _register_lock:
        if _registered:
            return
        asn1_keys.NamedCurve.register(NAME_CURVE, OID_SM2_CURVE, 32)
        _add(asn1_algos.DigestAlgorithmId, OID_SM3, NAME_SM3)
        _add(asn1_algos.SignedDigestAlgorithmId, OID_SM2_WITH_SM3, NAME_SM2_WITH_SM3)
        _add(asn1_algos.SignedDigestAlgorithmId, OID_SM2_SIGN, NAME_SM2_SIGN)
        _teach_signed_digest_algorithm()
        _registered = True


#: what asn1crypto's ``SignedDigestAlgorithm.signature_algo`` / ``hash_algo`` answer for the
#: national mechanisms; SM2-1 (GB/T 35275) names no digest, its CMS digestAlgorithm does
_SIGNATURE_ALGO = {NAME_SM2_WITH_SM3: NAME_SM2_SIGN, NAME_SM2_SIGN: NAME_SM2_SIGN}
_HASH_ALGO = {NAME_SM2_WITH_SM3: NAME_SM3}


def _teach_signed_digest_algorithm() -> None:
    """asn1crypto keeps the mechanism → (signature, digest) tables inside the two properties,
    so they are wrapped (once): ``sm2_sm3`` is signature ``sm2`` with digest ``sm3``.

    pyHanko and pyhanko-certvalidator read these properties to pick the digest of a signer
    (``sm3`` for an SM2 signer), to check that a SignerInfo's digestAlgorithm matches its
    signatureAlgorithm, and to apply their algorithm policies; every other name is answered
    by asn1crypto as before.
    """
    cls = asn1_algos.SignedDigestAlgorithm
    original_signature_algo = cls.signature_algo
    original_hash_algo = cls.hash_algo

    def signature_algo(self: asn1_algos.SignedDigestAlgorithm) -> str:
        name = self["algorithm"].native
        if name in _SIGNATURE_ALGO:
            return _SIGNATURE_ALGO[name]
        return str(original_signature_algo.fget(self))

    def hash_algo(self: asn1_algos.SignedDigestAlgorithm) -> str:
        name = self["algorithm"].native
        if name in _HASH_ALGO:
            return _HASH_ALGO[name]
        return str(original_hash_algo.fget(self))

    cls.signature_algo = property(signature_algo, doc=original_signature_algo.__doc__)
    cls.hash_algo = property(hash_algo, doc=original_hash_algo.__doc__)


register_oids()


# -- SM3 and Z -----------------------------------------------------------------------------


def sm3(*parts: bytes) -> bytes:
    """SM3 of the concatenated ``parts`` (OpenSSL's, through ``cryptography``)."""
    digest = hashes.Hash(hashes.SM3())
    for part in parts:
        digest.update(part)
    return digest.finalize()


def _b32(value: int) -> bytes:
    return value.to_bytes(32, "big")


def _check_user_id(user_id: bytes) -> None:
    # ENTL is two bytes counting bits: at most 8191 bytes of id
    if not isinstance(user_id, bytes) or len(user_id) > 0x1FFF:
        raise Sm2Error(
            "the SM2 user id must be bytes of at most 8191 bytes", code="sm2_user_id_invalid"
        )


def check_digest_is_sm3(digest_algorithm: str) -> None:
    """SM2 keys sign SM3 digests only; anything else is refused with its own code."""
    if digest_algorithm.lower().replace("-", "") != NAME_SM3:
        raise Sm2Error(
            f"an SM2 key signs with SM3, not {digest_algorithm}", code="sm2_digest_not_sm3"
        )


# -- keys ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sm2PublicKey:
    """A point on the SM2 curve (checked when made)."""

    x: int
    y: int

    def __post_init__(self) -> None:
        if not CURVE.contains(self.x, self.y):
            raise Sm2Error(
                "the SM2 public key is not a point on the SM2 curve", code="sm2_point_not_on_curve"
            )

    # construction

    @classmethod
    def from_point(cls, point: bytes) -> Sm2PublicKey:
        """From an uncompressed point ``04 || x || y``."""
        if len(point) != 65 or point[0] != 4:
            raise Sm2Error(
                "an SM2 public key is an uncompressed point of 65 bytes", code="sm2_key_invalid"
            )
        return cls(int.from_bytes(point[1:33], "big"), int.from_bytes(point[33:], "big"))

    @classmethod
    def from_spki(cls, spki: asn1_keys.PublicKeyInfo | bytes) -> Sm2PublicKey:
        """From a SubjectPublicKeyInfo (``id-ecPublicKey`` + the SM2 curve)."""
        try:
            info = (
                spki
                if isinstance(spki, asn1_keys.PublicKeyInfo)
                else asn1_keys.PublicKeyInfo.load(spki, strict=True)
            )
            algorithm = info["algorithm"]
            is_sm2 = (
                algorithm["algorithm"].dotted == "1.2.840.10045.2.1"
                and algorithm["parameters"].name == "named"
                and algorithm["parameters"].chosen.dotted == OID_SM2_CURVE
            )
            point = bytes(info["public_key"])
        except (ValueError, TypeError, KeyError) as exc:
            raise Sm2Error("not a readable SubjectPublicKeyInfo", code="sm2_key_invalid") from exc
        if not is_sm2:
            raise Sm2Error(
                f"the key is not an SM2 key (id-ecPublicKey with curve {OID_SM2_CURVE})",
                code="sm2_key_invalid",
            )
        return cls.from_point(point)

    # encodings

    @property
    def point(self) -> bytes:
        return b"\x04" + _b32(self.x) + _b32(self.y)

    def spki(self) -> asn1_keys.PublicKeyInfo:
        return asn1_keys.PublicKeyInfo(
            {
                "algorithm": {
                    "algorithm": "ec",
                    "parameters": asn1_keys.ECDomainParameters("named", NAME_CURVE),
                },
                "public_key": self.point,
            }
        )

    def spki_der(self) -> bytes:
        return bytes(self.spki().dump())

    # signatures

    def z(self, user_id: bytes = DEFAULT_USER_ID) -> bytes:
        """Z_A of GB/T 32918.2 5.5 for this key and ``user_id``."""
        _check_user_id(user_id)
        entl = (len(user_id) * 8).to_bytes(2, "big")
        return sm3(
            entl,
            user_id,
            _b32(CURVE.a),
            _b32(CURVE.b),
            _b32(CURVE.gx),
            _b32(CURVE.gy),
            _b32(self.x),
            _b32(self.y),
        )

    def digest(self, message: bytes, user_id: bytes = DEFAULT_USER_ID) -> bytes:
        """e = SM3(Z || M): what the signature is computed over."""
        return sm3(self.z(user_id), message)

    def verify(
        self,
        signature: bytes,
        message: bytes,
        *,
        user_id: bytes = DEFAULT_USER_ID,
        digest_algorithm: str = NAME_SM3,
    ) -> None:
        """Raise :class:`Sm2Error` unless ``signature`` is this key's over ``message``."""
        check_digest_is_sm3(digest_algorithm)
        self.verify_digest(signature, self.digest(message, user_id))

    def verify_digest(self, signature: bytes, e: bytes) -> None:
        """Raise :class:`Sm2Error` unless ``signature`` is this key's over the digest ``e``."""
        parse_signature(signature)
        if len(e) != 32:
            raise Sm2Error("an SM2 digest has 32 bytes", code="sm2_digest_not_sm3")
        try:
            ok = gmssl_pyx.sm2_verify_sm3_digest(self.point[1:], e, signature)
        except gmssl_pyx.GmsslInnerError:
            ok = False
        if not ok:
            raise Sm2Error(
                "the SM2 signature does not verify with SM3 and the user id 1234567812345678",
                code="sm2_signature_invalid",
            )


def parse_signature(signature: bytes) -> tuple[int, int]:
    """``(r, s)`` of a strict-DER SM2 signature with both in ``[1, n-1]``."""
    try:
        value = asn1_algos.DSASignature.load(signature, strict=True)
        r, s = int(value["r"].native), int(value["s"].native)
        canonical = value.dump(force=True) == signature
    except (ValueError, TypeError) as exc:
        raise Sm2Error(
            "the SM2 signature is not DER SEQUENCE {r, s}", code="sm2_signature_malformed"
        ) from exc
    if not canonical or not (1 <= r < CURVE.n and 1 <= s < CURVE.n):
        raise Sm2Error(
            "the SM2 signature is not canonical DER with r and s in [1, n-1]",
            code="sm2_signature_malformed",
        )
    return r, s


@dataclass(frozen=True, repr=False)
class Sm2PrivateKey:
    """An SM2 private key held in memory; :mod:`keystore.soft` keeps it encrypted on disk.

    The scalar never appears in ``repr`` or in an error message.
    """

    _d: bytes = field(compare=False)
    public: Sm2PublicKey

    def __repr__(self) -> str:
        return f"Sm2PrivateKey(public=04{self.public.x:064x}{self.public.y:064x})"

    @classmethod
    def generate(cls) -> Sm2PrivateKey:
        """A new key pair, made by GmSSL from the OS random generator."""
        public, private = gmssl_pyx.sm2_key_generate()
        return cls(private, Sm2PublicKey.from_point(b"\x04" + public))

    # PKCS#8 (RFC 5208 / RFC 5915), as OpenSSL and Bouncy Castle write SM2 keys

    @classmethod
    def from_pkcs8(cls, der: bytes) -> Sm2PrivateKey:
        try:
            info = asn1_keys.PrivateKeyInfo.load(der, strict=True)
            params = info["private_key_algorithm"]["parameters"]
            if info["private_key_algorithm"]["algorithm"].native != "ec" or (
                params.name != "named" or params.chosen.dotted != OID_SM2_CURVE
            ):
                raise ValueError("not an SM2 key")
            ec_key = info["private_key"].parsed
            d = int(ec_key["private_key"].native)
        except (ValueError, TypeError, KeyError) as exc:
            raise Sm2Error("not an SM2 PKCS#8 private key", code="sm2_key_invalid") from exc
        if not 1 <= d <= CURVE.n - 2:
            raise Sm2Error("the SM2 private key is out of range", code="sm2_key_invalid")
        public = ec_key["public_key"]
        point = bytes(public) if public.native is not None else None
        if point is None:
            raise Sm2Error(
                "the SM2 private key does not carry its public key", code="sm2_key_invalid"
            )
        key = cls(_b32(d), Sm2PublicKey.from_point(point))
        key._check_pair()
        return key

    def to_pkcs8(self) -> bytes:
        ec_key = asn1_keys.ECPrivateKey(
            {
                "version": "ecPrivkeyVer1",
                "private_key": int.from_bytes(self._d, "big"),
                "parameters": asn1_keys.ECDomainParameters("named", NAME_CURVE),
                "public_key": self.public.point,
            }
        )
        info = asn1_keys.PrivateKeyInfo(
            {
                "version": 0,
                "private_key_algorithm": {
                    "algorithm": "ec",
                    "parameters": asn1_keys.ECDomainParameters("named", NAME_CURVE),
                },
                "private_key": ec_key,
            }
        )
        return bytes(info.dump())

    def _check_pair(self) -> None:
        """The public key belongs to the scalar: sign a probe and verify it."""
        probe = b"eseal sm2 key pair check"
        try:
            self.public.verify(self.sign(probe), probe)
        except Sm2Error:
            raise Sm2Error(
                "the SM2 private key does not match its public key", code="sm2_key_invalid"
            ) from None

    # signing

    def sign(
        self, message: bytes, *, user_id: bytes = DEFAULT_USER_ID, digest_algorithm: str = NAME_SM3
    ) -> bytes:
        """DER ``(r, s)`` over ``SM3(Z || message)``."""
        check_digest_is_sm3(digest_algorithm)
        return self.sign_digest(self.public.digest(message, user_id))

    def sign_digest(self, e: bytes) -> bytes:
        """DER ``(r, s)`` over a ready ``e = SM3(Z || M)`` (32 bytes)."""
        if len(e) != 32:
            raise Sm2Error("an SM2 digest has 32 bytes", code="sm2_digest_not_sm3")
        return bytes(gmssl_pyx.sm2_sign_sm3_digest(self._d, e))


def is_sm2_spki(spki: asn1_keys.PublicKeyInfo) -> bool:
    """Whether a SubjectPublicKeyInfo names the SM2 curve."""
    try:
        params = spki["algorithm"]["parameters"]
        return bool(
            spki["algorithm"]["algorithm"].native == "ec"
            and params.name == "named"
            and params.chosen.dotted == OID_SM2_CURVE
        )
    except (ValueError, KeyError, AttributeError):
        return False


def is_sm2_pkcs8(der: bytes) -> bool:
    """Whether PKCS#8 DER holds an SM2 key (the soft store tells key types apart by this)."""
    try:
        info = asn1_keys.PrivateKeyInfo.load(der)
        params = info["private_key_algorithm"]["parameters"]
        return bool(
            info["private_key_algorithm"]["algorithm"].native == "ec"
            and params.name == "named"
            and params.chosen.dotted == OID_SM2_CURVE
        )
    except (ValueError, KeyError, AttributeError):
        return False


class Sm2Signer:
    """Signs with an SM2 key of the store without handing the key out.

    What the key store gives callers for SM2 (``SoftKeyStore.sm2_signer``): the PKI signs
    certificates and CRLs with it, and the SESeal / SES_Signature code will sign with it.
    """

    def __init__(self, key: Sm2PrivateKey) -> None:
        self.__key = key

    def __repr__(self) -> str:
        return f"Sm2Signer({self.__key!r})"

    @property
    def public_key(self) -> Sm2PublicKey:
        return self.__key.public

    def sign(
        self, message: bytes, *, user_id: bytes = DEFAULT_USER_ID, digest_algorithm: str = NAME_SM3
    ) -> bytes:
        """DER ``(r, s)`` over ``SM3(Z || message)``; see :meth:`Sm2PrivateKey.sign`."""
        return self.__key.sign(message, user_id=user_id, digest_algorithm=digest_algorithm)
