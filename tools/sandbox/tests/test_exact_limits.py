"""Exact emulator: rate limits (fixed windows) and the error budget (reference §4)."""

import calendar

from test_exact_harness import NL, START, UK, Api, error_text

SEL = {"$select": "Code"}


def ms(*utc):
    return str(calendar.timegm(utc) * 1000)


def test_rate_headers_on_every_division_call_with_reset_in_ms():
    api = Api()
    api.login()
    status, h, _ = api.get("system/Divisions", **SEL)
    assert status == 200
    assert h["X-RateLimit-Minutely-Limit"] == "60"
    assert h["X-RateLimit-Minutely-Remaining"] == "59"
    assert h["X-RateLimit-Minutely-Reset"] == ms(2026, 3, 15, 10, 1, 0)   # next whole minute
    assert h["X-RateLimit-Limit"] == "5000"
    assert h["X-RateLimit-Remaining"] == "4999"
    assert h["X-RateLimit-Reset"] == ms(2026, 3, 16, 0, 0, 0)             # next UTC midnight


def test_me_has_no_rate_headers_and_does_not_count():
    api = Api()
    api.login()
    for _ in range(3):
        status, h, _ = api.call("GET", "/api/v1/current/Me")
        assert status == 200 and "X-RateLimit-Limit" not in h
    assert api.get("system/Divisions", **SEL)[1]["X-RateLimit-Remaining"] == "4999"


def test_61st_call_in_a_minute_gets_429_until_the_minute_boundary():
    api = Api()
    api.login()
    for i in range(60):
        status, h, _ = api.get("system/Divisions", **SEL)
        assert status == 200, i
    assert h["X-RateLimit-Minutely-Remaining"] == "0"
    status, h, body = api.get("system/Divisions", **SEL)
    assert status == 429
    assert "per minute" in error_text(body)
    # picqer README: with the minutely budget gone Exact sends only the minutely headers
    assert "X-RateLimit-Limit" not in h and h["X-RateLimit-Minutely-Remaining"] == "0"
    assert h["X-RateLimit-Minutely-Reset"] == ms(2026, 3, 15, 10, 1, 0)
    # other divisions have their own budget
    assert api.get("system/Divisions", division=UK, **SEL)[0] == 200
    # a fixed window: 29 s later (10:00:59) still blocked, at 10:01:00 open again
    api.clock.advance(29)
    assert api.get("system/Divisions", **SEL)[0] == 429
    api.clock.advance(1)
    status, h, _ = api.get("system/Divisions", **SEL)
    assert status == 200 and h["X-RateLimit-Minutely-Remaining"] == "59"
    assert h["X-RateLimit-Minutely-Reset"] == ms(2026, 3, 15, 10, 2, 0)
    # the rejected calls did not eat the daily budget
    assert h["X-RateLimit-Remaining"] == str(5000 - 61)


def test_daily_limit_until_utc_midnight():
    api = Api(daily_limit=5)
    api.login()
    for _ in range(5):
        assert api.get("system/Divisions", **SEL)[0] == 200
    status, h, body = api.get("system/Divisions", **SEL)
    assert status == 429 and "per day" in error_text(body)
    assert h["X-RateLimit-Remaining"] == "0"
    assert h["X-RateLimit-Reset"] == ms(2026, 3, 16, 0, 0, 0)
    api.clock.advance(calendar.timegm((2026, 3, 16, 0, 0, 0)) - START - 1)
    api.core.expire_access_tokens()
    api.access = None
    api.login()
    assert api.get("system/Divisions", **SEL)[0] == 429          # 23:59:59 still the same day
    api.clock.advance(1)
    assert api.get("system/Divisions", **SEL)[0] == 200


def test_scaled_minute_window():
    api = Api(time_scale=0.1)            # a minute is 6 s
    api.login()
    _s, h, _b = api.get("system/Divisions", **SEL)
    reset = int(h["X-RateLimit-Minutely-Reset"])
    assert reset % 6000 == 0 and 0 < reset - START * 1000 <= 6000


def test_limits_can_be_switched_off_or_changed():
    api = Api(rate_limits=False)
    api.login()
    for _ in range(70):
        assert api.get("system/Divisions", **SEL)[0] == 200
    api.core.set_limits(minutely=3, enabled=True)
    api.clock.advance(60)
    api.core.expire_access_tokens()
    api.login()
    codes = [api.get("system/Divisions", **SEL)[0] for _ in range(4)]
    assert codes == [200, 200, 200, 429]


def test_error_budget_blocks_endpoint_for_an_hour():
    api = Api()
    api.login()
    bad = {"$select": "EntryID", "$filter": "NoSuchField eq 1"}
    for _ in range(11):
        status, _h, body = api.get("financialtransaction/BankEntries", **bad)
        assert status == 400
    status, h, body = api.get("financialtransaction/BankEntries", **{"$select": "EntryID"})
    assert status == 403 and "Too many errors" in error_text(body) and "blocked until" in error_text(body)
    # only that endpoint (and division) is blocked
    assert api.get("financial/Journals", **{"$select": "Code"})[0] == 200
    assert api.get("financialtransaction/BankEntries", division=UK, **{"$select": "EntryID"})[0] == 200
    api.clock.advance(3600)
    api.core.expire_access_tokens()
    api.login()
    assert api.get("financialtransaction/BankEntries", **{"$select": "EntryID"})[0] == 200


def test_ten_errors_an_hour_are_tolerated():
    api = Api()
    api.login()
    for _ in range(10):
        assert api.get("financialtransaction/BankEntries", **{"$filter": "x eq 1"})[0] == 400
    assert api.get("financialtransaction/BankEntries", **{"$select": "EntryID"})[0] == 200


def test_errors_age_out_of_the_hour_window():
    api = Api()
    api.login()
    for _ in range(10):
        api.get("financial/Journals", **{"$filter": "x eq 1"})
    api.clock.advance(3600)
    api.login()
    api.get("financial/Journals", **{"$filter": "x eq 1"})     # first 10 are > 1 h old now
    assert api.get("financial/Journals", **{"$select": "Code"})[0] == 200


def test_unauthorised_calls_with_expired_token_count_as_errors():
    api = Api()
    api.login()
    api.clock.advance(600)
    for _ in range(11):
        assert api.get("financial/Journals", **{"$select": "Code"})[0] == 401
    api.clock.advance(1)
    api.login()
    status, _h, body = api.get("financial/Journals", **{"$select": "Code"})
    assert status == 403 and "Too many errors" in error_text(body)
    assert NL


def test_token_endpoint_daily_cap():
    api = Api(token_daily_limit=3)
    api.login()
    api.clock.advance(570)
    assert api.do_refresh()[0] == 200
    api.clock.advance(570)
    assert api.do_refresh()[0] == 200
    api.clock.advance(570)
    status, body = api.do_refresh()
    assert status == 429 and "token requests per app per day" in body["error_description"]


def test_oversized_url_and_body_are_refused():
    api = Api()
    api.login()
    status, _h, _b = api.get("financial/Journals", **{"$filter": "Code eq '%s'" % ("x" * 6000)})
    assert status == 414
    resp = api.core.handle("POST", "/api/v1/%d/financialtransaction/BankEntries" % NL, {},
                           {"Authorization": "Bearer " + api.access, "Accept": "application/json"},
                           b" " * (10 * 1000 * 1000 + 1))
    assert resp.status == 413
