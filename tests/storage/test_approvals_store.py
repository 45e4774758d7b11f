"""The approval store on SQLite and PostgreSQL: policies, requirements, decisions and quorum,
separation of duties, expiry, the kept document, sealing outcomes, and racing decisions."""

from __future__ import annotations

import hashlib
import threading
from datetime import UTC, datetime, timedelta

import pytest
from archive_helpers import USCC_A, USCC_B, add_enterprise
from sqlalchemy import Engine, text

from seals.errors import EsealError
from seals.kinds import SealKind
from seals.vocab import ApprovalDecision, ApprovalMode, ApprovalStatus, DocumentType
from storage.apikeys import ApiKeyStore
from storage.approvals import (
    ApprovalClosed,
    ApprovalStore,
    DecisionRefused,
    DocumentDiscarded,
    InvalidPolicy,
    NewApproval,
    Requirement,
    SealPolicy,
    format_amount,
    parse_amount,
)
from storage.audit import AuditLog

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
DOC = b"%PDF-1.7\n% a contract\n"


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def db(migrated: Engine) -> Engine:
    add_enterprise(migrated, USCC_A)
    add_enterprise(migrated, USCC_B)
    return migrated


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(db: Engine, clock: Clock) -> ApprovalStore:
    return ApprovalStore(db, clock=clock)


def approvers(db: Engine, count: int, uscc: str = USCC_A) -> list[str]:
    keys = ApiKeyStore(db)
    return [
        keys.create(role="approver", uscc=uscc, name=f"a{i}", actor="t")[0].id for i in range(count)
    ]


def new(requirements: list[Requirement], **changes: object) -> NewApproval:
    fields: dict[str, object] = {
        "uscc": USCC_A,
        "requested_by": "requester",
        "requester_name": "ERP",
        "data": DOC,
        "document_format": "pdf",
        "options": {"seals": [{"kind": "contract"}]},
        "document_type": "contract",
        "reference": "HT-1",
        "amount_fen": 100,
        "requirements": requirements,
        "placements": [{"n": 1, "kind": "contract", "page": 1, "rect": [1, 2, 3, 4]}],
        "request_sha256": "0" * 64,
        **changes,
    }
    return NewApproval(**fields)  # type: ignore[arg-type]


def vote(store: ApprovalStore, approval_id: str, key: str, yes: bool = True):  # type: ignore[no-untyped-def]
    return store.decide(
        approval_id,
        key_id=key,
        key_name=key,
        key_uscc=USCC_A,
        decision=ApprovalDecision.APPROVE if yes else ApprovalDecision.REJECT,
        comment="c",
    )


def test_amounts_are_yuan_with_two_decimals() -> None:
    assert parse_amount("120000.5") == 12000050
    assert parse_amount(" 1,000 ") == 100000
    assert parse_amount(None) is None and parse_amount("") is None
    assert format_amount(12000050) == "120000.50"
    for bad in ("1.001", "-1", "abc", "1e400", "NaN"):
        with pytest.raises(EsealError) as err:
            parse_amount(bad)
        assert err.value.code == "invalid_amount"


def test_policies_and_what_they_require(store: ApprovalStore, db: Engine) -> None:
    assert {p.approval for p in store.policies(USCC_A)} == {ApprovalMode.NONE}
    ids = approvers(db, 2)
    store.set_policies(
        USCC_A,
        [
            SealPolicy(
                SealKind.CONTRACT,
                ApprovalMode.REQUIRED,
                quorum=2,
                document_types=(DocumentType.CONTRACT,),
                min_amount_fen=10_000_00,
            ),
            SealPolicy(SealKind.FINANCE, ApprovalMode.REQUIRED, approvers=(ids[0],)),
        ],
        actor="admin",
    )
    got = {p.kind: p for p in store.policies(USCC_A)}
    assert got[SealKind.CONTRACT].quorum == 2 and got[SealKind.CONTRACT].updated_by == "admin"
    assert got[SealKind.FINANCE].approvers == (ids[0],)
    assert store.policies(USCC_B)[1].approval is ApprovalMode.NONE  # another enterprise's

    def needs(kinds: list[SealKind], doc: DocumentType, amount: int | None) -> list[SealKind]:
        return [r.kind for r in store.requirements(USCC_A, kinds, doc, amount)]

    contract = [SealKind.CONTRACT]
    assert needs(contract, DocumentType.CONTRACT, 10_000_00) == contract
    assert needs(contract, DocumentType.CONTRACT, 9_999_99) == []
    assert needs(contract, DocumentType.CONTRACT, None) == contract  # no amount: approval
    assert needs(contract, DocumentType.OTHER, 10**9) == []
    assert needs([SealKind.CONTRACT, SealKind.FINANCE], DocumentType.OTHER, None) == [
        SealKind.FINANCE
    ]
    assert needs([SealKind.OFFICIAL], DocumentType.CONTRACT, None) == []
    for bad in (
        [SealPolicy(SealKind.CONTRACT, ApprovalMode.REQUIRED, quorum=3)],
        [SealPolicy(SealKind.CONTRACT, ApprovalMode.REQUIRED, approvers=("stranger",))],
        [SealPolicy(SealKind.CONTRACT), SealPolicy(SealKind.CONTRACT)],
    ):
        with pytest.raises(InvalidPolicy):
            store.set_policies(USCC_A, bad, actor="admin")
    # another enterprise's approver is not one of this enterprise's
    other = approvers(db, 1, USCC_B)
    with pytest.raises(InvalidPolicy):
        store.set_policies(
            USCC_A, [SealPolicy(SealKind.CONTRACT, approvers=tuple(other))], actor="admin"
        )
    assert store.policies(USCC_A)[1].quorum == 2  # refused changes changed nothing


def test_every_requirement_needs_its_own_quorum(store: ApprovalStore, db: Engine) -> None:
    a, b, c = approvers(db, 3)
    approval, created = store.create(
        new(
            [
                Requirement(SealKind.CONTRACT, 2),
                Requirement(SealKind.FINANCE, 1, (c,)),
            ]
        )
    )
    assert created and approval.status is ApprovalStatus.PENDING
    assert approval.document_sha256 == hashlib.sha256(DOC).hexdigest()
    assert approval.expires_at == T0 + timedelta(hours=72)
    assert vote(store, approval.id, a)[1] is False
    after_b, met = vote(store, approval.id, b)
    assert not met and after_b.status is ApprovalStatus.PENDING  # finance still waits for c
    done, met = vote(store, approval.id, c)
    assert met and done.status is ApprovalStatus.APPROVED and done.sealing_since == T0
    with pytest.raises(ApprovalClosed):
        vote(store, approval.id, "late")


def test_separation_of_duties(store: ApprovalStore, db: Engine) -> None:
    (a,) = approvers(db, 1)
    approval, _ = store.create(new([Requirement(SealKind.CONTRACT, 1, (a,))]))
    with pytest.raises(DecisionRefused):  # the requester
        vote(store, approval.id, "requester")
    with pytest.raises(DecisionRefused):  # not among the named approvers
        vote(store, approval.id, "someone")
    with pytest.raises(DecisionRefused):  # a key of another enterprise
        store.decide(
            approval.id,
            key_id=a,
            key_name="a",
            key_uscc=USCC_B,
            decision=ApprovalDecision.APPROVE,
        )
    assert store.get(approval.id).votes == ()


def test_rejection_and_expiry_end_a_request_and_drop_its_bytes(
    store: ApprovalStore, db: Engine, clock: Clock
) -> None:
    a, b = approvers(db, 2)
    rejected, _ = store.create(new([Requirement(SealKind.CONTRACT, 2)]))
    waiting, _ = store.create(new([Requirement(SealKind.CONTRACT, 2)]))
    assert store.document(rejected.id) == DOC
    vote(store, rejected.id, a)
    ended, met = vote(store, rejected.id, b, yes=False)
    assert not met and ended.status is ApprovalStatus.REJECTED and ended.finished_at == T0
    with pytest.raises(DocumentDiscarded):
        store.document(rejected.id)
    clock.now = T0 + timedelta(hours=72)
    with pytest.raises(ApprovalClosed) as closed:
        vote(store, waiting.id, a)
    assert closed.value.status is ApprovalStatus.EXPIRED
    assert store.get(waiting.id).status is ApprovalStatus.EXPIRED  # the expiry was kept
    with pytest.raises(DocumentDiscarded):
        store.document(waiting.id)
    actions = [e["action"] for e in AuditLog(db).entries(limit=100)]
    assert actions.count("approval.expire") == 1 and actions.count("approval.reject") == 1
    assert AuditLog(db).verify()["ok"]


def test_a_changed_document_is_refused(store: ApprovalStore, db: Engine) -> None:
    approvers(db, 1)
    approval, _ = store.create(new([Requirement(SealKind.CONTRACT, 1)]))
    with db.begin() as conn:
        conn.execute(
            text("UPDATE approval_documents SET data = :d WHERE approval_id = :id"),
            {"d": DOC + b"%", "id": approval.id},
        )
    with pytest.raises(EsealError) as err:
        store.document(approval.id)
    assert err.value.code == "approval_document_corrupt"


def test_sealing_outcomes(store: ApprovalStore, db: Engine, clock: Clock) -> None:
    a, b = approvers(db, 2)
    first, _ = store.create(new([Requirement(SealKind.CONTRACT, 1)]))
    vote(store, first.id, a)
    assert store.claim(first.id) is None  # the approving call holds it
    cut = store.failed(
        first.id,
        {"code": "archive_unavailable", "status": 503, "detail": "x"},
        final=False,
        actor=a,
    )
    assert cut.status is ApprovalStatus.APPROVED and cut.error is not None
    assert store.document(first.id) == DOC  # kept for the next attempt
    claimed = store.claim(first.id)
    assert claimed is not None and store.claim(first.id) is None  # one attempt at a time
    clock.now += timedelta(hours=1)  # that attempt died: a later one takes it again
    assert store.claim(first.id) is not None
    sealed = store.sealed(
        first.id, archive_id="01J0000000000000000000000A", sha256="1" * 64, actor=a
    )
    assert sealed.status is ApprovalStatus.SEALED and sealed.error is None
    assert store.sealed(first.id, archive_id="x", sha256="2" * 64, actor=a).archive_id == (
        "01J0000000000000000000000A"
    )  # a second report changes nothing
    second, _ = store.create(new([Requirement(SealKind.CONTRACT, 1)]))
    vote(store, second.id, b)
    failed = store.failed(
        second.id, {"code": "seal_revoked", "status": 409, "detail": "y"}, final=True, actor=b
    )
    assert failed.status is ApprovalStatus.FAILED and failed.error == {
        "code": "seal_revoked",
        "status": 409,
        "detail": "y",
    }
    actions = [e["action"] for e in AuditLog(db).entries(limit=100)]
    assert actions.count("approval.seal") == 1 and actions.count("approval.fail") == 1


def test_one_idempotency_key_one_request(store: ApprovalStore, db: Engine) -> None:
    approvers(db, 1)
    first, created = store.create(new([Requirement(SealKind.CONTRACT, 1)], idempotency_key="k"))
    again, created_again = store.create(
        new([Requirement(SealKind.CONTRACT, 1)], idempotency_key="k")
    )
    assert created and not created_again and again.id == first.id
    assert store.find("requester", "k") == first
    assert store.find("someone else", "k") is None


def test_racing_decisions_meet_the_quorum_once(store: ApprovalStore, db: Engine) -> None:
    keys = approvers(db, 6)
    for _ in range(3):
        approval, _ = store.create(new([Requirement(SealKind.CONTRACT, 2)]))
        start = threading.Barrier(len(keys))
        outcomes: list[object] = []

        def decide(
            key: str,
            approval_id: str = approval.id,
            start: threading.Barrier = start,
            outcomes: list[object] = outcomes,
        ) -> None:
            start.wait()
            try:
                outcomes.append(vote(store, approval_id, key)[1])
            except ApprovalClosed:
                outcomes.append("closed")

        threads = [threading.Thread(target=decide, args=(k,)) for k in keys]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert outcomes.count(True) == 1, outcomes
        assert outcomes.count(False) == 1 and outcomes.count("closed") == len(keys) - 2
        assert len(store.get(approval.id).votes) == 2
    assert AuditLog(db).verify()["ok"]
