"""Secrets of an environment: values, versions, batch changes, import, promote, restore, data keys."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, AwareDatetime, Field, StringConstraints

from strongroom.models.common import (
    Page,
    Request,
    Response,
)

SECRET_KEY_PATTERN = r"^[A-Za-z_][A-Za-z0-9_.-]{0,254}$"  # noqa: S105 - a name pattern
# Folder paths (domain/paths.py): `/`, or 1-10 segments of letters, digits, `_ - .` not starting
# with `.` (so never `.` or `..`), each at most 64 characters, 255 in all.
MAX_PATH_DEPTH = 10
MAX_PATH = 255
PATH_PATTERN = rf"^(?:/|(?:/[A-Za-z0-9_-][A-Za-z0-9_.-]{{0,63}}){{1,{MAX_PATH_DEPTH}}})$"
MAX_VALUE_BYTES = 64 * 1024


def _value_size(value: str) -> str:
    if len(value.encode("utf-8", "surrogatepass")) > MAX_VALUE_BYTES:
        raise ValueError(f"must be at most {MAX_VALUE_BYTES} bytes of UTF-8")
    if "\x00" in value:
        raise ValueError("must not contain NUL (it cannot reach an environment variable)")
    return value


# No NUL (it cannot reach an environment variable): in the schema too, so clients know.
SecretValue = Annotated[
    str, StringConstraints(max_length=MAX_VALUE_BYTES, pattern=r"^[^\x00]*$"), AfterValidator(_value_size)
]


class SecretPut(Request):
    value: SecretValue = Field(description="UTF-8, at most 64 KiB. Never logged, never in an audit entry.")
    comment: Annotated[str, StringConstraints(max_length=500)] = ""

    def __repr__(self) -> str:  # a secret value must not reach a log through repr
        return f"SecretPut(value='**********', comment={self.comment!r})"

    __str__ = __repr__


class SecretWritten(Response):
    key: str
    path: str = Field(default="/", description="The folder holding the key (`/`: the root)")
    version: int
    created_at: str
    updated_at: str


class Secret(Response):
    key: str
    path: str = Field(default="/", description="The folder holding the key (`/`: the root)")
    value: str
    version: int
    updated_at: str
    updated_by: str
    source: str = Field(description="Slug of the environment holding the value (a parent when inherited)")
    inherited: bool = False


class SecretListItem(Response):
    key: str
    path: str = Field(default="/", description="The folder holding the key (`/`: the root)")
    value: str | None = None
    version: int
    updated_at: str
    source: str = Field(description="Slug of the environment holding the value (a parent when inherited)")
    inherited: bool = False


class SecretList(Page[SecretListItem]):
    pass


class SecretVersion(Response):
    key: str
    path: str = Field(default="/", description="The folder holding the key (`/`: the root)")
    version: int
    action: Literal["set", "delete"]
    comment: str = ""
    created_at: str
    created_by: str


class SecretVersionList(Page[SecretVersion]):
    pass


SecretName = Annotated[str, StringConstraints(pattern=SECRET_KEY_PATTERN)]
# A folder inside an environment (domain/paths.py holds the rules): `/` or `/seg/seg…`.
FolderPath = Annotated[str, StringConstraints(pattern=PATH_PATTERN, max_length=MAX_PATH)]
Comment = Annotated[str, StringConstraints(max_length=500)]


class _Masked(Request):
    """A request carrying values: its repr never shows them."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(**********)"

    __str__ = __repr__


# One request changes up to the environment's own limit (3 MB of ciphertext, about 11,000
# secrets; the request body stops at 1 MiB first): no count of its own below that.
MAX_CHANGE_KEYS = 25_000


class SecretsPatch(_Masked):
    set: dict[SecretName, SecretValue] = Field(
        default_factory=dict,
        max_length=MAX_CHANGE_KEYS,
        description="KEY -> new value",
        json_schema_extra={"additionalProperties": False},
    )
    delete: list[SecretName] = Field(default_factory=list, max_length=MAX_CHANGE_KEYS, description="Keys to delete")
    comment: Comment = ""


class SecretChange(Response):
    key: str
    path: str = Field(default="/", description="The folder holding the key (`/`: the root)")
    action: Literal["created", "updated", "deleted", "unchanged", "add", "update"]
    version: int | None = None


class BatchResult(Response):
    revision: int
    changes: list[SecretChange]


class SecretRollback(Request):
    version: int = Field(ge=1, le=10**12, description="The version whose value becomes the new version")
    comment: Comment = ""


class SecretsImport(_Masked):
    format: Literal["dotenv", "json"]
    content: Annotated[str, StringConstraints(max_length=1024 * 1024)]
    overwrite: bool = Field(default=False, description="Replace the values of keys that exist (default: keep)")


class ImportResult(Response):
    created: int
    updated: int
    unchanged: int
    revision: int


class Promote(Request):
    from_: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")] = Field(alias="from")
    to: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
    keys: list[SecretName] | None = Field(
        default=None, max_length=MAX_CHANGE_KEYS, description="Only these keys (of `path`, default `/`)"
    )
    path: FolderPath | None = Field(
        default=None, description="Only this folder (and its subfolders when `recursive`); absent: every folder"
    )
    recursive: bool = Field(default=False, description="With `path`: its subfolders too")
    dry_run: bool = Field(default=False, description="true only shows the diff and writes nothing")


class PromoteResult(Response):
    changes: list[SecretChange]
    dry_run: bool
    revision: int


class EnvironmentRestore(Request):
    at: AwareDatetime = Field(description="The instant to go back to (RFC 3339 with an offset)")
    dry_run: bool = Field(default=False, description="Only say what would change (keys and actions), write nothing")
    path: FolderPath | None = Field(
        default=None, description="Only this folder (and its subfolders when `recursive`); absent: every folder"
    )
    recursive: bool = Field(default=False, description="With `path`: its subfolders too")


class KeyRotated(Response):
    key_version: int = Field(description="The data key version new writes use")
    revision: int
    rotated_at: str


class EnvironmentRestored(Response):
    at: str
    revision: int
    restored: int
    trashed: int
    dry_run: bool = False
    changes: list[SecretChange] = Field(default_factory=list, description="What changed (or would), keys only")


class FolderCreate(Request):
    path: FolderPath = Field(description="`/backend/db`: its parent folders are created with it")


class FolderMove(Request):
    path: FolderPath = Field(description="The folder's new path (a rename, or a move under another folder)")


class Folder(Response):
    id: str
    path: str
    created_at: str
    created_by: str
    source: str = Field(description="Slug of the environment holding the folder (a parent when inherited)")
    inherited: bool = False
    secrets: int = Field(description="Live secrets directly in it (own and inherited)")


class FolderList(Page[Folder]):
    pass


class FolderChanged(Response):
    id: str
    path: str
    revision: int
    changes: list[SecretChange] = Field(default_factory=list, description="The secrets it moved or deleted")
