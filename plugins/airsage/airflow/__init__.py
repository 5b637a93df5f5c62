"""airsage's Airflow layer: the only code that imports Airflow.

DAG files import from here and from ``airflow.sdk`` only. Everything below keeps heavy
imports (pandas, DuckDB, boto3, MLflow) inside task bodies, so parsing a DAG stays cheap.
"""
