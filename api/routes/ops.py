"""Health, readiness and metrics."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool

from keystore.errors import EsealError

from ..answers import Health, Readiness
from ..deps import ContainerDep
from ..problems import PROBLEM_RESPONSES
from ..responses import file_answer

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="Liveness", response_model=Health, responses=PROBLEM_RESPONSES)
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Readiness of database, archive and key store",
    response_model=Readiness,
    responses={
        **PROBLEM_RESPONSES,
        503: {"model": Readiness, "description": "a part is not ready: the same body"},
    },
)
async def readyz(c: ContainerDep) -> JSONResponse:
    def check_db() -> None:
        with c.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    checks: dict[str, Any] = {}
    for name, fn in (
        ("database", check_db),
        ("keystore", c.seal_keys.check),
        ("archive", c.archive_check),
    ):
        try:
            await run_in_threadpool(fn)
            checks[name] = "ok"
        except EsealError as exc:
            checks[name] = exc.code
        except Exception as exc:
            checks[name] = type(exc).__name__
    ready = all(v == "ok" for v in checks.values())
    answer = Readiness(ready=ready, checks=checks)
    return JSONResponse(answer.model_dump(mode="json"), status_code=200 if ready else 503)


@router.get(
    "/metrics",
    response_class=Response,
    responses=file_answer("text/plain", "Prometheus text exposition format 0.0.4", text=True),
    summary="Prometheus metrics",
)
async def metrics(c: ContainerDep) -> Response:
    return Response(c.metrics.render(), media_type="text/plain; version=0.0.4")
