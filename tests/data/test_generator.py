"""The generator: deterministic, shaped like the public data, and each knob does what it says."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from airsage.config import load_settings
from airsage.data.generator import (
    COLUMNS,
    DEFECTS,
    FRAME_DEFECTS,
    GeneratorConfig,
    generate_batch,
    write_batch,
    write_defective_batch,
)

ROWS = 1500


def positive_rate(frame: pd.DataFrame) -> float:
    return float((frame["rating"] >= 4).mean())


def test_columns_match_the_configured_dataset() -> None:
    settings = load_settings(environ={})
    assert tuple(settings.dataset("reviews").columns) == COLUMNS


def test_same_seed_and_day_give_the_same_batch_and_another_day_differs() -> None:
    config = GeneratorConfig(rows=300, seed=3, day="2024-02-01")
    first, second = generate_batch(config), generate_batch(config)
    pd.testing.assert_frame_equal(first, second)
    other = generate_batch(dataclasses.replace(config, day="2024-02-02"))
    assert not other["review_text"].equals(first["review_text"])
    assert set(other["review_id"]).isdisjoint(first["review_id"])


def test_batch_looks_like_the_public_data() -> None:
    frame = generate_batch(GeneratorConfig(rows=ROWS))
    assert list(frame.columns) == list(COLUMNS)
    assert frame["review_id"].is_unique
    assert set(frame["division_name"]) == {"General", "General Petite", "Initmates"}
    assert {"Dresses", "Tops", "Intimate"} <= set(frame["department_name"])
    assert frame["rating"].between(1, 5).all()
    assert 0.02 < frame["review_text"].isna().mean() < 0.07
    assert 0.12 < frame["title"].isna().mean() < 0.27
    assert 150 < frame["review_text"].str.len().mean() < 450
    assert 0.65 < positive_rate(frame) < 0.88
    # Learnable but not trivial: "love" shows up in negative reviews too (negations).
    negative_text = frame.loc[frame["rating"] <= 2, "review_text"].dropna()
    assert negative_text.str.contains("love").any()


def test_class_mix_controls_imbalance() -> None:
    skewed = generate_batch(GeneratorConfig(rows=ROWS, positive=0.2, neutral=0.2, negative=0.6))
    assert (skewed["rating"] <= 2).mean() > 0.5


def test_biased_category_has_fewer_rows_and_a_lower_positive_rate() -> None:
    base = generate_batch(GeneratorConfig(rows=ROWS, seed=11))
    biased = generate_batch(
        GeneratorConfig(rows=ROWS, seed=11, biased_category="Dresses", bias_strength=0.8)
    )
    in_base = base[base["department_name"] == "Dresses"]
    in_biased = biased[biased["department_name"] == "Dresses"]
    assert positive_rate(in_biased) < positive_rate(in_base) - 0.3
    assert len(in_biased) < 0.6 * len(in_base)
    rest = biased[biased["department_name"] != "Dresses"]
    assert abs(positive_rate(rest) - positive_rate(base)) < 0.08


def test_drift_shifts_age_mix_length_and_vocabulary() -> None:
    base = generate_batch(GeneratorConfig(rows=ROWS, seed=5))
    drifted = generate_batch(GeneratorConfig(rows=ROWS, seed=5, drift=1.0))
    assert drifted["age"].mean() > base["age"].mean() + 8
    trend_share = lambda f: (f["department_name"] == "Trend").mean()  # noqa: E731
    assert trend_share(drifted) > 3 * trend_share(base)
    assert drifted["review_text"].str.len().mean() < 0.75 * base["review_text"].str.len().mean()
    new_words = "oversized|recycled|cottagecore|athleisure|pilling"
    assert drifted["review_text"].str.contains(new_words).mean() > 0.3
    assert base["review_text"].str.contains(new_words).mean() == 0


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_write_batch_round_trips(tmp_path, fmt: str) -> None:
    frame = generate_batch(GeneratorConfig(rows=50))
    path = write_batch(frame, tmp_path / f"batch.{fmt}")
    if fmt == "csv":
        back = pd.read_csv(path)
    elif fmt == "jsonl":
        back = pd.read_json(path, lines=True)
    else:
        back = pd.read_parquet(path)
    assert len(back) == 50
    assert list(back.columns) == list(COLUMNS)
    assert back["review_id"].tolist() == frame["review_id"].tolist()


def test_frame_defects_change_the_batch_as_named() -> None:
    config = GeneratorConfig(rows=400)

    def with_defect(kind: str) -> pd.DataFrame:
        return generate_batch(dataclasses.replace(config, defect=kind))

    assert "age" not in with_defect("missing_column").columns
    assert "size_ordered" in with_defect("extra_column").columns
    assert "five" in set(with_defect("retyped_column")["rating"])
    assert with_defect("null_text")["review_text"].isna().mean() > 0.3
    assert with_defect("null_rating")["rating"].isna().sum() > 0
    assert (~with_defect("rating_out_of_range")["rating"].between(1, 5)).sum() > 0
    assert with_defect("duplicate_ids")["review_id"].duplicated().sum() > 0
    assert len(with_defect("tiny_batch")) == 40


@pytest.mark.parametrize("kind", DEFECTS)
def test_every_defect_kind_is_written(tmp_path, kind: str) -> None:
    path = write_defective_batch(kind, tmp_path / f"{kind}.csv", GeneratorConfig(rows=60))
    data = path.read_bytes()
    if kind == "empty_file":
        assert data == b""
        return
    assert data.startswith(b"review_id,")
    if kind == "non_utf8":
        with pytest.raises(UnicodeDecodeError):
            data.decode("utf-8")
    if kind == "header_only":
        assert data.count(b"\n") == 1
    if kind in FRAME_DEFECTS or kind in ("unbalanced_quotes", "wrong_field_count"):
        assert data.count(b"\n") > 5


def test_bad_knobs_are_refused() -> None:
    with pytest.raises(ValueError, match="department_name"):
        GeneratorConfig(biased_category="Shoes")
    with pytest.raises(ValueError, match="drift"):
        GeneratorConfig(drift=1.5)
    with pytest.raises(ValueError, match="write_defective_batch"):
        generate_batch(GeneratorConfig(defect="non_utf8"))
