"""Airflow's ``core.hostname_callable`` for test workers that share one machine.

Two Celery workers on one host would report the same hostname on every task instance; each
worker started by ``airflow_services`` names itself in ``AIRSAGE_WORKER_HOSTNAME`` instead,
so a test can see which worker ran which task. Other processes get Airflow's own default.

Cached per process, as Airflow's default (``airflow.utils.net.getfqdn``) is: a supervisor
sends its hostname when it starts a task and on every heartbeat, and the server refuses a
heartbeat whose hostname differs ("TI is already running elsewhere") — an uncached lookup that
resolves differently once (a slow resolver answering the bare hostname instead of the FQDN)
would kill a healthy task."""

from __future__ import annotations

import functools
import os


@functools.cache
def hostname() -> str:
    from airflow.utils.net import getfqdn

    return os.environ.get("AIRSAGE_WORKER_HOSTNAME") or getfqdn()
