"""How fresh the registry behind a verification report was (issue 19).

Every report says ``registry_as_of``: on the centre, the moment of the verification (it reads
its own registry); on a front system, when its replica was last confirmed current by a batch
of the centre's signed feed.  A front's report also says ``verdict``: ``valid`` or
``not_valid`` as the replica judges it, or ``unconfirmed`` when the replica is older than
``ESEAL_REGISTRY_MAX_AGE`` (or was never filled).  An unconfirmed report has ``valid``
false, keeps the replica's answer in ``valid_per_replica``, and carries the notice
``registry_stale`` and the problem ``registry_status_unconfirmed``: a relying party that
reads only ``valid`` is never told a document passes while the current status is unknown.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

__all__ = ["STALE_NOTICE", "UNCONFIRMED", "stamp"]

STALE_NOTICE = "registry_stale"
UNCONFIRMED = "registry_status_unconfirmed"


def stamp(
    report: dict[str, Any],
    as_of: datetime | None,
    *,
    now: datetime,
    max_age: timedelta | None,
) -> dict[str, Any]:
    """``report`` with ``registry_as_of`` and ``verdict`` (and the staleness notice when
    ``as_of`` is older than ``max_age``; ``max_age`` None: the centre's own registry)."""
    report["registry_as_of"] = as_of.isoformat() if as_of else None
    stale = max_age is not None and (as_of is None or now - as_of > max_age)
    if not stale:
        report["verdict"] = "valid" if report.get("valid") else "not_valid"
        return report
    since = as_of.isoformat() if as_of else None
    age = "never" if as_of is None else f"last at {since}"
    message = (
        "the current status of the licenses and seals could not be confirmed: this front "
        f"system's registry was confirmed current by the centre {age}, longer ago than "
        f"{int(max_age.total_seconds()) if max_age else 0} s; the verdict is the replica's, "
        "as of then"
    )
    report["valid_per_replica"] = bool(report.get("valid"))
    report["valid"] = False
    report["verdict"] = "unconfirmed"
    report.setdefault("notices", []).insert(
        0, {"code": STALE_NOTICE, "message": message, "since": since}
    )
    report.setdefault("problems", []).append({"code": UNCONFIRMED, "message": message})
    return report
