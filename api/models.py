"""Request models of the HTTP API (responses: :mod:`api.answers`).

Word lists are the domain's enums (:mod:`seals.vocab`) and the roles of :mod:`api.auth`.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, model_validator

from keystore.base import KeyAlgorithm
from seals.vocab import DocumentType, LicenseStatus, PadesLevel, values

from .auth import Role

__all__ = [
    "AccessForm",
    "ApiKeyRequest",
    "CrossPageSpec",
    "ReserveSpec",
    "SealSpec",
    "SignOptions",
    "StatusRequest",
]


def _words(vocabulary: type[enum.Enum]) -> Any:
    """``Literal[...]`` of a vocabulary's words: checked, described and worded in errors as a
    written-out ``Literal`` would be, and kept as the word (what the archive, the audit log,
    the request's hash and the CLI's JSON take)."""
    return Literal[values(vocabulary)]


if TYPE_CHECKING:
    LevelWord = str
    DocumentTypeWord = str
    RoleWord = str
    AlgorithmWord = str
else:
    #: a PAdES level's word: B-B, B-T, B-LT, B-LTA (:class:`seals.vocab.PadesLevel`)
    LevelWord = _words(PadesLevel)
    #: a document type's word: contract, invoice, other (:class:`seals.vocab.DocumentType`)
    DocumentTypeWord = _words(DocumentType)
    #: an API key's role: admin, enterprise, verifier, approver (:class:`api.auth.Role`)
    RoleWord = _words(Role)
    #: a key type: ec-p256, rsa-2048, rsa-3072, sm2 (:class:`keystore.base.KeyAlgorithm`)
    AlgorithmWord = _words(KeyAlgorithm)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class StatusRequest(_Strict):
    status: LicenseStatus
    reason: str | None = Field(None, max_length=500)


class ReasonRequest(_Strict):
    reason: str | None = Field(None, max_length=500)


class AccessForm(_Strict):
    """附件2 电子营业执照应用接入信息表: who a relying party is and what system connects."""

    organisation_name: str = Field(min_length=2, max_length=100, description="单位名称")
    organisation_nature: str = Field(min_length=1, max_length=50, description="单位性质")
    uscc: str = Field(min_length=18, max_length=18, description="统一社会信用代码")
    address: str = Field(min_length=1, max_length=300, description="单位地址")
    contact_name: str = Field(min_length=1, max_length=50, description="联系人")
    contact_department: str = Field(min_length=1, max_length=100, description="部门")
    contact_title: str = Field(min_length=1, max_length=100, description="职务")
    phone: str = Field(min_length=5, max_length=30, description="联系电话")
    email: EmailStr = Field(description="电子邮箱")
    application_system: str = Field(min_length=1, max_length=100, description="应用系统名称")
    endpoint: str = Field(min_length=1, max_length=200, description="域名或IP及端口")
    business_field: str = Field(min_length=1, max_length=100, description="业务领域")
    front_system: bool = Field(
        False,
        description="前置系统: this key is a front system's, which reads the registry feed and "
        "files its departments' access forms (issue 19)",
    )


class ApiKeyRequest(_Strict):
    role: RoleWord
    name: str = Field(min_length=1, max_length=200)
    uscc: str | None = Field(None, min_length=18, max_length=18)
    access_form: AccessForm | None = None

    @model_validator(mode="after")
    def _check(self) -> ApiKeyRequest:
        bound = (Role.ENTERPRISE.value, Role.APPROVER.value)  # keys of one enterprise
        if self.role in bound and not self.uscc:
            raise ValueError(f"an {self.role} key needs the enterprise's uscc")
        if self.role not in bound and self.uscc:
            raise ValueError("only enterprise and approver keys are bound to a uscc")
        if self.role == Role.VERIFIER.value and self.access_form is None:
            raise ValueError("a relying party registers with its access form (access_form)")
        return self


class _Place(_Strict):
    """Where something goes on a page: page+x+y, or a keyword."""

    page: int | None = Field(None, description="from 1; -1 is the last page")
    x: float | None = Field(None, description="centre, points from the left of the page")
    y: float | None = Field(None, description="centre, points from the bottom of the page")
    keyword: str | None = Field(None, min_length=1, max_length=100, examples=["甲方（盖章）"])
    occurrence: int = Field(1, description="which occurrence of the keyword; -1 the last")
    align: Literal["center", "after", "before"] | None = Field(
        None,
        description="keyword only: centre the seal on it (center, the default), put its "
        "left edge at the keyword's end (after) or its right edge at the "
        "keyword's start (before), as the text reads",
    )
    offset: tuple[float, float] | None = Field(
        None,
        examples=[[5, 0]],
        description="keyword only: [dx, dy] in mm, moves the seal along the text and up",
    )

    @model_validator(mode="after")
    def _check_place(self) -> _Place:
        if self.keyword is not None and (self.x is not None or self.y is not None):
            raise ValueError("give either a keyword or x and y, not both")
        if (self.x is None) != (self.y is None):
            raise ValueError("x and y go together")
        if self.keyword is None and (self.align is not None or self.offset is not None):
            raise ValueError("align and offset place a seal relative to a keyword")
        if self.offset is not None and not all(abs(v) <= 1000 for v in self.offset):
            raise ValueError("offset is [dx, dy] in mm, each between -1000 and 1000")
        return self


class SealSpec(_Place):
    """One seal: a kind and where it goes (page+x+y, or keyword, or neither for the default).

    On a certified document the seal fills a free signature field reserved for its kind (or
    the one named by ``field``) wherever the certifier put it; a place given here is not used.
    """

    kind: str = Field(examples=["contract"])
    field: str | None = Field(
        None,
        min_length=1,
        max_length=200,
        examples=["eseal-reserved-contract-1"],
        description="fill this empty signature field of the document (e.g. one reserved by "
        "the certifier) instead of making a new one",
    )


class ReserveSpec(_Place):
    """An empty signature field that a certifying request reserves for a later seal."""

    kind: str = Field(examples=["contract"], description="the seal kind that will fill it")
    label: str | None = Field(
        None, min_length=1, max_length=50, examples=["乙方"], description="who seals there"
    )

    @model_validator(mode="after")
    def _check_reserve(self) -> ReserveSpec:
        if self.keyword is None and self.x is None:
            raise ValueError("a reserved field needs a keyword, or a page with x and y")
        return self


class CrossPageSpec(_Strict):
    """Where the cross-page seal's band goes along the right edge, and when it applies."""

    y: float | None = Field(
        None,
        ge=0,
        le=14400,
        description="centre of the band, points from the bottom of the page as its text reads",
    )
    position: Literal["top", "middle", "bottom"] | None = None
    mode: Literal["strict", "auto"] = Field(
        "strict",
        description="auto: left out of a one-page document (notice "
        "cross_page_skipped); strict: a one-page document is refused",
    )

    @model_validator(mode="after")
    def _check_band(self) -> CrossPageSpec:
        if self.y is not None and self.position is not None:
            raise ValueError("give the band's y or its position, not both")
        return self


class SignOptions(_Strict):
    """The ``options`` part of ``POST /v1/sign``."""

    seals: list[SealSpec] = Field(default_factory=list, max_length=10)
    cross_page: bool | Literal["auto"] | CrossPageSpec = Field(
        False,
        description="a cross-page seal (骑缝章) of the first seal's kind: true (refused "
        'on a one-page document), "auto" (left out of a one-page '
        "document), or an object choosing its band; without y or position "
        "it takes the free band nearest the middle",
    )
    level: LevelWord = "B-T"
    algorithm: AlgorithmWord | None = Field(
        None,
        description="the seal key that signs: sm2 (国密 SM2/SM3, the seal's SM2 certificate, the "
        "SM2 TSA and OCSP) or the seal's international key type; default the international key",
    )
    reason: str | None = Field(None, max_length=200)
    location: str | None = Field(None, max_length=200)
    certify: bool = False
    document_type: DocumentTypeWord = "other"
    allow_invoice_seal_on_contract: bool = False
    reference: str | None = Field(None, max_length=200)
    reserve: list[ReserveSpec] = Field(
        default_factory=list,
        max_length=10,
        description="certifying requests only: empty signature fields for the parties who seal "
        "later (a certified document takes seals only in fields made before)",
    )

    @model_validator(mode="after")
    def _check_reserve(self) -> SignOptions:
        if self.reserve and not self.certify:
            raise ValueError(
                "reserve needs certify: true (fields are reserved by the certifying request)"
            )
        return self

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "seals": [
                        {"kind": "contract", "keyword": "甲方（盖章）"},
                        {"kind": "legal_rep", "page": -1, "x": 450, "y": 120},
                    ],
                    "cross_page": True,
                    "level": "B-T",
                    "document_type": "contract",
                    "reference": "HT-2026-0001",
                },
                {
                    "seals": [{"kind": "contract", "keyword": "甲方（盖章）"}],
                    "certify": True,
                    "reserve": [{"kind": "contract", "keyword": "乙方（盖章）", "label": "乙方"}],
                    "document_type": "contract",
                },
            ]
        },
    )


def dump(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(mode="json")


class AccessFiling(_Strict):
    """A department's access form, filed by the front it registered at."""

    front_key_id: str = Field(min_length=1, max_length=32, description="the key's id at the front")
    name: str = Field(min_length=1, max_length=200)
    access_form: AccessForm
