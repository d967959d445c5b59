"""IVA events reach the monitoring and alerting path: Frigate -> MQTT broker -> mqtt2prometheus -> Prometheus
-> PrometheusRule; and Prometheus scrapes the VMS and Frigate (PodMonitors) the monitoring rules read.

The broker runs for real (Debian's mosquitto, with the chart's mosquitto.conf, on loopback) and carries
messages on Frigate's topics; what mqtt2prometheus makes of each topic is its configured regular expressions
(Go's named groups, which Python reads alike) applied here: the exporter itself has no Debian or PyPI build.
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml

from test_charts import objects, rendered

from conftest import EXAMPLE


def _docs(site: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    _, values = rendered(EXAMPLE)
    iva = values[(site, "iva")]
    return iva, objects("iva", iva)


def _events_config(docs: list[dict[str, Any]]) -> dict[str, str]:
    return next(d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].endswith("-events"))["data"]


def test_frigate_publishes_to_the_sites_broker_one_prefix_per_shard() -> None:
    iva, docs = _docs("hoan-kiem")
    frigate = [yaml.safe_load(d["data"]["config.yml"]) for d in docs
               if d["kind"] == "ConfigMap" and "config.yml" in d.get("data", {})]
    assert len(frigate) == len(iva["shards"])
    service = next(d for d in docs if d["kind"] == "Service" and d["metadata"]["name"].endswith("-events"))
    prefixes = set()
    for cfg in frigate:
        assert cfg["mqtt"]["enabled"] is True and cfg["mqtt"]["host"] == service["metadata"]["name"]
        assert cfg["mqtt"]["port"] == service["spec"]["ports"][0]["port"]
        prefixes.add(cfg["mqtt"]["topic_prefix"])
    assert len(prefixes) == len(frigate)  # Frigate needs a unique prefix per instance
    # only Frigate and the exporter reach the broker; Prometheus reaches the exporter
    pols = {d["metadata"]["name"]: d["spec"] for d in docs if d["kind"] == "NetworkPolicy"}
    broker_in = next(p for n, p in pols.items() if n.endswith("ingress-events-publishers"))
    assert broker_in["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "events-broker"
    assert {f["podSelector"]["matchLabels"]["app.kubernetes.io/component"] for f in broker_in["ingress"][0]["from"]} \
        == {"iva", "events-exporter"}
    assert any(n.endswith("ingress-events-metrics") for n in pols)


def test_alerts_follow_the_analytics_sets() -> None:
    inv, values = rendered(EXAMPLE)
    for site in ("police", "hoan-kiem", "ioc"):
        iva = values[(site, "iva")]
        cams = {c["name"]: c["set"] for s in iva["shards"] for c in s["cameras"]}
        alerts = {a["set"]: a for a in iva["events"]["alerts"]}
        security = sorted(c for c, k in cams.items() if k == "security")
        assert bool(security) == ("security" in alerts), site
        if security:
            want = [] if len(security) == len(cams) else security
            assert alerts["security"]["cameras"] == want and alerts["security"]["objects"] == ["person"]
    # the police IVA analyses its own cameras with the security set: one rule for all its cameras
    _, docs = _docs("police")
    rule = next(d for d in docs if d["kind"] == "PrometheusRule")["spec"]["groups"][0]["rules"]
    det = [r for r in rule if r["alert"] == "IVADetection"]
    assert det and all("camkit_iva_objects_person" in r["expr"] and r["labels"]["analytics"] == "security"
                       for r in det)
    assert any(r["alert"] == "IVAEventsDown" for r in rule)


def test_every_alert_reads_a_metric_the_exporter_writes() -> None:
    for site in ("police", "hoan-kiem", "ioc", "so-gtvt"):
        iva, docs = _docs(site)
        exporter = yaml.safe_load(_events_config(docs)["mqtt2prometheus.yaml"])
        names = {m["prom_name"] for m in exporter["metrics"]}
        rules = [r for d in docs if d["kind"] == "PrometheusRule" for g in d["spec"]["groups"] for r in g["rules"]]
        for r in rules:
            used = set(re.findall(r"camkit_iva_objects_[a-z_]+", r["expr"]))
            assert used <= names, (site, r["alert"], used - names)
        # every object an analytics set tracks is exported
        tracked = {o for s in iva["shards"] for c in s["cameras"] for o in c["objects"]}
        assert {f"camkit_iva_objects_{o}" for o in tracked} <= names


def test_vms_and_frigate_are_scraped_where_the_rules_look() -> None:
    _, values = rendered(EXAMPLE)
    for chart, port in (("vms", "metrics"), ("iva", "api")):
        v = dict(values[("hoan-kiem", chart)])
        if chart == "vms":
            v["credentials"] = {c["credentials"]: {"user": "u", "password": "p"} for s in v["shards"]
                                for c in s["cameras"] if "credentials" in c}
            v["relayFingerprints"] = {r["site"]: "ab" for s in v["shards"] for r in s["relays"]}
        docs = objects(chart, v)
        mon = next(d for d in docs if d["kind"] == "PodMonitor" and d["metadata"]["name"].endswith(f"-{chart}"))
        sel = mon["spec"]["selector"]["matchLabels"]
        pods = [d for d in docs if d["kind"] in ("StatefulSet", "Deployment")
                and d["spec"]["template"]["metadata"]["labels"].get("app.kubernetes.io/component") == chart]
        assert pods and all(sel.items() <= p["spec"]["template"]["metadata"]["labels"].items() for p in pods)
        ports = {p["name"] for pod in pods for c in pod["spec"]["template"]["spec"]["containers"] for p in c["ports"]}
        assert mon["spec"]["podMetricsEndpoints"][0]["port"] == port and port in ports
    mon = objects("monitoring", values[("hoan-kiem", "monitoring")])
    rules = {r["alert"]: r for d in mon if d["kind"] == "PrometheusRule" for g in d["spec"]["groups"] for r in g["rules"]}
    # MediaMTX labels its paths `name`; only the recorded paths <site>/<camera> count for a gap
    assert 'sum by (name)' in rules["RecordingGap"]["expr"] and 'name=~"hoan-kiem/[^/]+"' in rules["RecordingGap"]["expr"]
    assert "frigate_camera_fps" in rules["IVACameraNoFrames"]["expr"]


# --- the broker for real ----------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    if not shutil.which("mosquitto"):
        pytest.fail("mosquitto is not installed (.ci/run installs it)")
    _, docs = _docs("hoan-kiem")
    data = _events_config(docs)
    port = _free_port()
    conf = data["mosquitto.conf"]
    assert "listener 1883\n" in conf
    # the chart's configuration, on a loopback port of this test
    (tmp_path / "mosquitto.conf").write_text(conf.replace("listener 1883\n", f"listener {port} 127.0.0.1\n"))
    proc = subprocess.Popen(["mosquitto", "-c", str(tmp_path / "mosquitto.conf")],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), 0.5).close()
                break
            except OSError:
                assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
                assert time.monotonic() < deadline, "mosquitto did not listen"
                time.sleep(0.1)
        yield port, yaml.safe_load(data["mqtt2prometheus.yaml"])
    finally:
        proc.terminate()
        proc.wait(10)


def test_events_travel_the_broker_and_map_to_metrics(broker: tuple[int, dict[str, Any]]) -> None:
    port, exporter = broker
    mqtt = exporter["mqtt"]
    sub = subprocess.Popen(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(port), "-t", mqtt["topic_path"],
                            "-v", "-W", "20"], stdout=subprocess.PIPE, text=True)
    try:
        time.sleep(0.5)
        # what a Frigate shard publishes: counts per camera and label, motion state, per-zone counts
        sent = [("frigate-0/hk-c01/person", "2"), ("frigate-0/hk-c01/motion", "ON"),
                ("frigate-0/hk-c01/gate/person", "1"), ("frigate-1/hk-c03/car", "1"), ("frigate-1/hk-c03/all", "1")]
        for topic, payload in sent:
            subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), "-t", topic, "-m", payload],
                           check=True, timeout=10)
        got = []
        assert sub.stdout is not None
        while len(got) < 4:
            line = sub.stdout.readline()
            assert line, f"the broker delivered only {got}"
            got.append(tuple(line.strip().split(" ", 1)))
    finally:
        sub.terminate()
        sub.wait(10)
    # the exporter's subscription sees the 3-level topics, not the per-zone ones
    assert set(got) == {s for s in sent if s[0].count("/") == 2}
    device = re.compile(mqtt["device_id_regex"])
    metric = re.compile(mqtt["metric_per_topic_config"]["metric_name_regex"])
    exported = {m["mqtt_name"]: m["prom_name"] for m in exporter["metrics"]}
    samples = {}
    for topic, payload in got:
        name = metric.match(topic).group("metricname")  # type: ignore[union-attr]
        if name in exported:  # mqtt2prometheus drops what its metrics list does not name
            samples[(exported[name], device.match(topic).group("deviceid"))] = float(payload)  # type: ignore[union-attr]
    assert samples == {("camkit_iva_objects_person", "hk-c01"): 2.0, ("camkit_iva_objects_car", "hk-c03"): 1.0,
                       ("camkit_iva_objects_all", "hk-c03"): 1.0}
