"""Evaluate a model on the run's held-out evaluation set and decide whether it may be registered.

``step.evaluate_model`` runs the evaluation job (``include/jobs/evaluate.py``: metrics in
SageMaker Pipelines' ``evaluation.json`` shape, post-training bias as Clarify's
``analysis.json``, feature attribution, per-row ``predictions.json``); ``condition.bless``
turns a candidate's report and the champion's into a blessing, comparing the two with a
paired test (``paired``). Import those modules directly: this package stays light.
"""
