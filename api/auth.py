"""Bearer API keys, roles, tenants, and the one rule of who may do what for which enterprise.

Roles: ``admin`` (everything but deciding on seal use), ``enterprise`` (bound to one USCC: its
own seals, archive and audit), ``verifier`` (verify documents and read license faces),
``approver`` (bound to one USCC: reads and decides that enterprise's sealing requests that need
approval; seals nothing).  Separation of duties (用印审批): the key that asks for a seal cannot
decide on its request (:mod:`storage.approvals` checks that too), admins set the policies but
never decide, approvers decide but never seal.  Business rules stay in the
services; this module only answers "who is asking, and may they do this for that enterprise".

Every route names its :class:`Action`.  The route's dependency (:func:`allowed`) admits the
roles that may take the action at all (401 without a token, 403 for another role) before
anything of the request is read; :func:`authorize` then checks the enterprise the request
turns out to be about (403 ``forbidden`` for an enterprise key of another enterprise).  The
table :data:`RULES` is the whole policy; ``tests/api/test_access_matrix.py`` is its contract.
"""

from __future__ import annotations

import enum
from collections.abc import Collection
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from .errors import Forbidden, Unauthorized

__all__ = [
    "RULES",
    "Action",
    "OptionalPrincipal",
    "Principal",
    "Role",
    "Rule",
    "allowed",
    "authorize",
    "current_principal",
    "scope",
]


class Role(enum.Enum):
    ADMIN = "admin"
    ENTERPRISE = "enterprise"
    VERIFIER = "verifier"
    APPROVER = "approver"


@dataclass(frozen=True)
class Principal:
    key_id: str
    role: Role
    uscc: str | None
    name: str


class Action(enum.Enum):
    """What a caller can do through the API (the routes in brackets)."""

    #: register a license and issue its seals (``POST /v1/enterprises``)
    REGISTER_ENTERPRISE = "register_enterprise"
    #: read a license face and its status history (``GET /v1/enterprises/{uscc}``)
    READ_LICENSE = "read_license"
    #: change a license's status (``POST .../status``)
    CHANGE_LICENSE_STATUS = "change_license_status"
    #: read the seal records (``GET .../seals[/{kind}]``)
    READ_SEALS = "read_seals"
    #: fetch a seal's image or certificate chain: public material, every sealed document
    #: carries both (``GET .../seals/{kind}/image``, ``/certificate``)
    READ_SEAL_MATERIAL = "read_seal_material"
    #: replace a seal's image by a scan (``PUT .../seals/{kind}/image``)
    REPLACE_SEAL_IMAGE = "replace_seal_image"
    #: revoke, re-issue, suspend, resume a seal (``POST .../seals/{kind}/{action}``)
    MANAGE_SEALS = "manage_seals"
    #: seal or extend documents with one's own seals (``POST /v1/sign``, ``/v1/extend``)
    SEAL_DOCUMENTS = "seal_documents"
    #: list and read archived documents one belongs to (``GET /v1/archives...``)
    READ_ARCHIVE = "read_archive"
    #: renew an archived document one sealed (``POST /v1/archives/{id}/renew``)
    RENEW_ARCHIVE = "renew_archive"
    #: export archived documents (``POST /v1/archives/export``)
    EXPORT_ARCHIVE = "export_archive"
    #: read the audit log: an enterprise its own entries (``GET /v1/audit``)
    READ_AUDIT = "read_audit"
    #: recompute the audit log's hash chain (``GET /v1/audit/verify``)
    VERIFY_AUDIT = "verify_audit"
    #: create and revoke API keys (``/v1/api-keys``)
    MANAGE_API_KEYS = "manage_api_keys"
    #: read and cross-check a 数电票's OFD and XML (``POST /v1/invoices/check``)
    CHECK_INVOICES = "check_invoices"
    #: a relying party asks an enterprise to log in (``POST /v1/auth/challenges``)
    CREATE_LOGIN_CHALLENGE = "create_login_challenge"
    #: read a login challenge: its relying party, the enterprises asked to confirm it
    #: (``GET /v1/auth/challenges/{id}``)
    READ_LOGIN_CHALLENGE = "read_login_challenge"
    #: an enterprise confirms a login with its own key (``POST .../challenges/{id}/confirm``)
    CONFIRM_LOGIN = "confirm_login"
    #: a relying party verifies a login assertion made for it (``POST /v1/auth/assertions/verify``)
    VERIFY_LOGIN_ASSERTION = "verify_login_assertion"
    #: set the seal-use policies of an enterprise (``PUT .../seal-policies``)
    CONFIGURE_SEAL_POLICY = "configure_seal_policy"
    #: read them (``GET .../seal-policies``)
    READ_SEAL_POLICY = "read_seal_policy"
    #: list and read sealing requests waiting for approval, their documents and previews, and
    #: the sealed result (``GET /v1/approvals...``)
    READ_APPROVALS = "read_approvals"
    #: approve or reject a sealing request (``POST /v1/approvals/{id}/approve|reject``)
    DECIDE_APPROVALS = "decide_approvals"
    #: seal an approved request again after an outage (``POST /v1/approvals/{id}/seal``)
    RESUME_APPROVALS = "resume_approvals"
    #: subscribe to signed webhooks, read their delivery log, redeliver, rotate secrets
    #: (``/v1/webhooks``): an enterprise for its own events, an admin for any or all
    MANAGE_WEBHOOKS = "manage_webhooks"
    #: get the license as a sealed PDF (``GET .../license.pdf``)
    READ_LICENSE_PDF = "read_license_pdf"
    #: make a scan-to-check code of one's own license (``POST .../license-qr``)
    SHOW_LICENSE = "show_license"
    #: read the permits and filings under a license (``GET .../permits...``)
    READ_PERMITS = "read_permits"
    #: record and change permits and filings (``POST``/``PATCH .../permits...``)
    MANAGE_PERMITS = "manage_permits"
    #: read the registry's signed change feed (``GET /v1/registry/feed``): an admin, or a
    #: front system's key (a verifier key whose access form says ``front_system``)
    READ_REGISTRY_FEED = "read_registry_feed"
    #: file a department's access form with the centre (``POST /v1/access-forms``): a front
    FILE_ACCESS_FORMS = "file_access_forms"


@dataclass(frozen=True)
class Rule:
    """Who may take an action: ``roles`` at all; ``any_enterprise`` for every enterprise,
    the other roles (enterprise keys) for their own enterprise only."""

    roles: frozenset[Role]
    any_enterprise: frozenset[Role] = frozenset({Role.ADMIN})


def _rule(*roles: Role, any_enterprise: tuple[Role, ...] = (Role.ADMIN,)) -> Rule:
    return Rule(frozenset(roles), frozenset(any_enterprise))


_ADMIN = (Role.ADMIN,)
_ADMIN_OWNER = (Role.ADMIN, Role.ENTERPRISE)
_SIGNED_IN = (Role.ADMIN, Role.ENTERPRISE, Role.VERIFIER)
_EVERY_ROLE = tuple(Role)
#: the enterprise's own keys: those that seal and those that approve
_OWN_KEYS = (Role.ENTERPRISE, Role.APPROVER)

#: the whole access policy: see ``tests/api/test_access_matrix.py``
RULES: dict[Action, Rule] = {
    Action.REGISTER_ENTERPRISE: _rule(*_ADMIN),
    Action.READ_LICENSE: _rule(*_SIGNED_IN, any_enterprise=(Role.ADMIN, Role.VERIFIER)),
    Action.CHANGE_LICENSE_STATUS: _rule(*_ADMIN),
    Action.READ_SEALS: _rule(*_ADMIN_OWNER),
    Action.READ_SEAL_MATERIAL: _rule(*_EVERY_ROLE, any_enterprise=_EVERY_ROLE),
    Action.REPLACE_SEAL_IMAGE: _rule(*_ADMIN_OWNER),
    Action.MANAGE_SEALS: _rule(*_ADMIN),
    Action.SEAL_DOCUMENTS: _rule(Role.ENTERPRISE),
    Action.READ_ARCHIVE: _rule(*_ADMIN_OWNER),
    Action.RENEW_ARCHIVE: _rule(*_ADMIN_OWNER),
    Action.EXPORT_ARCHIVE: _rule(*_ADMIN_OWNER),
    Action.READ_AUDIT: _rule(*_ADMIN_OWNER),
    Action.VERIFY_AUDIT: _rule(*_ADMIN_OWNER),
    Action.MANAGE_API_KEYS: _rule(*_ADMIN),
    Action.CHECK_INVOICES: _rule(*_SIGNED_IN),
    Action.CREATE_LOGIN_CHALLENGE: _rule(Role.VERIFIER),
    Action.READ_LOGIN_CHALLENGE: _rule(*_SIGNED_IN),
    Action.CONFIRM_LOGIN: _rule(Role.ENTERPRISE),
    Action.VERIFY_LOGIN_ASSERTION: _rule(Role.VERIFIER),
    Action.CONFIGURE_SEAL_POLICY: _rule(*_ADMIN),
    Action.READ_SEAL_POLICY: _rule(Role.ADMIN, *_OWN_KEYS),
    Action.READ_APPROVALS: _rule(Role.ADMIN, *_OWN_KEYS),
    # approvers alone: not the admin (who sets the policy), not the enterprise key (which asks)
    Action.DECIDE_APPROVALS: _rule(Role.APPROVER, any_enterprise=()),
    Action.RESUME_APPROVALS: _rule(*_OWN_KEYS, any_enterprise=()),
    Action.MANAGE_WEBHOOKS: _rule(*_ADMIN_OWNER),
    Action.READ_LICENSE_PDF: _rule(*_SIGNED_IN, any_enterprise=(Role.ADMIN, Role.VERIFIER)),
    Action.SHOW_LICENSE: _rule(*_ADMIN_OWNER),
    Action.READ_PERMITS: _rule(*_SIGNED_IN, any_enterprise=(Role.ADMIN, Role.VERIFIER)),
    Action.MANAGE_PERMITS: _rule(*_ADMIN_OWNER),
    # a verifier key only if it is a front's (checked by the route against its access form)
    Action.READ_REGISTRY_FEED: _rule(Role.ADMIN, Role.VERIFIER),
    Action.FILE_ACCESS_FORMS: _rule(Role.ADMIN, Role.VERIFIER),
}


def authorize(
    principal: Principal | None, uscc: str | Collection[str] | None, action: Action
) -> Principal:
    """``principal``, if it may take ``action`` for the enterprise ``uscc``; else 401 or 403.

    ``uscc``: the enterprise the request is about, or every enterprise the thing acted on
    belongs to (an archived document's sealer and parties: a key of any one of them may
    act); None when the request names no enterprise (a listing, which :func:`scope` then
    narrows).  Admins may act for any enterprise, enterprise keys for their own, verifiers
    where :data:`RULES` says so.
    """
    if principal is None:
        raise Unauthorized("this route needs an API token")
    rule = RULES[action]
    if principal.role not in rule.roles:
        raise Forbidden(f"the {principal.role.value} role may not use this route")
    if uscc is None or principal.role in rule.any_enterprise:
        return principal
    usccs = {uscc} if isinstance(uscc, str) else set(uscc)
    if principal.uscc is not None and principal.uscc in usccs:
        return principal
    raise Forbidden("this key may not act for that enterprise")


def scope(principal: Principal, uscc: str | None = None) -> str | None:
    """The enterprise a listing (archive, audit) is narrowed to: an enterprise key's own,
    whatever was asked (:func:`authorize` refused another one first); for the other roles
    the one asked for, None for all (an approver key: its own, as an enterprise key)."""
    if principal.role in (Role.ENTERPRISE, Role.APPROVER):
        return principal.uscc
    return uscc


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


def allowed(action: Action) -> Any:
    """A dependency that admits the roles that may take ``action`` (for some enterprise):
    checked before the request is read, so that a caller who may not use the route learns
    nothing about its input.  The route then calls :func:`authorize` with the enterprise."""

    async def dependency(principal: OptionalPrincipal) -> Principal:
        return authorize(principal, None, action)

    return Depends(dependency)
