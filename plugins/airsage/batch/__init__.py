"""Batch predictions: score a curated partition with a registered, Approved model version.

SageMaker Batch Transform's semantics on both targets (``transform.py``): JSON Lines in, split
by line, ``<input>.out`` out, each prediction joined with its input's ``review_id``. The
request is pure (``scoring.py``); locally the job script ``include/jobs/batch_transform.py``
runs ``include/jobs/inference.py``'s handlers through the one local job runner, on aws a
SageMaker transform job runs them in the inference container (``aws.py``); collect reads the
``.out`` back and writes one prediction per input row (``predictions/…``). ``quality.py``
joins those predictions with labels that arrive later into Model Monitor's model-quality
metrics.
"""
