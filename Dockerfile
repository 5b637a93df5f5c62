# airsage on the official Airflow image: the pinned requirements plus the airsage package.
FROM apache/airflow:3.3.2-python3.11
USER root
RUN apt-get update && apt-get install -y --no-install-recommends default-jre-headless \
    && rm -rf /var/lib/apt/lists/*
USER airflow
COPY --chown=airflow:root requirements.txt pyproject.toml README.md /opt/airsage/
COPY --chown=airflow:root plugins /opt/airsage/plugins
RUN pip install --no-cache-dir -r /opt/airsage/requirements.txt \
    && pip install --no-cache-dir --no-deps /opt/airsage
