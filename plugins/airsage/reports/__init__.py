"""Run reports: one self-contained HTML page per run, with plots (``run.py``, ``figures.py``)."""
