"""Domain errors of eseal, all under the one root :class:`keystore.errors.EsealError`.

The root (``EsealError``, ``ErrorKind``) is re-exported here so that ``storage`` derives its
errors from the domain: DESIGN section 2 lets ``storage`` import ``seals`` but not ``keystore``
(the import-linter contracts in ``pyproject.toml`` check it).
"""

from __future__ import annotations

from keystore.errors import ErrorKind, EsealError

__all__ = [
    "CertificateRefused",
    "CertificateSerialInUse",
    "DomainError",
    "EnterpriseExists",
    "EnterpriseNotFound",
    "ErrorKind",
    "EsealError",
    "InvalidImage",
    "InvalidLicense",
    "InvalidSealData",
    "InvalidSesSignature",
    "InvalidUSCC",
    "LicenseNotActive",
    "NameTooLong",
    "SealNotActive",
    "SealNotFound",
    "UnknownSealKind",
    "UnsupportedSealVersion",
]


class DomainError(EsealError):
    code = "domain_error"
    kind = ErrorKind.INVALID
    title = "Request refused"


class InvalidUSCC(DomainError):
    """The USCC breaks a rule of GB 32100-2015; ``rule`` names which one."""

    code = "invalid_uscc"
    title = "Invalid unified social credit code"

    def __init__(self, detail: str, *, rule: str) -> None:
        super().__init__(detail)
        self.rule = rule

    def to_problem(self) -> dict[str, object]:
        return {**super().to_problem(), "rule": self.rule}


class InvalidLicense(DomainError):
    code = "invalid_license"
    title = "Invalid license data"


class NameTooLong(DomainError):
    code = "name_too_long"
    title = "Name does not fit on the seal"


class InvalidImage(DomainError):
    code = "invalid_image"
    title = "Invalid seal image"


class UnknownSealKind(DomainError):
    code = "unknown_seal_kind"
    title = "Unknown seal kind"


class EnterpriseExists(DomainError):
    code = "enterprise_exists"
    kind = ErrorKind.CONFLICT
    title = "Enterprise already registered"


class EnterpriseNotFound(DomainError):
    code = "enterprise_not_found"
    kind = ErrorKind.NOT_FOUND
    title = "Enterprise not found"


class SealNotFound(DomainError):
    code = "seal_not_found"
    kind = ErrorKind.NOT_FOUND
    title = "Seal not found"


class LicenseNotActive(DomainError):
    code = "license_not_active"
    kind = ErrorKind.CONFLICT
    title = "License not active"


class SealNotActive(DomainError):
    code = "seal_not_active"
    kind = ErrorKind.CONFLICT
    title = "Seal not active"


class CertificateRefused(DomainError):
    """A certificate from another CA does not fit the seal (``eseal seal import-cert``):
    ``certificate_wrong_enterprise`` (another USCC) or ``certificate_name_mismatch``.  The
    key store's checks (key, validity, chain) refuse with :class:`keystore.csr.ImportRefused`."""

    code = "certificate_wrong_enterprise"
    title = "Certificate refused"


class CertificateSerialInUse(DomainError):
    code = "certificate_serial_in_use"
    kind = ErrorKind.CONFLICT
    title = "Certificate serial in use"


class InvalidSealData(DomainError):
    """Bytes that are not a national seal (``SESeal``, GB/T 38540 / GM/T 0031): not BER,
    truncated, followed by other bytes, of another structure, or a header that is not "ES".
    One code for all of them; ``detail`` says which."""

    code = "invalid_seal_data"
    title = "Invalid seal data"


class UnsupportedSealVersion(DomainError):
    """A national seal or signature whose header names a version eseal does not read."""

    code = "unsupported_seal_version"
    title = "Unsupported seal data version"

    def __init__(self, detail: str, *, version: int) -> None:
        super().__init__(detail)
        self.version = version

    def to_problem(self) -> dict[str, object]:
        return {**super().to_problem(), "version": self.version}


class InvalidSesSignature(DomainError):
    """Bytes that are not a national signature (``SES_Signature``): not BER, truncated,
    followed by other bytes, of another structure, or without a signing time eseal reads.
    A well-formed signature that does not verify is not an error: its verification says why
    it is not valid."""

    code = "invalid_ses_signature"
    title = "Invalid signature data"
