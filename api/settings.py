"""All settings of eseal: one typed object read from ``ESEAL_*`` environment variables."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from keystore.base import KeyAlgorithm

__all__ = ["Settings"]


class Settings(BaseSettings):
    """Built once at start-up (never at import time) and passed to what needs it."""

    model_config = SettingsConfigDict(env_prefix="ESEAL_", extra="ignore")

    data_dir: Path = Field(Path("eseal-data"), description="where SQLite, keys and PKI live")
    database_url: str | None = Field(
        None, description="SQLAlchemy URL; default: SQLite file eseal.db in the data dir"
    )
    master_key: SecretStr | None = Field(
        None, description="base64 of 32 bytes; default: the key file made by 'eseal init'"
    )
    public_url: str = Field("http://127.0.0.1:8000", description="base of AIA/CRL URLs")
    organisation: str = Field("eseal", description="name in the CA certificates")

    keystore: Literal["soft", "pkcs11"] = Field("soft", description="where seal keys live")
    pkcs11_module: str = Field("/usr/lib/softhsm/libsofthsm2.so", description="PKCS#11 module")
    pkcs11_token_label: str = Field("eseal", description="label of the PKCS#11 token")
    pkcs11_pin: SecretStr | None = Field(None, description="user PIN of the token")
    key_algorithm: KeyAlgorithm = Field(KeyAlgorithm.EC_P256, description="seal key type")

    @field_validator("key_algorithm")
    @classmethod
    def _pdf_key_algorithm(cls, value: KeyAlgorithm) -> KeyAlgorithm:
        # the international key type; SM2 keys come beside it (ESEAL_SEAL_ALGORITHMS), and
        # PDFs are signed with them by ESEAL_PDF_SIGN_ALGORITHM=sm2 or the request's algorithm
        if value is KeyAlgorithm.SM2:
            raise ValueError(
                "ESEAL_KEY_ALGORITHM is the international key type (ec-p256, rsa-2048 or "
                "rsa-3072); SM2 keys come with ESEAL_SEAL_ALGORITHMS=sm2,... and sign PDFs "
                "with ESEAL_PDF_SIGN_ALGORITHM=sm2"
            )
        return value

    pdf_sign_algorithm: KeyAlgorithm | None = Field(
        None,
        description="the seal key that signs PDFs when a request names none: sm2, or the "
        "international key type (the default, which Adobe-family readers validate)",
    )

    seal_algorithms: str = Field(
        "sm2,ec-p256",
        description="certificates every seal gets: sm2 and/or the international key type "
        "(ec-p256, rsa-2048, rsa-3072; ESEAL_KEY_ALGORITHM), comma-separated",
    )

    @field_validator("seal_algorithms")
    @classmethod
    def _seal_algorithms(cls, value: str) -> str:
        names = [n.strip().lower() for n in value.split(",") if n.strip()]
        known = [a.value for a in KeyAlgorithm]
        for name in names:
            if name not in known:
                raise ValueError(
                    f"unknown seal algorithm {name[:20]!r}; one of: {', '.join(known)}"
                )
        international = {n for n in names if n != KeyAlgorithm.SM2.value}
        if len(international) != 1:
            # the international certificate signs PDFs; SM2-only seals come with SM2 PAdES
            raise ValueError(
                "name exactly one international key type (ec-p256, rsa-2048 or "
                "rsa-3072) beside sm2, e.g. sm2,ec-p256"
            )
        return ",".join(dict.fromkeys(names))

    @model_validator(mode="after")
    def _one_international_key_type(self) -> Settings:
        # ESEAL_SEAL_ALGORITHMS' international entry and ESEAL_KEY_ALGORITHM name one thing:
        # whichever is set decides the other; both set and different is an error
        named = next(n for n in self.seal_algorithms.split(",") if n != KeyAlgorithm.SM2.value)
        if named == self.key_algorithm.value:
            return self
        given = self.model_fields_set
        if "seal_algorithms" in given and "key_algorithm" in given:
            raise ValueError(
                f"ESEAL_SEAL_ALGORITHMS names {named} but ESEAL_KEY_ALGORITHM is "
                f"{self.key_algorithm.value}"
            )
        if "seal_algorithms" in given:
            self.key_algorithm = KeyAlgorithm(named)
        else:
            self.seal_algorithms = ",".join(
                self.key_algorithm.value if n == named else n
                for n in self.seal_algorithms.split(",")
            )
        return self

    @model_validator(mode="after")
    def _pdf_sign_algorithm_is_a_seal_key(self) -> Settings:
        chosen = self.pdf_sign_algorithm
        if chosen is not None and chosen.value not in self.seal_algorithms.split(","):
            raise ValueError(
                f"ESEAL_PDF_SIGN_ALGORITHM is {chosen.value}, which is not among the seals' "
                f"keys (ESEAL_SEAL_ALGORITHMS={self.seal_algorithms})"
            )
        return self

    @property
    def sm2_seals(self) -> bool:
        """Whether every seal also gets an SM2 key and certificate."""
        return KeyAlgorithm.SM2.value in self.seal_algorithms.split(",")

    ses_seal_version: int = Field(
        4,
        ge=4,
        le=5,
        description="version of the GB/T 38540 seal data (SESeal, .esl) every SM2 seal gets: "
        "4 (GB/T 38540-2020), or 5 (GM/T 0031-2025: with an SM2 TSA timestamp over the seal "
        "maker's signature)",
    )
    seal_validity_days: int = Field(365 * 3, ge=1, le=365 * 20)
    font_path: Path | None = Field(None, description="CJK font for seal images")

    tsa_url: str | None = Field(None, description="external RFC 3161 TSA; default built-in")

    archive_dir: Path | None = Field(None, description="local archive; default <data_dir>/archive")
    s3_endpoint: str | None = Field(None, description="host:port of S3/MinIO; set = use S3")
    s3_access_key: SecretStr | None = Field(None, description="S3 access key")
    s3_secret_key: SecretStr | None = Field(None, description="S3 secret key")
    s3_bucket: str = Field("eseal-archive", description="bucket of the archive")
    s3_secure: bool = Field(True, description="TLS to the S3 endpoint")
    s3_region: str = Field("us-east-1", description="S3 region used in request signatures")
    archive_retention_days: int | None = Field(None, ge=1, description="object lock retention")
    archive_retention_mode: Literal["GOVERNANCE", "COMPLIANCE"] = Field(
        "GOVERNANCE", description="object lock mode"
    )
    trust_bundle: Path | None = Field(None, description="extra trust anchors (PEM) for verify")
    verify_fetch: bool = Field(False, description="fetch revocation data online when verifying")
    verify_public: bool = Field(False, description="let anyone (no token) use POST /v1/verify")
    tsa_public: bool = Field(False, description="let anyone (no token) use POST /v1/tsa")
    max_upload_mb: float = Field(50, gt=0, le=2048, description="largest accepted upload")
    document_cpu_seconds: float = Field(
        60, gt=0, description="CPU time one document's sealing or verification may take"
    )
    document_wall_seconds: float = Field(
        300, gt=0, description="wall time one document's sealing or verification may take"
    )
    log_level: str = Field("INFO", description="log level of the JSON logs")
    login_challenge_seconds: int = Field(
        300,
        ge=30,
        le=3600,
        description="how long a login challenge (认证登录) waits to be confirmed",
    )
    login_assertion_seconds: int = Field(
        300, ge=30, le=3600, description="how long a login assertion counts once it is signed"
    )
    approval_ttl_hours: float = Field(
        72,
        gt=0,
        le=24 * 366,
        description="how long a sealing request waits for its approvals before it expires",
    )
    approval_sweep_seconds: float = Field(
        60,
        ge=0,
        le=3600,
        description="how often each server process ends the approval requests whose time ran "
        "out (0: only when they are read or decided)",
    )

    group_commit: bool = Field(
        True,
        description="archive rows of concurrent sealing requests in one process commit in one "
        "transaction (each answered once its own row is committed)",
    )

    # batches (POST /v1/batches): the queue is in the database, every server process works it
    batch_workers: int = Field(
        2, ge=0, le=64, description="threads per server process that seal batch files (0: none)"
    )
    batch_max_files: int = Field(5000, ge=1, le=100_000, description="most files in one batch")
    batch_lease_seconds: float = Field(
        60,
        gt=0,
        description="a worker's hold on a file, renewed while it works; a file whose worker "
        "died is taken again after this",
    )
    batch_poll_seconds: float = Field(
        0.25,
        gt=0,
        le=60,
        description="how often an idle worker looks for queued files (a batch wakes the "
        "workers of the process that accepts it at once, those of the others at their next look)",
    )
    batch_max_attempts: int = Field(
        5, ge=1, le=100, description="tries of one file (outages, dead workers) before it fails"
    )

    # -- signed webhooks (api/webhooks.py, api/webhook_worker.py) --
    webhook_allow_http: bool = Field(
        False, description="accept http:// webhook URLs (tests, a receiver on the same host)"
    )
    webhook_allow_private: bool = Field(
        False,
        description="deliver webhooks to loopback, link-local and private addresses (checked "
        "after DNS resolution, at subscription and at each delivery)",
    )
    webhook_worker: bool = Field(True, description="run the delivery worker in the server")
    webhook_timeout_seconds: float = Field(
        10, gt=0, le=120, description="how long a receiver may take to answer one delivery"
    )
    webhook_retry_hours: float = Field(
        24, gt=0, description="how long a delivery is retried before it is given up"
    )
    webhook_backoff_seconds: float = Field(
        30, gt=0, description="wait before the first retry; doubled after each failure"
    )
    webhook_backoff_max_seconds: float = Field(
        3600, gt=0, description="longest wait between two retries"
    )
    webhook_poll_seconds: float = Field(
        2, gt=0, description="how often the worker looks for events of other processes (CLI)"
    )
    webhook_log_days: float = Field(
        30, gt=0, description="how long ended deliveries and their attempts stay in the log"
    )
    webhook_secret_overlap_hours: float = Field(
        24, ge=0, le=24 * 30, description="default time the old secret still signs after a rotation"
    )

    # -- the license as identity (issue 18) -------------------------------------------------
    registration_authority: str = Field(
        "市场监督管理局",
        min_length=2,
        max_length=40,
        description="the registration authority (登记机关) whose platform seal seals the "
        "license PDFs and signs the check codes; 'eseal init' and every start make its seal "
        "(a new name gets a new seal at the next start)",
    )
    check_code_minutes: float = Field(
        5,
        gt=0,
        le=24 * 60,
        description="how long a scan-to-check code (POST .../license-qr) stays valid, minutes",
    )

    # -- front systems (前置系统, issue 19) ---------------------------------------------------
    mode: Literal["centre", "front"] = Field(
        "centre",
        description="centre: the registry, sealing and verification; front: a verification "
        "front system with a replica of the centre's registry, which seals nothing",
    )
    upstream_url: str | None = Field(None, description="front: the centre's base URL")
    upstream_token: SecretStr | None = Field(
        None,
        description="front: a verifier key of the centre registered with the front's own access "
        "form (front_system true), which may read the registry feed",
    )
    upstream_feed_certificate: Path | None = Field(
        None,
        description="front: the centre's feed certificate (PEM, 'GET /v1/registry/feed/"
        "certificate' at the centre); unset: pinned on first contact",
    )
    feed_interval_seconds: float = Field(
        5, gt=0, le=3600, description="front: how often the registry feed is pulled"
    )
    feed_batch_size: int = Field(
        100,
        ge=1,
        le=1000,
        description="front: records per feed batch (a seal record carries its image, ~100 KB)",
    )
    registry_max_age: float = Field(
        600,
        gt=0,
        description="front: seconds after which a replica not confirmed current makes every "
        "verification say it could not confirm the current status",
    )

    @property
    def db_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'eseal.db').resolve()}"

    @property
    def keys_dir(self) -> Path:
        return self.data_dir / "keys"

    @property
    def pki_dir(self) -> Path:
        return self.data_dir / "pki"

    @property
    def master_key_file(self) -> Path:
        return self.data_dir / "master.key"
