"""The feature store: prepare's features as a feature group with point-in-time reads.

``base.py`` holds the interface (:class:`FeatureStore`), the settings, the record schema and
the as-of rules; ``query.py`` the point-in-time SQL both targets run (DuckDB locally, Athena
on aws; dialect differences named there); ``publish.py`` what prepare does with a store
(write the run's records, then read its channels back through the point-in-time query);
``local.py`` the Parquet offline store in the lake; ``aws.py`` a SageMaker Feature Group.
"""
