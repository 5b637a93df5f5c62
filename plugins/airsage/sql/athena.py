"""Athena SQL, templated and translated: the same query text runs on both targets.

Queries are written once in Athena's dialect (Presto/Trino: ``regexp_like``,
``count_if``, ``approx_distinct``, ``date_parse`` ...) with Jinja placeholders
(``{{ ds }}``, ``{{ database }}``, ``{{ table }}``). The aws target sends the rendered text
to Athena; the local target transpiles it with sqlglot to DuckDB.
"""

from __future__ import annotations

from typing import Any

from airsage.errors import ConfigurationError

READ_DIALECT = "athena"
WRITE_DIALECT = "duckdb"


def render(template: str, **params: Any) -> str:
    """Fill the Jinja placeholders; an unknown placeholder is an error, not an empty string."""
    import jinja2

    env = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False,
                             keep_trailing_newline=True)
    try:
        return env.from_string(template).render(**params)
    except jinja2.UndefinedError as exc:
        raise ConfigurationError(
            f"SQL template uses an undefined parameter ({exc.message}); "
            f"parameters given: {', '.join(sorted(params)) or 'none'}"
        ) from exc
    except jinja2.TemplateSyntaxError as exc:
        raise ConfigurationError(f"SQL template is not valid Jinja (line {exc.lineno}): {exc}") \
            from exc


def transpile_athena(sql: str) -> str:
    """Athena (Presto/Trino) SQL to DuckDB SQL; one statement in, one out."""
    import sqlglot
    from sqlglot.errors import ParseError, UnsupportedError

    try:
        statements = sqlglot.transpile(sql, read=READ_DIALECT, write=WRITE_DIALECT,
                                       unsupported_level=sqlglot.ErrorLevel.RAISE)
    except (ParseError, UnsupportedError) as exc:
        raise ConfigurationError(f"SQL is not valid Athena SQL: {exc}\n{sql}") from exc
    statements = [s for s in statements if s.strip()]
    if len(statements) != 1:
        raise ConfigurationError(
            f"expected exactly one SQL statement, found {len(statements)}:\n{sql}"
        )
    return statements[0]
