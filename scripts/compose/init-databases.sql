-- Run once by the postgres image on a new volume: the databases of the shared stores
-- (Airflow's own database is POSTGRES_DB). The tracking server keeps MLflow's runs and
-- registry in `mlflow`; tuning jobs keep Optuna's studies in `optuna`.
CREATE DATABASE mlflow;
CREATE DATABASE optuna;
