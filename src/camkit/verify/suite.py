"""The site verification suite (pytest + testinfra), driven by `expectations.json` next to it.

`camkit verify` writes the expectations from the model and the render, copies this file beside them
and runs pytest on the pair; the folder can be re-run later with plain `pytest` to re-check a site.
Every test is parametrised by host; a failure message names what differs (a finding).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import testinfra

EXPECT: dict[str, Any] = json.loads((Path(__file__).parent / "expectations.json").read_text())
HOSTS: dict[str, dict[str, Any]] = EXPECT["hosts"]
_conn: dict[str, Any] = {}


def host_of(name: str) -> Any:
    if name not in _conn:
        _conn[name] = testinfra.get_host(HOSTS[name]["target"])
    return _conn[name]


def by_host(key: str) -> list[str]:
    """Hosts that have this kind of check; a check no host has is not generated at all."""
    return [h for h, e in HOSTS.items() if e.get(key) is not None]


def _sockets(text: str) -> set[str]:
    out = set()
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 5:
            out.add(f"{parts[0]} {parts[4]}")
    return out


@pytest.mark.parametrize("name", by_host("sockets"))
def test_listening_sockets(name: str) -> None:
    """Exactly the expected listening sockets: anything else is a finding."""
    res = host_of(name).run("ss -H -tuln")
    assert res.rc == 0, res.stderr
    seen, want = _sockets(res.stdout), set(HOSTS[name]["sockets"])
    # "udp 0.0.0.0:*" stands for one socket on a port the daemon picks (a WireGuard spoke)
    for pattern in [w for w in want if w.endswith(":*")]:
        match = sorted(x for x in seen if x.startswith(pattern[:-1]))
        want.discard(pattern)
        if match:
            want.add(match[0])
    extra, missing = sorted(seen - want), sorted(want - seen)
    assert not extra and not missing, f"unexpected listening sockets: {extra}; expected but absent: {missing}"


@pytest.mark.parametrize("name", by_host("services"))
def test_services_running_and_enabled(name: str) -> None:
    h = host_of(name)
    bad = [f"{s} ({'not running' if not h.service(s).is_running else 'not enabled'})"
           for s in HOSTS[name]["services"] if not (h.service(s).is_running and h.service(s).is_enabled)]
    assert not bad, f"services not running and enabled: {bad}"


def _nft_norm(text: str) -> list[str]:
    return [re.sub(r"\s+", " ", line).strip() for line in text.splitlines() if line.strip()]


@pytest.mark.parametrize("name", by_host("nftables"))
def test_nftables_ruleset_is_the_generated_one(name: str) -> None:
    res = host_of(name).run("nft -s list table inet camkit")
    assert res.rc == 0, f"table inet camkit is not loaded: {res.stderr.strip()}"
    loaded, want = _nft_norm(res.stdout), _nft_norm(HOSTS[name]["nftables"])
    if loaded != want:
        import difflib

        diff = "\n".join(difflib.unified_diff(want, loaded, "generated", "loaded", lineterm="", n=1))
        pytest.fail(f"the loaded ruleset differs from the generated one:\n{diff}")


@pytest.mark.parametrize("name", by_host("addresses"))
def test_planned_addresses_are_up(name: str) -> None:
    res = host_of(name).run("ip -j addr show")
    assert res.rc == 0, res.stderr
    have = {f"{a['local']}/{a['prefixlen']}" for link in json.loads(res.stdout) if link.get("operstate") != "DOWN"
            for a in link.get("addr_info", [])}
    missing = sorted(set(HOSTS[name]["addresses"]) - have)
    assert not missing, f"planned addresses not up: {missing}"


@pytest.mark.parametrize("name", by_host("sshd"))
def test_sshd_effective_settings(name: str) -> None:
    res = host_of(name).run("sshd -T -C user=camkit-verify,host=verify,addr=127.0.0.1")
    assert res.rc == 0, res.stderr
    eff = dict(line.split(" ", 1) for line in res.stdout.splitlines() if " " in line)
    spec = HOSTS[name]["sshd"]
    bad = [f"{k} = {eff.get(k)!r}, expected {v!r}" for k, v in spec["equal"].items() if eff.get(k) != v]
    bad += [f"{k} = {eff.get(k)!r}, expected at most {v}" for k, v in spec["at_most"].items()
            if int(eff.get(k, "999")) > v]
    for k, words in spec["forbidden"].items():
        bad += [f"{k} allows {w}" for w in eff.get(k, "").split(",") if any(f in w for f in words)]
    assert not bad, "sshd effective settings: " + "; ".join(bad)


@pytest.mark.parametrize("name", by_host("ntp"))
def test_time_sync_configured(name: str) -> None:
    h = host_of(name)
    want = HOSTS[name]["ntp"]
    assert h.service("chrony").is_running, "chrony is not running"
    conf = h.file("/etc/chrony/chrony.conf").content_string
    servers = [line.split()[1] for line in conf.splitlines() if line.startswith(("server ", "pool "))]
    assert servers == want["servers"], f"chrony servers {servers}, expected {want['servers']}"
    res = h.run("chronyc -n sources")
    assert res.rc == 0, res.stderr
    absent = [s for s in want["servers"] if s not in res.stdout]
    assert not absent, f"chronyd does not use {absent}"
    tz = h.file("/etc/localtime").linked_to
    assert tz.endswith(want["timezone"]), f"time zone {tz}, expected {want['timezone']}"


if by_host("wireguard"):  # only sites with a tunnel endpoint get this check

    @pytest.mark.parametrize("name", by_host("wireguard"))
    def test_wireguard_tunnel_configured(name: str) -> None:
        h, wg = host_of(name), HOSTS[name]["wireguard"]
        iface = wg["interface"]
        res = h.run(f"wg show {iface} peers")
        assert res.rc == 0, f"no WireGuard interface {iface}: {res.stderr.strip()}"
        peers = sorted(res.stdout.split())
        if wg["peer_keys"] is not None:
            assert peers == wg["peer_keys"], f"peers {peers}, expected the keys of {wg['peers']}"
        else:
            assert len(peers) == len(wg["peers"]), f"{len(peers)} peers, expected {len(wg['peers'])}"
        if wg["listen_port"]:
            port = h.run(f"wg show {iface} listen-port").stdout.strip()
            assert port == wg["listen_port"], f"listen port {port}, expected {wg['listen_port']}"
        addrs = h.run(f"ip -br addr show {iface}").stdout
        missing = [a for a in wg["addresses"] if a not in addrs]
        assert not missing, f"tunnel addresses not up: {missing}"


def _mab(name: str, mac: str) -> tuple[int, str]:
    r = HOSTS[name]["radius"]
    plain = mac.replace(":", "").lower()
    station = "-".join(plain[i:i + 2] for i in range(0, 12, 2)).upper()
    attrs = (f'User-Name = "{plain}", User-Password = "{plain}", Service-Type = Call-Check, '
             f'Calling-Station-Id = "{station}", NAS-IP-Address = {r["nas_ip"]}, NAS-Port-Type = Ethernet, '
             f"Message-Authenticator = 0x00")
    res = testinfra.get_host(r["probe"]).run(
        f"echo '{attrs}' | radclient -x -r 1 -t 3 -S {r['secret_file']} {r['server']}:1812 auth")
    return res.rc, res.stdout


if by_host("radius"):  # only sites with a RADIUS server get these checks

    @pytest.mark.parametrize("name", by_host("radius"))
    def test_radius_accepts_the_inventory_macs(name: str) -> None:
        bad = []
        for mac, vlan in HOSTS[name]["radius"]["accept"].items():
            rc, out = _mab(name, mac)
            if rc != 0 or "Access-Accept" not in out:
                bad.append(f"{mac}: not accepted")
            elif f'Tunnel-Private-Group-Id:0 = "{vlan}"' not in out and f'Tunnel-Private-Group-Id = "{vlan}"' not in out:
                bad.append(f"{mac}: accepted without VLAN {vlan}")
        assert not bad, "; ".join(bad)


    @pytest.mark.parametrize("name", by_host("radius"))
    def test_radius_refuses_an_unknown_mac(name: str) -> None:
        r = HOSTS[name]["radius"]
        rc, out = _mab(name, r["unknown"])
        if r.get("quarantine_vlan") is None:
            assert "Access-Reject" in out, f"unknown MAC {r['unknown']} was not rejected (exit {rc})"
        else:
            assert "Access-Accept" in out and str(r["quarantine_vlan"]) in out, \
                f"unknown MAC {r['unknown']} did not land in quarantine VLAN {r['quarantine_vlan']}"


# --- the site's Kubernetes side, through the API (`camkit verify --kubeconfig F`) ---------------------------

KUBE: dict[str, Any] | None = EXPECT.get("kubernetes")
_api: list[Any] = []


def kube(kind: str) -> Any:
    """The kubernetes client's API object of that kind, on the kubeconfig's cluster (one connection)."""
    from kubernetes import client, config

    if not _api:
        _api.append(config.new_client_from_config(config_file=KUBE["kubeconfig"]))  # type: ignore[index]
    return {"core": client.CoreV1Api, "apps": client.AppsV1Api, "net": client.NetworkingV1Api}[kind](_api[0])


def read(kind: str, method: str, *args: str) -> dict[str, Any]:
    """One object as the API returns it (camelCase, like the manifest); a missing object fails the check."""
    from kubernetes.client.rest import ApiException

    api = kube(kind)
    try:
        obj = getattr(api, method)(*args)
    except ApiException as exc:
        pytest.fail(f"{'/'.join(reversed(args))}: the API answered {exc.status} {exc.reason}", pytrace=False)
    return dict(api.api_client.sanitize_for_serialization(obj))


def policy_spec(spec: dict[str, Any] | None, types: bool = True) -> dict[str, Any]:
    """A NetworkPolicy spec with the API server's defaults applied (`protocol: TCP` on ports; no rule list is
    an empty one), so a rendered spec and the cluster's compare equal only when they allow the same traffic.
    `types=False` leaves policyTypes out (the API fills it in when the manifest has none)."""
    spec = json.loads(json.dumps(spec or {}))
    for direction in ("ingress", "egress"):
        spec[direction] = spec.get(direction) or []
        for rule in spec[direction]:
            for port in rule.get("ports") or []:
                port.setdefault("protocol", "TCP")
    spec["podSelector"] = spec.get("podSelector") or {}
    if not types:
        spec.pop("policyTypes", None)
    return {k: v for k, v in spec.items() if k in ("podSelector", "policyTypes", "ingress", "egress")}


def _id(o: dict[str, Any]) -> str:
    return f"{o['namespace']}/{o.get('kind', '')}{'/' if o.get('kind') else ''}{o.get('name') or o.get('claim')}"


if KUBE:
    READ = {"Deployment": "read_namespaced_deployment", "StatefulSet": "read_namespaced_stateful_set",
            "DaemonSet": "read_namespaced_daemon_set"}

    @pytest.mark.parametrize("w", KUBE["workloads"], ids=_id)
    def test_kubernetes_workload_ready(w: dict[str, Any]) -> None:
        got = read("apps", READ[w["kind"]], w["name"], w["namespace"])
        status = got.get("status") or {}
        if w["kind"] == "DaemonSet":
            want, ready = status.get("desiredNumberScheduled") or 0, status.get("numberReady") or 0
            assert want > 0 and ready == want, f"{_id(w)}: {ready} of {want} pods ready"
        else:
            replicas = (got.get("spec") or {}).get("replicas")
            assert replicas == w["replicas"], f"{_id(w)}: {replicas} replicas, the chart renders {w['replicas']}"
            ready = status.get("readyReplicas") or 0
            assert ready == replicas, f"{_id(w)}: {ready} of {replicas} replicas ready"

    @pytest.mark.parametrize("s", KUBE["services"], ids=_id)
    def test_kubernetes_service_as_planned(s: dict[str, Any]) -> None:
        got = read("core", "read_namespaced_service", s["name"], s["namespace"])
        spec = got.get("spec") or {}
        assert spec.get("type", "ClusterIP") == s["type"], f"{_id(s)}: type {spec.get('type')}, rendered {s['type']}"
        ports = sorted((p["port"], p.get("protocol", "TCP")) for p in spec.get("ports") or [])
        want = sorted((p["port"], p["protocol"]) for p in s["ports"])
        assert ports == want, f"{_id(s)}: ports {ports}, rendered {want}"
        if s["address"]:
            ingress = [i.get("ip") for i in ((got.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []]
            assert s["address"] in ingress, f"{_id(s)}: published at {ingress or 'no address'}, planned {s['address']}"

    @pytest.mark.parametrize("p", KUBE["network_policies"], ids=_id)
    def test_kubernetes_network_policy_as_rendered(p: dict[str, Any]) -> None:
        got = read("net", "read_namespaced_network_policy", p["name"], p["namespace"])
        types = "policyTypes" in p["spec"]
        assert policy_spec(got.get("spec"), types) == policy_spec(p["spec"], types), \
            f"{_id(p)}: the cluster's spec differs from the rendered one: {json.dumps(got.get('spec'))[:1500]}"

    @pytest.mark.parametrize("ns", sorted(KUBE["namespaces"]))
    def test_kubernetes_namespace_pod_security(ns: str) -> None:
        labels = (read("core", "read_namespace", ns).get("metadata") or {}).get("labels") or {}
        wrong = {k: labels.get(k) for k, v in KUBE["namespaces"][ns].items() if labels.get(k) != v}
        assert not wrong, f"{ns}: Pod Security labels {wrong}, expected {KUBE['namespaces'][ns]}"

    @pytest.mark.parametrize("v", KUBE["volumes"], ids=_id)
    def test_kubernetes_volume_as_sized(v: dict[str, Any]) -> None:
        from kubernetes.utils import parse_quantity

        got = read("core", "read_namespaced_persistent_volume_claim", v["claim"], v["namespace"])
        status = got.get("status") or {}
        assert status.get("phase") == "Bound", f"{_id(v)}: {status.get('phase') or 'no phase'}, not Bound"
        have = (status.get("capacity") or {}).get("storage")
        assert have and parse_quantity(have) >= parse_quantity(v["storage"]), \
            f"{_id(v)}: {have or 'no capacity'}, sized {v['storage']}"
