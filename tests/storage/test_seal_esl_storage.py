"""A seal version's GB/T 38540 seal data (migration 0009), on SQLite and on PostgreSQL: stored
and read back byte for byte with its esID and version; seals without SM2, and the seals of a
database from before the migration, have none."""

from __future__ import annotations

import dataclasses
import hashlib
import secrets

from alembic import command
from sqlalchemy import Engine, inspect
from test_repository import USCC_A, five_seals, make_enterprise, new_serial

from seals.kinds import SealKind
from seals.model import Seal
from storage.db import alembic_config, migrate
from storage.repository import SqlEnterpriseRepository


def _with_esl(seal: Seal, size: int = 150_000) -> Seal:
    """``seal`` with an SM2 certificate and seal data: opaque bytes to the store, as large as
    the DER of a seal with a real-size PNG, and with every byte value (NUL included)."""
    der = bytes(range(256)) + secrets.token_bytes(size)
    return dataclasses.replace(
        seal,
        sm2_key_ref=f"soft:{seal.uscc}/{seal.kind.value}-sm2",
        sm2_serial=new_serial(),
        sm2_certificate_pem="-----BEGIN CERTIFICATE-----\nSM2\n-----END CERTIFICATE-----\n",
        esl=der,
        esl_id=f"{seal.uscc}{list(SealKind).index(seal.kind) + 1}0001",
        esl_version=4,
    )


def test_seal_data_round_trips_and_is_replaced_in_place(repo: SqlEnterpriseRepository) -> None:
    seals = five_seals()
    seals[1] = _with_esl(seals[1])  # contract: SM2 and seal data; the others neither
    seals[4] = dataclasses.replace(_with_esl(seals[4]), esl_id="1101080012345", esl_version=5)
    repo.register(make_enterprise(), seals)

    assert repo.current_seals(USCC_A) == seals
    contract = repo.seal(USCC_A, SealKind.CONTRACT)
    assert contract is not None and contract.esl == seals[1].esl
    assert contract.esl_json() == {
        "es_id": f"{USCC_A}20001",
        "version": 4,
        "sha256": hashlib.sha256(seals[1].esl or b"").hexdigest(),
    }
    official = repo.seal(USCC_A, SealKind.OFFICIAL)
    assert official is not None and official.esl is None and official.to_json()["esl"] is None
    assert seals[4].sm2_serial is not None
    assert repo.seal_by_sm2_serial(seals[4].sm2_serial) == seals[4]

    # an image upload makes the same version's seal data anew: the row is updated
    remade = dataclasses.replace(seals[1], esl=b"\x30\x03\x02\x01\x04")
    repo.save_seals([remade])
    assert repo.seal(USCC_A, SealKind.CONTRACT) == remade
    assert len(repo.current_seals(USCC_A)) == 5


def test_seals_stored_before_migration_0009_have_no_seal_data(engine: Engine) -> None:
    migrate(engine)
    repo = SqlEnterpriseRepository(engine)
    seals = five_seals()
    seals[1] = dataclasses.replace(_with_esl(seals[1]), esl=None, esl_id=None, esl_version=None)
    repo.register(make_enterprise(), seals)
    # back to the schema before seal data, and up again: the columns come back empty, and
    # nothing is back-filled (a re-issue or an image upload makes a seal's first one)
    with engine.begin() as conn:
        command.downgrade(alembic_config(conn), "0008")
    assert "esl" not in {c["name"] for c in inspect(engine).get_columns("seals")}
    migrate(engine)
    found = repo.seal(USCC_A, SealKind.CONTRACT)
    assert found is not None
    assert found.sm2_certificate_pem is not None
    assert (found.esl, found.esl_id, found.esl_version) == (None, None, None)
    assert repo.current_seals(USCC_A) == seals
