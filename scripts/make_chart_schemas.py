"""Writes charts/<chart>/values.schema.json and charts/<chart>/README.md (the values, one table per chart)
from one definition per chart here (common parts shared).

Run: python scripts/make_chart_schemas.py   (tests/test_charts.py checks the committed files are current)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

CHARTS = Path(__file__).resolve().parent.parent / "charts"
Q = {"$ref": "#/$defs/quantity"}


def obj(required: list[str], **props: object) -> dict[str, object]:
    return {"type": "object", "additionalProperties": False, "required": required, "properties": props}


def arr(items: object, min_items: int = 0) -> dict[str, object]:
    return {"type": "array", "items": items, "minItems": min_items}


S = {"type": "string"}
DEFS = {
    "image": obj(["repository", "tag"], repository={"type": "string", "minLength": 1},
                 tag={"type": "string", "pattern": "^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$", "not": {"const": "latest"},
                      "description": "pinned tag; 'latest' is refused"}),
    "quantity": {"type": ["string", "integer"], "pattern": "^[0-9.]+(m|Ki|Mi|Gi|Ti|k|M|G)?$"},
    "resources": obj(["requests", "limits"], requests=obj(["cpu", "memory"], cpu=Q, memory=Q),
                     limits=obj(["cpu", "memory"], cpu=Q, memory=Q,
                                **{"nvidia.com/gpu": {"type": "integer", "minimum": 1}})),
    "rule": obj(["name", "component", "peers", "ports", "reason"],
                name={"type": "string", "pattern": "^[a-z0-9][a-z0-9-]{0,40}$"}, component=S, reason=S,
                peers=arr({"type": "object", "additionalProperties": False,
                           "properties": {"cidr": S, "namespace": S, "component": S,
                                          "pods": {"type": "object", "additionalProperties": S}}}, 1),
                ports=arr(obj(["port", "protocol"], port={"type": "integer", "minimum": 1, "maximum": 65535},
                              protocol={"enum": ["TCP", "UDP"]}), 1)),
}
COMMON = {
    "site": obj(["id", "tier", "kind"], id={"type": "string", "pattern": "^[a-z0-9][a-z0-9-]*$"},
                tier={"type": "integer", "minimum": 1, "maximum": 3}, kind=S),
    "image": {"$ref": "#/$defs/image"},
    "securityContext": obj(["runAsUser"], runAsUser={"type": "integer", "minimum": 1}),
    "resources": {"$ref": "#/$defs/resources"},
    "networkPolicy": obj(["ingress", "egress"], ingress=arr({"$ref": "#/$defs/rule"}),
                         egress=arr({"$ref": "#/$defs/rule"})),
    "global": {"type": "object"},
    "camkit-lib": {"type": "object"},
}
TOKENS = obj(["image", "url", "clientId", "clientSecret", "refreshAtMinute", "timezone", "caSecret"],
             image={"$ref": "#/$defs/image"}, url={"type": "string", "pattern": "^https://"},
             clientId={"type": "string", "pattern": "^camkit-svc-[a-z0-9.-]+$"}, clientSecret=S,
             refreshAtMinute={"type": "integer", "minimum": 0, "maximum": 1439}, timezone=S, caSecret=S)
CREDS = {"type": "object", "additionalProperties": obj(["user", "password"], user=S, password=S)}

IPV4_OR_EMPTY = r"^$|^([0-9]{1,3}\.){3}[0-9]{1,3}$"

SPECS: dict[str, tuple[dict[str, object], list[str]]] = {
    "vms": ({
        "tls": obj(["secretName"], secretName=S),
        "tokens": TOKENS,
        "auth": obj(["jwks", "claimKey"], jwks={"type": "string", "pattern": "^https://"}, claimKey=S),
        "recordings": obj(["storageClass", "segmentDuration", "deleteAfter"], storageClass=S,
                          segmentDuration={"type": "string", "pattern": "^[0-9]+[smh]$"},
                          deleteAfter={"type": "string", "pattern": "^[0-9]+[smh]$"}),
        "shards": arr(obj(["name", "cameras", "relays", "volumeSize"],
                          name={"type": "string", "pattern": "^[0-9]+$"}, volumeSize=Q,
                          address={"type": "string", "pattern": IPV4_OR_EMPTY},
                          cameras=arr(obj(["path"], path=S, scheme={"enum": ["rtsp", "rtsps"]}, hostPath=S,
                                          credentials=S, publisher={"type": "boolean"})),
                          relays=arr(obj(["prefix", "site", "address", "cameras"], prefix=S, site=S, address=S,
                                         cameras=arr(S)))), 1),
        "credentials": {**CREDS, "description": "camera id -> {user, password}: each camera's VMS account, given "
                        "at deploy time from the vault (never in a file)"},
        "relayFingerprints": {"type": "object", "additionalProperties": S,
                              "description": "site id -> SHA256 fingerprint of that site's VMS certificate"},
        "publish": obj(["pool", "addresses", "ingress"], pool={"type": "string", "pattern": "^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"},
                       addresses=arr({"type": "string", "pattern": r"^([0-9]{1,3}\.){3}[0-9]{1,3}/32$"}),
                       ingress={"type": "string", "pattern": IPV4_OR_EMPTY}),
    }, ["tls", "auth", "recordings", "shards", "resources", "publish"]),
    "iva": ({
        "detector": obj(["type", "gpu", "model"], type={"enum": ["onnx", "openvino"]}, gpu={"type": "boolean"},
                        model=S),
        "detect": obj(["width", "height"], width={"type": "integer", "minimum": 320},
                      height={"type": "integer", "minimum": 240}),
        "tokens": TOKENS,
        "eventRetentionDays": {"type": "integer", "minimum": 1},
        "events": obj(["brokerImage", "exporterImage", "objects", "alerts"], brokerImage={"$ref": "#/$defs/image"},
                      exporterImage={"$ref": "#/$defs/image"},
                      objects=arr({"type": "string", "pattern": "^[a-z_]+$"}, 1),
                      alerts=arr(obj(["set", "objects", "cameras"], set={"enum": ["basic", "security", "traffic"]},
                                     objects=arr({"type": "string", "pattern": "^[a-z_]+$"}, 1), cameras=arr(S)))),
        "shards": arr(obj(["name", "cameras"], name={"type": "string", "pattern": "^[0-9]+$"},
                          cameras=arr(obj(["name", "path", "vmsService", "fps", "set", "objects", "features"],
                                          name=S, path=S, vmsService=S, fps={"type": "integer", "minimum": 1},
                                          set={"enum": ["basic", "security", "traffic"]}, objects=arr(S, 1),
                                          features=arr(S)))), 1),
    }, ["detector", "detect", "tokens", "events", "shards", "resources"]),
    "monitoring": ({
        "replicas": {"type": "integer", "minimum": 2},
        "targets": obj(["rtsp", "https"], rtsp=arr(S), https=arr(S)),
        "alerts": obj(["cameraDownFor", "recordingGapFor", "storageFreePercent", "ivaDownFor", "vmsNamespace",
                       "ivaNamespace"], cameraDownFor=S, recordingGapFor=S, ivaDownFor=S, vmsNamespace=S,
                      ivaNamespace=S, storageFreePercent={"type": "integer", "minimum": 1, "maximum": 99}),
    }, ["replicas", "targets", "alerts", "resources"]),
    "archive": ({
        "lifecycleImage": {"$ref": "#/$defs/image"},
        "schedule": S,
        "hotDays": {"type": "integer", "minimum": 0},
        "vms": obj(["release", "shards"], release=S, shards=arr({"type": "string", "pattern": "^[0-9]+$"}, 1)),
        "warm": obj(["claim", "endpoint"], claim=S, endpoint={"type": "string", "pattern": "^https?://"}),
        "lifecycle": arr(obj(["claim", "expireDays"], claim=S, expireDays={"type": "integer", "minimum": 1})),
        "backup": {"type": "object", "additionalProperties": False, "required": ["enabled"],
                   "properties": {"enabled": {"type": "boolean"}, "schedule": S, "cameras": arr(S),
                                  "endpoint": {"type": "string", "pattern": "^https://"}, "bucket": S,
                                  "credentialsSecret": S},
                   "if": {"properties": {"enabled": {"const": True}}},
                   "then": {"required": ["schedule", "cameras", "endpoint", "bucket", "credentialsSecret"]}},
    }, ["lifecycleImage", "schedule", "hotDays", "vms", "warm", "lifecycle", "backup", "resources"]),
    "sso": ({
        "configCliImage": {"$ref": "#/$defs/image"},
        "replicas": {"type": "integer", "minimum": 2},
        "hostname": {"type": "string", "pattern": "^https://"},
        "database": obj(["host", "port", "name", "secret"], host={"type": "string", "minLength": 1},
                        port={"type": "integer"}, name=S, secret=S),
        "adminSecret": S, "tlsSecret": S,
        "serviceClients": obj(["secret", "clients"], secret=S,
                              clients=arr(obj(["id", "env"], id={"type": "string", "pattern": "^camkit-svc-"},
                                              env={"type": "string", "pattern": "^SVC_[A-Z0-9_]+$"}))),
        "realm": {"type": "object", "required": ["realm", "enabled"],
                  "description": "Keycloak realm representation, generated from the unit hierarchy"},
    }, ["configCliImage", "replicas", "hostname", "database", "adminSecret", "tlsSecret", "serviceClients", "realm",
        "resources"]),
}
# charts without pods: no image, security context or network policy of their own
PODLESS: dict[str, tuple[dict[str, object], list[str]]] = {
    "storage": ({
        "mode": {"enum": ["local", "ceph"]},
        "storageClass": S,
        "volumes": arr(obj(["name", "node", "path", "capacity"], name=S, node=S, path=S, capacity=Q)),
        "cephNamespace": S,
        "blockPool": obj(["name", "replicas", "storageClass"], name=S, storageClass=S,
                         replicas={"type": "integer", "minimum": 1, "maximum": 5}),
        "objectStore": obj(["name", "dataChunks", "codingChunks", "gateways", "storageClass"], name=S, storageClass=S,
                           dataChunks={"type": "integer", "minimum": 1}, codingChunks={"type": "integer", "minimum": 0},
                           gateways={"type": "integer", "minimum": 1}),
        "buckets": arr(obj(["name", "namespace", "expireDays"], name=S, namespace=S,
                           expireDays={"type": "integer", "minimum": 1})),
    }, ["mode"]),
}


TOKENS_DOC = ("service tokens: the refresher image, the SSO token URL, this site's service client and the Secret "
              "with its secret, daily renewal (minutes after local midnight, POSIX time zone), optional CA Secret "
              "of the SSO")
COMMON_DOCS = {
    "site": "the site these values are for: id, tier (1-3), kind",
    "image": "container image, pinned: repository and tag (never `latest`)",
    "securityContext": "UID/GID the pods run as (non-root)",
    "resources": "requests and limits of the main container, from the sizing model",
    "networkPolicy": "allow rules (ingress/egress) rendered from the flow matrix; a default deny comes with the chart",
    "global": "reserved by Helm", "camkit-lib": "values of the library chart (none)",
}
DOCS: dict[str, dict[str, str]] = {
    "vms": {"tls": "Secret with the VMS server certificate (RTSPS, playback)",
            "auth": "JWKS URL of the city SSO and the claim holding MediaMTX permissions",
            "tokens": TOKENS_DOC,
            "recordings": "storage class, segment length, deletion age (the tier's retention)",
            "shards": "MediaMTX instances: their cameras (`<unit>/<camera>` paths), relays and volume size",
            "credentials": "camera id -> {user, password}: given at deploy time from the vault, never in a file",
            "relayFingerprints": "site id -> SHA256 fingerprint of that site's VMS certificate (deploy time)",
            "publish": "the site's published service addresses (IP plan): MetalLB pool and L2 announcement, the "
                       "ingress controller's address; each shard's own address is `shards[].address`"},
    "iva": {"detector": "Frigate detector: onnx on a GPU, openvino on the CPU", "detect": "detect resolution",
            "tokens": TOKENS_DOC,
            "eventRetentionDays": "days Frigate keeps event snapshots",
            "events": "MQTT broker and exporter images, the object labels exported as metrics, and per analytics "
                      "set the objects that raise an alert and its cameras (empty: every camera of the site)",
            "shards": "Frigate instances (one per GPU): their cameras, VMS path, analytics set"},
    "monitoring": {"replicas": "blackbox-exporter replicas (>= 2, with a PodDisruptionBudget)",
                   "targets": "camera RTSP (host:554) and ONVIF HTTPS URLs to probe",
                   "alerts": "alert thresholds and the namespaces the rules watch"},
    "archive": {"lifecycleImage": "aws-cli image of the lifecycle Job", "schedule": "cron of the move jobs",
                "hotDays": "segments older than this move to the warm bucket",
                "vms": "release and shards of the VMS whose volumes are archived",
                "warm": "ObjectBucketClaim of the warm bucket and the object gateway URL",
                "lifecycle": "bucket claims and the days after which their objects expire",
                "backup": "tier 2: cameras copied nightly to the city's backup bucket, endpoint, credentials Secret"},
    "storage": {"mode": "`ceph` (tiers 1-2) or `local` (tier 3)", "storageClass": "tier 3: the local class",
                "volumes": "tier 3: local persistent volumes (node, path, capacity)",
                "cephNamespace": "namespace of the Rook cluster", "blockPool": "replicated pool for hot recordings",
                "objectStore": "erasure-coded object store (warm/cold)", "buckets": "bucket claims and expiry"},
    "sso": {"configCliImage": "keycloak-config-cli image of the realm import Job",
            "replicas": "Keycloak replicas (>= 2, PDB and anti-affinity)", "hostname": "public URL of Keycloak",
            "database": "PostgreSQL host, port, database and credentials Secret",
            "adminSecret": "Secret with the bootstrap admin", "tlsSecret": "Secret with Keycloak's certificate",
            "serviceClients": "Secret holding each service client's secret (key: client id) and the variable the "
                              "realm import reads it from",
            "realm": "the realm generated from the unit hierarchy (groups, roles, the VMS client)"},
}


def readme(chart: str) -> str:
    sch = schema(chart)
    props: dict[str, dict[str, object]] = sch["properties"]  # type: ignore[assignment]
    required = set(sch["required"])  # type: ignore[arg-type]
    desc = {**COMMON_DOCS, **DOCS.get(chart, {})}
    rows = []
    for key, spec in props.items():
        if key in ("global", "camkit-lib"):
            continue
        kind = "image" if spec.get("$ref") == "#/$defs/image" else "resources" if spec.get("$ref") else spec.get("type", "object")
        rows.append(f"| `{key}` | {kind} | {'yes' if key in required else ''} | {desc.get(key, '')} |")
    return (f"# camkit chart `{chart}` — values\n\n"
            "camkit renders these values per site (`camkit render --only helm`: "
            f"`build/<city>/sites/<site>/helm/{chart}.values.yaml`); `values.schema.json` checks them, "
            "`camkit charts check` renders the chart with them. Generated by `scripts/make_chart_schemas.py`.\n\n"
            "| key | type | required | what |\n| --- | --- | --- | --- |\n" + "\n".join(rows) + "\n")


def schema(chart: str) -> dict[str, object]:
    if chart in PODLESS:
        props, required = PODLESS[chart]
        common = {k: COMMON[k] for k in ("site", "global", "camkit-lib")}
        return {"$schema": "https://json-schema.org/draft/2020-12/schema", "title": f"camkit {chart} chart values",
                "type": "object", "additionalProperties": False, "required": ["site", *required],
                "properties": {**common, **props}, "$defs": DEFS}
    props, required = SPECS[chart]
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "title": f"camkit {chart} chart values",
            "type": "object", "additionalProperties": False,
            "required": ["site", "image", "securityContext", "networkPolicy", *required],
            "properties": {**COMMON, **props}, "$defs": DEFS}


def text(chart: str) -> str:
    return json.dumps(schema(chart), indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    for name in (*SPECS, *PODLESS):
        (CHARTS / name / "values.schema.json").write_text(text(name), "utf-8")
        (CHARTS / name / "README.md").write_text(readme(name), "utf-8")
    print(f"wrote {len(SPECS) + len(PODLESS)} schemas", file=sys.stderr)
