"""Synthetic review batches that look like the public data set, and deliberately bad ones.

The generator lets every gate be exercised offline: class imbalance, a biased category,
covariate drift and each kind of broken file are knobs of :class:`GeneratorConfig`
(see :mod:`airsage.data.generator`; it imports pandas, so it is not re-exported here).
"""
