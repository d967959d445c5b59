"""Capacity findings (camkit.capacity): one case per rule, from a changed copy of the example inventory.

Each case: what `camkit validate` prints (exit 0, a warning naming the file:line, the site and the figures),
and what `camkit validate --strict` does (exit 2, the same words as an error, nothing written)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Callable, NamedTuple

import pytest

from camkit import capacity, sizing
from camkit.loader import load

from conftest import EXAMPLE, edit

HANG_TRONG_SMALL_DISKS = ("switches:", "servers:\n  - {name: edge1, roles: [k8s_control, k8s_worker, storage], "
                          "cpu_cores: 16, memory_gb: 64, disks_tb: 4}\nswitches:")


def _tweak_catalog(monkeypatch: pytest.MonkeyPatch, section: str, **values: float) -> None:
    """The sizing catalog with some figures changed (what a heavier camera mix would make the model say)."""
    table = copy.deepcopy(sizing.table())
    node = table
    for part in section.split("."):
        node = node[part]
    node.update(values)
    monkeypatch.setattr(sizing, "table", lambda: table)


class Case(NamedTuple):
    rule: str
    breaks: Callable[[Path, pytest.MonkeyPatch], None]  # how to break the example
    where: str  # where the finding points
    words: list[str]  # what it must say
    through_cli: bool = True  # False: the IP plan also refuses the change, so only the findings are checked


CASES: list[Case] = [
    Case("storage", lambda inv, mp: edit(inv / "sites" / "hang-trong.yml", *HANG_TRONG_SMALL_DISKS),
     "sites/hang-trong.yml:7:1", ["site 'hang-trong'", "of storage-server disks", "4.0 TB", "TB short",
                                  "add storage servers or disks"]),
    Case("ceph-hosts", lambda inv, mp: edit(inv / "city.yml", "storage: {ec_data_chunks: 2, ec_coding_chunks: 1}",
                                        "storage: {ec_data_chunks: 4, ec_coding_chunks: 2}"),
     "profiles/district_oc.yml:5:1", ["site 'hoan-kiem'", "needs 6 storage hosts", "erasure coding 4+2",
                                      "the site has 3", "add 3 storage server(s)"]),
    Case("uplink", lambda inv, mp: edit(inv / "profiles" / "private_system.yml", "capacity_mbps: 100", "capacity_mbps: 4"),
     "profiles/private_system.yml:3:1", ["site 'toa-nha-hang-bac'", "published streams", "on 4 Mbps",
                                         "raise uplink.capacity_mbps to at least"]),
    Case("gpus", lambda inv, mp: _tweak_catalog(mp, "gpus.nvidia-t4", decode_1080p30_streams=0.5),
     "profiles/district_oc.yml:5:1", ["site 'hoan-kiem'", "GPUs (nvidia-t4", "the site has 2", "short",
                                      "add GPU servers"]),
    Case("compute", lambda inv, mp: _tweak_catalog(mp, "recorder", cpu_millicores_base=100_000),
     "profiles/ward.yml:5:1", ["site 'hang-bac'", "1 VMS shard(s)", "request 100.", "its workers offer 16 cores",
                               "add Kubernetes workers"]),
    # (more shards also need more published addresses than the example's ward blocks hold: the IP plan
    # refuses that on its own, so this case is checked on the findings alone)
    Case("compute", lambda inv, mp: _tweak_catalog(mp, "recorder", max_streams_per_instance=2),
     "profiles/ward.yml:5:1", ["site 'hang-bac'", "5 VMS shards on 1 Kubernetes worker(s)", "fail together",
                               "run at least 5 workers"], through_cli=False),
    Case("retention", lambda inv, mp: edit(inv / "city.yml", "tier2: {retention_days: 30, recording: continuous",
                                       "tier2: {retention_days: 30, recording: motion"),
     "city.yml:", ["tier 2 records 'motion' only", "VII.2.2.4", "set tiers.tier2.recording: continuous"]),
]


def test_the_example_has_no_capacity_finding(cli) -> None:  # type: ignore[no-untyped-def]
    assert capacity.findings(load(EXAMPLE)) == []
    res = cli("validate", "--strict", EXAMPLE)
    assert res.exit_code == 0, res.output


@pytest.mark.parametrize("case", CASES, ids=[f"{c.rule}-{i}" for i, c in enumerate(CASES)])
def test_each_capacity_rule_warns_and_fails_strict(cli, inventory: Path, monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
                                                   case: Case) -> None:
    rule, where, words = case.rule, case.where, case.words
    case.breaks(inventory, monkeypatch)
    found = [f for f in capacity.findings(load(inventory)) if f.rule == rule]
    assert found, f"no {rule} finding"
    text = [str(f.diagnostic) for f in found]
    assert any(where in t and all(w in t for w in words) for t in text), text
    if not case.through_cli:
        return

    res = cli("validate", inventory)  # a warning: listed, and validate still succeeds
    assert res.exit_code == 0, res.output
    assert "warning: " in res.output and f"capacity ({rule})" in res.output
    assert "`validate --strict` fails on them" in res.output
    body = json.loads(cli("validate", inventory, "--json").output)
    assert body["ok"] is True and any(w["rule"] == rule and w["severity"] == "warning" for w in body["warnings"])

    res = cli("validate", "--strict", inventory)  # what CI runs: a failure, the same words
    assert res.exit_code == 2, res.output
    assert "error: " in res.output and f"capacity ({rule})" in res.output
    assert "Traceback" not in res.output
