"""Batches over HTTP, end to end on SQLite and on PostgreSQL: ``POST /v1/batches`` queues,
the server's own workers seal in the background, ``GET /v1/batches/{id}`` follows, and the
result ZIP holds the sealed files.  Every file is archived and audited as ``POST /v1/sign``
would have done it; a failing file fails alone; a bad request queues nothing.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from typing import Any

from batch_helpers import count, post_batch, wait_done

from api import answers
from helpers import USCC, Api
from ofds import simple_ofd
from pdfs import simple_pdf

pytest_plugins = ["batch_fixtures"]

OPTIONS = {"seals": [{"kind": "contract"}], "level": "B-T", "document_type": "contract"}


def _contract(n: int) -> bytes:
    return simple_pdf(1, text=f"Contract HT-{n:04d} page")


def _zip(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return out.getvalue()


def _same_shape(body: dict[str, Any]) -> None:
    """The answer model names every key the route sends, and changes none."""
    model = answers.BatchAnswer.model_validate(body)
    assert not model.model_extra
    assert all(not f.model_extra for f in model.files)
    assert json.dumps(model.model_dump(mode="json")) == json.dumps(body)


def _result(api: Api, batch_id: str) -> tuple[dict[str, bytes], dict[str, Any]]:
    r = api.client.get(f"/v1/batches/{batch_id}/result.zip", headers=api.headers("own"))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/zip"
    zf = zipfile.ZipFile(io.BytesIO(r.content))
    assert zf.testzip() is None  # every member's CRC checks
    # the sealed files are stored as they are (compressed inside already), results deflated
    kinds = {i.filename: i.compress_type for i in zf.infolist()}
    assert kinds.pop("results.json") == zipfile.ZIP_DEFLATED
    assert set(kinds.values()) <= {zipfile.ZIP_STORED}
    files = {n: zf.read(n) for n in zf.namelist() if n != "results.json"}
    return files, json.loads(zf.read("results.json"))


def test_a_batch_seals_each_file_as_a_single_request_would(batch_api: Api) -> None:
    api = batch_api
    good = {f"HT-{n}.pdf": _contract(n) for n in range(3)}
    files = [
        ("HT-0.pdf", good["HT-0.pdf"]),
        ("scan.pdf", b"this is not a PDF at all"),
        ("HT-1.pdf", good["HT-1.pdf"]),
        ("HT-2.pdf", good["HT-2.pdf"]),
        ("no-keyword.pdf", _contract(9)),
    ]
    r = post_batch(
        api,
        files,
        options=OPTIONS,
        per_file={
            "HT-1.pdf": {"reference": "HT-0001"},
            "no-keyword.pdf": {"seals": [{"kind": "contract", "keyword": "乙方（盖章）"}]},
        },
    )
    assert r.status_code == 202, r.text
    queued = r.json()
    _same_shape(queued)
    assert r.headers["location"] == f"/v1/batches/{queued['id']}"
    assert queued["uscc"] == USCC and queued["total"] == 5
    assert [f["name"] for f in queued["files"]] == [name for name, _ in files]
    assert queued["files"][0]["input_sha256"] == hashlib.sha256(files[0][1]).hexdigest()

    batch = wait_done(api, queued["id"])
    _same_shape(batch)
    assert batch["counts"] == {"queued": 0, "running": 0, "done": 3, "failed": 2}
    assert batch["finished_at"] is not None
    by_name = {f["name"]: f for f in batch["files"]}
    assert (by_name["scan.pdf"]["code"], by_name["no-keyword.pdf"]["code"]) == (
        "invalid_pdf",
        "keyword_not_found",
    )
    assert all(by_name[n]["archive_id"] is None for n in ("scan.pdf", "no-keyword.pdf"))

    # each sealed file is in the archive as a single request leaves it: sealer, name,
    # reference, SHA-256, and one seal.use audit entry by the key that queued the batch
    own = api.headers("own")
    key_id = api.tokens["own"].split("_")[1]
    audit = api.client.get("/v1/audit", headers=own, params={"limit": 500}).json()["entries"]
    for name in good:
        item = by_name[name]
        assert item["status"] == "done" and item["format"] == "pdf" and item["code"] is None
        record = api.client.get(f"/v1/archives/{item['archive_id']}", headers=own).json()
        assert (record["uscc"], record["original_name"], record["sha256"]) == (
            USCC,
            name,
            item["sha256"],
        )
        assert record["reference"] == ("HT-0001" if name == "HT-1.pdf" else None)
        assert record["document_type"] == "contract" and record["level"] == "B-T"
        uses = [e for e in audit if e["archive_id"] == item["archive_id"]]
        assert [(e["action"], e["actor"], e["seal_kind"]) for e in uses] == [
            ("seal.use", key_id, "contract")
        ]
        assert uses[0]["detail"]["input_sha256"] == hashlib.sha256(good[name]).hexdigest()
    assert count(api, "SELECT count(*) FROM archives") == 3
    # the uploads are not kept once their files are finished
    assert count(api, "SELECT count(*) FROM batch_items WHERE input IS NOT NULL") == 0

    sealed, results = _result(api, batch["id"])
    assert sorted(sealed) == sorted(good)
    for name, data in sealed.items():
        assert hashlib.sha256(data).hexdigest() == by_name[name]["sha256"]
    assert results["batch"]["counts"]["failed"] == 2
    assert [(f["name"], f["path"], f["code"]) for f in results["files"]] == [
        ("HT-0.pdf", "HT-0.pdf", None),
        ("scan.pdf", None, "invalid_pdf"),
        ("HT-1.pdf", "HT-1.pdf", None),
        ("HT-2.pdf", "HT-2.pdf", None),
        ("no-keyword.pdf", None, "keyword_not_found"),
    ]
    report = api.client.post(
        "/v1/verify",
        headers=own,
        files={"file": ("x.pdf", sealed["HT-1.pdf"], "application/pdf")},
        data={"expect_uscc": USCC},
    ).json()
    assert report["valid"] is True, report["problems"]
    failed = api.client.get(
        f"/v1/batches/{batch['id']}", headers=own, params={"status": "failed"}
    ).json()
    assert [f["name"] for f in failed["files"]] == ["scan.pdf", "no-keyword.pdf"]


def test_a_zip_of_pdfs_and_ofds_with_options_per_file(batch_api: Api) -> None:
    api = batch_api
    members = {
        "contracts/": b"",
        "contracts/a.pdf": _contract(1),
        "contracts/b.pdf": _contract(2),
        "__MACOSX/contracts/._a.pdf": b"\x00\x05\x16\x07 resource fork",
        "orders/order": simple_ofd(),
    }
    r = post_batch(
        api,
        zip_data=_zip(members),
        options={"seals": [{"kind": "contract"}], "level": "B-B"},
        per_file={
            "contracts/b.pdf": {"reference": "HT-B"},
            "orders/order": {"seals": [{"kind": "contract", "keyword": "甲方（盖章）"}]},
        },
    )
    assert r.status_code == 202, r.text
    assert [f["name"] for f in r.json()["files"]] == [
        "contracts/a.pdf",
        "contracts/b.pdf",
        "orders/order",
    ]
    batch = wait_done(api, r.json()["id"])
    assert batch["counts"]["done"] == 3, batch["files"]
    formats = {f["name"]: f["format"] for f in batch["files"]}
    assert formats == {"contracts/a.pdf": "pdf", "contracts/b.pdf": "pdf", "orders/order": "ofd"}
    sealed, results = _result(api, batch["id"])
    # each under its path, with the sealed format's extension
    assert sorted(sealed) == ["contracts/a.pdf", "contracts/b.pdf", "orders/order.ofd"]
    assert sealed["orders/order.ofd"][:4] == b"PK\x03\x04"
    b = next(f for f in batch["files"] if f["name"] == "contracts/b.pdf")
    record = api.client.get(f"/v1/archives/{b['archive_id']}", headers=api.headers("own"))
    assert record.json()["reference"] == "HT-B"
    assert results["files"][2]["path"] == "orders/order.ofd"


def _bad(api: Api, expect: tuple[int, str], **kwargs: Any) -> None:
    r = post_batch(api, **kwargs)
    assert (r.status_code, r.json().get("code")) == expect, r.text
    assert r.headers["content-type"].startswith("application/problem+json")


def test_bad_requests_are_refused_with_a_code_and_queue_nothing(batch_api: Api) -> None:
    api = batch_api
    pdf = _contract(1)
    zip_bomb = io.BytesIO()
    with zipfile.ZipFile(zip_bomb, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("huge.pdf", b"%PDF-1.7\n" + b"\0" * (9 * 1024 * 1024))  # 2 MB limit
    traversal = io.BytesIO()
    with zipfile.ZipFile(traversal, "w") as zf:
        zf.writestr("../../etc/cron.d/x.pdf", pdf)

    nothing = api.client.post(
        "/v1/batches",
        headers=api.headers("own"),
        files=[("options", (None, json.dumps(OPTIONS)))],  # multipart, without documents
    )
    assert (nothing.status_code, nothing.json()["code"]) == (422, "no_documents")
    _bad(api, (422, "no_documents"), zip_data=_zip({"empty/": b""}))
    _bad(api, (422, "invalid_zip"), zip_data=b"PK\x03\x04 not really")
    _bad(api, (422, "invalid_zip"), zip_data=traversal.getvalue())
    _bad(api, (413, "file_too_large"), zip_data=zip_bomb.getvalue())
    _bad(api, (422, "invalid_upload"), files=[("a.pdf", pdf)], zip_data=_zip({"b.pdf": pdf}))
    _bad(api, (422, "duplicate_file_name"), files=[("a.pdf", pdf), ("A.PDF", pdf)])
    _bad(api, (422, "invalid_options"), files=[("a.pdf", pdf)], options={"level": "B-X"})
    _bad(
        api,
        (422, "unknown_seal_kind"),
        files=[("a.pdf", pdf), ("b.pdf", pdf)],
        per_file={"b.pdf": {"seals": [{"kind": "stamp"}]}},
    )
    _bad(api, (422, "invalid_options"), files=[("a.pdf", pdf)], per_file={"c.pdf": {}})
    _bad(api, (422, "invalid_options"), files=[("a.pdf", pdf)], per_file={"a.pdf": "B-T"})
    too_many = [(f"{n}.pdf", b"%PDF") for n in range(api.container.settings.batch_max_files + 1)]
    _bad(api, (413, "too_many_files"), files=too_many)
    not_form = api.client.post("/v1/batches", headers=api.headers("own"), json={"files": []})
    assert (not_form.status_code, not_form.json()["code"]) == (422, "invalid_upload")
    typo = api.client.post(
        "/v1/batches",
        headers=api.headers("own"),
        files=[("file", ("a.pdf", pdf, "application/pdf"))],
        data={"option": "{}"},
    )
    assert (typo.status_code, typo.json()["code"]) == (422, "invalid_upload")
    # roles: only an enterprise key queues (its own seals)
    for who, status in (("admin", 403), ("verifier", 403)):
        r = post_batch(api, [("a.pdf", pdf)], who=who)
        assert r.status_code == status and r.json()["code"] == "forbidden"
    r = api.client.post("/v1/batches", files=[("file", ("a.pdf", pdf, "application/pdf"))])
    assert (r.status_code, r.json()["code"]) == (401, "unauthorized")

    assert count(api, "SELECT count(*) FROM batches") == 0
    assert count(api, "SELECT count(*) FROM batch_items") == 0
    assert count(api, "SELECT count(*) FROM archives") == 0


def test_a_retry_with_the_same_idempotency_key_gets_the_same_batch(batch_api: Api) -> None:
    api = batch_api
    files = [("a.pdf", _contract(1))]
    key = {"Idempotency-Key": "batch-2026-03-02-1"}
    first = post_batch(api, files, options=OPTIONS, headers=key)
    assert first.status_code == 202 and "idempotent-replayed" not in first.headers
    again = post_batch(api, files, options=OPTIONS, headers=key)
    assert again.status_code == 202 and again.headers["idempotent-replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    other = post_batch(api, [("a.pdf", _contract(2))], options=OPTIONS, headers=key)
    assert (other.status_code, other.json()["code"]) == (409, "idempotency_conflict")
    wait_done(api, first.json()["id"])
    assert count(api, "SELECT count(*) FROM batches") == 1
    assert count(api, "SELECT count(*) FROM archives") == 1


def test_who_may_read_a_batch(batch_api: Api) -> None:
    api = batch_api
    r = post_batch(api, [("a.pdf", _contract(1))], options=OPTIONS)
    batch_id = r.json()["id"]
    wait_done(api, batch_id)
    for who, status in (("own", 200), ("admin", 200), ("other", 403), ("verifier", 403)):
        got = api.client.get(f"/v1/batches/{batch_id}", headers=api.headers(who))
        assert got.status_code == status, (who, got.text)
        zipped = api.client.get(f"/v1/batches/{batch_id}/result.zip", headers=api.headers(who))
        assert zipped.status_code == status, (who, zipped.text)
    missing = api.client.get("/v1/batches/01JQ3Z7K8M2N4P6R8T0V2X4Z6B", headers=api.headers("own"))
    assert (missing.status_code, missing.json()["code"]) == (404, "batch_not_found")


def test_a_finished_batch_writes_its_batch_completed_event(api: Api) -> None:
    """The event is written in the transaction that finishes the batch's last file, for a
    subscription of the batch's enterprise (webhook delivery itself: tests/api/test_webhooks)."""
    from sqlalchemy import text as sql

    from storage.webhooks import WebhookStore, new_subscription_id

    WebhookStore(api.container.engine).create(
        new_subscription_id(),
        uscc=USCC,
        url="https://receiver.example.cn/eseal",
        events=["batch.completed"],
        description=None,
        secret=b"\0" * 32,
        actor="test",
    )
    r = post_batch(api, [("a.pdf", simple_pdf(1)), ("b.pdf", b"not a pdf")], options={})
    assert r.status_code == 202, r.text
    batch = wait_done(api, r.json()["id"])
    with api.container.engine.connect() as conn:
        rows = conn.execute(
            sql("SELECT data FROM webhook_events WHERE type = 'batch.completed'")
        ).all()
    data = [json.loads(row[0]) if isinstance(row[0], str) else row[0] for row in rows]
    assert [(d["batch_id"], d["done"], d["failed"]) for d in data] == [(batch["id"], 1, 1)]
