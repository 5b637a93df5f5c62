"""airsage: MLOps on Apache Airflow 3, from a reviews data lake to a monitored endpoint."""

__version__ = "0.1.0"
