"""Exact emulator: OAuth rules the agent's token handling relies on (reference §1)."""

from urllib.parse import parse_qs, unquote, urlsplit

from test_exact_harness import NL, REDIRECT, Api, error_text


def test_authorize_redirects_with_url_encoded_code_and_state():
    api = Api()
    location = api.authorize(state="s t&8")
    parts = urlsplit(location)
    assert location.startswith(REDIRECT + "?")
    raw = dict(p.split("=", 1) for p in parts.query.split("&"))
    code = unquote(raw["code"])
    assert "!" in code and "%21" in raw["code"], "the code must need URL-decoding, as Exact's does"
    assert unquote(raw["state"]) == "s t&8"


def test_authorize_rejects_unknown_client_and_implicit_flow():
    api = Api()
    assert api.core.oauth_authorize({"client_id": "nope", "redirect_uri": REDIRECT,
                                     "response_type": "code"}).status == 400
    from exact_emulator import CLIENT_ID
    assert api.core.oauth_authorize({"client_id": CLIENT_ID, "redirect_uri": REDIRECT,
                                     "response_type": "token"}).status == 400


def test_code_exchange_gives_string_expires_in_and_bearer_token():
    api = Api()
    body = api.login()
    assert body["expires_in"] == "600" and isinstance(body["expires_in"], str)
    assert body["token_type"].lower() == "bearer"
    assert body["access_token"] != body["refresh_token"]
    status, _h, me = api.call("GET", "/api/v1/current/Me", {"$select": "CurrentDivision"})
    assert status == 200 and me["d"]["results"][0]["CurrentDivision"] == NL


def test_code_is_single_use():
    api = Api()
    code = api.code()
    s1, _ = api.token(grant_type="authorization_code", code=code, redirect_uri=REDIRECT)
    s2, body = api.token(grant_type="authorization_code", code=code, redirect_uri=REDIRECT)
    assert s1 == 200
    assert s2 == 400 and body["error"] == "invalid_grant"


def test_code_expires_after_three_minutes():
    api = Api()
    code = api.code()
    api.clock.advance(180.5)
    status, body = api.token(grant_type="authorization_code", code=code, redirect_uri=REDIRECT)
    assert status == 400 and body["error"] == "invalid_grant" and "expired" in body["error_description"]
    code = api.code()
    api.clock.advance(179)
    assert api.token(grant_type="authorization_code", code=code, redirect_uri=REDIRECT)[0] == 200


def test_still_encoded_code_is_rejected_with_a_hint():
    api = Api()
    location = api.authorize()
    encoded = location.split("code=", 1)[1].split("&", 1)[0]
    status, body = api.token(grant_type="authorization_code", code=encoded, redirect_uri=REDIRECT)
    assert status == 400 and "decode" in body["error_description"]


def test_client_secret_must_be_in_the_form_body():
    api = Api()
    status, body = api.token(grant_type="authorization_code", code=api.code(), redirect_uri=REDIRECT,
                             client_secret="wrong")
    assert status == 400 and body["error"] == "invalid_client"


def test_access_token_valid_600_seconds():
    api = Api()
    api.login()
    api.clock.advance(599)
    assert api.get("system/Divisions", **{"$select": "Code"})[0] == 200
    api.clock.advance(1)
    status, _h, body = api.get("system/Divisions", **{"$select": "Code"})
    assert status == 401 and "expired" in error_text(body)


def test_refresh_before_570_seconds_is_rejected_and_does_not_consume_the_token():
    api = Api()
    api.login()
    old_refresh = api.refresh
    api.clock.advance(569)
    status, body = api.do_refresh()
    assert status == 401
    assert body["error_description"] == "Rate limit exceeded: access_token not expired"
    api.clock.advance(1)
    status, body = api.do_refresh(old_refresh)
    assert status == 200 and body["expires_in"] == "600"


def test_refresh_rotates_and_old_token_reuse_revokes_the_chain():
    api = Api()
    api.login()
    first = api.refresh
    api.clock.advance(570)
    assert api.do_refresh()[0] == 200
    second, second_access = api.refresh, api.access
    assert second != first
    status, body = api.do_refresh(first)
    assert status == 401
    assert body == {"error": "unauthorized_client", "error_description": "Old refresh token used."}
    # the whole chain is dead: the newest refresh token and its access token no longer work
    api.clock.advance(600)
    status, body = api.do_refresh(second)
    assert status == 400 and body["error"] == "invalid_grant"
    assert api.call("GET", "/api/v1/current/Me", token=second_access)[0] == 401


def test_refresh_token_expires_after_30_days_unused():
    api = Api()
    api.login()
    api.clock.advance(30 * 86400 + 1)
    status, body = api.do_refresh()
    assert status == 400 and body["error"] == "invalid_request"
    assert body["error_description"].startswith("The refresh token expired at ")
    assert " and it is now " in body["error_description"]


def test_refresh_token_used_within_30_days_keeps_the_connection_alive():
    api = Api()
    api.login()
    for _ in range(3):
        api.clock.advance(29 * 86400)
        assert api.do_refresh()[0] == 200


def test_time_scale_shrinks_every_lifetime():
    api = Api(time_scale=0.01)
    api.login()
    api.clock.advance(5.6)          # 560 s in Exact time
    assert api.do_refresh()[0] == 401
    api.clock.advance(0.2)          # 580 s
    assert api.do_refresh()[0] == 200
    api.clock.advance(6.0)          # access token (600 s) gone
    assert api.call("GET", "/api/v1/current/Me")[0] == 401
    code = api.code()
    api.clock.advance(1.81)         # code (180 s) gone
    assert api.token(grant_type="authorization_code", code=code, redirect_uri=REDIRECT)[0] == 400


def test_revoked_consent_stops_tokens():
    api = Api()
    api.login()
    assert api.core.revoke_consent() == 1
    assert api.call("GET", "/api/v1/current/Me")[0] == 401
    api.clock.advance(600)
    status, body = api.do_refresh()
    assert status == 400 and "authorise the app again" in body["error_description"]


def test_token_endpoint_wants_form_encoding():
    api = Api()
    resp = api.core.oauth_token({"Content-Type": "application/json"}, b'{"grant_type":"refresh_token"}')
    assert resp.status == 400


def test_code_exchange_needs_the_same_redirect_uri():
    api = Api()
    status, body = api.token(grant_type="authorization_code", code=api.code(),
                             redirect_uri="https://evil.example/cb")
    assert status == 400 and body["error"] == "invalid_grant"


def test_query_of_authorize_redirect_parses_back():
    api = Api()
    q = parse_qs(urlsplit(api.authorize(state="abc")).query)
    assert q["state"] == ["abc"] and q["code"][0].startswith("stamp")
