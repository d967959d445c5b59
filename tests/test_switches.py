"""Access switch configs: every camera port locked to its MAC, VLAN and address; the rest shut."""

from __future__ import annotations

import re

import pytest

from camkit import pipeline
from camkit.model import NetworkRole

from conftest import EXAMPLE


@pytest.fixture(scope="module")
def configs() -> dict[str, str]:
    inv = pipeline.load(EXAMPLE)
    result = pipeline.render(inv, pipeline.plan(inv), ["switches"])
    return {rel.split("/")[-1].removesuffix(".cfg"): art.content.decode() for rel, (_, art) in result.artifacts.items()}


def blocks(text: str, prefix: str) -> dict[int, str]:
    """Interface blocks by port number."""
    out = {}
    for m in re.finditer(rf"^interface {re.escape(prefix)}(\d+)\n(.*?)(?=^[!#])", text, re.S | re.M):
        out[int(m.group(1))] = m.group(2)
    return out


def test_one_config_per_switch_in_its_dialect(configs: dict[str, str]) -> None:
    assert set(configs) == {"ioc-sw1", "police-sw1", "hoan-kiem-sw1", "so-gtvt-sw1", "hang-trong-sw1", "hang-bac-sw1",
                            "trang-tien-sw1"}
    assert configs["police-sw1"].count("sysname police-sw1") == 1       # Huawei VRP
    assert "hostname so-gtvt-sw1" in configs["so-gtvt-sw1"] and "vlan access" in configs["so-gtvt-sw1"]  # Aruba-CX


def test_cisco_camera_ports(configs: dict[str, str]) -> None:
    inv = pipeline.load(EXAMPLE)
    plan = pipeline.plan(inv)
    text = configs["hang-trong-sw1"]
    ports = blocks(text, "GigabitEthernet1/0/")
    cams = {c.port: c for c in inv.cameras_by_site["hang-trong"]}
    for port, cam in cams.items():
        body = ports[port]
        mac = cam.mac.replace(":", "")
        assert f"switchport port-security mac-address {mac[:4]}.{mac[4:8]}.{mac[8:]}" in body
        assert "switchport access vlan 100" in body and "no shutdown" in body
        want = "dot1x" if cam.dot1x == "eap-tls" else "dot1x mab"
        assert f" authentication order {want}\n" in body, (cam.id, body)
        assert (" mab\n" in body) == (cam.dot1x == "mab")
        assert f"ip source binding {mac[:4]}.{mac[4:8]}.{mac[8:]} vlan 100 {plan.camera_ip(cam.id)} " \
               f"interface GigabitEthernet1/0/{port}" in text
    unused = [p for p in range(1, 25) if p not in cams and p not in (23, 24)]
    for p in unused:
        assert " shutdown" in ports[p] and "switchport access vlan 999" in ports[p] and "no shutdown" not in ports[p]
    for p in (23, 24):
        assert "switchport mode trunk" in ports[p] and "switchport trunk allowed vlan 10,100" in ports[p]


def test_radius_points_at_the_district_server_without_its_secret(configs: dict[str, str]) -> None:
    inv = pipeline.load(EXAMPLE)
    plan = pipeline.plan(inv)
    radius_ip = plan.assignments[(NetworkRole.servers, "hoan-kiem-radius1")].ip
    for name in ("hang-trong-sw1", "hang-bac-sw1", "trang-tien-sw1", "hoan-kiem-sw1"):
        assert radius_ip in configs[name]
    for text in configs.values():
        key_lines = [line for line in text.splitlines() if re.search(r"\bkey\b|shared-key", line)
                     and not line.startswith(("!", "#"))]
        assert key_lines, "no RADIUS key line"
        assert all("{{ camkit_switch_radius_secret }}" in line for line in key_lines), key_lines


def test_huawei_camera_ports(configs: dict[str, str]) -> None:
    text = configs["hang-bac-sw1"]
    ports = blocks(text, "GigabitEthernet0/0/")
    mac = pipeline.load(EXAMPLE).camera_index["hb-c01"].mac.replace(":", "")
    assert f"port-security mac-address sticky {mac[:4]}-{mac[4:8]}-{mac[8:]} vlan 100" in ports[1]
    assert "authentication-profile camkit_eaptls" in ports[1]      # hb-c01 is eap-tls
    assert "authentication-profile camkit_mab" in ports[2]         # hb-c02 is mab
    assert "user-bind static ip-address" in text and " shutdown" in ports[10]
    assert "port trunk allow-pass vlan 10 100" in ports[24]


def test_aruba_camera_ports(configs: dict[str, str]) -> None:
    text = configs["so-gtvt-sw1"]
    assert "aaa authentication port-access auth-precedence dot1x mac-auth" in text   # gt-c03 (mab)
    assert "port-access port-security mac-address 02:ca:04:00:00:" in text
    assert "vlan trunk allowed 10,100" in text
