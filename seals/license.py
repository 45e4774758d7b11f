"""The license identity (照面信息) of an electronic business license, and its status history."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .errors import InvalidLicense, InvalidUSCC
from .uscc import validate_uscc

__all__ = ["License", "LicenseStatus", "StatusChange", "parse_license", "status_at"]


class LicenseStatus(enum.Enum):
    ACTIVE = "active"  #: 存续
    SUSPENDED = "suspended"  #: 停业 / 暂停
    CANCELLED = "cancelled"  #: 注销
    REVOKED = "revoked"  #: 吊销

    @property
    def label(self) -> str:
        return {"active": "存续", "suspended": "停业", "cancelled": "注销", "revoked": "吊销"}[
            self.value
        ]


class License(BaseModel):
    """The face of the license. ``status`` and the history are kept beside it, not in it."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    uscc: str = Field(description="统一社会信用代码, 18 characters, GB 32100-2015",
                      examples=["91110000600037341L"])
    name: str = Field(min_length=2, max_length=100, description="企业名称 (legal name)")
    type: str = Field(min_length=1, max_length=100, description="类型, e.g. 有限责任公司")
    legal_representative: str = Field(min_length=2, max_length=20, description="法定代表人")
    registered_capital: str | None = Field(default=None, max_length=100, description="注册资本")
    established: str | None = Field(default=None, max_length=40, description="成立日期")
    business_term: str | None = Field(default=None, max_length=100, description="营业期限")
    address: str | None = Field(default=None, max_length=300, description="住所")
    business_scope: str | None = Field(default=None, max_length=4000, description="经营范围")
    registration_authority: str | None = Field(default=None, max_length=100,
                                               description="登记机关")
    approved: str | None = Field(default=None, max_length=40, description="核准日期")

    @field_validator("uscc")
    @classmethod
    def _uscc(cls, value: str) -> str:
        return validate_uscc(value)


@dataclass(frozen=True)
class StatusChange:
    status: LicenseStatus
    at: datetime
    reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"status": self.status.value, "at": self.at.isoformat(), "reason": self.reason}


def parse_license(data: object) -> License:
    """Build a :class:`License` from decoded JSON; every problem becomes one domain error.

    A bad USCC raises :class:`InvalidUSCC` (code ``invalid_uscc``) with the rule it breaks;
    anything else raises :class:`InvalidLicense` naming each offending field.
    """
    if not isinstance(data, dict):
        raise InvalidLicense("a license must be a JSON object")
    if "uscc" in data:
        validate_uscc(data["uscc"])
    try:
        return License.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"]) or "license"
            problems.append(f"{where}: {err['msg']}")
        raise InvalidLicense("invalid license: " + "; ".join(problems)) from None
    except InvalidUSCC:
        raise


def status_at(history: list[StatusChange], when: datetime) -> LicenseStatus | None:
    """The status in force at ``when`` (None if the license did not exist yet)."""
    current: LicenseStatus | None = None
    for change in sorted(history, key=lambda c: c.at):
        if change.at <= when:
            current = change.status
        else:
            break
    return current
