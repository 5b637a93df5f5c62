"""The local crawler: inference, mapping, schema changes, unreadable files, idempotency."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from airsage.catalog.local import LocalCatalog
from airsage.data.generator import (
    GeneratorConfig,
    generate_batch,
    write_batch,
    write_defective_batch,
)
from airsage.errors import GateFailedError, InputDataError
from airsage.ingest import land_file
from airsage.lake.layout import LakeLayout
from airsage.targets import resolve

DAY = "2024-04-01"
# The real 1k-row sample beside the project (absent on a fresh machine: its test skips).
PUBLIC_SAMPLE = Path(__file__).resolve().parents[3] / "shared" / "data" / (
    "womens_clothing_reviews_1k.csv"
)
CONFIG = GeneratorConfig(rows=60, seed=3, day=DAY)


def land(settings, lake, path: Path, day: str = DAY):
    return land_file(lake, settings.dataset("reviews"), path, day)


def partition_rows(catalog: LocalCatalog) -> list[tuple]:
    return [(p["dt"], p["rows"]) for p in catalog.partitions("reviews")]


def test_registered_in_targets() -> None:
    assert resolve("catalog", "local") is LocalCatalog


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_crawl_infers_and_registers_each_format(settings, lake, tmp_path, fmt):
    frame = generate_batch(CONFIG)
    land(settings, lake, write_batch(frame, tmp_path / f"batch.{fmt}"))
    catalog = LocalCatalog(settings)
    result = catalog.crawl(lake, "reviews", DAY)
    assert result.rows == 60 and result.formats == (fmt,)
    assert result.changes == () and result.partition_created and result.table_created
    found = {name: type_ for _, name, type_ in result.inferred}
    assert found["rating"] in ("BIGINT", "INTEGER") and found["review_text"] == "VARCHAR"
    with catalog.connect() as con:
        described = {r[0]: r[1] for r in con.execute("DESCRIBE airsage.reviews").fetchall()}
        assert described["rating"] == "BIGINT" and described["dt"] == "VARCHAR"
        ids = [r[0] for r in con.execute(
            "SELECT review_id FROM airsage.reviews WHERE dt = ? ORDER BY review_id", [DAY]
        ).fetchall()]
    assert ids == sorted(frame["review_id"].tolist())
    assert json.loads(lake.read_bytes(LakeLayout("reviews").report("schema", DAY, "crawl.json")))


def test_crawling_twice_keeps_one_partition_row(settings, lake, tmp_path):
    land(settings, lake, write_batch(generate_batch(CONFIG), tmp_path / "b.csv"))
    land(settings, lake, write_batch(generate_batch(CONFIG), tmp_path / "c.csv"), "2024-04-02")
    catalog = LocalCatalog(settings)
    catalog.crawl(lake, "reviews", DAY)
    again = catalog.crawl(lake, "reviews", DAY)
    catalog.crawl(lake, "reviews", "2024-04-02")
    assert not again.partition_created
    assert partition_rows(catalog) == [(DAY, 60), ("2024-04-02", 60)]
    with catalog.connect() as con:
        assert con.execute("SELECT count(*) FROM airsage.reviews").fetchone()[0] == 120


def test_partition_relation_is_self_contained(settings, lake, tmp_path):
    frame = generate_batch(CONFIG)
    land(settings, lake, write_batch(frame, tmp_path / "b.parquet"))
    relation = LocalCatalog(settings).partition_relation(lake, "reviews", DAY)
    with duckdb.connect() as con:
        rows = con.execute(f"SELECT count(*), min(dt), sum(rating) FROM {relation}").fetchone()
        columns = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()]
    assert rows == (60, DAY, int(frame["rating"].sum()))
    assert columns == [*settings.dataset("reviews").columns, "dt"]


@pytest.mark.skipif(not PUBLIC_SAMPLE.exists(), reason="the public 1k sample is not present")
def test_public_sample_is_mapped_and_typed(settings, lake):
    land(settings, lake, PUBLIC_SAMPLE)
    catalog = LocalCatalog(settings)
    result = catalog.crawl(lake, "reviews", DAY)
    assert result.rows == 1000 and result.changes == ()
    sources = {source: name for source, name, _ in result.inferred}
    assert sources[""] == "review_id" and sources["Review Text"] == "review_text"
    with catalog.connect() as con:
        row = con.execute(
            "SELECT count(*), count(review_text), min(review_id), max(review_id), "
            "count(DISTINCT division_name), max(age) FROM airsage.reviews"
        ).fetchone()
    assert row == (1000, 958, 0, 999, 3, 93)
    assert lake.read_bytes(result.files[0]) == PUBLIC_SAMPLE.read_bytes()


@pytest.mark.parametrize("kind,column,found,expected", [
    ("extra_column", "size_ordered", "VARCHAR", None),
    ("missing_column", "age", None, "BIGINT"),
    ("retyped_column", "rating", "VARCHAR", "BIGINT"),
])
def test_schema_change_fails_under_the_fail_policy(settings, lake, tmp_path, kind, column,
                                                   found, expected):
    land(settings, lake, write_defective_batch(kind, tmp_path / "b.csv", CONFIG))
    catalog = LocalCatalog(settings)
    with pytest.raises(GateFailedError) as caught:
        catalog.crawl(lake, "reviews", DAY)
    error = caught.value
    assert error.gate == "schema"
    [failure] = error.failures
    assert column in failure.check and failure.measured == found
    assert failure.expected == expected
    assert column in str(error)
    assert partition_rows(catalog) == []


def test_retyped_message_shows_a_value_that_does_not_cast(settings, lake, tmp_path):
    land(settings, lake, write_defective_batch("retyped_column", tmp_path / "b.jsonl", CONFIG))
    pattern = r"do not cast to BIGINT, e.g. '(one|two|three|four|five)'"
    with pytest.raises(GateFailedError, match=pattern):
        LocalCatalog(settings).crawl(lake, "reviews", DAY)


def test_log_policy_registers_with_warnings(settings, lake, tmp_path):
    settings = settings.with_overrides({"catalog": {"schema_change_policy": "log"}})
    land(settings, lake, write_defective_batch("retyped_column", tmp_path / "b.csv", CONFIG))
    catalog = LocalCatalog(settings)
    result = catalog.crawl(lake, "reviews", DAY)
    assert [c.kind for c in result.changes] == ["retyped"]
    assert result.warnings and "rating" in result.warnings[0]
    with catalog.connect() as con:
        nulls = con.execute("SELECT count(*) FILTER (WHERE rating IS NULL), count(*) "
                            "FROM airsage.reviews").fetchone()
    assert nulls == (60, 60)


def test_change_against_the_previous_schema_is_reported(settings, lake, tmp_path):
    settings = settings.with_overrides({"catalog": {"schema_change_policy": "log"}})
    catalog = LocalCatalog(settings)
    land(settings, lake, write_batch(generate_batch(CONFIG), tmp_path / "a.csv"))
    catalog.crawl(lake, "reviews", DAY)
    land(settings, lake, write_defective_batch("extra_column", tmp_path / "b.csv", CONFIG),
         "2024-04-02")
    result = catalog.crawl(lake, "reviews", "2024-04-02")
    baselines = {(c.baseline, c.kind, c.column) for c in result.changes}
    assert baselines == {("config", "new", "size_ordered"), ("previous", "new", "size_ordered")}


def test_header_only_partition_is_registered_empty(settings, lake, tmp_path):
    land(settings, lake, write_defective_batch("header_only", tmp_path / "b.csv", CONFIG))
    catalog = LocalCatalog(settings)
    result = catalog.crawl(lake, "reviews", DAY)
    assert result.rows == 0 and result.changes == ()
    assert partition_rows(catalog) == [(DAY, 0)]


@pytest.mark.parametrize("kind,pattern", [
    ("empty_file", r"b\.csv is empty \(0 bytes\)"),
    ("unbalanced_quotes", r"b\.csv is not a readable CSV file at line \d+: .*unterminated quote"),
    ("wrong_field_count", r"b\.csv is not a readable CSV file at line \d+: .*Expected Number of "
                          r"Columns: 11 Found: 12"),
    ("non_utf8", r"b\.csv is not a readable CSV file at line 31: it is not UTF-8"),
])
def test_unreadable_partition_is_refused_and_not_registered(settings, lake, tmp_path, kind,
                                                            pattern):
    land(settings, lake, write_defective_batch(kind, tmp_path / "b.csv", CONFIG))
    catalog = LocalCatalog(settings)
    with pytest.raises(InputDataError, match=pattern) as caught:
        catalog.crawl(lake, "reviews", DAY)
    assert "reviews dt=2024-04-01" in str(caught.value)
    assert partition_rows(catalog) == []


def test_unbalanced_quote_line_is_the_planted_one(settings, lake, tmp_path):
    path = write_defective_batch("unbalanced_quotes", tmp_path / "b.csv", CONFIG)
    planted = next(i for i, line in enumerate(path.read_text().splitlines(), 1) if ',"' in line)
    land(settings, lake, path)
    with pytest.raises(InputDataError, match=f"at line {planted}:"):
        LocalCatalog(settings).crawl(lake, "reviews", DAY)


def test_crawl_of_a_day_not_landed(settings, lake):
    with pytest.raises(InputDataError, match="not landed"):
        LocalCatalog(settings).crawl(lake, "reviews", DAY)


def test_a_csv_error_names_the_files_line_not_the_record_number(settings, lake, tmp_path):
    """Reviews hold newlines: record 4 of this file starts on line 8 (DuckDB says 5)."""
    path = tmp_path / "b.csv"
    header = ",".join(settings.dataset("reviews").columns)
    good = '{i},1,30,t,"multi\nline\ntext",5,1,0,General,Tops,Knits'
    path.write_text("\n".join([header, good.format(i=1), "2,1,30,t,plain,5,1,0,General,Tops,Knits",
                               good.format(i=3).replace("multi\nline\n", "two\n"),
                               "4,1,30,t,bad,5,1,0,General,Tops,Knits,extra",
                               "5,1,30,t,ok,5,1,0,General,Tops,Knits"]) + "\n")
    assert path.read_text().splitlines()[7].startswith("4,1,30,t,bad")
    land(settings, lake, path)
    with pytest.raises(InputDataError, match=r"at line 8: Expected Number of Columns: 11 "
                                             r"Found: 12.*CSV record 4 after the header"):
        LocalCatalog(settings).crawl(lake, "reviews", DAY)


def test_json_lines_keyed_by_the_published_header_are_mapped(settings, lake, tmp_path):
    """The public file's unnamed first column is the key "" in JSON; DuckDB calls it c0."""
    source = {name: key for key, name in settings.dataset("reviews").source_columns.items()
              if key not in ("column0", "column00")}
    frame = generate_batch(CONFIG).rename(columns=source)
    assert "" in frame.columns
    path = tmp_path / "b.jsonl"
    frame.to_json(path, orient="records", lines=True)
    land(settings, lake, path)
    catalog = LocalCatalog(settings)
    result = catalog.crawl(lake, "reviews", DAY)
    assert result.changes == ()
    assert {source: name for source, name, _ in result.inferred}[""] == "review_id"
    with catalog.connect() as con:
        ids = con.execute("SELECT count(review_id), min(review_id) FROM airsage.reviews").fetchone()
    assert ids == (60, int(frame[""].min()))
