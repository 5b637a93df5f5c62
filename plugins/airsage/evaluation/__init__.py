"""Evaluate a model on the day's test split and decide whether it may be registered.

``step.evaluate_model`` runs the evaluation job (``include/jobs/evaluate.py``: metrics in
SageMaker Pipelines' ``evaluation.json`` shape, post-training bias as Clarify's
``analysis.json``, feature attribution); ``condition.bless`` turns a candidate's report and
the champion's into a blessing. Import those modules directly: this package stays light.
"""
