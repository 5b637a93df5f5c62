"""Parse DQDL, the Data Quality Definition Language of AWS Glue Data Quality.

The same ruleset file runs on both targets: Glue Data Quality (Deequ) reads it on AWS, and
:mod:`airsage.quality.compiler` turns it into SQL locally. This module therefore follows the
grammar of Glue's own parser (``awslabs/dqdl``: ``DataQualityDefinitionLanguage.g4`` and
``rules-config.json``): what Glue accepts parses here, what Glue refuses is refused here, with
the line, the column and the offending token, the way a compiler would.

A document is ``[Metadata = {...}] [DataSources = {...}] [<variable> = ...]*
[DefaultLabels = [...]] (Rules = [...] | Analyzers = [...] | Rules = [...] Analyzers = [...])``
with at least one rule or analyzer. A rule is ``<RuleType> [of|and] <param>* [<condition>]
[where "<sql>"] [labels = [...]] (with <tag> <condition>)*``; rules combine as
``(rule) and (rule)`` / ``(rule) or (rule)`` (one operator per level). Conditions are
number-based (``= != > >= < <= [not] between [not] in``, with dynamic operands such as
``avg(last(10)) * 1.1``), string-based (``= != [not] in [not] matches``, the keywords NULL,
EMPTY, WHITESPACES_ONLY, ``$variables``), date-based (``"2024-01-31"``, ``now()``,
``(now() - 3 days)``, ``"9:30 AM"``, ``"21:45"``), duration-based (``3 days``, ``24 hours``,
``90 minutes``) and size-based (``5 KB``…).

Arithmetic in number operands has one precedence level, left to right, as in Glue's ANTLR
grammar (``10 + 10 * 2`` is 40): parenthesise to be explicit.

Two deliberate differences from Glue's parser, both stricter and both reported with a fix:
text after the last section (Glue's grammar has no end-of-input anchor and ignores it, which
would silently drop rules after a stray ``]``), and mixing ``and``/``or`` at one level without
parentheses (Glue's precedence there is an accident of the grammar; say what you mean).
"""

from __future__ import annotations

import datetime as dt_
import math
import re
import zoneinfo
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal, overload

from airsage.errors import ConfigurationError

# --------------------------------------------------------------------------------------
# AST: operands
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Keyword:
    """One of DQDL's value keywords: NULL, EMPTY or WHITESPACES_ONLY."""

    name: str

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class DateExpr:
    """A point in time: an ISO date, a time of day (today, in ``time_zone``), or ``now()``
    shifted by ``offset_hours``."""

    iso_date: str | None = None
    offset_hours: float = 0.0
    time_of_day: str | None = None  # "HH:MM", 24-hour clock, as written after parsing AM/PM
    time_zone: str = "UTC"

    def moment(self, now: dt_.datetime) -> dt_.datetime:
        """The naive UTC timestamp this expression denotes when evaluated at ``now`` (UTC)."""
        if self.iso_date is not None:
            return dt_.datetime.fromisoformat(self.iso_date)
        if self.time_of_day is not None:
            zone = zoneinfo.ZoneInfo(self.time_zone)
            hour, minute = (int(p) for p in self.time_of_day.split(":"))
            local_today = now.replace(tzinfo=dt_.UTC).astimezone(zone).date()
            local = dt_.datetime.combine(local_today, dt_.time(hour, minute), tzinfo=zone)
            return local.astimezone(dt_.UTC).replace(tzinfo=None)
        return now + dt_.timedelta(hours=self.offset_hours)

    def __str__(self) -> str:
        if self.iso_date is not None:
            return f'"{self.iso_date}"'
        if self.time_of_day is not None:
            return f'"{self.time_of_day}"'
        if not self.offset_hours:
            return "now()"
        sign = "-" if self.offset_hours < 0 else "+"
        return f"(now() {sign} {_fmt_number(abs(self.offset_hours))} hours)"


_HOURS_PER_UNIT = {"days": 24.0, "hours": 1.0, "minutes": 1.0 / 60.0}
_BYTES_PER_UNIT = {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3, "TB": 1024**4}


@dataclass(frozen=True)
class Duration:
    """A span of time written ``24 hours``, ``2 days`` or ``90 minutes``; kept in hours."""

    amount: float
    unit: str

    @property
    def hours(self) -> float:
        return self.amount * _HOURS_PER_UNIT[self.unit]

    def __str__(self) -> str:
        return f"{_fmt_number(self.amount)} {self.unit}"


@dataclass(frozen=True)
class Size:
    """A file size written ``5 KB`` (a bare number is bytes, as in Glue)."""

    amount: int
    unit: str = "B"

    @property
    def bytes(self) -> int:
        return self.amount * _BYTES_PER_UNIT[self.unit]

    def __str__(self) -> str:
        return f"{self.amount} {self.unit}"


@dataclass(frozen=True)
class NumExpr:
    """A number operand that needs the metrics history: ``avg(last(10)) * 0.9`` and the like.

    ``kind`` is ``call`` (``name``/``args``), ``binary`` (``name`` is the operator, ``args``
    the two sides) or ``number`` (``value``). Static arithmetic is folded while parsing, so a
    NumExpr always contains at least one function call.
    """

    kind: str
    name: str = ""
    args: tuple[NumExpr, ...] = ()
    value: float = 0.0
    text: str = ""

    def lookback(self) -> int:
        """The largest ``k`` of any ``last(k)`` inside (how much history it reads)."""
        own = 0
        if self.kind == "call" and self.name == "last" and self.args:
            first = self.args[0]
            own = int(first.value) if first.kind == "number" else 0
        return max([own, *(a.lookback() for a in self.args)])

    def __str__(self) -> str:
        return self.text


Operand = float | str | Keyword | DateExpr | Duration | Size | NumExpr

COMPARISONS = ("=", "!=", ">", ">=", "<", "<=")
SET_OPS = ("in", "not in")
RANGE_OPS = ("between", "not between")
REGEX_OPS = ("matches", "not matches")
NEGATED_OPS = ("!=", "not in", "not between", "not matches")


class DynamicOperandError(ValueError):
    """A dynamic operand cannot be computed (no history yet, an unknown function…)."""


def _aggregate(values: Sequence[float], name: str) -> float:
    if not values:
        raise DynamicOperandError(f"{name}() of an empty list: there is no history to read yet")
    if name in ("avg", "average", "mean"):
        return sum(values) / len(values)
    if name == "min":
        return min(values)
    if name == "max":
        return max(values)
    if name == "sum":
        return float(sum(values))
    mean = sum(values) / len(values)
    return math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))


_LIST_FUNCTIONS = ("avg", "average", "mean", "min", "max", "sum", "std", "stdev", "stddev")
FUNCTIONS = ("last", "index", *_LIST_FUNCTIONS)


def evaluate_operand(expr: NumExpr, history: Sequence[float]) -> float:
    """A dynamic operand's value, given the metric's past values (oldest first)."""

    def inner(node: NumExpr) -> float | list[float]:
        if node.kind == "number":
            return node.value
        if node.kind == "binary":
            left, right = (_scalar(inner(a)) for a in node.args)
            if node.name == "/" and right == 0:
                raise DynamicOperandError(f"division by zero in {expr.text}")
            return {"+": left + right, "-": left - right, "*": left * right,
                    "/": left / right if right else 0.0}[node.name]
        name = node.name.lower()
        if name == "last":
            if len(node.args) != 1:
                raise DynamicOperandError("last(k) takes one argument")
            k = int(_scalar(inner(node.args[0])))
            return list(history[-k:]) if k > 0 else []
        if name == "index":
            values, position = (inner(a) for a in node.args)
            if not isinstance(values, list):
                raise DynamicOperandError("index(list, i) needs a list such as last(k)")
            i = int(_scalar(position))
            if not -len(values) <= i < len(values):
                raise DynamicOperandError(f"index {i} is outside the {len(values)} value(s) "
                                          "of history")
            return values[i]
        if name in _LIST_FUNCTIONS:
            flat: list[float] = []
            for arg in node.args:
                value = inner(arg)
                flat.extend(value if isinstance(value, list) else [value])
            return _aggregate(flat, "avg" if name in ("average", "mean") else
                              "std" if name in ("stdev", "stddev") else name)
        raise DynamicOperandError(f"unknown function {node.name}(); DQDL's functions are "
                                  f"{', '.join(FUNCTIONS)}")

    def _scalar(value: float | list[float]) -> float:
        if isinstance(value, list):
            if len(value) != 1:
                raise DynamicOperandError(
                    f"{expr.text} yields {len(value)} values where one number is expected; "
                    "aggregate them, e.g. avg(last(5))")
            return value[0]
        return value

    return _scalar(inner(expr))


# --------------------------------------------------------------------------------------
# AST: conditions and rules
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Condition:
    """``<op> <operands>``: ``> 0.9``, ``between 1 and 5``, ``in ["a", NULL]``…

    ``kind`` says which of DQDL's condition families it belongs to: ``number``, ``string``,
    ``date``, ``duration`` or ``size``.
    """

    op: str
    operands: tuple[Operand, ...]
    text: str
    kind: str = "number"

    @property
    def negated(self) -> bool:
        return self.op in NEGATED_OPS

    @property
    def dynamic(self) -> bool:
        return any(isinstance(o, NumExpr) for o in self.operands)

    def lookback(self) -> int:
        return max([0, *(o.lookback() for o in self.operands if isinstance(o, NumExpr))])

    def resolved(self, history: Sequence[float]) -> Condition:
        """The same condition with its dynamic operands computed from ``history``."""
        if not self.dynamic:
            return self
        operands = tuple(evaluate_operand(o, history) if isinstance(o, NumExpr) else o
                         for o in self.operands)
        return Condition(self.op, operands, self.text, self.kind)

    def check(self, value: float) -> bool:
        """Judge a number. ``between`` is exclusive, as in Glue's DQDL library."""
        if self.dynamic:
            raise DynamicOperandError(f"'{self.text}' needs the metrics history; resolve it first")
        nums = [float(o) for o in self.operands if isinstance(o, (int, float))]
        if self.op in RANGE_OPS:
            low, high = nums
            inside = low < value < high
            return inside if self.op == "between" else not inside
        if self.op in SET_OPS:
            member = any(value == n for n in nums)
            return member if self.op == "in" else not member
        (bound,) = nums
        return {
            "=": value == bound,
            "!=": value != bound,
            ">": value > bound,
            ">=": value >= bound,
            "<": value < bound,
            "<=": value <= bound,
        }[self.op]

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class Rule:
    """One DQDL rule (or analyzer, which has no condition)."""

    rule_type: str
    params: tuple[str, ...]
    condition: Condition | None
    threshold: Condition | None
    where: str | None
    text: str
    line: int
    column: int
    tags: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)

    @property
    def column_name(self) -> str:
        return self.params[0]

    def leaves(self) -> list[Rule]:
        return [self]


@dataclass(frozen=True)
class CompositeRule:
    """``(rule) and (rule) …`` or ``(rule) or (rule) …``; each side evaluated on its own."""

    op: str
    children: tuple[Rule | CompositeRule, ...]
    text: str
    line: int
    column: int
    labels: Mapping[str, str] = field(default_factory=dict)

    def leaves(self) -> list[Rule]:
        found: list[Rule] = []
        for child in self.children:
            found.extend(child.leaves())
        return found


AnyRule = Rule | CompositeRule


@dataclass(frozen=True)
class Ruleset:
    """A parsed DQDL document."""

    rules: tuple[AnyRule, ...]
    source: str = "<ruleset>"
    metadata: Mapping[str, Any] = field(default_factory=dict)
    analyzers: tuple[Rule, ...] = ()
    primary_source: str | None = None
    additional_sources: tuple[str, ...] = ()
    variables: Mapping[str, str | tuple[str, ...]] = field(default_factory=dict)
    default_labels: Mapping[str, str] = field(default_factory=dict)

    def leaves(self) -> list[Rule]:
        found: list[Rule] = []
        for rule in self.rules:
            found.extend(rule.leaves())
        return found

    def lookback(self) -> int:
        """The most days of history any dynamic rule reads (``last(k)``)."""
        return max([0, *(c.lookback() for leaf in self.leaves()
                         for c in (leaf.condition, leaf.threshold) if c is not None)])

    def to_dqdl(self) -> str:
        """The document again, one section per block (rules keep their source text)."""

        def quoted(value: str) -> str:
            return value if value in _KEYWORD_NAMES else '"' + value.replace('"', '\\"') + '"'

        def items(values: Sequence[str]) -> str:
            return "[ " + ", ".join(quoted(v) for v in values) + " ]"

        blocks = []
        if self.metadata:
            pairs = ", ".join(f'"{k}": "{v}"' for k, v in self.metadata.items())
            blocks.append(f"Metadata = {{ {pairs} }}")
        sources = []
        if self.primary_source is not None:
            sources.append(f'"Primary": {quoted(self.primary_source)}')
        if self.additional_sources:
            sources.append(f'"AdditionalDataSources": {items(self.additional_sources)}')
        if sources:
            blocks.append(f"DataSources = {{ {', '.join(sources)} }}")
        for name, value in self.variables.items():
            blocks.append(f"{name} = {quoted(value) if isinstance(value, str) else items(value)}")
        if self.default_labels:
            pairs = ", ".join(f"{quoted(k)} = {quoted(v)}" for k, v in self.default_labels.items())
            blocks.append(f"DefaultLabels = [ {pairs} ]")
        for section, entries in (("Rules", self.rules), ("Analyzers", self.analyzers)):
            if entries:
                body = ",\n".join(f"    {entry.text}" for entry in entries)
                blocks.append(f"{section} = [\n{body}\n]")
        return "\n".join(blocks) + "\n"


# --------------------------------------------------------------------------------------
# rule types, as rules-config.json of awslabs/dqdl declares them
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleSpec:
    """One overload of a rule type: parameter count and the conditions it accepts."""

    min_params: int
    max_params: int | None
    condition: str | None  # None: no expression; else "|"-joined kinds; "bool|number" optional
    threshold: bool = False
    where: bool = True
    analyzer: bool = True  # usable in Analyzers (rules with a metric)
    analyzer_only: bool = False


_N = "number"
RULE_SPECS: dict[str, tuple[RuleSpec, ...]] = {
    "RowCount": (RuleSpec(0, 0, _N),),
    "RowCountMatch": (RuleSpec(1, 1, _N, where=False),),
    "ColumnCount": (RuleSpec(0, 0, _N, where=False),),
    "Completeness": (RuleSpec(1, 1, _N),),
    "IsComplete": (RuleSpec(1, 1, None, analyzer=False),),
    "ColumnDataType": (RuleSpec(1, 1, "string", threshold=True, analyzer=False),),
    "ColumnNamesMatchPattern": (RuleSpec(1, 1, None, where=False, analyzer=False),),
    "ColumnExists": (RuleSpec(1, 1, None, where=False, analyzer=False),),
    "ColumnCorrelation": (RuleSpec(2, 2, _N),),
    "Uniqueness": (RuleSpec(1, None, _N),),
    "IsUnique": (RuleSpec(1, None, None, analyzer=False),),
    "Mean": (RuleSpec(1, 1, _N),),
    "Sum": (RuleSpec(1, 1, _N),),
    "StandardDeviation": (RuleSpec(1, 1, _N),),
    "Variance": (RuleSpec(1, 1, _N),),
    "Entropy": (RuleSpec(1, 1, _N),),
    "DistinctValuesCount": (RuleSpec(1, 1, _N),),
    "UniqueValueRatio": (RuleSpec(1, 1, _N),),
    # airsage also accepts `with threshold` on ColumnLength and DataFreshness (row-level
    # compliance, as for ColumnValues); rules-config.json does not list it for them.
    "ColumnLength": (RuleSpec(1, 1, _N, threshold=True),),
    "IsPrimaryKey": (RuleSpec(1, None, None, analyzer=False),),
    "ColumnValues": (RuleSpec(1, 1, "string|number|date", threshold=True, analyzer=False),),
    "DataFreshness": (RuleSpec(1, 1, "duration", threshold=True, analyzer=False),),
    "CustomSql": (RuleSpec(1, 1, "bool|number", threshold=True, where=False),),
    "ReferentialIntegrity": (RuleSpec(2, 2, _N, where=False),),
    "DatasetMatch": (RuleSpec(2, 3, _N, where=False),),
    "SchemaMatch": (RuleSpec(1, 1, _N, where=False),),
    "AggregateMatch": (RuleSpec(2, 2, _N, where=False),),
    "DetectAnomalies": (RuleSpec(1, None, None, where=False, analyzer=False),),
    "AllStatistics": (RuleSpec(1, 1, _N, analyzer_only=True),),
    "FileMatch": (RuleSpec(2, 2, None, where=False, analyzer=False),
                  RuleSpec(0, 1, "string", where=False, analyzer=False)),
    "FileUniqueness": (RuleSpec(0, 1, _N, where=False),),
    "FileFreshness": (RuleSpec(0, 1, "date", threshold=True, where=False, analyzer=False),),
    "FileSize": (RuleSpec(0, 1, "size", threshold=True, where=False),),
}

# DQDL type names -> the SQL type a value must cast to (Deequ's names plus airsage's STRING,
# SHORT and BYTE); DECIMAL(p,s) is read by :func:`data_type_sql`.
DATA_TYPES: dict[str, str] = {
    "BOOLEAN": "BOOLEAN",
    "DATE": "DATE",
    "TIMESTAMP": "TIMESTAMP",
    "INTEGER": "INTEGER",
    "LONG": "BIGINT",
    "SHORT": "SMALLINT",
    "BYTE": "TINYINT",
    "DOUBLE": "DOUBLE",
    "FLOAT": "FLOAT",
    "DECIMAL": "DECIMAL(38, 10)",
    "STRING": "VARCHAR",
}
_DECIMAL_RE = re.compile(r"DECIMAL\((\d+),\s*(\d+)\)", re.IGNORECASE)


def data_type_sql(name: str) -> str | None:
    """The SQL type for a DQDL type name (``Integer``, ``DECIMAL(10,2)``…), or None."""
    decimal = _DECIMAL_RE.fullmatch(name.strip())
    if decimal:
        return f"DECIMAL({decimal.group(1)}, {decimal.group(2)})"
    return DATA_TYPES.get(name.strip().upper())


MAX_LABELS = 10
MAX_LABEL_KEY = 128
MAX_LABEL_VALUE = 256

# --------------------------------------------------------------------------------------
# errors
# --------------------------------------------------------------------------------------


class DQDLSyntaxError(ConfigurationError):
    """A ruleset that is not valid DQDL; the message quotes the line and points at the token."""

    def __init__(self, message: str, *, source: str, text: str, line: int, column: int,
                 token: str) -> None:
        self.reason = message
        self.source = source
        self.line = line
        self.column = column
        self.token = token
        lines = text.splitlines() or [""]
        quoted = lines[line - 1] if 0 < line <= len(lines) else ""
        shown = token if token else "end of input"
        super().__init__(
            f"{source}:{line}:{column}: invalid DQDL: {message} (at {shown!r})\n"
            f"    {quoted}\n"
            f"    {' ' * (column - 1)}^\n"
            "Fix the ruleset (DQDL reference: https://docs.aws.amazon.com/glue/latest/dg/dqdl.html)."
        )


# --------------------------------------------------------------------------------------
# lexer
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Token:
    kind: str  # STRING NUMBER WORD OP PUNCT VAR EOF
    value: str
    offset: int
    end: int
    line: int
    column: int


_TOKEN_RE = re.compile(
    r"""
    (?P<WS>[ \t\r\n]+)
  | (?P<COMMENT>\#[^\n]*)
  | (?P<STRING>"(?:\\.|[^"\\])*")
  | (?P<VAR>\$[A-Za-z0-9_.]+)
  | (?P<NUMBER>-?\d+(?:\.\d+)?(?![A-Za-z_.]))
  | (?P<OP>!=|>=|<=|=|>|<|\+|-|\*|/)
  | (?P<PUNCT>[\[\](),{}:])
  | (?P<WORD>[A-Za-z0-9_.]+)
    """,
    re.VERBOSE,
)

_KEYWORDS = {"null": "NULL", "empty": "EMPTY", "whitespaces_only": "WHITESPACES_ONLY"}
_KEYWORD_NAMES = frozenset(_KEYWORDS.values())
_RESERVED = {"and", "or", "not", "in", "between", "matches", "with", "where", "AND", "OR",
             "now", "of", "OF"} | set(_KEYWORDS) | {k.upper() for k in _KEYWORDS}
_SECTIONS = ("Metadata", "DataSources", "DefaultLabels", "Rules", "Analyzers")
_METADATA_KEYS = ("Version",)
_SOURCE_KEYS = ("Primary", "AdditionalDataSources")
_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
_TIME_RE = re.compile(r"(\d{1,2}):(\d{2}) (AM|PM)")
_MIL_TIME_RE = re.compile(r"(\d{2}):(\d{2})")


def _fmt_number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _tokenize(text: str, source: str) -> list[Token]:
    tokens: list[Token] = []
    pos, line, line_start = 0, 1, 0
    while pos < len(text):
        match = _TOKEN_RE.match(text, pos)
        if match is None:
            column = pos - line_start + 1
            bad = text[pos]
            if bad == '"':
                raise DQDLSyntaxError("unterminated string", source=source, text=text,
                                      line=line, column=column, token=text[pos:pos + 20])
            raise DQDLSyntaxError("unexpected character", source=source, text=text,
                                  line=line, column=column, token=bad)
        kind = match.lastgroup or ""
        value = match.group()
        if kind not in ("WS", "COMMENT"):
            tokens.append(Token(kind, value, pos, match.end(), line, pos - line_start + 1))
        newlines = value.count("\n")
        if newlines:
            line += newlines
            line_start = pos + value.rfind("\n") + 1
        pos = match.end()
    tokens.append(Token("EOF", "", len(text), len(text), line, len(text) - line_start + 1))
    return tokens


def _unquote(raw: str) -> str:
    return re.sub(r'\\(["\\])', r"\1", raw[1:-1])


# --------------------------------------------------------------------------------------
# parser
# --------------------------------------------------------------------------------------


class _Parser:
    def __init__(self, text: str, source: str) -> None:
        self.text = text
        self.source = source
        self.tokens = _tokenize(text, source)
        self.pos = 0
        self.variables: dict[str, str | tuple[str, ...]] = {}
        self.default_labels: dict[str, str] = {}

    # -- helpers -----------------------------------------------------------------------
    @property
    def tok(self) -> Token:
        return self.tokens[self.pos]

    def peek(self, ahead: int = 1) -> Token:
        return self.tokens[min(self.pos + ahead, len(self.tokens) - 1)]

    def advance(self) -> Token:
        token = self.tok
        self.pos += 1
        return token

    def error(self, message: str, token: Token | None = None) -> DQDLSyntaxError:
        token = token or self.tok
        return DQDLSyntaxError(message, source=self.source, text=self.text, line=token.line,
                               column=token.column, token=token.value)

    def is_(self, value: str, token: Token | None = None) -> bool:
        token = token or self.tok
        return token.kind not in ("STRING", "EOF") and token.value == value

    def is_word(self, *values: str) -> bool:
        return self.tok.kind == "WORD" and self.tok.value in values

    def expect(self, value: str, what: str | None = None) -> Token:
        if not self.is_(value):
            raise self.error(f"expected {what or repr(value)}")
        return self.advance()

    def since(self, start: Token) -> str:
        return " ".join(self.text[start.offset:self.tokens[self.pos - 1].end].split())

    # -- document ----------------------------------------------------------------------
    def document(self) -> Ruleset:
        start = self.tok
        metadata: dict[str, Any] = {}
        primary: str | None = None
        additional: tuple[str, ...] = ()
        if self.is_word("Metadata") and self.is_("=", self.peek()):
            metadata = self.metadata()
        if self.is_word("Sources") and self.is_("=", self.peek()):
            raise self.error("the section is called 'DataSources' in DQDL, not 'Sources'")
        if self.is_word("DataSources") and self.is_("=", self.peek()):
            primary, additional = self.data_sources()
        while (self.tok.kind == "WORD" and self.tok.value not in _SECTIONS
               and self.is_("=", self.peek())):
            self.variable()
        if self.tok.kind == "WORD" and self.is_("=", self.peek(2)) and self.peek().kind in (
            "WORD", "NUMBER"
        ) and self.tok.value not in _SECTIONS:
            raise self.error("a variable name is one word of letters, digits, '_' and '.'")
        if self.is_word("DefaultLabels"):
            self.advance()
            self.default_labels = self.labels_list("DefaultLabels")
        rules: list[AnyRule] = []
        analyzers: list[Rule] = []
        found = False
        if self.is_word("Rules"):
            found = True
            rules = self.section("Rules", self.top_level_rule)
        if self.is_word("Analyzers"):
            found = True
            analyzers = self.section("Analyzers", self.analyzer)
        if not found:
            if self.tok.kind == "EOF":
                raise self.error("a DQDL document must contain 'Rules = [ ... ]' or "
                                 "'Analyzers = [ ... ]'", start if start.kind != "EOF" else None)
            raise self.error("expected 'Rules = [ ... ]' (or 'Analyzers = [ ... ]'); sections "
                             "come in the order Metadata, DataSources, variables, "
                             "DefaultLabels, Rules, Analyzers")
        if self.tok.kind != "EOF":
            raise self.error("unexpected text after the closing ']' of the last section")
        if not rules and not analyzers:
            raise self.error("no rules or analyzers provided: 'Rules = [ ]' must list at least "
                             "one rule", start)
        return Ruleset(rules=tuple(rules), source=self.source, metadata=metadata,
                       analyzers=tuple(analyzers), primary_source=primary,
                       additional_sources=additional, variables=dict(self.variables),
                       default_labels=dict(self.default_labels))

    def section(self, name: str, item: Callable[[], Any]) -> list[Any]:
        self.advance()
        self.expect("=", f"'=' after {name}")
        self.expect("[", f"'[' to open the list of {name.lower()}")
        items: list[Any] = []
        if self.is_("]"):
            self.advance()
            return items
        while True:
            items.append(item())
            if self.is_(","):
                self.advance()
                if self.is_("]"):
                    raise self.error(f"expected a {name[:-1].lower()} after ',' (DQDL allows "
                                     "no trailing comma)")
                continue
            if self.is_("]"):
                break
            raise self.error(f"expected ',' between {name.lower()} or ']' to close the list")
        self.advance()
        return items

    def dictionary(self, section: str, allowed: Sequence[str]) -> dict[str, Any]:
        self.advance()
        self.expect("=", f"'=' after {section}")
        opening = self.expect("{", f"'{{' to open {section}")
        result: dict[str, Any] = {}
        if self.is_("}"):
            raise self.error(f"empty dictionary: {section} needs at least one key "
                             f"({', '.join(allowed)})", opening)
        while True:
            if self.tok.kind != "STRING":
                raise self.error("expected a quoted key in the dictionary")
            key_token = self.advance()
            key = _unquote(key_token.value)
            if key not in allowed:
                raise self.error(f"unsupported key {key!r} in {section}; its keys are "
                                 f"{', '.join(allowed)}", key_token)
            self.expect(":")
            if self.tok.kind == "STRING":
                result[key] = _unquote(self.advance().value)
            elif self.is_("["):
                self.advance()
                items: list[str] = []
                while True:
                    if self.tok.kind != "STRING":
                        raise self.error("expected a quoted string in the array")
                    items.append(_unquote(self.advance().value))
                    if self.is_(","):
                        self.advance()
                        continue
                    self.expect("]", "',' or ']' in the array")
                    break
                result[key] = items
            else:
                raise self.error("expected a quoted string or an array as the value")
            if self.is_(","):
                self.advance()
                continue
            self.expect("}", "',' or '}' in the dictionary")
            return result

    def metadata(self) -> dict[str, Any]:
        return self.dictionary("Metadata", _METADATA_KEYS)

    def data_sources(self) -> tuple[str | None, tuple[str, ...]]:
        start = self.tok
        values = self.dictionary("DataSources", _SOURCE_KEYS)
        primary = values.get("Primary")
        if isinstance(primary, list):
            raise self.error("DataSources 'Primary' is one quoted name, not an array", start)
        extra = values.get("AdditionalDataSources", [])
        if isinstance(extra, str):
            raise self.error("DataSources 'AdditionalDataSources' must be an array of names",
                             start)
        return primary, tuple(extra)

    def variable(self) -> None:
        name_token = self.advance()
        name = name_token.value
        if name.startswith((".", "_")):
            raise self.error(f"variable name {name!r} cannot start with '.' or '_'", name_token)
        if name in self.variables:
            raise self.error(f"variable {name!r} is already defined", name_token)
        self.expect("=")
        if self.is_("["):
            self.advance()
            values: list[str] = []
            while True:
                values.append(self.variable_value())
                if self.is_(","):
                    self.advance()
                    continue
                self.expect("]", "',' or ']' in the list")
                break
            self.variables[name] = tuple(values)
        else:
            self.variables[name] = self.variable_value()

    def variable_value(self) -> str:
        token = self.tok
        if token.kind == "STRING":
            value = _unquote(self.advance().value)
            if re.search(r"\$[A-Za-z][A-Za-z0-9_.]*", value):
                raise self.error("nested variables are not supported: a variable's value "
                                 "cannot refer to another variable", token)
            return value
        if token.kind == "WORD" and token.value.lower() in _KEYWORDS:
            return _KEYWORDS[self.advance().value.lower()]
        if token.kind == "VAR":
            raise self.error("nested variables are not supported: a variable's value is a "
                             "quoted string or a list of them", token)
        raise self.error("a variable's value is a quoted string (or NULL, EMPTY, "
                         "WHITESPACES_ONLY) or a list of them; numbers cannot be variables")

    @overload
    def resolve(self, token: Token, want: Literal["string"]) -> str: ...
    @overload
    def resolve(self, token: Token, want: Literal["list"]) -> tuple[str, ...]: ...
    def resolve(self, token: Token, want: Literal["string", "list"]) -> str | tuple[str, ...]:
        """A variable's value, refused when it is not the kind (string or list) ``want`` names."""
        name = token.value[1:]
        if name not in self.variables:
            defined = ", ".join(sorted(self.variables)) or "none"
            raise self.error(f"variable ${name} is not defined (defined: {defined})", token)
        value = self.variables[name]
        if want == "string" and not isinstance(value, str):
            raise self.error(f"variable ${name} is a list; a single quoted string is expected "
                             "here (invalid variable type)", token)
        if want == "list" and isinstance(value, str):
            raise self.error(f"variable ${name} is a string; 'in' needs a list", token)
        return value

    def labels_list(self, what: str) -> dict[str, str]:
        self.expect("=", f"'=' after {what}")
        opening = self.expect("[", f"'[' to open {what}")
        labels: dict[str, str] = {}
        if self.is_("]"):
            raise self.error("labels must have at least one label", opening)
        while True:
            if self.tok.kind != "STRING":
                raise self.error('expected a label "key" = "value"')
            key_token = self.advance()
            key = _unquote(key_token.value)
            self.expect("=", "'=' between a label's key and value")
            if self.tok.kind != "STRING":
                raise self.error("expected a quoted label value")
            value = _unquote(self.advance().value)
            if not key or not value:
                raise self.error("label key or value cannot be empty", key_token)
            if len(key) > MAX_LABEL_KEY:
                raise self.error(f"label key has length {len(key)} exceeding the maximum "
                                 f"length of {MAX_LABEL_KEY} characters", key_token)
            if len(value) > MAX_LABEL_VALUE:
                raise self.error(f"label value has length {len(value)} exceeding the maximum "
                                 f"length of {MAX_LABEL_VALUE} characters", key_token)
            if key in labels:
                raise self.error("duplicate label key; keys must be unique", key_token)
            labels[key] = value
            if self.is_(","):
                self.advance()
                continue
            self.expect("]", "',' or ']' in the labels")
            break
        merged = {**self.default_labels, **labels}
        if len(merged) > MAX_LABELS:
            raise self.error(f"number of labels exceeds the maximum allowed ({MAX_LABELS})",
                             opening)
        return labels

    # -- rules -------------------------------------------------------------------------
    def top_level_rule(self) -> AnyRule:
        start = self.tok
        children = [self.rule_operand()]
        op: str | None = None
        while self.tok.kind == "WORD" and self.tok.value in ("and", "AND", "or", "OR"):
            this_op = self.tok.value.lower()
            if op is not None and this_op != op:
                raise self.error(
                    f"cannot mix 'and' and 'or' at one level; add parentheses, e.g. "
                    f"(A) {op} ((B) {this_op} (C))"
                )
            op = this_op
            self.advance()
            children.append(self.rule_operand())
        if op is None:
            return children[0]
        return CompositeRule(op=op, children=tuple(children), text=self.since(start),
                             line=start.line, column=start.column)

    def rule_operand(self) -> AnyRule:
        if not self.is_("("):
            return self.simple_rule()
        self.advance()
        inner = self.top_level_rule()
        self.expect(")", "')' to close the rule")
        if self.is_word("labels") and self.is_("=", self.peek()):
            self.advance()
            labels = self.labels_list("labels")
            inner = replace(inner, labels={**inner.labels, **labels})
        return inner

    def parameters(self) -> list[str]:
        """Quoted strings, bare identifiers and ``$variables``, each optionally after ``of``
        or ``and``. ``and`` before a rule type is the composite operator, not a connector."""
        params: list[str] = []
        while True:
            nxt = self.peek()
            connector = (
                self.tok.kind == "WORD" and self.tok.value in ("of", "OF", "and", "AND")
                and (nxt.kind in ("STRING", "VAR")
                     or (nxt.kind == "WORD" and nxt.value not in _RESERVED))
            )
            if connector and self.tok.value in ("and", "AND") and (
                not params or (nxt.kind == "WORD" and nxt.value in RULE_SPECS)
            ):
                connector = False
            if connector:
                self.advance()
            token = self.tok
            if token.kind == "STRING":
                params.append(_unquote(self.advance().value))
            elif token.kind == "VAR":
                params.append(self.resolve(self.advance(), "string"))
            elif token.kind == "WORD" and (connector or (
                token.value not in _RESERVED and token.value not in RULE_SPECS
                and not (token.value == "labels" and self.is_("=", self.peek()))
            )):
                params.append(self.advance().value)
            else:
                return params

    def pick_spec(self, name_token: Token, params: Sequence[str], *, analyzer: bool
                  ) -> RuleSpec:
        rule_type = name_token.value
        specs = RULE_SPECS.get(rule_type)
        what = "analyzer" if analyzer else "rule"
        if specs is None:
            hint = next((n for n in RULE_SPECS if n.lower() == rule_type.lower()), None)
            known = f"did you mean {hint}?" if hint else f"known rule types: {', '.join(RULE_SPECS)}"
            raise self.error(f"unknown {what} type {rule_type!r} (rule types are case "
                             f"sensitive; {known})", name_token)
        for spec in specs:
            if len(params) >= spec.min_params and (
                spec.max_params is None or len(params) <= spec.max_params
            ):
                return spec
        counts = " or ".join(
            (str(s.min_params) if s.max_params == s.min_params
             else f"at least {s.min_params}" if s.max_params is None
             else f"{s.min_params} to {s.max_params}") for s in specs)
        raise self.error(f"{rule_type} takes {counts} parameter(s), got {len(params)}",
                         name_token)

    def analyzer(self) -> Rule:
        start = self.tok
        if start.kind != "WORD":
            raise self.error("expected an analyzer type such as Completeness or RowCount")
        self.advance()
        params = self.parameters()
        spec = self.pick_spec(start, params, analyzer=True)
        if not spec.analyzer:
            raise self.error(f"{start.value} has no metric and cannot be an analyzer", start)
        if not (self.is_(",") or self.is_("]")):
            raise self.error("an analyzer takes no condition, where clause or tags")
        return Rule(rule_type=start.value, params=tuple(params), condition=None,
                    threshold=None, where=None, text=self.since(start), line=start.line,
                    column=start.column)

    def simple_rule(self) -> Rule:
        start = self.tok
        if start.kind != "WORD":
            raise self.error("expected a rule type such as IsComplete or RowCount")
        self.advance()
        rule_type = start.value
        params = self.parameters()
        spec = self.pick_spec(start, params, analyzer=False)
        if spec.analyzer_only:
            raise self.error(f"{rule_type} is an analyzer only; list it under Analyzers", start)
        condition = None
        kinds = spec.condition.split("|") if spec.condition else []
        if self.at_condition():
            if not kinds or kinds == ["bool"]:
                raise self.error(f"{rule_type} takes no expression")
            condition = self.condition([k for k in kinds if k != "bool"], rule_type)
        elif kinds and "bool" not in kinds:
            raise self.error(f"{rule_type} needs an expression such as '> 0.9' or "
                             "'between 1 and 5'")
        where = None
        if self.is_word("where"):
            if not spec.where:
                raise self.error(f"{rule_type} does not support a where clause")
            self.advance()
            if self.tok.kind != "STRING":
                raise self.error('expected a quoted SQL predicate after where, e.g. where "age > 18"')
            where_token = self.advance()
            where = _unquote(where_token.value)
            if not where.strip():
                raise self.error(f"empty where condition for rule type {rule_type}", where_token)
        labels: dict[str, str] = {}
        if self.is_word("labels") and self.is_("=", self.peek()):
            self.advance()
            labels = self.labels_list("labels")
        threshold, tags = self.tags(rule_type, spec, condition)
        if self.is_word("where") and where is None and spec.where:
            # `... with threshold > 0.5 where "…"`: airsage's earlier order; DQDL puts the
            # where clause first. Accepted so existing rulesets keep working.
            self.advance()
            if self.tok.kind != "STRING":
                raise self.error('expected a quoted SQL predicate after where, e.g. where "age > 18"')
            where_token = self.advance()
            where = _unquote(where_token.value)
            if not where.strip():
                raise self.error(f"empty where condition for rule type {rule_type}", where_token)
        if self.is_word("where"):
            raise self.error(f"{rule_type} does not support a where clause" if not spec.where
                             else "only one where clause per rule")
        if condition is not None and condition.kind == "date" and "timeZone" in tags:
            condition = self.with_time_zone(condition, tags["timeZone"], start)
        return Rule(rule_type=rule_type, params=tuple(params), condition=condition,
                    threshold=threshold, where=where, text=self.since(start),
                    line=start.line, column=start.column, tags=tags,
                    labels={**self.default_labels, **labels})

    def tags(self, rule_type: str, spec: RuleSpec, condition: Condition | None
             ) -> tuple[Condition | None, dict[str, str]]:
        threshold: Condition | None = None
        tags: dict[str, str] = {}
        while self.is_word("with"):
            with_token = self.advance()
            if self.tok.kind != "WORD" or self.tok.value in _RESERVED:
                raise self.error("expected a tag name after 'with', e.g. with threshold > 0.9")
            name_token = self.advance()
            name = name_token.value
            if not self.at_condition():
                raise self.error(f"expected a condition after 'with {name}'")
            if name.lower() == "threshold":
                if not spec.threshold:
                    raise self.error(f"{rule_type} does not support 'with threshold'", with_token)
                if threshold is not None:
                    raise self.error("only one threshold condition at a time is supported",
                                     with_token)
                if rule_type == "CustomSql" and condition is not None:
                    raise self.error("CustomSql takes either a condition on its single value "
                                     "or 'with threshold' on its rows, not both", with_token)
                threshold = self.condition(["number"], "with threshold")
                if threshold.dynamic:
                    raise self.error("a threshold is a fixed number", with_token)
                continue
            if not self.is_("="):
                raise self.error(f"tag {name!r} only supports the equality operator '='")
            self.advance()
            token = self.tok
            if token.kind == "STRING":
                tags[name] = _unquote(self.advance().value)
            elif token.kind == "NUMBER":
                tags[name] = self.advance().value
            elif token.kind == "VAR":
                tags[name] = self.resolve(self.advance(), "string")
            else:
                raise self.error(f"expected a quoted string or a number as the value of tag "
                                 f"{name!r}")
        return threshold, tags

    def with_time_zone(self, condition: Condition, zone: str, start: Token) -> Condition:
        try:
            zoneinfo.ZoneInfo(zone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
            raise self.error(f"unknown time zone {zone!r} in tag timeZone", start) from exc
        operands = tuple(
            DateExpr(time_of_day=o.time_of_day, time_zone=zone)
            if isinstance(o, DateExpr) and o.time_of_day is not None else o
            for o in condition.operands)
        return Condition(condition.op, operands, condition.text, condition.kind)

    # -- conditions --------------------------------------------------------------------
    def at_condition(self) -> bool:
        token = self.tok
        if token.kind == "OP" and token.value in COMPARISONS:
            return True
        return token.kind == "WORD" and token.value in ("between", "in", "not", "matches")

    def condition(self, kinds: Sequence[str], rule_type: str) -> Condition:
        start = self.tok
        if self.is_word("not"):
            self.advance()
            if not self.is_word("in", "between", "matches"):
                raise self.error("expected 'in', 'between' or 'matches' after 'not'")
            op = "not " + self.advance().value
        else:
            op = self.advance().value
        if op in REGEX_OPS:
            if "string" not in kinds:
                raise self.error(f"{rule_type} does not support 'matches'", start)
            if self.tok.kind != "STRING":
                raise self.error("expected a quoted regular expression after 'matches'")
            pattern_token = self.advance()
            pattern = _unquote(pattern_token.value)
            try:
                re.compile(pattern)
            except re.error as exc:
                raise self.error(f"invalid regular expression: {exc}", pattern_token) from exc
            return Condition(op, (pattern,), self.since(start), "string")
        if op in RANGE_OPS:
            low, low_kinds = self.operand(kinds, rule_type)
            if not self.is_word("and", "AND"):
                raise self.error("expected 'and' in 'between <low> and <high>'")
            self.advance()
            high, high_kinds = self.operand(kinds, rule_type)
            kind = self.common_kind([low_kinds, high_kinds], start, rule_type)
            if kind == "string":
                raise self.error("'between' compares numbers, dates, durations or sizes, "
                                 "not text", start)
            return Condition(op, self.coerce([low, high], kind), self.since(start), kind)
        if op in SET_OPS:
            if self.tok.kind == "VAR":
                values = self.resolve(self.advance(), "list")
                if "string" not in kinds:
                    raise self.error(f"{rule_type} compares numbers; a variable holds text",
                                     start)
                return Condition(op, tuple(_keyword_or_text(v) for v in values),
                                 self.since(start), "string")
            self.expect("[", "'[' to open the list of values")
            items: list[tuple[Any, set[str]]] = []
            if self.is_("]"):
                raise self.error("the list of values is empty", start)
            while True:
                items.append(self.operand(kinds, rule_type, in_set=True))
                if self.is_(","):
                    self.advance()
                    continue
                self.expect("]", "',' or ']' in the list of values")
                break
            kind = self.common_kind([k for _, k in items], start, rule_type, text_first=True)
            return Condition(op, self.coerce([v for v, _ in items], kind), self.since(start),
                             kind)
        if op not in COMPARISONS:
            raise self.error("expected a comparison (= != > >= < <=), between, in or matches",
                             start)
        value, value_kinds = self.operand(kinds, rule_type)
        if op not in ("=", "!=") and value_kinds == {"string"}:
            raise self.error(f"'{op}' compares numbers, dates, durations or sizes; text can "
                             "only be compared with = or !=", start)
        kind = self.common_kind([value_kinds], start, rule_type,
                                text_first=op in ("=", "!=") and not _DATE_RE.fullmatch(
                                    str(value)))
        return Condition(op, self.coerce([value], kind), self.since(start), kind)

    def common_kind(self, kinds_per_item: Sequence[set[str]], start: Token, rule_type: str,
                    *, text_first: bool = False) -> str:
        """The one condition family every operand fits; a quoted ISO date fits both text
        and date, and is read as text in lists (``in``) and as a date elsewhere."""
        common = set.intersection(*kinds_per_item) if kinds_per_item else set()
        order = ("number", "duration", "size") + (
            ("string", "date") if text_first else ("date", "string"))
        for preferred in order:
            if preferred in common:
                return preferred
        raise self.error(f"{rule_type}: the values mix types (numbers, quoted text, dates); "
                         "a list or range holds one type", start)

    @staticmethod
    def coerce(values: Sequence[Any], kind: str) -> tuple[Operand, ...]:
        out: list[Operand] = []
        for value in values:
            if value == "NULL":
                out.append(Keyword("NULL"))
            elif kind == "date" and isinstance(value, str):
                out.append(DateExpr(iso_date=value))
            elif kind == "string" and isinstance(value, DateExpr) and value.iso_date:
                out.append(value.iso_date)
            elif kind == "size" and isinstance(value, float):
                out.append(Size(int(value)))
            else:
                out.append(value)
        return tuple(out)

    def operand(self, kinds: Sequence[str], rule_type: str, *, in_set: bool = False
                ) -> tuple[Any, set[str]]:
        """One operand and the condition kinds it can belong to."""
        token = self.tok
        if token.kind == "STRING":
            self.advance()
            value = _unquote(token.value)
            can: set[str] = set()
            if "string" in kinds:
                can.add("string")
            if "date" in kinds:
                moment = self.date_literal(value, token)
                if moment is not None:
                    can.add("date")
                    if "string" not in can:
                        return moment, can
            if not can:
                raise self.error(self.expected_for(kinds, rule_type), token)
            if "date" in can and _DATE_RE.fullmatch(value):
                return value, can
            if "date" in can:
                return self.date_literal(value, token), can
            return value, can
        if token.kind == "WORD" and token.value.lower() in _KEYWORDS:
            word = _KEYWORDS[self.advance().value.lower()]
            if word == "NULL":
                return "NULL", {k for k in kinds if k in ("string", "number", "date")}
            if "string" not in kinds:
                raise self.error(self.expected_for(kinds, rule_type), token)
            return Keyword(word), {"string"}
        if token.kind == "VAR":
            if "string" not in kinds:
                raise self.error(f"{rule_type} compares numbers; variables hold text", token)
            return _keyword_or_text(self.resolve(self.advance(), "string")), {"string"}
        if "date" in kinds and (self.is_word("now") or (
            self.is_("(") and self.peek().kind == "WORD" and self.peek().value == "now"
        )):
            return self.date_expr(), {"date"}
        if token.kind == "NUMBER" and self.peek().kind == "WORD" and (
            self.peek().value in _HOURS_PER_UNIT or self.peek().value in _BYTES_PER_UNIT
        ):
            amount = self.advance().value
            unit_token = self.advance()
            if unit_token.value in _HOURS_PER_UNIT:
                if "duration" not in kinds:
                    raise self.error(self.expected_for(kinds, rule_type), token)
                return Duration(float(amount), unit_token.value), {"duration"}
            if "size" not in kinds:
                raise self.error(self.expected_for(kinds, rule_type), token)
            if "." in amount or amount.startswith("-"):
                raise self.error("a size is a whole number of B, KB, MB, GB or TB", token)
            return Size(int(amount), unit_token.value), {"size"}
        if token.kind in ("NUMBER", "WORD", "PUNCT", "OP") and (
            token.kind == "NUMBER" or (token.kind == "WORD" and self.is_("(", self.peek()))
            or self.is_("(") or self.is_("-")
        ):
            if "number" not in kinds and "size" not in kinds:
                if "duration" in kinds and token.kind == "NUMBER":
                    raise self.error("expected the unit 'days', 'hours' or 'minutes'",
                                     self.peek())
                raise self.error(self.expected_for(kinds, rule_type), token)
            number = self.number_expr()
            if "size" in kinds and "number" not in kinds:
                if isinstance(number, NumExpr) or not float(number).is_integer():
                    raise self.error("a size is a whole number of B, KB, MB, GB or TB", token)
                return float(number), {"size"}
            return number, {"number"}
        raise self.error(self.expected_for(kinds, rule_type))

    @staticmethod
    def expected_for(kinds: Sequence[str], rule_type: str) -> str:
        words = {"number": "a number", "string": "a quoted string (or NULL, EMPTY, "
                 "WHITESPACES_ONLY)", "date": "a date (\"2024-01-31\", now(), "
                 "(now() - 3 days), \"9:30 AM\")", "duration": "a duration such as "
                 "'24 hours', '2 days' or '90 minutes'", "size": "a size such as '5 KB'"}
        if list(kinds) == ["number"]:
            return f"{rule_type} compares a number; expected a numeric value"
        return f"{rule_type} expects " + " or ".join(words[k] for k in kinds)

    def date_literal(self, value: str, token: Token) -> DateExpr | None:
        if _DATE_RE.fullmatch(value):
            try:
                dt_.date.fromisoformat(value)
            except ValueError as exc:
                raise self.error(f"invalid date {value!r}: {exc}", token) from exc
            return DateExpr(iso_date=value)
        ampm = _TIME_RE.fullmatch(value)
        if ampm:
            hour, minute = int(ampm.group(1)), int(ampm.group(2))
            if not 1 <= hour <= 12 or minute > 59:
                raise self.error(f"invalid time {value!r}: hours run 1-12 with AM/PM", token)
            hour = hour % 12 + (12 if ampm.group(3) == "PM" else 0)
            return DateExpr(time_of_day=f"{hour:02d}:{minute:02d}")
        military = _MIL_TIME_RE.fullmatch(value)
        if military:
            hour, minute = int(military.group(1)), int(military.group(2))
            if hour > 23 or minute > 59:
                raise self.error(f"invalid time {value!r}: expected HH:MM from 00:00 to 23:59",
                                 token)
            return DateExpr(time_of_day=f"{hour:02d}:{minute:02d}")
        return None

    def date_expr(self) -> DateExpr:
        wrapped = self.is_("(")
        if wrapped:
            self.advance()
        if not self.is_word("now"):
            raise self.error("expected now()")
        self.advance()
        self.expect("(")
        self.expect(")")
        offset = 0.0
        if wrapped:
            if self.tok.kind == "OP" and self.tok.value in ("+", "-"):
                sign = -1.0 if self.advance().value == "-" else 1.0
                amount_token = self.tok
                if amount_token.kind != "NUMBER" or "." in amount_token.value:
                    raise self.error("expected a whole number of days, hours or minutes")
                amount = float(self.advance().value)
            elif self.tok.kind == "NUMBER" and self.tok.value.startswith("-"):
                sign, amount = -1.0, abs(float(self.advance().value))
            else:
                raise self.error("expected '+' or '-' and a duration, e.g. (now() - 3 days)")
            if not self.is_word(*_HOURS_PER_UNIT):
                raise self.error("expected the unit 'days', 'hours' or 'minutes'")
            offset = sign * Duration(amount, self.advance().value).hours
            self.expect(")", "')' to close the date expression")
        return DateExpr(offset_hours=offset)

    # -- number expressions ------------------------------------------------------------
    def number_expr(self) -> float | NumExpr:
        """``number (op number)*``, all operators one precedence level (Glue's grammar)."""
        start = self.tok
        left = self.number_atom()
        while (self.tok.kind == "OP" and self.tok.value in ("+", "-", "*", "/")) or (
            self.tok.kind == "NUMBER" and self.tok.value.startswith("-")
            and self.tokens[self.pos - 1].kind != "OP"
        ):
            if self.tok.kind == "NUMBER":  # "10 -5" lexes as 10, -5: a subtraction
                op = "-"
                right: float | NumExpr = abs(float(self.advance().value))
            else:
                op = self.advance().value
                right = self.number_atom()
            left = self.combine(op, left, right, start)
        return left

    def combine(self, op: str, left: float | NumExpr, right: float | NumExpr, start: Token
                ) -> float | NumExpr:
        if not isinstance(left, NumExpr) and not isinstance(right, NumExpr):
            if op == "/" and right == 0:
                raise self.error("division by zero", start)
            return {"+": left + right, "-": left - right, "*": left * right,
                    "/": left / right if right else 0.0}[op]
        return NumExpr("binary", op, (_as_expr(left), _as_expr(right)), text=self.since(start))

    def number_atom(self) -> float | NumExpr:
        token = self.tok
        if token.kind == "NUMBER":
            self.advance()
            return float(token.value)
        if self.is_("-") and self.peek().kind == "NUMBER":
            self.advance()
            return -float(self.advance().value)
        if self.is_("("):
            self.advance()
            inner = self.number_expr()
            self.expect(")", "')' to close the expression")
            return inner
        if token.kind == "WORD" and self.is_("(", self.peek()):
            name = self.advance().value
            self.advance()
            args: list[float | NumExpr] = []
            if not self.is_(")"):
                while True:
                    args.append(self.number_expr())
                    if self.is_(","):
                        self.advance()
                        continue
                    break
            self.expect(")", f"')' to close {name}(")
            return NumExpr("call", name, tuple(_as_expr(a) for a in args),
                           text=self.since(token))
        if token.kind == "VAR":
            raise self.error("numbers cannot come from variables; variables hold text", token)
        raise self.error("expected a number")


def _as_expr(value: float | NumExpr) -> NumExpr:
    return value if isinstance(value, NumExpr) else NumExpr("number", value=float(value),
                                                            text=_fmt_number(value))


def _keyword_or_text(value: str) -> str | Keyword:
    return Keyword(value) if value in ("NULL", "EMPTY", "WHITESPACES_ONLY") else value


def parse(text: str, source: str = "<ruleset>") -> Ruleset:
    """Parse a DQDL document; raise :class:`DQDLSyntaxError` pointing at the bad token."""
    return _Parser(text, source).document()
