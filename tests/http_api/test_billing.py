"""Billing through Stripe over HTTP (issue #18). Stripe's webhook payloads are signed with the
`stripe` library's own test helper (`WebhookSignature.generate_signature_header`), and Checkout and
Portal requests go, through the library, to an HTTP server standing in for Stripe's API base,
which checks them against Stripe's request format (form-encoded, bearer secret key, the
Stripe-Version header, the fields each endpoint takes)."""

from __future__ import annotations

import json
import os
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

import pytest
import stripe

from support import unique_email

if TYPE_CHECKING:
    from conftest import Api

LOCAL_SECRET = "whsec_strongroom_local"  # the local stack's STRIPE_WEBHOOK_SECRET
ADMIN = "admin@example.com"
SECRET_KEY = f"sk_test_{secrets.token_hex(12)}"
PRICES = {"team": "price_team_test", "enterprise": "price_ent_test"}

# What each endpoint of Stripe's API takes (form fields, nested as Stripe encodes them).
CHECKOUT_REQUIRED = {"mode", "success_url", "cancel_url", "line_items[0][price]", "line_items[0][quantity]"}
PORTAL_REQUIRED = {"customer", "return_url"}


class FakeStripe(BaseHTTPRequestHandler):
    seen: list[dict[str, Any]]

    def log_message(self, *_: Any) -> None:
        pass

    def _answer(self, status: int, body: dict[str, Any]) -> None:
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Request-Id", f"req_{secrets.token_hex(6)}")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode(), keep_blank_values=True).items()}
        problems = []
        if self.headers.get("Authorization") != f"Bearer {SECRET_KEY}":
            problems.append("authorization")
        if not self.headers.get("Content-Type", "").startswith("application/x-www-form-urlencoded"):
            problems.append("content-type")
        if not self.headers.get("Stripe-Version"):
            problems.append("stripe-version")
        required = {"/v1/checkout/sessions": CHECKOUT_REQUIRED, "/v1/billing_portal/sessions": PORTAL_REQUIRED}
        if self.path not in required:
            problems.append(f"path {self.path}")
        else:
            problems += [f"missing {f}" for f in sorted(required[self.path] - set(form))]
        self.seen.append({"path": self.path, "form": form, "problems": problems})
        if problems:
            self._answer(400, {"error": {"type": "invalid_request_error", "message": "; ".join(problems)}})
            return
        if self.path == "/v1/checkout/sessions":
            sid = f"cs_test_{secrets.token_hex(8)}"
            self._answer(200, {"id": sid, "object": "checkout.session", "url": f"https://checkout.stripe.test/{sid}"})
        else:
            sid = f"bps_{secrets.token_hex(8)}"
            self._answer(
                200, {"id": sid, "object": "billing_portal.session", "url": f"https://billing.stripe.test/{sid}"}
            )


_STAND_IN: list[ThreadingHTTPServer] = []
SEEN: list[dict[str, Any]] = []


def serve_fake_stripe() -> str:
    """Stripe's API base for this test process (started once), and the stack pointed at it."""
    if not _STAND_IN:
        handler = type("Handler", (FakeStripe,), {"seen": SEEN})
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True, name="fake-stripe").start()
        _STAND_IN.append(server)
    base = f"http://127.0.0.1:{_STAND_IN[0].server_address[1]}"
    os.environ.update(
        {
            "STRIPE_SECRET_KEY": SECRET_KEY,
            "STRIPE_API_BASE": base,
            "STRIPE_PRICES": ",".join(f"{k}={v}" for k, v in PRICES.items()),
        }
    )
    return base


@pytest.fixture
def fake_stripe(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    for name in ("STRIPE_SECRET_KEY", "STRIPE_API_BASE", "STRIPE_PRICES"):
        monkeypatch.setenv(name, os.environ.get(name, ""))  # restored after the test
    serve_fake_stripe()
    return SEEN


def _org(api: Api) -> tuple[str, dict[str, Any]]:
    owner = unique_email("billing")
    status, _, org = api("POST", "/v1/orgs", user=owner, json={"name": f"Billing {secrets.token_hex(3)}"})
    assert status == 201, org
    api("PATCH", f"/v1/admin/orgs/{org['id']}", user=ADMIN, json={"plan": "free"})
    return owner, org


def event(kind: str, obj: dict[str, Any]) -> dict[str, Any]:
    return {"id": f"evt_{secrets.token_hex(8)}", "object": "event", "type": kind, "data": {"object": obj}}


def signed(body: dict[str, Any], *, secret: str = LOCAL_SECRET, at: int | None = None) -> tuple[str, str]:
    """The payload (as tests' `api(json=…)` sends it) and its Stripe-Signature, made by the
    library's own test helper."""
    payload = json.dumps(body)
    return payload, stripe.WebhookSignature.generate_signature_header(payload=payload, secret=secret, timestamp=at)


def deliver(api: Api, body: dict[str, Any], *, secret: str = LOCAL_SECRET, at: int | None = None) -> Any:
    payload, header = signed(body, secret=secret, at=at)
    return api("POST", "/v1/billing/webhook", body=payload.encode(), headers={"Stripe-Signature": header})


def _plan(api: Api, owner: str, org_id: str) -> str:
    return str(api("GET", f"/v1/orgs/{org_id}/billing", user=owner)[2]["plan"])


def test_a_signed_checkout_moves_the_plan_once_and_bad_signatures_are_400(api: Api) -> None:
    owner, org = _org(api)
    completed = event(
        "checkout.session.completed",
        {
            "object": "checkout.session",
            "customer": f"cus_{secrets.token_hex(6)}",
            "subscription": f"sub_{secrets.token_hex(6)}",
            "metadata": {"org_id": org["id"], "plan": "team"},
        },
    )
    # A wrong secret, and a stale timestamp (past the library's 300 s tolerance): 400, nothing moves
    status, _, body = deliver(api, completed, secret="whsec_wrong")
    assert (status, body["error"]["code"]) == (400, "invalid_signature")
    status, _, body = deliver(api, completed, at=int(time.time()) - 3600)
    assert (status, body["error"]["code"]) == (400, "invalid_signature")
    assert _plan(api, owner, org["id"]) == "free"
    # Signed right: the plan moves
    status, _, body = deliver(api, completed)
    assert (status, body) == (200, {"received": True, "applied": True})
    assert _plan(api, owner, org["id"]) == "team"
    # The same event again changes nothing, even after the plan moved elsewhere meanwhile
    api("PATCH", f"/v1/admin/orgs/{org['id']}", user=ADMIN, json={"plan": "enterprise"})
    status, _, body = deliver(api, completed)
    assert (status, body) == (200, {"received": True, "applied": False})
    assert _plan(api, owner, org["id"]) == "enterprise"
    # A subscription's updates and deletion follow its customer
    customer = completed["data"]["object"]["customer"]
    updated = event(
        "customer.subscription.updated",
        {"object": "subscription", "customer": customer, "status": "active", "metadata": {"plan": "team"}},
    )
    assert deliver(api, updated)[2]["applied"] is True
    assert _plan(api, owner, org["id"]) == "team"
    deleted = event("customer.subscription.deleted", {"object": "subscription", "customer": customer})
    assert deliver(api, deleted)[2]["applied"] is True
    assert _plan(api, owner, org["id"]) == "free"
    # and a body altered after signing is refused
    payload = json.dumps(updated)
    header = stripe.WebhookSignature.generate_signature_header(payload=payload, secret=LOCAL_SECRET)
    tampered = payload.replace('"team"', '"enterprise"').encode()
    assert api("POST", "/v1/billing/webhook", body=tampered, headers={"Stripe-Signature": header})[0] == 400


def test_checkout_and_portal_go_to_stripe_in_its_format(api: Api, fake_stripe: list[dict[str, Any]]) -> None:
    owner, org = _org(api)
    base = f"/v1/orgs/{org['id']}/billing"
    status, _, session = api("POST", f"{base}/checkout", user=owner, json={"plan": "team"})
    assert status == 200, session
    assert session["url"].startswith("https://checkout.stripe.test/cs_test_")
    sent = fake_stripe[-1]
    assert sent["problems"] == []
    assert sent["form"]["line_items[0][price]"] == PRICES["team"]
    assert (sent["form"]["metadata[org_id]"], sent["form"]["metadata[plan]"]) == (org["id"], "team")
    assert sent["form"]["mode"] == "subscription"
    # No customer yet: no portal; once checked out, the portal of its customer
    status, _, body = api("POST", f"{base}/portal", user=owner)
    assert (status, body["error"]["code"]) == (422, "no_customer")
    customer = f"cus_{secrets.token_hex(6)}"
    done = event(
        "checkout.session.completed", {"customer": customer, "metadata": {"org_id": org["id"], "plan": "team"}}
    )
    assert deliver(api, done)[0] == 200
    status, _, portal = api("POST", f"{base}/portal", user=owner)
    assert status == 200, portal
    assert fake_stripe[-1]["problems"] == []
    assert fake_stripe[-1]["form"]["customer"] == customer
    status, _, shown = api("GET", base, user=owner)
    assert (shown["plan"], shown["configured"], shown["customer"]) == ("team", True, True)
    # A member who is not the owner may not buy
    assert api("POST", f"{base}/checkout", user=unique_email("stranger"), json={"plan": "team"})[0] == 404


def test_without_a_stripe_key_checkout_is_503_billing_not_configured(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given prices but no secret key (the stack's default: no StripeSecretArn)
    monkeypatch.setenv("STRIPE_PRICES", "team=price_team_test")
    monkeypatch.delenv("STRIPE_SECRET_KEY", raising=False)
    owner, org = _org(api)
    status, _, body = api("POST", f"/v1/orgs/{org['id']}/billing/checkout", user=owner, json={"plan": "team"})
    assert (status, body["error"]["code"]) == (503, "billing_not_configured")
    assert api("GET", f"/v1/orgs/{org['id']}/billing", user=owner)[2]["configured"] is False
