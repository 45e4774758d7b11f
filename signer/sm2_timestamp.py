"""Timestamps for SM2 seals: RFC 3161 tokens signed SM2-with-SM3, and no other.

An SM2 seal's signature timestamp and the document timestamps over an SM2-sealed file come
from the SM2 TSA (:mod:`keystore.tsa`): a relying party that checks the seal with the national
algorithms checks its proof of time with them too, against the same SM2 root, and a file
sealed with SM2 does not need the ECDSA hierarchy to be validated.

:class:`Sm2TimeStamper` wraps the timestamper that carries the requests (the built-in TSA in
this process, or an HTTP one) and

* asks for an SM2 token: with the SM2 policy when one is given (what the built-in TSA answers
  with SM2 whatever the imprint), and always with the digest it is handed, SM3 for an SM2 seal
  (an SM3 imprint without a policy is also how the built-in TSA and Chinese TSAs are asked
  for SM2);
* refuses any token that is not signed with SM2 (``tsa_not_sm2``, 503 as any TSA failure):
  an SM2-sealed document never carries an ECDSA timestamp by accident;
* makes its size-estimate token (pyHanko's "dummy response") with SM3, so the TSA certificates
  it reports for long-term validation data are the SM2 TSA's.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from asn1crypto import cms, tsp
from pyhanko.sign.timestamps import TimeStamper

from keystore import sm2
from keystore.tsa import TimeStampAuthority, TsaUnavailable

from .sm2_cms import is_sm2_mechanism

__all__ = ["Sm2TimeStamper", "is_sm2_token", "sm2_timestamper"]


def is_sm2_token(token: cms.ContentInfo) -> bool:
    """Whether a timestamp token (or any CMS SignedData) is signed with SM2."""
    try:
        infos = token["content"]["signer_infos"]
        return len(infos) > 0 and all(is_sm2_mechanism(i["signature_algorithm"]) for i in infos)
    except (KeyError, ValueError, TypeError):
        return False


class Sm2TimeStamper(TimeStamper):
    """Asks ``inner``'s TSA for SM2 tokens and accepts nothing else (see the module doc)."""

    def __init__(self, inner: TimeStamper, *, policy: str | None) -> None:
        """``policy``: the TSA policy that means "SM2" (the built-in TSA's
        :data:`keystore.tsa.SM2_TSA_POLICY`); None asks by the SM3 imprint alone."""
        super().__init__(include_nonce=inner.include_nonce)
        self._inner = inner
        self._policy = policy

    def request_cms(self, message_digest: bytes, md_algorithm: str) -> tuple[Any, tsp.TimeStampReq]:
        nonce, req = super().request_cms(message_digest, md_algorithm)
        if self._policy is not None:
            req["req_policy"] = self._policy
        return nonce, req

    async def async_request_tsa_response(self, req: tsp.TimeStampReq) -> tsp.TimeStampResp:
        response: tsp.TimeStampResp = await self._inner.async_request_tsa_response(req)
        return response

    async def async_timestamp(self, message_digest: bytes, md_algorithm: str) -> cms.ContentInfo:
        token: cms.ContentInfo = await super().async_timestamp(message_digest, md_algorithm)
        if not is_sm2_token(token):
            algorithm = token["content"]["signer_infos"][0]["signature_algorithm"]
            raise TsaUnavailable(
                "the time-stamping authority answered a request for an SM2 token with a "
                f"{algorithm['algorithm'].native} token",
                code="tsa_not_sm2",
            )
        return token

    async def validation_paths(self, validation_context: Any) -> AsyncIterator[Any]:
        # pyHanko makes its first size-estimate token with SHA-256; ours is SM3 (an SM2
        # token either way when a policy is sent, and the one an SM2 seal really gets)
        await self.async_dummy_response(sm2.NAME_SM3)
        async for path in super().validation_paths(validation_context):
            yield path


def sm2_timestamper(authority: TimeStampAuthority) -> Sm2TimeStamper | None:
    """The built-in TSA's SM2 timestamper (asking for its SM2 policy); None if the TSA has no
    SM2 key."""
    if authority.sm2 is None:
        return None
    return Sm2TimeStamper(authority.timestamper(), policy=authority.sm2.policy)
