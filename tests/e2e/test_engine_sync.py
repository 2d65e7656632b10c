"""The sync engine end to end: the real mlc binary against the Plaid and Exact emulators. A linked
bank's settled transactions land in Exact exactly once (never the pending ones), the dry run shows
exactly what the real run then posts, the balances chain and agree with the bank, a crash after
"in flight" or after the POST landed is settled on the next run without a second POST, and a bad
mapping is refused with one clear line."""
import re
import urllib.error
import urllib.request

import pytest

import harness
import ledger_check

pytestmark = pytest.mark.sandbox(seed=42, months=2)

DIV = 100003            # the US division: the sandbox's First Platypus Bank accounts map here
SUSPENSE = "2300"


def ok(r):
    assert r.returncode == 0, "mlc failed (%d):\n%s\n%s" % (r.returncode, r.stdout, r.stderr)
    return r


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *a, **kw):
        return None


def exact_connect(mlc):
    r = ok(mlc("exact", "connect"))
    auth = [w for w in r.stdout.split() if "/api/oauth2/auth?" in w][0]
    try:
        urllib.request.build_opener(_NoRedirect).open(auth.replace("https://", "http://"),
                                                       timeout=10)
    except urllib.error.HTTPError as e:
        assert e.code == 302
        ok(mlc("exact", "connect", "--code", e.headers["Location"]))
        return
    raise AssertionError("no redirect from the consent page")


@pytest.fixture
def agent(mlc_sandbox):
    mlc, sb = mlc_sandbox, mlc_sandbox.sandbox
    ok(mlc("plaid", "link", "--sandbox", "--institution", "ins_109508"))
    exact_connect(mlc)
    ok(mlc("plaid", "sync"))
    amap = sb.account_map()
    checking = [a for a, m in amap.items() if m["division"] == DIV][0]
    mlc.checking = checking
    mlc.journal = amap[checking]["journal"]
    return mlc


def map_checking(mlc):
    ok(mlc("map", mlc.checking, "--division", DIV, "--journal", mlc.journal,
           "--offset-gl", SUSPENSE))


def ledger_notes(sb):
    led = sb.ledger(DIV)[str(DIV)]
    return [l["Notes"] for e in led["entries"] for l in e["BankEntryLines"]]


def settled_ids(sb, account):
    return {t["transaction_id"] for t in sb.truth()["transactions"]
            if t["account_id"] == account and not t["pending"]}


def pending_ids(sb, account):
    return {t["transaction_id"] for t in sb.truth()["transactions"]
            if t["account_id"] == account and t["pending"]}


def bank_entry_posts(sb):
    counts = sb.calls("exact")["counts"]
    return sum(v for k, v in counts.items()
               if k.startswith("POST ") and k.endswith("financialtransaction/BankEntries"))


def test_each_settled_transaction_lands_once_and_pending_never(agent):
    sb = agent.sandbox
    map_checking(agent)
    r = agent("sync")
    assert r.returncode == 0, r.stdout + r.stderr
    notes = ledger_notes(sb)
    assert len(notes) == len(set(notes)), "a transaction landed twice"
    want = {"plaid:" + t for t in settled_ids(sb, agent.checking)}
    assert set(notes) == want
    assert not {"plaid:" + t for t in pending_ids(sb, agent.checking)} & set(notes)
    assert "equals the bank's" in r.stdout
    before = bank_entry_posts(sb)
    r = ok(agent("sync"))            # nothing new: nothing posted again
    assert bank_entry_posts(sb) == before
    assert sorted(ledger_notes(sb)) == sorted(notes)
    ok(agent("audit", "verify"))


def test_dry_run_shows_exactly_what_the_real_run_posts(agent):
    sb = agent.sandbox
    map_checking(agent)
    dry = ok(agent("sync", "--dry-run"))
    assert ledger_notes(sb) == [] and bank_entry_posts(sb) == 0
    planned = re.findall(r"plaid:(\S+) (-?\d+\.\d+)", dry.stdout)
    ok(agent("sync"))
    led = sb.ledger(DIV)[str(DIV)]
    posted = [(l["Notes"][len("plaid:"):], "%.2f" % l["AmountFC"])
              for e in led["entries"] for l in e["BankEntryLines"]]
    assert sorted(planned) == sorted(posted)


@pytest.mark.parametrize("point", ["engine.inflight", "exact.post.answered"])
def test_crash_around_the_post_is_settled_without_a_second_post(agent, point):
    sb = agent.sandbox
    map_checking(agent)
    r = agent("sync", env={"MLC_CRASH_AT": point})
    assert r.returncode != 0                  # killed at the crash point
    landed = len(ledger_notes(sb))
    r = agent("sync")
    assert r.returncode == 0, r.stdout + r.stderr
    notes = ledger_notes(sb)
    assert len(notes) == len(set(notes)), "a transaction landed twice after the crash"
    assert set(notes) == {"plaid:" + t for t in settled_ids(sb, agent.checking)}
    if point == "exact.post.answered":
        assert landed > 0 and "settling statement" in r.stdout


def test_ledger_matches_the_bank_through_weeks_of_changes(agent):
    """Pending items settle (tips change amounts), the bank corrects and withdraws posted ones:
    after each cycle Exact holds each settled transaction once, reversals included."""
    sb = agent.sandbox
    accounts = [a for a, m in sb.account_map().items() if m["division"] == DIV]
    amap = sb.account_map()
    for a in accounts:
        ok(agent("map", a, "--division", DIV, "--journal", amap[a]["journal"],
                 "--offset-gl", SUSPENSE))
    outputs = [ok(agent("sync")).stdout]
    for _ in range(4):
        sb.advance_days(7)
        r = agent("sync")
        assert r.returncode == 0, r.stdout + r.stderr
        outputs.append(r.stdout)
        report = ledger_check.check(sb.truth(), sb.ledger(), sb.mapping(accounts),
                                    balances=True)
        assert report.ok, str(report)
    # The world above does correct and withdraw posted transactions (seed 42): reversals ran.
    assert any(n.startswith("plaid-reversal:") for n in ledger_notes(sb))
    assert not re.search(r"\b0 statements posted", outputs[0])
    ok(agent("audit", "verify"))


def test_bad_mapping_is_refused_with_one_line(agent):
    r = agent("map", agent.checking, "--division", DIV, "--journal", "29", "--offset-gl", SUSPENSE)
    assert r.returncode == 69
    errors = [l for l in r.stderr.splitlines() if l.startswith("mlc: ")]  # not the log lines
    assert len(errors) == 1 and "journal 29 is blocked" in errors[0]
    r = agent("map", agent.checking, "--division", DIV, "--journal", agent.journal,
              "--offset-gl", "4100")
    assert r.returncode == 69 and "needs a cost center" in r.stderr
    r = ok(agent("sync", "--dry-run"))
    assert "not mapped" in r.stdout
