"""Jobs: the scripts of ``include/jobs/`` as requests, and the one local runner for all of them.

- ``request``: :class:`JobRequest` (what a step asks a job to do: script, lake keys in and
  out, config, limits) — pure and JSON-safe, the same on both targets — and
  :class:`JobOutcome` (how the job ended), with the :class:`JobRunner` protocol.
- ``contract``: the container contract the scripts read (one root variable, one config
  file, exit code 2 for bad input); scripts import it, so it imports nothing heavy.
- ``local``: :class:`LocalJobRunner`, the local target's ``run`` phase for every script.
- ``aws``: the same requests as SageMaker processing and training jobs (Create*Job arguments,
  staging, Describe*Job → outcome) and :class:`SageMakerJobRunner`, the synchronous runner
  for callers outside Airflow; ``reattach``: what a retried step does with its job.
"""

from airsage.jobs.request import JobOutcome, JobRequest, JobRunner, job_name

__all__ = ["JobOutcome", "JobRequest", "JobRunner", "job_name"]
