"""The catalog: what the lake's partitions hold, as tables SQL engines can query.

Like a Glue crawler, a crawl infers a landed partition's schema, checks it against the
dataset's contract and the table's previous schema, and registers the partition. The
interface and result types are in :mod:`airsage.catalog.base`; the local target's crawler
(DuckDB) in :mod:`airsage.catalog.local`.
"""

from airsage.catalog.base import Catalog, CrawlResult, SchemaChange

__all__ = ["Catalog", "CrawlResult", "SchemaChange"]
