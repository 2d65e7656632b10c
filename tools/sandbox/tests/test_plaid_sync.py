"""/transactions/sync: cursors, count bounds, pagination, pending->posted, modified/removed, mutation."""

import pytest

from conftest import PlaidClient, make_plaid


class Ledger:
    """What a correct client keeps: transactions by id, after applying added/modified/removed."""

    def __init__(self):
        self.txns = {}
        self.seen_removed = {}

    def apply(self, added, modified, removed):
        for t in added:
            assert t["transaction_id"] not in self.txns, "added twice: %s" % t["transaction_id"]
            self.txns[t["transaction_id"]] = t
        for t in modified:
            assert t["transaction_id"] in self.txns, "modified unknown: %s" % t["transaction_id"]
            self.txns[t["transaction_id"]] = t
        for r in removed:
            gone = self.txns.pop(r["transaction_id"], None)
            if gone is not None:
                self.seen_removed[r["transaction_id"]] = gone

    def matches(self, plaid, account_ids):
        truth = {t["transaction_id"]: t for t in plaid.world.truth()["transactions"]
                 if t["account_id"] in account_ids}
        assert set(self.txns) == set(truth)
        for tid, t in self.txns.items():
            assert round(t["amount"] * 100) == truth[tid]["amount_cents"]
            assert t["pending"] == truth[tid]["pending"]
            assert t["date"] == truth[tid]["date"]


def _item_accounts(client, at):
    return {a["account_id"] for a in client.ok("/accounts/get", {"access_token": at})["accounts"]}


def test_count_bounds(client):
    at, _ = client.link()
    for bad in (0, 501, -1, "10", 2.5, True):
        status, body = client.post("/transactions/sync", {"access_token": at, "count": bad})
        assert status == 400 and body["error_code"] == "INVALID_FIELD", bad
    assert len(client.ok("/transactions/sync", {"access_token": at, "count": 1})["added"]) == 1
    big = client.ok("/transactions/sync", {"access_token": at, "count": 500})
    assert 300 < len(big["added"]) < 500 and not big["has_more"]     # the whole 3-month history
    assert len(client.ok("/transactions/sync", {"access_token": at, "count": 300})["added"]) == 300
    assert len(client.ok("/transactions/sync", {"access_token": at})["added"]) == 100   # default
    status, body = client.post("/transactions/sync", {"access_token": at, "options": None})
    assert status == 400 and body["error_code"] == "INVALID_FIELD"


def test_full_history_across_many_pages_has_no_duplicates(plaid, client):
    at, _ = client.link("ins_109508")
    added, modified, removed, cursor, pages = client.sync_all(at, count=7)
    assert pages > 20 and not modified and not removed
    ids = [t["transaction_id"] for t in added]
    assert len(ids) == len(set(ids))
    ledger = Ledger()
    ledger.apply(added, modified, removed)
    ledger.matches(plaid, _item_accounts(client, at))
    # Nothing new: the finished cursor gives an empty page, has_more false.
    out = client.ok("/transactions/sync", {"access_token": at, "cursor": cursor})
    assert (out["added"], out["modified"], out["removed"], out["has_more"]) == ([], [], [], False)
    assert out["transactions_update_status"] == "HISTORICAL_UPDATE_COMPLETE"


def test_amounts_follow_plaid_sign_and_two_decimals(client):
    at, _ = client.link("ins_120001")
    added = client.sync_all(at, count=500)[0]
    assert any(t["amount"] > 0 for t in added) and any(t["amount"] < 0 for t in added)  # out and in
    for t in added:
        assert isinstance(t["amount"], float) or isinstance(t["amount"], int)
        assert abs(t["amount"] * 100 - round(t["amount"] * 100)) < 1e-6
        assert t["iso_currency_code"] == "EUR" and t["unofficial_currency_code"] is None


def test_every_cursor_is_valid_to_resume_from(client):
    at, _ = client.link()
    first = client.ok("/transactions/sync", {"access_token": at, "count": 10})
    mid = first["next_cursor"]
    a = client.ok("/transactions/sync", {"access_token": at, "count": 10, "cursor": mid})
    b = client.ok("/transactions/sync", {"access_token": at, "count": 10, "cursor": mid})
    assert [t["transaction_id"] for t in a["added"]] == [t["transaction_id"] for t in b["added"]]
    assert not set(t["transaction_id"] for t in a["added"]) & set(t["transaction_id"] for t in first["added"])


def test_cursor_of_another_item_or_forged_is_rejected(client):
    at1, _ = client.link()
    at2, _ = client.link()
    c1 = client.ok("/transactions/sync", {"access_token": at1, "count": 5})["next_cursor"]
    for bad in (c1, c1[:-3] + "AAA", "garbage!!"):
        status, body = client.post("/transactions/sync", {"access_token": at2, "cursor": bad})
        assert status == 400 and body["error_code"] == "INVALID_FIELD"


def test_pending_settles_as_removed_plus_posted_sometimes_with_tip(plaid, client):
    at, _ = client.link("ins_109508")
    ledger = Ledger()
    added, modified, removed, cursor, _ = client.sync_all(at, count=500)
    ledger.apply(added, modified, removed)
    tips = linked = 0
    for _ in range(6):
        plaid.advance_days(5)
        added, modified, removed, cursor, _ = client.sync_all(at, cursor=cursor, count=50)
        removed_ids = {r["transaction_id"] for r in removed}
        before = dict(ledger.txns)
        ledger.apply(added, modified, removed)
        for t in added:
            assert t["pending"] in (True, False)
            p = t["pending_transaction_id"]
            if p is None or p not in before:
                continue
            linked += 1
            assert before[p]["pending"] is True and not t["pending"]
            assert p in removed_ids, "the pending id must be removed in the same update"
            if t["amount"] != before[p]["amount"]:
                assert t["amount"] > before[p]["amount"]   # a tip is added on top
                tips += 1
    assert linked >= 5 and tips >= 1, (linked, tips)
    ledger.matches(plaid, _item_accounts(client, at))


def test_posted_transactions_modified_and_removed(plaid, client):
    at, _ = client.link("ins_109508")
    ledger = Ledger()
    added, modified, removed, cursor, _ = client.sync_all(at, count=500)
    ledger.apply(added, modified, removed)
    n_mod = n_rm_posted = 0
    for _ in range(10):
        plaid.advance_days(6)
        added, modified, removed, cursor, _ = client.sync_all(at, cursor=cursor, count=100)
        n_mod += sum(1 for t in modified if not t["pending"])
        before = dict(ledger.txns)
        n_rm_posted += sum(1 for r in removed if r["transaction_id"] in before
                           and not before[r["transaction_id"]]["pending"])
        ledger.apply(added, modified, removed)
    assert n_mod >= 1 and n_rm_posted >= 1, (n_mod, n_rm_posted)
    ledger.matches(plaid, _item_accounts(client, at))


def test_mutation_during_pagination_then_restart_from_first_cursor(plaid, client):
    at, _ = client.link("ins_109508")
    ledger = Ledger()
    added, modified, removed, start, _ = client.sync_all(at, count=500)
    ledger.apply(added, modified, removed)
    plaid.advance_days(20)
    page1 = client.ok("/transactions/sync", {"access_token": at, "cursor": start, "count": 3})
    assert page1["has_more"]
    plaid.advance_days(1)    # the data changes while the client is paging
    status, body = client.post("/transactions/sync", {"access_token": at, "cursor": page1["next_cursor"], "count": 3})
    assert status == 400
    assert (body["error_type"], body["error_code"]) == ("TRANSACTIONS_ERROR", "TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION")
    # Plaid's rule: restart the whole loop from the first cursor of the update.
    added, modified, removed, cursor, _ = client.sync_all(at, cursor=start, count=40)
    ledger.apply(added, modified, removed)
    ledger.matches(plaid, _item_accounts(client, at))


def test_initial_download_also_detects_mutation(plaid, client):
    at, _ = client.link("ins_109508")
    page1 = client.ok("/transactions/sync", {"access_token": at, "count": 5})
    plaid.advance_days(1)
    status, body = client.post("/transactions/sync", {"access_token": at, "cursor": page1["next_cursor"]})
    assert status == 400 and body["error_code"] == "TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION"


def test_change_on_another_item_does_not_break_pagination(plaid, client):
    at_us, _ = client.link("ins_109508")
    at_de, _ = client.link("ins_120003")
    page1 = client.ok("/transactions/sync", {"access_token": at_de, "count": 5})
    client.link("ins_109508", dynamic=True)
    dyn, _ = client.link("ins_109508", dynamic=True)
    client.ok("/sandbox/transactions/create", {"access_token": dyn, "transactions": [
        {"date_transacted": "2026-06-14", "date_posted": "2026-06-15", "amount": 12.34, "description": "x"}]})
    out = client.ok("/transactions/sync", {"access_token": at_de, "cursor": page1["next_cursor"], "count": 5})
    assert out["added"]


def test_account_filter_starts_a_separate_stream(client):
    at, _ = client.link("ins_109508")
    accounts = client.ok("/accounts/get", {"access_token": at})["accounts"]
    card = [a for a in accounts if a["type"] == "credit"][0]["account_id"]
    out = client.ok("/transactions/sync", {"access_token": at, "count": 500, "options": {"account_id": card}})
    assert out["added"] and {t["account_id"] for t in out["added"]} == {card}
    status, body = client.post("/transactions/sync", {"access_token": at, "cursor": out["next_cursor"]})
    assert status == 400 and body["error_code"] == "INVALID_FIELD"
    status, body = client.post("/transactions/sync", {"access_token": at, "options": {"account_id": "nope"}})
    assert status == 400


def test_sandbox_transactions_create_shows_up_in_sync(plaid, client):
    at, _ = client.link("ins_109508", dynamic=True)
    cursor = client.sync_all(at, count=500)[3]
    client.ok("/sandbox/transactions/create", {"access_token": at, "transactions": [
        {"date_transacted": "2026-06-13", "date_posted": "2026-06-14", "amount": -250.5, "description": "Refund ACME"}]})
    added = client.ok("/transactions/sync", {"access_token": at, "cursor": cursor})["added"]
    assert [(t["name"], t["amount"], t["date"]) for t in added] == [("Refund ACME", -250.5, "2026-06-14")]
    status, body = client.post("/sandbox/transactions/create", {"access_token": at, "transactions": [
        {"date_transacted": "2026-06-13", "date_posted": "2026-06-30", "amount": 1, "description": "future"}]})
    assert status == 400
    plain, _ = client.link("ins_109508")
    status, body = client.post("/sandbox/transactions/create", {"access_token": plain, "transactions": [
        {"date_transacted": "2026-06-13", "date_posted": "2026-06-14", "amount": 1, "description": "x"}]})
    assert status == 400 and "user_transactions_dynamic" in body["error_message"]


def test_cursor_now_skips_history(plaid, client):
    at, _ = client.link()
    out = client.ok("/transactions/sync", {"access_token": at, "cursor": "now"})
    assert out["added"] == [] and not out["has_more"]
    plaid.advance_days(2)
    added = client.sync_all(at, cursor=out["next_cursor"])[0]
    assert added and all(t["date"] >= "2026-06-16" for t in added)


def test_not_ready_item_returns_empty_cursor_first():
    emu = make_plaid(not_ready_syncs=1)
    try:
        c = PlaidClient(emu)
        at, _ = c.link()
        out = c.ok("/transactions/sync", {"access_token": at})
        assert (out["next_cursor"], out["transactions_update_status"], out["added"]) == ("", "NOT_READY", [])
        out = c.ok("/transactions/sync", {"access_token": at, "cursor": ""})
        assert out["added"] and out["transactions_update_status"] == "HISTORICAL_UPDATE_COMPLETE"
    finally:
        emu.shutdown()


@pytest.mark.parametrize("seed", [3, 11])
def test_same_seed_same_sync_stream(seed):
    streams = []
    for _ in range(2):
        emu = make_plaid(seed=seed)
        try:
            c = PlaidClient(emu)
            at, item_id = c.link("ins_120002")
            first = c.sync_all(at, count=50)
            emu.advance_days(7)
            second = c.sync_all(at, cursor=first[3], count=50)
            streams.append((item_id, at, first[:3], second[:3]))
        finally:
            emu.shutdown()
    assert streams[0] == streams[1]
