"""The production key store: key pairs generated and kept in a PKCS#11 token.

Keys are created on the token as persistent (token) objects.  The private key is sensitive,
never extractable and may only SIGN (no decrypt, unwrap, derive or sign-recover); the public key
may only VERIFY.  Both objects carry the LABEL ``<scope>/<label>`` and the same random 16-byte
ID.  The key reference handed out is ``pkcs11:<scope>/<label>``.

Sessions and concurrency
------------------------
python-pkcs11 initialises a module with ``C_Initialize(NULL)``, which tells the module that the
application will not call it from several threads at once (SoftHSM2, for one, then switches its
internal locking off).  And PKCS#11 login state belongs to the application, not to a session:
logging in a second session fails with ``CKR_USER_ALREADY_LOGGED_IN``, and closing a logged-in
session (python-pkcs11 calls ``C_Logout`` then) logs *every* session out.  So this backend keeps

* one :class:`pkcs11.lib` per module file per process (the library can be initialised once);
* one long-lived, logged-in, read/write session per (module, token label), shared by every
  :class:`Pkcs11KeyStore` and every signer of the process;
* one re-entrant lock per module, held around every call into it.

Calls into a module are therefore serialised within a process; several worker processes each
have their own session and login.  A session that goes stale (token removed and re-inserted,
session closed, logged out) is dropped and the operation is retried once on a fresh session.
A wrong PIN is tried against the token only once per process: the same PIN is then refused
without asking the token again, so a health check that retries cannot lock the user PIN.  A
store whose PIN differs from the one the shared session logged in with is refused as well (the
token would not check it: the process is logged in already).  Nothing else in the process may
log in to the same token (python-pkcs11 cannot share a login it did not make); and the check
that a label is free before generating is atomic within one process only.

Everything here blocks; async code must call the store from a thread (``asyncio.to_thread``).
The signers it hands out do that themselves: :meth:`Pkcs11TokenSigner.async_sign_raw` runs the
token call in the event loop's default executor.  The store opens the module lazily (on first
use or in :meth:`Pkcs11KeyStore.check`), so a server that forks workers must not use it before
forking.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import os
import re
import secrets
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import pkcs11
from asn1crypto import core as asn1_core
from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from pkcs11 import Attribute, KeyType, Mechanism, MechanismFlag, ObjectClass, TokenFlag
from pkcs11 import exceptions as p11_errors
from pkcs11.types import Object, PublicKey, Session
from pkcs11.util.ec import encode_ec_public_key, encode_named_curve_parameters
from pkcs11.util.rsa import encode_rsa_public_key
from pyhanko.sign.pkcs11 import PKCS11Signer

from .base import KeyAlgorithm
from .errors import AlgorithmNotSupportedByKeystore, KeystoreError, KeystoreUnavailable
from .signers import CachedSigningCertificate

__all__ = ["Pkcs11KeyStore", "Pkcs11TokenSigner"]

T = TypeVar("T")

_REF_PREFIX = "pkcs11:"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")

#: attributes of every private key we create (SIGN comes from the capabilities)
_PRIVATE_TEMPLATE: dict[Attribute, Any] = {
    Attribute.TOKEN: True,
    Attribute.PRIVATE: True,
    Attribute.SENSITIVE: True,
    Attribute.EXTRACTABLE: False,
    Attribute.SIGN_RECOVER: False,
}
_PUBLIC_TEMPLATE: dict[Attribute, Any] = {
    Attribute.TOKEN: True,
    Attribute.VERIFY_RECOVER: False,
}
_CAPABILITIES = MechanismFlag.SIGN | MechanismFlag.VERIFY

#: the session is no longer usable; drop it and retry once on a fresh one
_STALE_SESSION: tuple[type[p11_errors.PKCS11Error], ...] = (
    p11_errors.SessionHandleInvalid,
    p11_errors.SessionClosed,
    p11_errors.UserNotLoggedIn,
    p11_errors.DeviceRemoved,
    p11_errors.TokenNotPresent,
    p11_errors.TokenNotRecognised,
)

#: the token cannot be used now: 503 rather than 500
_UNAVAILABLE: tuple[type[p11_errors.PKCS11Error], ...] = (
    *_STALE_SESSION,
    p11_errors.DeviceError,
    p11_errors.DeviceMemory,
    p11_errors.HostMemory,
    p11_errors.GeneralError,
    p11_errors.FunctionFailed,
    p11_errors.SessionCount,
    p11_errors.UserAlreadyLoggedIn,
    p11_errors.AnotherUserAlreadyLoggedIn,
    p11_errors.NoSuchToken,
    p11_errors.MultipleTokensReturned,
)

_PIN_PROBLEMS: dict[type[p11_errors.PKCS11Error], str] = {
    p11_errors.PinIncorrect: "the user PIN is wrong",
    p11_errors.PinLocked: "the user PIN is locked",
    p11_errors.PinExpired: "the user PIN has expired",
    p11_errors.PinInvalid: "the user PIN has invalid characters",
    p11_errors.PinLenRange: "the user PIN has the wrong length",
    p11_errors.UserPinNotInitialized: "the user PIN is not initialised",
}

# A per-process salt: PINs are compared by salted digest, never kept in the shared registry.
_PIN_SALT = secrets.token_bytes(16)


def _pin_digest(pin: str) -> bytes:
    return hashlib.sha256(_PIN_SALT + pin.encode("utf-8")).digest()


# -- process-wide registry: modules and their token sessions --------------------------------


class _Module:
    """A PKCS#11 module file, loaded once per process; ``lock`` guards every call into it."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.lock = threading.RLock()
        self.tokens: dict[str, _TokenSession] = {}
        self._lib: Any = None

    def lib(self) -> Any:
        """The loaded library; the caller holds :attr:`lock`."""
        if self._lib is None:
            try:
                self._lib = pkcs11.lib(self.path)
            except p11_errors.PKCS11Error as exc:
                name = os.path.basename(self.path)
                raise KeystoreUnavailable(
                    f"the PKCS#11 module {name!r} cannot be loaded ({type(exc).__name__})"
                ) from exc
        return self._lib

    def token(self, label: str) -> _TokenSession:
        with self.lock:
            found = self.tokens.get(label)
            if found is None:
                found = self.tokens[label] = _TokenSession(self, label)
            return found


_MODULES: dict[str, _Module] = {}
_MODULES_GUARD = threading.Lock()


def _module(path: str) -> _Module:
    # the same file under two names must not be initialised twice
    key = os.path.realpath(path)
    with _MODULES_GUARD:
        found = _MODULES.get(key)
        if found is None:
            found = _MODULES[key] = _Module(key)
        return found


class _TokenSession:
    """The one logged-in read/write session of this process on one token."""

    def __init__(self, module: _Module, label: str) -> None:
        self.module = module
        self.label = label
        self.generation = 0  #: grows whenever a new session is opened
        self._session: Session | None = None
        self._pin: bytes | None = None  #: digest of the PIN the session logged in with
        self._refused: set[bytes] = set()  #: digests of PINs the token said were wrong
        self._mechanisms: frozenset[Mechanism] = frozenset()

    @property
    def mechanisms(self) -> frozenset[Mechanism]:
        return self._mechanisms

    def run(self, pin: str, op: Callable[[Session], T]) -> T:
        """Run ``op`` on the session, holding the module lock; reopen a stale session once."""
        with self.module.lock:
            try:
                return op(self._open(pin))
            except _STALE_SESSION:
                self.drop()
            return op(self._open(pin))

    def drop(self) -> None:
        """Forget the session (closing it if the token still answers)."""
        with self.module.lock:
            session, self._session, self._pin = self._session, None, None
            if session is not None:
                with contextlib.suppress(p11_errors.PKCS11Error):
                    session.close()

    def _open(self, pin: str) -> Session:
        digest = _pin_digest(pin)
        if self._session is not None:
            assert self._pin is not None
            if not hmac.compare_digest(self._pin, digest):
                # the token accepted another PIN for this process's login; a different one
                # cannot be right, and the token would not check it (already logged in)
                raise KeystoreUnavailable(f"PKCS#11 token {self.label!r}: the user PIN is wrong")
            return self._session
        if digest in self._refused:
            raise KeystoreUnavailable(
                f"PKCS#11 token {self.label!r}: the user PIN is wrong "
                "(refused earlier; not tried again so the token does not lock)"
            )
        token = self.module.lib().get_token(token_label=self.label)
        if token.flags & TokenFlag.USER_PIN_LOCKED:
            raise KeystoreUnavailable(f"PKCS#11 token {self.label!r}: the user PIN is locked")
        try:
            session = token.open(rw=True, user_pin=pin)
        except p11_errors.PinIncorrect:
            self._refused.add(digest)
            raise
        self._session, self._pin = session, digest
        self.generation += 1
        try:
            self._mechanisms = frozenset(token.slot.get_mechanisms())
        except p11_errors.PKCS11Error:
            self._mechanisms = frozenset()
        return session


# -- errors ---------------------------------------------------------------------------------


def _scrub(message: str, pin: str) -> str:
    return message.replace(pin, "***") if pin else message


def _translate(exc: p11_errors.PKCS11Error, token_label: str, what: str, pin: str) -> KeystoreError:
    """Our error for a python-pkcs11 one; the message names the failure, never the PIN."""
    pin_problem = _PIN_PROBLEMS.get(type(exc))
    error_class: type[KeystoreError] = KeystoreUnavailable
    code: str | None = None
    if pin_problem is not None:
        message = f"PKCS#11 token {token_label!r}: {pin_problem}"
    elif isinstance(exc, p11_errors.NoSuchToken):
        message = f"no PKCS#11 token labelled {token_label!r} is present"
    elif isinstance(exc, p11_errors.MultipleTokensReturned):
        message = f"more than one PKCS#11 token is labelled {token_label!r}"
    elif isinstance(exc, _UNAVAILABLE) or type(exc) is p11_errors.PKCS11Error:
        message = (
            f"PKCS#11 token {token_label!r} is not usable: {what} failed ({type(exc).__name__})"
        )
    elif isinstance(exc, p11_errors.KeyHandleInvalid | p11_errors.ObjectHandleInvalid):
        error_class, code = KeystoreError, "key_not_found"
        message = f"{what}: the key is gone from the token"
    else:
        error_class, code = KeystoreError, "pkcs11_error"
        message = f"PKCS#11 {what} failed ({type(exc).__name__})"
    return error_class(_scrub(message, pin), code=code)


# -- the store ------------------------------------------------------------------------------


def _check_name(name: str) -> None:
    if not _NAME.match(name):
        raise KeystoreError(f"invalid key scope or label {name!r}", code="invalid_key_name")


def _object_label(key_ref: str) -> str:
    if not key_ref.startswith(_REF_PREFIX) or key_ref.count("/") != 1:
        raise KeystoreError(f"not a PKCS#11 key reference: {key_ref!r}", code="invalid_key_ref")
    label = key_ref[len(_REF_PREFIX) :]
    for part in label.split("/"):
        _check_name(part)
    return label


def _find(session: Session, label: str, object_class: ObjectClass) -> list[Object]:
    # exhaust the search so C_FindObjectsFinal runs before the next call
    return list(session.get_objects({Attribute.CLASS: object_class, Attribute.LABEL: label}))


def _one(session: Session, label: str, object_class: ObjectClass) -> Object:
    found = _find(session, label, object_class)
    if not found:
        raise KeystoreError(f"key 'pkcs11:{label}' not found", code="key_not_found")
    if len(found) > 1:
        raise KeystoreError(
            f"more than one {object_class.name.lower()} is labelled {label!r} on the token",
            code="key_ambiguous",
        )
    return found[0]


def _public_key_info(public: Object) -> asn1_keys.PublicKeyInfo:
    if not isinstance(public, PublicKey):
        raise KeystoreError("the token object is not a public key", code="key_unsupported")
    key_type = public[Attribute.KEY_TYPE]
    if key_type == KeyType.EC:
        return asn1_keys.PublicKeyInfo.load(encode_ec_public_key(public))
    if key_type == KeyType.RSA:
        return asn1_keys.PublicKeyInfo(
            {
                "algorithm": {"algorithm": "rsa", "parameters": asn1_core.Null()},
                "public_key": asn1_keys.RSAPublicKey.load(encode_rsa_public_key(public)),
            }
        )
    raise KeystoreError(f"unsupported key type {key_type!r} on the token", code="key_unsupported")


def _same_key(a: asn1_keys.PublicKeyInfo, b: asn1_keys.PublicKeyInfo) -> bool:
    return bool(a.algorithm == b.algorithm and a["public_key"].native == b["public_key"].native)


class Pkcs11KeyStore:
    """Key custody in a PKCS#11 token; see the module docstring for sessions and locking."""

    backend = "pkcs11"

    def __init__(self, module_path: str, token_label: str, user_pin: str) -> None:
        self._module_path = module_path
        self._token_label = token_label
        self.__pin = user_pin

    def __repr__(self) -> str:
        return f"Pkcs11KeyStore(token_label={self._token_label!r})"

    # -- KeyStore -----------------------------------------------------------------------------

    def check(self) -> None:
        """Open (or re-open) the session and prove the token answers and the PIN is right."""

        def probe(session: Session) -> None:
            info = session.token.slot.get_token()  # fresh token flags
            if info.flags & TokenFlag.USER_PIN_LOCKED:
                raise KeystoreUnavailable(
                    f"PKCS#11 token {self._token_label!r}: the user PIN is locked"
                )
            _find(session, "eseal-health-check", ObjectClass.PRIVATE_KEY)

        self._run("health check", probe)

    def generate(self, scope: str, label: str, algorithm: KeyAlgorithm) -> str:
        _check_name(scope)
        _check_name(label)
        if algorithm is KeyAlgorithm.SM2:
            # PKCS#11 3.x has no standard SM2 mechanism and SoftHSM2 none at all (README)
            raise AlgorithmNotSupportedByKeystore(
                "the PKCS#11 key store cannot make SM2 keys; use the soft key store for SM2"
            )
        object_label = f"{scope}/{label}"
        key_ref = f"{_REF_PREFIX}{object_label}"

        def create(session: Session) -> None:
            if list(session.get_objects({Attribute.LABEL: object_label})):
                raise KeystoreError(f"key {key_ref!r} exists already", code="key_exists")
            options: dict[str, Any] = {
                "id": secrets.token_bytes(16),
                "label": object_label,
                "store": True,
                "capabilities": _CAPABILITIES,
                "public_template": dict(_PUBLIC_TEMPLATE),
                "private_template": dict(_PRIVATE_TEMPLATE),
            }
            if algorithm is KeyAlgorithm.EC_P256:
                params = session.create_domain_parameters(
                    KeyType.EC,
                    {Attribute.EC_PARAMS: encode_named_curve_parameters("secp256r1")},
                    local=True,
                )
                params.generate_keypair(**options)
            else:
                session.generate_keypair(KeyType.RSA, algorithm.rsa_bits, **options)

        self._run("key generation", create)
        return key_ref

    def public_key(self, key_ref: str) -> asn1_keys.PublicKeyInfo:
        label = _object_label(key_ref)
        return self._run(
            "public key lookup",
            lambda session: _public_key_info(_one(session, label, ObjectClass.PUBLIC_KEY)),
        )

    def signer(
        self,
        key_ref: str,
        certificate: asn1_x509.Certificate,
        chain: list[asn1_x509.Certificate],
    ) -> Pkcs11TokenSigner:
        label = _object_label(key_ref)

        def lookup(session: Session) -> tuple[Any, bytes, asn1_keys.PublicKeyInfo]:
            private = _one(session, label, ObjectClass.PRIVATE_KEY)
            public = _public_key_info(_one(session, label, ObjectClass.PUBLIC_KEY))
            return private[Attribute.KEY_TYPE], private[Attribute.ID], public

        key_type, key_id, public = self._run("key lookup", lookup)
        if not _same_key(public, certificate.public_key):
            raise KeystoreError(
                f"the certificate is not for key {key_ref!r}", code="certificate_mismatch"
            )
        mechanisms = self._token().mechanisms
        # ECDSA: hash here and sign with CKM_ECDSA, which every token has (SoftHSM2 has no
        # CKM_ECDSA_SHA256).  RSA: the token's hash-and-sign mechanism when it has one.
        raw = key_type == KeyType.EC or (
            bool(mechanisms) and Mechanism.SHA256_RSA_PKCS not in mechanisms
        )
        return Pkcs11TokenSigner(self, label, key_id, certificate, chain, use_raw_mechanism=raw)

    def delete(self, key_ref: str) -> None:
        label = _object_label(key_ref)

        def destroy(session: Session) -> None:
            for object_class in (ObjectClass.PRIVATE_KEY, ObjectClass.PUBLIC_KEY):
                for obj in _find(session, label, object_class):
                    obj.destroy()

        self._run("key deletion", destroy)

    def delete_scope(self, scope: str) -> None:
        """Destroy every key of a scope (a failed registration's rollback)."""
        _check_name(scope)
        prefix = f"{scope}/"

        def destroy(session: Session) -> None:
            for object_class in (ObjectClass.PRIVATE_KEY, ObjectClass.PUBLIC_KEY):
                doomed = [
                    obj
                    for obj in session.get_objects({Attribute.CLASS: object_class})
                    if str(obj[Attribute.LABEL]).startswith(prefix)
                ]
                for obj in doomed:
                    obj.destroy()

        self._run("scope deletion", destroy)

    # -- inspection (tests, audits) -----------------------------------------------------------

    def key_attributes(self, key_ref: str) -> dict[str, bool]:
        """The protection attributes of the private key, read from the token."""
        label = _object_label(key_ref)
        names = {
            "sensitive": Attribute.SENSITIVE,
            "extractable": Attribute.EXTRACTABLE,
            "always_sensitive": Attribute.ALWAYS_SENSITIVE,
            "never_extractable": Attribute.NEVER_EXTRACTABLE,
            "token": Attribute.TOKEN,
            "private": Attribute.PRIVATE,
            "sign": Attribute.SIGN,
            "decrypt": Attribute.DECRYPT,
            "unwrap": Attribute.UNWRAP,
            "derive": Attribute.DERIVE,
        }

        def read(session: Session) -> dict[str, bool]:
            private = _one(session, label, ObjectClass.PRIVATE_KEY)
            return {name: bool(private[attribute]) for name, attribute in names.items()}

        return self._run("attribute read", read)

    # -- internals ----------------------------------------------------------------------------

    def _token(self) -> _TokenSession:
        return _module(self._module_path).token(self._token_label)

    def _run(self, what: str, op: Callable[[Session], T]) -> T:
        """Run ``op`` on the token session; every python-pkcs11 error becomes ours."""
        pin = self.__pin
        try:
            return self._token().run(pin, op)
        except p11_errors.PKCS11Error as exc:
            raise _translate(exc, self._token_label, what, pin) from exc


class Pkcs11TokenSigner(CachedSigningCertificate, PKCS11Signer):
    """pyHanko's PKCS#11 signer, bound to a key store instead of to one session.

    The certificate and chain are given, so nothing is read from the token but the key.  Each
    signature goes through the store's shared session under the module lock, and the key
    handle is looked up again whenever the store has opened a new session; so one signer keeps
    working across many signatures, threads and session losses.  :meth:`async_sign_raw` runs
    the token call in the event loop's default executor.
    """

    def __init__(
        self,
        store: Pkcs11KeyStore,
        object_label: str,
        key_id: bytes,
        certificate: asn1_x509.Certificate,
        chain: list[asn1_x509.Certificate],
        *,
        use_raw_mechanism: bool,
    ) -> None:
        super().__init__(
            None,  # type: ignore[arg-type]  # no fixed session: see _sign_on_token
            signing_cert=certificate,
            ca_chain=chain,
            key_label=object_label,
            key_id=key_id,
            other_certs_to_pull=(),
            use_raw_mechanism=use_raw_mechanism,
            embed_roots=True,
        )
        self.__store = store
        self.__key: tuple[int, Object] | None = None
        self.__key_lock = threading.Lock()
        # nothing to pull from the token: certificates were given, the key is found per session
        self._other_certs_loaded = True
        self._loaded = True

    def __repr__(self) -> str:
        return f"Pkcs11TokenSigner(key='pkcs11:{self.key_label}')"

    async def ensure_objects_loaded(self) -> None:
        return None

    def _load_objects(self) -> None:
        return None

    async def async_sign_raw(
        self, data: bytes, digest_algorithm: str, dry_run: bool = False
    ) -> bytes:
        if dry_run:
            return self.estimate_raw_signature_size_bytes() * b"0"
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, self.sign_raw, data, digest_algorithm)

    def sign_raw(self, data: bytes, digest_algorithm: str) -> bytes:
        """Sign ``data`` (hashing it with ``digest_algorithm``) on the token; blocks."""
        spec = self._select_pkcs11_signing_params(
            digest_algorithm, sign_kwargs=self.sign_kwargs(data)
        )
        if spec.pre_sign_transform is not None:
            data = spec.pre_sign_transform(data)

        def sign(session: Session) -> bytes:
            key = self._key_for(session)
            try:
                return bytes(key.sign(data, **spec.sign_kwargs))
            except (p11_errors.KeyHandleInvalid, p11_errors.ObjectHandleInvalid):
                with self.__key_lock:
                    self.__key = None
                raise

        signature = self.__store._run("signature", sign)
        if spec.post_sign_transform is not None:
            signature = spec.post_sign_transform(signature)
        return signature

    def _key_for(self, session: Session) -> Any:
        generation = self.__store._token().generation
        with self.__key_lock:
            cached = self.__key
        if cached is not None and cached[0] == generation:
            return cached[1]
        assert self.key_label is not None
        key = _one(session, self.key_label, ObjectClass.PRIVATE_KEY)
        with self.__key_lock:
            self.__key = (generation, key)
        return key
