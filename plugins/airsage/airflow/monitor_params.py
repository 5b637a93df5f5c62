"""Trigger-form fields of ``reviews_drift_monitor``: check a named hour or window on demand.

A scheduled run checks its data interval (the hour that just ended). A person who wants to
know about *current* traffic, or an hour last week, names it: ``at`` (the hour that contains
that moment) or ``window_from`` / ``window_to`` (any span, rounded out to whole hours by the
monitor). Times are ISO 8601; a time without an offset is UTC. The same values come from
``airsage run reviews_drift_monitor --at ... | --from ... --to ...``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from airflow.sdk import Param

AT = "at"
WINDOW_FROM = "window_from"
WINDOW_TO = "window_to"
# YYYY-MM-DDTHH:MM, optional seconds and offset (Z or +HH:MM); the form refuses anything else.
TIME_PATTERN = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2})?(Z|[+-]\d{2}:\d{2})?$"


def drift_monitor_params() -> dict[str, Param]:
    """``at`` or ``window_from``/``window_to``; all empty = the run's own interval."""
    return {
        AT: Param(
            None, type=["null", "string"], pattern=TIME_PATTERN, title="Check the hour at",
            description="YYYY-MM-DDTHH:MM (UTC unless an offset is given): check the hour "
                        "that contains this time. Empty: the run's own interval.",
        ),
        WINDOW_FROM: Param(
            None, type=["null", "string"], pattern=TIME_PATTERN, title="Window from",
            description="Start of a window to check (with Window to), YYYY-MM-DDTHH:MM.",
        ),
        WINDOW_TO: Param(
            None, type=["null", "string"], pattern=TIME_PATTERN, title="Window to",
            description="End of the window (exclusive), YYYY-MM-DDTHH:MM.",
        ),
    }


def parse_time(value: str, name: str) -> dt.datetime:
    """An ISO time as an aware UTC datetime; a clear error names the field and the format."""
    try:
        parsed = dt.datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"{name} = {value!r} is not a time; use YYYY-MM-DDTHH:MM (UTC), e.g. "
            "2026-03-01T14:00"
        ) from None
    return parsed.replace(tzinfo=dt.UTC) if parsed.tzinfo is None else parsed.astimezone(dt.UTC)


def requested_interval(params: Mapping[str, Any]) -> tuple[dt.datetime, dt.datetime] | None:
    """The interval a person asked for, or None when the run's own interval applies.

    ``at`` -> the whole hour containing it; ``window_from``/``window_to`` -> that span. Giving
    both kinds, or only one end of a window, or an end not after its start, is refused.
    """
    at, start, end = params.get(AT), params.get(WINDOW_FROM), params.get(WINDOW_TO)
    if at and (start or end):
        raise ValueError(f"give either {AT} or {WINDOW_FROM}/{WINDOW_TO}, not both")
    if at:
        hour = parse_time(at, AT).replace(minute=0, second=0, microsecond=0)
        return hour, hour + dt.timedelta(hours=1)
    if not start and not end:
        return None
    if not (start and end):
        missing = WINDOW_TO if start else WINDOW_FROM
        raise ValueError(f"a window needs both {WINDOW_FROM} and {WINDOW_TO}; {missing} is empty")
    begin, finish = parse_time(start, WINDOW_FROM), parse_time(end, WINDOW_TO)
    if finish <= begin:
        raise ValueError(f"{WINDOW_TO} ({end}) must be after {WINDOW_FROM} ({start})")
    return begin, finish
