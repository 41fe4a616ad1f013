"""Folders inside an environment: the one place that maps (path, key) to the name a secret has in
the snapshot, its version items and its AAD, and back.

A secret at the root (`/`) is named by its key alone, exactly as before folders existed, so every
environment written before them reads the same without a migration. A secret in a folder is named
`<path>/<KEY>` (`/backend/db/DB_URL`): keys never hold `/`, so the two never collide, and a name
starting with `/` is always a folder's. That name is also how a reference names a folder's key
(`${/backend/db/DB_URL}`, `${env./backend/db/DB_URL}`), and what audit events list.

Paths: `/`, or `/seg/seg…` with 1 to MAX_DEPTH segments of letters, digits, `_`, `-` and `.`, not
starting with `.` (so no `.` or `..`), at most 64 characters each, MAX_PATH in all; no
empty segment, no trailing `/`. Pure: no store, no HTTP.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from strongroom.errors import Invalid, NotFound
from strongroom.models.secrets import MAX_PATH, MAX_PATH_DEPTH, PATH_PATTERN

ROOT = "/"
MAX_DEPTH = MAX_PATH_DEPTH
MAX_FOLDERS = 1000  # an environment's own folders
_PATH = re.compile(PATH_PATTERN)


def is_path(path: str) -> bool:
    return len(path) <= MAX_PATH and _PATH.fullmatch(path) is not None


def check(path: str, *, field: str = "path", location: str = "query") -> str:
    """`path` when well formed, else 400 `invalid_path` (never echoing it)."""
    if not is_path(path):
        raise Invalid(
            "a path starts with / and names folders of letters, digits, _ - . (not . or ..), "
            f"at most {MAX_DEPTH} deep and {MAX_PATH} characters, without an empty segment or a trailing /",
            code="invalid_path",
            details={"fields": [{"field": field, "location": location, "issue": "not a folder path"}]},
        )
    return path


def name(path: str, key: str) -> str:
    """The snapshot name of `key` in the folder `path` (the key itself at the root)."""
    return key if path == ROOT else f"{path}/{key}"


def split(name_: str) -> tuple[str, str]:
    """(path, key) of a snapshot name."""
    if not name_.startswith("/"):
        return ROOT, name_
    path, _, key = name_.rpartition("/")
    return path or ROOT, key


def path_of(name_: str) -> str:
    return split(name_)[0]


def within(path: str, folder: str) -> bool:
    """Whether `path` is `folder` or one of its subfolders."""
    return folder in (ROOT, path) or path.startswith(folder + "/")


def selects(name_: str, path: str, *, recursive: bool) -> bool:
    """Whether a listing of `path` (and its subfolders when `recursive`) holds this name."""
    where = path_of(name_)
    return within(where, path) if recursive else where == path


def select(names: Iterable[str], path: str, *, recursive: bool) -> list[str]:
    return [n for n in names if selects(n, path, recursive=recursive)]


def flatten(names: Iterable[str], path: str, *, recursive: bool) -> dict[str, str]:
    """key -> name of what a pull or export of `path` gives (keys only, as an application gets
    them), by key. Recursive: a key held at several paths comes from the nearest to `path` (the
    folder's own first, then the shallowest subfolder, then the first path in sorted order).
    One pass over the names (a pull of every path of a large environment pays no sort by depth)."""
    if path == ROOT and not recursive:  # the root alone, as every read was before folders
        return {n: n for n in sorted(names) if not n.startswith("/")}
    below = "/" if path == ROOT else path + "/"
    best: dict[str, tuple[int, str, str]] = {}  # key -> (depth, folder, name)
    for n in names:
        where, key = (n.rpartition("/")[0], n.rpartition("/")[2]) if n.startswith("/") else (ROOT, n)
        if where != path and not (recursive and (path == ROOT or where.startswith(below))):
            continue
        rank = (0 if where == ROOT else where.count("/"), where, n)
        held = best.get(key)
        if held is None or rank < held:
            best[key] = rank
    return {key: best[key][2] for key in sorted(best)}


def ancestors(path: str) -> list[str]:
    """The folders `path` is in, and itself, outermost first (none for the root)."""
    if path == ROOT:
        return []
    parts = path.strip("/").split("/")
    return ["/" + "/".join(parts[: i + 1]) for i in range(len(parts))]


def moved(path: str, source: str, destination: str) -> str:
    """`path` (within `source`) once `source` is renamed `destination`."""
    return destination + path[len(source) :]


def check_folder(view: Mapping[str, Any], path: str) -> None:
    """404 `folder_not_found` unless the environment (own or inherited) has the folder: one of its
    folders, or a folder a key it sees is in. The root always exists."""
    if path == ROOT or path in getattr(view, "folders", {}):
        return
    if not any(n.startswith(path + "/") for n in view):
        raise NotFound("folder not found", code="folder_not_found")


def variant(path: str, recursive: bool) -> str:
    """What, besides the snapshots read, tells one read's answer from another's (its ETag says it):
    nothing for the root alone (the tags of before folders), else the folder and `recursive`."""
    if path == ROOT and not recursive:
        return ""
    return f"{path}|{'r' if recursive else ''}"
