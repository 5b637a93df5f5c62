"""Land batches in the raw zone, unchanged and once (see :mod:`airsage.ingest.landing`)."""

from airsage.ingest.landing import (
    LandedFile,
    LandingResult,
    ensure_partition,
    land_file,
    land_files,
    verify_partition,
)

__all__ = [
    "LandedFile",
    "LandingResult",
    "ensure_partition",
    "land_file",
    "land_files",
    "verify_partition",
]
