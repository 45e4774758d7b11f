"""The OCSP responder of the SM2 seal CA: RFC 6960 responses signed SM2-with-SM3.

``cryptography`` cannot sign with SM2, so the ``BasicOCSPResponse`` is built with asn1crypto
and DER(``tbsResponseData``) is signed by the SM2 OCSP responder's key (its certificate, EKU
OCSPSigning and ocsp-nocheck, issued by the SM2 seal CA, is sent in ``certs``).  What a client
may notice:

* a request is for this responder when its (first) CertID names the SM2 seal CA: issuer name
  and key hashes with SHA-1, SHA-256/384/512 or SM3 (:func:`is_for_sm2_ca`); the HTTP layer
  sends every other request to the ECDSA responder.  A request that mixes CertIDs of the SM2
  seal CA with others is ``unauthorized`` (this responder speaks for one CA only);
* the certificates the SM2 seal CA made for the PKI itself (TSA, OCSP responder, seal maker,
  and the ones they had before a rotation: :meth:`keystore.sm2_pki.Sm2Pki.internal_serials`)
  are ``good``, so what a retired certificate signed stays verifiable; any other serial is
  asked of a :data:`keystore.pki.StatusLookup` (``None``: ``unknown``);
* the answer is signed by the current responder certificate (after a rotation, the new one),
  or with ``by_ca`` by the SM2 seal CA itself (RFC 6960 4.2.2.2), as
  :meth:`keystore.pki.InternalPki.ocsp_response` does for validation data embedded long after a
  responder rotation.  pyHanko (0.x, certvalidator) checks a delegated responder's certificate
  in a validation context of its own, without the SM2 signature validator a caller registered,
  so it accepts SM2 answers only when the CA signs them: ``by_ca`` is the form to embed for it;
* ``responderID`` is ``byKey`` (SHA-1 of the responder key, RFC 6960 4.2.1), ``thisUpdate`` and
  ``producedAt`` now in whole seconds, ``nextUpdate`` one day later, a request nonce echoed;
* an unreadable request gets ``malformedRequest``; nothing raises on bad input.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from asn1crypto import core as asn1_core
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import x509 as asn1_x509

from . import sm2
from .pki import StatusLookup
from .sm2_pki import REASON_NAMES, Sm2Pki

__all__ = ["OCSP_VALIDITY", "is_for_sm2_ca", "ocsp_response"]

OCSP_VALIDITY = timedelta(days=1)

#: CertID hash algorithms understood (asn1crypto names)
_HASHES: dict[str, Callable[[bytes], bytes]] = {
    "sha1": lambda data: hashlib.sha1(data, usedforsecurity=False).digest(),
    "sha256": lambda data: hashlib.sha256(data).digest(),
    "sha384": lambda data: hashlib.sha384(data).digest(),
    "sha512": lambda data: hashlib.sha512(data).digest(),
    sm2.NAME_SM3: sm2.sm3,
}


def _unsuccessful(status: str) -> bytes:
    return bytes(asn1_ocsp.OCSPResponse({"response_status": status}).dump())


def _parse(request_der: bytes) -> asn1_ocsp.OCSPRequest | None:
    try:
        request = asn1_ocsp.OCSPRequest.load(request_der, strict=True)
        request.native  # noqa: B018 - parses (and so checks) every field now
        if len(request["tbs_request"]["request_list"]) == 0:
            return None
    except Exception:  # asn1crypto raises ValueError, TypeError, OverflowError...
        return None
    return request


def _names_ca(cert_id: asn1_ocsp.CertId, ca: asn1_x509.Certificate) -> bool:
    digest = _HASHES.get(cert_id["hash_algorithm"]["algorithm"].native)
    if digest is None:
        return False
    name_hash = digest(ca.subject.dump())
    key_hash = digest(bytes(ca["tbs_certificate"]["subject_public_key_info"]["public_key"]))
    return (bytes(cert_id["issuer_name_hash"]), bytes(cert_id["issuer_key_hash"])) == (
        name_hash,
        key_hash,
    )


def is_for_sm2_ca(pki: Sm2Pki, request_der: bytes) -> bool:
    """Whether a DER OCSP request asks about certificates of the SM2 seal CA."""
    request = _parse(request_der)
    if request is None:
        return False
    first = request["tbs_request"]["request_list"][0]["req_cert"]
    return _names_ca(first, pki.certificate("issuing"))


def _generalized(when: datetime) -> asn1_core.GeneralizedTime:
    return asn1_core.GeneralizedTime(when.astimezone(UTC).replace(microsecond=0))


def _status(serial: int, internal: set[int], lookup: StatusLookup) -> asn1_ocsp.CertStatus:
    if serial in internal:
        return asn1_ocsp.CertStatus(name="good", value=None)
    status = lookup(serial)
    if status is None:
        return asn1_ocsp.CertStatus(name="unknown", value=None)
    if status.revoked_at is None:
        return asn1_ocsp.CertStatus(name="good", value=None)
    info: dict[str, Any] = {"revocation_time": _generalized(status.revoked_at)}
    if status.reason is not None:
        info["revocation_reason"] = REASON_NAMES[status.reason.value]
    return asn1_ocsp.CertStatus(name="revoked", value=asn1_ocsp.RevokedInfo(info))


def ocsp_response(
    pki: Sm2Pki,
    request_der: bytes,
    lookup: StatusLookup,
    *,
    now: datetime | None = None,
    by_ca: bool = False,
) -> bytes:
    """Answer a DER OCSP request about certificates of the SM2 seal CA (see the module doc).

    ``lookup`` gives the status of a seal certificate's serial (``None``: never issued);
    ``by_ca``: signed by the seal CA instead of the responder certificate.
    """
    request = _parse(request_der)
    if request is None:
        return _unsuccessful("malformed_request")
    issuing = pki.certificate("issuing")
    entries = request["tbs_request"]["request_list"]
    if not all(_names_ca(entry["req_cert"], issuing) for entry in entries):
        return _unsuccessful("unauthorized")
    now = (now or pki.now()).astimezone(UTC).replace(microsecond=0)
    internal = pki.internal_serials()
    responses = [
        asn1_ocsp.SingleResponse(
            {
                "cert_id": entry["req_cert"],
                "cert_status": _status(entry["req_cert"]["serial_number"].native, internal, lookup),
                "this_update": _generalized(now),
                "next_update": _generalized(now + OCSP_VALIDITY),
            }
        )
        for entry in entries
    ]
    responder, signer = pki.ocsp_responder(by_ca=by_ca)
    key_id = hashlib.sha1(
        bytes(responder["tbs_certificate"]["subject_public_key_info"]["public_key"]),
        usedforsecurity=False,
    ).digest()
    tbs: dict[str, Any] = {
        "version": "v1",
        "responder_id": asn1_ocsp.ResponderId(name="by_key", value=key_id),
        "produced_at": _generalized(now),
        "responses": responses,
    }
    nonces = [
        ext
        for ext in request["tbs_request"]["request_extensions"]
        if ext["extn_id"].native == "nonce"
    ]
    if nonces:
        tbs["response_extensions"] = [
            asn1_ocsp.ResponseDataExtension(
                {
                    "extn_id": "nonce",
                    "critical": False,
                    # echoed byte for byte, whatever the client put inside (RFC 8954 or older forms)
                    "extn_value": asn1_core.ParsableOctetString(
                        bytes(nonces[0]["extn_value"].contents)
                    ),
                }
            )
        ]
    tbs_data = asn1_ocsp.ResponseData(tbs)
    basic = asn1_ocsp.BasicOCSPResponse(
        {
            "tbs_response_data": tbs_data,
            "signature_algorithm": {"algorithm": sm2.NAME_SM2_WITH_SM3},
            "signature": signer.sign(tbs_data.dump()),
            "certs": [responder],
        }
    )
    return bytes(
        asn1_ocsp.OCSPResponse(
            {
                "response_status": "successful",
                "response_bytes": {"response_type": "basic_ocsp_response", "response": basic},
            }
        ).dump()
    )
