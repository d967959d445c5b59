"""`camkit verify --kubeconfig`: the site's Kubernetes side through the API, with the real `kubernetes` client.

No API server runs here. The cluster is a stand-in on loopback that answers the client's GETs with RECORDED
responses: each object the site's charts render (helm template, as the stack installs them), as the API would
return it (the namespace filled in, `protocol: TCP` defaulted on ports, a status: replicas ready, a published
Service's MetalLB address, claims bound at their size) and the namespaces as the stack labels them. On that
cluster every Kubernetes check passes; each way a real cluster departs from the render fails its own check,
naming the object."""

from __future__ import annotations

import copy
import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator

import pytest

from camkit import pipeline
from camkit.k8s import NAMESPACES, OWNED_NAMESPACES, POD_SECURITY_LABELS
from camkit.k8s.check import site_values, template
from camkit.verify import render_hash, results

from conftest import EXAMPLE
from test_cameras import camkit

SITE = "hoan-kiem"
PLURAL = {"Deployment": ("apis/apps/v1", "deployments"), "StatefulSet": ("apis/apps/v1", "statefulsets"),
          "DaemonSet": ("apis/apps/v1", "daemonsets"), "Service": ("api/v1", "services"),
          "NetworkPolicy": ("apis/networking.k8s.io/v1", "networkpolicies")}


def _tcp(ports: list[dict[str, Any]] | None) -> None:
    for p in ports or []:
        p.setdefault("protocol", "TCP")  # what the API server defaults


def recorded_cluster() -> dict[str, dict[str, Any]]:
    """API path -> the object the API returns, for every object the site's charts render."""
    inv = pipeline.load(EXAMPLE)
    _, files = render_hash(inv, pipeline.plan(inv), SITE)
    objs: dict[str, dict[str, Any]] = {}
    for _, chart, values in site_values(files, [SITE]):
        docs, err = template(chart, values, inv.city.kubernetes.version)
        assert not err, err
        for d in docs:
            if d["kind"] not in PLURAL:
                continue
            d = copy.deepcopy(d)
            ns = d["metadata"].setdefault("namespace", NAMESPACES[chart])
            spec = d.setdefault("spec", {})
            if d["kind"] in ("Deployment", "StatefulSet"):
                n = spec.get("replicas", 1)
                d["status"] = {"replicas": n, "readyReplicas": n}
                for vct in spec.get("volumeClaimTemplates") or []:
                    for i in range(n):
                        claim = f"{vct['metadata']['name']}-{d['metadata']['name']}-{i}"
                        objs[f"/api/v1/namespaces/{ns}/persistentvolumeclaims/{claim}"] = {
                            "metadata": {"name": claim, "namespace": ns},
                            "spec": vct["spec"], "status": {"phase": "Bound", "capacity": {
                                "storage": vct["spec"]["resources"]["requests"]["storage"]}}}
            elif d["kind"] == "DaemonSet":
                d["status"] = {"desiredNumberScheduled": 3, "numberReady": 3}
            elif d["kind"] == "Service":
                _tcp(spec.get("ports"))
                ip = (d["metadata"].get("annotations") or {}).get("metallb.io/loadBalancerIPs")
                d["status"] = {"loadBalancer": {"ingress": [{"ip": ip}]}} if ip else {}
            elif d["kind"] == "NetworkPolicy":
                for rule in spec.get("ingress", []) + spec.get("egress", []):
                    _tcp(rule.get("ports"))
            group, plural = PLURAL[d["kind"]]
            objs[f"/{group}/namespaces/{ns}/{plural}/{d['metadata']['name']}"] = d
    for ns in OWNED_NAMESPACES:
        objs[f"/api/v1/namespaces/{ns}"] = {"metadata": {"name": ns, "labels": {
            **POD_SECURITY_LABELS, "app.kubernetes.io/part-of": "camkit", "camkit.io/site": SITE}}}
    return objs


class Cluster:
    """The recorded API on loopback: GET answers the recorded object or a 404 Status, as the API server does."""

    def __init__(self, objs: dict[str, dict[str, Any]]):
        self.objs, self.asked = objs, []
        cluster = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                path = self.path.split("?", 1)[0]
                cluster.asked.append(path)
                obj = cluster.objs.get(path)
                body = json.dumps(obj if obj is not None else {
                    "kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404,
                    "message": f"{path} not found"}).encode()
                self.send_response(200 if obj is not None else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def kubeconfig(self, path: Path) -> Path:
        port = self.server.server_address[1]
        path.write_text(json.dumps({
            "apiVersion": "v1", "kind": "Config", "current-context": "recorded",
            "clusters": [{"name": "recorded", "cluster": {"server": f"http://127.0.0.1:{port}"}}],
            "users": [{"name": "recorded", "user": {"token": "recorded-responses"}}],
            "contexts": [{"name": "recorded", "context": {"cluster": "recorded", "user": "recorded"}}]}))
        return path

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    c = Cluster(recorded_cluster())
    try:
        yield c
    finally:
        c.stop()


def verify(cluster: Cluster, tmp: Path) -> dict[str, dict[str, str]]:
    ssh = tmp / "ssh_config"  # the hosts half is not under test here: every host sent to a closed port on loopback
    ssh.write_text("Host *\n  HostName 127.0.0.1\n  Port 9\n  ConnectTimeout 3\n  BatchMode yes\n")
    out = tmp / "verify"
    res = camkit("verify", str(EXAMPLE), "--site", SITE, "--ssh-config", str(ssh), "--kubeconfig",
                 str(cluster.kubeconfig(tmp / "kubeconfig")), "--out", str(out), env=dict(os.environ))
    assert res.returncode == 1, res.stdout + res.stderr  # the hosts' checks fail
    return {r["test"]: r for r in results(out / "junit.xml") if r["test"].startswith("test_kubernetes_")}


def test_a_cluster_as_rendered_passes_every_kubernetes_check(cluster: Cluster, tmp_path: Path) -> None:
    rows = verify(cluster, tmp_path)
    kinds = {name.split("[")[0] for name in rows}
    assert kinds == {"test_kubernetes_workload_ready", "test_kubernetes_service_as_planned",
                     "test_kubernetes_network_policy_as_rendered", "test_kubernetes_namespace_pod_security",
                     "test_kubernetes_volume_as_sized"}
    failed = {k: v["detail"][:300] for k, v in rows.items() if v["status"] != "pass"}
    assert not failed, failed
    published = [p for p, o in cluster.objs.items() if "/services/" in p and o.get("status")]
    assert published, "the district publishes its VMS (MetalLB)"
    policies = [p for p in cluster.objs if "/networkpolicies/" in p]
    assert set(policies) <= set(cluster.asked)  # each rendered policy was read from the API
    assert sum(r.startswith("test_kubernetes_network_policy_as_rendered[") for r in rows) == len(policies)


def test_each_departure_from_the_render_fails_its_check(cluster: Cluster, tmp_path: Path) -> None:
    objs = cluster.objs
    sts = next(p for p in objs if "/statefulsets/" in p)
    objs[sts]["status"]["readyReplicas"] = 0
    svc = next(p for p, o in objs.items() if "/services/" in p and o.get("status"))
    planned = objs[svc]["status"]["loadBalancer"]["ingress"][0]["ip"]
    objs[svc]["status"]["loadBalancer"]["ingress"] = [{"ip": "192.0.2.99"}]
    policies = sorted(p for p in objs if "/networkpolicies/" in p)
    gone, opened = policies[0], policies[1]
    del objs[gone]
    objs[opened]["spec"]["ingress"] = [{}]  # someone allowed everything in
    objs["/api/v1/namespaces/camkit-iva"]["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] = "privileged"
    pvc = next(p for p in objs if "/persistentvolumeclaims/" in p)
    objs[pvc]["status"]["capacity"]["storage"] = "1Gi"

    rows = verify(cluster, tmp_path)
    bad = {k: v["detail"] for k, v in rows.items() if v["status"] != "pass"}

    def one(prefix: str, path: str) -> str:
        ns, name = path.split("/namespaces/")[1].split("/")[0], path.rsplit("/", 1)[1]
        hits = [d for k, d in bad.items() if k.startswith(prefix) and f"{ns}/" in k and k.endswith(f"{name}]")]
        assert len(hits) == 1, (prefix, path, sorted(bad))
        return hits[0]

    n = objs[sts]["spec"].get("replicas", 1)
    assert f"0 of {n} replicas ready" in one("test_kubernetes_workload_ready", sts)
    assert f"published at ['192.0.2.99'], planned {planned}" in one("test_kubernetes_service_as_planned", svc)
    assert "404" in one("test_kubernetes_network_policy_as_rendered", gone)
    assert "differs from the rendered one" in one("test_kubernetes_network_policy_as_rendered", opened)
    assert "'pod-security.kubernetes.io/enforce': 'privileged'" in bad["test_kubernetes_namespace_pod_security[camkit-iva]"]
    assert "1Gi, sized" in one("test_kubernetes_volume_as_sized", pvc)
    assert len(bad) == 6, sorted(bad)  # nothing else fails
