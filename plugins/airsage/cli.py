"""The ``airsage`` command: data generation and landing, SQL, rule suggestion, serving, demo.

Every subcommand imports what it needs when it runs, so ``airsage --help`` is instant.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airsage.errors import AirsageError, ConfigurationError

if TYPE_CHECKING:
    from airsage.config import Settings
    from airsage.targets import Engines


def _settings() -> Settings:
    from airsage.config import load_settings

    return load_settings()


def _engines() -> Engines:
    """The configured target's engines; a command hands each step the one it needs."""
    from airsage.targets import Engines

    return Engines(_settings())


def _date(value: str) -> str:
    try:
        return dt.date.fromisoformat(value).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date (YYYY-MM-DD)") from None


def cmd_generate(args: argparse.Namespace) -> int:
    from airsage.data.generator import (
        GeneratorConfig,
        generate_batch,
        write_batch,
        write_defective_batch,
    )
    from airsage.ingest import land_file

    engines = _engines()
    settings = engines.settings
    start = dt.date.fromisoformat(args.date)
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    for offset in range(args.days):
        day = (start + dt.timedelta(days=offset)).isoformat()
        config = GeneratorConfig(
            rows=args.rows, seed=args.seed, day=day, drift=args.drift,
            biased_category=args.biased_category, bias_strength=args.bias_strength,
            defect=args.defect,
        )
        path = out_dir / f"reviews_{day}.{args.format}"
        if args.defect:
            path = write_defective_batch(args.defect, path, config)
        else:
            write_batch(generate_batch(config), path, args.format)
        print(f"wrote {path}")
        if args.land:
            result = land_file(engines.lake, settings.dataset(args.dataset), path, day)
            print(json.dumps(result.to_dict(), indent=2, default=str))
    return 0


def cmd_ingest(args: argparse.Namespace) -> int:
    from airsage.ingest import land_file

    engines = _engines()
    result = land_file(engines.lake, engines.settings.dataset(args.dataset), Path(args.path),
                       args.date)
    print(json.dumps(result.to_dict(), indent=2, default=str))
    return 0


def cmd_sql(args: argparse.Namespace) -> int:
    sql = Path(args.file).read_text() if args.file else args.query
    if not sql:
        raise SystemExit("airsage sql: give a query or --file")
    params = {"ds": args.date} if args.date else {}
    frame = _engines().sql.query(sql, **params)
    print(frame.to_string(index=False, max_rows=args.max_rows))
    return 0


def cmd_suggest(args: argparse.Namespace) -> int:
    from airsage.quality.suggest import suggest_ruleset

    engines = _engines()
    relation = engines.catalog.partition_relation(engines.lake, args.dataset, args.date)
    ruleset = suggest_ruleset(relation, dataset=engines.settings.dataset(args.dataset))
    if args.out:
        Path(args.out).write_text(ruleset)
        print(f"wrote {args.out}")
    else:
        print(ruleset)
    return 0


def cmd_features_query(args: argparse.Namespace) -> int:
    """What a model saw: the feature group's point-in-time read as of ``--as-of``."""
    from airsage.features.base import FeatureGroupSpec, check_split, format_event_time, parse_as_of

    engines = _engines()
    as_of = parse_as_of(args.as_of)
    spec = FeatureGroupSpec.for_dataset(engines.settings, args.dataset)
    frame = engines.features.query(engines.lake, spec, as_of, check_split(args.split))
    where = f"{spec.name} as of {format_event_time(as_of)}"
    if args.out:
        out = Path(args.out)
        if out.suffix == ".parquet":
            frame.to_parquet(out, index=False)
        elif out.suffix == ".csv":
            frame.to_csv(out, index=False)
        else:
            raise ConfigurationError(f"--out {out}: write .parquet or .csv")
        print(f"wrote {len(frame)} records of {where} to {out}")
    else:
        print(f"{len(frame)} records of {where}")
        print(frame.to_string(index=False, max_rows=args.max_rows))
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from airsage.serving.server import main as serve_main

    return serve_main(args.rest) or 0


def cmd_endpoint(args: argparse.Namespace) -> int:
    deployer = _engines().serving
    if args.endpoint_command == "stop":
        stopped = deployer.stop(args.name)
        print(f"stopped {args.name or 'the endpoint'}" if stopped else "no endpoint was running")
        return 0
    description = deployer.describe(args.name)
    if args.endpoint_command == "invoke":
        return _invoke_endpoint(description, args)
    print(json.dumps(description.to_dict(), indent=2, default=str))
    return 0 if description.url else 1


def _invoke_endpoint(description: Any, args: argparse.Namespace) -> int:
    """``airsage endpoint invoke``: one review through boto3's sagemaker-runtime client."""
    from botocore.exceptions import BotoCoreError, ClientError

    from airsage.serving.client import EndpointClient

    if not args.text:
        print("airsage: endpoint invoke needs --text 'a review'", file=sys.stderr)
        return 2
    if not description.url:
        print(f"airsage: endpoint {description.endpoint} is not running; deploy a model "
              "(airsage demo) or start it (airsage serve)", file=sys.stderr)
        return 1
    client = EndpointClient(description.endpoint, endpoint_url=description.url)
    try:
        answer = client.invoke([{"review_text": text} for text in args.text],
                               target_variant=args.variant, inference_id=args.inference_id)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        print(f"airsage: {error.get('Code')}: {error.get('Message')}", file=sys.stderr)
        return 1
    except BotoCoreError as exc:
        print(f"airsage: {description.url}: {exc}", file=sys.stderr)
        return 1
    print(json.dumps({"variant": answer.variant, "predictions": answer.predictions}, indent=2))
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from airsage.airflow.runner import run_dag

    conf = json.loads(args.conf) if args.conf else None
    window = {key: value for key, value in (("at", args.at), ("window_from", args.start),
                                            ("window_to", args.end)) if value}
    if window:
        from airsage.airflow.monitor_params import requested_interval
        from airsage.airflow.names import DRIFT_DAG_ID

        if args.dag_id != DRIFT_DAG_ID:
            raise ConfigurationError(f"--at/--from/--to apply to {DRIFT_DAG_ID} only, not "
                                     f"{args.dag_id}")
        try:
            requested_interval(window)
        except ValueError as exc:
            raise ConfigurationError(f"run {args.dag_id}: {exc}") from None
        conf = {**(conf or {}), **window}
    partition = args.date if args.dag_id == "reviews_daily" else None
    summary = run_dag(args.dag_id, logical_date=args.date, conf=conf, partition=partition)
    print(json.dumps({"state": summary.state, "tasks": summary.task_states}, indent=2))
    return 0 if summary.state == "success" else 1


def cmd_predict(args: argparse.Namespace) -> int:
    """Score a day's curated partition with a model version: one reviews_batch_scoring run."""
    from airsage.airflow.names import BATCH_DAG_ID, SCORE
    from airsage.airflow.runner import run_dag

    conf = {"partition_date": args.date, "model_version": args.version}
    summary = run_dag(BATCH_DAG_ID, conf=conf)
    scored = summary.xcoms.get(SCORE) or summary.xcoms.get(f"{SCORE}.collect")
    print(json.dumps({"state": summary.state, "tasks": summary.task_states, "scored": scored},
                     indent=2))
    return 0 if summary.state == "success" else 1


def cmd_report(args: argparse.Namespace) -> int:
    """Print (and open in a browser, where one is available) a run's HTML report."""
    import webbrowser

    from airsage.reports.run import report_key

    lake = _engines().lake
    key = report_key(args.dataset, args.date)
    if not lake.exists(key):
        print(f"no run report for {args.dataset} {args.date} at {lake.uri(key)}; the report task "
              "writes it at the end of every reviews_daily run", file=sys.stderr)
        return 1
    uri = lake.uri(key)
    url = uri if "://" in uri else Path(uri).resolve().as_uri()
    print(url)
    if not args.no_browser:
        webbrowser.open(url)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from airsage.demo import run_demo

    return run_demo(days=args.days, end=args.date)


def cmd_plan(args: argparse.Namespace) -> int:
    """Print every request a run of the whole DAG would make for the date (no AWS call)."""
    from airsage.plan import plan, render

    settings = _plan_settings(args)
    steps = plan(settings, args.date, dataset=args.dataset)
    if args.json:
        print(json.dumps([s.to_dict() for s in steps], indent=2, default=str))
    else:
        print(render(steps, args.date))
    return 0


def cmd_iam(args: argparse.Namespace) -> int:
    """Print the IAM policies of include/iam/ rendered for the configured settings."""
    from airsage.awsiam.policy import render_all

    settings = _plan_settings(args)
    policies = [p for p in render_all(settings, account=args.account)
                if args.role is None or p.role == args.role]
    if args.json:
        print(json.dumps([p.to_dict() for p in policies], indent=2))
        return 0
    for policy in policies:
        print(f"# {policy.role} (include/iam/{policy.template})")
        for sid in policy.omitted:
            print(f"# statement {sid} left out: its resource is not configured")
        print(json.dumps(policy.document, indent=2))
    return 0


def _plan_settings(args: argparse.Namespace) -> Settings:
    from airsage.config import load_settings

    return load_settings(overrides={"target": args.target} if args.target else None)


def cmd_config(args: argparse.Namespace) -> int:
    settings = _settings()
    print(json.dumps(dict(settings.raw), indent=2, default=str))
    return 0


EXAMPLES = """examples (after `. scripts/env.sh`):
  airsage data generate --date 2026-03-01 --days 3 --rows 4000 --land   synthetic days, landed
  airsage data ingest reviews.csv --date 2026-03-01                      land your own file
  airsage sql "SELECT rating, count(*) FROM airsage.reviews GROUP BY 1" --date 2026-03-01
  airsage quality suggest --date 2026-03-01 --out my.dqdl                a DQDL ruleset it passes
  airsage run reviews_daily --date 2026-03-01 --conf '{"tuning": true}'  one run, in-process
  airsage run reviews_drift_monitor --date 2026-03-02                    check captured traffic
  airsage report open --date 2026-03-01                                  the run's HTML report
  airsage features query --as-of 2026-03-01 --split train                what that day's model saw
  airsage predict --date 2026-03-01 --version 3                          batch-score a day
  airsage serve --port 8085                                              a local endpoint by hand
  airsage endpoint describe                                              what the endpoint serves
  airsage endpoint invoke --text "love this dress"                       one prediction (boto3)
  airsage plan --target aws --date 2026-03-01                            the AWS requests of a run
  airsage iam --target aws --role airflow                                its IAM policy, rendered
  airsage demo --days 3                                                  the whole loop, offline
  airsage config                                                         the merged settings
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="airsage", description=__doc__, epilog=EXAMPLES,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    data = sub.add_parser("data", help="generate and land review batches").add_subparsers(
        dest="data_command", required=True
    )
    gen = data.add_parser("generate", help="write deterministic synthetic review batches")
    gen.add_argument("--date", type=_date, required=True, help="first day (YYYY-MM-DD)")
    gen.add_argument("--days", type=int, default=1)
    gen.add_argument("--rows", type=int, default=2000)
    gen.add_argument("--seed", type=int, default=7)
    gen.add_argument("--format", choices=["csv", "jsonl", "parquet"], default="csv")
    gen.add_argument("--drift", type=float, default=0.0, help="covariate drift 0..1")
    gen.add_argument("--biased-category", default=None, help="department treated unfairly")
    gen.add_argument("--bias-strength", type=float, default=0.0)
    gen.add_argument("--defect", default=None, help="write a bad batch of this kind")
    gen.add_argument("--out", default="generated", help="output directory")
    gen.add_argument("--land", action="store_true", help="also land each file in the lake")
    gen.add_argument("--dataset", default="reviews")
    gen.set_defaults(func=cmd_generate)

    ing = data.add_parser("ingest", help="land a file (csv, jsonl, parquet) for a day")
    ing.add_argument("path")
    ing.add_argument("--date", type=_date, required=True)
    ing.add_argument("--dataset", default="reviews")
    ing.set_defaults(func=cmd_ingest)

    sql = sub.add_parser("sql", help="run an Athena (Presto/Trino) SQL query on the catalog")
    sql.add_argument("query", nargs="?")
    sql.add_argument("--file")
    sql.add_argument("--date", type=_date, help="value of {{ ds }}")
    sql.add_argument("--max-rows", type=int, default=50)
    sql.set_defaults(func=cmd_sql)

    quality = sub.add_parser("quality", help="data quality tools").add_subparsers(
        dest="quality_command", required=True
    )
    suggest = quality.add_parser("suggest", help="profile a partition and write a DQDL ruleset")
    suggest.add_argument("--date", type=_date, required=True)
    suggest.add_argument("--dataset", default="reviews")
    suggest.add_argument("--out")
    suggest.set_defaults(func=cmd_suggest)

    features = sub.add_parser("features", help="the feature store").add_subparsers(
        dest="features_command", required=True)
    fquery = features.add_parser(
        "query", help="the records live as of a time: what a model trained then saw")
    fquery.add_argument("--as-of", required=True,
                        help="YYYY-MM-DD (the end of that day, as its run reads) or ISO-8601 time")
    fquery.add_argument("--dataset", default="reviews")
    fquery.add_argument("--split", choices=("train", "validation", "test"))
    fquery.add_argument("--out", help="write the records to a .parquet or .csv file")
    fquery.add_argument("--max-rows", type=int, default=20)
    fquery.set_defaults(func=cmd_features_query)

    serve = sub.add_parser("serve", help="run the local model endpoint (SageMaker contract)")
    serve.add_argument("rest", nargs=argparse.REMAINDER, help="arguments for the server")
    serve.set_defaults(func=cmd_serve)

    endpoint = sub.add_parser("endpoint", help="describe, invoke or stop the local endpoint")
    endpoint.add_argument("endpoint_command", choices=["describe", "invoke", "stop"])
    endpoint.add_argument("--name", default=None, help="endpoint name (default: from config)")
    endpoint.add_argument("--text", action="append", help="invoke: a review text (repeatable)")
    endpoint.add_argument("--variant", help="invoke: target this production variant")
    endpoint.add_argument("--inference-id", help="invoke: recorded with the captured request")
    endpoint.set_defaults(func=cmd_endpoint)

    run = sub.add_parser("run", help="run one DAG run in-process (dag.test)")
    run.add_argument("dag_id")
    run.add_argument("--date", type=_date, default=None)
    run.add_argument("--conf", help="JSON object of Params")
    run.add_argument("--at", help="drift monitor: check the hour containing YYYY-MM-DDTHH:MM (UTC)")
    run.add_argument("--from", dest="start", help="drift monitor: window start YYYY-MM-DDTHH:MM")
    run.add_argument("--to", dest="end", help="drift monitor: window end YYYY-MM-DDTHH:MM")
    run.set_defaults(func=cmd_run)

    predict = sub.add_parser("predict", help="score a day's curated partition with a model "
                             "version (reviews_batch_scoring)")
    predict.add_argument("--date", type=_date, required=True)
    predict.add_argument("--version", default=None,
                         help="a registered, Approved version (default: the champion)")
    predict.set_defaults(func=cmd_predict)

    report = sub.add_parser("report", help="a run's HTML report").add_subparsers(
        dest="report_command", required=True)
    report_open = report.add_parser("open", help="print and open the report of a day's run")
    report_open.add_argument("--date", type=_date, required=True, help="the run's partition day")
    report_open.add_argument("--dataset", default="reviews")
    report_open.add_argument("--no-browser", action="store_true", help="only print its address")
    report_open.set_defaults(func=cmd_report)

    demo = sub.add_parser("demo", help="the local end-to-end demo")
    demo.add_argument("--days", type=int, default=3)
    demo.add_argument("--date", type=_date, default=None, help="last day (default: yesterday)")
    demo.set_defaults(func=cmd_demo)

    planner = sub.add_parser("plan", help="print the aws requests of a date's run (calls nothing)")
    planner.add_argument("--target", choices=["aws"], default=None, help="default: the configured target")
    planner.add_argument("--date", type=_date, required=True)
    planner.add_argument("--dataset", default="reviews")
    planner.add_argument("--json", action="store_true", help="the full requests as JSON")
    planner.set_defaults(func=cmd_plan)

    iam = sub.add_parser("iam", help="print the IAM policies of the aws target for the settings")
    iam.add_argument("--target", choices=["aws"], default=None, help="default: the configured target")
    iam.add_argument("--role", choices=["airflow", "sagemaker-execution", "glue", "trust"],
                     default=None, help="one role's document (default: all)")
    iam.add_argument("--account", default=None,
                     help="12-digit account id (default: the account of aws.role_arn)")
    iam.add_argument("--json", action="store_true", help="one JSON list of the documents")
    iam.set_defaults(func=cmd_iam)

    config = sub.add_parser("config", help="print the merged configuration")
    config.set_defaults(func=cmd_config)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except AirsageError as exc:
        print(f"airsage: {exc}", file=sys.stderr)
        return 2
    except (OSError, ValueError, LookupError) as exc:  # a bad path, JSON or name: one line
        print(f"airsage: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
