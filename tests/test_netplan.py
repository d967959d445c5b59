"""netplan per server: accepted by the real `netplan generate`; duplicates rejected by camkit."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from camkit import pipeline
from camkit.diagnostics import InventoryError
from camkit.render.netplan import check_addresses

from conftest import EXAMPLE, edit


@pytest.fixture(scope="module")
def rendered() -> dict[str, bytes]:
    inv = pipeline.load(EXAMPLE)
    result = pipeline.render(inv, pipeline.plan(inv), ["netplan"])
    assert all(art.mode == 0o600 for _, art in result.artifacts.values())
    return {Path(rel).stem: art.content for rel, (_, art) in result.artifacts.items()}


def generate(tmp_path: Path, host: str, content: bytes) -> tuple[subprocess.CompletedProcess[str], Path]:
    netplan = shutil.which("netplan")
    assert netplan, "netplan.io is not installed (`.ci/run` installs it)"
    root = tmp_path / host
    (root / "etc" / "netplan").mkdir(parents=True)
    conf = root / "etc" / "netplan" / "50-camkit.yaml"
    conf.write_bytes(content)
    conf.chmod(0o600)
    res = subprocess.run([netplan, "generate", "--root-dir", str(root)], capture_output=True, text=True)
    return res, root / "run" / "systemd" / "network"


def test_every_server_file_is_accepted_by_netplan(rendered: dict[str, bytes], tmp_path: Path) -> None:
    inv = pipeline.load(EXAMPLE)
    assert len(rendered) == sum(len(s.servers) for s in inv.sites.values())
    for host, content in rendered.items():
        res, out = generate(tmp_path, host, content)
        assert res.returncode == 0, (host, res.stderr)
        units = {p.name: p.read_text() for p in out.iterdir()}
        doc = yaml.safe_load(content)
        for vlan, body in doc["network"]["vlans"].items():
            text = units[f"10-netplan-{vlan}.network"]
            for addr in body["addresses"]:
                assert f"Address={addr}" in text, (host, vlan, addr)


def test_gateway_uplink_and_bond(rendered: dict[str, bytes], tmp_path: Path) -> None:
    res, out = generate(tmp_path, "ioc-gw1", rendered["ioc-gw1"])
    assert res.returncode == 0, res.stderr
    netdev = (out / "10-netplan-bond0.netdev").read_text()
    assert "Mode=802.3ad" in netdev and "TransmitHashPolicy=layer3+4" in netdev
    wan = (out / "10-netplan-eno3.network").read_text()
    assert "Address=100.64.0.0/31" in wan            # parent end of a child's transit link
    assert "Destination=10.0.0.0/22" in wan          # route to hoan-kiem's block via its transit
    assert "Destination=10.20.0.0/24" in wan         # and to its pinned legacy camera subnet


def test_netplan_rejects_a_broken_file(tmp_path: Path) -> None:
    res, _ = generate(tmp_path, "broken", b"network:\n  version: 2\n  vlans:\n    vlan9:\n      id: 9\n      link: nope\n")
    assert res.returncode != 0 and "nope" in res.stderr


def test_duplicate_addresses_are_rejected_by_camkit() -> None:
    docs = {
        "a": {"network": {"vlans": {"vlan20": {"addresses": ["10.0.0.5/24"]}}}},
        "b": {"network": {"vlans": {"vlan20": {"addresses": ["10.0.0.5/24"]}}}},
    }
    with pytest.raises(InventoryError, match="address 10.0.0.5 is also configured on a:vlan20"):
        check_addresses(docs)
    docs["b"]["network"]["vlans"]["vlan20"]["addresses"] = ["10.0.0.6/23"]
    with pytest.raises(InventoryError, match="subnet 10.0.0.0/24 overlaps 10.0.0.0/23"):
        check_addresses(docs)


def test_gateway_needs_an_uplink_nic(inventory: Path) -> None:
    edit(inventory / "profiles" / "district_oc.yml", "{name: gw1, roles: [gateway], nics: [eno1, eno2]}",
         "{name: gw1, roles: [gateway]}")
    with pytest.raises(InventoryError, match="a gateway needs its site NIC"):
        pipeline.load(inventory)
