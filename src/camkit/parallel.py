"""How many processes a city-sized step may fork (render, camera registries): one home for the rule."""

from __future__ import annotations

import os


def jobs() -> int:
    """One process per usable core, at most 4; CAMKIT_JOBS overrides (1: no fork)."""
    env = os.environ.get("CAMKIT_JOBS", "").strip()
    if env.isdigit() and int(env) >= 1:
        return int(env)
    return max(1, min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1))


def can_fork() -> bool:
    import multiprocessing

    return "fork" in multiprocessing.get_all_start_methods()
