"""What a chart's NetworkPolicies let through, evaluated from the `networkPolicy` rules of its values.

Every chart renders `.Values.networkPolicy.ingress/egress` one rule to one NetworkPolicy object (`camkit.networkPolicies`
in charts/camkit-lib): pods `app.kubernetes.io/component: <component>` of the release, one `from`/`to` entry with the
rule's peers and ports, beside a default deny (ingress and egress) and DNS egress. Kubernetes admits a connection when
any policy selecting the pod has a rule whose peers and ports both match (`tests/test_charts.py` proves that rendering
on every site of the example, with `helm template`). Evaluating the values keeps `camkit access check` within its
budget for a city (a `helm template` per chart per site does not).
"""

from __future__ import annotations

import bisect
import ipaddress
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from camkit.k8s import NAMESPACES


@dataclass(frozen=True)
class Peer:
    """One peer of a rule: an address block, or pods by namespace (and component or labels)."""

    first: int = -1  # address block as integers (first, last); -1 when the peer selects pods
    last: int = -1
    namespace: str = ""
    labels: tuple[tuple[str, str], ...] = ()

    def admits_pod(self, namespace: str, labels: Mapping[str, str]) -> bool:
        return self.first < 0 and self.namespace == namespace and all(labels.get(k) == v for k, v in self.labels)


def _peer(raw: Mapping[str, Any]) -> Peer:
    if raw.get("cidr"):
        net = ipaddress.ip_network(raw["cidr"], strict=False)
        return Peer(int(net.network_address), int(net.broadcast_address))
    labels: dict[str, str] = {}
    if raw.get("component"):
        labels["app.kubernetes.io/component"] = raw["component"]
    labels.update(raw.get("pods") or {})
    return Peer(namespace=raw.get("namespace", ""), labels=tuple(sorted(labels.items())))


@dataclass(frozen=True)
class Rule:
    direction: str  # ingress | egress
    component: str  # the pods of the release it selects
    name: str
    peers: tuple[Peer, ...]
    ports: frozenset[tuple[str, int]]  # (protocol, port)


class Policies:
    """The NetworkPolicies of one chart release at one site."""

    def __init__(self, chart: str, values: Mapping[str, Any]):
        self.chart, self.namespace = chart, NAMESPACES[chart]
        pol = values.get("networkPolicy") or {}
        self.rules = [Rule(d, r["component"], r.get("name", ""), tuple(_peer(p) for p in r.get("peers", [])),
                           frozenset((p.get("protocol", "TCP"), int(p["port"])) for p in r.get("ports", [])))
                      for d in ("ingress", "egress") for r in pol.get(d, [])]
        self._cache: dict[tuple[str, str, int, str], list[tuple[int, int]]] = {}

    def _rules(self, direction: str, component: str, port: int, proto: str) -> Iterable[Rule]:
        return (r for r in self.rules
                if r.direction == direction and r.component == component and (proto, port) in r.ports)

    def _blocks(self, direction: str, component: str, port: int, proto: str) -> list[tuple[int, int]]:
        """The address blocks the matching rules admit, sorted and joined (asked once per camera of a city)."""
        key = (direction, component, port, proto)
        if key not in self._cache:
            merged: list[tuple[int, int]] = []
            for a, b in sorted((p.first, p.last) for r in self._rules(direction, component, port, proto)
                               for p in r.peers if p.first >= 0):
                if merged and a <= merged[-1][1] + 1:
                    merged[-1] = (merged[-1][0], max(merged[-1][1], b))
                else:
                    merged.append((a, b))
            self._cache[key] = merged
        return self._cache[key]

    def _admits(self, direction: str, component: str, ip: int, port: int, proto: str) -> bool:
        blocks = self._blocks(direction, component, port, proto)
        i = bisect.bisect_right(blocks, (ip, 2**32)) - 1
        return i >= 0 and blocks[i][1] >= ip

    def egress_to_address(self, component: str, ip: int, port: int, proto: str = "TCP") -> bool:
        return self._admits("egress", component, ip, port, proto)

    def ingress_from_address(self, component: str, ip: int, port: int, proto: str = "TCP") -> bool:
        return self._admits("ingress", component, ip, port, proto)

    def egress_to_pods(self, component: str, namespace: str, labels: Mapping[str, str], port: int,
                       proto: str = "TCP") -> bool:
        return any(p.admits_pod(namespace, labels) for r in self._rules("egress", component, port, proto)
                   for p in r.peers)

    def ingress_from_pods(self, component: str, namespace: str, labels: Mapping[str, str], port: int,
                          proto: str = "TCP") -> bool:
        return any(p.admits_pod(namespace, labels) for r in self._rules("ingress", component, port, proto)
                   for p in r.peers)


def component_labels(component: str) -> dict[str, str]:
    return {"app.kubernetes.io/component": component}
