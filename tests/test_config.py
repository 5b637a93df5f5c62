from __future__ import annotations

from pathlib import Path

import pytest

from airsage.config import DEFAULT_CONFIG_FILE, load_settings
from airsage.errors import ConfigurationError


def test_shipped_config_loads_with_local_target_and_reviews_dataset() -> None:
    settings = load_settings(environ={})
    assert settings.target == "local"
    spec = settings.dataset("reviews")
    assert spec.primary_key == "review_id"
    assert spec.columns["rating"] == "BIGINT"
    assert spec.source_columns["Review Text"] == "review_text"
    assert Path(settings.lake_root) == settings.home / "lake"


def test_environment_overrides_nested_keys_and_parses_values() -> None:
    settings = load_settings(
        environ={"AIRSAGE__QUALITY__HISTORY_WINDOW_DAYS": "3", "AIRSAGE_TARGET": "aws",
                 "AIRSAGE_LAKE_ROOT": "s3://bucket/prefix"}
    )
    assert settings.section("quality")["history_window_days"] == 3
    assert settings.target == "aws"
    assert settings.lake_root == "s3://bucket/prefix"


def test_explicit_overrides_win_over_environment() -> None:
    settings = load_settings(
        environ={"AIRSAGE__EVALUATION__ACCURACY_THRESHOLD": "0.5"},
        overrides={"evaluation": {"accuracy_threshold": 0.9}},
    )
    assert settings.section("evaluation")["accuracy_threshold"] == 0.9
    # the rest of the section survives a deep merge
    assert "champion_tolerance" in settings.section("evaluation")


def test_unknown_target_lists_the_valid_ones() -> None:
    with pytest.raises(ConfigurationError, match="valid targets: local, aws"):
        load_settings(environ={"AIRSAGE_TARGET": "gcp"})


def test_missing_file_and_bad_yaml_are_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="does not exist"):
        load_settings(tmp_path / "nope.yaml", environ={})
    bad = tmp_path / "bad.yaml"
    bad.write_text("target: [unclosed\n")
    with pytest.raises(ConfigurationError, match="not valid YAML"):
        load_settings(bad, environ={})


def test_dataset_roles_must_be_columns(tmp_path: Path) -> None:
    text = DEFAULT_CONFIG_FILE.read_text().replace("primary_key: review_id", "primary_key: id")
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ConfigurationError, match="primary_key 'id' is not one of its columns"):
        load_settings(path, environ={})


def test_unknown_dataset_lists_the_configured_ones() -> None:
    with pytest.raises(ConfigurationError, match=r"configured datasets: \['reviews'\]"):
        load_settings(environ={}).dataset("orders")


def test_every_test_module_has_a_unique_basename() -> None:
    """Test folders have no __init__.py, so pytest imports modules by basename: two
    test_x.py in different folders collide at collection time."""
    tests = Path(__file__).resolve().parent
    names = [p.name for p in tests.rglob("*.py") if p.name not in ("conftest.py", "__init__.py")]
    assert sorted(n for n in set(names) if names.count(n) > 1) == []


def test_section_values_refuses_unknown_keys_and_coerces_types() -> None:
    import dataclasses

    from airsage.config import section_values

    @dataclasses.dataclass(frozen=True)
    class Example:
        port: int = 1
        ratio: float = 0.5
        enabled: bool = True
        names: tuple[str, ...] = ()

    values = section_values(Example, {"port": "8085", "ratio": 1, "enabled": "false", "names": "a"},
                            section="example", source="test.yaml")
    assert Example(**values) == Example(port=8085, ratio=1.0, enabled=False, names=("a",))
    with pytest.raises(ConfigurationError, match=r"example: unknown key\(s\) \['prot'\].*valid keys"):
        section_values(Example, {"prot": 1}, section="example", source="test.yaml")
    with pytest.raises(ConfigurationError, match=r"example\.port in test\.yaml is 'x'"):
        section_values(Example, {"port": "x"}, section="example", source="test.yaml")
