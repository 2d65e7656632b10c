"""Deterministic reference data for the Exact Online emulator.

Owns: the divisions, journals, G/L accounts, cost centers, financial periods and period statuses a
fresh emulator starts with. Same input -> same output (GUIDs are uuid5 of stable names), so tests and
the end-to-end demo can name things. Holds no runtime state: exact_emulator.py copies it.

The seed is plain JSON-able data (dates as "YYYY-MM-DD") so the launcher may print or store it.
"""

import calendar
import datetime as _dt
import uuid

SEED_NAMESPACE = uuid.UUID("6f0e5d1c-3c55-4d0e-9a57-8f1d2f4a9e01")

# (division code, country, currency, description). Accounts are spread by currency; a currency
# without its own office lands in the first division as a foreign-currency bank journal.
DIVISIONS = [
    (100001, "NL", "EUR", "Sandbox Holding B.V. (NL)"),
    (100002, "GB", "GBP", "Sandbox Trading Ltd (UK)"),
    (100003, "US", "USD", "Sandbox Inc. (US)"),
]

# Exact G/L account types (reference §5.6): 12 Bank, 20 AR, 22 AP, 90 General, 110 Revenue, 120 Other costs
GL_FIXED = [
    # code, description, type, use_costcenter (0 optional, 1 mandatory, 2 no), blocked, balance type
    ("1300", "Accounts receivable", 20, 0, False, "B"),
    ("1600", "Accounts payable", 22, 0, False, "B"),
    ("2300", "To be processed (suspense)", 90, 0, False, "B"),
    ("4000", "General expenses", 120, 0, False, "W"),
    ("4100", "Travel expenses (cost center mandatory)", 120, 1, False, "W"),
    ("4900", "Old expenses (blocked)", 120, 0, True, "W"),
    ("7000", "Bank charges", 120, 2, False, "W"),
    ("8000", "Revenue", 110, 0, False, "W"),
]
SUSPENSE_GL_CODE = "2300"
MANDATORY_CC_GL_CODE = "4100"
BLOCKED_GL_CODE = "4900"

COST_CENTERS = [("100", "Sales"), ("200", "Operations"), ("300", "Administration")]

GENERAL_JOURNAL_CODE = "90"        # Type 90 general journal: a valid journal, but not a bank journal
BLOCKED_BANK_JOURNAL_CODE = "29"   # Type 12 but IsBlocked
FIRST_BANK_JOURNAL_CODE = 20       # bank journals 20, 21, 22, ... per division


def seed_guid(*parts):
    return str(uuid.uuid5(SEED_NAMESPACE, "/".join(str(p) for p in parts)))


def _division_for(currency):
    for code, _country, cur, _desc in DIVISIONS:
        if cur == (currency or "").upper():
            return code
    return DIVISIONS[0][0]


def _periods(first_year, years, start_month):
    """Monthly periods; fiscal year N starts on day 1 of start_month of calendar year N."""
    out = []
    for fy in range(first_year, first_year + years):
        y, m = fy, start_month
        for p in range(1, 13):
            last = calendar.monthrange(y, m)[1]
            out.append({"FinYear": fy, "FinPeriod": p,
                        "StartDate": "%04d-%02d-01" % (y, m),
                        "EndDate": "%04d-%02d-%02d" % (y, m, last)})
            m += 1
            if m > 12:
                y, m = y + 1, 1
    return out


def default_seed(accounts, base_year=None, years=4, fiscal_year_start_month=1,
                 closed_period=None):
    """Reference data for ExactEmulator.

    accounts: list of {"iban","account_number","currency","name","plaid_account_id"} dicts (Plaid
      side); each gets a Type 12 bank journal in the division of its currency.
    base_year: the current fiscal year (default: the current UTC year); periods cover `years`
      years starting two years back (default base_year-2 .. base_year+1), so the launcher's two
      years of Plaid history and a clock moved into next year both find a period.
    fiscal_year_start_month: 1 = calendar years; e.g. 4 = fiscal years April..March.
    closed_period: (year, period) closed on every journal of every division; default the first
      period of the first year, far enough back not to disturb a demo of recent transactions.
    Returns a dict: divisions, user, and per division code (as str): journals, glaccounts,
    costcenters, periods, journal_status; plus "account_map": plaid_account_id -> (division, journal).
    """
    seed = {"divisions": [], "per_division": {}, "account_map": {},
            "user": {"UserID": seed_guid("user", "bookkeeper"), "UserName": "sandbox.bookkeeper",
                     "FullName": "Sandbox Bookkeeper", "Email": "bookkeeper@sandbox.invalid",
                     "LanguageCode": "en-GB", "CurrentDivision": DIVISIONS[0][0]},
            "fiscal_year_start_month": 1}

    by_div = {code: [] for code, _c, _cur, _d in DIVISIONS}
    for acct in accounts or []:
        by_div[_division_for(acct.get("currency"))].append(acct)

    for code, country, currency, desc in DIVISIONS:
        seed["divisions"].append({"Code": code, "Description": desc, "Country": country,
                                  "Currency": currency, "HID": code % 1000,
                                  "Customer": seed_guid(code, "customer"), "Blocked": False,
                                  "Main": code == DIVISIONS[0][0]})
        gls = []
        journals = []
        for gcode, gdesc, gtype, usecc, blocked, btype in GL_FIXED:
            gls.append({"ID": seed_guid(code, "gl", gcode), "Code": gcode, "Description": gdesc,
                        "Type": gtype, "UseCostcenter": usecc, "UseCostunit": 0,
                        "IsBlocked": blocked, "BalanceType": btype,
                        "BalanceSide": "D" if btype == "B" else "C", "Division": code})
        used_j = {GENERAL_JOURNAL_CODE, BLOCKED_BANK_JOURNAL_CODE}
        used_gl = {g[0] for g in GL_FIXED} | {"1090"}
        jnum, glnum = FIRST_BANK_JOURNAL_CODE, 1100
        for acct in by_div[code]:
            while str(jnum) in used_j:          # never collide with the fixed journals
                jnum += 1
            while "%04d" % glnum in used_gl:
                glnum += 1
            jcode, glcode = str(jnum), "%04d" % glnum
            used_j.add(jcode)
            used_gl.add(glcode)
            gl = {"ID": seed_guid(code, "gl", glcode), "Code": glcode,
                  "Description": "Bank %s" % (acct.get("name") or jcode), "Type": 12,
                  "UseCostcenter": 2, "UseCostunit": 2, "IsBlocked": False, "BalanceType": "B",
                  "BalanceSide": "D", "Division": code}
            gls.append(gl)
            iban = acct.get("iban") or ""
            number = acct.get("account_number") or ""
            journals.append({
                "ID": seed_guid(code, "journal", jcode), "Code": jcode,
                "Description": "Bank %s" % (acct.get("name") or jcode), "Type": 12,
                "Currency": (acct.get("currency") or currency).upper(),
                "AllowVariableCurrency": False,
                "GLAccount": gl["ID"], "GLAccountCode": glcode, "GLAccountType": 12,
                "BankAccountID": seed_guid(code, "bankaccount", jcode),
                "BankAccountIBAN": iban,
                "BankAccountBICCode": acct.get("bic") or "",
                # accounts without an IBAN (US) are recognisable by their number here
                "BankAccountIncludingMask": iban or number,
                "BankAccountDescription": acct.get("name") or "",
                "BankName": "Sandbox Bank", "IsBlocked": False, "Division": code})
            seed["account_map"][acct.get("plaid_account_id") or iban or number] = \
                {"division": code, "journal": jcode, "gl_account_code": glcode}
        # a bank journal nobody may post to any more, and a journal that is not a bank journal
        gls.append({"ID": seed_guid(code, "gl", "1090"), "Code": "1090",
                    "Description": "Old bank account", "Type": 12, "UseCostcenter": 2,
                    "UseCostunit": 2, "IsBlocked": False, "BalanceType": "B", "BalanceSide": "D",
                    "Division": code})
        journals.append({"ID": seed_guid(code, "journal", BLOCKED_BANK_JOURNAL_CODE),
                         "Code": BLOCKED_BANK_JOURNAL_CODE, "Description": "Old bank (blocked)",
                         "Type": 12, "Currency": currency, "AllowVariableCurrency": False,
                         "GLAccount": seed_guid(code, "gl", "1090"), "GLAccountCode": "1090",
                         "GLAccountType": 12, "BankAccountID": seed_guid(code, "bankaccount", "29"),
                         "BankAccountIBAN": "%s00SBOX0000000029" % country if country != "US" else "",
                         "BankAccountBICCode": "", "BankAccountIncludingMask": "000000029",
                         "BankAccountDescription": "Old bank",
                         "BankName": "Sandbox Bank", "IsBlocked": True, "Division": code})
        journals.append({"ID": seed_guid(code, "journal", GENERAL_JOURNAL_CODE),
                         "Code": GENERAL_JOURNAL_CODE, "Description": "General journal",
                         "Type": 90, "Currency": currency, "AllowVariableCurrency": True,
                         "GLAccount": None, "GLAccountCode": None, "GLAccountType": None,
                         "BankAccountID": None, "BankAccountIBAN": None, "BankAccountBICCode": None,
                         "BankAccountIncludingMask": None, "BankAccountDescription": None,
                         "BankName": None, "IsBlocked": False, "Division": code})
        costcenters = [{"ID": seed_guid(code, "cc", c), "Code": c, "Description": d,
                        "Active": True, "Division": code} for c, d in COST_CENTERS]
        seed["per_division"][str(code)] = {"journals": journals, "glaccounts": gls,
                                           "costcenters": costcenters}
    return with_periods(seed, base_year, years, fiscal_year_start_month, closed_period)


def with_periods(seed, base_year=None, years=4, fiscal_year_start_month=1, closed_period=None):
    """(Re)build every division's financial periods and journal statuses in `seed` (in place; also
    returned). ExactEmulator calls it when given base_year/fiscal_year_start_month options, so the
    launcher can switch to a non-calendar fiscal year without knowing the accounts."""
    if base_year is None:
        base_year = _dt.datetime.now(_dt.timezone.utc).year
    base_year, years, fiscal_year_start_month = int(base_year), int(years), int(fiscal_year_start_month)
    if not 1 <= fiscal_year_start_month <= 12:
        raise ValueError("fiscal_year_start_month must be 1..12")
    if not 1 <= years <= 50:
        raise ValueError("years must be 1..50")
    first_year = base_year - 2
    if closed_period is None:
        closed_period = (first_year, 1)
    periods = _periods(first_year, years, fiscal_year_start_month)
    seed["fiscal_year_start_month"] = fiscal_year_start_month
    for row in seed["divisions"]:
        code = row["Code"]
        data = seed["per_division"][str(code)]
        data["periods"] = [dict(p, ID=seed_guid(code, "period", p["FinYear"], p["FinPeriod"]),
                                Division=code) for p in periods]
        status = []
        for j in data["journals"]:
            for p in periods:
                closed = (p["FinYear"], p["FinPeriod"]) == tuple(closed_period)
                status.append({"Journal": j["Code"], "JournalType": j["Type"],
                               "Year": p["FinYear"], "Period": p["FinPeriod"],
                               "Status": 1 if closed else 0, "Division": code})
        data["journal_status"] = status
    return seed
