"""Data-quality, drift and model-quality monitoring in SageMaker Model Monitor's formats.

Model Monitor is closed to new AWS customers, so airsage computes the same files itself:
``statistics.json`` and ``constraints.json`` for a baseline (:mod:`.baseline`, run by
``include/jobs/baseline.py``), and for each
interval of captured traffic ``statistics.json`` and ``constraint_violations.json``
(:mod:`.checks`, run by ``include/jobs/monitor.py``). Reports written by an existing Model
Monitor schedule are read the same way (``monitoring.source: model_monitor``).

Modules that need numpy or pandas are imported by their callers; this package stays light.
"""
