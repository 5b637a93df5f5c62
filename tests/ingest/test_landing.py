"""Landing: bytes unchanged, a manifest, immutability, and where a missing day comes from."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from airsage.data.generator import GeneratorConfig, generate_batch, write_batch, write_defective_batch
from airsage.errors import ConfigurationError, InputDataError
from airsage.ingest import ensure_partition, land_file, land_files
from airsage.lake.layout import LakeLayout

DAY = "2024-03-01"


def batch(tmp_path: Path, name: str = "batch.csv", seed: int = 1) -> Path:
    return write_batch(generate_batch(GeneratorConfig(rows=40, seed=seed)), tmp_path / name)


@pytest.mark.parametrize("name,fmt", [("b.csv", "csv"), ("b.jsonl", "jsonl"),
                                      ("b.json", "jsonl"), ("b.parquet", "parquet")])
def test_land_file_copies_bytes_and_writes_a_manifest(settings, lake, tmp_path, name, fmt):
    source = batch(tmp_path, name)
    result = land_file(lake, settings.dataset("reviews"), source, DAY)
    layout = LakeLayout("reviews")
    assert lake.read_bytes(layout.raw_file(DAY, name)) == source.read_bytes()
    manifest = json.loads(lake.read_bytes(layout.raw_manifest(DAY)))
    [entry] = manifest["files"]
    assert entry["sha256"] == hashlib.sha256(source.read_bytes()).hexdigest()
    assert entry["bytes"] == source.stat().st_size
    assert entry["format"] == fmt
    assert entry["rows"] == 40
    assert manifest["source"] == name and manifest["landed_at"]
    assert result.rows == 40 and not result.already_landed
    assert json.loads(json.dumps(result.to_dict()))["files"][0]["name"] == name


def test_landing_the_same_bytes_again_is_a_no_op(settings, lake, tmp_path):
    source = batch(tmp_path)
    first = land_file(lake, settings.dataset("reviews"), source, DAY)
    again = land_file(lake, settings.dataset("reviews"), source, DAY)
    assert again.already_landed and again.landed_at == first.landed_at


def test_different_bytes_for_a_landed_day_are_refused(settings, lake, tmp_path):
    land_file(lake, settings.dataset("reviews"), batch(tmp_path, seed=1), DAY)
    other = batch(tmp_path / "other", seed=2)
    with pytest.raises(InputDataError, match=r"already landed .* different bytes"):
        land_file(lake, settings.dataset("reviews"), other, DAY)


def test_bad_files_are_landed_with_no_row_count(settings, lake, tmp_path):
    for kind in ("unbalanced_quotes", "non_utf8", "empty_file"):
        source = write_defective_batch(kind, tmp_path / kind / "bad.csv", GeneratorConfig(rows=30))
        day = {"unbalanced_quotes": "2024-03-02", "non_utf8": "2024-03-03",
               "empty_file": "2024-03-04"}[kind]
        result = land_file(lake, settings.dataset("reviews"), source, day)
        assert result.files[0].rows is None, kind
        assert lake.read_bytes(result.files[0].key) == source.read_bytes()


def test_unknown_extension_is_refused(settings, lake, tmp_path):
    source = tmp_path / "batch.xlsx"
    source.write_bytes(b"x")
    with pytest.raises(InputDataError, match="extension"):
        land_file(lake, settings.dataset("reviews"), source, DAY)


def test_ensure_partition_generates_deterministically(settings, lake, tmp_path):
    result = ensure_partition(settings, lake, "reviews", DAY)
    assert result.source == "generator" and result.rows == 200
    other_lake = type(lake)(root=tmp_path / "lake2")
    twin = ensure_partition(settings, other_lake, "reviews", DAY)
    assert twin.files[0].sha256 == result.files[0].sha256
    verified = ensure_partition(settings, lake, "reviews", DAY)
    assert verified.already_landed and verified.verified


def test_ensure_partition_detects_a_modified_raw_file(settings, lake):
    result = ensure_partition(settings, lake, "reviews", DAY)
    key = result.files[0].key
    lake.write_bytes(key, lake.read_bytes(key) + b"1,2,3\n")
    with pytest.raises(InputDataError, match=r"reviews-2024-03-01\.csv was modified"):
        ensure_partition(settings, lake, "reviews", DAY)


def test_ensure_partition_applies_per_day_generator_overrides(settings, lake):
    settings = settings.with_overrides(
        {"ingest": {"generator": {"days": {DAY: {"defect": "tiny_batch"}}}}}
    )
    assert ensure_partition(settings, lake, "reviews", DAY).rows == 20
    assert ensure_partition(settings, lake, "reviews", "2024-03-02").rows == 200


def test_ensure_partition_reads_the_inbox(settings, lake, tmp_path):
    settings = settings.with_overrides({"ingest": {"source": "inbox"}})
    folder = settings.home / "inbox" / "reviews" / DAY
    batch(folder, "a.csv", seed=1)
    batch(folder, "b.jsonl", seed=2)
    result = ensure_partition(settings, lake, "reviews", DAY)
    assert [f.name for f in result.files] == ["a.csv", "b.jsonl"]
    assert result.rows == 80
    with pytest.raises(InputDataError, match="no batch for 2024-03-05"):
        ensure_partition(settings, lake, "reviews", "2024-03-05")


def test_ensure_partition_without_a_source(settings, lake):
    with pytest.raises(InputDataError, match="no batch for 2024-03-01"):
        ensure_partition(settings.with_overrides({"ingest": {"source": None}}), lake,
                         "reviews", DAY)
    with pytest.raises(ConfigurationError, match=r"ingest\.source"):
        ensure_partition(settings.with_overrides({"ingest": {"source": "ftp"}}), lake,
                         "reviews", DAY)


def test_land_files_needs_files(settings, lake):
    with pytest.raises(InputDataError, match="nothing to land"):
        land_files(lake, settings.dataset("reviews"), [], DAY)
