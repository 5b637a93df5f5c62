"""The Great Expectations suite over the prepared splits, and its Data Docs as a run report.

GX runs on pandas in an ephemeral context: its SQL path over DuckDB is broken upstream and
the GX Airflow provider does not install with Airflow 3, so airsage calls GX 1.x directly.
The splits are validated together (with a ``split`` column) because the properties that
matter span them: an id unique across all splits, every class in every split, the split
proportions.
"""

from __future__ import annotations

import datetime as dt_
import json
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from airsage.errors import GateFailedError, GateFailure, StepFailed
from airsage.lake.base import Lake
from airsage.lake.layout import SPLITS, LakeLayout, partition_value
from airsage.prepare.base import (
    DATA_DOCS_REPORT,
    EXPECTATIONS_REPORT,
    FEATURE_COLUMNS,
    SENTIMENT_LABELS,
    ExpectationsResult,
    PrepareOptions,
)

GATE = "expectations"
SPLIT_COLUMN = "split"
SITE_NAME = "airsage"
RESULT_FILE = "validation_result.json"
# Data Docs pages and their stylesheet; the fonts and images GX ships are decoration (MBs).
DOCS_SUFFIXES = (".html", ".css")


def suite_name(dataset: str) -> str:
    return f"{dataset}_features"


def split_weights(options: PrepareOptions, test_share: float | None = None) -> list[float]:
    """The expected share of each split: the configured fractions, or, when the test split is
    the hash-held-out evaluation set of realised share ``test_share``, train and validation
    dividing the rest in their configured proportion."""
    if test_share is None:
        return [options.splits[name] for name in SPLITS]
    rest = options.splits["train"] + options.splits["validation"]
    shares = {"train": options.splits["train"] / rest * (1.0 - test_share),
              "validation": options.splits["validation"] / rest * (1.0 - test_share),
              "test": test_share}
    return [shares[name] for name in SPLITS]


def build_suite(dataset: str, options: PrepareOptions, test_share: float | None = None) -> Any:
    """The expectations every prepared dataset must meet (a ``gx.ExpectationSuite``)."""
    import great_expectations as gx
    import great_expectations.expectations as gxe

    suite = gx.ExpectationSuite(
        name=suite_name(dataset),
        meta={"notes": "airsage prepare: cleaned, balanced, split review features"},
    )
    expectations = [
        gxe.ExpectTableColumnsToMatchSet(
            column_set=[*FEATURE_COLUMNS, SPLIT_COLUMN], exact_match=True
        ),
        gxe.ExpectTableRowCountToBeBetween(min_value=len(SPLITS) * len(SENTIMENT_LABELS)),
        gxe.ExpectColumnValuesToNotBeNull(column="review_id"),
        gxe.ExpectColumnValuesToBeUnique(column="review_id"),
        gxe.ExpectColumnValuesToNotBeNull(column="review_text"),
        gxe.ExpectColumnValueLengthsToBeBetween(
            column="review_text", min_value=options.min_text_length
        ),
        gxe.ExpectColumnValuesToNotBeNull(column="sentiment"),
        gxe.ExpectColumnValuesToBeInSet(column="sentiment", value_set=list(SENTIMENT_LABELS)),
        gxe.ExpectColumnValuesToBeBetween(column="rating", min_value=1, max_value=5),
        gxe.ExpectColumnDistinctValuesToEqualSet(column=SPLIT_COLUMN, value_set=list(SPLITS)),
        gxe.ExpectColumnKLDivergenceToBeLessThan(
            column=SPLIT_COLUMN,
            partition_object={
                "values": list(SPLITS),
                "weights": split_weights(options, test_share),
            },
            threshold=options.split_max_kl_divergence,
        ),
    ]
    expectations += [
        gxe.ExpectColumnDistinctValuesToEqualSet(
            column="sentiment",
            value_set=list(SENTIMENT_LABELS),
            row_condition=f'{SPLIT_COLUMN}=="{name}"',
            condition_parser="pandas",
        )
        for name in SPLITS
    ]
    for expectation in expectations:
        suite.add_expectation(expectation)
    return suite


def _context(docs_dir: Path) -> Any:
    """An in-memory context, analytics and progress bars off, one Data Docs site in ``docs_dir``."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(),
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False),
    )
    context = gx.get_context(mode="ephemeral", project_config=config)
    context.add_data_docs_site(
        SITE_NAME,
        {
            "class_name": "SiteBuilder",
            "store_backend": {
                "class_name": "TupleFilesystemStoreBackend",
                "base_directory": str(docs_dir),
            },
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        },
    )
    return context


def combine_splits(splits: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """One frame of the contract columns with a ``split`` column naming each row's split."""
    parts = [
        splits[name].loc[:, [c for c in splits[name].columns if c in FEATURE_COLUMNS]]
        .assign(**{SPLIT_COLUMN: name})
        for name in SPLITS
        if name in splits
    ]
    return pd.concat(parts, ignore_index=True)


def _describe_failure(result: Any, frame: pd.DataFrame) -> GateFailure:
    config = result.expectation_config
    kwargs = {
        key: value
        for key, value in config.kwargs.items()
        if key not in {"batch_id", "condition_parser"}
    }
    column = kwargs.pop("column", None)
    condition = kwargs.pop("row_condition", None)
    if isinstance(condition, Mapping):
        condition = condition.get("pass_through_filter", condition)
    check = config.type + (f"({column})" if column else "")
    if condition:
        check += f" where {condition}"
    details: dict[str, Any] = dict(result.result or {})
    if details.get("observed_value") is not None:
        measured: Any = details["observed_value"]
    elif details.get("partial_missing_list"):
        measured = {"missing": details["partial_missing_list"]}
    elif "unexpected_count" in details:
        measured = {
            "unexpected_count": details.get("unexpected_count"),
            "sample": details.get("partial_unexpected_list", [])[:5],
        }
    else:
        measured = None
    message = ""
    if config.type == "expect_column_kl_divergence_to_be_less_than":
        shares = frame[SPLIT_COLUMN].value_counts(normalize=True)
        message = "split shares " + ", ".join(
            f"{name}={float(shares.get(name, 0.0)):.3f}" for name in SPLITS
        )
    if result.exception_info and result.exception_info.get("raised_exception"):
        message = f"expectation raised: {result.exception_info.get('exception_message')}"
    return GateFailure(check=check, measured=_json_safe(measured), expected=_json_safe(kwargs),
                      message=message)


def _json_safe(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def validate_splits(
    lake: Lake,
    dataset: str,
    day: dt_.date | str,
    splits: Mapping[str, pd.DataFrame],
    options: PrepareOptions,
    *,
    test_share: float | None = None,
) -> ExpectationsResult:
    """Run the suite, keep its result and Data Docs in the lake, raise if it failed.

    ``test_share`` is the realised share of a hash-held-out test split (the evaluation set),
    whose size follows the hash rather than the configured fraction.

    The report is written before the verdict is raised, so a refused dataset still leaves
    its Data Docs for the person who has to find out why.
    """
    try:
        import great_expectations as gx
        from great_expectations.checkpoint import UpdateDataDocsAction
        from great_expectations.core.run_identifier import RunIdentifier
    except ImportError as exc:
        raise StepFailed(f"prepare: Great Expectations is not importable: {exc}") from exc

    day_value = partition_value(day)
    layout = LakeLayout(dataset)
    frame = combine_splits(splits)
    resource = f"features of {dataset} dt={day_value}"
    with tempfile.TemporaryDirectory(prefix="airsage-gx-") as tmp:
        docs_dir = Path(tmp) / "docs"
        try:
            context = _context(docs_dir)
            source = context.data_sources.add_pandas(f"{dataset}_prepare")
            batch = source.add_dataframe_asset("features").add_batch_definition_whole_dataframe(
                "all_splits"
            )
            suite = context.suites.add(build_suite(dataset, options, test_share))
            validation = context.validation_definitions.add(
                gx.ValidationDefinition(name=f"{dataset}_features_{day_value}", data=batch,
                                        suite=suite)
            )
            checkpoint = context.checkpoints.add(
                gx.Checkpoint(
                    name=f"{dataset}_prepare",
                    validation_definitions=[validation],
                    actions=[UpdateDataDocsAction(name="data_docs", site_names=[SITE_NAME])],
                    result_format={"result_format": "SUMMARY"},
                )
            )
            outcome = checkpoint.run(
                batch_parameters={"dataframe": frame},
                run_id=RunIdentifier(run_name=f"{dataset}-dt={day_value}"),
            )
        except Exception as exc:
            raise StepFailed(
                f"prepare: Great Expectations failed to validate {resource}: {exc}"
            ) from exc
        (suite_result,) = outcome.run_results.values()
        failures = [
            _describe_failure(result, frame) for result in suite_result.results
            if not result.success
        ]
        layout_prefix = layout.report(DATA_DOCS_REPORT, day_value, "")
        lake.delete_prefix(layout_prefix)
        for path in sorted(docs_dir.rglob("*")):
            if path.is_file() and path.suffix in DOCS_SUFFIXES:
                relative = path.relative_to(docs_dir).as_posix()
                lake.upload(path, layout.report(DATA_DOCS_REPORT, day_value, relative))
    docs_key = layout.report(DATA_DOCS_REPORT, day_value, "index.html")
    result_key = layout.report(EXPECTATIONS_REPORT, day_value, RESULT_FILE)
    lake.write_bytes(
        result_key,
        json.dumps(suite_result.to_json_dict(), indent=2, sort_keys=True, default=str).encode(),
    )
    summary = ExpectationsResult(
        success=bool(suite_result.success),
        suite_name=suite_name(dataset),
        evaluated=len(suite_result.results),
        failed=len(failures),
        failures=tuple(failure.to_dict() for failure in failures),
        result_key=result_key,
        data_docs_key=docs_key,
    )
    if not summary.success:
        raise GateFailedError(
            gate=GATE,
            resource=resource,
            failures=failures,
            report_uri=lake.uri(docs_key),
        )
    return summary
