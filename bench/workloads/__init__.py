"""Workloads of the benchmark suite (``python -m bench``); see ``bench/run.py``.

Each module has ``run(cfg, systems) -> {"cases": [...], "skipped": [...]}``; a case is a
dict with ``case``, ``system`` and timing statistics (``median_s``, ``p25_s``,
``p75_s``, ``min_s``, ``max_s``, ``n``) or the workload's own numbers. ``run`` runs in the
parent and measures nothing itself: the timed workloads (training, overhead, elemwise) also
have ``measure(cfg, systems)`` (training: ``measure_convpool``/``measure_mlp``), which
``_child.py measure`` calls in a fresh process per system; ``run`` merges and adds ratios.
"""
