"""Where a result came from: the inventory it was checked against, the camkit that checked it, when, and what
was reached (real devices, or the simulator and loopback stand-ins of the test rigs). Every report a contractor
hands over carries it, so a run against the simulator never reads as a handover."""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any


def inventory_version(root: Path) -> dict[str, Any]:
    """What identifies the inventory a report checked: its content hash, and in git the last commit that touched
    it and whether the tree held uncommitted changes to it (`dirty`: the files `git status` lists)."""
    h = hashlib.sha256()
    for p in sorted(q for q in root.rglob("*") if q.is_file()):
        h.update(p.relative_to(root).as_posix().encode() + b"\0" + p.read_bytes() + b"\0")
    out: dict[str, Any] = {"content_sha256": h.hexdigest()}
    git = _git(root, "log", "-1", "--format=%H", "--", ".")
    if git is not None and git.strip():
        out["git_commit"] = git.strip()
        status = _git(root, "status", "--porcelain", "--untracked-files=all", "--", ".")
        if status is not None:
            out["dirty"] = sorted(line[3:] for line in status.splitlines() if line.strip())
    return out


def _git(root: Path, *args: str) -> str | None:
    """git's output, or None where there is no git (a site server) or no repository."""
    try:
        res = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return res.stdout if res.returncode == 0 else None


def camkit_version() -> str:
    try:
        return metadata.version("camkit")
    except metadata.PackageNotFoundError:  # a source checkout on PYTHONPATH
        return "unknown (not installed)"


def stand_in(hosts: list[str], simulator: bool) -> str | None:
    """Why results are not a handover, if they are not: the ONVIF simulator, or devices on loopback."""
    if simulator:
        return "the ONVIF device simulator (not cameras)"
    loop = []
    for h in hosts:
        try:
            if ipaddress.ip_address(h).is_loopback:
                loop.append(h)
        except ValueError:
            if h == "localhost":
                loop.append(h)
    return f"{len(loop)} endpoint(s) on loopback (not the site's devices)" if loop else None


def run_context(inventory: Path, reached: str, hosts: list[str], simulator: bool = False) -> dict[str, Any]:
    """The provenance block of a report: time (UTC), camkit version, inventory version, what was reached."""
    why = stand_in(hosts, simulator)
    return {"time": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "camkit": camkit_version(),
            "inventory": {"path": str(inventory), **inventory_version(Path(inventory))}, "reached": reached,
            "stand_in": why}


def results_root(city: str) -> Path:
    """Where run results live, by city (`build/results/<city>/`: verify, cameras, handover); outside the render's
    `build/<city>/`, which a render replaces whole."""
    return Path("build") / "results" / city
