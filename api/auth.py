"""Bearer API keys, roles and tenants.

Roles: ``admin`` (everything), ``enterprise`` (bound to one USCC: its own seals, archive and
audit), ``verifier`` (verify documents and read license faces).  Business rules stay in the
services; this module only answers "who is asking, and may they touch this enterprise".
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from .errors import Forbidden, Unauthorized

__all__ = ["Principal", "Role", "authorize_enterprise", "current_principal", "require"]


class Role(enum.Enum):
    ADMIN = "admin"
    ENTERPRISE = "enterprise"
    VERIFIER = "verifier"


@dataclass(frozen=True)
class Principal:
    key_id: str
    role: Role
    uscc: str | None
    name: str


async def current_principal(request: Request) -> Principal | None:
    """The caller, or None without an Authorization header. A bad token is an error."""
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("use 'Authorization: Bearer <token>'")
    store = request.app.state.container.api_keys
    key = await run_in_threadpool(store.authenticate, token.strip())
    if key is None:
        raise Unauthorized("the token is not valid")
    principal = Principal(key.id, Role(key.role), key.uscc, key.name)
    request.state.principal = principal
    return principal


OptionalPrincipal = Annotated[Principal | None, Depends(current_principal)]


def require(*roles: Role):  # type: ignore[no-untyped-def]
    """A dependency that admits only the given roles."""

    async def dependency(principal: OptionalPrincipal) -> Principal:
        if principal is None:
            raise Unauthorized("this route needs an API token")
        if principal.role not in roles:
            raise Forbidden(f"the {principal.role.value} role may not use this route")
        return principal

    return Depends(dependency)


def authorize_enterprise(
    principal: Principal, uscc: str, *, verifier_may_read: bool = False
) -> None:
    """Admins may touch any enterprise; an enterprise key only its own."""
    if principal.role is Role.ADMIN:
        return
    if principal.role is Role.VERIFIER and verifier_may_read:
        return
    if principal.role is Role.ENTERPRISE and principal.uscc == uscc:
        return
    raise Forbidden("this key may not act for that enterprise")
