"""Benchmarks of the CLI steps on a city inventory: wall time and peak RSS of fresh processes.

Each run is a new `camkit` process (what a user or CI pays), timed by the parent, its peak RSS
read from the kernel with wait4(). Reported: median, min and max of the runs.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

# seconds, MiB: the foundation issue's budgets (validate; render of its three families) and the
# network-security issue's budget for every family
FOUNDATION = "ipplan,ansible-inventory,registry"
TARGETS = {"validate": (3.0, 1024), "render-foundation": (10.0, 1024), "render-all": (15.0, 1024)}


@dataclass
class Measure:
    step: str
    runs: list[tuple[float, float]]  # (seconds, MiB)

    @property
    def median_s(self) -> float:
        return statistics.median(r[0] for r in self.runs)

    @property
    def median_mib(self) -> float:
        return statistics.median(r[1] for r in self.runs)

    @property
    def max_mib(self) -> float:
        return max(r[1] for r in self.runs)


def _run(args: list[str]) -> tuple[float, float]:
    start = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        err = proc.stderr.read().decode() if proc.stderr else ""
        raise RuntimeError(f"{' '.join(args)} failed ({proc.returncode}): {err[-2000:]}")
    return elapsed, usage.ru_maxrss / 1024  # Linux reports KiB


def run(inventory: Path, runs: int = 5) -> list[Measure]:
    exe = [sys.executable, "-m", "camkit.cli"]
    results = [Measure("validate", []), Measure("render-foundation", []), Measure("render-all", [])]
    tmp = Path(tempfile.mkdtemp(prefix="camkit-bench-"))
    try:
        _run([*exe, "validate", str(inventory)])  # warm the page cache
        for i in range(runs):
            results[0].runs.append(_run([*exe, "validate", str(inventory)]))
            out = tmp / f"run{i}"
            results[1].runs.append(_run([*exe, "render", str(inventory), "--out", str(out), "--only", FOUNDATION]))
            shutil.rmtree(out, ignore_errors=True)
            results[2].runs.append(_run([*exe, "render", str(inventory), "--out", str(out)]))
            shutil.rmtree(out, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return results


def report(inventory: Path, results: list[Measure]) -> str:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"camkit bench on {inventory} ({len(results[0].runs)} runs, fresh process each)")
    for col in ("step", "median s", "min s", "max s", "target s", "peak RSS MiB (median / max)", "target MiB", "ok"):
        table.add_column(col)
    for m in results:
        ts, tm = TARGETS[m.step]
        ok = m.median_s <= ts and m.max_mib <= tm
        table.add_row(m.step, f"{m.median_s:.2f}", f"{min(r[0] for r in m.runs):.2f}",
                      f"{max(r[0] for r in m.runs):.2f}", f"{ts:.0f}", f"{m.median_mib:.0f} / {m.max_mib:.0f}",
                      str(tm), "yes" if ok else "NO")
    console = Console(record=True, width=120)
    console.print(table)
    return console.export_text()


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description="benchmark validate and render")
    ap.add_argument("inventory", type=Path, nargs="?", default=Path("inventories/hanoi"))
    ap.add_argument("--runs", type=int, default=5)
    a = ap.parse_args()
    report(a.inventory, run(a.inventory, a.runs))
