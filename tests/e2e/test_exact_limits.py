"""The Exact request path end to end: __next paging, the governor under Exact's minute limit (no
429 provoked while headers are present), recovery from 429 and 503, a functional 500 never
retried; the real mlc binary against the emulator."""
import time

import pytest

from exact_env import DIV, ExactEnv


def api_calls(ex, suffix):
    counts = ex.admin("GET", "/__admin/calls")["counts"]
    return sum(v for k, v in counts.items() if k.startswith("GET ") and k.endswith(suffix))


def watch_statuses(ex):
    """Records the status of every API answer the emulator gives (it runs in this process)."""
    seen = []
    orig = ex.emu.core.handle

    def handle(*a, **kw):
        resp = orig(*a, **kw)
        seen.append(resp.status)
        return resp
    ex.emu.core.handle = handle
    return seen


@pytest.fixture
def make(mlc):
    envs = []

    def _make(**opts):
        env = ExactEnv(mlc, **opts)
        env.connect()
        envs.append(env)
        return env
    yield _make
    for e in envs:
        e.close()


def test_next_links_followed_across_pages(make):
    ex = make(page_size=3)
    r = ex.run("exact", "glaccounts", "--refresh")
    assert r.returncode == 0, r.stderr
    for code in ("1300", "1600", "2300", "4000", "4100", "4900", "7000", "8000"):
        assert code in r.stdout
    assert api_calls(ex, "financial/GLAccounts") >= 4   # 10 rows, 3 a page


def test_governor_keeps_under_the_minute_limit_without_429(make):
    # a 3-call minute that lasts 3 s (time_scale 0.05); 10 pages need 4 windows
    ex = make(page_size=1, minutely_limit=3, time_scale=0.05)
    seen = watch_statuses(ex)
    start = time.time()
    r = ex.run("exact", "glaccounts", "--refresh", timeout=120)
    assert r.returncode == 0, r.stderr
    assert 429 not in seen
    assert seen.count(200) >= 10
    assert time.time() - start >= 6      # it waited for the windows instead of being refused


def test_429_waits_for_the_reset_then_recovers(make):
    ex = make()
    seen = watch_statuses(ex)
    reset = str(int((time.time() + 1.5) * 1000))
    ex.admin("POST", "/__admin/fault", {
        "kind": "rate_limit", "method": "GET", "path": "/api/v1/*/hrm/Costcenters",
        "headers": {"X-RateLimit-Minutely-Limit": "60", "X-RateLimit-Minutely-Remaining": "0",
                    "X-RateLimit-Minutely-Reset": reset}})
    r = ex.run("exact", "costcenters", "--refresh")
    assert r.returncode == 0, r.stderr
    assert "Sales" in r.stdout
    assert api_calls(ex, "hrm/Costcenters") == 2
    assert 429 not in seen                # the refused one was the injected fault only


def test_503_is_retried_with_backoff(make):
    ex = make()
    ex.admin("POST", "/__admin/fault", {"kind": "status", "status": 503, "method": "GET",
                                        "path": "/api/v1/*/hrm/Costcenters", "count": 2})
    r = ex.run("exact", "costcenters", "--refresh")
    assert r.returncode == 0, r.stderr
    assert api_calls(ex, "hrm/Costcenters") == 3


def test_functional_500_on_a_read_is_not_retried(make):
    ex = make()
    ex.admin("POST", "/__admin/fault", {
        "kind": "status", "status": 500, "method": "GET", "path": "/api/v1/*/hrm/Costcenters",
        "count": 0, "body": {"error": {"code": "", "message": {"lang": "",
                                                                "value": "Geen toegang: Kostenplaats"}}}})
    r = ex.run("exact", "costcenters", "--refresh")
    assert r.returncode == 69
    assert "Geen toegang: Kostenplaats" in r.stderr
    assert api_calls(ex, "hrm/Costcenters") == 1


def test_daily_budget_gone_defers_without_calling(make):
    ex = make()
    ex.admin("POST", "/__admin/exact/limits", {"daily": 2})   # connect used 1
    r = ex.run("exact", "costcenters", "--refresh")
    assert r.returncode == 0, r.stderr
    before = api_calls(ex, "hrm/Costcenters")
    # the budget is used up now; a new process remembers it (persisted) and sends nothing
    for _ in range(2):
        r = ex.run("exact", "costcenters", "--refresh")
        assert r.returncode == 75, r.stderr
        assert "daily" in r.stderr
    assert api_calls(ex, "hrm/Costcenters") == before
