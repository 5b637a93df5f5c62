"""Hyperparameter tuning: a SageMaker search space, Optuna locally, the same result shape.

``base.Tuner`` is a target's tuner; ``job`` holds the tuning job's request and result;
``step.tune_model`` (request → run → collect) is handed a tuner by the Airflow layer; ``aws``
maps the same request onto SageMaker's tuning job and reads it back into the same result."""
