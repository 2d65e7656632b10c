#!/usr/bin/python3
"""Ledger checker: does Exact Online hold exactly what Plaid says, once, in the right place?

Compares the Plaid emulator's truth (GET /__admin/truth: live transactions per account, settled and
pending) with the Exact emulator's ledger (GET /__admin/exact/ledger: bank entries and their lines per
division), through the mapping (Plaid account id -> division, bank journal code, cost center).

Library:  report = check(truth, ledger, mapping, since=None, balances=False); report.ok; print(report)
CLI:      /usr/bin/python3 tests/e2e/ledger_check.py --plaid URL --exact URL [--admin-token T]
              --mapping mapping.json [--since YYYY-MM-DD] [--balances] [--json]
          ... --plaid URL --journal FILE --mapping mapping.json   checks the agent's local journal
              (`mlc plaid journal` output) against Plaid instead: what it downloaded, before posting
          exit 0 = PASS, 1 = FAIL, 64 = wrong command line, 65 = bad mapping file,
          69 = an emulator could not be read.

How lines are matched (the agent's posting key, reference exact-online.md section 5.3): a line whose
Notes is "plaid:<transaction_id>" books the transaction; "plaid-reversal:<transaction_id>" takes one
booking back. Per transaction, bookings minus reversals must be 1 for a settled transaction of a
mapped account and 0 for anything else, and the lines' AmountFC must add up to -amount (Plaid: + is
money out; Exact: AmountFC + is money received). Money is compared exactly, as Decimal from the JSON
text, never as float.

mapping.json: {"accounts": {"<plaid account id>": {"division": 100001, "journal": "20",
"cost_center": "100" or null}}}; a flat {"<id>": {...}} works too, and so does "journal_code" for
"journal" (exact_seed's account_map shape). A null cost center means the lines must carry none.
"""

import argparse
import datetime as _dt
import json
import re
import sys
import urllib.error
import urllib.request
from decimal import Decimal

CATEGORIES = (
    # key, label for the report; order = order printed
    ("duplicates", "booked more than once"),
    ("missing", "settled but not booked"),
    ("wrong_amount", "wrong amount or sign"),
    ("wrong_journal", "in the wrong division or journal"),
    ("wrong_cost_center", "wrong cost center"),
    ("pending_posted", "pending but booked"),
    ("unmapped_posted", "booked for an unmapped account"),
    ("unknown_posted", "booked but not (or no longer) at Plaid"),
    ("bad_reversal", "reversed before or more often than booked"),
    ("unkeyed_lines", "lines in a mapped journal without a plaid key"),
    ("balance_breaks", "statements whose balances do not chain"),
)

NOTE_RE = re.compile(r"^plaid(-reversal)?:([A-Za-z0-9_\-]{1,100})$")
MAX_EXAMPLES = 5
CENT = Decimal("0.01")


class CheckError(Exception):
    """Input the checker cannot work with (bad mapping, unreadable emulator answer); one line."""


# The agent's local journal (`mlc plaid journal`) against the same truth: what the agent has
# downloaded, before anything is posted.
JOURNAL_CATEGORIES = (
    ("missing", "live at Plaid but not in the journal"),
    ("wrong_amount", "amount differs from Plaid"),
    ("wrong_pending", "pending/settled state differs from Plaid"),
    ("removed_but_live", "marked removed but still live at Plaid"),
    ("unknown_live", "live in the journal but not (or no longer) at Plaid"),
    ("wrong_account", "under another account than at Plaid"),
    ("duplicates", "in the journal more than once"),
)


class Report:
    """Counts per category, the first few offending ids per category, and the verdict."""

    def __init__(self, max_examples=MAX_EXAMPLES, categories=CATEGORIES, subject="ledger check",
                 unit="lines"):
        self.categories = categories
        self.subject, self.unit = subject, unit
        self.expected = 0
        self.found = 0
        self.lines = 0
        self.counts = {key: 0 for key, _ in categories}
        self.examples = {key: [] for key, _ in categories}
        self.max_examples = max_examples
        self.balances_checked = False

    def add(self, category, example):
        self.counts[category] += 1
        if len(self.examples[category]) < self.max_examples:
            self.examples[category].append(example)

    @property
    def ok(self):
        return all(n == 0 for n in self.counts.values())

    def as_dict(self):
        return {"verdict": "PASS" if self.ok else "FAIL", "expected": self.expected,
                "found": self.found, "lines": self.lines, "counts": dict(self.counts),
                "examples": {k: v for k, v in self.examples.items() if v},
                "balances_checked": self.balances_checked}

    def __str__(self):
        what = "settled transactions" if self.categories is CATEGORIES else "live transactions"
        out = ["%s: %d %s expected, %d found exactly once, %d %s read"
               % (self.subject, self.expected, what, self.found, self.lines, self.unit)]
        for key, label in self.categories:
            if key == "balance_breaks" and not self.balances_checked:
                continue
            n = self.counts[key]
            line = "  %-18s %6d  %s" % (key.replace("_", " "), n, label)
            if n and self.examples[key]:
                line += ": " + ", ".join(self.examples[key])
                if n > len(self.examples[key]):
                    line += ", ..."
            out.append(line)
        out.append("verdict: PASS" if self.ok else "verdict: FAIL")
        return "\n".join(out)


# ---- inputs --------------------------------------------------------------------------------------

def _decimal(value, what):
    """Exact's AmountFC as Decimal; floats are only accepted when they came from json (parse_float
    was not Decimal) and are converted through their shortest repr, which is what the JSON said."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, bool) or value is None:
        raise CheckError("%s is %r, not a number" % (what, value))
    if isinstance(value, (int, float)):
        return Decimal(repr(value))
    try:
        return Decimal(str(value))
    except ArithmeticError:
        raise CheckError("%s is %r, not a number" % (what, value)) from None


def load_mapping(obj):
    """{account_id: (division int, journal str, cost_center str or None)} from a mapping document."""
    if not isinstance(obj, dict):
        raise CheckError("the mapping must be a JSON object of Plaid account ids")
    accounts = obj.get("accounts", obj) if isinstance(obj.get("accounts"), dict) else obj
    out = {}
    for acct, m in accounts.items():
        if not isinstance(m, dict):
            raise CheckError("mapping for account %s must be an object with division and journal" % acct)
        journal = m.get("journal", m.get("journal_code"))
        try:
            division = int(m["division"])
        except (KeyError, TypeError, ValueError):
            raise CheckError("mapping for account %s has no whole-number division" % acct) from None
        if journal is None or str(journal).strip() == "":
            raise CheckError("mapping for account %s has no journal code" % acct)
        cc = m.get("cost_center", m.get("costcenter"))
        out[str(acct)] = (division, str(journal), None if cc in (None, "") else str(cc))
    if not out:
        raise CheckError("the mapping names no accounts; map at least one Plaid account")
    return out


def _truth_txns(truth):
    try:
        txns = truth["transactions"]
    except (KeyError, TypeError):
        raise CheckError("the Plaid truth has no transactions list (ask /__admin/truth without txns=0)") from None
    out = {}
    for t in txns:
        out[t["transaction_id"]] = t
    return out


def _ledger_lines(ledger, report):
    """[(division, journal, entry, line)] in booking order, and the entries per (division, journal)."""
    lines, entries = [], {}
    for div_text, part in (ledger or {}).items():
        try:
            division = int(div_text)
        except ValueError:
            raise CheckError("the Exact ledger has a division key %r that is not a number" % div_text) from None
        for entry in part.get("entries", []):
            journal = str(entry.get("JournalCode"))
            entries.setdefault((division, journal), []).append(entry)
            for line in entry.get("BankEntryLines", []):
                lines.append((division, journal, entry, line))
                report.lines += 1
    # a reversal must come after what it reverses: order by creation, then entry and line number
    lines.sort(key=lambda x: (str(x[2].get("Created") or ""), x[2].get("EntryNumber") or 0,
                              x[3].get("LineNumber") or 0))
    return lines, entries


# ---- the check -----------------------------------------------------------------------------------

def check(truth, ledger, mapping, since=None, balances=False, max_examples=MAX_EXAMPLES):
    """Compare; returns a Report. truth: /__admin/truth JSON; ledger: /__admin/exact/ledger JSON
    (parse it with parse_float=Decimal to keep amounts exact); mapping: a mapping document (see the
    module docstring) or the dict load_mapping() returns. since: a date or "YYYY-MM-DD"; settled
    transactions dated before it are not expected (the agent's start date), but lines that are there
    are still checked."""
    report = Report(max_examples)
    if mapping and all(isinstance(v, tuple) for v in mapping.values()):
        amap = mapping
    else:
        amap = load_mapping(mapping)
    if isinstance(since, str):
        since = _dt.date.fromisoformat(since)
    txns = _truth_txns(truth)
    lines, entries = _ledger_lines(ledger, report)
    mapped_journals = {(d, j) for d, j, _ in amap.values()}

    # per transaction id: bookings minus reversals and the net amount per (division, journal), and
    # the cost center of the newest booking there
    per_txn = {}
    for division, journal, entry, line in lines:
        m = NOTE_RE.match((line.get("Notes") or "").strip())
        if not m:
            if (division, journal) in mapped_journals:
                report.add("unkeyed_lines", "%d/%s entry %s line %s" % (
                    division, journal, entry.get("EntryNumber"), line.get("LineNumber")))
            continue
        reversal, tid = bool(m.group(1)), m.group(2)
        amount = _decimal(line.get("AmountFC"), "AmountFC of %s" % tid)
        loc = per_txn.setdefault(tid, {}).setdefault((division, journal), {"active": 0, "net": Decimal(0),
                                                                          "cc": None})
        loc["active"] += -1 if reversal else 1
        loc["net"] += amount
        # a reversal must take back a booking made before it, in the same journal
        if loc["active"] < 0:
            loc["bad"] = True
        if not reversal:
            loc["cc"] = line.get("CostCenter") or None

    for tid, locs in sorted(per_txn.items()):
        active = sum(l["active"] for l in locs.values())
        net = sum((l["net"] for l in locs.values()), Decimal(0))
        live = {k: l for k, l in locs.items() if l["active"] != 0 or l["net"] != 0}
        if any(l.get("bad") for l in locs.values()):
            report.add("bad_reversal", tid)
        if not live:
            continue                       # booked and taken back: nets to nothing
        t = txns.get(tid)
        if t is None:
            report.add("unknown_posted", tid)
            continue
        if t.get("pending"):
            report.add("pending_posted", tid)
            continue
        if t["account_id"] not in amap:
            report.add("unmapped_posted", tid)
            continue
        if active > 1:
            report.add("duplicates", tid)
        division, journal, cc = amap[t["account_id"]]
        if set(live) != {(division, journal)}:
            report.add("wrong_journal", tid)
        elif live[(division, journal)]["cc"] != cc:
            report.add("wrong_cost_center", tid)
        want = -(Decimal(int(t["amount_cents"])) * CENT)
        # a duplicate of a right booking is reported as the duplicate alone, not also as an amount
        if net != want and not (active > 1 and net == want * active):
            report.add("wrong_amount", "%s (%s, want %s)" % (tid, net, want))

    for tid, t in sorted(txns.items()):
        if t.get("pending") or t["account_id"] not in amap:
            continue
        if since is not None and _dt.date.fromisoformat(t["date"][:10]) < since:
            continue
        report.expected += 1
        active = sum(l["active"] for l in per_txn.get(tid, {}).values())
        if active >= 1:
            report.found += active == 1
        else:
            report.add("missing", tid)

    if balances:
        report.balances_checked = True
        _check_balances(entries, report)
    return report


def _check_balances(entries, report):
    """Per journal, in (year, period, entry number) order: opening + lines == closing, and each
    opening equals the previous closing (the first statement may open anywhere)."""
    for (division, journal), rows in sorted(entries.items()):
        rows = sorted(rows, key=lambda e: (e.get("FinancialYear") or 0, e.get("FinancialPeriod") or 0,
                                           e.get("EntryNumber") or 0))
        prev = None
        for e in rows:
            name = "%d/%s entry %s" % (division, journal, e.get("EntryNumber"))
            opening = _decimal(e.get("OpeningBalanceFC"), "OpeningBalanceFC of " + name)
            closing = _decimal(e.get("ClosingBalanceFC"), "ClosingBalanceFC of " + name)
            total = sum((_decimal(l.get("AmountFC"), "AmountFC in " + name)
                         for l in e.get("BankEntryLines", [])), Decimal(0))
            if opening + total != closing:
                report.add("balance_breaks", "%s (%s + %s != %s)" % (name, opening, total, closing))
            elif prev is not None and opening != prev:
                report.add("balance_breaks", "%s (opens %s, previous closed %s)" % (name, opening, prev))
            prev = closing



def parse_journal(text):
    """Rows of `mlc plaid journal` (tab-separated: state, account, transaction, date, amount with
    + = money out, currency, pending transaction or -, name) as dicts."""
    rows = []
    for n, raw in enumerate(text.splitlines(), 1):
        if not raw.strip():
            continue
        f = raw.split("\t")
        if len(f) < 6:
            raise CheckError("journal line %d has %d fields, not the 8 of 'mlc plaid journal'" % (n, len(f)))
        rows.append({"state": f[0], "account_id": f[1], "transaction_id": f[2], "date": f[3],
                     "amount": f[4], "currency": f[5]})
    return rows


def check_journal(truth, rows, accounts, max_examples=MAX_EXAMPLES):
    """The agent's local journal against Plaid: every live transaction of `accounts` is there once,
    with Plaid's amount and pending state; what Plaid removed is marked removed. Returns a Report."""
    report = Report(max_examples, JOURNAL_CATEGORIES, "journal check", "journal rows")
    accounts = set(accounts)
    txns = _truth_txns(truth)
    seen = {}
    for row in rows:
        report.lines += 1
        tid = row["transaction_id"]
        seen[tid] = seen.get(tid, 0) + 1
        if seen[tid] == 2:
            report.add("duplicates", tid)
        t = txns.get(tid)
        removed = row["state"] == "removed"
        if t is None:
            if not removed:
                report.add("unknown_live", tid)
            continue
        if removed:
            report.add("removed_but_live", tid)
            continue
        if row["account_id"] != t["account_id"]:
            report.add("wrong_account", tid)
        if (row["state"] == "pending") != bool(t.get("pending")):
            report.add("wrong_pending", tid)
        try:
            amount = Decimal(row["amount"])
        except ArithmeticError:
            amount = None
        want = Decimal(int(t["amount_cents"])) * CENT
        if amount != want:
            report.add("wrong_amount", "%s (%s, want %s)" % (tid, row["amount"], want))
    for tid, t in sorted(txns.items()):
        if t["account_id"] not in accounts:
            continue
        report.expected += 1
        if seen.get(tid):
            report.found += seen[tid] == 1
        else:
            report.add("missing", tid)
    return report


# ---- fetching and the command line ----------------------------------------------------------------

def fetch_json(url, admin_token=None, timeout=30):
    """GET url -> JSON with floats as Decimal. Raises CheckError with one line on any failure."""
    req = urllib.request.Request(url, headers={"Accept": "application/json"})
    if admin_token:
        req.add_header("X-Admin-Token", admin_token)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            raw = r.read()
    except urllib.error.HTTPError as e:
        hint = " (pass --admin-token)" if e.code == 401 else ""
        raise CheckError("%s answered HTTP %d%s" % (url, e.code, hint)) from None
    except (urllib.error.URLError, OSError) as e:
        raise CheckError("cannot reach %s: %s; is the sandbox running?" % (url, getattr(e, "reason", e))) from None
    try:
        return json.loads(raw, parse_float=Decimal)
    except ValueError:
        raise CheckError("%s did not answer JSON" % url) from None


def fetch(plaid_url, exact_url, admin_token=None):
    """(truth, ledger) from the two emulators' admin APIs."""
    truth = fetch_json(plaid_url.rstrip("/") + "/__admin/truth", admin_token)
    ledger = fetch_json(exact_url.rstrip("/") + "/__admin/exact/ledger", admin_token)
    return truth, ledger


def main(argv=None):
    ap = argparse.ArgumentParser(
        description="Check that the Exact Online sandbox ledger holds every settled Plaid transaction "
                    "of the mapped accounts exactly once, with the right amount, journal and cost center.",
        epilog="Exit status: 0 PASS, 1 FAIL, 64 usage, 65 bad mapping, 69 emulator unreachable.")
    ap.add_argument("--plaid", required=True, help="Plaid emulator URL (sandbox port file: plaid)")
    ap.add_argument("--exact", help="Exact emulator URL (sandbox port file: exact); needed unless --journal")
    ap.add_argument("--admin-token", help="the sandbox's admin token, when it was started with one")
    ap.add_argument("--mapping", required=True, help="JSON file: Plaid account id -> division, journal, cost_center")
    ap.add_argument("--since", help="only expect transactions dated on or after YYYY-MM-DD")
    ap.add_argument("--balances", action="store_true", help="also check that statement balances chain")
    ap.add_argument("--journal", metavar="FILE",
                    help="check the agent's local journal instead ('mlc plaid journal' output; - = stdin)")
    ap.add_argument("--json", action="store_true", help="print the report as JSON")
    ap.add_argument("--examples", type=int, default=MAX_EXAMPLES, help="offending ids shown per category")
    try:
        args = ap.parse_args(argv)
    except SystemExit as e:
        return 64 if e.code else 0
    if not args.exact and not args.journal:
        print("ledger_check: give --exact URL (the ledger) or --journal FILE (the agent's journal)",
              file=sys.stderr)
        return 64
    try:
        since = _dt.date.fromisoformat(args.since) if args.since else None
    except ValueError:
        print("ledger_check: --since %r is not a date; write it as YYYY-MM-DD" % args.since, file=sys.stderr)
        return 64
    try:
        with open(args.mapping, encoding="utf-8") as f:
            mapping = load_mapping(json.load(f))
    except (OSError, ValueError, CheckError) as e:
        print("ledger_check: cannot use mapping %s: %s" % (args.mapping, e), file=sys.stderr)
        return 65
    try:
        if args.journal:
            try:
                if args.journal == "-":
                    text = sys.stdin.read()
                else:
                    with open(args.journal, encoding="utf-8") as f:
                        text = f.read()
            except (OSError, UnicodeDecodeError) as e:
                print("ledger_check: cannot read the journal %s: %s" % (args.journal, e), file=sys.stderr)
                return 65
            truth = fetch_json(args.plaid.rstrip("/") + "/__admin/truth", args.admin_token)
            report = check_journal(truth, parse_journal(text), mapping, max_examples=max(0, args.examples))
        else:
            truth, ledger = fetch(args.plaid, args.exact, args.admin_token)
            report = check(truth, ledger, mapping, since=since, balances=args.balances,
                           max_examples=max(0, args.examples))
    except CheckError as e:
        print("ledger_check: %s" % e, file=sys.stderr)
        return 69
    if args.json:
        print(json.dumps(report.as_dict(), indent=2))
    else:
        print(report)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
