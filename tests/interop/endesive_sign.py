"""Sign a PDF with endesive, in a subprocess (oscrypto's library choice must not leak; see
tests/endesive_verify.py, whose choice of libcrypto this reuses).

    python tests/interop/endesive_sign.py IN.pdf OUT.pdf KEY.pem CERT.pem CHAIN.pem FIELD

appends endesive's incremental update (its own appearance, a box on page 1) to IN.pdf.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from endesive_verify import _parsable_openssl


def main() -> int:
    source, target, key_pem, cert_pem, chain_pem, field = sys.argv[1:]
    found = _parsable_openssl()
    if found:
        import oscrypto

        oscrypto.use_openssl(*found)
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import load_pem_private_key
    from endesive.pdf import cms

    pdf = Path(source).read_bytes()
    key = load_pem_private_key(Path(key_pem).read_bytes(), None)
    cert = x509.load_pem_x509_certificate(Path(cert_pem).read_bytes())
    chain = x509.load_pem_x509_certificates(Path(chain_pem).read_bytes())
    offset = 120 * (int(field[-1]) if field[-1].isdigit() else 0)
    options = {
        "sigflags": 3,
        "sigfield": field,
        "contact": "signer@example.com",
        "location": "Beijing",
        "signingdate": "20260301120000+00'00'",
        "reason": "foreign signer",
        "signature": "endesive",
        "signaturebox": (300, 100 + offset, 400, 200 + offset),
    }
    Path(target).write_bytes(pdf + cms.sign(pdf, options, key, cert, chain, "sha256"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
