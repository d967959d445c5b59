"""What `camkit verify --kubeconfig F` expects of the site's Kubernetes side, read back through the API by the
suite (suite.py) with the `kubernetes` client.

The expectations are the objects the site's charts render with its values (`helm template`, release name = chart,
as the stack installs them) and the namespaces the stack creates: every Deployment, StatefulSet and DaemonSet
ready at its replica count; every Service of its type and ports, a published one (MetalLB) answering at its
planned address; every NetworkPolicy with the rendered spec (the API's defaults aside); the Pod Security labels
on every camkit namespace; every StatefulSet claim bound with at least the size sizing gave it.
"""

from __future__ import annotations

from typing import Any

from camkit.k8s import NAMESPACES, OWNED_NAMESPACES, POD_SECURITY_LABELS
from camkit.k8s.check import site_values, template

WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet")
PUBLISHED_ADDRESS = "metallb.io/loadBalancerIPs"  # the annotation charts/vms sets to the planned address


class ClusterExpectationsUnavailable(RuntimeError):
    """A chart of the site did not render (helm missing or failing): nothing to compare the cluster with."""


def expectations(files: dict[str, bytes], site: str, kube_version: str, kubeconfig: str) -> dict[str, Any]:
    out: dict[str, Any] = {"kubeconfig": kubeconfig, "workloads": [], "services": [], "network_policies": [],
                           "namespaces": {}, "volumes": []}
    charts = list(site_values(files, [site]))
    for _, chart, values in charts:
        docs, err = template(chart, values, kube_version)
        if err:
            raise ClusterExpectationsUnavailable(f"helm template {chart} for {site}: {err[-500:]}")
        for d in docs:
            kind, md, spec = d.get("kind"), d.get("metadata") or {}, d.get("spec") or {}
            ns, name = md.get("namespace") or NAMESPACES[chart], md.get("name")
            if kind in WORKLOAD_KINDS:
                replicas = spec.get("replicas", 1) if kind != "DaemonSet" else None
                out["workloads"].append({"kind": kind, "namespace": ns, "name": name, "replicas": replicas})
                for vct in spec.get("volumeClaimTemplates") or []:
                    size = ((vct.get("spec") or {}).get("resources") or {}).get("requests", {}).get("storage")
                    for i in range(replicas or 0):
                        out["volumes"].append({"namespace": ns, "claim": f"{vct['metadata']['name']}-{name}-{i}",
                                               "storage": str(size), "workload": name})
            elif kind == "Service":
                out["services"].append({
                    "namespace": ns, "name": name, "type": spec.get("type", "ClusterIP"),
                    "ports": [{"port": p["port"], "protocol": p.get("protocol", "TCP")} for p in spec.get("ports", [])],
                    "address": (md.get("annotations") or {}).get(PUBLISHED_ADDRESS)})
            elif kind == "NetworkPolicy":
                out["network_policies"].append({"namespace": ns, "name": name, "spec": spec})
    used = sorted({NAMESPACES[c] for _, c, _ in charts} & set(OWNED_NAMESPACES))
    out["namespaces"] = {ns: dict(POD_SECURITY_LABELS) for ns in used}
    return out

