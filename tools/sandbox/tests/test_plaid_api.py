"""Plaid emulator: credentials, error objects, tokens, items, accounts, auth numbers, Link stand-ins."""

import json
import urllib.error
import urllib.parse
import urllib.request

from conftest import http
from world import iban_valid

ERROR_KEYS = {"error_type", "error_code", "error_message", "display_message", "request_id"}


def assert_plaid_error(status, body, want_status, want_type, want_code):
    assert status == want_status, body
    assert ERROR_KEYS <= set(body), body
    assert (body["error_type"], body["error_code"]) == (want_type, want_code)
    assert body["request_id"]


def test_credentials_in_body_or_headers(client):
    s1, out1 = client.post("/sandbox/public_token/create",
                           {"institution_id": "ins_109508", "initial_products": ["transactions"]}, creds="body")
    s2, out2 = client.post("/sandbox/public_token/create",
                           {"institution_id": "ins_109508", "initial_products": ["transactions"]}, creds="headers")
    assert s1 == 200 and out1["public_token"].startswith("public-sandbox-")
    assert s2 == 200 and out2["public_token"].startswith("public-sandbox-")


def test_missing_and_wrong_credentials(client):
    status, body = client.post("/accounts/get", {"access_token": "access-sandbox-x"}, creds=None)
    assert_plaid_error(status, body, 400, "INVALID_REQUEST", "MISSING_FIELDS")
    assert "client_id" in body["error_message"]
    status, body = client.post("/accounts/get", {"access_token": "access-sandbox-x", "secret": "nope"})
    assert_plaid_error(status, body, 400, "INVALID_INPUT", "INVALID_API_KEYS")


def test_unknown_and_malformed_access_token(client):
    status, body = client.post("/accounts/get", {"access_token": "not-a-token"})
    assert_plaid_error(status, body, 400, "INVALID_INPUT", "INVALID_ACCESS_TOKEN")
    status, body = client.post("/accounts/get", {"access_token": "access-sandbox-00000000-0000"})
    assert_plaid_error(status, body, 400, "INVALID_INPUT", "INVALID_ACCESS_TOKEN")


def test_bad_json_body_and_unknown_path(plaid):
    status, body, _ = http("POST", plaid.url + "/accounts/get", b"{not json")
    assert_plaid_error(status, body, 400, "INVALID_REQUEST", "INVALID_BODY")
    status, body, _ = http("POST", plaid.url + "/no/such/endpoint", {})
    assert_plaid_error(status, body, 404, "INVALID_REQUEST", "NOT_FOUND")


def test_wrong_plaid_version_rejected(plaid):
    status, body, _ = http("POST", plaid.url + "/item/get",
                           {"client_id": plaid.client_id, "secret": plaid.secret, "access_token": "access-x"},
                           {"Plaid-Version": "2018-05-22"})
    assert_plaid_error(status, body, 400, "INVALID_REQUEST", "INVALID_HEADERS")


def test_public_token_exchanges_once(client):
    pt = client.ok("/sandbox/public_token/create", {"institution_id": "ins_120001",
                                                     "initial_products": ["transactions"]})["public_token"]
    ex = client.ok("/item/public_token/exchange", {"public_token": pt})
    assert ex["access_token"].startswith("access-sandbox-") and ex["item_id"]
    status, body = client.post("/item/public_token/exchange", {"public_token": pt})
    assert_plaid_error(status, body, 400, "INVALID_INPUT", "INVALID_PUBLIC_TOKEN")


def test_public_token_expires_after_30_minutes(plaid, client):
    pt = client.ok("/sandbox/public_token/create", {"institution_id": "ins_120001",
                                                     "initial_products": ["transactions"]})["public_token"]
    plaid.clock.advance(31 * 60)
    status, body = client.post("/item/public_token/exchange", {"public_token": pt})
    assert_plaid_error(status, body, 400, "INVALID_INPUT", "INVALID_PUBLIC_TOKEN")


def test_access_token_invalidate_rotates_immediately(client):
    at, item_id = client.link()
    new = client.ok("/item/access_token/invalidate", {"access_token": at})["new_access_token"]
    assert new != at
    status, body = client.post("/item/get", {"access_token": at})
    assert_plaid_error(status, body, 400, "INVALID_INPUT", "INVALID_ACCESS_TOKEN")
    assert client.ok("/item/get", {"access_token": new})["item"]["item_id"] == item_id


def test_same_institution_linked_twice_gives_two_items(client):
    _, a = client.link("ins_120002")
    _, b = client.link("ins_120002")
    assert a != b


def test_accounts_and_balances(plaid, client):
    at, _ = client.link("ins_109508")
    out = client.ok("/accounts/get", {"access_token": at})
    kinds = {(a["type"], a["subtype"]) for a in out["accounts"]}
    assert ("credit", "credit card") in kinds and ("depository", "checking") in kinds
    truth = {a["plaid_account_id"]: a for a in plaid.world.truth(include_txns=False)["accounts"]}
    for a in out["accounts"]:
        t = truth[a["account_id"]]
        assert a["balances"]["current"] == t["current_cents"] / 100.0
        assert a["balances"]["iso_currency_code"] == "USD"
    one = out["accounts"][0]["account_id"]
    bal = client.ok("/accounts/balance/get", {"access_token": at, "options": {"account_ids": [one]}})
    assert [a["account_id"] for a in bal["accounts"]] == [one]


def test_auth_numbers_per_country(client):
    us, _ = client.link("ins_109508")
    ach = client.ok("/auth/get", {"access_token": us})["numbers"]["ach"]
    assert ach and all(len(n["routing"]) == 9 for n in ach)
    for n in ach:   # ABA 3-7-1 checksum
        d = [int(c) for c in n["routing"]]
        assert (3 * (d[0] + d[3] + d[6]) + 7 * (d[1] + d[4] + d[7]) + d[2] + d[5] + d[8]) % 10 == 0
    gb, _ = client.link("ins_120002")
    nums = client.ok("/auth/get", {"access_token": gb})["numbers"]
    assert nums["bacs"] and len(nums["bacs"][0]["sort_code"]) == 6
    assert nums["international"] and nums["international"][0]["iban"].startswith("GB")
    nl, _ = client.link("ins_120001")
    intl = client.ok("/auth/get", {"access_token": nl})["numbers"]["international"]
    assert len(intl) == 2 and all(iban_valid(n["iban"]) and n["bic"] for n in intl)


def test_reset_login_gives_item_login_required_until_update_mode(plaid, client):
    at, _ = client.link("ins_120001")
    assert client.ok("/sandbox/item/reset_login", {"access_token": at})["reset_login"] is True
    status, body = client.post("/transactions/sync", {"access_token": at})
    assert_plaid_error(status, body, 400, "ITEM_ERROR", "ITEM_LOGIN_REQUIRED")
    status, body = client.post("/accounts/get", {"access_token": at})
    assert_plaid_error(status, body, 400, "ITEM_ERROR", "ITEM_LOGIN_REQUIRED")
    item = client.ok("/item/get", {"access_token": at})["item"]   # /item/get still answers
    assert item["error"]["error_code"] == "ITEM_LOGIN_REQUIRED"
    # Update mode: link token with the access token, no products; Link repairs the Item.
    lt = client.ok("/link/token/create", {"client_name": "mlc", "language": "en", "country_codes": ["NL"],
                                          "user": {"client_user_id": "u1"}, "access_token": at})["link_token"]
    status, done, _ = http("GET", plaid.url + "/link?format=json&token=" + lt)
    assert status == 200 and done["public_token"]
    assert client.ok("/item/get", {"access_token": at})["item"]["error"] is None
    client.ok("/transactions/sync", {"access_token": at})


def test_eu_consent_expires(plaid, client, webhook_receiver):
    at, _ = client.link("ins_120001", webhook=webhook_receiver.url)
    item = client.ok("/item/get", {"access_token": at})["item"]
    assert item["consent_expiration_time"] is not None
    us, _ = client.link("ins_109508")
    assert client.ok("/item/get", {"access_token": us})["item"]["consent_expiration_time"] is None
    plaid.clock.advance(175 * 86400)     # inside the last week: PENDING_EXPIRATION
    client.ok("/item/get", {"access_token": at})
    plaid.clock.advance(6 * 86400)       # past expiry: ITEM_LOGIN_REQUIRED
    status, body = client.post("/transactions/sync", {"access_token": at})
    assert_plaid_error(status, body, 400, "ITEM_ERROR", "ITEM_LOGIN_REQUIRED")
    codes = [p["webhook_code"] for p in (json.loads(r["body"]) for r in webhook_receiver.wait_for(2))]
    assert codes == ["PENDING_EXPIRATION", "ERROR"]


def test_link_token_create_rules(client):
    status, body = client.post("/link/token/create", {"client_name": "mlc", "language": "en",
                                                      "country_codes": ["NL"], "products": ["transactions"]})
    assert_plaid_error(status, body, 400, "INVALID_REQUEST", "MISSING_FIELDS")
    status, body = client.post("/link/token/create", {"client_name": "mlc", "language": "en", "country_codes": ["NL"],
                                                      "user": {"client_user_id": "u"}, "products": ["transactions"],
                                                      "transactions": {"days_requested": 731}})
    assert_plaid_error(status, body, 400, "INVALID_REQUEST", "INVALID_FIELD")
    out = client.ok("/link/token/create", {"client_name": "mlc", "language": "en", "country_codes": ["GB"],
                                           "user": {"client_user_id": "u"}, "products": ["transactions"]})
    assert out["link_token"].startswith("link-sandbox-") and out["expiration"].endswith("Z")


def _link_token(client, webhook=None, country="NL"):
    body = {"client_name": "mlc", "language": "en", "country_codes": [country],
            "user": {"client_user_id": "u"}, "products": ["transactions"]}
    if webhook:
        body["webhook"] = webhook
    return client.ok("/link/token/create", body)["link_token"]


def test_link_page_redirects_with_public_token(plaid, client):
    lt = _link_token(client, country="GB")

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *a, **k):
            return None
    opener = urllib.request.build_opener(NoRedirect)
    url = plaid.url + "/link?" + urllib.parse.urlencode({"token": lt, "redirect_uri": "http://127.0.0.1:9/cb"})
    try:
        opener.open(url)
        raise AssertionError("expected a redirect")
    except urllib.error.HTTPError as e:
        assert e.code == 302
        loc = e.headers["Location"]
    pt = urllib.parse.parse_qs(urllib.parse.urlsplit(loc).query)["public_token"][0]
    ex = client.ok("/item/public_token/exchange", {"public_token": pt})
    assert client.ok("/item/get", {"access_token": ex["access_token"]})["item"]["institution_id"] == "ins_120002"


def test_link_page_html_posts_message_and_js_mimics_plaid_create(plaid, client):
    lt = _link_token(client)
    status, page, headers = http("GET", plaid.url + "/link?token=" + lt)
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert b"window.opener.postMessage" in page and b"public-sandbox-" in page
    status, js, headers = http("GET", plaid.url + "/link-initialize.js")
    assert status == 200 and b"window.Plaid" in js and b"onSuccess(" in js
    status, body, _ = http("GET", plaid.url + "/link?format=json&token=link-sandbox-unknown")
    assert status == 400 and body["error_code"] == "INVALID_LINK_TOKEN"


def test_link_json_metadata_lists_accounts_and_item_keeps_webhook(plaid, client, webhook_receiver):
    lt = _link_token(client, country="DE", webhook=webhook_receiver.url)
    status, out, _ = http("GET", plaid.url + "/link?format=json&token=" + lt)
    assert status == 200
    assert out["metadata"]["institution"]["institution_id"] == "ins_120003"
    assert out["metadata"]["accounts"] and out["metadata"]["link_session_id"]
    at = client.ok("/item/public_token/exchange", {"public_token": out["public_token"]})["access_token"]
    assert client.ok("/item/get", {"access_token": at})["item"]["webhook"] == webhook_receiver.url
    client.ok("/sandbox/item/fire_webhook", {"access_token": at, "webhook_code": "NEW_ACCOUNTS_AVAILABLE"})
    assert json.loads(webhook_receiver.wait_for(1)[0]["body"])["webhook_code"] == "NEW_ACCOUNTS_AVAILABLE"


def test_item_remove_ends_access(client):
    at, _ = client.link()
    client.ok("/item/remove", {"access_token": at})
    status, body = client.post("/accounts/get", {"access_token": at})
    assert_plaid_error(status, body, 400, "INVALID_INPUT", "INVALID_ACCESS_TOKEN")
