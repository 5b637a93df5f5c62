"""Hyperparameter tuning: a SageMaker search space, Optuna locally, the same result shape.

``base.Tuner`` is a target's tuner; ``step.tune_model`` is handed one by the Airflow layer."""
