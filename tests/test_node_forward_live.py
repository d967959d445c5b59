"""A Kubernetes worker's forward chain, live (issue 12, part 3): traffic that a Service publishes is DNAT'd to a pod
and crosses the node's forward hook, so the node firewall must filter it by the flow matrix's sources — the old
blanket accept to the pod range let any address reach any DNAT'd pod port.

Real programs, emulated topology: the generated ruleset of a worker is loaded with the real `nft` in a network
namespace ("node"); kube-proxy's part is a nat table that DNATs every published address and port of the rendered
LoadBalancer Services (`helm template` of the site's VMS chart; the ingress address from the rendered RKE2
HelmChartConfig) to a "pod" namespace behind a `cali*` veth; a "client" namespace holds one source address of every
flow the matrix publishes to the site, and one address the matrix never names. MetalLB's layer-2 announcement is
replaced by a route to the node (no MetalLB runs here).
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml
from netaddr import IPAddress, IPNetwork

from camkit import pipeline
from camkit.k8s import check as k8s
from camkit.access import AccessModel
from camkit.flows import FlowMatrix
from camkit.model import NetworkRole

from conftest import EXAMPLE
from test_charts import KUBE

SITE, NODE = "hoan-kiem", "hoan-kiem-node3"
POD_PORT_EXTRA = 8554  # a pod port reached through a DNAT the flow matrix does not know (hostPort, NodePort, ...)
LINK_NODE, LINK_CLIENT = "198.18.0.1", "198.18.0.2"  # the client-node link (benchmark range, inside the namespaces)


def sh(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True, check=check, timeout=30)


def ports_of(spec: str) -> list[int]:
    out: list[int] = []
    for part in spec.split(","):
        lo, _, hi = part.partition("-")
        out += list(range(int(lo), int(hi or lo) + 1))
    return out


def one_address(cidr: str) -> str:
    net = IPNetwork(cidr)
    return str(net.ip if net.size == 1 else IPAddress(net.first + 5))


def published(inv: Any, plan: Any) -> list[tuple[str, int, int]]:
    """(published address, port, pod port) of every Service the site's charts publish, from `helm template`."""
    values = next(v for sid, chart, v in k8s.site_values(
        {p: a.content for p, (_, a) in pipeline.render(inv, plan, ["helm"], SITE).artifacts.items()}, [SITE])
        if chart == "vms")
    docs, err = k8s.template("vms", {**values, **k8s.deploy_placeholders(values)}, KUBE)
    assert not err, err
    named = {p["name"]: p["containerPort"] for d in docs if d["kind"] == "StatefulSet"
             for c in d["spec"]["template"]["spec"]["containers"] for p in c.get("ports", [])}
    out = []
    for d in docs:
        if d["kind"] == "Service" and d["spec"].get("type") == "LoadBalancer":
            ip = d["metadata"]["annotations"]["metallb.io/loadBalancerIPs"]
            for p in d["spec"]["ports"]:
                target = p.get("targetPort", p["port"])
                out.append((ip, p["port"], named[target] if isinstance(target, str) else target))
        if d["kind"] == "HelmChartConfig":  # RKE2's ingress-nginx: https and http of the controller pod
            svc = yaml.safe_load(d["spec"]["valuesContent"])["controller"]["service"]
            ip = svc["annotations"]["metallb.io/loadBalancerIPs"]
            out += [(ip, 443, 443), (ip, 80, 80)]
    assert out, "the site publishes nothing"
    return sorted(set(out))


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    inv = pipeline.load(EXAMPLE)
    plan = pipeline.plan(inv)
    matrix = FlowMatrix(inv, plan, AccessModel(inv))
    ruleset = pipeline.render(inv, plan, ["nftables"], SITE).artifacts[f"sites/{SITE}/nftables/{NODE}.nft"][1].content
    services = published(inv, plan)
    flows = [f for g in ("vms", "ingress") for f in matrix.into(SITE, g) if f.proto == "tcp"]
    assert flows, "the matrix publishes nothing to the site"
    allowed = sorted({(one_address(src), dst.split("/")[0], port) for f in flows for src in f.src.addresses
                      for dst in f.dst.addresses for port in ports_of(f.ports)})
    sources = {s for s, _, _ in allowed}
    # an address of the site's own management network: it administers the nodes (input), never a published flow
    stranger = one_address(str(plan.subnets[(SITE, NetworkRole.management)].cidr))
    assert all(IPAddress(stranger) not in IPNetwork(src) for f in flows for src in f.src.addresses)
    pod_net = IPNetwork(inv.city.kubernetes.pod_cidr)
    pod_ip, cali_ip = str(IPAddress(pod_net.first + 5)), str(IPAddress(pod_net.first + 1))

    tag = uuid.uuid4().hex[:6]
    ns = {k: f"camkit-{k}-{tag}" for k in ("node", "pod", "client")}
    tmp = tmp_path_factory.mktemp("node")
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for n in ns.values():
            sh("ip", "netns", "add", n)
            sh("ip", "-n", n, "link", "set", "lo", "up")
        sh("ip", "link", "add", f"cali{tag}", "netns", ns["node"], "type", "veth", "peer", "name", "eth0",
           "netns", ns["pod"])
        sh("ip", "link", "add", f"eth{tag}", "netns", ns["node"], "type", "veth", "peer", "name", "eth0",
           "netns", ns["client"])
        sh("ip", "-n", ns["node"], "addr", "add", f"{cali_ip}/24", "dev", f"cali{tag}")
        sh("ip", "-n", ns["pod"], "addr", "add", f"{pod_ip}/24", "dev", "eth0")
        sh("ip", "-n", ns["node"], "addr", "add", f"{LINK_NODE}/30", "dev", f"eth{tag}")
        sh("ip", "-n", ns["client"], "addr", "add", f"{LINK_CLIENT}/30", "dev", "eth0")
        for n, dev in ((ns["node"], f"cali{tag}"), (ns["node"], f"eth{tag}"), (ns["pod"], "eth0"), (ns["client"], "eth0")):
            sh("ip", "-n", n, "link", "set", dev, "up")
        sh("ip", "-n", ns["pod"], "route", "add", "default", "via", cali_ip)
        sh("ip", "-n", ns["client"], "route", "add", "default", "via", LINK_NODE)
        for src in sorted(sources | {stranger}):
            sh("ip", "-n", ns["client"], "addr", "add", f"{src}/32", "dev", "eth0")
            sh("ip", "-n", ns["node"], "route", "add", f"{src}/32", "via", LINK_CLIENT)
        sh("ip", "netns", "exec", ns["node"], "sysctl", "-qw", "net.ipv4.ip_forward=1")
        (tmp / "node.nft").write_bytes(ruleset)
        sh("ip", "netns", "exec", ns["node"], "nft", "-f", str(tmp / "node.nft"))
        # kube-proxy: every published address and port to its pod port, and one DNAT outside the matrix
        dnat = [f"ip daddr {ip} tcp dport {port} dnat to {pod_ip}:{target}" for ip, port, target in services]
        dnat += [f"ip daddr {ip} tcp dport {POD_PORT_EXTRA} dnat to {pod_ip}:{POD_PORT_EXTRA}"
                 for ip in sorted({ip for ip, _, _ in services})]
        (tmp / "kube-proxy.nft").write_text("table ip kubeproxy {\n\tchain prerouting {\n"
                                            "\t\ttype nat hook prerouting priority dstnat; policy accept;\n"
                                            + "".join(f"\t\t{r}\n" for r in dnat) + "\t}\n}\n")
        sh("ip", "netns", "exec", ns["node"], "nft", "-f", str(tmp / "kube-proxy.nft"))
        for port in sorted({t for _, _, t in services} | {POD_PORT_EXTRA}):
            p = subprocess.Popen(["ip", "netns", "exec", ns["pod"], sys.executable, "-m", "camkit.probes.tcp",
                                  "listen", pod_ip, str(port), "120"], stdout=subprocess.PIPE)
            procs.append(p)
            assert p.stdout is not None and p.stdout.readline().strip() == b"listening"
        yield {"ns": ns, "allowed": allowed, "services": services, "stranger": stranger, "tmp": tmp,
               "ruleset": ruleset.decode(), "pod_net": str(pod_net)}
    finally:
        for p in procs:
            p.kill()
            p.wait()
        for n in ns.values():
            subprocess.run(["ip", "netns", "delete", n], check=False)


def connect(node: dict[str, Any], src: str, ip: str, port: int) -> str:
    return sh("ip", "netns", "exec", node["ns"]["client"], sys.executable, "-m", "camkit.probes.tcp", "connect", ip,
              str(port), src).stdout.strip()


def test_every_published_flow_of_the_matrix_reaches_its_pod(node: dict[str, Any]) -> None:
    published = {(ip, port) for ip, port, _ in node["services"]}
    reached = [(src, ip, port) for src, ip, port in node["allowed"] if (ip, port) in published]
    assert reached, "no matrix flow targets a published Service port"
    failed = [(src, ip, port, r) for src, ip, port in reached if (r := connect(node, src, ip, port)) != "ok"]
    assert not failed, f"matrix flows refused by the node: {failed}"


def test_an_address_outside_the_matrix_reaches_no_pod(node: dict[str, Any]) -> None:
    got = {(ip, port): connect(node, node["stranger"], ip, port) for ip, port, _ in node["services"]}
    assert all(r.startswith("fail:") for r in got.values()), got
    drops = sh("ip", "netns", "exec", node["ns"]["node"], "nft", "list", "chain", "inet", "camkit", "forward").stdout
    counter = [line for line in drops.splitlines() if line.strip().startswith("counter packets") and "drop" in line]
    assert counter and int(counter[-1].split()[2]) > 0, drops


def test_a_dnat_outside_the_matrix_is_dropped_even_for_an_allowed_source(node: dict[str, Any]) -> None:
    src, ip, _ = node["allowed"][0]
    assert connect(node, src, ip, POD_PORT_EXTRA).startswith("fail:")


def test_the_old_blanket_accept_to_the_pod_range_would_let_the_stranger_in(node: dict[str, Any]) -> None:
    """The control: with the rule camkit used to render (accept anything to the pod range), the same stranger
    reaches the pod, so the tests above can fail."""
    ns, tmp = node["ns"]["node"], node["tmp"]
    old = node["ruleset"].replace("\t\tct state invalid drop\n\t\tiifname",
                                  f"\t\tct state invalid drop\n\t\tip daddr {node['pod_net']} accept\n\t\tiifname", 1)
    assert old != node["ruleset"]
    (tmp / "old.nft").write_text(old)
    sh("ip", "netns", "exec", ns, "nft", "-f", str(tmp / "old.nft"))
    try:
        ip, port, _ = node["services"][0]
        assert connect(node, node["stranger"], ip, port) == "ok"
    finally:
        sh("ip", "netns", "exec", ns, "nft", "-f", str(tmp / "node.nft"))
