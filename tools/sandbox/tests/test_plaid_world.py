"""world.py: determinism, valid bank numbers, the agreed bank_accounts() shape, speed and memory."""

import datetime
import time
import tracemalloc

from world import World, iban_valid, iban_check_digits

DAY = datetime.date(2026, 6, 15)


def snapshot(w):
    return [(t["transaction_id"], t["account_id"], t["date"], t["amount_cents"], t["pending"],
             t["pending_transaction_id"], t["name"]) for t in w.truth()["transactions"]]


def test_same_seed_same_world_different_seed_differs():
    a, b, c = World(5, 6, today=DAY), World(5, 6, today=DAY), World(6, 6, today=DAY)
    assert snapshot(a) == snapshot(b)
    assert a.bank_accounts() == b.bank_accounts()
    assert snapshot(a) != snapshot(c)


def test_advance_is_deterministic_however_days_are_split():
    a, b = World(9, 2, today=DAY), World(9, 2, today=DAY)
    a.advance_days(10)
    for _ in range(10):
        b.advance_days(1)
    assert snapshot(a) == snapshot(b) and a.log == b.log and a.today == b.today


def test_bank_accounts_shape_for_exact_seed():
    accts = World(1, 1, today=DAY).bank_accounts()
    assert {a["currency"] for a in accts} == {"EUR", "GBP", "USD"}
    for a in accts:
        assert {"iban", "account_number", "currency", "name", "plaid_account_id"} <= set(a)
        assert a["iban"] or a["account_number"]
        assert isinstance(a["name"], str) and a["plaid_account_id"]
    assert any(a["subtype"] == "credit card" for a in accts)
    assert len({a["plaid_account_id"] for a in accts}) == len(accts)


def test_ibans_have_valid_mod97_check_digits():
    ibans = [a["iban"] for a in World(3, 1, today=DAY).bank_accounts() if a["iban"]]
    assert {i[:2] for i in ibans} == {"NL", "GB", "DE"}
    assert all(iban_valid(i) for i in ibans)
    assert iban_valid("GB82WEST12345698765432") and not iban_valid("GB83WEST12345698765432")
    assert iban_check_digits("NL", "ABNA0417164300") == "91"   # NL91ABNA0417164300, the textbook example


def test_history_spans_months_and_balances_add_up():
    w = World(2, 24, today=DAY)
    dates = [t["date"] for t in w.truth()["transactions"]]
    assert min(dates) <= "2024-07-01" and max(dates) <= DAY.isoformat()
    for a in w.truth(include_txns=False)["accounts"]:
        posted = sum(t["amount_cents"] for t in w.truth()["transactions"]
                     if t["account_id"] == a["plaid_account_id"] and not t["pending"])
        acct = next(x for x in w.accounts if x.account_id == a["plaid_account_id"])
        sign = 1 if acct.type == "credit" else -1
        assert a["current_cents"] == acct.opening_cents + sign * posted


def test_100k_transactions_in_a_few_seconds():
    t = time.monotonic()
    w = World(42, 24, txn_count=100_000, today=DAY)
    took = time.monotonic() - t
    assert len(w.txns) >= 100_000
    assert took < 5.0, took


def test_memory_per_transaction_is_small():
    tracemalloc.start()
    w = World(42, 24, txn_count=10_000, today=DAY)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    # ~100k transactions must fit in well under 100 MB: keep each one under 600 bytes.
    assert peak / len(w.txns) < 600, peak / len(w.txns)
