"""The S3 lake against moto's server on 127.0.0.1 (never real AWS)."""

from __future__ import annotations

import pytest

from airsage.config import load_settings
from airsage.lake.aws import S3Lake


@pytest.fixture
def s3(s3_endpoint: str, s3_credentials: dict[str, str]):
    import boto3

    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    client.create_bucket(Bucket="airsage-lake")
    yield client
    for item in client.list_objects_v2(Bucket="airsage-lake").get("Contents", []):
        client.delete_object(Bucket="airsage-lake", Key=item["Key"])
    client.delete_bucket(Bucket="airsage-lake")


def test_s3_lake_keeps_the_same_keys_under_its_prefix(s3) -> None:
    settings = load_settings(environ={"AIRSAGE_TARGET": "aws", "AIRSAGE_LAKE_ROOT": "s3://airsage-lake/prod"})
    lake = S3Lake(settings, client=s3)
    uri = lake.write_bytes("raw/reviews/dt=2026-01-01/a.csv", b"x,y\n")
    assert uri == "s3://airsage-lake/prod/raw/reviews/dt=2026-01-01/a.csv"
    recorded = [o["Key"] for o in s3.list_objects_v2(Bucket="airsage-lake")["Contents"]]
    assert recorded == ["prod/raw/reviews/dt=2026-01-01/a.csv"]
    assert lake.exists("raw/reviews/dt=2026-01-01/a.csv")
    assert not lake.exists("raw/reviews/dt=2026-01-02/a.csv")
    assert list(lake.list("raw/")) == ["raw/reviews/dt=2026-01-01/a.csv"]
    assert lake.read_bytes("raw/reviews/dt=2026-01-01/a.csv") == b"x,y\n"
    assert lake.delete_prefix("raw/") == 1
    assert s3.list_objects_v2(Bucket="airsage-lake").get("KeyCount") == 0


def test_a_missing_key_is_file_not_found_as_in_a_directory_lake(s3) -> None:
    """Callers (the feature store's group definition, prepare's curated day) handle a missing
    key once, with FileNotFoundError, on both targets."""
    settings = load_settings(environ={"AIRSAGE_TARGET": "aws", "AIRSAGE_LAKE_ROOT": "s3://airsage-lake/prod"})
    lake = S3Lake(settings, client=s3)
    with pytest.raises(FileNotFoundError, match="no object at s3://airsage-lake/prod/curated/x"):
        lake.read_bytes("curated/x")


def test_s3_lake_needs_an_s3_root() -> None:
    from airsage.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="s3:// URI"):
        S3Lake(load_settings(environ={"AIRSAGE_TARGET": "aws"}))


def test_an_s3_compatible_store_is_reached_through_lake_endpoint_url(s3, s3_endpoint: str) -> None:
    """No injected client: the lake builds its own from ``lake.endpoint_url`` (MinIO in compose)."""
    settings = load_settings(environ={"AIRSAGE_LAKE_ROOT": "s3://airsage-lake/team",
                                      "AIRSAGE__LAKE__ENDPOINT_URL": s3_endpoint})
    from airsage.targets import implementation

    lake = implementation("lake", settings)  # the local target keeps its engines, the lake is S3
    assert isinstance(lake, S3Lake) and lake.endpoint_url == s3_endpoint
    lake.write_bytes("reports/x.json", b"{}")
    assert s3.get_object(Bucket="airsage-lake", Key="team/reports/x.json")["Body"].read() == b"{}"


def test_a_malformed_endpoint_url_is_refused_with_the_setting_named() -> None:
    from airsage.errors import ConfigurationError

    settings = load_settings(environ={"AIRSAGE_LAKE_ROOT": "s3://b/p",
                                      "AIRSAGE__LAKE__ENDPOINT_URL": "minio:9000"})
    with pytest.raises(ConfigurationError, match=r"lake\.endpoint_url"):
        S3Lake(settings)


def test_a_conditional_upload_refuses_to_overwrite_another_writers_version(s3, tmp_path) -> None:
    """``upload_if`` is a compare-and-swap on the ETag: the catalog's last line of defence."""
    from airsage.lake.aws import LakeConflict

    lake = S3Lake(load_settings(environ={"AIRSAGE_LAKE_ROOT": "s3://airsage-lake/team"}), client=s3)
    local = tmp_path / "db"
    local.write_bytes(b"v1")
    assert lake.etag("catalog/x") is None
    assert lake.download_versioned("catalog/x", tmp_path / "none") is None
    assert not (tmp_path / "none").exists()
    first = lake.upload_if(local, "catalog/x", None)
    assert lake.etag("catalog/x") == first
    with pytest.raises(LakeConflict, match=r"s3://airsage-lake/team/catalog/x changed .*no object"):
        lake.upload_if(local, "catalog/x", None)  # created by someone else meanwhile
    assert lake.download_versioned("catalog/x", tmp_path / "copy") == first
    lake.write_bytes("catalog/x", b"v2 by another writer")
    local.write_bytes(b"v1 + my change")
    with pytest.raises(LakeConflict, match="another writer updated it"):
        lake.upload_if(local, "catalog/x", first)
    assert lake.read_bytes("catalog/x") == b"v2 by another writer"  # not lost
    second = lake.etag("catalog/x")
    assert second is not None and lake.upload_if(local, "catalog/x", second) != second
    assert lake.read_bytes("catalog/x") == b"v1 + my change"
