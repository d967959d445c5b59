"""Golden files: the rendered example inventory, compared file by file; one call refreshes them."""

from __future__ import annotations

import difflib
import shutil
import tempfile
from pathlib import Path

from camkit import pipeline


def render_tree(inventory: Path) -> dict[str, bytes]:
    """Every file a full render of `inventory` writes (manifest included), by relative path."""
    inv = pipeline.load(inventory)
    plan = pipeline.plan(inv)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / inv.city.id
        pipeline.write(pipeline.render(inv, plan), out)
        return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def compare(tree: dict[str, bytes], golden: Path) -> list[str]:
    """One entry per differing file: missing, unexpected, or a unified diff."""
    have = {p.relative_to(golden).as_posix(): p.read_bytes() for p in sorted(golden.rglob("*")) if p.is_file()}
    problems = []
    for path in sorted(set(tree) | set(have)):
        if path not in have:
            problems.append(f"missing golden: {path}")
        elif path not in tree:
            problems.append(f"golden no longer rendered: {path}")
        elif tree[path] != have[path]:
            diff = difflib.unified_diff(have[path].decode("utf-8", "replace").splitlines(True),
                                        tree[path].decode("utf-8", "replace").splitlines(True),
                                        f"golden/{path}", f"rendered/{path}", n=1)
            problems.append("".join(list(diff)[:60]))
    return problems


def update(tree: dict[str, bytes], golden: Path) -> int:
    shutil.rmtree(golden, ignore_errors=True)
    for path, data in tree.items():
        dest = golden / path
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(data)
    return len(tree)
