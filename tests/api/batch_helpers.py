"""Helpers of the batch tests (imported as ``batch_helpers``): post a batch, wait for it."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import text

from helpers import Api, wait_until


def post_batch(
    api: Api,
    files: list[tuple[str, bytes]] | None = None,
    *,
    zip_data: bytes | None = None,
    options: dict[str, Any] | None = None,
    per_file: dict[str, Any] | None = None,
    who: str = "own",
    headers: dict[str, str] | None = None,
) -> Any:
    parts: list[tuple[str, Any]] = [
        ("file", (name, data, "application/pdf")) for name, data in files or []
    ]
    if zip_data is not None:
        parts.append(("zip", ("batch.zip", zip_data, "application/zip")))
    data: dict[str, str] = {}
    if options is not None:
        data["options"] = json.dumps(options)
    if per_file is not None:
        data["per_file"] = json.dumps(per_file)
    return api.client.post(
        "/v1/batches",
        headers={**api.headers(who), **(headers or {})},
        files=parts,
        data=data,
    )


def wait_done(api: Api, batch_id: str, who: str = "own") -> dict[str, Any]:
    """The batch once its status is done (polled; no time limit beyond the suite's)."""

    def done() -> dict[str, Any] | None:
        r = api.client.get(f"/v1/batches/{batch_id}", headers=api.headers(who))
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body if body["status"] == "done" else None

    return wait_until(done, f"batch {batch_id} done")


def count(api: Api, sql: str, **params: Any) -> int:
    with api.container.engine.connect() as conn:
        return int(conn.execute(text(sql), params).scalar_one())
