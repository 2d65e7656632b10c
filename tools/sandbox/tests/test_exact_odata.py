"""Exact emulator: the OData v2 subset ($select, $filter, paging) (reference §6)."""

import datetime as dt
from urllib.parse import parse_qs, urlsplit

import pytest

import exact_odata as od
from exact_odata import DATETIME, DECIMAL, GUID, INT, STRING, EntitySet, ODataError
from test_exact_harness import NL, YEAR, Api, entry, error_text, gl

THING = EntitySet("test/Things", "Exact.Web.Api.Models.Test.Thing", {
    "ID": GUID, "Code": STRING, "Amount": DECIMAL, "Count": INT, "Date": DATETIME}, "ID")
G1 = "3f2504e0-4f89-11d3-9a0c-0305e82c3301"
ROWS = [
    {"ID": G1, "Code": "O'Brien", "Amount": 10.5, "Count": 1, "Date": dt.datetime(2026, 1, 31)},
    {"ID": "00000000-0000-0000-0000-000000000002", "Code": "alpha", "Amount": -3.0, "Count": 2,
     "Date": dt.datetime(2026, 2, 1)},
    {"ID": "00000000-0000-0000-0000-000000000003", "Code": "Beta", "Amount": 0.0, "Count": 3,
     "Date": None},
]


def codes(text):
    pred = od.parse_filter(text, THING)
    return sorted(r["Code"] for r in ROWS if pred(r))


@pytest.mark.parametrize("text,expected", [
    ("Count eq 2", ["alpha"]),
    ("Count ne 2", ["Beta", "O'Brien"]),
    ("Count gt 1", ["Beta", "alpha"]),
    ("Count ge 2", ["Beta", "alpha"]),
    ("Count lt 2", ["O'Brien"]),
    ("Count le 2", ["O'Brien", "alpha"]),
    ("Amount gt 10.25", ["O'Brien"]),
    ("Amount lt -2.5M", ["alpha"]),
    ("Count eq 1 or Count eq 3", ["Beta", "O'Brien"]),
    ("Count ge 1 and Count le 2 and Amount lt 0", ["alpha"]),
    ("(Count eq 1 or Count eq 2) and Amount gt 0", ["O'Brien"]),
    ("Count eq 1 or (Count eq 2 and Amount gt 0)", ["O'Brien"]),
    ("not (Count eq 1)", ["Beta", "alpha"]),
    ("Code eq 'O''Brien'", ["O'Brien"]),
    ("Code eq 'ALPHA'", ["alpha"]),                     # SQL Server collation: case-insensitive
    ("ID eq guid'3F2504E0-4F89-11D3-9A0C-0305E82C3301'", ["O'Brien"]),
    ("Date ge datetime'2026-02-01T00:00:00'", ["alpha"]),
    ("Date lt datetime'2026-02-01'", ["O'Brien"]),
    ("Date eq null", ["Beta"]),
    ("startswith(Code,'al')", ["alpha"]),
    ("substringof('rie', Code)", ["O'Brien"]),
])
def test_filter_operators_and_literals(text, expected):
    assert codes(text) == expected


@pytest.mark.parametrize("text,fragment", [
    ("Nope eq 1", "No property 'Nope' exists in type 'Exact.Web.Api.Models.Test.Thing' at position 0."),
    ("Count eq 'x'", "Operator 'eq' incompatible"),
    ("ID eq '3f2504e0-4f89-11d3-9a0c-0305e82c3301'", "Operator 'eq' incompatible"),
    ("Code eq 'open", "unterminated string"),
    ("Count eq", "Expression expected"),
    ("(Count eq 1", "')' or operator expected"),
    ("Count eq 1 Count", "Syntax error"),
    ("ID eq guid'nope'", "Edm.Guid"),
    ("Count", "boolean"),
])
def test_filter_errors(text, fragment):
    with pytest.raises(ODataError) as exc:
        od.parse_filter(text, THING)
    assert exc.value.status == 400 and fragment in exc.value.message


def test_filter_depth_is_bounded():
    with pytest.raises(ODataError):
        od.parse_filter("(" * 100 + "Count eq 1" + ")" * 100, THING)


def test_date_format():
    assert od.date_to_json(dt.datetime(2026, 3, 15)) == "/Date(1773532800000)/"
    assert od.parse_datetime("/Date(1773532800000)/") == dt.datetime(2026, 3, 15)
    assert od.parse_datetime("2026-03-15T10:11:12.5Z") == dt.datetime(2026, 3, 15, 10, 11, 12, 500000)
    assert od.parse_datetime("15-03-2026") is None


# ---- through the API ------------------------------------------------------------------------------

def test_select_required_with_exact_text():
    api = Api()
    api.login()
    status, _h, body = api.get("financialtransaction/BankEntries")
    assert status == 400
    assert error_text(body) == "Please add a $select or a $top=1 statement to the query string."
    assert body["error"]["code"] == "" and body["error"]["message"]["lang"] == ""
    assert api.get("financialtransaction/BankEntries", **{"$top": "1"})[0] == 200
    assert api.get("financialtransaction/BankEntries", **{"$select": "EntryID"})[0] == 200
    # endpoints without the rule answer without $select
    assert api.get("financial/Journals")[0] == 200


def test_select_returns_only_the_named_fields():
    api = Api()
    api.login()
    _s, _h, body = api.get("financial/GLAccounts", **{"$select": "Code,IsBlocked",
                                                      "$filter": "Code eq '4900'"})
    (row,) = body["d"]["results"]
    assert set(row) == {"__metadata", "Code", "IsBlocked"} and row["IsBlocked"] is True


def test_unknown_filter_field_is_400_with_exact_error_body():
    api = Api()
    api.login()
    status, _h, body = api.get("financial/Journals", **{"$filter": "Bogus eq 12"})
    assert status == 400 and "No property 'Bogus'" in error_text(body)


def test_journals_filter_bank_type_and_iban():
    api = Api()
    api.login()
    _s, _h, body = api.get("financial/Journals", **{
        "$select": "Code,Currency,BankAccountIBAN,GLAccount,IsBlocked",
        "$filter": "Type eq 12 and BankAccountIBAN eq 'NL91ABNA0417164300'"})
    (row,) = body["d"]["results"]
    assert row["Code"] == "20" and row["Currency"] == "EUR" and row["IsBlocked"] is False


def many_lines(n, day=2):
    return [{"Date": "2026-03-%02d" % day, "AmountFC": 1.0, "GLAccount": gl("4000"),
             "Notes": "line %d" % i} for i in range(n)]


def test_next_paging_across_three_pages_and_inlinecount():
    api = Api()
    api.login()
    assert api.post_entry(entry(many_lines(150)))[0] == 201
    seen = []
    query = {"$select": "ID,Notes", "$filter": "AmountFC gt 0", "$inlinecount": "allpages"}
    pages = 0
    while True:
        status, _h, body = api.get("financialtransaction/BankEntryLines", **query)
        assert status == 200
        pages += 1
        d = body["d"]
        assert d["__count"] == "150"
        seen += [r["ID"] for r in d["results"]]
        if "__next" not in d:
            assert len(d["results"]) == 30
            break
        assert len(d["results"]) == 60
        nxt = urlsplit(d["__next"])
        assert nxt.netloc == "start.exactonline.nl"
        assert nxt.path == "/api/v1/%d/financialtransaction/BankEntryLines" % NL
        query = {k: v[0] for k, v in parse_qs(nxt.query).items()}
        assert query["$skiptoken"].startswith("guid'")
        assert query["$filter"] == "AmountFC gt 0"          # __next keeps the query
    assert pages == 3
    assert len(seen) == len(set(seen)) == 150


def test_top_and_orderby():
    api = Api()
    api.login()
    lines = [{"Date": "2026-03-02", "AmountFC": float(a), "GLAccount": gl("4000")} for a in (5, -2, 9, 1)]
    api.post_entry(entry(lines))
    _s, _h, body = api.get("financialtransaction/BankEntryLines",
                           **{"$select": "AmountFC", "$orderby": "AmountFC desc", "$top": "3"})
    assert [r["AmountFC"] for r in body["d"]["results"]] == [9.0, 5.0, 1.0]
    assert "__next" not in body["d"]


def test_orderby_paging_has_no_gaps():
    api = Api(page_size=4)
    api.login()
    lines = [{"Date": "2026-03-02", "AmountFC": float(a), "GLAccount": gl("4000")} for a in range(10)]
    api.post_entry(entry(lines))
    query = {"$select": "AmountFC", "$orderby": "AmountFC desc"}
    got = []
    while True:
        _s, _h, body = api.get("financialtransaction/BankEntryLines", **query)
        got += [r["AmountFC"] for r in body["d"]["results"]]
        if "__next" not in body["d"]:
            break
        query = {k: v[0] for k, v in parse_qs(urlsplit(body["d"]["__next"]).query).items()}
    assert got == [float(a) for a in range(9, -1, -1)]


def test_expand_lines_and_single_entity_get():
    api = Api()
    api.login()
    _s, _h, created = api.post_entry(entry())
    eid = created["d"]["EntryID"]
    status, _h, body = api.call("GET", "/api/v1/%d/financialtransaction/BankEntries(guid'%s')" % (NL, eid),
                                {"$select": "EntryNumber,BankEntryLines/AmountFC",
                                 "$expand": "BankEntryLines"})
    assert status == 200
    assert [l["AmountFC"] for l in body["d"]["BankEntryLines"]["results"]] == [-42.5, 100.0]
    _s, _h, body = api.get("financialtransaction/BankEntries", **{"$select": "EntryID,BankEntryLines"})
    assert "__deferred" in body["d"]["results"][0]["BankEntryLines"]


def test_count_segment():
    api = Api()
    api.login()
    api.post_entry(entry())
    status, _h, body = api.call("GET", "/api/v1/%d/financialtransaction/BankEntryLines/$count" % NL)
    assert status == 200 and body == 2


def test_dates_come_back_as_date_ms():
    api = Api()
    api.login()
    _s, _h, body = api.get("financial/FinancialPeriods", **{
        "$select": "FinYear,FinPeriod,StartDate,EndDate",
        "$filter": "FinYear eq %d and FinPeriod eq 3" % YEAR})
    (row,) = body["d"]["results"]
    assert row["StartDate"] == od.date_to_json(dt.datetime(YEAR, 3, 1))
    assert row["EndDate"] == od.date_to_json(dt.datetime(YEAR, 3, 31))


def test_skip_is_refused():
    api = Api()
    api.login()
    assert api.get("financial/Journals", **{"$skip": "5"})[0] == 400


def test_filter_required_where_a_sync_endpoint_exists():
    api = Api()
    api.login()
    status, _h, body = api.get("financial/GLAccounts", **{"$select": "Code"})
    assert status == 400 and "sync/Financial/GLAccounts" in error_text(body)
    status, _h, body = api.get("bulk/Financial/TransactionLines", **{"$select": "ID"})
    assert status == 400 and "$filter" in error_text(body)
    assert api.get("financial/GLAccounts", **{"$select": "Code", "$filter": "Type eq 12"})[0] == 200
    relaxed = Api(filter_required=False)
    relaxed.login()
    assert relaxed.get("financial/GLAccounts", **{"$select": "Code"})[0] == 200


def test_consent_limited_to_some_divisions():
    from test_exact_harness import UK
    api = Api(consent_divisions=[NL])
    api.login()
    _s, _h, body = api.get("system/Divisions", **{"$select": "Code"})
    assert [r["Code"] for r in body["d"]["results"]] == [NL]
    _s, _h, body = api.get("system/AllDivisions", **{"$select": "Code"})
    assert len(body["d"]["results"]) == 3
    status, h, _b = api.get("financial/Journals", division=UK)
    assert status == 403 and h["Reason"] == "NoDivisionAccess"
