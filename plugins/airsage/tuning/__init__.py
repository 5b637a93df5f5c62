"""Hyperparameter tuning: a SageMaker search space, Optuna locally, the same result shape."""
