"""Airflow's ``core.hostname_callable`` for test workers that share one machine.

Two Celery workers on one host would report the same hostname on every task instance; each
worker started by ``airflow_services`` names itself in ``AIRSAGE_WORKER_HOSTNAME`` instead,
so a test can see which worker ran which task. Other processes get the real hostname."""

from __future__ import annotations

import os
import socket


def hostname() -> str:
    return os.environ.get("AIRSAGE_WORKER_HOSTNAME") or socket.getfqdn()
