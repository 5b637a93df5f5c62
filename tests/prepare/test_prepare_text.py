"""Text cleaning and the rating → sentiment mapping."""

from __future__ import annotations

import math

import pytest

from airsage.prepare.base import sentiment_of_rating
from airsage.prepare.text import clean_text


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("<p>Love&nbsp;it!</p>", "Love it!"),
        ("so\n\n\tcomfy   and  soft ", "so comfy and soft"),
        ("ＦＵＬＬ width", "FULL width"),
        ("zero\u200bwidth", "zerowidth"),
        ("fits &amp; flatters", "fits & flatters"),
        ("<br/><br />", ""),
        (None, ""),
        (math.nan, ""),
    ],
)
def test_clean_text(raw: object, expected: str) -> None:
    assert clean_text(raw) == expected


@pytest.mark.parametrize(
    ("rating", "sentiment"),
    [(1, -1), (2, -1), (3, 0), (4, 1), (5, 1), (4.0, 1), (0, None), (6, None), (None, None),
     (math.nan, None), (3.5, None)],
)
def test_sentiment_of_rating(rating: object, sentiment: int | None) -> None:
    assert sentiment_of_rating(rating) == sentiment
