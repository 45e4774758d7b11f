#!/usr/bin/env python3
"""Verify an eseal login assertion offline, as a relying party would: `cryptography` only.

An eseal login assertion (认证登录) is a compact JWS signed by the enterprise's official seal
(企业法定名称章).  This client checks it without asking eseal anything:

1. the header: ``typ`` is ``eseal-login+jwt``, ``alg`` is ES256 (or RS256), and ``x5c`` holds
   the seal certificate, then its CA certificates;
2. the chain: each certificate was signed by the next one, the last by a root of the CA file
   you trust (eseal's ``GET /v1/pki/ca``, saved once: never the chain in the token itself),
   every CA certificate is a CA, and every certificate is valid now;
3. the signature over ``header.payload`` with the seal certificate's key;
4. the seal certificate is an official seal's (``title`` 企业法定名称章) of the USCC claimed;
5. the claims: ``aud`` is your relying party id (your API key's id), ``nonce`` is the one you
   put in the challenge, ``exp`` has not passed, ``iat`` is not in the future, the license
   status is ``active``.

Offline you do not learn about a revocation or a license suspended since the assertion was
made (minutes ago), and nothing stops the same assertion from being shown to you twice: keep
the nonces you accepted until the assertion expires, or verify online once with
``POST /v1/auth/assertions/verify``, which checks both.

Usage::

    python examples/verify_assertion.py --ca eseal-ca.pem --audience RP_KEY_ID \\
        --nonce NONCE assertion.jws        # or - for standard input

It prints the claims as JSON and exits 0 if the assertion holds, else prints why and exits 1.
SM2SM3 assertions need an SM2 implementation (see the README); this client refuses them.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hmac
import itertools
import json
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.x509.oid import NameOID

ASSERTION_TYPE = "eseal-login+jwt"
OFFICIAL_SEAL = "企业法定名称章"
#: how far your clock and eseal's may disagree
CLOCK_SKEW = timedelta(seconds=30)


class AssertionRefused(Exception):
    """The assertion does not hold; the message says why."""


def _b64url(part: str) -> bytes:
    if not part or "=" in part:
        raise AssertionRefused("a part of the token is not base64url without padding")
    try:
        return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    except (binascii.Error, ValueError):
        raise AssertionRefused("a part of the token is not base64url") from None


def _json_object(data: bytes, what: str) -> dict[str, Any]:
    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [k for k, _ in pairs]
        if len(keys) != len(set(keys)):
            raise AssertionRefused(f"the {what} names a member twice")
        return dict(pairs)

    try:
        value = json.loads(data.decode("utf-8"), object_pairs_hook=no_duplicates)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise AssertionRefused(f"the {what} is not JSON") from None
    if not isinstance(value, dict):
        raise AssertionRefused(f"the {what} is not a JSON object")
    return value


def load_roots(pem: bytes) -> list[x509.Certificate]:
    """The self-signed certificates of a PEM file: the roots you trust."""
    roots = [c for c in x509.load_pem_x509_certificates(pem) if c.issuer == c.subject]
    if not roots:
        raise ValueError("the CA file holds no root (self-signed) certificate")
    return roots


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def _check_chain(
    chain: list[x509.Certificate], roots: list[x509.Certificate], now: datetime
) -> None:
    for cert in chain:
        if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
            raise AssertionRefused(f"{cert.subject.rfc4514_string()} is not valid now")
    for child, issuer in itertools.pairwise(chain):
        if not _is_ca(issuer):
            raise AssertionRefused(f"{issuer.subject.rfc4514_string()} is not a CA")
        try:
            child.verify_directly_issued_by(issuer)
        except (ValueError, TypeError, InvalidSignature):
            raise AssertionRefused("the x5c chain is broken") from None
    top = chain[-1]
    for root in roots:
        if top == root:
            return
        try:
            top.verify_directly_issued_by(root)
        except (ValueError, TypeError, InvalidSignature):
            continue
        if _is_ca(root) and root.not_valid_before_utc <= now <= root.not_valid_after_utc:
            return
    raise AssertionRefused("the certificate chain does not lead to a root you trust")


def _check_signature(alg: str, cert: x509.Certificate, signed: bytes, signature: bytes) -> None:
    key = cert.public_key()
    try:
        if alg == "ES256":
            if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
                raise AssertionRefused("ES256 needs a P-256 key")
            if len(signature) != 64:
                raise AssertionRefused("an ES256 signature is 64 bytes (r || s)")
            r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
            key.verify(encode_dss_signature(r, s), signed, ec.ECDSA(hashes.SHA256()))
        elif alg == "RS256":
            if not isinstance(key, rsa.RSAPublicKey):
                raise AssertionRefused("RS256 needs an RSA key")
            key.verify(signature, signed, padding.PKCS1v15(), hashes.SHA256())
        else:
            raise AssertionRefused(f"alg {alg!r} is not verified by this client")
    except InvalidSignature:
        raise AssertionRefused("the signature does not verify") from None


def _subject(cert: x509.Certificate, oid: x509.ObjectIdentifier) -> list[str]:
    return [str(a.value) for a in cert.subject.get_attributes_for_oid(oid)]


def _check_official_seal(cert: x509.Certificate, uscc: str) -> None:
    if OFFICIAL_SEAL not in _subject(cert, NameOID.TITLE):
        raise AssertionRefused("the signing certificate is not an official seal's")
    named = set(_subject(cert, NameOID.ORGANIZATIONAL_UNIT_NAME))
    named |= {v.removeprefix("NTRCN-") for v in _subject(cert, x509.ObjectIdentifier("2.5.4.97"))}
    if uscc not in named:
        raise AssertionRefused("the signing certificate names another enterprise")


def verify(
    token: str,
    roots: list[x509.Certificate],
    *,
    audience: str,
    nonce: str,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The claims of ``token`` if it holds for you (``audience``, ``nonce``) ``now``."""
    now = now or datetime.now(UTC)
    parts = token.strip().split(".")
    if len(parts) != 3:
        raise AssertionRefused("not a compact JWS")
    header = _json_object(_b64url(parts[0]), "header")
    if header.get("typ") != ASSERTION_TYPE:
        raise AssertionRefused(f"typ is not {ASSERTION_TYPE}")
    if set(header) != {"alg", "typ", "x5c"}:
        raise AssertionRefused("the header holds members this client does not know")
    x5c = header.get("x5c")
    if not isinstance(x5c, list) or not x5c:
        raise AssertionRefused("x5c is missing")
    try:
        chain = [x509.load_der_x509_certificate(base64.b64decode(c, validate=True)) for c in x5c]
    except (binascii.Error, ValueError, TypeError):
        raise AssertionRefused("x5c holds something that is not a certificate") from None
    _check_chain(chain, roots, now)
    _check_signature(
        str(header.get("alg")), chain[0], f"{parts[0]}.{parts[1]}".encode(), _b64url(parts[2])
    )
    claims = _json_object(_b64url(parts[1]), "payload")
    _check_official_seal(chain[0], str(claims.get("uscc")))
    if claims.get("sub") != claims.get("uscc"):
        raise AssertionRefused("sub and uscc differ")
    if not hmac.compare_digest(str(claims.get("aud")).encode(), audience.encode()):
        raise AssertionRefused("the assertion was made for another relying party")
    if not hmac.compare_digest(str(claims.get("nonce")).encode(), nonce.encode()):
        raise AssertionRefused("the nonce is not yours")
    exp, iat = claims.get("exp"), claims.get("iat")
    if not isinstance(exp, int) or not isinstance(iat, int):
        raise AssertionRefused("exp or iat is missing")
    if now >= datetime.fromtimestamp(exp, UTC) + CLOCK_SKEW:
        raise AssertionRefused("the assertion has expired")
    if datetime.fromtimestamp(iat, UTC) > now + CLOCK_SKEW:
        raise AssertionRefused("the assertion was issued in the future")
    if claims.get("license_status") != "active":
        raise AssertionRefused("the license was not active")
    return claims


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ca", required=True, help="eseal's CA chain, PEM (GET /v1/pki/ca)")
    parser.add_argument("--audience", required=True, help="your relying party id (API key id)")
    parser.add_argument("--nonce", required=True, help="the nonce of your challenge")
    parser.add_argument("assertion", help="a file with the assertion, or - for standard input")
    args = parser.parse_args(argv)
    with open(args.ca, "rb") as f:
        roots = load_roots(f.read())
    if args.assertion == "-":
        token = sys.stdin.read()
    else:
        with open(args.assertion, encoding="ascii") as f:
            token = f.read()
    try:
        claims = verify(token, roots, audience=args.audience, nonce=args.nonce)
    except AssertionRefused as refused:
        print(f"refused: {refused}", file=sys.stderr)
        return 1
    print(json.dumps(claims, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
