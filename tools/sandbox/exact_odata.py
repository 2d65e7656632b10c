"""The OData v2 subset that Exact Online's REST API speaks, for the Exact emulator.

Owns: $filter parsing and evaluation, $select, $orderby, $top, $skiptoken/__next paging,
$inlinecount, and the /Date(ms)/ value format. Knows nothing about HTTP, tokens or entities'
business rules; exact_emulator.py feeds it an EntitySet description and a list of row dicts.

Values inside the emulator: guid = lowercase str, datetime = naive datetime (Exact's wall clock,
CET in real life; the emulator treats it as UTC when turning it into /Date(ms)/, as Exact does
for date-only fields), decimal = float, int, str, bool, None.
Errors raise ODataError(status, message); message texts follow WCF Data Services, which Exact
runs on ("No property 'X' exists in type 'Y' at position N.").
"""

import datetime as _dt
import math
import re
import uuid
from urllib.parse import quote

MAX_FILTER_CHARS = 4000      # Exact caps a URL at 6000 characters (KB-restr)
MAX_FILTER_DEPTH = 40        # nesting of parentheses/and/or; deeper is a client bug, not a query

GUID = "guid"
STRING = "string"
INT = "int"
DECIMAL = "decimal"
DATETIME = "datetime"
BOOL = "bool"

EDM_NAMES = {GUID: "System.Guid", STRING: "System.String", INT: "System.Int32",
             DECIMAL: "System.Double", DATETIME: "System.DateTime", BOOL: "System.Boolean",
             None: "null"}

EPOCH = _dt.datetime(1970, 1, 1)


class ODataError(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status = status
        self.message = message


class EntitySet:
    """What the query engine needs to know about one Exact endpoint.

    fields: {name: type}; key: key field; page_size: rows per page (60 normal, 1000 bulk/sync);
    select_required: answer 400 without $select (or $top=1); sync_only_timestamp: sync endpoints
    accept only Timestamp in $filter; expand: {nav property: child EntitySet}; filter_required:
    the sync endpoint's path when Exact makes $filter mandatory here (KB-limits, since July 2021).
    """

    def __init__(self, path, type_name, fields, key, page_size=60, select_required=False,
                 sync_only_timestamp=False, expand=None, filter_required=None):
        self.path = path
        self.filter_required = filter_required    # None, or the sync endpoint to point users to
        self.type_name = type_name
        self.fields = fields
        self.key = key
        self.page_size = page_size
        self.select_required = select_required
        self.sync_only_timestamp = sync_only_timestamp
        self.expand = expand or {}


# ---- values --------------------------------------------------------------------------------------

def date_to_json(value):
    """datetime -> "/Date(ms)/" (naive datetimes are taken as UTC)."""
    if value is None:
        return None
    ms = int(round((value - EPOCH).total_seconds() * 1000))
    return "/Date(%d)/" % ms


_DATE_JSON = re.compile(r"^/Date\((-?\d{1,15})([+-]\d{4})?\)/$")
_DATE_ISO = re.compile(r"^(\d{4})-(\d{2})-(\d{2})"
                       r"(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,7}))?)?)?(Z|[+-]\d{2}:?\d{2})?$")


def parse_datetime(text):
    """Accepts /Date(ms)/ and ISO 8601 (date, or date and time); returns naive datetime or None."""
    if not isinstance(text, str) or len(text) > 40:
        return None
    m = _DATE_JSON.match(text)
    if m:
        try:
            return EPOCH + _dt.timedelta(milliseconds=int(m.group(1)))
        except OverflowError:
            return None
    m = _DATE_ISO.match(text)
    if not m:
        return None
    # a zone suffix is accepted and ignored: Exact keeps wall-clock dates (CET), not instants
    y, mo, d, hh, mi, ss, frac, _tz = m.groups()
    try:
        us = int((frac or "0").ljust(6, "0")[:6])
        return _dt.datetime(int(y), int(mo), int(d), int(hh or 0), int(mi or 0), int(ss or 0), us)
    except ValueError:
        return None


def to_json_value(ftype, value):
    if ftype == DATETIME:
        return date_to_json(value)
    return value


def normalise_guid(text):
    """Canonical lowercase GUID text, or None when text is not a GUID."""
    if not isinstance(text, str) or len(text) > 40:
        return None
    try:
        return str(uuid.UUID(text.strip("{}")))
    except ValueError:
        return None


def literal_text(ftype, value):
    """A value as an OData URI literal (for $skiptoken)."""
    if ftype == GUID:
        return "guid'%s'" % value
    if ftype == STRING:
        return "'%s'" % str(value).replace("'", "''")
    if ftype == DATETIME:
        return "datetime'%s'" % value.strftime("%Y-%m-%dT%H:%M:%S")
    return str(value)


# ---- $filter: tokenizer --------------------------------------------------------------------------

_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<typed>(?:guid|datetime|datetimeoffset|time|X|binary)'(?:[^']|'')*')
  | (?P<string>'(?:[^']|'')*')
  | (?P<number>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?[mMdDfFlL]?)
  | (?P<name>[A-Za-z_][A-Za-z0-9_/]*)
  | (?P<punct>[(),])
""", re.VERBOSE)

COMPARE_OPS = ("eq", "ne", "gt", "ge", "lt", "le")
FUNCTIONS = {"substringof": 2, "startswith": 2, "endswith": 2, "tolower": 1, "toupper": 1,
             "trim": 1, "length": 1, "year": 1, "month": 1, "day": 1}


def _tokenize(text):
    tokens = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            if text[pos] == "'":
                raise ODataError(400, "There is an unterminated string literal at position %d in '%s'."
                                 % (pos, text))
            raise ODataError(400, "Syntax error: character '%s' is not valid at position %d in '%s'."
                             % (text[pos], pos, text))
        kind = m.lastgroup
        if kind != "ws":
            tokens.append((kind, m.group(kind), pos))
        pos = m.end()
    tokens.append(("end", "", pos))
    return tokens


# AST nodes are tuples: ("lit", type, value) ("field", name, type) ("cmp", op, l, r)
# ("and", l, r) ("or", l, r) ("not", x) ("call", fname, [args])

class _Parser:
    def __init__(self, text, entity):
        self.text = text
        self.entity = entity
        self.tokens = _tokenize(text)
        self.i = 0
        self.depth = 0
        self.fields_used = set()

    def peek(self):
        return self.tokens[self.i]

    def take(self):
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def error(self, pos, what="Syntax error"):
        return ODataError(400, "%s at position %d in '%s'." % (what, pos, self.text))

    def parse(self):
        node = self.expr()
        kind, val, pos = self.peek()
        if kind != "end":
            raise self.error(pos)
        return node

    def _enter(self, pos):
        self.depth += 1
        if self.depth > MAX_FILTER_DEPTH:
            raise self.error(pos, "The $filter expression is nested too deeply")

    def expr(self):
        self._enter(self.peek()[2])
        left = self.and_expr()
        while self.peek()[0] == "name" and self.peek()[1] == "or":
            self.take()
            left = ("or", left, self.and_expr())
        self.depth -= 1
        return left

    def and_expr(self):
        left = self.unary()
        while self.peek()[0] == "name" and self.peek()[1] == "and":
            self.take()
            left = ("and", left, self.unary())
        return left

    def unary(self):
        kind, val, pos = self.peek()
        if kind == "name" and val == "not":
            self.take()
            self._enter(pos)
            node = ("not", self.unary())
            self.depth -= 1
            return node
        return self.comparison()

    def comparison(self):
        left = self.primary()
        kind, val, pos = self.peek()
        if kind == "name" and val in COMPARE_OPS:
            self.take()
            right = self.primary()
            self._check_types(val, left, right, pos)
            return ("cmp", val, left, right)
        return left

    def primary(self):
        kind, val, pos = self.take()
        if kind == "punct" and val == "(":
            node = self.expr()
            k2, v2, p2 = self.take()
            if (k2, v2) != ("punct", ")"):
                raise self.error(p2, "')' or operator expected")
            return node
        if kind == "string":
            return ("lit", STRING, val[1:-1].replace("''", "'"))
        if kind == "typed":
            prefix, body = val.split("'", 1)
            body = body[:-1].replace("''", "'")
            if prefix == "guid":
                g = normalise_guid(body)
                if g is None:
                    raise self.error(pos, "Unrecognized 'Edm.Guid' literal '%s'" % val)
                return ("lit", GUID, g)
            if prefix in ("datetime", "datetimeoffset"):
                d = parse_datetime(body)
                if d is None:
                    raise self.error(pos, "Unrecognized 'Edm.DateTime' literal '%s'" % val)
                return ("lit", DATETIME, d)
            raise self.error(pos, "Literal '%s' is not supported" % val)
        if kind == "number":
            num = val.rstrip("mMdDfFlL")
            if re.match(r"^-?\d+$", num):
                return ("lit", INT, int(num))
            value = float(num)
            if math.isinf(value) or math.isnan(value):
                raise self.error(pos, "Number '%s' out of range" % val)
            return ("lit", DECIMAL, value)
        if kind == "name":
            if val in ("true", "false"):
                return ("lit", BOOL, val == "true")
            if val == "null":
                return ("lit", None, None)
            if val in FUNCTIONS and self.peek()[:2] == ("punct", "("):
                return self.call(val, pos)
            if val in COMPARE_OPS or val in ("and", "or", "not"):
                raise self.error(pos, "Expression expected")
            ftype = self.entity.fields.get(val)
            if ftype is None:
                raise ODataError(400, "No property '%s' exists in type '%s' at position %d."
                                 % (val, self.entity.type_name, pos))
            if self.entity.sync_only_timestamp and val != "Timestamp":
                raise ODataError(400, "Only the Timestamp property may be used in $filter on sync "
                                      "endpoints; '%s' is not allowed." % val)
            self.fields_used.add(val)
            return ("field", val, ftype)
        raise self.error(pos, "Expression expected")

    def call(self, fname, pos):
        self.take()  # (
        args = []
        while True:
            args.append(self.expr())
            k, v, p = self.take()
            if (k, v) == ("punct", ")"):
                break
            if (k, v) != ("punct", ","):
                raise self.error(p, "',' or ')' expected")
        if len(args) != FUNCTIONS[fname]:
            raise self.error(pos, "Function '%s' takes %d argument(s)" % (fname, FUNCTIONS[fname]))
        return ("call", fname, args)

    def _check_types(self, op, left, right, pos):
        lt, rt = _node_type(left), _node_type(right)
        if lt is None or rt is None or lt == "any" or rt == "any":
            if op not in ("eq", "ne") and (lt is None or rt is None):
                raise ODataError(400, "Operator '%s' incompatible with operand types '%s' and '%s' at "
                                 "position %d." % (op, EDM_NAMES.get(lt, lt), EDM_NAMES.get(rt, rt), pos))
            return
        numeric = (INT, DECIMAL)
        if lt == rt or (lt in numeric and rt in numeric):
            if lt in (GUID, BOOL) and op not in ("eq", "ne"):
                raise ODataError(400, "Operator '%s' incompatible with operand types '%s' and '%s' at "
                                 "position %d." % (op, EDM_NAMES[lt], EDM_NAMES[rt], pos))
            return
        raise ODataError(400, "Operator '%s' incompatible with operand types '%s' and '%s' at position %d."
                         % (op, EDM_NAMES.get(lt, lt), EDM_NAMES.get(rt, rt), pos))


def _node_type(node):
    if node[0] == "lit":
        return node[1]
    if node[0] == "field":
        return node[2]
    if node[0] == "call":
        if node[1] in ("tolower", "toupper", "trim"):
            return STRING
        if node[1] in ("length", "year", "month", "day"):
            return INT
        return BOOL
    return BOOL


def _norm(value):
    """Comparison key: strings compare case-insensitively (Exact runs on SQL Server with a
    case-insensitive collation)."""
    if isinstance(value, str):
        return value.casefold()
    return value


def _eval(node, row):
    kind = node[0]
    if kind == "lit":
        return node[2]
    if kind == "field":
        return row.get(node[1])
    if kind == "and":
        return bool(_eval(node[1], row)) and bool(_eval(node[2], row))
    if kind == "or":
        return bool(_eval(node[1], row)) or bool(_eval(node[2], row))
    if kind == "not":
        return not _eval(node[1], row)
    if kind == "cmp":
        a, b = _norm(_eval(node[2], row)), _norm(_eval(node[3], row))
        op = node[1]
        if op == "eq":
            return a == b
        if op == "ne":
            return a != b
        if a is None or b is None:
            return False
        try:
            return {"gt": a > b, "ge": a >= b, "lt": a < b, "le": a <= b}[op]
        except TypeError:
            return False
    if kind == "call":
        args = [_eval(a, row) for a in node[2]]
        fname = node[1]
        if fname in ("substringof", "startswith", "endswith"):
            if not all(isinstance(a, str) for a in args):
                return False
            a, b = args[0].casefold(), args[1].casefold()
            if fname == "substringof":      # OData v2: substringof(needle, haystack)
                return a in b
            if fname == "startswith":       # startswith(haystack, prefix)
                return a.startswith(b)
            return a.endswith(b)
        x = args[0]
        if x is None:
            return None
        if fname == "tolower":
            return x.lower()
        if fname == "toupper":
            return x.upper()
        if fname == "trim":
            return x.strip()
        if fname == "length":
            return len(x)
        if fname in ("year", "month", "day"):
            return getattr(x, fname)
    raise ODataError(500, "internal: unknown filter node %r" % (kind,))


def parse_filter(text, entity):
    """Compile $filter text into a predicate row -> bool."""
    if len(text) > MAX_FILTER_CHARS:
        raise ODataError(400, "The $filter expression is longer than %d characters." % MAX_FILTER_CHARS)
    if not text.strip():
        return lambda row: True
    node = _Parser(text, entity).parse()
    if _node_type(node) != BOOL:
        raise ODataError(400, "The $filter expression must evaluate to a single boolean value.")
    return lambda row: bool(_eval(node, row))


def parse_select(text, entity):
    """-> list of field names (None = all). Nested 'Nav/Field' entries are kept for $expand."""
    if text is None:
        return None
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names or "*" in names:
        return None
    out = []
    for name in names:
        head = name.split("/", 1)[0]
        if head not in entity.fields and head not in entity.expand:
            raise ODataError(400, "No property '%s' exists in type '%s'." % (head, entity.type_name))
        if "/" in name:
            child = entity.expand[head]
            sub = name.split("/", 1)[1]
            if sub != "*" and sub not in child.fields:
                raise ODataError(400, "No property '%s' exists in type '%s'." % (sub, child.type_name))
        out.append(name)
    return out


def parse_orderby(text, entity):
    order = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        bits = part.split()
        if len(bits) > 2 or (len(bits) == 2 and bits[1] not in ("asc", "desc")):
            raise ODataError(400, "Syntax error in $orderby '%s'." % text)
        if bits[0] not in entity.fields:
            raise ODataError(400, "No property '%s' exists in type '%s'." % (bits[0], entity.type_name))
        order.append((bits[0], len(bits) == 2 and bits[1] == "desc"))
    return order


def _sort_key(value):
    # None sorts first (SQL Server), then values; mixed types do not occur within one field
    return (value is not None, _norm(value) if value is not None else 0)


def _parse_int_param(query, name):
    text = query.get(name)
    if text is None:
        return None
    if not re.match(r"^\d{1,9}$", text.strip()):
        raise ODataError(400, "Invalid value '%s' for %s; a non-negative whole number is expected."
                         % (text, name))
    return int(text)


def _parse_skiptoken(text, entity):
    ktype = entity.fields[entity.key]
    if text.startswith("pos:"):
        if re.match(r"^pos:\d{1,9}$", text):
            return ("pos", int(text[4:]))
    elif ktype == GUID and text.startswith("guid'") and text.endswith("'"):
        g = normalise_guid(text[5:-1])
        if g:
            return ("key", g)
    elif ktype == INT and re.match(r"^-?\d{1,19}L?$", text):
        return ("key", int(text.rstrip("L")))
    elif ktype == STRING and len(text) >= 2 and text[0] == "'" and text[-1] == "'":
        return ("key", text[1:-1].replace("''", "'"))
    raise ODataError(400, "Invalid $skiptoken '%s'." % text)


def project(row, entity, select, expand_rows=None, base_uri=""):
    """One row as Exact sends it: __metadata, selected fields, expanded or deferred children."""
    key = row[entity.key]
    uri = "%s(%s)" % (base_uri, literal_text(entity.fields[entity.key], key)) if base_uri else None
    out = {"__metadata": {"uri": uri, "type": entity.type_name}}
    top_fields = None if select is None else [s for s in select if "/" not in s]
    for name, ftype in entity.fields.items():
        if top_fields is None or name in top_fields:
            out[name] = to_json_value(ftype, row.get(name))
    for nav, child in entity.expand.items():
        wanted = select is None or nav in select or any(s.startswith(nav + "/") for s in select)
        if not wanted:
            continue
        if expand_rows is not None and nav in expand_rows:
            sub = None if select is None else [s.split("/", 1)[1] for s in select if s.startswith(nav + "/")]
            if sub is not None and (not sub or "*" in sub):
                sub = None
            child_uri = base_uri.rsplit("/", 1)[0] + "/" + child.path.rsplit("/", 1)[-1] if base_uri else ""
            out[nav] = {"results": [project(r, child, sub, None, child_uri) for r in expand_rows[nav]]}
        else:
            out[nav] = {"__deferred": {"uri": "%s/%s" % (uri, nav) if uri else nav}}
    return out


def run_query(rows, entity, query, base_uri, next_base):
    """Apply the query options in `query` (dict of '$filter' etc.) to rows.

    rows: list of dicts (all rows of the entity set the caller may see).
    base_uri: the entity set URI for __metadata; next_base: URL (without query) for __next.
    Returns (page_rows, select, next_url or None, count or None). Raises ODataError.
    """
    select_text = query.get("$select")
    top = _parse_int_param(query, "$top")
    if entity.select_required and select_text is None and top != 1:
        raise ODataError(400, "Please add a $select or a $top=1 statement to the query string.")
    if entity.filter_required and not (query.get("$filter") or "").strip():
        raise ODataError(400, "Please add a $filter statement to the query string. To read all "
                              "records use the sync endpoint %s instead." % entity.filter_required)
    if "$skip" in query:
        raise ODataError(400, "$skip is not supported on this endpoint; follow __next ($skiptoken) instead.")
    select = parse_select(select_text, entity)
    pred = parse_filter(query.get("$filter", ""), entity)
    matched = [r for r in rows if pred(r)]
    count = len(matched) if query.get("$inlinecount") == "allpages" else None
    if query.get("$inlinecount") not in (None, "allpages", "none"):
        raise ODataError(400, "Invalid value for $inlinecount; use 'allpages' or 'none'.")
    order = parse_orderby(query["$orderby"], entity) if query.get("$orderby") else []
    key = entity.key
    if order:
        for name, desc in reversed(order + [(key, False)]):
            matched.sort(key=lambda r, n=name: _sort_key(r.get(n)), reverse=desc)
    else:
        matched.sort(key=lambda r: _sort_key(r.get(key)))
    start = 0
    token_text = query.get("$skiptoken")
    if token_text:
        kind, value = _parse_skiptoken(token_text, entity)
        if kind == "pos":
            start = value
        else:
            value = _norm(value)
            start = len(matched)
            for i, r in enumerate(matched):
                if _norm(r.get(key)) > value:
                    start = i
                    break
    remaining = len(matched) - start
    limit = entity.page_size
    if top is not None:
        limit = min(limit, top)
    page = matched[start:start + limit]
    next_url = None
    more = remaining > len(page) and (top is None or top > len(page))
    if more and page:
        params = []
        for name in ("$filter", "$select", "$expand", "$orderby", "$inlinecount"):
            if name in query:
                params.append((name, query[name]))
        if top is not None:
            params.append(("$top", str(top - len(page))))
        if order:
            # with $orderby the key order no longer holds; a position token is good enough for
            # an emulator (Exact itself warns that $orderby paging is slow and may go away)
            tok = "pos:%d" % (start + len(page))
        else:
            tok = literal_text(entity.fields[key], page[-1][key])
        params.append(("$skiptoken", tok))
        next_url = next_base + "?" + "&".join("%s=%s" % (n, quote(v, safe="'(),*:/=$")) for n, v in params)
    return page, select, next_url, count
