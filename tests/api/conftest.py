"""An eseal HTTP app on the embedded defaults, with keys of every role and two enterprises.

Registering an enterprise issues five seals (keys, certificates, images): about two seconds for
the two of them, which every HTTP test needs.  So the registration happens once a session, in a
template data dir (SQLite database, key store, PKI, archive all live in it); a test that uses
``api`` gets its own copy of that dir, so tests stay independent: what one writes, no other
sees.  Copying the files takes milliseconds.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.container import Container, build
from api.settings import Settings
from helpers import OTHER_USCC, TEST_PUBLIC_URL, USCC, Api, license_data, settings_on_copy
from seals.license import parse_license


@dataclass(frozen=True)
class _Registered:
    """A data dir with the two enterprises and a key per caller, and those keys' tokens."""

    data_dir: Path
    tokens: dict[str, str]


@pytest.fixture(scope="session")
def _registered_template(
    tmp_path_factory: pytest.TempPathFactory, _initialised_template: Path
) -> _Registered:
    """The initialised template plus what the ``api`` fixture registers, made once a session.

    Built with the ``settings`` of the tests (the same public URL), since the seal certificates
    carry the OCSP and CRL addresses under it.
    """
    data = tmp_path_factory.mktemp("registered") / "data"
    shutil.copytree(_initialised_template, data)
    c = build(Settings(data_dir=data, public_url=TEST_PUBLIC_URL))
    try:
        c.seals.register(parse_license(license_data()))
        c.seals.register(
            parse_license(
                license_data(uscc=OTHER_USCC, name="示例贸易有限公司", legal_representative="李娜")
            )
        )
        tokens = {}
        for who, role, uscc in (
            ("admin", "admin", None),
            ("own", "enterprise", USCC),
            ("other", "enterprise", OTHER_USCC),
            ("verifier", "verifier", None),
        ):
            _, tokens[who] = c.api_keys.create(role=role, uscc=uscc, name=who, actor="test")
    finally:
        c.close()
    return _Registered(data, tokens)


@pytest.fixture
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """As the suite's ``settings``; for a test that uses ``api`` (or any fixture that asks for
    ``_registered_template``, as ``api`` does), a copy of the registered dir.

    Deciding here (rather than replacing the dir inside ``api``) keeps ``settings``,
    ``container`` and ``api`` of one test on one data dir, whichever it asks for first.
    """
    registered = "_registered_template" in request.fixturenames
    name = "_registered_template" if registered else "_initialised_template"
    template = request.getfixturevalue(name)
    source = template.data_dir if isinstance(template, _Registered) else template
    return settings_on_copy(source, tmp_path)


@pytest.fixture
def api(settings: Settings, _registered_template: _Registered) -> Iterator[Api]:
    app = create_app(settings.model_copy(update={"max_upload_mb": 2}))
    with TestClient(app) as client:
        c: Container = app.state.container
        yield Api(client, c, dict(_registered_template.tokens))
