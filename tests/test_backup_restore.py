"""Backup-and-restore drill on PostgreSQL and the local archive, as docs/runbook.md describes it.

Every step is the command an operator runs (``eseal``, ``pg_dump``, ``pg_restore``,
``createdb``, ``dropdb``, ``cp``, ``install``), in a subprocess:

1. set up a site (database, data dir, archive dir), register an enterprise, seal a document;
2. back up: ``pg_dump -Fc`` first, then the archive directory, then ``keys/`` and ``pki/`` of
   the data dir; the master key goes to a separate place;
3. destroy the database and every directory of the site;
4. restore into a fresh database and fresh directories;
5. ``eseal archive check`` is clean, the old document downloads (through the HTTP API, with
   the admin token made before the backup) with the same SHA-256 and verifies valid, and a new
   document is sealed with the restored keys.

The server is found through ``ESEAL_TEST_PG_URL`` (an admin URL; default ``postgres`` on
127.0.0.1:5432).  Missing PostgreSQL client tools or an unreachable server fail the test: a
backup drill that quietly does not run proves nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import URL, make_url

from helpers import ROOT, USCC, wait_until
from pdfs import simple_pdf

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

PG_ADMIN_URL = os.environ.get(
    "ESEAL_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
PG_TOOLS = ("pg_dump", "pg_restore", "createdb", "dropdb")


def _pg_env(url: URL) -> dict[str, str]:
    """libpq's environment for the client tools (no secret on any command line)."""
    env = {
        "PGHOST": url.host or "127.0.0.1",
        "PGPORT": str(url.port or 5432),
        "PGUSER": url.username or "postgres",
        "PGCONNECT_TIMEOUT": "5",
    }
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    return env


class Site:
    """One eseal installation: its database and directories, and the commands run on it."""

    def __init__(self, root: Path, database: str, admin: URL, port: int) -> None:
        self.root = root
        self.data_dir = root / "data"
        self.archive_dir = root / "archive"
        self.database = database
        self.url = f"http://127.0.0.1:{port}"
        self.port = port
        db_url = admin.set(database=database).render_as_string(hide_password=False)
        base = {k: v for k, v in os.environ.items() if not k.startswith(("ESEAL_", "PG"))}
        self.env = {
            **base,
            **_pg_env(admin),
            "ESEAL_DATA_DIR": str(self.data_dir),
            "ESEAL_ARCHIVE_DIR": str(self.archive_dir),
            "ESEAL_DATABASE_URL": db_url,
            "ESEAL_PUBLIC_URL": self.url,
        }

    def run(self, *cmd: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            list(cmd), env=self.env, capture_output=True, text=True, timeout=300, cwd=ROOT
        )
        if ok:
            assert done.returncode == 0, f"{' '.join(cmd)}: {done.stderr}"
        return done

    def eseal(self, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run(sys.executable, "-m", "api.cli", *args, ok=ok)

    def serve(self) -> subprocess.Popen[bytes]:
        """Start ``eseal serve``; returns once /healthz answers (its output goes to a log)."""
        self.root.mkdir(parents=True, exist_ok=True)
        log = self.root / "serve.log"
        with log.open("ab") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "api.cli", "serve", "--port", str(self.port)],
                env=self.env,
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )

        def healthy() -> bool:
            try:
                return httpx.get(f"{self.url}/healthz", timeout=5).status_code == 200
            except httpx.HTTPError:
                return False

        try:
            wait_until(
                healthy,
                "eseal serve",
                alive=lambda: proc.poll() is None,
                explain=lambda: log.read_text(errors="replace")[-4000:],
            )
        except BaseException:
            proc.kill()
            proc.wait(timeout=30)
            raise
        return proc


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def admin_url() -> URL:
    missing = [tool for tool in PG_TOOLS if shutil.which(tool) is None]
    if missing:
        pytest.fail(f"PostgreSQL client tools missing: {', '.join(missing)}")
    return make_url(PG_ADMIN_URL)


@pytest.fixture
def databases(admin_url: URL) -> Iterator[tuple[str, str]]:
    """Two unique database names (the site's, then the restore's); both dropped at the end."""
    tag = secrets.token_hex(5)
    names = (f"eseal_drill_{tag}", f"eseal_drill_{tag}_restored")
    yield names
    env = {**os.environ, **_pg_env(admin_url)}
    for name in names:
        subprocess.run(
            ["dropdb", "--if-exists", "--force", name], env=env, capture_output=True, timeout=60
        )


def test_backup_destroy_restore_drill(
    admin_url: URL, databases: tuple[str, str], tmp_path: Path
) -> None:
    port = _free_port()
    site = Site(tmp_path / "site", databases[0], admin_url, port)
    backup = tmp_path / "backup"  # where the backups go (another machine, in real life)
    vault = tmp_path / "vault"  # where the master key is kept, apart from the backups
    work = tmp_path / "work"
    for d in (backup, vault, work):
        d.mkdir()

    # -- 1. a working site with one sealed document -----------------------------------------
    created = site.run("createdb", site.database, ok=False)
    assert created.returncode == 0, (
        f"cannot create a database on {admin_url.host}: {created.stderr} (set ESEAL_TEST_PG_URL)"
    )
    init = json.loads(site.eseal("init").stdout)
    admin_token = init["admin_key"]["token"]
    site.eseal("enterprise", "register", str(ROOT / "examples" / "license.json"))
    (work / "contract.pdf").write_bytes(simple_pdf(2, text="Contract before the backup"))
    sealed = json.loads(
        site.eseal(
            "sign",
            str(work / "contract.pdf"),
            "-o",
            str(work / "sealed.pdf"),
            "--uscc",
            USCC,
            "--seal",
            "contract",
            "--document-type",
            "contract",
        ).stdout
    )
    archive_id, sha256 = sealed["archive_id"], sealed["sha256"]
    assert _sha256(work / "sealed.pdf") == sha256
    assert not (site.data_dir / "eseal.db").exists()  # the metadata is in PostgreSQL

    # -- 2. back up: database first, then the archive, then keys and PKI; master key apart --
    site.run("pg_dump", "-Fc", "-d", site.database, "-f", str(backup / "eseal.dump"))
    site.run("cp", "-a", str(site.archive_dir), str(backup / "archive"))
    (backup / "data").mkdir()
    site.run(
        "cp", "-a", str(site.data_dir / "keys"), str(site.data_dir / "pki"), str(backup / "data")
    )
    site.run("cp", "-a", str(site.data_dir / "master.key"), str(vault / "master.key"))
    assert not list(backup.rglob("master.key"))  # the backup alone opens no key

    # -- 3. disaster: the database and every directory of the site are gone -------------------
    site.run("dropdb", "--force", site.database)
    shutil.rmtree(tmp_path / "site")

    # -- 4. restore into a fresh database and fresh directories ------------------------------
    new = Site(tmp_path / "restored", databases[1], admin_url, port)
    new.run("createdb", new.database)
    new.run(
        "pg_restore",
        "--no-owner",
        "--exit-on-error",
        "-d",
        new.database,
        str(backup / "eseal.dump"),
    )
    new.data_dir.mkdir(parents=True)
    new.run(
        "cp", "-a", str(backup / "data" / "keys"), str(backup / "data" / "pki"), str(new.data_dir)
    )
    new.run("install", "-m", "600", str(vault / "master.key"), str(new.data_dir / "master.key"))
    new.run("cp", "-a", str(backup / "archive"), str(new.archive_dir))

    # -- 5. the restored site: archive clean, old document intact and valid, new seals work --
    check = json.loads(new.eseal("archive", "check").stdout)
    assert check["clean"] is True and check["unresolved"] == 0, check
    assert (check["rows"], check["objects"], check["verified"]) == (1, 1, 1)

    server = new.serve()
    try:
        auth = {"Authorization": f"Bearer {admin_token}"}  # the token survives the restore
        got = httpx.get(f"{new.url}/v1/archives/{archive_id}/file", headers=auth, timeout=60)
        assert got.status_code == 200, got.text
        (work / "downloaded.pdf").write_bytes(got.content)
        assert hashlib.sha256(got.content).hexdigest() == sha256
        meta = httpx.get(f"{new.url}/v1/archives/{archive_id}", headers=auth, timeout=60)
        assert meta.status_code == 200 and meta.json()["sha256"] == sha256
    finally:
        server.terminate()
        server.wait(timeout=30)

    verified = new.eseal(
        "verify", str(work / "downloaded.pdf"), "--expect-uscc", USCC, "--json", ok=False
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr
    report = json.loads(verified.stdout)
    assert report["valid"] is True and report["file"]["sha256"] == sha256

    (work / "after.pdf").write_bytes(simple_pdf(1, text="Contract after the restore"))
    after = json.loads(
        new.eseal(
            "sign",
            str(work / "after.pdf"),
            "-o",
            str(work / "after-sealed.pdf"),
            "--uscc",
            USCC,
            "--seal",
            "contract",
            "--document-type",
            "contract",
        ).stdout
    )
    assert after["archive_id"] != archive_id
    again = new.eseal("verify", str(work / "after-sealed.pdf"), "--expect-uscc", USCC, ok=False)
    assert again.returncode == 0, again.stdout + again.stderr
    check = json.loads(new.eseal("archive", "check").stdout)
    assert check["clean"] is True and check["rows"] == 2, check
