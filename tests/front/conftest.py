"""A centre, two front systems and a proxy, as real processes, on SQLite or PostgreSQL.

The deployment is made once per module and backend; its tests run in file order and each
leaves it working for the next (they are the steps of one operator's story).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from deployment import Databases, Tiers, make_centre, make_front
from tiers import FeedProxy, Server

from pdfs import simple_pdf


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def tiers(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    _initialised_template: Path,
) -> Iterator[Tiers]:
    tmp = tmp_path_factory.mktemp(f"tiers-{request.param}")
    dbs = Databases() if request.param == "postgres" else None
    servers: list[Server] = []
    proxy: FeedProxy | None = None
    try:
        env, tokens, centre_settings = make_centre(
            tmp, _initialised_template, dbs.new() if dbs else None
        )
        centre = Server(env, tmp / "centre.log")
        servers.append(centre)
        centre.start()
        answer = centre.call(
            tokens["own"],
            "POST",
            "/v1/sign",
            files={"file": ("c.pdf", simple_pdf(1), "application/pdf")},
            data={
                "options": json.dumps(
                    {
                        "seals": [
                            {"kind": "official", "page": 1, "x": 150, "y": 150},
                            {"kind": "contract", "page": 1, "x": 400, "y": 150},
                        ],
                        "level": "B-T",
                    }
                )
            },
        )
        assert answer.status_code == 200, answer.text
        proxy = FeedProxy(lambda: centre.url)
        front, front_admin = make_front(
            tmp, "front", dbs.new() if dbs else None, proxy.url, tokens["front"]
        )
        second, second_admin = make_front(
            tmp, "second", dbs.new() if dbs else None, centre.url, tokens["second"]
        )
        servers += [front, second]
        front.start()
        second.start()
        yield Tiers(
            centre,
            front,
            second,
            proxy,
            tokens,
            front_admin,
            second_admin,
            centre_settings,
            answer.content,
        )
    finally:
        for server in servers:
            server.stop()
        if proxy is not None:
            proxy.close()
        if dbs is not None:
            dbs.drop()
