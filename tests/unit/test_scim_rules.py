"""SCIM's pure rules (domain/scim.py, scim_groups.py, scim_tokens.py): the filters served, which email a
User stands for, what a request body may be, the token format; and that the published schema is
the model served."""

from __future__ import annotations

import pytest
from scim2_models import Context

from strongroom.domain import scim, scim_groups, scim_tokens, tokens
from strongroom.models.scim_resources import (
    GROUP_SCHEMA,
    USER_SCHEMA,
    ScimUser,
    group_schema,
    service_provider_config,
    user_schema,
)


@pytest.mark.parametrize(
    ("expression", "user_name"),
    [
        ('userName eq "ada@example.com"', "ada@example.com"),
        ('  USERNAME EQ "ada@example.com" ', "ada@example.com"),
        (r'userName eq "quote\"d"', 'quote"d'),
        (None, None),
        ("", None),
    ],
)
def test_the_username_filter_is_the_one_served(expression: str | None, user_name: str | None) -> None:
    assert scim.user_name_filter(expression) == user_name


@pytest.mark.parametrize(
    "expression",
    [
        'userName co "ada"',
        'displayName eq "Ada"',
        'userName eq "a" or userName eq "b"',
        "userName pr",
        'userName eq "a"]',
        r'userName eq "\x"',
    ],
)
def test_any_other_filter_is_invalid_filter(expression: str) -> None:
    with pytest.raises(scim.ScimInvalid) as refused:
        scim.user_name_filter(expression)
    assert refused.value.code == "invalidFilter"
    assert refused.value.status == 400


def _user(**fields: object) -> ScimUser:
    return scim.parse_user({"schemas": [USER_SCHEMA], **fields}, Context.RESOURCE_CREATION_REQUEST)


def test_the_email_is_the_username_when_it_is_one_else_the_primary_email() -> None:
    assert scim._email_of(_user(userName="Ada@Example.com", emails=[{"value": "other@example.com"}])) == (
        "ada@example.com"
    )
    emails = [{"value": "second@example.com"}, {"value": "first@example.com", "primary": True}]
    assert scim._email_of(_user(userName="ada", emails=emails)) == "first@example.com"
    with pytest.raises(scim.ScimInvalid):
        scim._email_of(_user(userName="ada", emails=[{"value": "not an email"}]))


def test_a_body_without_active_means_active_and_a_bad_body_is_invalid_value() -> None:
    assert _user(userName="ada", emails=[{"value": "ada@example.com"}]).active is True
    defaulted = _user(userName="ada@example.com")  # emails is required: an email userName is one
    assert [(e.value, e.primary) for e in defaulted.emails or []] == [("ada@example.com", True)]
    assert _user(userName="ada", emails=[{"value": "ada@example.com"}], active=False).active is False
    with pytest.raises(scim.ScimInvalid) as refused:
        _user(emails=[{"value": "ada@example.com"}])  # no userName
    assert refused.value.code == "invalidValue"
    with pytest.raises(scim.ScimInvalid) as refused:
        scim.parse_user(["not", "an", "object"], Context.RESOURCE_CREATION_REQUEST)
    assert refused.value.code == "invalidSyntax"


def test_the_published_schema_is_the_served_model() -> None:
    published = {a.name: a for a in user_schema().attributes or []}
    assert set(published) == {"userName", "name", "displayName", "emails", "active"}
    assert published["userName"].required
    assert str(published["userName"].mutability) == "immutable"
    assert published["emails"].required
    assert published["active"].required
    config = service_provider_config()
    assert config.patch
    assert config.patch.supported
    assert config.filter
    assert config.filter.supported
    assert config.etag
    assert config.etag.supported
    for unsupported in (config.bulk, config.sort, config.change_password):
        assert unsupported is not None
        assert not unsupported.supported


def test_a_scim_token_is_checksummed_and_parses_to_its_id() -> None:
    token = tokens.mint("sct_01m8xarpaje7y4jxddg9p646bw", scim_tokens.PREFIX)
    assert token.startswith("sr_scim_")
    assert tokens.parse(token, scim_tokens.PREFIX, "sct") == "sct_01m8xarpaje7y4jxddg9p646bw"
    assert tokens.parse(token[:-1] + ("A" if token[-1] != "A" else "B"), scim_tokens.PREFIX, "sct") is None
    assert tokens.parse(token, tokens.PREFIX) is None  # not a service token


@pytest.mark.parametrize(
    ("expression", "display_name"),
    [('displayName eq "Release Crew"', "Release Crew"), (' DISPLAYNAME eq "a\\"b" ', 'a"b'), (None, None)],
)
def test_the_group_filter_is_display_name_eq(expression: str | None, display_name: str | None) -> None:
    assert scim.display_name_filter(expression) == display_name


@pytest.mark.parametrize("expression", ['displayName co "x"', 'userName eq "x"', 'displayName eq "a" or id eq "b"'])
def test_any_other_group_filter_is_invalid_filter(expression: str) -> None:
    with pytest.raises(scim.ScimInvalid) as refused:
        scim.display_name_filter(expression)
    assert refused.value.code == "invalidFilter"


def test_a_group_is_a_display_name_and_user_members_only() -> None:
    published = {a.name: a for a in group_schema().attributes or []}
    assert set(published) == {"displayName", "members"}
    assert published["displayName"].required
    members = {a.name: a for a in published["members"].sub_attributes or []}
    assert set(members) == {"value", "$ref"}
    assert members["$ref"].reference_types == ["User"]  # no nested groups
    with pytest.raises(scim.ScimInvalid):
        scim_groups.parse_group({"schemas": [GROUP_SCHEMA]}, Context.RESOURCE_CREATION_REQUEST)  # no displayName
    group = scim_groups.parse_group(
        {"schemas": [GROUP_SCHEMA], "displayName": "Ops", "members": [{"value": "not-a-user"}]},
        Context.RESOURCE_CREATION_REQUEST,
    )
    with pytest.raises(scim.ScimInvalid):
        scim_groups.member_ids(group)
