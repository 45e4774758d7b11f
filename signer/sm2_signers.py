"""The PDF signers of the seals' SM2 keys (a seal's second key, DESIGN.md 6).

:meth:`seals.service.SealService.signer_for` hands out the signer of a seal's international
key after checking that the license and the seal may be used; the SM2 key of the same seal
version is used through :class:`Sm2SealSigners`, after that same check
(:class:`signer.service.SealingService` asks for both in that order).  Keys stay in the key
store: what is kept here is the store's :class:`keystore.sm2.Sm2Signer` wrapped in a pyHanko
:class:`~signer.sm2_cms.Sm2CmsSigner` with the seal's SM2 certificate and the SM2 chain,
one per seal version.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Protocol

from asn1crypto import pem as asn1_pem
from asn1crypto import x509 as asn1_x509

from keystore import sm2
from keystore.asn1_shared import fully_parsed
from seals.model import Seal

from .errors import AlgorithmNotAvailable
from .sm2_cms import Sm2CmsSigner

__all__ = ["Sm2KeyHolder", "Sm2SealSigners"]


class Sm2KeyHolder(Protocol):
    """A key store that holds SM2 keys (:class:`keystore.soft.SoftKeyStore`)."""

    def sm2_signer(self, key_ref: str) -> sm2.Sm2Signer:
        """A signer for the SM2 key ``key_ref``; the key stays in the store."""


class Sm2SealSigners:
    """Signers for the SM2 keys of seal versions, made once per version."""

    def __init__(self, keys: Sm2KeyHolder, chain: Sequence[asn1_x509.Certificate]) -> None:
        """``keys``: the store holding the seals' SM2 keys; ``chain``: the SM2 seal CA then the
        SM2 root (:meth:`keystore.sm2_pki.Sm2Pki.chain`), carried in every signature."""
        self._keys = keys
        self._chain = [fully_parsed(c) for c in chain]
        self._signers: dict[tuple[str, int], Sm2CmsSigner] = {}
        self._lock = threading.Lock()

    def signer_for(self, seal: Seal) -> Sm2CmsSigner:
        """The SM2 signer of ``seal`` (a version the caller checked may be used).

        ``algorithm_not_available`` (409) for a seal issued without an SM2 key (before SM2
        seals, or with ``ESEAL_SEAL_ALGORITHMS`` naming the international key alone).
        """
        if seal.sm2_key_ref is None or seal.sm2_serial is None or not seal.sm2_certificate_pem:
            raise AlgorithmNotAvailable(
                f"the {seal.kind.value} seal of {seal.uscc} (version {seal.version}) has no SM2 "
                "key: it was issued without one; re-issue it to get an SM2 key and certificate, "
                "or seal with its international key",
                code="algorithm_not_available",
            )
        key = (seal.sm2_key_ref, seal.sm2_serial)
        with self._lock:
            found = self._signers.get(key)
        if found is not None:
            return found
        _, _, der = asn1_pem.unarmor(seal.sm2_certificate_pem.encode())
        certificate = fully_parsed(asn1_x509.Certificate.load(der))  # the signer is shared
        made = Sm2CmsSigner(self._keys.sm2_signer(seal.sm2_key_ref), certificate, self._chain)
        with self._lock:
            return self._signers.setdefault(key, made)
