"""Parse DQDL, the Data Quality Definition Language of AWS Glue Data Quality.

The same ruleset file runs on both targets: Glue Data Quality (Deequ) reads it on AWS, and
:mod:`airsage.quality.compiler` turns it into SQL locally. This module is therefore strict:
whatever it accepts must mean the same thing in both places, and whatever it refuses is
reported with the line, the column and the offending token, the way a compiler would.

Supported (a subset of the DQDL reference, chosen for a tabular batch gate):
``Rules = [ ... ]`` (optionally preceded by ``Metadata = {...}``), ``#`` comments, rule types
RowCount, ColumnCount, IsComplete, Completeness, IsUnique, Uniqueness, IsPrimaryKey,
ColumnValues, ColumnLength, Mean, Sum, StandardDeviation, DistinctValuesCount, Entropy,
ColumnExists, ColumnDataType, CustomSql, DataFreshness; expressions ``= != > >= < <=``,
``[not] between a and b``, ``[not] in [...]``, ``[not] matches "regex"``, the keywords
``NULL``, ``EMPTY``, ``WHITESPACES_ONLY``, dates (``"2024-01-31"``, ``now()``,
``(now() - 3 days)``), durations (``24 hours``, ``2 days``); ``with threshold <expr>``;
``where "<sql predicate>"``; ``(rule) and (rule)`` / ``(rule) or (rule)`` composition.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from airsage.errors import ConfigurationError

# --------------------------------------------------------------------------------------
# AST
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Keyword:
    """One of DQDL's value keywords: NULL, EMPTY or WHITESPACES_ONLY."""

    name: str

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class DateExpr:
    """A point in time: an ISO date, or ``now()`` shifted by ``offset_hours``."""

    iso_date: str | None = None
    offset_hours: float = 0.0

    def __str__(self) -> str:
        if self.iso_date is not None:
            return f'"{self.iso_date}"'
        if not self.offset_hours:
            return "now()"
        sign = "-" if self.offset_hours < 0 else "+"
        return f"(now() {sign} {_fmt_number(abs(self.offset_hours))} hours)"


@dataclass(frozen=True)
class Duration:
    """A span of time written ``24 hours`` or ``2 days``; kept in hours."""

    amount: float
    unit: str

    @property
    def hours(self) -> float:
        return self.amount * (24.0 if self.unit == "days" else 1.0)

    def __str__(self) -> str:
        return f"{_fmt_number(self.amount)} {self.unit}"


Operand = float | str | Keyword | DateExpr | Duration

COMPARISONS = ("=", "!=", ">", ">=", "<", "<=")
SET_OPS = ("in", "not in")
RANGE_OPS = ("between", "not between")
REGEX_OPS = ("matches", "not matches")
NEGATED_OPS = ("!=", "not in", "not between", "not matches")


@dataclass(frozen=True)
class Condition:
    """``<op> <operands>``: ``> 0.9``, ``between 1 and 5``, ``in ["a", NULL]``…"""

    op: str
    operands: tuple[Operand, ...]
    text: str

    @property
    def negated(self) -> bool:
        return self.op in NEGATED_OPS

    def check(self, value: float) -> bool:
        """Judge an aggregate metric. ``between`` is exclusive, as in Glue's DQDL library."""
        nums = [float(o) for o in self.operands if isinstance(o, (int, float))]
        if self.op in RANGE_OPS:
            inside = nums[0] < value < nums[1]
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
    """One DQDL rule: ``<RuleType> <params> <condition> [with threshold …] [where "…"]``."""

    rule_type: str
    params: tuple[str, ...]
    condition: Condition | None
    threshold: Condition | None
    where: str | None
    text: str
    line: int
    column: int

    @property
    def column_name(self) -> str:
        return self.params[0]


@dataclass(frozen=True)
class CompositeRule:
    """``(rule) and (rule) …`` or ``(rule) or (rule) …``; each side evaluated on its own."""

    op: str
    children: tuple[Rule | CompositeRule, ...]
    text: str
    line: int
    column: int

    def leaves(self) -> list[Rule]:
        found: list[Rule] = []
        for child in self.children:
            found.extend(child.leaves() if isinstance(child, CompositeRule) else [child])
        return found


AnyRule = Rule | CompositeRule


@dataclass(frozen=True)
class Ruleset:
    """A parsed DQDL document."""

    rules: tuple[AnyRule, ...]
    source: str = "<ruleset>"
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def leaves(self) -> list[Rule]:
        found: list[Rule] = []
        for rule in self.rules:
            found.extend(rule.leaves() if isinstance(rule, CompositeRule) else [rule])
        return found

    def to_dqdl(self) -> str:
        body = ",\n".join(f"    {rule.text}" for rule in self.rules)
        return f"Rules = [\n{body}\n]\n" if body else "Rules = [ ]\n"


# --------------------------------------------------------------------------------------
# rule type table: parameter counts and what kind of expression each accepts
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleSpec:
    min_params: int
    max_params: int | None
    condition: str | None  # None: no expression; "number", "value", "duration", "type"
    threshold: bool = False
    where: bool = True


RULE_SPECS: dict[str, RuleSpec] = {
    "RowCount": RuleSpec(0, 0, "number"),
    "ColumnCount": RuleSpec(0, 0, "number", where=False),
    "IsComplete": RuleSpec(1, 1, None),
    "Completeness": RuleSpec(1, 1, "number"),
    "IsUnique": RuleSpec(1, 1, None),
    "Uniqueness": RuleSpec(1, None, "number"),
    "IsPrimaryKey": RuleSpec(1, None, None),
    "ColumnValues": RuleSpec(1, 1, "value", threshold=True),
    "ColumnLength": RuleSpec(1, 1, "number", threshold=True),
    "Mean": RuleSpec(1, 1, "number"),
    "Sum": RuleSpec(1, 1, "number"),
    "StandardDeviation": RuleSpec(1, 1, "number"),
    "DistinctValuesCount": RuleSpec(1, 1, "number"),
    "Entropy": RuleSpec(1, 1, "number"),
    "ColumnExists": RuleSpec(1, 1, None, where=False),
    "ColumnDataType": RuleSpec(1, 1, "type", threshold=True),
    "CustomSql": RuleSpec(1, 1, "number", where=False),
    "DataFreshness": RuleSpec(1, 1, "duration", threshold=True),
}

# DQDL type names -> the SQL type a value must cast to.
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
    kind: str  # STRING NUMBER WORD OP PUNCT EOF
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
  | (?P<NUMBER>-?\d+(?:\.\d+)?(?![A-Za-z_]))
  | (?P<OP>!=|>=|<=|=|>|<|\+|-)
  | (?P<PUNCT>[\[\](),{}:])
  | (?P<WORD>[A-Za-z_][A-Za-z0-9_.]*)
    """,
    re.VERBOSE,
)

_VALUE_KEYWORDS = {"NULL": "NULL", "EMPTY": "EMPTY", "WHITESPACES_ONLY": "WHITESPACES_ONLY"}
_RESERVED = {"and", "or", "not", "in", "between", "matches", "with", "where", "threshold",
             "AND", "OR", "null", "NULL", "empty", "EMPTY", "whitespaces_only",
             "WHITESPACES_ONLY", "now"}


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
        return token.kind != "STRING" and token.value == value

    def is_word(self, *values: str) -> bool:
        return self.tok.kind == "WORD" and self.tok.value in values

    def expect(self, value: str, what: str | None = None) -> Token:
        if not self.is_(value):
            raise self.error(f"expected {what or repr(value)}")
        return self.advance()

    # -- document ----------------------------------------------------------------------
    def document(self) -> Ruleset:
        metadata: dict[str, Any] = {}
        while self.is_word("Metadata", "Sources"):
            name = self.advance().value
            self.expect("=")
            value = self.dictionary()
            if name == "Metadata":
                metadata = value
        if not self.is_word("Rules"):
            raise self.error("a DQDL document must contain 'Rules = [ ... ]'")
        self.advance()
        self.expect("=")
        self.expect("[", "'[' to open the list of rules")
        rules: list[AnyRule] = []
        if not self.is_("]"):
            while True:
                rules.append(self.rule_item())
                if self.is_(","):
                    self.advance()
                    if self.is_("]"):  # tolerate a trailing comma
                        break
                    continue
                if self.is_("]"):
                    break
                raise self.error("expected ',' between rules or ']' to close the list")
        self.expect("]")
        if self.tok.kind != "EOF":
            raise self.error("unexpected text after the closing ']' of Rules")
        return Ruleset(rules=tuple(rules), source=self.source, metadata=metadata)

    def dictionary(self) -> dict[str, Any]:
        self.expect("{")
        result: dict[str, Any] = {}
        while not self.is_("}"):
            if self.tok.kind != "STRING":
                raise self.error("expected a quoted key in the dictionary")
            key = _unquote(self.advance().value)
            self.expect(":")
            if self.tok.kind == "STRING":
                result[key] = _unquote(self.advance().value)
            elif self.is_("["):
                self.advance()
                items: list[str] = []
                while not self.is_("]"):
                    if self.tok.kind != "STRING":
                        raise self.error("expected a quoted string in the array")
                    items.append(_unquote(self.advance().value))
                    if self.is_(","):
                        self.advance()
                self.advance()
                result[key] = items
            else:
                raise self.error("expected a quoted string or an array as the value")
            if self.is_(","):
                self.advance()
            elif not self.is_("}"):
                raise self.error("expected ',' or '}' in the dictionary")
        self.advance()
        return result

    # -- rules -------------------------------------------------------------------------
    def rule_item(self) -> AnyRule:
        if self.is_("("):
            return self.composite()
        return self.simple_rule()

    def composite(self) -> AnyRule:
        start = self.tok
        children = [self.parenthesised()]
        op: str | None = None
        while self.tok.kind == "WORD" and self.tok.value.lower() in ("and", "or"):
            this_op = self.tok.value.lower()
            if op is not None and this_op != op:
                raise self.error(
                    f"cannot mix 'and' and 'or' at one level; add parentheses, e.g. "
                    f"(A) {op} ((B) {this_op} (C))"
                )
            op = this_op
            self.advance()
            if not self.is_("("):
                raise self.error(f"each side of '{op}' must be a rule in parentheses")
            children.append(self.parenthesised())
        text = self.text[start.offset:self.tokens[self.pos - 1].end]
        if op is None:
            return children[0]
        return CompositeRule(op=op, children=tuple(children), text=text, line=start.line,
                             column=start.column)

    def parenthesised(self) -> AnyRule:
        self.expect("(")
        inner = self.rule_item()
        self.expect(")", "')' to close the rule")
        return inner

    def simple_rule(self) -> Rule:
        start = self.tok
        if start.kind != "WORD":
            raise self.error("expected a rule type such as IsComplete or RowCount")
        spec = RULE_SPECS.get(start.value)
        if spec is None:
            hint = next((n for n in RULE_SPECS if n.lower() == start.value.lower()), None)
            known = f"did you mean {hint}?" if hint else f"known rule types: {', '.join(RULE_SPECS)}"
            raise self.error(f"unknown rule type {start.value!r} (rule types are case "
                             f"sensitive; {known})", start)
        rule_type = self.advance().value
        params: list[str] = []
        while self.tok.kind == "STRING" or (
            self.tok.kind == "WORD" and self.tok.value not in _RESERVED
            and self.tok.value not in RULE_SPECS
        ):
            params.append(_unquote(self.tok.value) if self.tok.kind == "STRING" else self.tok.value)
            self.advance()
        if len(params) < spec.min_params or (
            spec.max_params is not None and len(params) > spec.max_params
        ):
            want = (str(spec.min_params) if spec.max_params == spec.min_params
                    else f"at least {spec.min_params}")
            raise self.error(f"{rule_type} takes {want} quoted column name(s), got {len(params)}")
        condition = None
        if self.at_condition():
            if spec.condition is None:
                raise self.error(f"{rule_type} takes no expression")
            condition = self.condition(spec.condition, rule_type)
        elif spec.condition is not None:
            raise self.error(f"{rule_type} needs an expression such as '> 0.9' or "
                             "'between 1 and 5'")
        threshold = None
        if self.is_word("with"):
            if not spec.threshold:
                raise self.error(f"{rule_type} does not support 'with threshold'")
            self.advance()
            if not self.is_word("threshold"):
                raise self.error("expected 'threshold' after 'with'")
            self.advance()
            threshold = self.condition("number", "with threshold")
        where = None
        if self.is_word("where"):
            if not spec.where:
                raise self.error(f"{rule_type} does not support a where clause")
            self.advance()
            if self.tok.kind != "STRING":
                raise self.error('expected a quoted SQL predicate after where, e.g. where "age > 18"')
            where = _unquote(self.advance().value)
        text = self.text[start.offset:self.tokens[self.pos - 1].end]
        return Rule(rule_type=rule_type, params=tuple(params), condition=condition,
                    threshold=threshold, where=where, text=" ".join(text.split()),
                    line=start.line, column=start.column)

    # -- expressions -------------------------------------------------------------------
    def at_condition(self) -> bool:
        token = self.tok
        if token.kind == "OP" and token.value in COMPARISONS:
            return True
        return token.kind == "WORD" and token.value in ("between", "in", "not", "matches")

    def condition(self, kind: str, rule_type: str) -> Condition:
        start = self.tok
        if self.is_word("not"):
            self.advance()
            if not self.is_word("in", "between", "matches"):
                raise self.error("expected 'in', 'between' or 'matches' after 'not'")
            op = "not " + self.advance().value
        elif self.tok.kind == "WORD" and self.tok.value in ("between", "in", "matches"):
            op = self.advance().value
        else:
            op = self.advance().value
        operands: list[Operand]
        if op in RANGE_OPS:
            low = self.operand(kind, rule_type)
            if not self.is_word("and", "AND"):
                raise self.error("expected 'and' in 'between <low> and <high>'")
            self.advance()
            operands = [low, self.operand(kind, rule_type)]
        elif op in SET_OPS:
            self.expect("[", "'[' to open the list of values")
            operands = []
            while not self.is_("]"):
                operands.append(self.operand(kind, rule_type, in_set=True))
                if self.is_(","):
                    self.advance()
                elif not self.is_("]"):
                    raise self.error("expected ',' or ']' in the list of values")
            self.advance()
            if not operands:
                raise self.error("the list of values is empty", start)
        elif op in REGEX_OPS:
            if kind != "value":
                raise self.error(f"{rule_type} does not support 'matches'", start)
            if self.tok.kind != "STRING":
                raise self.error("expected a quoted regular expression after 'matches'")
            pattern = _unquote(self.advance().value)
            try:
                re.compile(pattern)
            except re.error as exc:
                raise self.error(f"invalid regular expression: {exc}", self.tokens[self.pos - 1]) from exc
            operands = [pattern]
        else:
            operands = [self.operand(kind, rule_type)]
        if kind == "type":
            if op != "=" or not isinstance(operands[0], str):
                raise self.error('ColumnDataType expects = "<TYPE>", e.g. = "INTEGER"', start)
            if operands[0].upper() not in DATA_TYPES:
                raise self.error(f"unknown data type {operands[0]!r}; supported: "
                                 f"{', '.join(DATA_TYPES)}", self.tokens[self.pos - 1])
        text = self.text[start.offset:self.tokens[self.pos - 1].end]
        return Condition(op=op, operands=tuple(operands), text=" ".join(text.split()))

    def operand(self, kind: str, rule_type: str, *, in_set: bool = False) -> Operand:
        token = self.tok
        if kind == "duration":
            if token.kind != "NUMBER":
                raise self.error("expected a duration such as '24 hours' or '2 days'")
            amount = float(self.advance().value)
            if not self.is_word("hours", "days"):
                raise self.error("expected the unit 'hours' or 'days'")
            return Duration(amount, self.advance().value)
        if token.kind == "NUMBER":
            self.advance()
            return float(token.value)
        if kind in ("number",):
            raise self.error(f"{rule_type} compares a number; expected a numeric value")
        if token.kind == "STRING":
            self.advance()
            value = _unquote(token.value)
            if kind == "value" and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value) and not in_set:
                return DateExpr(iso_date=value)
            return value
        if token.kind == "WORD" and token.value.upper() in _VALUE_KEYWORDS and token.value in _RESERVED:
            self.advance()
            return Keyword(_VALUE_KEYWORDS[token.value.upper()])
        if kind == "value" and (self.is_word("now") or self.is_("(")):
            return self.date_expr()
        raise self.error("expected a value (number, quoted string, NULL, EMPTY, "
                         "WHITESPACES_ONLY or a date)")

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
                if self.tok.kind != "NUMBER":
                    raise self.error("expected a number of days or hours")
                amount = float(self.advance().value)
                if not self.is_word("hours", "days"):
                    raise self.error("expected the unit 'hours' or 'days'")
                unit = self.advance().value
                offset = sign * Duration(amount, unit).hours
            elif self.tok.kind == "NUMBER" and self.tok.value.startswith("-"):
                amount = abs(float(self.advance().value))
                if not self.is_word("hours", "days"):
                    raise self.error("expected the unit 'hours' or 'days'")
                offset = -Duration(amount, self.advance().value).hours
            self.expect(")", "')' to close the date expression")
        return DateExpr(offset_hours=offset)


def parse(text: str, source: str = "<ruleset>") -> Ruleset:
    """Parse a DQDL document; raise :class:`DQDLSyntaxError` pointing at the bad token."""
    return _Parser(text, source).document()
