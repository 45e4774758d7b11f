"""Master-key rotation (``eseal keys rotate-master``) on real data dirs, no mocks.

Seal keys still load and sign after a rotation, the old key no longer opens the store, an
interrupted rotation is finished by a re-run, the refusals change nothing, and no key material
reaches stdout or stderr.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from api.cli import main
from api.container import Container, build
from api.settings import Settings
from helpers import ROOT, USCC, license_data
from keystore.errors import MasterKeyError
from keystore.masterkey import MasterKey, load_master_key
from keystore.rotation import commit, stage
from keystore.soft import SoftKeyStore, master_wrapped_files
from pdfs import simple_pdf
from seals.kinds import SealKind
from seals.license import parse_license
from signer.service import SealingOptions, SealOrder

pytestmark = pytest.mark.slow

OTHER_USCC = "91110000600037341L"


# -- helpers ------------------------------------------------------------------------------


def _new_key() -> bytes:
    return secrets.token_bytes(32)


def _b64(key: bytes) -> str:
    return base64.b64encode(key).decode()


def _write_key_file(path: Path, key: bytes) -> Path:
    path.write_text(_b64(key) + "\n")
    path.chmod(0o600)
    return path


def _snapshot(directory: Path) -> dict[str, str]:
    """SHA-256 of every file under ``directory`` (names relative to it)."""
    return {
        str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


def _key_forms(key: bytes) -> list[str]:
    """Ways a key could leak into text: base64 (both alphabets, with and without padding),
    hex, and Python's bytes repr."""
    b64 = _b64(key)
    return [
        b64,
        b64.rstrip("="),
        base64.urlsafe_b64encode(key).decode().rstrip("="),
        key.hex(),
        repr(key)[2:-1],
    ]


def assert_no_key(text: str, *keys: bytes) -> None:
    for key in keys:
        for form in _key_forms(key):
            assert form not in text


class Cli:
    """``eseal`` in-process, with the environment of one data dir."""

    def __init__(
        self, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], data_dir: Path
    ) -> None:
        self._mp = monkeypatch
        self._capsys = capsys
        monkeypatch.setenv("ESEAL_DATA_DIR", str(data_dir))
        monkeypatch.delenv("ESEAL_MASTER_KEY", raising=False)

    def env(self, name: str, value: str | None) -> None:
        if value is None:
            self._mp.delenv(name, raising=False)
        else:
            self._mp.setenv(name, value)

    def __call__(self, *args: str) -> tuple[int, str, str]:
        self._capsys.readouterr()
        rc = main(["keys", "rotate-master", *args])
        out, err = self._capsys.readouterr()
        return rc, out, err


@pytest.fixture
def cli(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], registered: Settings
) -> Cli:
    return Cli(monkeypatch, capsys, registered.data_dir)


@pytest.fixture
def old_key(registered: Settings) -> bytes:
    return base64.b64decode(registered.master_key_file.read_text().strip())


@pytest.fixture(scope="session")
def _registered_template(
    _initialised_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """Two enterprises with their seals: three scopes (pki and two USCCs) in the store.
    Made once (registration renders ten seal images) and copied for each test."""
    path = tmp_path_factory.mktemp("registered") / "data"
    shutil.copytree(_initialised_template, path)
    c = build(Settings(data_dir=path))
    try:
        c.seals.register(parse_license(license_data()))
        c.seals.register(
            parse_license(
                license_data(uscc=OTHER_USCC, name="示例贸易有限公司", legal_representative="李娜")
            )
        )
    finally:
        c.close()
    return path


@pytest.fixture
def registered(_registered_template: Path, tmp_path: Path) -> Settings:
    data = tmp_path / "data"
    shutil.copytree(_registered_template, data)
    return Settings(data_dir=data, public_url="http://127.0.0.1:8000")


async def _seal_and_verify(c: Container) -> None:
    """A contract sealed with a seal key and timestamped with the TSA key, then verified."""
    options = SealingOptions(seals=[SealOrder(SealKind.CONTRACT), SealOrder(SealKind.LEGAL_REP)])
    pdf, used = await c.sealing.seal(USCC, simple_pdf(1), options)
    assert [s.kind for s in used] == [SealKind.CONTRACT, SealKind.LEGAL_REP]
    report = await c.verifier.verify(pdf, USCC)
    assert report["valid"] is True, report["problems"]
    other, _ = await c.sealing.seal(OTHER_USCC, simple_pdf(1), SealingOptions())
    assert (await c.verifier.verify(other, OTHER_USCC))["valid"] is True


#: wrapped files of a data dir with two enterprises: pki, pki-sm2, two enterprises, master.check
WRAPPED = 5


def _assert_store_under(settings: Settings, key: bytes) -> None:
    """Every wrapped file opens with ``key`` and no ``.new`` file is left."""
    master = MasterKey(key)
    files = master_wrapped_files(settings.keys_dir)
    assert len(files) == WRAPPED
    for path, context in files:
        assert master.try_unwrap(path.read_bytes(), context) is not None, path.name
    assert not list(settings.keys_dir.rglob("*.new"))
    SoftKeyStore(settings.keys_dir, master).check()


# -- rotation works -----------------------------------------------------------------------


async def test_seal_keys_sign_after_rotation_with_the_key_file(
    registered: Settings, cli: Cli, old_key: bytes, tmp_path: Path
) -> None:
    settings = registered
    before = build(settings)
    try:
        await _seal_and_verify(before)
    finally:
        before.close()
    keys_before = _snapshot(settings.keys_dir)
    new_key = _new_key()

    rc, out, err = cli(
        "--new-key-file", str(_write_key_file(tmp_path / "new.key", new_key)), "--install"
    )

    assert rc == 0, err
    assert_no_key(out + err, old_key, new_key)
    report = json.loads(out)
    assert report["files"] == report["rewrapped"] == WRAPPED and report["already_new"] == 0
    assert report["master_key_source"] == "key file" and report["installed"] is True
    # the key file was replaced atomically and keeps mode 0600
    assert load_master_key(None, settings.master_key_file).same_as(MasterKey(new_key))
    assert settings.master_key_file.stat().st_mode & 0o777 == 0o600
    assert not [p for p in settings.data_dir.iterdir() if p.name.endswith(".tmp")]
    # private key files untouched, every wrapped file changed
    keys_after = _snapshot(settings.keys_dir)
    for name, digest in keys_before.items():
        assert (keys_after[name] == digest) == name.endswith(".key"), name
    _assert_store_under(settings, new_key)

    after = build(settings)  # reads the installed key file
    try:
        await _seal_and_verify(after)
    finally:
        after.close()


def test_the_old_key_no_longer_opens_the_store(
    registered: Settings, cli: Cli, old_key: bytes, tmp_path: Path
) -> None:
    new_key = _new_key()
    rc, _, err = cli("--new-key-file", str(_write_key_file(tmp_path / "new.key", new_key)))
    assert rc == 0, err
    with pytest.raises(MasterKeyError):
        SoftKeyStore(registered.keys_dir, MasterKey(old_key)).check()
    # master.key still holds the old key (no --install): the server refuses to start
    with pytest.raises(MasterKeyError):
        build(registered)
    with pytest.raises(MasterKeyError):
        build(registered.model_copy(update={"master_key": SecretStr(_b64(old_key))}))
    build(registered.model_copy(update={"master_key": SecretStr(_b64(new_key))})).close()


async def test_env_var_deployment(
    registered: Settings, cli: Cli, old_key: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ESEAL_MASTER_KEY holds the key (no key file): the command says what to change."""
    registered.master_key_file.unlink()
    new_key = _new_key()
    cli.env("ESEAL_MASTER_KEY", _b64(old_key))
    cli.env("ESEAL_NEW_MASTER_KEY", _b64(new_key))

    rc, out, err = cli("--new-key-env", "ESEAL_NEW_MASTER_KEY")

    assert rc == 0, err
    assert_no_key(out + err, old_key, new_key)
    report = json.loads(out)
    assert report["master_key_source"] == "ESEAL_MASTER_KEY"
    assert report["installed"] is False and report["key_file"] is None
    assert "ESEAL_MASTER_KEY" in report["next"]
    assert not registered.master_key_file.exists()  # nothing written where no file was
    _assert_store_under(registered, new_key)
    c = build(registered.model_copy(update={"master_key": SecretStr(_b64(new_key))}))
    try:
        await _seal_and_verify(c)
    finally:
        c.close()


def test_cli_in_a_subprocess_prints_no_key(
    registered: Settings, old_key: bytes, tmp_path: Path
) -> None:
    """The real command line, as an operator runs it; the new key only in the environment."""
    new_key = _new_key()
    env = {
        **os.environ,
        "ESEAL_DATA_DIR": str(registered.data_dir),
        "ESEAL_NEW_MASTER_KEY": _b64(new_key),
    }
    env.pop("ESEAL_MASTER_KEY", None)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "api.cli", "keys", "rotate-master", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            cwd=ROOT,
        )

    done = run("--new-key-env", "ESEAL_NEW_MASTER_KEY", "--install")
    assert done.returncode == 0, done.stderr
    again = run("--new-key-env", "ESEAL_NEW_MASTER_KEY")  # now the same key: refused
    assert again.returncode == 1
    assert json.loads(again.stderr)["code"] == "master_key_unchanged"
    for proc in (done, again):
        assert_no_key(proc.stdout + proc.stderr, old_key, new_key)
    _assert_store_under(registered, new_key)


# -- an interrupted rotation is finished by a re-run --------------------------------------


def _crash_after_staging(settings: Settings, old: bytes, new: bytes) -> list[Path]:
    targets, already = stage(settings.keys_dir, MasterKey(old), MasterKey(new))
    assert already == 0 and len(targets) == WRAPPED
    assert len(list(settings.keys_dir.rglob("*.new"))) == WRAPPED
    return targets


def _nothing_renamed(settings: Settings, old: bytes, new: bytes) -> int:
    _crash_after_staging(settings, old, new)
    return 0


def _half_renamed(settings: Settings, old: bytes, new: bytes) -> int:
    targets = _crash_after_staging(settings, old, new)
    commit(targets[:2])
    return 2


def _all_but_the_check_file_renamed(settings: Settings, old: bytes, new: bytes) -> int:
    targets = _crash_after_staging(settings, old, new)
    assert targets[-1].name == "master.check"
    commit(targets[:-1])
    return WRAPPED - 1


def _torn_new_file(settings: Settings, old: bytes, new: bytes) -> int:
    """Crash while writing: one ``.new`` is cut short, one renamed, the rest staged."""
    targets = _crash_after_staging(settings, old, new)
    commit(targets[:1])
    torn = targets[2].with_name(targets[2].name + ".new")
    torn.write_bytes(torn.read_bytes()[:20])
    return 1


def _everything_renamed(settings: Settings, old: bytes, new: bytes) -> int:
    """Crash after the last rename, before the key file was replaced."""
    commit(_crash_after_staging(settings, old, new))
    return WRAPPED


@pytest.mark.parametrize(
    "crash",
    [
        _nothing_renamed,
        _half_renamed,
        _all_but_the_check_file_renamed,
        _torn_new_file,
        _everything_renamed,
    ],
)
async def test_a_rerun_finishes_an_interrupted_rotation(
    registered: Settings,
    cli: Cli,
    old_key: bytes,
    tmp_path: Path,
    crash: Callable[[Settings, bytes, bytes], int],
) -> None:
    new_key = _new_key()
    keys_before = {k: v for k, v in _snapshot(registered.keys_dir).items() if k.endswith(".key")}
    renamed = crash(registered, old_key, new_key)
    # the store is now mixed: neither key alone opens every file
    opened_by_new = sum(
        MasterKey(new_key).try_unwrap(p.read_bytes(), c) is not None
        for p, c in master_wrapped_files(registered.keys_dir)
    )
    assert opened_by_new == renamed

    rc, out, err = cli(
        "--new-key-file", str(_write_key_file(tmp_path / "new.key", new_key)), "--install"
    )

    assert rc == 0, err
    report = json.loads(out)
    assert report["already_new"] == renamed and report["rewrapped"] == WRAPPED - renamed
    _assert_store_under(registered, new_key)
    keys_after = _snapshot(registered.keys_dir)
    assert {k: keys_after[k] for k in keys_before} == keys_before
    c = build(registered)
    try:
        await _seal_and_verify(c)
    finally:
        c.close()


# -- refusals change nothing --------------------------------------------------------------


@pytest.fixture
def unchanged(registered: Settings) -> Iterator[None]:
    """The test's command must leave the data dir exactly as it was."""
    before = _snapshot(registered.data_dir)
    yield
    assert _snapshot(registered.data_dir) == before


@pytest.mark.usefixtures("unchanged")
def test_refuses_when_the_current_key_does_not_open_the_store(
    registered: Settings, cli: Cli, old_key: bytes, tmp_path: Path
) -> None:
    wrong, new_key = _new_key(), _new_key()
    cli.env("ESEAL_MASTER_KEY", _b64(wrong))
    rc, out, err = cli("--new-key-file", str(_write_key_file(tmp_path / "new.key", new_key)))
    assert rc == 1 and out == ""
    problem = json.loads(err)
    assert problem["code"] == "master_key_invalid"
    assert "does not open the key store" in problem["detail"]
    assert_no_key(err, old_key, new_key, wrong)


@pytest.mark.usefixtures("unchanged")
def test_refuses_when_a_file_opens_with_neither_key(
    registered: Settings, cli: Cli, old_key: bytes, tmp_path: Path
) -> None:
    """A data key wrapped by some third key (a mixed-up restore) stops the rotation early."""
    dek = registered.keys_dir / OTHER_USCC / "dek.bin"
    saved = dek.read_bytes()
    dek.write_bytes(
        MasterKey(_new_key()).wrap(secrets.token_bytes(32), b"eseal-dek:" + OTHER_USCC.encode())
    )
    try:
        rc, _, err = cli("--new-key-file", str(_write_key_file(tmp_path / "n.key", _new_key())))
        assert rc == 1
        assert json.loads(err)["code"] == "master_key_invalid"
        assert not list(registered.keys_dir.rglob("*.new"))
    finally:
        dek.write_bytes(saved)


@pytest.mark.usefixtures("unchanged")
def test_refuses_the_current_key_as_the_new_one(
    registered: Settings, cli: Cli, old_key: bytes, tmp_path: Path
) -> None:
    rc, _, err = cli("--new-key-file", str(_write_key_file(tmp_path / "same.key", old_key)))
    assert rc == 1
    assert json.loads(err)["code"] == "master_key_unchanged"
    rc, _, err = cli("--new-key-file", str(registered.master_key_file), "--install")
    assert rc == 1
    assert json.loads(err)["code"] == "master_key_unchanged"
    assert_no_key(err, old_key)


@pytest.mark.parametrize(
    "content",
    [
        None,  # missing
        b"",
        b"not base64 at all!\n",
        base64.b64encode(secrets.token_bytes(16)) + b"\n",  # 16 bytes: too short
        base64.b64encode(secrets.token_bytes(48)),  # too long
        secrets.token_bytes(32),  # raw bytes instead of base64
    ],
    ids=["missing", "empty", "not-base64", "short", "long", "raw-bytes"],
)
@pytest.mark.usefixtures("unchanged")
def test_refuses_a_missing_or_invalid_new_key_file(
    registered: Settings, cli: Cli, old_key: bytes, tmp_path: Path, content: bytes | None
) -> None:
    path = tmp_path / "new.key"
    if content is not None:
        path.write_bytes(content)
    rc, out, err = cli("--new-key-file", str(path), "--install")
    assert rc == 1 and out == ""
    problem = json.loads(err)
    assert problem["code"] == "new_master_key_invalid" and problem["status"] == 422
    assert_no_key(err, old_key)
    if content:
        assert content.decode("latin-1").strip() not in err


@pytest.mark.parametrize("value", [None, "", "c2hvcnQ="], ids=["unset", "empty", "short"])
@pytest.mark.usefixtures("unchanged")
def test_refuses_a_missing_or_invalid_new_key_variable(
    registered: Settings, cli: Cli, value: str | None
) -> None:
    cli.env("ESEAL_NEW_MASTER_KEY", value)
    rc, _, err = cli("--new-key-env", "ESEAL_NEW_MASTER_KEY")
    assert rc == 1
    problem = json.loads(err)
    assert problem["code"] == "new_master_key_invalid"
    assert "ESEAL_NEW_MASTER_KEY" in problem["detail"]


@pytest.mark.usefixtures("unchanged")
def test_install_refused_when_the_key_comes_from_the_environment(
    registered: Settings, cli: Cli, old_key: bytes, tmp_path: Path
) -> None:
    cli.env("ESEAL_MASTER_KEY", _b64(old_key))
    rc, _, err = cli(
        "--new-key-file", str(_write_key_file(tmp_path / "new.key", _new_key())), "--install"
    )
    assert rc == 1
    assert json.loads(err)["code"] == "install_needs_key_file"


def test_the_new_key_is_never_an_argument(registered: Settings, cli: Cli) -> None:
    """There is no option that takes the key itself, and one key source is required."""
    for argv in (
        ["--new-key", _b64(_new_key())],
        [],
        ["--new-key-file", "a", "--new-key-env", "B"],
    ):
        with pytest.raises(SystemExit) as exc:
            cli(*argv)
        assert exc.value.code == 2


def test_refuses_an_uninitialised_store(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "empty"
    (empty / "keys").mkdir(parents=True)
    monkeypatch.setenv("ESEAL_DATA_DIR", str(empty))
    monkeypatch.setenv("ESEAL_MASTER_KEY", _b64(_new_key()))
    rc, _, err = cli("--new-key-file", str(_write_key_file(tmp_path / "new.key", _new_key())))
    assert rc == 1
    assert json.loads(err)["code"] == "master_key_invalid"
    assert list((empty / "keys").iterdir()) == []
    (empty / "keys").rmdir()  # not even a key store directory
    rc, _, err = cli("--new-key-file", str(tmp_path / "new.key"))
    assert rc == 1
    assert json.loads(err)["code"] == "master_key_invalid"
