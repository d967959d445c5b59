"""Checks of the charts with a site's generated values: `helm lint`, `helm template`, kubernetes-validate
(--strict, the city's Kubernetes version) and camkit's policy on every rendered object.

The policy (issue 5): Pod Security "restricted" (non-root, RuntimeDefault seccomp, no privilege escalation,
drop ALL, no host namespaces or hostPath), a read-only root file system unless the pod says why not
(annotation `camkit.io/writable-root`), pinned images (a tag, never `latest`), CPU and memory requests and
limits, a default-deny NetworkPolicy in every namespace that runs pods, and a PodDisruptionBudget plus
pod anti-affinity for every replicated workload.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import kubernetes_validate
import yaml

from camkit.k8s import NAMESPACES
from camkit.k8s.helm import ensure_helm

CHARTS = Path(os.environ.get("CAMKIT_CHARTS") or Path(__file__).resolve().parents[3] / "charts")
WORKLOADS = {"Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob", "Pod", "ReplicaSet"}
PLACEHOLDER = "from-the-vault-at-deploy-time"


@dataclass
class Report:
    chart: str
    site: str
    objects: int = 0
    schema_checked: int = 0
    crds: list[str] = field(default_factory=list)  # kinds kubernetes-validate has no schema for
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def deploy_placeholders(values: dict[str, Any]) -> dict[str, Any]:
    """What the stack supplies at deploy time (credentials, fingerprints), as placeholders for a check."""
    out: dict[str, Any] = {}
    cams = [c for s in values.get("shards", []) for c in s.get("cameras", []) if "credentials" in c]
    if cams:
        out["credentials"] = {c["credentials"]: {"user": "vms", "password": PLACEHOLDER} for c in cams}
    relays = [r for s in values.get("shards", []) for r in s.get("relays", [])]
    if relays:
        out["relayFingerprints"] = {r["site"]: "0" * 64 for r in relays}
    return out


def helm(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(ensure_helm()), *args], capture_output=True, text=True)


def helm_with_values(values: dict[str, Any], *args: str) -> subprocess.CompletedProcess[str]:
    """helm with the site's values and the deploy-time placeholders as value files (-f)."""
    with tempfile.TemporaryDirectory() as tmp:
        vfile, dfile = Path(tmp) / "values.yaml", Path(tmp) / "deploy.yaml"
        vfile.write_text(json.dumps(values), "utf-8")
        dfile.write_text(json.dumps(deploy_placeholders(values)), "utf-8")
        return helm(*args, "-f", str(vfile), "-f", str(dfile))


def template(chart: str, values: dict[str, Any], kube_version: str, release: str | None = None
             ) -> tuple[list[dict[str, Any]], str]:
    """Render a chart with values (+ deploy-time placeholders); returns (objects, error text)."""
    proc = helm_with_values(values, "template", release or chart, str(CHARTS / chart), "--namespace",
                            NAMESPACES[chart], "--kube-version", kube_version)
    if proc.returncode:
        return [], proc.stderr.strip()
    return [d for d in yaml.safe_load_all(proc.stdout) if d], ""


def lint(chart: str, values: dict[str, Any], kube_version: str) -> str:
    proc = helm_with_values(values, "lint", "--strict", str(CHARTS / chart), "--kube-version", kube_version)
    return "" if proc.returncode == 0 else (proc.stdout + proc.stderr).strip()


def validate(docs: Iterable[dict[str, Any]], kube_version: str, report: Report) -> None:
    for doc in docs:
        report.objects += 1
        name = f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
        try:
            kubernetes_validate.validate(doc, kube_version, strict=True)
            report.schema_checked += 1
        except kubernetes_validate.SchemaNotFoundError:
            report.crds.append(f"{doc.get('apiVersion')}/{doc.get('kind')}")
        except kubernetes_validate.ValidationError as exc:
            report.errors.append(f"{name}: {exc.message} (at {'/'.join(str(p) for p in exc.path)})")
        except kubernetes_validate.InvalidSchemaError as exc:  # pragma: no cover - library data problem
            report.errors.append(f"{name}: {exc}")


def _pod_spec(doc: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """(pod metadata, pod spec) of a workload object."""
    kind, spec = doc.get("kind"), doc.get("spec", {})
    if kind == "Pod":
        return doc.get("metadata", {}), spec
    if kind == "CronJob":
        tpl = spec.get("jobTemplate", {}).get("spec", {}).get("template", {})
    else:
        tpl = spec.get("template", {})
    return tpl.get("metadata", {}), tpl.get("spec", {})


def _matches(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    want = selector.get("matchLabels", {})
    return bool(want) and all(labels.get(k) == v for k, v in want.items())


def policy(docs: list[dict[str, Any]], namespace: str) -> list[str]:
    """Violations of camkit's policy in one chart's rendered objects (installed into `namespace`)."""
    errors: list[str] = []
    pods_in: set[str] = set()
    pdbs = [d for d in docs if d.get("kind") == "PodDisruptionBudget"]
    for doc in docs:
        if doc.get("kind") not in WORKLOADS:
            continue
        name = f"{doc['kind']}/{doc['metadata']['name']}"
        pods_in.add(doc["metadata"].get("namespace", namespace))
        got = _pod_spec(doc)
        assert got is not None
        meta, pod = got
        psc = pod.get("securityContext", {})
        if psc.get("runAsNonRoot") is not True:
            errors.append(f"{name}: pod securityContext.runAsNonRoot must be true")
        if psc.get("seccompProfile", {}).get("type") != "RuntimeDefault":
            errors.append(f"{name}: pod seccompProfile must be RuntimeDefault")
        for key in ("hostNetwork", "hostPID", "hostIPC"):
            if pod.get(key):
                errors.append(f"{name}: {key} is not allowed")
        for vol in pod.get("volumes", []):
            if "hostPath" in vol:
                errors.append(f"{name}: hostPath volume '{vol['name']}' is not allowed")
        writable_ok = "camkit.io/writable-root" in meta.get("annotations", {})
        for c in pod.get("initContainers", []) + pod.get("containers", []):
            cname = f"{name} container {c['name']}"
            sc = c.get("securityContext", {})
            if sc.get("allowPrivilegeEscalation") is not False:
                errors.append(f"{cname}: allowPrivilegeEscalation must be false")
            if sc.get("privileged"):
                errors.append(f"{cname}: privileged is not allowed")
            caps = sc.get("capabilities", {})
            if "ALL" not in caps.get("drop", []) or caps.get("add"):
                errors.append(f"{cname}: capabilities must drop ALL and add none")
            if sc.get("readOnlyRootFilesystem") is not True and not writable_ok:
                errors.append(f"{cname}: readOnlyRootFilesystem must be true (or the pod annotates "
                              "camkit.io/writable-root with the reason)")
            image = c.get("image", "")
            tag = image.rsplit("/", 1)[-1].partition(":")[2]
            if not tag or tag == "latest":
                errors.append(f"{cname}: image '{image}' must be pinned to a tag other than latest")
            res = c.get("resources", {})
            for kind in ("requests", "limits"):
                for r in ("cpu", "memory"):
                    if r not in res.get(kind, {}):
                        errors.append(f"{cname}: resources.{kind}.{r} must be set")
        replicas = doc.get("spec", {}).get("replicas", 1)
        if doc["kind"] in {"Deployment", "StatefulSet"} and replicas > 1:
            labels = meta.get("labels", {})
            if not any(_matches(p["spec"].get("selector", {}), labels) for p in pdbs):
                errors.append(f"{name}: {replicas} replicas but no PodDisruptionBudget selects them")
            if "podAntiAffinity" not in pod.get("affinity", {}):
                errors.append(f"{name}: {replicas} replicas but no pod anti-affinity")
    for ns in sorted(pods_in):
        deny = [d for d in docs if d.get("kind") == "NetworkPolicy"
                and d["metadata"].get("namespace", namespace) == ns and d["spec"].get("podSelector") == {}
                and set(d["spec"].get("policyTypes", [])) == {"Ingress", "Egress"}
                and not d["spec"].get("ingress") and not d["spec"].get("egress")]
        if not deny:
            errors.append(f"namespace {ns}: runs pods but has no default-deny NetworkPolicy (ingress and egress)")
    return errors


def values_of(content: bytes) -> dict[str, Any]:
    """A rendered `<chart>.values.yaml` (a comment line, then JSON) as the chart reads it."""
    return dict(json.loads(content.decode("utf-8").split("\n", 1)[1]))


def site_values(artifacts: dict[str, bytes], sites: Iterable[str] | None = None
                ) -> Iterable[tuple[str, str, dict[str, Any]]]:
    """(site, chart, values) of each rendered `sites/<site>/helm/<chart>.values.yaml`, by path."""
    wanted = set(sites) if sites else None
    for path in sorted(artifacts):
        parts = path.split("/")
        if len(parts) == 4 and parts[0] == "sites" and parts[2] == "helm" and parts[3].endswith(".values.yaml"):
            if wanted is None or parts[1] in wanted:
                yield parts[1], parts[3].removesuffix(".values.yaml"), values_of(artifacts[path])


def check(chart: str, site: str, values: dict[str, Any], kube_version: str, run_lint: bool = True) -> Report:
    report = Report(chart, site)
    if run_lint:
        err = lint(chart, values, kube_version)
        if err:
            report.errors.append(f"helm lint: {err[-2000:]}")
            return report
    docs, err = template(chart, values, kube_version)
    if err:
        report.errors.append(f"helm template: {err[-2000:]}")
        return report
    validate(docs, kube_version, report)
    report.errors += policy(docs, NAMESPACES[chart])
    return report
