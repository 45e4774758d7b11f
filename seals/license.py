"""The license identity (照面信息) of an electronic business license, and its status history."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from .errors import InvalidLicense, InvalidUSCC
from .kinds import SealKind
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

    uscc: str = Field(
        description="统一社会信用代码, 18 characters, GB 32100-2015",
        examples=["91110000600037341L"],
    )
    name: str = Field(min_length=2, max_length=100, description="企业名称 (legal name)")
    type: str = Field(min_length=1, max_length=100, description="类型, e.g. 有限责任公司")
    legal_representative: str = Field(min_length=2, max_length=20, description="法定代表人")
    registered_capital: str | None = Field(default=None, max_length=100, description="注册资本")
    established: str | None = Field(default=None, max_length=40, description="成立日期")
    business_term: str | None = Field(default=None, max_length=100, description="营业期限")
    address: str | None = Field(default=None, max_length=300, description="住所")
    business_scope: str | None = Field(default=None, max_length=4000, description="经营范围")
    registration_authority: str | None = Field(default=None, max_length=100, description="登记机关")
    approved: str | None = Field(default=None, max_length=40, description="核准日期")
    seal_codes: dict[str, str] | None = Field(
        default=None,
        description="not on the license face: the public-security filing codes (公安备案印章编码, "
        "13 digits) of the enterprise's physical seals, by seal kind (official, contract, "
        "finance, invoice, legal_rep); a seal whose kind has one gets it as the esID of its "
        "GB/T 38540 seal data, the others a code eseal derives (README)",
        examples=[{"official": "1101080012345", "contract": "1101080012346"}],
    )

    @field_validator("uscc")
    @classmethod
    def _uscc(cls, value: str) -> str:
        return validate_uscc(value)

    def seal_code(self, kind: SealKind) -> str | None:
        """The filing code of the ``kind`` seal, if the license input gave one."""
        return (self.seal_codes or {}).get(kind.value)

    @field_validator("seal_codes")
    @classmethod
    def _seal_codes(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        if value is None:
            return None
        kinds = [k.value for k in SealKind]
        for kind, code in value.items():
            if kind not in kinds:
                known = ", ".join(kinds)
                raise ValueError(f"unknown seal kind {kind[:20]!r}; known kinds: {known}")
            if not _SEAL_CODE.fullmatch(code):
                raise ValueError(f"the {kind} seal's code must be 13 digits (公安备案印章编码)")
        if len(set(value.values())) != len(value):
            raise ValueError("two seals cannot have the same filing code")
        # in the order of the kinds, whatever order the input had
        return {k: value[k] for k in kinds if k in value}

    @field_validator("established", "approved")
    @classmethod
    def _date(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None or not _checking_dates(info):
            return value
        if not _ISO_DATE.fullmatch(value):
            raise ValueError("must be a date written YYYY-MM-DD")
        _real_date(value)
        return value

    @field_validator("business_term")
    @classmethod
    def _term(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None or not _checking_dates(info):
            return value
        days = [_real_date(m.group(0)) for m in _DATE_IN_TEXT.finditer(value)]
        if len(days) == 2 and days[1] < days[0]:
            raise ValueError("the term ends before it starts")
        return value


#: a seal's filing code with the public security authority (公安备案印章编码): 13 digits
_SEAL_CODE = re.compile(r"\d{13}", re.ASCII)
#: the license fields that are dates are written YYYY-MM-DD, as on the license face
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
#: a date inside a text such as ``2012-03-09 至 2042-03-08`` or ``2010-05-20至长期``
_DATE_IN_TEXT = re.compile(r"(?<!\d)\d{4}-\d{1,2}-\d{1,2}(?!\d)", re.ASCII)
#: ``model_validate(..., context=DATES)`` checks the dates: new input is checked, faces
#: stored before the check existed are read as they are
DATES = {"check_dates": True}


def _checking_dates(info: ValidationInfo) -> bool:
    return bool(info.context and info.context.get("check_dates"))


def _real_date(text: str) -> date:
    year, month, day = (int(part) for part in text.split("-"))
    try:
        return date(year, month, day)
    except ValueError:
        raise ValueError(f"{text} is not a real date") from None


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
        return License.model_validate(data, context=DATES)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"]) or "license"
            problems.append(f"{where}: {err['msg'].removeprefix('Value error, ')}")
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
