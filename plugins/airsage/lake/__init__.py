"""The data lake: one backend interface (bytes by key) and the one module that owns key names."""

from airsage.lake.base import Lake
from airsage.lake.layout import LakeLayout

__all__ = ["Lake", "LakeLayout"]
