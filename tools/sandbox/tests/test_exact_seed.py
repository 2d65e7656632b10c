"""Exact emulator: the seeded reference data is deterministic and has what the agent maps against."""

import json

from exact_seed import (BLOCKED_BANK_JOURNAL_CODE, GENERAL_JOURNAL_CODE, default_seed)
from test_exact_harness import ACCOUNTS, NL, UK, US, YEAR, Api, entry, gl


def test_same_input_same_seed():
    a = json.dumps(default_seed(ACCOUNTS, base_year=YEAR), sort_keys=True)
    b = json.dumps(default_seed(ACCOUNTS, base_year=YEAR), sort_keys=True)
    assert a == b


def test_accounts_spread_by_currency_onto_bank_journals():
    seed = default_seed(ACCOUNTS, base_year=YEAR)
    m = seed["account_map"]
    assert m["plaid-nl-1"]["division"] == NL and m["plaid-nl-2"]["division"] == NL
    assert m["plaid-gb-1"]["division"] == UK and m["plaid-us-1"]["division"] == US
    nl = {j["Code"]: j for j in seed["per_division"][str(NL)]["journals"]}
    assert nl[m["plaid-nl-1"]["journal"]]["BankAccountIBAN"] == "NL91ABNA0417164300"
    assert nl[m["plaid-nl-1"]["journal"]]["Type"] == 12
    assert nl[BLOCKED_BANK_JOURNAL_CODE]["IsBlocked"] is True
    assert nl[GENERAL_JOURNAL_CODE]["Type"] != 12
    us = {j["Code"]: j for j in seed["per_division"][str(US)]["journals"]}
    assert us[m["plaid-us-1"]["journal"]]["BankAccountIncludingMask"] == "1111222233330000"


def test_many_accounts_never_collide_with_fixed_codes():
    many = [{"iban": "NL%02dTEST%010d" % (i, i), "account_number": str(i), "currency": "EUR",
             "name": "A%d" % i, "plaid_account_id": "p%d" % i} for i in range(120)]
    seed = default_seed(many, base_year=YEAR)
    journals = seed["per_division"][str(NL)]["journals"]
    gls = seed["per_division"][str(NL)]["glaccounts"]
    assert len({j["Code"] for j in journals}) == len(journals) == 122
    assert len({g["Code"] for g in gls}) == len(gls)


def test_four_years_of_monthly_periods_and_one_closed():
    seed = default_seed(ACCOUNTS, base_year=YEAR)
    periods = seed["per_division"][str(NL)]["periods"]
    assert len(periods) == 48
    assert {p["FinYear"] for p in periods} == {YEAR - 2, YEAR - 1, YEAR, YEAR + 1}
    closed = {(s["Year"], s["Period"]) for s in seed["per_division"][str(NL)]["journal_status"]
              if s["Status"] == 1}
    assert closed == {(YEAR - 2, 1)}


def test_non_calendar_fiscal_year():
    seed = default_seed(ACCOUNTS, base_year=YEAR, fiscal_year_start_month=4)
    p = {(x["FinYear"], x["FinPeriod"]): x for x in seed["per_division"][str(NL)]["periods"]}
    assert (p[(YEAR, 1)]["StartDate"], p[(YEAR, 1)]["EndDate"]) == ("%d-04-01" % YEAR, "%d-04-30" % YEAR)
    assert p[(YEAR, 10)]["StartDate"] == "%d-01-01" % (YEAR + 1)
    api = Api()
    api.core = type(api.core)(seed, api.clock, webhook_async=False)
    api.login()
    e = entry([{"Date": "%d-03-05" % YEAR, "AmountFC": 5.0, "GLAccount": gl("4000")}])
    del e["FinancialYear"], e["FinancialPeriod"]
    status, _h, body = api.post_entry(e)
    assert status == 201
    assert (body["d"]["FinancialYear"], body["d"]["FinancialPeriod"]) == (YEAR - 1, 12)
    status, _h, body = api.post_entry(entry())        # says 2026/3, but March is 2025/12 here
    assert status == 500 and "not in financial period" in body["error"]["message"]["value"]


def test_gl_accounts_include_suspense_blocked_and_mandatory_cost_center():
    api = Api()
    api.login()
    _s, _h, body = api.get("financial/GLAccounts", **{
        "$select": "Code,Type,IsBlocked,UseCostcenter",
        "$filter": "Code eq '2300' or Code eq '4900' or Code eq '4100'"})
    rows = {r["Code"]: r for r in body["d"]["results"]}
    assert rows["2300"]["Type"] == 90 and rows["4900"]["IsBlocked"] and rows["4100"]["UseCostcenter"] == 1
    _s, _h, body = api.get("hrm/Costcenters", **{"$select": "Code"})
    assert [r["Code"] for r in body["d"]["results"]] != []
