"""Workloads of the benchmark suite (``python -m bench``); see ``bench/run.py``.

Each module has ``run(cfg, systems) -> {"cases": [...], "skipped": [...]}``; a case is a
dict with ``case``, ``system`` and timing statistics (``median_s``, ``p25_s``,
``p75_s``, ``min_s``, ``max_s``, ``n``) or the workload's own numbers.
"""
