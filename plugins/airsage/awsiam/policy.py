"""The IAM policy documents of ``include/iam/``, rendered for the configured settings, and a
small evaluator of IAM's Allow/Deny rules that the tests (and ``airsage iam``) use.

Each template is an IAM policy document whose strings hold ``${Name}`` placeholders. The
values come from the settings (:func:`placeholders`): the lake's bucket and prefix, the
region, the account (from ``aws.role_arn``, or given), the Glue database, the Athena
workgroup and result location, the SageMaker names airsage derives (job name prefixes,
model package group, endpoint), the execution role and the SNS topic. A placeholder whose
value is a list expands its string into one string per value; a statement whose resource
renders empty (no SNS topic configured) is left out, and the rendering says so.
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from airsage.config import INCLUDE_DIR, Settings
from airsage.errors import ConfigurationError

IAM_DIR = INCLUDE_DIR / "iam"
# role -> template file: the Airflow workers and triggerer, the SageMaker jobs, the Glue runs
ROLES = {
    "airflow": "airflow-role.json",
    "sagemaker-execution": "sagemaker-execution-role.json",
    "glue": "glue-role.json",
}
TRUST_POLICY = "trust-execution-role.json"
PLACEHOLDER = re.compile(r"\$\{([A-Za-z]+)\}")
ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::(\d{12}):role/.+$")
POLICY_VERSION = "2012-10-17"


@dataclass(frozen=True)
class RenderedPolicy:
    """One role's document for the settings, and the statements left out (with why)."""

    role: str
    template: str
    document: Mapping[str, Any]
    omitted: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"role": self.role, "template": self.template, "document": dict(self.document),
                "omitted": list(self.omitted)}


def _s3_parts(uri: str, what: str) -> tuple[str, str]:
    """``s3://bucket/a/b`` -> (``bucket``, ``a/b/``); the prefix ends in ``/`` unless empty."""
    if not uri.startswith("s3://") or len(uri) <= len("s3://"):
        raise ConfigurationError(f"airsage iam: {what} must be an s3:// URI, got {uri!r}")
    bucket, _, prefix = uri[len("s3://"):].partition("/")
    prefix = prefix.strip("/")
    return bucket, f"{prefix}/" if prefix else ""


def job_prefixes(settings: Settings) -> list[str]:
    """Name patterns of every SageMaker job airsage starts (SageMaker lower-cases job ARNs):
    dataset-scoped jobs (``<dataset>-<day>-…``: bias, train, tune, evaluate, baseline), the
    endpoint's monitor jobs (``<endpoint>-<hour>-monitor-…``) and ``airsage-…`` (PyDeequ)."""
    endpoint = str(settings.section("serving").get("endpoint") or "reviews-sentiment")
    scopes = [*sorted(settings.section("datasets")), endpoint, "airsage"]
    return sorted({f"{re.sub(r'[^a-z0-9]+', '-', scope.lower()).strip('-')}-*" for scope in scopes})


def placeholders(settings: Settings, *, account: str | None = None) -> dict[str, str | list[str]]:
    """The values of the templates' placeholders for ``settings`` (no AWS call)."""
    from airsage.awsconf import AwsSettings

    aws = AwsSettings.from_settings(settings)
    aws.require_s3()
    bucket, prefix = _s3_parts(aws.lake_root, "lake.root")
    role_arn = aws.role_arn
    match = ROLE_ARN.match(role_arn) if role_arn else None
    if role_arn and not match:
        raise ConfigurationError(
            f"airsage iam: aws.role_arn {role_arn!r} is not an IAM role ARN "
            "(arn:aws:iam::<12-digit account>:role/<name>)")
    account = account or (match.group(1) if match else "")
    if not re.fullmatch(r"\d{12}", account or ""):
        raise ConfigurationError(
            "airsage iam: the account is unknown: set aws.role_arn (the execution role's ARN "
            "names it) or pass --account with the 12-digit account id")
    if not role_arn:
        raise ConfigurationError(
            "airsage iam: aws.role_arn is not set: the Airflow role may pass only that role to "
            "SageMaker and Glue; create it (include/iam/trust-execution-role.json) and set it")
    from airsage.features.base import FeatureStoreSettings

    features = FeatureStoreSettings.from_settings(settings)
    athena_output = aws.athena_output or aws.uri("reports/athena/")
    athena_bucket, athena_prefix = _s3_parts(athena_output, "aws.athena_output")
    return {
        "Bucket": bucket,
        "LakePrefix": prefix,
        "Region": aws.region,
        "Account": account,
        "Database": aws.database,
        "AthenaWorkgroup": aws.athena_workgroup,
        "AthenaOutput": f"{athena_bucket}/{athena_prefix}",
        "AthenaOutputBucket": athena_bucket,
        "JobPrefix": job_prefixes(settings),
        "ModelName": str(settings.section("registry").get("model_name") or "reviews-sentiment"),
        "Endpoint": str(settings.section("serving").get("endpoint") or "reviews-sentiment"),
        "RoleArn": role_arn,
        # SageMaker spells a feature group's ARN in lower case
        "FeatureGroup": [features.group_name(name).lower() for name in sorted(settings.datasets)],
        "FeatureStorePrefix": features.offline_store_prefix,
        "SnsTopicArn": str(settings.section("alerts").get("sns_topic_arn") or ""),
    }


def _expand(text: str, values: Mapping[str, str | list[str]], where: str) -> list[str]:
    """``text`` with every placeholder replaced; a list value yields one string per item."""
    names = PLACEHOLDER.findall(text)
    unknown = sorted(set(names) - set(values))
    if unknown:
        raise ConfigurationError(f"{where}: unknown placeholder(s) {unknown}; known: "
                                 f"{sorted(values)}")
    results = [text]
    for name in dict.fromkeys(names):
        value = values[name]
        options = value if isinstance(value, list) else [value]
        results = [r.replace("${" + name + "}", option) for r in results for option in options]
    return results


def _render_value(value: Any, values: Mapping[str, str | list[str]], where: str) -> Any:
    if isinstance(value, str):
        expanded = _expand(value, values, where)
        return expanded[0] if len(expanded) == 1 else expanded
    if isinstance(value, list):
        out: list[Any] = []
        for item in value:
            rendered = _render_value(item, values, where)
            out.extend(rendered if isinstance(rendered, list) else [rendered])
        return out
    if isinstance(value, dict):
        return {key: _render_value(item, values, where) for key, item in value.items()}
    return value


def load_template(name: str) -> dict[str, Any]:
    path = IAM_DIR / name
    try:
        document = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigurationError(f"IAM template {path} cannot be read as JSON: {exc}") from exc
    check_document(document, str(path))
    return dict(document)


def render(document: Mapping[str, Any], values: Mapping[str, str | list[str]], *,
           where: str = "policy") -> tuple[dict[str, Any], tuple[str, ...]]:
    """The document with its placeholders filled; statements whose Resource renders empty
    are left out (their Sids are returned)."""
    statements, omitted = [], []
    for statement in document["Statement"]:
        sid = statement.get("Sid", "?")
        rendered = _render_value(statement, values, f"{where}, statement {sid}")
        resources = rendered.get("Resource")
        listed = resources if isinstance(resources, list) else [resources]
        if "Resource" in rendered and not any(listed):
            omitted.append(sid)
            continue
        statements.append(rendered)
    return {**document, "Statement": statements}, tuple(omitted)


def render_role(settings: Settings, role: str, *, account: str | None = None) -> RenderedPolicy:
    """One role's policy for the settings; an unknown role lists the roles."""
    if role not in ROLES:
        raise ConfigurationError(f"airsage iam: no role {role!r}; roles: {', '.join(ROLES)}")
    document, omitted = render(load_template(ROLES[role]), placeholders(settings, account=account),
                               where=ROLES[role])
    return RenderedPolicy(role, ROLES[role], document, omitted)


def render_all(settings: Settings, *, account: str | None = None) -> list[RenderedPolicy]:
    """Every role's policy plus the execution role's trust policy (role ``trust``)."""
    values = placeholders(settings, account=account)
    rendered = [RenderedPolicy(role, name, *render(load_template(name), values, where=name))
                for role, name in ROLES.items()]
    trust, _ = render(load_template(TRUST_POLICY), values, where=TRUST_POLICY)
    return [*rendered, RenderedPolicy("trust", TRUST_POLICY, trust)]


# -- grammar and evaluation -----------------------------------------------------------------
STATEMENT_KEYS = {"Sid", "Effect", "Action", "Resource", "Condition", "Principal"}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def check_document(document: Any, where: str) -> None:
    """The subset of IAM's policy grammar airsage writes: Version, Statement with unique Sids,
    Effect Allow/Deny, Action ``service:Action`` strings, Resource (or Principal), Condition
    operator -> key -> value(s). Raises naming the statement and the problem."""
    if not isinstance(document, Mapping) or document.get("Version") != POLICY_VERSION:
        raise ConfigurationError(f"{where}: a policy document needs \"Version\": "
                                 f"\"{POLICY_VERSION}\"")
    statements = document.get("Statement")
    if not isinstance(statements, list) or not statements:
        raise ConfigurationError(f"{where}: \"Statement\" must be a non-empty list")
    sids: set[str] = set()
    for index, statement in enumerate(statements):
        at = f"{where}, statement {index} ({statement.get('Sid', 'no Sid')})"
        if not isinstance(statement, Mapping):
            raise ConfigurationError(f"{at}: a statement is an object")
        extra = set(statement) - STATEMENT_KEYS
        if extra:
            raise ConfigurationError(f"{at}: keys {sorted(extra)} are not IAM statement keys")
        sid = statement.get("Sid")
        if not isinstance(sid, str) or not re.fullmatch(r"[A-Za-z0-9]+", sid) or sid in sids:
            raise ConfigurationError(f"{at}: every statement needs a unique alphanumeric Sid")
        sids.add(sid)
        if statement.get("Effect") not in ("Allow", "Deny"):
            raise ConfigurationError(f"{at}: Effect must be Allow or Deny")
        actions = _as_list(statement.get("Action"))
        if not actions or not all(isinstance(a, str) and re.fullmatch(r"[a-z0-9-]+:[A-Za-z0-9*]+", a)
                                  for a in actions):
            raise ConfigurationError(f"{at}: Action must be service:Action strings, got {actions}")
        if "Resource" not in statement and "Principal" not in statement:
            raise ConfigurationError(f"{at}: a statement needs a Resource")
        condition = statement.get("Condition", {})
        if not isinstance(condition, Mapping) or not all(
                isinstance(keys, Mapping) for keys in condition.values()):
            raise ConfigurationError(f"{at}: Condition must map an operator to key -> value(s)")


def _matches(pattern: str, value: str, *, case_sensitive: bool) -> bool:
    """IAM's wildcards: ``*`` any run of characters, ``?`` one character."""
    regex = fnmatch.translate(pattern.replace("[", "[[]"))
    return re.match(regex, value, 0 if case_sensitive else re.IGNORECASE) is not None


def _condition_holds(condition: Mapping[str, Mapping[str, Any]],
                     context: Mapping[str, str | Sequence[str]]) -> bool:
    for operator, keys in condition.items():
        for key, expected in keys.items():
            if key not in context:
                return False  # a key the request does not carry fails the condition, as in IAM
            actual = context[key]
            values = [actual] if isinstance(actual, str) else list(actual)
            wanted = [str(e) for e in _as_list(expected)]
            if operator == "StringEquals":
                ok = all(v in wanted for v in values)
            elif operator == "StringLike":
                ok = all(any(_matches(w, v, case_sensitive=True) for w in wanted) for v in values)
            else:
                raise ConfigurationError(f"condition operator {operator!r} is not evaluated here")
            if not ok:
                return False
    return True


def statement_allows_action(statement: Mapping[str, Any], action: str) -> bool:
    return any(_matches(pattern, action, case_sensitive=False)
               for pattern in _as_list(statement.get("Action")))


def is_allowed(document: Mapping[str, Any], action: str, resource: str | None = None,
               context: Mapping[str, str | Sequence[str]] | None = None) -> bool:
    """Whether ``document`` allows ``action`` on ``resource`` with the request ``context``.

    An explicit Deny wins; otherwise some Allow must match action, resource and condition.
    ``resource=None`` asks whether the action is allowed on *some* resource, conditions
    aside (the question "does the role have this action at all?").
    """
    allowed = False
    for statement in document["Statement"]:
        if not statement_allows_action(statement, action):
            continue
        if resource is not None:
            if not any(_matches(p, resource, case_sensitive=True)
                       for p in _as_list(statement.get("Resource"))):
                continue
            if not _condition_holds(statement.get("Condition", {}), context or {}):
                continue
        if statement["Effect"] == "Deny" and resource is not None:
            return False
        allowed = allowed or statement["Effect"] == "Allow"
    return allowed


def s3_object_arn(uri: str) -> str:
    """``s3://bucket/key`` -> ``arn:aws:s3:::bucket/key``."""
    bucket, _, key = uri[len("s3://"):].partition("/")
    return f"arn:aws:s3:::{bucket}/{key}"


def template_paths() -> list[Path]:
    return [IAM_DIR / name for name in (*ROLES.values(), TRUST_POLICY)]
