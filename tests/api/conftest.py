"""An eseal HTTP app on the embedded defaults, with keys of every role and two enterprises."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.container import Container
from api.settings import Settings
from helpers import OTHER_USCC, USCC, Api, license_data
from seals.license import parse_license


@pytest.fixture
def api(settings: Settings) -> Iterator[Api]:
    app = create_app(settings.model_copy(update={"max_upload_mb": 2}))
    with TestClient(app) as client:
        c: Container = app.state.container
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
        yield Api(client, c, tokens)
