"""Generate daily review batches shaped like the public "Women's E-Commerce Clothing Reviews".

Why synthetic data: the pipeline must run offline on a fresh machine, every day, with
batches whose defects are known, so that each gate can be shown to catch what it should.
The batches copy the real data's shape (column names after airsage's mapping, the
division/department/class mix, ages, ~19 % empty titles, ~4 % missing review text, quotes,
commas and newlines in text) and its difficulty: text is assembled from sentiment-bearing
phrases mixed with neutral remarks, negations ("not flattering", "wanted to love it") and
cross-sentiment noise, so that a model can learn sentiment but not from one keyword.

Knobs (all in :class:`GeneratorConfig`): the class mix (imbalance), a biased category
(its positive reviews turned negative and the category under-represented), covariate
drift (older reviewers, a different category mix, shorter reviews, new vocabulary) and a
defect. A batch is a pure function of the config: same ``(seed, day)``, same bytes.
"""

from __future__ import annotations

import csv
import datetime as dt_
import io
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

# airsage's column names, in the order of the configured dataset (datasets.reviews.columns).
COLUMNS: tuple[str, ...] = (
    "review_id",
    "clothing_id",
    "age",
    "title",
    "review_text",
    "rating",
    "recommended_ind",
    "positive_feedback_count",
    "division_name",
    "department_name",
    "class_name",
)

FORMATS = ("csv", "jsonl", "parquet")

# Defects that can live in a DataFrame (written in any format) ...
FRAME_DEFECTS = (
    "missing_column",
    "extra_column",
    "retyped_column",
    "null_text",
    "null_rating",
    "rating_out_of_range",
    "duplicate_ids",
    "tiny_batch",
)
# ... and defects that only exist as bytes of a CSV file.
FILE_DEFECTS = ("empty_file", "header_only", "unbalanced_quotes", "wrong_field_count", "non_utf8")
DEFECTS = FILE_DEFECTS[:2] + FRAME_DEFECTS + FILE_DEFECTS[2:]

MISSING_COLUMN = "age"
EXTRA_COLUMN = "size_ordered"
RETYPED_COLUMN = "rating"
RATING_WORDS = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five"}

# (division, department, class, weight): the joint mix of the public 1k sample.
CATEGORIES: tuple[tuple[str, str, str, int], ...] = (
    ("General", "Bottoms", "Jeans", 19),
    ("General", "Bottoms", "Pants", 55),
    ("General", "Bottoms", "Shorts", 3),
    ("General", "Bottoms", "Skirts", 27),
    ("General", "Dresses", "Dresses", 153),
    ("General", "Jackets", "Jackets", 34),
    ("General", "Jackets", "Outerwear", 11),
    ("General", "Tops", "Blouses", 121),
    ("General", "Tops", "Fine gauge", 55),
    ("General", "Tops", "Knits", 95),
    ("General", "Tops", "Sweaters", 60),
    ("General", "Trend", "Trend", 7),
    ("General Petite", "Bottoms", "Jeans", 13),
    ("General Petite", "Bottoms", "Pants", 13),
    ("General Petite", "Bottoms", "Skirts", 25),
    ("General Petite", "Dresses", "Dresses", 45),
    ("General Petite", "Intimate", "Lounge", 23),
    ("General Petite", "Jackets", "Jackets", 16),
    ("General Petite", "Tops", "Blouses", 65),
    ("General Petite", "Tops", "Fine gauge", 15),
    ("General Petite", "Tops", "Knits", 65),
    ("General Petite", "Tops", "Sweaters", 13),
    ("General Petite", "Trend", "Trend", 3),
    ("Initmates", "Intimate", "Intimates", 10),
    ("Initmates", "Intimate", "Layering", 3),
    ("Initmates", "Intimate", "Legwear", 10),
    ("Initmates", "Intimate", "Lounge", 11),
    ("Initmates", "Intimate", "Sleep", 12),
    ("Initmates", "Intimate", "Swim", 18),
)
DEPARTMENTS = tuple(sorted({dept for _, dept, _, _ in CATEGORIES}))
# Under drift, the mix moves toward these departments (a new season's catalogue).
DRIFT_DEPARTMENTS = {"Jackets": 6.0, "Trend": 12.0, "Bottoms": 2.0}

# Where each class's clothing ids live (first id of a contiguous block of 20).
CLASS_ID_BASE = {
    "Blouses": 815, "Dresses": 1072, "Fine gauge": 870, "Intimates": 200, "Jackets": 960,
    "Jeans": 1020, "Knits": 840, "Layering": 240, "Legwear": 110, "Lounge": 620,
    "Outerwear": 1110, "Pants": 1040, "Shorts": 600, "Skirts": 990, "Sleep": 150,
    "Sweaters": 920, "Swim": 270, "Trend": 1140,
}

ITEM_WORDS = {
    "Dresses": ["dress", "maxi", "midi dress"], "Blouses": ["blouse", "top", "shirt"],
    "Knits": ["tee", "top", "knit"], "Sweaters": ["sweater", "cardigan"],
    "Fine gauge": ["sweater", "pullover"], "Jeans": ["jeans", "denim"],
    "Pants": ["pants", "trousers"], "Skirts": ["skirt"], "Shorts": ["shorts"],
    "Jackets": ["jacket", "blazer"], "Outerwear": ["coat", "vest"], "Trend": ["piece", "top"],
    "Intimates": ["bralette", "slip"], "Layering": ["cami", "layering piece"],
    "Legwear": ["leggings", "tights"], "Lounge": ["lounge set", "jogger"],
    "Sleep": ["pajamas", "robe"], "Swim": ["swimsuit", "bikini"],
}

POSITIVE = (
    "i love this {item}",
    "the fabric is so soft and comfortable",
    "fits true to size",
    "the color is gorgeous in person",
    "i got so many compliments the first time i wore it",
    "very flattering on my figure",
    "beautifully made and the quality is excellent",
    "it drapes nicely and hides everything i want hidden",
    "perfect for work and for weekends",
    "i bought it in two colors",
    "the details are lovely, even better than the picture",
    "worth every penny",
    "it washes well and keeps its shape",
    "highly recommend",
)
NEGATIVE = (
    "the fabric feels cheap and thin",
    "it runs very small, i could not even zip it",
    "sadly this {item} is going back",
    "the seams came apart after one wash",
    "the color is nothing like the photo",
    "it was boxy and unflattering on me",
    "poor quality for the price",
    "the material is itchy and scratchy",
    "it shrank terribly in the wash",
    "way too short and see-through",
    "the zipper broke the second time i wore it",
    "huge disappointment",
)
NEUTRAL = (
    "it's okay, nothing special",
    "the fit is fine but the fabric is average",
    "decent for the price i guess",
    "i'm on the fence about this {item}",
    "it looks better on the model than on me",
    "might keep it if it goes on sale",
    "cute but a bit plain",
    "the length is odd, i'll have it hemmed",
)
# Negations borrow the other class's words: "love" appears in negative reviews, and so on.
NEGATED_FOR = {
    "positive": (
        "not disappointed at all",
        "no complaints about the fit",
        "i was worried it would be too short, but it isn't",
        "not cheap looking in the least",
    ),
    "neutral": (
        "i don't love it and i don't hate it",
        "not bad, not great",
        "not as soft as i hoped",
    ),
    "negative": (
        "i really wanted to love this {item}",
        "not flattering at all",
        "would not recommend",
        "not worth the price",
        "i don't see how anyone finds this comfortable",
    ),
}
FILLER = (
    "i'm 5'4\" and 130 lbs, and i ordered a small",
    "i usually wear a size 6",
    "i bought this for a wedding in june",
    "ordered online after seeing it in the catalog",
    "the {item} arrived two days after i ordered",
    "i tried it on in the store first",
    "i paired it with boots and a belt",
    "my daughter borrowed it for a trip",
    "it comes in three colors; i chose the navy",
    "the model in the photo is wearing the petite",
)
# Vocabulary that appears under drift: new words that still carry sentiment.
DRIFT_PHRASES = {
    "positive": (
        "obsessed with the oversized silhouette",
        "love that it's made from recycled fibers",
        "the linen blend is breathable and so easy",
        "total cottagecore vibes, in the best way",
        "perfect athleisure piece for my commute",
    ),
    "neutral": (
        "the drop shoulder is trendy but not for everyone",
        "the cropped cut is fine for layering",
        "the sustainable packaging was a nice touch",
    ),
    "negative": (
        "the viscose started pilling after one wear",
        "the cropped cut is awkward and the hem is unfinished",
        "the oversized fit swallowed me, total tent",
        "the sheer mesh panels look cheap",
    ),
}
TITLES = {
    "positive": ("Love it!", "Beautiful {item}", "Perfect", "So comfortable", "My new favorite",
                 "Gorgeous", "Great buy", "Flattering and soft"),
    "neutral": ("Just okay", "Cute but...", "Mixed feelings", "Runs a bit large", "Meh"),
    "negative": ("Disappointed", "Runs small", "Poor quality", "Returned it", "Not for me"),
}
SENTIMENTS = ("positive", "neutral", "negative")
LABEL_NOISE = 0.12  # share of reviews whose text reads one class off from the rating


@dataclass(frozen=True)
class GeneratorConfig:
    """Everything that decides a batch. Same config, same batch, on any machine.

    ``positive``/``neutral``/``negative`` are the class mix (normalised; skew it to test
    imbalance handling). ``biased_category`` (a ``department_name``) with ``bias_strength``
    in 0..1 turns that share of the category's positive reviews negative and shrinks the
    category's share of the batch by up to 75 %. ``drift`` in 0..1 shifts ages up, the
    category mix toward Jackets/Trend/Bottoms, review length down and vocabulary toward
    new words. ``defect`` is one of :data:`FRAME_DEFECTS` (applied by
    :func:`generate_batch`) or :data:`FILE_DEFECTS` (see :func:`write_defective_batch`).
    """

    rows: int = 1000
    seed: int = 7
    day: dt_.date | str = "2024-01-01"
    positive: float = 0.77
    neutral: float = 0.13
    negative: float = 0.10
    biased_category: str | None = None
    bias_strength: float = 0.0
    drift: float = 0.0
    defect: str | None = None

    def __post_init__(self) -> None:
        if self.rows < 0:
            raise ValueError(f"GeneratorConfig.rows must be >= 0, got {self.rows}")
        mix = (self.positive, self.neutral, self.negative)
        if min(mix) < 0 or sum(mix) <= 0:
            raise ValueError(f"class mix must be non-negative with a positive sum, got {mix}")
        for name in ("bias_strength", "drift"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"GeneratorConfig.{name} must be within 0..1, got {value}")
        if self.biased_category is not None and self.biased_category not in DEPARTMENTS:
            raise ValueError(
                f"biased_category {self.biased_category!r} is not a department_name; "
                f"choose one of {', '.join(DEPARTMENTS)}"
            )
        if self.defect is not None and self.defect not in DEFECTS:
            raise ValueError(f"unknown defect {self.defect!r}; known defects: {', '.join(DEFECTS)}")

    @property
    def date(self) -> dt_.date:
        if isinstance(self.day, dt_.datetime):
            return self.day.date()
        if isinstance(self.day, dt_.date):
            return self.day
        return dt_.date.fromisoformat(str(self.day)[:10])

    @classmethod
    def from_mapping(cls, raw: dict[str, Any], *, day: dt_.date | str) -> GeneratorConfig:
        """Build from the ``ingest.generator`` settings (``rows_per_day`` is ``rows``)."""
        known = {f for f in cls.__dataclass_fields__ if f != "day"}
        values = {k: v for k, v in raw.items() if k in known}
        if "rows_per_day" in raw:
            values["rows"] = int(raw["rows_per_day"])
        mix = raw.get("class_mix") or {}
        values.update({k: float(mix[k]) for k in SENTIMENTS if k in mix})
        return cls(day=day, **values)


def _rng(config: GeneratorConfig, stream: int = 0) -> np.random.Generator:
    # Seeded by (seed, day, stream) only: no Python hash(), so it is stable across processes.
    return np.random.default_rng([config.seed, config.date.toordinal(), stream])


def _category_weights(config: GeneratorConfig) -> np.ndarray:
    weights = np.array([w for *_, w in CATEGORIES], dtype=float)
    weights /= weights.sum()
    if config.drift:
        target = np.array(
            [w * DRIFT_DEPARTMENTS.get(dept, 1.0) for _, dept, _, w in CATEGORIES], dtype=float
        )
        target /= target.sum()
        weights = (1 - config.drift) * weights + config.drift * target
    if config.biased_category and config.bias_strength:
        shrink = np.array([dept == config.biased_category for _, dept, _, _ in CATEGORIES])
        weights = np.where(shrink, weights * (1 - 0.75 * config.bias_strength), weights)
    return weights / weights.sum()


def _sentence(rng: np.random.Generator, pool: tuple[str, ...], item: str) -> str:
    return pool[int(rng.integers(len(pool)))].format(item=item)


def _review_text(rng: np.random.Generator, sentiment: str, item: str, drift: float) -> str:
    """A few sentences: own-sentiment phrases, negations, filler and some cross-talk."""
    own = {"positive": POSITIVE, "neutral": NEUTRAL, "negative": NEGATIVE}[sentiment]
    others = [s for s in SENTIMENTS if s != sentiment]
    mean_sentences = 8.0 * (1.0 - 0.5 * drift)
    count = int(np.clip(rng.poisson(mean_sentences), 1, 14))
    sentences: list[str] = []
    for _ in range(count):
        draw = rng.random()
        if rng.random() < 0.6 * drift:
            pool = DRIFT_PHRASES[sentiment] if draw < 0.8 else DRIFT_PHRASES[others[0]]
        elif draw < 0.30:
            pool = own
        elif draw < 0.45:
            pool = NEGATED_FOR[sentiment]
        elif draw < 0.85:
            pool = FILLER
        else:  # noise: a phrase of another sentiment ("the only downside ...")
            other = others[int(rng.integers(len(others)))]
            pool = {"positive": POSITIVE, "neutral": NEUTRAL, "negative": NEGATIVE}[other]
        sentences.append(_sentence(rng, pool, item))
    text = ". ".join(sentences) + "."
    text = text[0].upper() + text[1:]
    if rng.random() < 0.05:  # the real data is full of small slips: a typo, a doubled space
        position = int(rng.integers(len(text)))
        text = text[:position] + "  " + text[position:]
    return text


def _rating(rng: np.random.Generator, sentiment: str) -> int:
    if sentiment == "positive":
        return 5 if rng.random() < 0.70 else 4
    if sentiment == "negative":
        return 2 if rng.random() < 0.73 else 1
    return 3


def generate_batch(config: GeneratorConfig) -> pd.DataFrame:
    """One day's batch with airsage's column names (see :data:`COLUMNS`).

    Frame-level defects are applied here; file-level ones need
    :func:`write_defective_batch` because they only exist as bytes.
    """
    import pandas as pd

    if config.defect in FILE_DEFECTS:
        raise ValueError(
            f"defect {config.defect!r} is a property of a file, not of a table; "
            "use write_defective_batch() to produce it"
        )
    rows = config.rows // 10 if config.defect == "tiny_batch" else config.rows
    rng = _rng(config)
    weights = _category_weights(config)
    mix = np.array([config.positive, config.neutral, config.negative], dtype=float)
    mix /= mix.sum()
    day_offset = (config.date - dt_.date(2000, 1, 1)).days
    records: list[dict[str, Any]] = []
    for index in range(rows):
        category = int(rng.choice(len(CATEGORIES), p=weights))
        division, department, class_name, _ = CATEGORIES[category]
        sentiment = SENTIMENTS[int(rng.choice(3, p=mix))]
        if (
            sentiment == "positive"
            and department == config.biased_category
            and rng.random() < config.bias_strength
        ):
            sentiment = "negative"
        items = ITEM_WORDS[class_name]
        item = items[int(rng.integers(len(items)))]
        rating = _rating(rng, sentiment)
        recommend_p = {"positive": 0.96, "neutral": 0.45, "negative": 0.06}[sentiment]
        age = int(np.clip(round(rng.normal(43.5 + 15 * config.drift, 12.4)), 18, 99))
        # Like real reviewers, some write a text that reads one class off from their rating.
        voice = sentiment
        if rng.random() < LABEL_NOISE:
            voice = "neutral" if sentiment != "neutral" else SENTIMENTS[2 * int(rng.integers(2))]
        text: str | None = _review_text(rng, voice, item, config.drift)
        title: str | None = _sentence(rng, TITLES[sentiment], item).capitalize()
        if rng.random() < 0.042:
            text = None
        if rng.random() < 0.19:
            title = None
        records.append(
            {
                "review_id": day_offset * 10_000_000 + index,
                "clothing_id": CLASS_ID_BASE[class_name] + int(rng.integers(20)),
                "age": age,
                "title": title,
                "review_text": text,
                "rating": rating,
                "recommended_ind": int(rng.random() < recommend_p),
                "positive_feedback_count": int(rng.negative_binomial(1, 0.28)),
                "division_name": division,
                "department_name": department,
                "class_name": class_name,
            }
        )
    frame = pd.DataFrame.from_records(records, columns=list(COLUMNS))
    frame = frame.astype(
        {
            c: "int64"
            for c in ("review_id", "clothing_id", "age", "rating", "recommended_ind",
                      "positive_feedback_count")
        }
    )
    return _apply_frame_defect(frame, config, _rng(config, stream=1))


def _apply_frame_defect(
    frame: pd.DataFrame, config: GeneratorConfig, rng: np.random.Generator
) -> pd.DataFrame:

    defect = config.defect
    if defect is None or defect == "tiny_batch" or frame.empty:
        return frame
    frame = frame.copy()
    n = len(frame)
    if defect == "missing_column":
        return frame.drop(columns=[MISSING_COLUMN])
    if defect == "extra_column":
        frame[EXTRA_COLUMN] = rng.choice(["XS", "S", "M", "L", "XL"], size=n)
        return frame
    if defect == "retyped_column":
        frame[RETYPED_COLUMN] = frame[RETYPED_COLUMN].map(RATING_WORDS).astype(object)
        return frame
    picks = rng.random(n)
    if defect == "null_text":
        frame["review_text"] = frame["review_text"].where(picks >= 0.5, None)
    elif defect == "null_rating":
        # a nullable Int64 column: the rows where() drops become <NA>
        frame["rating"] = frame["rating"].astype("Int64").where(picks >= 0.2)
    elif defect == "rating_out_of_range":
        bad = rng.choice([0, 6, 7, -1], size=n)
        frame["rating"] = np.where(picks < 0.05, bad, frame["rating"])
    elif defect == "duplicate_ids":
        dupes = np.flatnonzero(picks < 0.1)
        if len(dupes) and n > 1:
            sources = rng.integers(0, n, size=len(dupes))
            frame.loc[frame.index[dupes], "review_id"] = frame["review_id"].to_numpy()[sources]
            first = frame.index[dupes[0]]
            other = frame.index[(dupes[0] + 1) % n]
            frame.loc[first, "review_id"] = frame.loc[other, "review_id"]
    return frame


def _format_of(path: Path, fmt: str | None) -> str:
    if fmt is not None:
        chosen = fmt.lower()
    else:
        suffix = path.suffix.lower().lstrip(".")
        chosen = {"json": "jsonl", "ndjson": "jsonl"}.get(suffix, suffix)
    if chosen not in FORMATS:
        raise ValueError(
            f"unknown batch format {chosen!r} for {path}; use one of {', '.join(FORMATS)}"
        )
    return chosen


def write_batch(frame: pd.DataFrame, path: str | Path, fmt: str | None = None) -> Path:
    """Write a batch as CSV (RFC 4180, header, ``\\n``), JSON lines or Parquet."""
    path = Path(path)
    chosen = _format_of(path, fmt)
    path.parent.mkdir(parents=True, exist_ok=True)
    if chosen == "csv":
        frame.to_csv(path, index=False, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    elif chosen == "jsonl":
        frame.to_json(path, orient="records", lines=True, force_ascii=False)
    else:
        frame.to_parquet(path, index=False)
    return path


def _csv_text(frame: pd.DataFrame) -> str:
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False, lineterminator="\n")
    return buffer.getvalue()


def write_defective_batch(kind: str, path: str | Path, config: GeneratorConfig) -> Path:
    """Write a batch broken in one known way (see :data:`DEFECTS`) and return its path.

    Frame-level kinds are written in the format of ``path``'s extension; byte-level kinds
    (empty file, header only, unbalanced quotes, wrong field count, non-UTF-8) are CSV.
    """
    if kind not in DEFECTS:
        raise ValueError(f"unknown defect {kind!r}; known defects: {', '.join(DEFECTS)}")
    path = Path(path)
    if kind in FRAME_DEFECTS:
        return write_batch(generate_batch(replace(config, defect=kind)), path)
    if _format_of(path, None) != "csv":
        raise ValueError(f"defect {kind!r} exists only as CSV bytes; give a .csv path, not {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "empty_file":
        path.write_bytes(b"")
        return path
    frame = generate_batch(replace(config, defect=None, rows=max(config.rows, 3)))
    if kind == "header_only":
        path.write_text(",".join(COLUMNS) + "\n", encoding="utf-8")
        return path
    # Plain fields (no quotes, commas or newlines), so the one planted fault is the only one
    # and the reader's error points at its line.
    for column in ("title", "review_text"):
        frame[column] = frame[column].str.replace(r'[",\n]', " ", regex=True)
    lines = _csv_text(frame).splitlines(keepends=True)
    middle = max(1, len(lines) // 2)
    fields = lines[middle].rstrip("\n").split(",")
    if kind == "unbalanced_quotes":
        fields[3] = '"' + (fields[3] or "Lovely")  # an opening quote that never closes
    elif kind == "wrong_field_count":
        fields.append("surplus")
    else:  # non_utf8: Latin-1 bytes, as from an old export tool ("é" becomes b"\xe9")
        fields[3] = "Très joli, comme au café".replace(",", "")
    lines[middle] = ",".join(fields) + "\n"
    encoding = "latin-1" if kind == "non_utf8" else "utf-8"
    path.write_bytes("".join(lines).encode(encoding))
    return path
