"""The data flow as library calls: load -> plan -> render -> write (used by the CLI, tasks and tests)."""

from __future__ import annotations

import gc
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterable, Iterator

from camkit import ipplan, loader, render as _render
from camkit.diagnostics import Finding, InventoryError
from camkit.ipplan import LOCK_NAME, Plan
from camkit.loader import Inventory


@contextmanager
def batch_gc() -> Iterator[None]:
    """Pause the cyclic GC while building the model: 60k camera objects otherwise trigger dozens of
    full collections that find nothing (the model has no cycles); measured ~25% of validate time."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def load(root: Path | str, progress: Callable[[str, int, int], None] | None = None) -> Inventory:
    with batch_gc():
        inv = loader.load(root, progress)
    if FREEZE_MODEL:
        gc.freeze()
    return inv


# A one-shot process (the `camkit` console entry) keeps its model until it exits: freezing it after the load
# spares every later collection a walk over its ~10^6 objects (for Hanoi ~0.3 s per full collection during
# planning and the checks) and keeps forked renderers' pages shared. Off in a library or test process, where
# frozen garbage (an inventory and its cached topology refer to each other) would never be freed.
FREEZE_MODEL = False


def plan(inv: Inventory) -> Plan:
    """The IP plan, then the checks that need addresses (tunnel ends)."""
    from camkit import wireguard
    from camkit.sizing import published_services
    from camkit.topology import Topology

    with batch_gc():
        result = ipplan.plan(inv, inv.positions, published_services(inv, Topology.of(inv)))
    wireguard.check(inv, result)
    return result


def check(inv: Inventory, strict: bool) -> list[Finding]:
    """The rules a valid inventory may still break: capacity (`camkit.capacity`), then planning (VII.2.6,
    `camkit.planning`). Warnings; with `strict` (CI) an InventoryError (exit 2) when there is any."""
    from camkit import capacity, planning
    from camkit.topology import Topology

    with batch_gc():
        topo = Topology.of(inv)
        found = capacity.findings(inv, topo) + planning.findings(inv, topo)
    if strict and found:
        raise InventoryError([f.diagnostic for f in found])
    return found


def render(inv: Inventory, plan: Plan, families: Iterable[str] | None = None,
           selection: _render.Selection | str | None = None) -> _render.RenderResult:
    return _render.render(inv, plan, families, selection)


def write(result: _render.RenderResult, out: Path) -> _render.Changes:
    return _render.write(result, out)


def lock_text(plan: Plan) -> str:
    return ipplan.dump_lock(plan.lock)


def lock_is_stale(inv: Inventory, plan: Plan) -> bool:
    """Whether the lock on disk records something other than this plan (compared as data: fast)."""
    path = inv.root / LOCK_NAME
    return not path.exists() or inv.lock != plan.lock


def write_lock(inv: Inventory, plan: Plan) -> bool:
    """Record the plan's allocations; atomic; returns whether the file changed."""
    path = inv.root / LOCK_NAME
    if not lock_is_stale(inv, plan):
        return False  # same data: leave the file (and its formatting) alone
    text = lock_text(plan)
    tmp = path.with_name(f".{LOCK_NAME}.{os.getpid()}")
    tmp.write_text(text, "utf-8")
    tmp.replace(path)
    return True
