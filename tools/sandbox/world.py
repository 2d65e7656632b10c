"""Seeded, deterministic bank world behind the Plaid emulator.

Owns: institutions, accounts (EUR/GBP/USD depository with valid IBANs or US account/routing
numbers, credit cards), the transaction history and the append-only change log that
/transactions/sync pages through. It does not know about HTTP, items or tokens (plaid_emulator.py).

Same seed (and same `today`) -> same accounts, ids, amounts and the same changes from
advance_days(n), however the days are split across calls: each simulated day draws from its own
random stream seeded with (seed, day number).

Memory: a transaction is a __slots__ object of ints and short strings (~200 bytes); the Plaid JSON
shape is built only when a transaction is sent, so 100,000 transactions stay around 30 MB.
"""

import datetime as _dt
import random
import string

_B62 = string.digits + string.ascii_letters

# (institution_id, name, country, currency, bic, [(type, subtype, name, opening balance cents, limit cents)])
INSTITUTIONS = [
    ("ins_109508", "First Platypus Bank", "US", "USD", None, [
        ("depository", "checking", "Plaid Checking", 1_250_000, None),
        ("depository", "savings", "Plaid Saving", 5_000_000, None),
        ("credit", "credit card", "Plaid Credit Card", 41_000, 2_000_000),
    ]),
    ("ins_120001", "Tulip Bank", "NL", "EUR", "TULPNL2A", [
        ("depository", "checking", "Zakelijke Rekening", 2_480_000, 500_000),
        ("depository", "savings", "Spaarrekening", 10_000_000, None),
    ]),
    ("ins_120002", "Tartan Bank", "GB", "GBP", "TRTNGB2L", [
        ("depository", "checking", "Business Current Account", 1_800_000, None),
        ("credit", "credit card", "Business Credit Card", 15_000, 1_000_000),
    ]),
    ("ins_120003", "Rhein Kreditbank", "DE", "EUR", "RHKBDEFF", [
        ("depository", "checking", "Geschaeftskonto", 3_100_000, None),
    ]),
]

# Consent expiry applies to UK/EU institutions ("typically expires after 180 days", plaid.md 2.5).
CONSENT_DAYS = {"NL": 180, "GB": 90, "DE": 180}

# name, merchant, amount range in cents (positive = money out), payment_channel, transaction_code,
# personal_finance_category (primary, detailed), tip-prone
_SPEND = [
    ("Albert Heijn 1234", "Albert Heijn", (350, 9_500), "in store", "purchase", ("FOOD_AND_DRINK", "FOOD_AND_DRINK_GROCERIES"), False),
    ("Tesco Stores 3021", "Tesco", (400, 12_000), "in store", "purchase", ("FOOD_AND_DRINK", "FOOD_AND_DRINK_GROCERIES"), False),
    ("Starbucks", "Starbucks", (300, 1_500), "in store", "purchase", ("FOOD_AND_DRINK", "FOOD_AND_DRINK_COFFEE"), True),
    ("Uber 063015 SF**POOL**", "Uber", (600, 6_000), "online", "purchase", ("TRANSPORTATION", "TRANSPORTATION_TAXIS_AND_RIDE_SHARES"), True),
    ("Restaurant De Kas", None, (2_500, 24_000), "in store", "purchase", ("FOOD_AND_DRINK", "FOOD_AND_DRINK_RESTAURANT"), True),
    ("AMAZON MKTPLACE PMTS", "Amazon", (900, 45_000), "online", "purchase", ("GENERAL_MERCHANDISE", "GENERAL_MERCHANDISE_ONLINE_MARKETPLACES"), False),
    ("Shell Station 77", "Shell", (2_000, 11_000), "in store", "purchase", ("TRANSPORTATION", "TRANSPORTATION_GAS"), False),
    ("KLM Royal Dutch Airlines", "KLM", (9_000, 120_000), "online", "purchase", ("TRAVEL", "TRAVEL_FLIGHTS"), False),
    ("Office Centre Supplies", None, (1_500, 30_000), "online", "purchase", ("GENERAL_MERCHANDISE", "GENERAL_MERCHANDISE_OFFICE_SUPPLIES"), False),
    ("Café 't Hoekje – lunch", None, (800, 6_500), "in store", "purchase", ("FOOD_AND_DRINK", "FOOD_AND_DRINK_RESTAURANT"), True),
]
_BANK = [
    ("Monthly account fee", None, (500, 1_500), "other", "bank charge", ("BANK_FEES", "BANK_FEES_OTHER_BANK_FEES")),
    ("ATM withdrawal", None, (2_000, 20_000), "in store", "atm", ("TRANSFER_OUT", "TRANSFER_OUT_WITHDRAWAL")),
    ("Direct debit Energie BV", "Energie BV", (8_000, 40_000), "other", "direct debit", ("RENT_AND_UTILITIES", "RENT_AND_UTILITIES_GAS_AND_ELECTRICITY")),
    ("Invoice %04d paid by customer", None, (-250_000, -5_000), "other", "transfer", ("INCOME", "INCOME_OTHER_INCOME")),
    ("Salary payment", None, (150_000, 600_000), "other", "transfer", ("TRANSFER_OUT", "TRANSFER_OUT_ACCOUNT_TRANSFER")),
    ("Interest", None, (-3_000, -10), "other", "interest", ("INCOME", "INCOME_INTEREST_EARNED")),
]
_CARD_PAYMENT = ("Credit card payment - thank you", None, (-80_000, -10_000), "other", "transfer", ("LOAN_PAYMENTS", "LOAN_PAYMENTS_CREDIT_CARD_PAYMENT"))


def iban_check_digits(country, bban):
    """ISO 13616 check digits: 98 - (bban + country + '00' as digits) mod 97."""
    s = "".join(str(int(c, 36)) for c in (bban + country + "00").upper())
    return "%02d" % (98 - int(s) % 97)


def iban_valid(iban):
    iban = iban.replace(" ", "").upper()
    if len(iban) < 15 or not iban[:2].isalpha() or not iban[2:4].isdigit():
        return False
    s = "".join(str(int(c, 36)) for c in iban[4:] + iban[:4])
    return int(s) % 97 == 1


def aba_routing(rng):
    """A 9-digit ABA routing number with a valid 3-7-1 checksum."""
    d = [rng.randrange(10) for _ in range(8)]
    d[0] = rng.choice((0, 1, 2, 3))   # Federal Reserve district prefixes start 00-12 / 21-32
    s = 3 * (d[0] + d[3] + d[6]) + 7 * (d[1] + d[4] + d[7]) + (d[2] + d[5])
    d.append((10 - s % 10) % 10)
    return "".join(map(str, d))


def _digits(rng, n):
    return "".join(str(rng.randrange(10)) for _ in range(n))


def _plaid_id(rng, n=37):
    bits = rng.getrandbits(6 * n)
    out = []
    for _ in range(n):
        out.append(_B62[(bits & 63) % 62])
        bits >>= 6
    return "".join(out)


class Account:
    __slots__ = ("idx", "account_id", "institution_id", "institution_name", "country", "currency",
                 "type", "subtype", "name", "official_name", "mask", "iban", "bic", "account_number",
                 "routing", "wire_routing", "sort_code", "opening_cents", "limit_cents",
                 "posted_cents", "pending_cents", "bank_code")

    def bank_dict(self):
        """Shape agreed with exact_seed.default_seed(accounts)."""
        return {"iban": self.iban, "account_number": self.account_number, "currency": self.currency,
                "name": "%s %s" % (self.institution_name, self.name), "plaid_account_id": self.account_id,
                "institution_id": self.institution_id, "type": self.type, "subtype": self.subtype,
                "bic": self.bic, "mask": self.mask}


class Txn:
    """One transaction version. Dates are date ordinals; money is integer cents (+ = out)."""
    __slots__ = ("txn_id", "acct", "date", "auth_date", "amount", "pending", "pending_txn_id",
                 "tmpl", "ref", "name_override", "live", "last_seq", "settle_on", "tip", "vanish")

    def __init__(self, txn_id, acct, date, auth_date, amount, pending, tmpl, ref):
        self.txn_id = txn_id
        self.acct = acct
        self.date = date
        self.auth_date = auth_date
        self.amount = amount
        self.pending = pending
        self.pending_txn_id = None
        self.tmpl = tmpl
        self.ref = ref
        self.name_override = None
        self.live = True
        self.last_seq = 0
        self.settle_on = None
        self.tip = 0
        self.vanish = False


class World:
    """Deterministic world. `today` (datetime.date) anchors dates; it defaults to the UTC date."""

    def __init__(self, seed=42, months=24, txn_count=None, today=None):
        self.seed = int(seed)
        self.months = int(months)
        self.today = today or _dt.datetime.now(_dt.timezone.utc).date()
        self.start_today = self.today
        self.day_no = 0                   # days advanced since creation
        self.accounts = []
        self.txns = {}                    # txn_id -> Txn (live and dead; dead kept for the log)
        self.by_account = []              # account idx -> list of txn_ids in creation order
        self.log = []                     # change log: (seq, kind, txn_id, account idx); seq = index+1
        self._custom_n = 0
        rng = random.Random("world:%d" % self.seed)
        self._make_accounts(rng)
        days = max(1, self.months) * 30
        self._generate_history(rng, days, txn_count)

    # ---- construction --------------------------------------------------------------------------
    def _make_accounts(self, rng):
        for ins_id, ins_name, country, ccy, bic, accts in INSTITUTIONS:
            bank_code = "".join(rng.choice(string.ascii_uppercase) for _ in range(4))
            blz = _digits(rng, 8)
            for typ, sub, name, opening, limit in accts:
                a = Account()
                a.idx = len(self.accounts)
                a.account_id = _plaid_id(rng)
                a.institution_id, a.institution_name, a.country, a.currency = ins_id, ins_name, country, ccy
                a.type, a.subtype, a.name = typ, sub, name
                a.official_name = "%s %s" % (ins_name, name)
                a.iban = a.bic = a.account_number = a.routing = a.wire_routing = a.sort_code = None
                a.bank_code = bank_code
                a.opening_cents, a.limit_cents = opening, limit
                a.posted_cents = a.pending_cents = 0
                if typ == "credit":
                    number = "4" + _digits(rng, 15)
                    a.mask = number[-4:]
                    a.account_number = number
                elif country == "US":
                    a.account_number = _digits(rng, 10)
                    a.routing = aba_routing(rng)
                    a.wire_routing = aba_routing(rng)
                    a.mask = a.account_number[-4:]
                else:
                    if country == "NL":
                        bban = bank_code + _digits(rng, 10)
                    elif country == "GB":
                        a.sort_code = _digits(rng, 6)
                        a.account_number = _digits(rng, 8)
                        bban = bank_code + a.sort_code + a.account_number
                    else:  # DE: 8-digit Bankleitzahl + 10-digit account
                        bban = blz + _digits(rng, 10)
                    a.iban = country + iban_check_digits(country, bban) + bban
                    a.bic = bic
                    a.mask = a.iban[-4:]
                self.accounts.append(a)
                self.by_account.append([])

    def _new_id(self, rng):
        while True:
            tid = _plaid_id(rng)
            if tid not in self.txns:
                return tid

    def _pick(self, rng, acct):
        """Pick a transaction template suited to the account: (tmpl index, amount cents)."""
        r = rng.random()
        if acct.type == "credit":   # card payments come once a month, see _pay_cards
            i = rng.randrange(len(_SPEND))
            k = ("spend", i)
            lo, hi = _SPEND[i][2]
        elif acct.subtype == "savings":
            i = 5 if r < 0.3 else 3
            k = ("bank", i)
            lo, hi = _BANK[i][2]
        elif r < 0.7:
            i = rng.randrange(len(_SPEND))
            k = ("spend", i)
            lo, hi = _SPEND[i][2]
        else:
            i = rng.randrange(len(_BANK))
            k = ("bank", i)
            lo, hi = _BANK[i][2]
        return k, rng.randint(lo, hi)

    def _generate_history(self, rng, days, txn_count):
        n_acct = len(self.accounts)
        if txn_count is None:
            txn_count = max(300, days * n_acct * 12 // 10)   # ~1.2 a day per account
        per_day = txn_count / float(days)
        first = self.today.toordinal() - days + 1
        # Spread txn_count over the days deterministically: cumulative rounding, no drift.
        made = 0
        for d in range(days):
            target = int(round(per_day * (d + 1)))
            date = first + d
            made += self._pay_cards(rng, date, made, log=False)
            made += self._income(rng, date, made, log=False)
            while made < target:
                acct = self.accounts[rng.randrange(n_acct)]
                tmpl, amount = self._pick(rng, acct)
                lag = rng.choice((0, 0, 1, 1, 2, 3)) if tmpl[0] == "spend" else 0
                t = Txn(self._new_id(rng), acct.idx, date, date - lag, amount, False, tmpl, made)
                self.txns[t.txn_id] = t
                self.by_account[acct.idx].append(t.txn_id)
                acct.posted_cents += amount
                made += 1
        # Depository: the configured balance is today's; work the opening balance back from it so
        # the balance stays positive through the whole history.
        for acct in self.accounts:
            if acct.type == "depository":
                acct.opening_cents += acct.posted_cents
        # A few pending transactions in the last days (they settle during advance_days).
        for acct in self.accounts:
            if acct.subtype == "savings":
                continue
            for _ in range(rng.randint(1, 3)):
                self._add_pending(rng, acct, self.today.toordinal() - rng.randint(0, 2), log=False)

    def _pay_cards(self, rng, date, ref, log=True):
        """On the 5th of each month every card's owed balance is paid off (keeps balances sane)."""
        if _dt.date.fromordinal(date).day != 5:
            return 0
        n = 0
        for acct in self.accounts:
            owed = acct.opening_cents + acct.posted_cents
            if acct.type != "credit" or owed <= 0:
                continue
            t = Txn(self._new_id(rng), acct.idx, date, date, -owed, False, ("card",), ref + n)
            self.txns[t.txn_id] = t
            self.by_account[acct.idx].append(t.txn_id)
            acct.posted_cents -= owed
            if log:
                self._log("add", t)
            n += 1
        return n

    def _income(self, rng, date, ref, log=True):
        """On the 25th customers pay: one incoming transfer per checking account (money in < 0)."""
        if _dt.date.fromordinal(date).day != 25:
            return 0
        n = 0
        for acct in self.accounts:
            if acct.subtype != "checking":
                continue
            t = Txn(self._new_id(rng), acct.idx, date, date, -rng.randint(200_000, 900_000), False, ("bank", 3), ref + n)
            self.txns[t.txn_id] = t
            self.by_account[acct.idx].append(t.txn_id)
            acct.posted_cents += t.amount
            if log:
                self._log("add", t)
            n += 1
        return n

    def _add_pending(self, rng, acct, date, log=True):
        i = rng.randrange(len(_SPEND))
        lo, hi = _SPEND[i][2]
        t = Txn(self._new_id(rng), acct.idx, date, date, rng.randint(lo, hi), True, ("spend", i), rng.randrange(10_000))
        t.settle_on = date + rng.randint(1, 5)
        t.tip = int(t.amount * rng.choice((10, 15, 18, 20)) / 100) if _SPEND[i][6] and rng.random() < 0.5 else 0
        t.vanish = rng.random() < 0.05   # authorisation hold that never posts
        self.txns[t.txn_id] = t
        self.by_account[acct.idx].append(t.txn_id)
        acct.pending_cents += t.amount
        if log:
            self._log("add", t)
        return t

    # ---- change log ----------------------------------------------------------------------------
    @property
    def head(self):
        return len(self.log)

    def _log(self, kind, t):
        seq = len(self.log) + 1
        self.log.append((seq, kind, t.txn_id, t.acct))
        t.last_seq = seq

    def _remove(self, t):
        t.live = False
        acct = self.accounts[t.acct]
        if t.pending:
            acct.pending_cents -= t.amount
        else:
            acct.posted_cents -= t.amount
        self._log("remove", t)

    # ---- moving on -----------------------------------------------------------------------------
    def advance_days(self, n=1):
        """Move the world n days on. Returns the set of account indices that changed."""
        changed = set()
        for _ in range(int(n)):
            self.day_no += 1
            self.today = self.today + _dt.timedelta(days=1)
            changed |= self._one_day()
        return changed

    def _one_day(self):
        rng = random.Random("day:%d:%d" % (self.seed, self.day_no))
        today = self.today.toordinal()
        changed = set()
        if self._pay_cards(rng, today, rng.randrange(10_000)):
            changed |= {a.idx for a in self.accounts if a.type == "credit"}
        if self._income(rng, today, rng.randrange(10_000)):
            changed |= {a.idx for a in self.accounts if a.subtype == "checking"}
        for acct in self.accounts:
            ids = self.by_account[acct.idx]
            # 1. pendings due today settle (or vanish); a tip makes the posted amount bigger.
            due = [self.txns[i] for i in ids[-400:] if self.txns[i].live and self.txns[i].pending
                   and self.txns[i].settle_on is not None and self.txns[i].settle_on <= today]
            for p in due:
                self._remove(p)
                changed.add(acct.idx)
                if p.vanish:
                    continue
                t = Txn(self._new_id(rng), acct.idx, today, p.auth_date, p.amount + p.tip, False, p.tmpl, p.ref)
                # Some institutions cannot match them: the posted one then has no pending link.
                t.pending_txn_id = p.txn_id if rng.random() < 0.9 else None
                self.txns[t.txn_id] = t
                ids.append(t.txn_id)
                acct.posted_cents += t.amount
                self._log("add", t)
            # 2. new activity: pendings for card-like spending, direct postings for bank items.
            if acct.subtype != "savings":
                for _ in range(rng.choice((0, 1, 1, 2, 3))):
                    self._add_pending(rng, acct, today)
                    changed.add(acct.idx)
            if rng.random() < 0.35:
                tmpl, amount = self._pick(rng, acct)
                t = Txn(self._new_id(rng), acct.idx, today, today, amount, False, tmpl, rng.randrange(10_000))
                self.txns[t.txn_id] = t
                ids.append(t.txn_id)
                acct.posted_cents += amount
                self._log("add", t)
                changed.add(acct.idx)
            # 3. now and then a posted one is corrected (modified) or withdrawn (removed).
            r = rng.random()
            if r < 0.12:
                recent = [self.txns[i] for i in ids[-60:] if self.txns[i].live and not self.txns[i].pending]
                if recent:
                    t = rng.choice(recent)
                    if r < 0.03:
                        self._remove(t)
                    else:
                        old = t.amount
                        if rng.random() < 0.5:
                            t.amount = old + rng.choice((-100, 100, 250))   # corrected by the bank
                            if t.amount == 0:
                                t.amount = old
                        else:
                            t.name_override = self.describe(t).upper() + " (CORRECTED)"
                        acct.posted_cents += t.amount - old
                        self._log("modify", t)
                    changed.add(acct.idx)
        return changed

    def add_custom(self, acct_idx, items):
        """/sandbox/transactions/create: items = [{date_transacted, date_posted, amount, description,
        iso_currency_code?}] as posted transactions on the account. Returns the new Txns."""
        acct = self.accounts[acct_idx]
        rng = random.Random("custom:%d:%d" % (self.seed, self._custom_n))
        out = []
        for it in items:
            self._custom_n += 1
            cents = int(round(float(it["amount"]) * 100))
            posted = _dt.date.fromisoformat(it["date_posted"]).toordinal()
            authd = _dt.date.fromisoformat(it["date_transacted"]).toordinal()
            t = Txn(self._new_id(rng), acct_idx, posted, authd, cents, False, ("custom",), self._custom_n)
            t.name_override = str(it["description"])
            self.txns[t.txn_id] = t
            self.by_account[acct_idx].append(t.txn_id)
            acct.posted_cents += cents
            self._log("add", t)
            out.append(t)
        return out

    # ---- reading -------------------------------------------------------------------------------
    def template(self, t):
        k = t.tmpl
        if k[0] == "spend":
            return _SPEND[k[1]]
        if k[0] == "bank":
            return _BANK[k[1]]
        if k[0] == "card":
            return _CARD_PAYMENT
        return ("Custom transaction", None, None, "other", None, ("GENERAL_MERCHANDISE", "GENERAL_MERCHANDISE_OTHER_GENERAL_MERCHANDISE"))

    def describe(self, t):
        if t.name_override is not None:
            return t.name_override
        name = self.template(t)[0]
        return name % (t.ref % 10_000) if "%" in name else name

    def live_txns(self, account_idxs):
        """Live transactions of the given accounts, oldest change first (ties: creation order)."""
        out = []
        for a in sorted(account_idxs):
            out.extend(t for t in (self.txns[i] for i in self.by_account[a]) if t.live)
        out.sort(key=lambda t: t.last_seq)
        return out

    def balances(self, acct):
        """(available, current, limit) in cents, Plaid's meaning (credit: current = amount owed)."""
        if acct.type == "credit":
            current = acct.opening_cents + acct.posted_cents
            available = acct.limit_cents - current - acct.pending_cents
            return available, current, acct.limit_cents
        current = acct.opening_cents - acct.posted_cents
        available = current - acct.pending_cents
        return available, current, acct.limit_cents

    def bank_accounts(self):
        """Every account in the shape exact_seed.default_seed() takes."""
        return [a.bank_dict() for a in self.accounts]

    def institution(self, ins_id):
        for ins in INSTITUTIONS:
            if ins[0] == ins_id:
                return ins
        return None

    def accounts_of(self, ins_id):
        return [a for a in self.accounts if a.institution_id == ins_id]

    def truth(self, include_txns=True):
        """Everything the world knows, for /__admin/truth and end-to-end assertions."""
        accts = []
        for a in self.accounts:
            av, cur, lim = self.balances(a)
            d = a.bank_dict()
            d.update({"available_cents": av, "current_cents": cur, "limit_cents": lim,
                      "routing": a.routing, "sort_code": a.sort_code})
            accts.append(d)
        out = {"seed": self.seed, "today": self.today.isoformat(), "days_advanced": self.day_no,
               "log_head": self.head, "accounts": accts,
               "live_count": sum(1 for t in self.txns.values() if t.live)}
        if include_txns:
            out["transactions"] = [
                {"transaction_id": t.txn_id, "account_id": self.accounts[t.acct].account_id,
                 "date": _dt.date.fromordinal(t.date).isoformat(), "amount_cents": t.amount,
                 "pending": t.pending, "pending_transaction_id": t.pending_txn_id, "name": self.describe(t)}
                for t in self.live_txns(range(len(self.accounts)))]
        return out
