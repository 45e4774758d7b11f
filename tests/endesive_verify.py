"""endesive's PDF verifier, usable despite oscrypto 1.3.0's OpenSSL version parsing.

oscrypto 1.3.0 (pulled in by endesive 3.0.1 through certvalidator) reads the version of the
system's libcrypto with a pattern that cannot parse two-digit patch releases ("3.0.19"), and
fails at import.  oscrypto's own documented switch, ``oscrypto.use_openssl(...)``, points it at
another libcrypto; we give it the first one found whose version it can parse (psycopg's
binary wheel ships one).  Nothing is patched; run this module as a script in a subprocess so
the choice does not leak into the test process.

    python tests/endesive_verify.py FILE.pdf ROOT.pem [MORE.pem ...]

prints one JSON line per signature: {"kind", "hash_ok", "signature_ok", "cert_ok"}.
"""

from __future__ import annotations

import glob
import json
import re
import sys
import sysconfig
from pathlib import Path


def _parsable_openssl() -> tuple[str, str] | None:
    site = Path(sysconfig.get_paths()["purelib"])
    candidates = sorted(glob.glob(str(site / "*.libs" / "libcrypto*.so*")))
    candidates += sorted(glob.glob("/usr/lib/*/libcrypto.so*"))
    for crypto in candidates:
        data = Path(crypto).read_bytes()
        m = re.search(rb"OpenSSL (\d+\.\d+\.\d+)[a-z]* ", data)
        if not m or not re.fullmatch(rb"\d\.\d\.\d", m.group(1)):
            continue
        ssl = next(iter(sorted(glob.glob(str(Path(crypto).parent / "libssl*.so*")))), None)
        if ssl:
            return crypto, ssl
    return None


def main() -> int:
    pdf, *roots = sys.argv[1:]
    found = _parsable_openssl()
    if found:
        import oscrypto

        oscrypto.use_openssl(*found)
    from endesive.pdf.verify import PDFVerifier

    trusted = [Path(r).read_bytes() for r in roots]
    for result in PDFVerifier(Path(pdf).read_bytes(), trusted).verify_all_signatures():
        kind = "timestamp" if result.signed_data is None else "signature"
        print(
            json.dumps(
                {
                    "kind": kind,
                    "hash_ok": result.hashok,
                    "signature_ok": result.signatureok,
                    "cert_ok": result.certok,
                }
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
