"""Golden tests: every rendered file of the example inventory, with a per-file diff on failure.

Refresh after an intended change with `invoke goldens --update` and review the diff in git.
"""

from __future__ import annotations

import pytest

from camkit.goldens import compare, render_tree
from camkit.render import registry

from conftest import EXAMPLE, GOLDENS

GOLDEN = GOLDENS / "example"


@pytest.fixture(scope="module")
def tree() -> dict[str, bytes]:
    return render_tree(EXAMPLE)


def test_goldens_exist_for_every_family(tree: dict[str, bytes]) -> None:
    import json

    manifest = json.loads(tree[".camkit-manifest.json"])["files"]
    assert {m["family"] for m in manifest.values()} == set(registry())


@pytest.mark.parametrize("family", list(registry()))
def test_family_matches_goldens(tree: dict[str, bytes], family: str) -> None:
    import json

    manifest = json.loads(tree[".camkit-manifest.json"])["files"]
    paths = {p for p, m in manifest.items() if m["family"] == family}
    golden_manifest = json.loads((GOLDEN / ".camkit-manifest.json").read_text())["files"]
    golden_paths = {p for p, m in golden_manifest.items() if m["family"] == family}
    sub = {p: tree[p] for p in paths}
    problems = [p for p in compare(sub, GOLDEN) if not p.startswith("golden no longer rendered")]
    problems += [f"golden no longer rendered: {p}" for p in sorted(golden_paths - paths)]
    assert not problems, "\n".join(problems) + "\nrun `invoke goldens --update` if the change is intended"


def test_whole_tree_matches(tree: dict[str, bytes]) -> None:
    assert not compare(tree, GOLDEN)
