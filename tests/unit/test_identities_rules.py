"""Machine identities' pure parts: glob semantics, claim matching, the rules an identity may have
(the issuer's URL checked by netguard: https outside dev mode), the shape check of a signed
GetCallerIdentity and the mapping of STS's ARNs."""

from __future__ import annotations

import pytest

from strongroom.domain.identities import checked_rules, claim_matches, glob_matches, glob_problem
from strongroom.errors import Unauthorized, Unprocessable
from strongroom.models import IdentityRules
from strongroom.security import sts


@pytest.fixture(autouse=True)
def _settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TABLE_NAME", "unit-table-not-used")
    monkeypatch.setenv("KMS_KEY_ID", "unit-key-not-used")
    monkeypatch.setenv("CURSOR_SIGNING_KEY", "unit-test-cursor-key-0123456789")
    monkeypatch.setenv("AUTH_MODE", "oidc")
    monkeypatch.delenv("OIDC_ISSUER", raising=False)
    monkeypatch.delenv("OIDC_AUDIENCE", raising=False)


@pytest.mark.parametrize(
    ("pattern", "value", "matches"),
    [
        ("repo:acme/web:ref:refs/heads/main", "repo:acme/web:ref:refs/heads/main", True),
        ("repo:acme/web:ref:refs/heads/main", "repo:acme/web:ref:refs/heads/main2", False),
        ("repo:acme/web:*", "repo:acme/web:ref:refs/heads/feature/x", True),  # `*` crosses `/` and `:`
        ("repo:acme/*:ref:refs/tags/v*", "repo:acme/api:ref:refs/tags/v1.2", True),
        ("repo:acme/*:ref:refs/tags/v*", "repo:acme/api:ref:refs/heads/v1", False),
        ("repo:acme/web:*", "repo:ACME/web:x", False),  # case matters
        ("a.c", "abc", False),  # `.` is itself
        ("a?c", "abc", False),  # `?` is itself
        ("[ab]", "a", False),  # brackets are themselves
        ("pre*", "pre", True),  # `*` may match nothing
        ("*-prod", "x\n-prod", True),
    ],
)
def test_glob_semantics(pattern: str, value: str, matches: bool) -> None:
    assert glob_matches(pattern, value) is matches


def test_patterns_that_say_nothing_are_refused() -> None:
    assert glob_problem("*")
    assert glob_problem("***")
    assert glob_problem("repo:**")
    assert glob_problem("repo:acme/*") is None


def test_claims_match_strings_numbers_and_booleans_only() -> None:
    assert claim_matches("acme", "acme")
    assert claim_matches(42, "42")
    assert claim_matches(True, "true")
    assert not claim_matches(None, "x*")
    assert not claim_matches(["acme"], "acme")
    assert not claim_matches({"a": "b"}, "*b*")


def _oidc(issuer: str, **extra: object) -> IdentityRules:
    return IdentityRules.model_validate({"issuer": issuer, "audience": "ci", "claims": {"sub": "repo:a/b:*"}, **extra})


def test_an_issuer_must_be_https_and_public_outside_dev_mode() -> None:
    assert checked_rules("oidc", _oidc("https://93.184.216.34"))["issuer"] == "https://93.184.216.34"
    for issuer in ("http://93.184.216.34", "https://127.0.0.1:8443", "https://10.0.0.1", "https://169.254.169.254"):
        with pytest.raises(Unprocessable) as refused:
            checked_rules("oidc", _oidc(issuer))
        assert refused.value.details["fields"][0]["field"] == "rules.issuer", issuer


def test_http_to_loopback_only_in_dev_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTH_MODE", "dev")
    assert checked_rules("oidc", _oidc("http://127.0.0.1:9999"))["issuer"] == "http://127.0.0.1:9999"
    with pytest.raises(Unprocessable):
        checked_rules("oidc", _oidc("http://93.184.216.34"))


def test_rules_of_the_other_type_or_missing_ones_are_named() -> None:
    with pytest.raises(Unprocessable) as refused:
        checked_rules("aws_iam", _oidc("https://93.184.216.34"))
    assert refused.value.details["fields"][0]["field"] == "rules.issuer"
    with pytest.raises(Unprocessable) as refused:
        checked_rules("aws_iam", IdentityRules(account="123456789012"))
    assert refused.value.details["fields"][0]["field"] == "rules.role_arn"
    with pytest.raises(Unprocessable) as refused:
        checked_rules("oidc", _oidc("https://93.184.216.34", claims={"aud": "x"}))
    assert refused.value.details["fields"][0]["field"] == "rules.claims.aud"


# --------------------------------------------------------------------------- STS


def test_sts_arns_map_to_roles() -> None:
    assumed = sts.parse_arn("arn:aws:sts::123456789012:assumed-role/ci-deploy/job-1")
    assert (assumed.account, assumed.role_arn) == ("123456789012", "arn:aws:iam::123456789012:role/ci-deploy")
    user = sts.parse_arn("arn:aws:iam::123456789012:user/alice")
    assert user.role_arn is None
    gov = sts.parse_arn("arn:aws-us-gov:sts::123456789012:assumed-role/r/s")
    assert gov.role_arn == "arn:aws-us-gov:iam::123456789012:role/r"


SIGNATURE = "AWS4-HMAC-SHA256 Credential=ASIAEXAMPLEKEY0000000/20261203/us-east-1/sts/aws4_request, " + (
    "SignedHeaders=content-type;host;x-amz-date;x-strongroom-identity, Signature=" + "ab" * 32
)
HEADERS = {
    "Authorization": SIGNATURE,
    "X-Amz-Date": "20261203T054340Z",
    "X-Strongroom-Identity": "idn_1",
    "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
    "Host": "attacker.example.com",
    "X-Forwarded-For": "1.2.3.4",
}
BODY = "Action=GetCallerIdentity&Version=2011-06-15"


def test_a_signed_request_is_checked_and_only_its_sigv4_headers_forwarded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sts, "endpoint", lambda: "https://sts.us-east-1.amazonaws.com")
    signed = sts.check("POST", "https://sts.us-east-1.amazonaws.com/", HEADERS, BODY, "idn_1")
    assert set(signed.headers) == {"Authorization", "X-Amz-Date", "X-Strongroom-Identity", "Content-Type"}
    assert signed.body == BODY
    refusals = [
        ("POST", "https://sts.eu-west-1.amazonaws.com/", HEADERS, BODY, "idn_1"),  # another endpoint
        ("POST", "https://sts.us-east-1.amazonaws.com/", HEADERS, "Action=AssumeRole&Version=2011-06-15", "idn_1"),
        ("POST", "https://sts.us-east-1.amazonaws.com/", HEADERS, BODY, "idn_2"),  # bound to another identity
        ("POST", "https://sts.us-east-1.amazonaws.com/", {**HEADERS, "Authorization": SIGNATURE.replace(
            ";x-strongroom-identity", "")}, BODY, "idn_1"),  # the binding is not signed
        ("POST", "https://sts.us-east-1.amazonaws.com/", {**HEADERS, "X-Amz-Date": "yesterday"}, BODY, "idn_1"),
    ]  # fmt: skip
    for args in refusals:
        with pytest.raises(Unauthorized):
            sts.check(*args)
