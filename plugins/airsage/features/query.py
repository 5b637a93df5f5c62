"""The point-in-time query, one SQL shape for DuckDB (local) and Athena (aws).

It is SageMaker Feature Store's documented offline-store read: rank each record id's records
whose event time is at or before T by event time, then ``api_invocation_time``, then
``write_time``, newest first; keep the first; drop it when it is a deletion marker.

The two dialects differ in exactly two places, both named in :class:`Dialect`:

- parsing the event time (an ISO-8601 string feature): DuckDB casts to ``TIMESTAMPTZ``,
  Athena (Trino) calls ``from_iso8601_timestamp``;
- the table: locally a view over the offline store's Parquet files, on aws the Glue table
  SageMaker registered for the group (``"database"."table"``).

Everything else — the window function, quoting, the filters, the order — is the same text.
"""

from __future__ import annotations

import datetime as dt_
from collections.abc import Callable
from dataclasses import dataclass

from airsage.features.base import (
    API_INVOCATION_TIME,
    EVENT_TIME,
    FEATURE_NAMES,
    IS_DELETED,
    RECORD_ID,
    SPLIT,
    WRITE_TIME,
    check_split,
    format_event_time,
)


def quote(identifier: str) -> str:
    """A double-quoted identifier (both dialects), refusing a name that would need escaping."""
    if '"' in identifier or not identifier:
        raise ValueError(f"identifier {identifier!r} cannot be quoted safely")
    return f'"{identifier}"'


def string_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


@dataclass(frozen=True)
class Dialect:
    """What differs between the engines: how an ISO-8601 string becomes a timestamp."""

    name: str
    parse_time: Callable[[str], str]


DUCKDB = Dialect("duckdb", lambda expression: f"CAST({expression} AS TIMESTAMPTZ)")
ATHENA = Dialect("athena", lambda expression: f"from_iso8601_timestamp({expression})")
DIALECTS = {dialect.name: dialect for dialect in (DUCKDB, ATHENA)}


def point_in_time_sql(table: str, as_of: dt_.datetime, dialect: Dialect, *,
                      split: str | None = None, columns: tuple[str, ...] = FEATURE_NAMES) -> str:
    """The records live as of ``as_of`` (newest per id at or before it, deletions dropped),
    optionally one split's, ordered by id. ``table`` is already quoted for the engine."""
    check_split(split)
    event_time = dialect.parse_time(quote(EVENT_TIME))
    cutoff = dialect.parse_time(string_literal(format_event_time(as_of)))
    selected = ", ".join(quote(column) for column in columns)
    split_filter = f"\n  AND {quote(SPLIT)} = {string_literal(split)}" if split else ""
    return (
        f"SELECT {selected}\n"
        "FROM (\n"
        "  SELECT *, row_number() OVER (\n"
        f"    PARTITION BY {quote(RECORD_ID)}\n"
        f"    ORDER BY {event_time} DESC, {quote(API_INVOCATION_TIME)} DESC, "
        f"{quote(WRITE_TIME)} DESC\n"
        '  ) AS "_rank"\n'
        f"  FROM {table}\n"
        f"  WHERE {event_time} <= {cutoff}\n"
        ") AS latest\n"
        f'WHERE "_rank" = 1 AND NOT {quote(IS_DELETED)}{split_filter}\n'
        f"ORDER BY {quote(RECORD_ID)}"
    )
