"""Read one landed file with DuckDB, strictly: the reader both the crawler and ingest use.

Why strict and why hand-built: DuckDB's sniffer adapts to a broken file (an unbalanced
quote becomes part of a value, a wrong field count turns the file into one column), which
would hide exactly the faults the catalog must refuse. So CSV is read with a fixed dialect
(RFC 4180: ``,`` ``"`` ``"``), the header taken from the file, every column as VARCHAR,
``strict_mode`` on and no row skipping or null padding: a malformed row is an error that
names its line. Types are inferred separately (DuckDB's sniffer on the validated file)
and only reported; values are cast to the configured types with ``TRY_CAST`` on read.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from airsage.errors import InputDataError

FORMAT_BY_SUFFIX = {
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".json": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
}
_LINE = re.compile(r"on Line: (\d+)", re.IGNORECASE)
_REASON = re.compile(
    r"Value with unterminated quote found\.|Expected Number of Columns: \d+ Found: \d+"
    r"|Invalid unicode[^\n]*|Could not convert[^\n]*|Malformed JSON[^\n]*"
)


def detect_format(name: str) -> str:
    """A landed file's format from its extension: .csv, .jsonl/.json/.ndjson, .parquet."""
    suffix = Path(name).suffix.lower()
    try:
        return FORMAT_BY_SUFFIX[suffix]
    except KeyError:
        raise InputDataError(
            f"cannot tell the format of {name!r} from its extension {suffix!r}; "
            f"name batch files with one of {', '.join(sorted(FORMAT_BY_SUFFIX))} or pass fmt="
        ) from None


def sql_string(value: str) -> str:
    """A SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def sql_ident(name: str) -> str:
    """A quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True)
class FileSchema:
    """What a file holds: source column names, DuckDB's inferred types, how to read it.

    ``refs[i]`` is the expression that reads ``columns[i]`` out of ``reader`` (CSV columns
    are read under positional names, so odd headers such as ``""`` need no quoting tricks).
    """

    path: str
    format: str
    columns: tuple[str, ...]
    types: tuple[str, ...]
    refs: tuple[str, ...]
    reader: str
    rows: int | None = None


def _csv_header(path: Path) -> list[str]:
    try:
        with path.open("rb") as raw:
            text = io.TextIOWrapper(raw, encoding="utf-8", newline="")
            header = next(csv.reader(text, strict=True))
    except UnicodeDecodeError as exc:
        raise InputDataError(
            f"{path.name}: line 1 (the header) is not UTF-8 ({exc.reason} at byte {exc.start}); "
            "re-export the file as UTF-8"
        ) from exc
    except csv.Error as exc:
        raise InputDataError(f"{path.name}: line 1 (the header) is not valid CSV: {exc}") from exc
    except StopIteration:
        raise InputDataError(f"{path.name} holds no header line; a CSV batch needs one") from None
    if header and header[0].startswith("\ufeff"):
        header[0] = header[0][1:]
    return header


def _csv_reader(path: Path, width: int) -> str:
    columns = ", ".join(f"'c{i}': 'VARCHAR'" for i in range(width))
    return (
        f"read_csv({sql_string(str(path))}, auto_detect=false, header=true, delim=',', "
        f"quote='\"', escape='\"', strict_mode=true, ignore_errors=false, null_padding=false, "
        "hive_partitioning=false, "
        f"columns={{{columns}}})"
    )


def _file_line(path: Path, record: int) -> int | None:
    """The file line on which CSV record ``record`` (1 = the header) starts.

    DuckDB numbers records, not lines; a review holding newlines spans several lines, so
    its record number points above the real place. Python's reader counts physical lines.
    """
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            reader = csv.reader(handle)
            for count in range(1, record + 1):
                start = reader.line_num + 1
                try:
                    next(reader)
                except StopIteration:
                    return None
                except csv.Error:
                    return start
                if count == record:
                    return start
    except (OSError, UnicodeDecodeError):
        return None
    return None


def _explain(path: Path, fmt: str, exc: Exception) -> InputDataError:
    """DuckDB's reason, its line and the start of the offending line, in one sentence."""
    message = str(exc)
    match = _LINE.search(message)
    where = f" at line {match.group(1)}" if match else ""
    note = ""
    if match and fmt == "csv":
        record = int(match.group(1))
        line = _file_line(path, record)
        if line is not None and line != record:
            where = f" at line {line}"
            note = (f" (it is CSV record {record - 1} after the header: earlier quoted values "
                    "span several lines)")
    known = _REASON.search(message)
    reason = known.group(0) if known else message.splitlines()[0]
    original = ""
    if "Original Line:" in message:
        original = message.split("Original Line:", 1)[1].strip().splitlines()[0]
    if len(original) > 120:
        original = original[:120] + "..."
    shown = f" (the line starts {original!r})" if original else ""
    return InputDataError(
        f"{path.name} is not a readable {fmt.upper()} file{where}: {reason}{shown}{note}. "
        "The partition was not registered; fix or replace the batch (raw data is immutable: "
        "land a corrected file for a new date or delete the bad partition)"
    )


def _check_utf8(path: Path) -> None:
    """Refuse non-UTF-8 bytes with the line they are on (before DuckDB sees them)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    lines_before = 0
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                line = lines_before + chunk[: max(exc.start, 0)].count(b"\n") + 1
                raise InputDataError(
                    f"{path.name} is not a readable CSV file at line {line}: it is not UTF-8 "
                    f"(byte {chunk[exc.start:exc.start + 1]!r}: {exc.reason}). The partition "
                    "was not registered; re-export the batch as UTF-8 and land it again"
                ) from exc
            lines_before += chunk.count(b"\n")
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError as exc:
            raise InputDataError(
                f"{path.name} is not a readable CSV file at line {lines_before + 1}: it ends "
                "inside a UTF-8 character; the file is truncated or not UTF-8"
            ) from exc


def inspect_file(con: Any, path: str | Path, fmt: str | None = None, *,
                 validate: bool = True) -> FileSchema:
    """Describe a file; with ``validate`` also read every value once and count the rows.

    Raises :class:`InputDataError` naming the file (and the line, where DuckDB says it)
    for an empty, malformed or non-UTF-8 file.
    """
    import duckdb

    path = Path(path)
    fmt = fmt or detect_format(path.name)
    if not path.exists():
        raise InputDataError(f"{path} does not exist; the partition's manifest lists it")
    if path.stat().st_size == 0:
        raise InputDataError(f"{path.name} is empty (0 bytes); a batch needs at least a header")
    try:
        if fmt == "csv":
            _check_utf8(path)
            header = _csv_header(path)
            reader = _csv_reader(path, len(header))
            refs = tuple(f"c{i}" for i in range(len(header)))
            columns = tuple(header)
        else:
            reader = (
                f"read_parquet({sql_string(str(path))}, hive_partitioning=false)"
                if fmt == "parquet"
                else f"read_json({sql_string(str(path))}, format='newline_delimited', "
                "hive_partitioning=false)"
            )
            described = con.execute(f"DESCRIBE SELECT * FROM {reader}").fetchall()
            engine_names = tuple(row[0] for row in described)
            refs = tuple(sql_ident(name) for name in engine_names)
            columns = _json_source_names(path, engine_names) if fmt == "jsonl" \
                else engine_names
        rows = None
        if validate:
            counts = ", ".join(f"count({ref})" for ref in refs) or "0"
            rows = int(con.execute(f"SELECT count(*), {counts} FROM {reader}").fetchone()[0])
        types = _infer_types(con, path, columns) if fmt == "csv" else tuple(
            str(row[1]) for row in described
        )
    except InputDataError:
        raise
    except duckdb.Error as exc:
        raise _explain(path, fmt, exc) from exc
    return FileSchema(str(path), fmt, columns, types, refs, reader, rows)


_UNNAMED = re.compile(r"[cC]0+")


def _json_source_names(path: Path, names: tuple[str, ...]) -> tuple[str, ...]:
    """The file's own keys for DuckDB's column names: DuckDB calls an empty key ``c0``.

    The public data set's first column has no name; written as JSON lines its key is ``""``,
    which ``source_columns`` maps to ``review_id``. Without this, that column would be
    unknown and the id missing. The first record's keys decide (read with Python's json).
    """
    import json

    try:
        with path.open(encoding="utf-8") as handle:
            first = next((line for line in handle if line.strip()), "")
        keys = set(json.loads(first)) if first else set()
    except (OSError, UnicodeDecodeError, ValueError, TypeError):
        return names
    if "" not in keys:
        return names
    return tuple("" if _UNNAMED.fullmatch(name) and name not in keys else name
                 for name in names)


def _infer_types(con: Any, path: Path, columns: tuple[str, ...]) -> tuple[str, ...]:
    """DuckDB's sniffed types for a CSV already known to be well formed (VARCHAR if unsure)."""
    import duckdb

    sniff = (
        f"DESCRIBE SELECT * FROM read_csv({sql_string(str(path))}, header=true, delim=',', "
        "quote='\"', escape='\"', strict_mode=true, hive_partitioning=false)"
    )
    try:
        described = con.execute(sniff).fetchall()
    except duckdb.Error:
        return tuple("VARCHAR" for _ in columns)
    if len(described) != len(columns):
        return tuple("VARCHAR" for _ in columns)
    return tuple(str(row[1]) for row in described)


def count_rows(path: str | Path, fmt: str | None = None) -> int | None:
    """Rows in a file, or None when the file cannot be read (landing accepts it anyway)."""
    import duckdb

    with duckdb.connect() as con:
        try:
            return inspect_file(con, path, fmt, validate=True).rows
        except InputDataError:
            return None
