"""Contract test: every kind of Plaid emulator response (and webhook) against Plaid's official spec.

The spec is not in this repository: it sits beside the checkout, ../shared/specs/ relative to the repo
root (CI puts it there too); MLC_PLAID_SPEC overrides the path. OpenAPI 3.0 schemas are turned into
JSON Schema (nullable -> null allowed) and $refs are resolved inside the spec.
"""

import datetime
import json
import os
import re

import pytest

from conftest import REPO_ROOT, PlaidClient, make_plaid

jsonschema = pytest.importorskip("jsonschema")
yaml = pytest.importorskip("yaml")

SPEC_PATH = os.environ.get("MLC_PLAID_SPEC") or os.path.join(
    os.path.dirname(REPO_ROOT), "shared", "specs", "plaid-openapi-2020-09-14.yml")

WEBHOOK_SCHEMAS = {
    ("TRANSACTIONS", "SYNC_UPDATES_AVAILABLE"): "SyncUpdatesAvailableWebhook",
    ("ITEM", "ERROR"): "ItemErrorWebhook",
    ("ITEM", "PENDING_EXPIRATION"): "PendingExpirationWebhook",
    ("ITEM", "PENDING_DISCONNECT"): "PendingDisconnectWebhook",
    ("ITEM", "NEW_ACCOUNTS_AVAILABLE"): "NewAccountsAvailableWebhook",
    ("ITEM", "LOGIN_REPAIRED"): "ItemLoginRepairedWebhook",
    ("ITEM", "USER_PERMISSION_REVOKED"): "UserPermissionRevokedWebhook",
}


def _to_json_schema(node):
    """OpenAPI 3.0 -> JSON Schema: the one difference that matters here is `nullable: true`."""
    if isinstance(node, list):
        return [_to_json_schema(x) for x in node]
    if not isinstance(node, dict):
        return node
    out = {k: _to_json_schema(v) for k, v in node.items()}
    if node.get("nullable") is True:
        if "enum" in out and None not in out["enum"]:
            out["enum"] = list(out["enum"]) + [None]
        if isinstance(out.get("type"), str):
            out["type"] = [out["type"], "null"]
        elif "type" not in out:
            out = {"anyOf": [out, {"type": "null"}]}
    return out


def _rfc3339(value):
    """RFC 3339 date-time (what OpenAPI's format: date-time means): date, 'T', time, zone."""
    if not isinstance(value, str):
        return True
    if not re.match(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$", value):
        raise ValueError("not an RFC 3339 date-time: %r" % value)
    datetime.datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00").replace("t", "T"))
    return True


class Spec:
    def __init__(self, path):
        with open(path, "rb") as f:
            raw = yaml.load(f, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        self.paths = raw["paths"]
        self.doc = {"components": {"schemas": _to_json_schema(raw["components"]["schemas"])}}
        self.resolver = jsonschema.RefResolver.from_schema(self.doc)
        self.checker = jsonschema.FormatChecker()
        if "date-time" not in self.checker.checkers:   # needs rfc3339-validator, not in Debian's set
            self.checker.checks("date-time", raises=ValueError)(_rfc3339)

    def validate(self, ref, instance):
        schema = ref if isinstance(ref, dict) else {"$ref": "#/components/schemas/" + ref}
        v = jsonschema.Draft7Validator(schema, resolver=self.resolver, format_checker=self.checker)
        errors = sorted(v.iter_errors(instance), key=lambda e: list(e.path))
        assert not errors, "\n".join("%s: %s" % (list(e.path), e.message) for e in errors[:10])

    def response_schema(self, path, status):
        responses = self.paths[path]["post"]["responses"]
        resp = responses.get(str(status)) or responses["default"]
        return resp["content"]["application/json"]["schema"]

    def request_schema(self, path):
        return self.paths[path]["post"]["requestBody"]["content"]["application/json"]["schema"]


@pytest.fixture(scope="module")
def spec():
    if not os.path.exists(SPEC_PATH):
        pytest.fail("Plaid's OpenAPI spec is missing: expected %s (beside the checkout, as in CI), "
                    "or set MLC_PLAID_SPEC" % SPEC_PATH)
    return Spec(SPEC_PATH)


def test_schema_conversion_still_rejects_wrong_shapes(spec):
    """Guard against a validator that accepts anything: known-bad objects must fail."""
    with pytest.raises(AssertionError):
        spec.validate("PlaidError", {"error_type": "ITEM_ERROR"})                 # required fields missing
    with pytest.raises(AssertionError):
        spec.validate("AccountBalance", {"available": "12", "current": None, "limit": None,
                                         "iso_currency_code": "EUR", "unofficial_currency_code": None})
    spec.validate("AccountBalance", {"available": None, "current": 1.5, "limit": None,
                                     "iso_currency_code": "EUR", "unofficial_currency_code": None})
    with pytest.raises(AssertionError):
        spec.validate("LinkTokenCreateResponse", {"link_token": "l", "request_id": "r",
                                                  "expiration": "2026-06-15 10:00"})   # not RFC 3339


def _scenario(emu, client, receiver_url):
    """Drive every endpoint, good and bad, so client.exchanges holds each kind of response."""
    at, _ = client.link("ins_109508", webhook=receiver_url)
    nl, _ = client.link("ins_120001", webhook=receiver_url)
    gb, _ = client.link("ins_120002", dynamic=True, webhook=receiver_url)
    client.ok("/link/token/create", {"client_name": "mlc", "language": "en", "country_codes": ["NL"],
                                     "user": {"client_user_id": "u1"}, "products": ["transactions"],
                                     "webhook": receiver_url, "transactions": {"days_requested": 730}})
    for tok in (at, nl, gb):
        client.ok("/item/get", {"access_token": tok})
        client.ok("/accounts/get", {"access_token": tok})
        client.ok("/accounts/balance/get", {"access_token": tok})
        client.ok("/auth/get", {"access_token": tok})
    cursor = client.sync_all(at, count=500)[3]
    client.sync_all(nl, count=500)
    client.ok("/sandbox/transactions/create", {"access_token": gb, "transactions": [
        {"date_transacted": "2026-06-14", "date_posted": "2026-06-15", "amount": 9.99, "description": "Test"}]})
    kinds = set()
    for _ in range(12):                      # until a page has pending, posted-from-pending, modified, removed
        emu.advance_days(4)
        added, modified, removed, cursor, _ = client.sync_all(at, cursor=cursor, count=500)
        kinds |= {"pending" for t in added if t["pending"]}
        kinds |= {"settled" for t in added if t["pending_transaction_id"]}
        kinds |= {"modified"} if modified else set()
        kinds |= {"removed"} if removed else set()
        if len(kinds) == 4:
            break
    assert kinds == {"pending", "settled", "modified", "removed"}, kinds
    for code in ("SYNC_UPDATES_AVAILABLE", "NEW_ACCOUNTS_AVAILABLE", "PENDING_DISCONNECT", "LOGIN_REPAIRED",
                 "USER_PERMISSION_REVOKED"):
        client.ok("/sandbox/item/fire_webhook", {"access_token": gb, "webhook_code": code})
    emu.fire_code(emu.items[client.ok("/item/get", {"access_token": nl})["item"]["item_id"]], "PENDING_EXPIRATION")
    new_at = client.ok("/item/access_token/invalidate", {"access_token": at})["new_access_token"]
    client.ok("/sandbox/item/reset_login", {"access_token": new_at})
    # Error responses.
    client.post("/transactions/sync", {"access_token": new_at})                   # ITEM_LOGIN_REQUIRED
    client.post("/accounts/get", {"access_token": nl}, creds=None)                 # MISSING_FIELDS
    client.post("/accounts/get", {"access_token": nl, "secret": "wrong"})         # INVALID_API_KEYS
    client.post("/transactions/sync", {"access_token": nl, "count": 0})           # INVALID_FIELD
    page = client.ok("/transactions/sync", {"access_token": nl, "count": 1})
    emu.advance_days(1)
    client.post("/transactions/sync", {"access_token": nl, "cursor": page["next_cursor"], "count": 1})
    emu.app.faults.add(kind="status", path="/item/get", status=500)
    client.post("/item/get", {"access_token": nl})
    for _ in range(45):
        client.post("/item/get", {"access_token": gb})                             # ITEM_GET_LIMIT 429


def test_every_response_and_webhook_matches_the_spec(spec, webhook_receiver):
    emu = make_plaid()
    try:
        client = PlaidClient(emu)
        _scenario(emu, client, webhook_receiver.url)
        assert emu.webhooks.wait(len(emu.webhooks.deliveries), timeout=10)
    finally:
        emu.shutdown()
    statuses = set()
    for path, request, status, response in client.exchanges:
        statuses.add((path, status))
        assert isinstance(response, dict), (path, status, response)
        spec.validate(spec.response_schema(path, status), response)
        if status == 200:
            spec.validate(spec.request_schema(path), request)
        else:
            assert "request_id" in response
    errors = {(p, s) for p, s in statuses if s != 200}
    assert {s for _, s in errors} >= {400, 429, 500}
    assert {p for p, _ in statuses} >= {
        "/link/token/create", "/item/public_token/exchange", "/item/get", "/accounts/get",
        "/accounts/balance/get", "/auth/get", "/transactions/sync", "/item/access_token/invalidate",
        "/sandbox/public_token/create", "/sandbox/item/fire_webhook", "/sandbox/item/reset_login",
        "/sandbox/transactions/create"}
    seen = set()
    for rec in webhook_receiver.received:
        body = json.loads(rec["body"])
        key = (body["webhook_type"], body["webhook_code"])
        seen.add(key)
        spec.validate(WEBHOOK_SCHEMAS[key], body)
    assert seen == set(WEBHOOK_SCHEMAS), set(WEBHOOK_SCHEMAS) - seen


def test_webhook_verification_key_matches_the_spec(spec, plaid, client):
    kid = plaid.signer.current
    out = client.ok("/webhook_verification_key/get", {"key_id": kid})
    spec.validate(spec.response_schema("/webhook_verification_key/get", 200), out)
    spec.validate(spec.request_schema("/webhook_verification_key/get"), {"key_id": kid})
    status, err = client.post("/webhook_verification_key/get", {"key_id": "nope"})
    spec.validate(spec.response_schema("/webhook_verification_key/get", status), err)
