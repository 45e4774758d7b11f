"""Bouncy Castle's own GB/T 38540 seals and signatures and OFD sealing: ``SesCheck.java``.

An implementation independent of eseal (Java, Bouncy Castle; ``Ses.java`` holds the seal and
signature structures, ``SesOfd.java`` the OFD package work), written from the standard's ASN.1
and from how ofdrw lays out an OFD signature.  Tests use it two ways: to check what eseal makes
(``verify_*``) and to hand eseal's verifier seals, signatures and sealed OFDs that another
implementation made (``make_*``, ``sign_ofd``).  The makers refuse nothing a verifier should
catch (an expired seal, a signer not on the certList, a wrong version all get made).

Every call returns the JSON object the program prints.  A verification's verdict is in it
(``valid`` and the individual checks), not in an exception; :class:`SesCheckRefused` means the
input is not the structure it should be, or the request was refused (e.g. sealing an OFD whose
Signatures.xml a signature protects).

Needs a JDK and Bouncy Castle's provider, PKIX and utility jars (Debian ``libbcprov-java``,
``libbcpkix-java``, ``libbcutil-java``; ``BCPROV_JAR``, ``BCPKIX_JAR``, ``BCUTIL_JAR``
override).  A missing one skips the tests, and fails them in CI (``helpers.unavailable``).
Compile once per session (a session fixture calling :func:`compile_sescheck`).
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from helpers import require_tool, unavailable

__all__ = ["SOURCES", "SesCheck", "SesCheckRefused", "Tsa", "compile_sescheck"]

HERE = Path(__file__).parent
SOURCES = [HERE / name for name in ("SesCheck.java", "Ses.java", "SesOfd.java")]
JARS = [
    Path(os.environ.get(variable, f"/usr/share/java/{name}.jar"))
    for variable, name in (
        ("BCPROV_JAR", "bcprov"),
        ("BCPKIX_JAR", "bcpkix"),
        ("BCUTIL_JAR", "bcutil"),
    )
]
#: each call is a short JVM: the C1 compiler and the serial collector start faster and use
#: less CPU on a shared machine than the defaults
JVM_OPTIONS = ("-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC")


class SesCheckRefused(Exception):
    """SesCheck exited 1: the input is not what it should be, or the request was refused."""

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


@dataclass(frozen=True)
class Tsa:
    """An SM2 TSA for Bouncy Castle's ``TimeStampTokenGenerator``: the token's imprint is SM3
    of the signature value beside it, its signature SM2 with SM3, and its policy a test arc."""

    #: PKCS#8 PEM (or DER) SM2 private key
    key: Path
    #: its certificate, PEM or DER, with extended key usage timeStamping (critical)
    cert: Path


def _time(when: datetime) -> str:
    if when.tzinfo is None:
        raise ValueError("give an aware datetime (with its offset), e.g. datetime.now(UTC)")
    return when.isoformat()


class SesCheck:
    """Runs the compiled ``SesCheck``; one method per mode (see ``SesCheck.java``)."""

    def __init__(self, classpath: str) -> None:
        self.classpath = classpath

    def run(self, *args: str | Path) -> subprocess.CompletedProcess[str]:
        """The raw process: exit 0 with the JSON answer, 1 with ``{"error"}``, 2 on usage."""
        return subprocess.run(
            ["java", *JVM_OPTIONS, "-cp", self.classpath, "SesCheck", *map(str, args)],
            capture_output=True,
            text=True,
            check=False,
        )

    def call(self, *args: str | Path) -> dict[str, Any]:
        """The JSON answer of a mode; :class:`SesCheckRefused` on exit 1."""
        done = self.run(*args)
        try:
            answer: dict[str, Any] = json.loads(done.stdout)
        except ValueError:
            raise RuntimeError(
                f"SesCheck {args[0]} exited {done.returncode}: {done.stdout}{done.stderr}"
            ) from None
        if done.returncode == 1:
            raise SesCheckRefused(answer["error"])
        if done.returncode != 0:
            raise RuntimeError(f"SesCheck {args[0]}: {answer.get('error')}")
        return answer

    # -- verifying -------------------------------------------------------------------------

    def verify_seal(self, seal: Path, *, at: datetime | None = None) -> dict[str, Any]:
        """The seal's fields and checks: ``version``, ``es_id``, ``type``, ``name``,
        ``cert_count``, ``cert_list``, dates, ``picture``, ``der``, ``maker``,
        ``maker_signature_ok``, ``created_within_maker_validity``, ``within_validity_now``
        (at ``at``, default now), ``timestamp_present``, ``timestamp``, ``valid``."""
        return self.call("verify-seal", seal, *(["--at", _time(at)] if at else []))

    def verify_signature(
        self, signature: Path, *, data: Path | None = None, at: datetime | None = None
    ) -> dict[str, Any]:
        """``version``, ``seal`` (as :meth:`verify_seal`), ``seal_maker_signature_ok``,
        ``seal_valid_at_signing``, ``signer_in_cert_list``, ``signer_cert_valid_at_signing``,
        ``signer_signature_ok``, ``data_hash_ok`` (``None`` without ``data``),
        ``timestamp_present``, ``timestamp`` {``imprint_ok``, ``signature_ok``, ``ok``...},
        ``valid``."""
        args: list[str | Path] = ["verify-signature", signature]
        if data is not None:
            args += ["--data", data]
        if at is not None:
            args += ["--at", _time(at)]
        return self.call(*args)

    def verify_ofd(self, ofd: Path, *, at: datetime | None = None) -> dict[str, Any]:
        """``{signatures_loc, max_sign_id, signatures: [...], valid}``; per signature ``id``,
        ``type``, ``references`` {``ok``, ``changed``, ``missing``}, ``not_covered``,
        ``stamp_annots``, ``seal_matches``, ``signed_value`` (as :meth:`verify_signature`
        over Signature.xml), ``valid``."""
        return self.call("verify-ofd", ofd, *(["--at", _time(at)] if at else []))

    # -- making ----------------------------------------------------------------------------

    def make_seal(
        self,
        out: Path,
        *,
        maker_key: Path,
        maker_cert: Path,
        signer_certs: Sequence[Path],
        picture: Path,
        name: str,
        seal_type: int,
        es_id: str,
        width: int,
        height: int,
        valid_start: datetime,
        valid_end: datetime,
        create_date: datetime | None = None,
        version: int = 4,
        vid: str | None = None,
        picture_type: str = "png",
        cert_list_type: int = 1,
        tsa: Tsa | None = None,
    ) -> dict[str, Any]:
        """Writes an SESeal signed by the maker; ``{version, signed_value, timestamp_present,
        sm3}``.  ``tsa`` (version 5) adds a token over the maker's signature value."""
        args: list[str | Path] = [
            "make-seal",
            out,
            "--maker-key",
            maker_key,
            "--maker-cert",
            maker_cert,
            "--picture",
            picture,
            "--picture-type",
            picture_type,
            "--name",
            name,
            "--type",
            str(seal_type),
            "--es-id",
            es_id,
            "--width",
            str(width),
            "--height",
            str(height),
            "--valid-start",
            _time(valid_start),
            "--valid-end",
            _time(valid_end),
            "--version",
            str(version),
            "--cert-list-type",
            str(cert_list_type),
        ]
        for cert in signer_certs:
            args += ["--signer-cert", cert]
        if create_date is not None:
            args += ["--create-date", _time(create_date)]
        if vid is not None:
            args += ["--vid", vid]
        return self.call(*args, *_tsa(tsa))

    def make_signature(
        self,
        out: Path,
        *,
        seal: Path,
        key: Path,
        cert: Path,
        data: Path,
        version: int | None = None,
        property_info: str = "",
        time: datetime | None = None,
        tsa: Tsa | None = None,
    ) -> dict[str, Any]:
        """Writes an SES_Signature over SM3(``data``) with ``seal`` inside (its version unless
        ``version``), timeInfo ``time`` (default now); ``{version, data_hash,
        signature_value, timestamp_present}``."""
        args: list[str | Path] = [
            "make-signature",
            out,
            "--seal",
            seal,
            "--key",
            key,
            "--cert",
            cert,
            "--data",
            data,
            "--property-info",
            property_info,
        ]
        if version is not None:
            args += ["--version", str(version)]
        if time is not None:
            args += ["--time", _time(time)]
        return self.call(*args, *_tsa(tsa))

    def add_timestamp(self, src: Path, out: Path, token: Path) -> dict[str, Any]:
        """Writes ``src`` (a version 5 SESeal or any SES_Signature) with its ``[0] timeStamp``
        set to ``token`` (a TimeStampToken, or a TimeStampResp holding one); ``{kind}``."""
        return self.call("add-timestamp", src, out, token)

    def sign_ofd(
        self,
        src: Path,
        out: Path,
        *,
        seal: Path,
        key: Path,
        cert: Path,
        page: int = 1,
        x: float,
        y: float,
        w: float,
        h: float,
        version: int | None = None,
        time: datetime | None = None,
        protect_signatures: bool = False,
        tsa: Tsa | None = None,
    ) -> dict[str, Any]:
        """Seals ``src`` into ``out`` as ofdrw does (page from 1, box in mm); ``{signatures_loc,
        sign_dir, signature_id, stamp_annot_id, max_sign_id, page_ref, references,
        protects_signatures_list, version, signature_value, timestamp_present}``."""
        args: list[str | Path] = [
            "sign-ofd",
            src,
            out,
            "--seal",
            seal,
            "--key",
            key,
            "--cert",
            cert,
            "--page",
            str(page),
            *("--x", repr(x), "--y", repr(y), "--w", repr(w), "--h", repr(h)),
        ]
        if version is not None:
            args += ["--version", str(version)]
        if time is not None:
            args += ["--time", _time(time)]
        if protect_signatures:
            args.append("--protect-signatures")
        return self.call(*args, *_tsa(tsa))


def _tsa(tsa: Tsa | None) -> list[str | Path]:
    return [] if tsa is None else ["--tsa-key", tsa.key, "--tsa-cert", tsa.cert]


def compile_sescheck(classes: Path) -> SesCheck:
    """Compile the SesCheck sources into ``classes``; return the runner."""
    require_tool("javac", "java")
    for jar in JARS:
        if not jar.is_file():
            unavailable(
                f"Bouncy Castle jar {jar} not found (Debian: libbcprov-java, "
                "libbcpkix-java, libbcutil-java)"
            )
    jars = os.pathsep.join(map(str, JARS))
    subprocess.run(
        ["javac", "-cp", jars, "-d", str(classes), *map(str, SOURCES)],
        check=True,
        capture_output=True,
        text=True,
    )
    return SesCheck(f"{classes}{os.pathsep}{jars}")
