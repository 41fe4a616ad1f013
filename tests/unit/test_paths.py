"""Folder paths (domain/paths.py): what is a path, the one mapping of (path, key) to a secret's
name and back, what a listing of a folder selects, and how a recursive pull flattens it."""

from __future__ import annotations

import pytest

from strongroom.domain import paths
from strongroom.domain.secrets import restore_plan, with_folders
from strongroom.errors import Invalid

GOOD = ["/", "/backend", "/backend/db", "/a.b/c-d/e_f", "/" + "x" * 64, "/a" * 10, "/v1.2/x"]
BAD = ["", "backend", "/backend/", "//", "/a//b", "/.", "/..", "/a/../b", "/a/./b", "/.hidden", "/a b", "/é",
       "/" + "x" * 65, "/a" * 11, "/x" * 9 + "/" + "y" * 240]  # fmt: skip


@pytest.mark.parametrize("path", GOOD)
def test_well_formed_paths(path: str) -> None:
    assert paths.is_path(path)
    assert paths.check(path) == path


@pytest.mark.parametrize("path", BAD)
def test_malformed_paths_are_400_without_echo(path: str) -> None:
    assert not paths.is_path(path)
    with pytest.raises(Invalid) as raised:
        paths.check(path)
    assert raised.value.code == "invalid_path"
    assert path not in str(raised.value.details) or not path


def test_names_map_both_ways_and_the_root_keeps_bare_keys() -> None:
    assert paths.name("/", "DB_URL") == "DB_URL"
    assert paths.name("/backend/db", "DB_URL") == "/backend/db/DB_URL"
    assert paths.split("DB_URL") == ("/", "DB_URL")
    assert paths.split("/backend/db/DB_URL") == ("/backend/db", "DB_URL")
    assert paths.split("/top/K.with.dots") == ("/top", "K.with.dots")


def test_selection_by_folder_and_recursive() -> None:
    names = ["A", "/b/B", "/b/c/C", "/bc/D"]
    assert paths.select(names, "/", recursive=False) == ["A"]
    assert paths.select(names, "/", recursive=True) == names
    assert paths.select(names, "/b", recursive=False) == ["/b/B"]
    assert paths.select(names, "/b", recursive=True) == ["/b/B", "/b/c/C"]  # not /bc: a sibling


def test_a_recursive_flatten_takes_the_nearest_holder_of_a_key() -> None:
    names = ["/a/b/K", "/a/K", "/a/z/K", "/a/c/d/L", "/a/y/L"]
    assert paths.flatten(names, "/a", recursive=True) == {"K": "/a/K", "L": "/a/y/L"}
    assert paths.flatten(names, "/a/b", recursive=False) == {"K": "/a/b/K"}


def test_moves_and_ancestors() -> None:
    assert paths.ancestors("/a/b/c") == ["/a", "/a/b", "/a/b/c"]
    assert paths.ancestors("/") == []
    assert paths.moved("/old/db", "/old", "/new/place") == "/new/place/db"
    assert paths.within("/a/b", "/a")
    assert not paths.within("/ab", "/a")


def test_writing_into_a_folder_creates_it_and_its_parents_once() -> None:
    kept = {"/a": {"id": "fld_kept", "created_at": "t0", "created_by": "usr_x"}}
    folders = with_folders(kept, ["ROOT", "/a/b/K", "/a/b/c/L"], now="t1", who="usr_y")
    assert sorted(folders) == ["/a", "/a/b", "/a/b/c"]
    assert folders["/a"] == kept["/a"]
    assert folders["/a/b"]["created_by"] == "usr_y"
    assert with_folders({}, ["ROOT"], now="t1", who="usr_y") == {}


def test_a_restore_of_a_folder_leaves_the_rest_alone() -> None:
    from datetime import UTC, datetime

    from strongroom.data.secrets import VersionHeader
    from strongroom.domain.secrets import State

    live = {n: {"value": "now", "version": 2} for n in ("ROOT", "/a/K", "/a/NEW", "/b/K")}
    state = State(None, None, live, {})
    then = {"/a/K": VersionHeader(key="/a/K", version=1, action="set", created_at="2026-01-01T00:00:00.000Z")}
    only = lambda n: paths.selects(n, "/a", recursive=False)  # noqa: E731
    plan = restore_plan(state, then, {"/a/K": "then"}, at=datetime(2026, 1, 1, tzinfo=UTC), env_id="env_x", only=only)
    assert plan.changes == {"/a/K": "then", "/a/NEW": None}
