"""What every model shares: the request and response bases, the error envelope, the list shapes
(`Page[T]` with a cursor, `Items[T]` without), and the field types and patterns of names, slugs and emails."""

from __future__ import annotations

import re
import unicodedata
from typing import Annotated, Literal, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

SLUG_PATTERN = r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$"
_SLUG_RE = re.compile(SLUG_PATTERN)
Slug = Annotated[str, StringConstraints(pattern=SLUG_PATTERN, min_length=1, max_length=64)]

# No C0/C1 control characters, at least one non-space character (the OpenAPI document shows it too).
NAME_PATTERN = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
Name = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=NAME_PATTERN), AfterValidator(str.strip)]
Description = Annotated[str, StringConstraints(max_length=1000)]

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?"
EMAIL_PATTERN = rf"^[A-Za-z0-9.!#$%&'*+/=?^_`{{|}}~-]{{1,64}}@{_LABEL}(?:\.{_LABEL})+$"
Email = Annotated[str, StringConstraints(pattern=EMAIL_PATTERN, max_length=254), AfterValidator(str.lower)]

RoleName = Literal["owner", "admin", "developer", "viewer"]


def slugify(name: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:64].strip("-")
    return slug if _SLUG_RE.match(slug or "") else ""


class Request(BaseModel):
    """Base of request bodies: unknown fields are refused (no mass assignment)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


class Response(BaseModel):
    model_config = ConfigDict(extra="ignore")


class ErrorBody(BaseModel):
    code: str
    message: str
    details: dict[str, object] = Field(default_factory=dict)
    request_id: str


class ErrorEnvelope(BaseModel):
    error: ErrorBody


ScopeRef = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]


class Page[T](Response):
    """One page of a listing; `next_cursor`, passed back as `cursor`, reads the next (null on the last)."""

    data: list[T]
    next_cursor: str | None = None

    @classmethod
    def of(cls, found: tuple[list[T], str | None]) -> Self:
        """The page a domain listing answers as `(data, next_cursor)`."""
        data, next_cursor = found
        return cls(data=data, next_cursor=next_cursor)


class Items[T](Response):
    """A whole listing in one answer (no paging)."""

    data: list[T]
