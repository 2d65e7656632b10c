"""The ledger checker catches every kind of wrong booking, one defect at a time, and passes a right
ledger, on synthetic data and against the real emulators (a statement posted through Exact's API)."""
import datetime as dt
import json
import os
import subprocess
from decimal import Decimal

import pytest

import harness
import ledger_check as lc

CHECKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ledger_check.py")

# ---- synthetic world -------------------------------------------------------------------------------
# A: mapped to 100001/20 without cost center; B: mapped to 100002/20 with cost center 100; C: unmapped.
MAPPING = {"accounts": {"A": {"division": 100001, "journal": "20", "cost_center": None},
                        "B": {"division": 100002, "journal": "20", "cost_center": "100"}}}


def txn(tid, acct, cents, date="2026-10-05", pending=False):
    return {"transaction_id": tid, "account_id": acct, "date": date, "amount_cents": cents,
            "pending": pending, "pending_transaction_id": None, "name": tid}


TRUTH = {"transactions": [
    txn("a1", "A", 1234),            # 12.34 paid out -> AmountFC -12.34
    txn("a2", "A", -50000),          # 500.00 received -> AmountFC 500.00
    txn("a3", "A", 999, pending=True),
    txn("a0", "A", 700, date="2026-08-30"),
    txn("b1", "B", 5),               # 0.05 paid out
    txn("c1", "C", 4200),
]}


def line(tid, amount, cc=None, reversal=False, n=1):
    return {"LineNumber": n, "AmountFC": Decimal(amount), "CostCenter": cc,
            "Notes": ("plaid-reversal:" if reversal else "plaid:") + tid}


def entry(number, journal, lines, opening="0.00", period=10, created="2026-10-06T10:00:00"):
    total = sum((ln["AmountFC"] for ln in lines), Decimal(0))
    return {"EntryNumber": number, "JournalCode": journal, "FinancialYear": 2026, "FinancialPeriod": period,
            "OpeningBalanceFC": Decimal(opening), "ClosingBalanceFC": Decimal(opening) + total,
            "Created": created, "BankEntryLines": lines}


def good_ledger():
    return {
        "100001": {"entries": [
            entry(26000001, "20", [line("a0", "-7.00")], opening="100.00", period=8,
                  created="2026-09-01T10:00:00"),
            entry(26000002, "20", [line("a1", "-12.34", n=1), line("a2", "500.00", n=2)], opening="93.00")]},
        "100002": {"entries": [entry(26000001, "20", [line("b1", "-0.05", cc="100")])]},
        "100003": {"entries": []},
    }


def run(ledger, truth=TRUTH, mapping=MAPPING, **kw):
    return lc.check(truth, ledger, mapping, **kw)


def only(report, category, example):
    """The report fails on exactly this one category, naming the offending transaction."""
    assert not report.ok
    others = {k: v for k, v in report.counts.items() if v and k != category}
    assert others == {}, str(report)
    assert report.counts[category] == 1, str(report)
    assert any(e.startswith(example) for e in report.examples[category]), str(report)
    text = str(report)
    assert "verdict: FAIL" in text and example in text


def test_a_correct_ledger_passes():
    r = run(good_ledger(), balances=True)
    assert r.ok, str(r)
    assert (r.expected, r.found, r.lines) == (4, 4, 4)
    assert str(r).endswith("verdict: PASS")


def _dup(l):
    l["100001"]["entries"].append(entry(26000003, "20", [line("a1", "-12.34")], opening="580.66"))


def _drop_b1(l):
    l["100002"]["entries"] = []


def _flip_sign(l):
    l["100001"]["entries"][1]["BankEntryLines"][0]["AmountFC"] = Decimal("12.34")


def _off_by_a_cent(l):
    l["100001"]["entries"][1]["BankEntryLines"][0]["AmountFC"] = Decimal("-12.35")


def _cents_lost(l):
    l["100001"]["entries"][1]["BankEntryLines"][0]["AmountFC"] = Decimal("-12.3")


def _sub_cent(l):
    # what a float sum can leave behind; Decimal comparison is exact
    l["100001"]["entries"][1]["BankEntryLines"][0]["AmountFC"] = Decimal("-12.340000001")


def _wrong_journal(l):
    a1 = l["100001"]["entries"][1]["BankEntryLines"].pop(0)
    l["100001"]["entries"].append(entry(26000001, "21", [a1]))


def _wrong_division(l):
    moved = l["100001"]["entries"].pop(0)
    l["100003"]["entries"].append(moved)


def _wrong_cc(l):
    l["100002"]["entries"][0]["BankEntryLines"][0]["CostCenter"] = "200"


def _cc_where_none(l):
    l["100001"]["entries"][1]["BankEntryLines"][0]["CostCenter"] = "100"


def _pending(l):
    l["100001"]["entries"][1]["BankEntryLines"].append(line("a3", "-9.99", n=3))


def _unmapped(l):
    l["100001"]["entries"][1]["BankEntryLines"].append(line("c1", "-42.00", n=3))


def _unknown(l):
    l["100001"]["entries"][1]["BankEntryLines"].append(line("gone1", "-1.00", n=3))


def _reversed_not_rebooked(l):
    l["100001"]["entries"].append(entry(26000003, "20", [line("a2", "-500.00", reversal=True)],
                                        opening="580.66", created="2026-10-07T10:00:00"))


def _reversed_twice(l):
    # booked (entry 26000002), then reversed twice and booked again: the net is nothing, and the
    # second reversal took back a booking that was not there
    l["100001"]["entries"].append(entry(26000003, "20", [
        line("a2", "-500.00", reversal=True), line("a2", "-500.00", reversal=True, n=2),
        line("a2", "500.00", n=3)], opening="580.66", created="2026-10-07T10:00:00"))


def _unkeyed(l):
    l["100001"]["entries"][1]["BankEntryLines"].append({"LineNumber": 3, "AmountFC": Decimal("1.00"),
                                                        "Notes": "typed in by hand", "CostCenter": None})


def _closing_off(l):
    l["100001"]["entries"][1]["ClosingBalanceFC"] += Decimal("0.01")


def _chain_broken(l):
    e = l["100001"]["entries"][1]
    e["OpeningBalanceFC"] += 1
    e["ClosingBalanceFC"] += 1


DEFECTS = [
    (_dup, "duplicates", "a1"),
    (_drop_b1, "missing", "b1"),
    (_flip_sign, "wrong_amount", "a1"),
    (_off_by_a_cent, "wrong_amount", "a1"),
    (_cents_lost, "wrong_amount", "a1"),
    (_sub_cent, "wrong_amount", "a1"),
    (_wrong_journal, "wrong_journal", "a1"),
    (_wrong_division, "wrong_journal", "a0"),
    (_wrong_cc, "wrong_cost_center", "b1"),
    (_cc_where_none, "wrong_cost_center", "a1"),
    (_pending, "pending_posted", "a3"),
    (_unmapped, "unmapped_posted", "c1"),
    (_unknown, "unknown_posted", "gone1"),
    (_reversed_not_rebooked, "missing", "a2"),
    (_unkeyed, "unkeyed_lines", "100001/20 entry 26000002 line 3"),
    (_closing_off, "balance_breaks", "100001/20 entry 26000002"),
    (_chain_broken, "balance_breaks", "100001/20 entry 26000002"),
]


@pytest.mark.parametrize("defect,category,example", DEFECTS, ids=[d[0].__name__.strip("_") for d in DEFECTS])
def test_each_defect_is_caught_alone(defect, category, example):
    ledger = good_ledger()
    defect(ledger)
    # the balance checks are optional: only the two balance defects need them, and the other
    # defects keep their statements' balances consistent so that they do not show up as breaks
    r = run(ledger, balances=category == "balance_breaks")
    only(r, category, example)


def test_one_reversal_too_many_is_caught():
    ledger = good_ledger()
    _reversed_twice(ledger)
    r = run(ledger)
    assert r.counts["bad_reversal"] == 1 and "a2" in r.examples["bad_reversal"], str(r)
    assert not r.ok


def test_balances_are_only_checked_when_asked():
    ledger = good_ledger()
    _closing_off(ledger)
    assert run(ledger).ok
    assert "balance breaks" not in str(run(ledger))


def test_reversed_and_reposted_nets_to_the_current_truth():
    ledger = good_ledger()
    # a1 was first booked at its old amount (10.00), then Plaid changed it to 12.34:
    # the agent reverses the old line and books the new one
    ledger["100001"]["entries"][1]["BankEntryLines"][0]["AmountFC"] = Decimal("-10.00")
    ledger["100001"]["entries"][1]["ClosingBalanceFC"] = Decimal("583.00")
    ledger["100001"]["entries"].append(entry(26000003, "20", [
        line("a1", "10.00", reversal=True), line("a1", "-12.34", n=2)], opening="583.00",
        created="2026-10-08T09:00:00"))
    r = run(ledger, balances=True)
    assert r.ok, str(r)
    assert r.found == 4


def test_removed_transaction_booked_and_reversed_passes():
    ledger = good_ledger()
    ledger["100001"]["entries"].append(entry(26000003, "20", [
        line("removed1", "-3.50"), line("removed1", "3.50", reversal=True, n=2)], opening="580.66"))
    assert run(ledger, balances=True).ok


def test_removed_transaction_still_booked_fails():
    ledger = good_ledger()
    ledger["100001"]["entries"].append(entry(26000003, "20", [line("removed1", "-3.50")], opening="580.66"))
    only(run(ledger), "unknown_posted", "removed1")


def test_since_limits_what_is_expected_not_what_is_checked():
    ledger = good_ledger()
    ledger["100001"]["entries"].pop(0)        # a0 (2026-08-30) not booked
    assert not run(ledger).ok
    r = run(ledger, since="2026-09-01")
    assert r.ok and r.expected == 3, str(r)
    ledger["100001"]["entries"][0]["BankEntryLines"][0]["AmountFC"] = Decimal("12.34")
    only(run(ledger, since=dt.date(2026, 9, 1)), "wrong_amount", "a1")


def test_float_amounts_from_plain_json_compare_exactly():
    ledger = json.loads(json.dumps(good_ledger(), default=float))
    assert isinstance(ledger["100001"]["entries"][1]["BankEntryLines"][0]["AmountFC"], float)
    assert run(ledger, balances=True).ok


def test_mapping_shapes_and_errors():
    seed_shape = {"A": {"division": 100001, "journal": "20", "gl_account_code": "1100"},
                  "B": {"division": "100002", "journal_code": 20, "cost_center": "100"}}
    assert lc.load_mapping(seed_shape) == {"A": (100001, "20", None), "B": (100002, "20", "100")}
    assert run(good_ledger(), mapping=seed_shape).ok
    for bad, words in (({}, "no accounts"), ({"A": {"journal": "20"}}, "division"),
                       ({"A": {"division": 1}}, "journal"), ({"A": 5}, "object"), ([], "object")):
        with pytest.raises(lc.CheckError) as e:
            lc.load_mapping(bad)
        assert words in str(e.value)


def test_examples_are_capped_but_counts_are_not():
    truth = {"transactions": [txn("t%02d" % i, "A", 100) for i in range(12)]}
    r = lc.check(truth, {}, MAPPING, max_examples=3)
    assert r.counts["missing"] == 12 and len(r.examples["missing"]) == 3
    assert "..." in str(r)
    d = r.as_dict()
    assert d["verdict"] == "FAIL" and d["counts"]["missing"] == 12


# ---- against the real emulators -----------------------------------------------------------------------

def cli(*args):
    return subprocess.run([harness.PYTHON, CHECKER] + [str(a) for a in args], capture_output=True,
                          text=True, timeout=60)


@pytest.fixture
def posted(sandbox, tmp_path):
    """The last few settled transactions of one US account, booked by hand through Exact's API
    (OAuth code flow, bank entries per month with chained balances), and the mapping for it."""
    acct = next(a["plaid_account_id"] for a in sandbox.bank_accounts if a["currency"] == "USD")
    m = sandbox.account_map()[acct]
    settled = sorted((t for t in sandbox.truth()["transactions"]
                      if t["account_id"] == acct and not t["pending"]), key=lambda t: t["date"])
    assert len(settled) >= 5
    since = settled[-5]["date"]
    chosen = [t for t in settled if t["date"] >= since]
    exact = harness.ExactClient.for_sandbox(sandbox).connect()
    gl = exact.gl_account_id(m["division"], "2300")
    entries = harness.statement_entries(chosen, m["journal"], gl, opening=Decimal("1000.00"))
    for e in entries:
        status, out = exact.post_bank_entry(m["division"], e)
        assert status == 201, out
    mapping = tmp_path / "mapping.json"
    mapping.write_text(json.dumps(sandbox.mapping([acct])))
    return {"acct": acct, "map": m, "since": since, "chosen": chosen, "exact": exact, "gl": gl,
            "mapping": mapping, "closing": entries[-1]["ClosingBalanceFC"]}


@pytest.mark.sandbox(seed=11, months=1)
def test_cli_passes_a_correct_statement_then_fails_a_duplicate(sandbox, posted):
    base = ["--plaid", sandbox.plaid_url, "--exact", sandbox.exact_url, "--admin-token",
            sandbox.admin_token, "--mapping", posted["mapping"], "--since", posted["since"], "--balances"]
    r = cli(*base)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "verdict: PASS" in r.stdout
    assert "%d settled transactions expected, %d found" % (len(posted["chosen"]), len(posted["chosen"])) in r.stdout

    # the agent posts one of them again (say, after a lost answer without reading back)
    dup = posted["chosen"][-1]
    again = harness.statement_entries([dup], posted["map"]["journal"], posted["gl"], opening=posted["closing"])
    status, out = posted["exact"].post_bank_entry(posted["map"]["division"], again[0])
    assert status == 201, out
    r = cli(*base)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "verdict: FAIL" in r.stdout and dup["transaction_id"] in r.stdout
    report = json.loads(cli(*base, "--json").stdout)
    assert report["counts"]["duplicates"] == 1
    assert sum(report["counts"].values()) == 1

    # ... and takes it back with a reversal line: PASS again
    rev = harness.statement_entries([dup], posted["map"]["journal"], posted["gl"],
                                    opening=again[0]["ClosingBalanceFC"], reverse_ids={dup["transaction_id"]})
    rev[0]["BankEntryLines"] = rev[0]["BankEntryLines"][1:]      # only the reversal line
    rev[0]["ClosingBalanceFC"] = rev[0]["OpeningBalanceFC"] + rev[0]["BankEntryLines"][0]["AmountFC"]
    status, out = posted["exact"].post_bank_entry(posted["map"]["division"], rev[0])
    assert status == 201, out
    r = cli(*base)
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.sandbox(seed=11, months=1)
def test_cli_without_since_reports_the_unposted_history_missing(sandbox, posted):
    r = cli("--plaid", sandbox.plaid_url, "--exact", sandbox.exact_url, "--admin-token", sandbox.admin_token,
            "--mapping", posted["mapping"])
    assert r.returncode == 1
    assert "missing" in r.stdout and "verdict: FAIL" in r.stdout


def test_cli_errors_are_one_line(sandbox_module, tmp_path):
    mapping = tmp_path / "m.json"
    mapping.write_text(json.dumps(sandbox_module.mapping()))
    urls = ["--plaid", sandbox_module.plaid_url, "--exact", sandbox_module.exact_url]
    r = cli(*urls, "--mapping", mapping)                       # the sandbox wants its admin token
    assert r.returncode == 69 and "--admin-token" in r.stderr and r.stderr.count("\n") == 1
    r = cli("--plaid", "http://127.0.0.1:9", "--exact", "http://127.0.0.1:9", "--mapping", mapping)
    assert r.returncode == 69 and "sandbox running" in r.stderr and r.stderr.count("\n") == 1
    bad = tmp_path / "bad.json"
    bad.write_text('{"accounts": {"X": {"journal": "20"}}}')
    r = cli(*urls, "--admin-token", sandbox_module.admin_token, "--mapping", bad)
    assert r.returncode == 65 and "division" in r.stderr and r.stderr.count("\n") == 1
    r = cli(*urls, "--mapping", mapping, "--since", "last week")
    assert r.returncode == 64 and "YYYY-MM-DD" in r.stderr
    r = cli("--plaid", "x")
    assert r.returncode == 64


def test_cli_on_an_empty_ledger_fails_with_every_settled_transaction_missing(sandbox_module, tmp_path):
    mapping = tmp_path / "m.json"
    mapping.write_text(json.dumps(sandbox_module.mapping()))
    truth = sandbox_module.truth()
    settled = sum(1 for t in truth["transactions"] if not t["pending"])
    r = cli("--plaid", sandbox_module.plaid_url, "--exact", sandbox_module.exact_url, "--admin-token",
            sandbox_module.admin_token, "--mapping", mapping, "--json")
    assert r.returncode == 1
    report = json.loads(r.stdout)
    assert report["expected"] == settled and report["counts"]["missing"] == settled


# ---- the agent's local journal (mlc plaid journal) -----------------------------------------------------

def journal_row(t, state=None, amount=None, account=None):
    state = state or ("pending" if t["pending"] else "settled")
    amount = amount if amount is not None else str(Decimal(t["amount_cents"]) / 100)
    return "\t".join([state, account or t["account_id"], t["transaction_id"], t["date"], amount, "EUR",
                      "-", t["name"]])


def good_journal():
    return [journal_row(t) for t in TRUTH["transactions"] if t["account_id"] in ("A", "B")]


def jcheck(rows):
    return lc.check_journal(TRUTH, lc.parse_journal("\n".join(rows) + "\n"), {"A", "B"})


def test_a_correct_journal_passes():
    r = jcheck(good_journal() + ["removed\tA\told1\t2026-10-01\t5.00\tEUR\t-\tgone"])
    assert r.ok, str(r)
    assert (r.expected, r.found, r.lines) == (5, 5, 6)


JOURNAL_DEFECTS = [
    (lambda rows: rows[1:], "missing", "a1"),
    (lambda rows: [journal_row(TRUTH["transactions"][0], amount="-12.34")] + rows[1:], "wrong_amount", "a1"),
    (lambda rows: [journal_row(TRUTH["transactions"][0], amount="12.3")] + rows[1:], "wrong_amount", "a1"),
    (lambda rows: [journal_row(TRUTH["transactions"][2], state="settled") if "\ta3\t" in r else r for r in rows],
     "wrong_pending", "a3"),
    (lambda rows: [journal_row(TRUTH["transactions"][0], state="removed")] + rows[1:], "removed_but_live", "a1"),
    (lambda rows: rows + ["settled\tA\tgone2\t2026-10-01\t5.00\tEUR\t-\tgone"], "unknown_live", "gone2"),
    (lambda rows: [journal_row(TRUTH["transactions"][0], account="B")] + rows[1:], "wrong_account", "a1"),
    (lambda rows: rows + rows[:1], "duplicates", "a1"),
]


@pytest.mark.parametrize("defect,category,example", JOURNAL_DEFECTS, ids=[d[1] + "-" + d[2] + "-%d" % i
                                                                          for i, d in enumerate(JOURNAL_DEFECTS)])
def test_each_journal_defect_is_caught_alone(defect, category, example):
    only(jcheck(defect(good_journal())), category, example)


def test_journal_lines_must_have_the_journal_shape():
    with pytest.raises(lc.CheckError) as e:
        lc.parse_journal("settled\tA\ta1\n")
    assert "line 1" in str(e.value)


def test_cli_checks_a_journal_file_against_the_sandbox(sandbox_module, tmp_path):
    truth = sandbox_module.truth()
    rows = [journal_row(t) for t in truth["transactions"]]
    mapping = tmp_path / "m.json"
    mapping.write_text(json.dumps(sandbox_module.mapping()))
    journal = tmp_path / "journal.tsv"
    journal.write_text("\n".join(rows) + "\n")
    args = ["--plaid", sandbox_module.plaid_url, "--admin-token", sandbox_module.admin_token,
            "--mapping", mapping, "--journal", journal]
    r = cli(*args)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "journal check: %d live transactions expected, %d found" % (len(rows), len(rows)) in r.stdout
    journal.write_text("\n".join(rows[1:]) + "\n")
    r = cli(*args)
    assert r.returncode == 1 and truth["transactions"][0]["transaction_id"] in r.stdout
    r = cli("--plaid", sandbox_module.plaid_url, "--mapping", mapping)
    assert r.returncode == 64 and "--journal" in r.stderr
