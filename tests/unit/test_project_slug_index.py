"""The index of a project's environments on its slug pointer (data/projects.py): the item, what
it reads back, and the conditions of the ops that keep it (pure: no store)."""

from __future__ import annotations

from strongroom.data import db, keys
from strongroom.data import projects as data

ORG, PRJ = "org_01m8vt10z88gte2bbeamf7g3tq", "prj_01m8vt10z88gte2bbeamf7g3tq"


def test_a_pointer_reads_back_the_environments_it_indexes() -> None:
    item = data.project_slug_item(ORG, "web", PRJ, {"staging": "env_a", "qa-2": "env_b"})
    assert item[keys.SK] == "PROJSLUG#web"
    assert data.indexed_environments(item) == {"staging": "env_a", "qa-2": "env_b"}
    assert item[keys.ENV_INDEX_REVISION] == 0


def test_a_rename_moves_the_index_only_while_its_revision_is_as_read() -> None:
    pointer = data.SlugPointer("web", PRJ, {"staging": "env_a"}, 3)
    delete, put = data.move_slug(ORG, pointer, "shop")
    assert isinstance(delete, db.Delete)
    assert isinstance(put, db.Put)
    assert delete.key == keys.project_slug(ORG, "web")
    assert delete.condition == "project_id = :prj AND #rev = :rev"
    assert delete.values == {":prj": PRJ, ":rev": 3}
    assert put.item[keys.SK] == "PROJSLUG#shop"
    assert data.indexed_environments(put.item) == {"staging": "env_a"}
    assert put.item[keys.ENV_INDEX_REVISION] == 4
    assert put.condition == "attribute_not_exists(PK)"


def test_a_pointer_written_before_the_index_moves_while_it_still_has_no_revision() -> None:
    (delete, _put) = data.move_slug(ORG, data.SlugPointer("web", PRJ, {}, None), "shop")
    assert isinstance(delete, db.Delete)
    assert delete.condition == "project_id = :prj AND attribute_not_exists(#rev)"


def test_an_environment_change_updates_the_index_while_the_pointer_names_the_project() -> None:
    op = data.index_environments(ORG, PRJ, "web", put={"qa-2": "env_b"}, drop="qa")
    assert op.key == keys.project_slug(ORG, "web")
    assert op.condition == "project_id = :prj"
    assert op.expression == "SET #p0 = :p0 ADD #rev :one REMOVE #d"
    assert op.names == {"#rev": "env_rev", "#p0": "env:qa-2", "#d": "env:qa"}
    assert op.values == {":prj": PRJ, ":one": 1, ":p0": "env_b"}
    assert data.index_environments(ORG, PRJ, "web", drop="qa").expression == "ADD #rev :one REMOVE #d"
