"""ComponentResources per tier: what a site's cluster gets, composed from the charts in ../charts.

- CityStack (tier 1: the city IOC, the police command, department OCs): vms, iva, monitoring, storage,
  archive, and sso at the city IOC.
- DistrictStack (tier 2): vms, iva, monitoring, storage, archive.
- WardStack (tier 3): vms, monitoring, storage.

Each component creates the namespaces its charts run in (Pod Security "restricted" enforced), a read-only
Role and its binding to the unit's SSO admin group, the Secrets the charts name (from deploy-time secrets,
marked secret), and one `helm.v4.Chart` per chart with the values camkit rendered. Values that must not be
in a file (camera credentials, relay fingerprints) are merged in here as secret outputs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import pulumi
import pulumi_kubernetes as k8s

from camkit.k8s import NAMESPACES, OWNED_NAMESPACES, POD_SECURITY_LABELS

CHARTS = Path(__file__).resolve().parent.parent / "charts"
# where each chart goes, the namespaces this stack owns (rook-ceph belongs to the Rook operator's release) and
# their Pod Security labels: camkit's, which `camkit verify --kubeconfig` checks on the cluster
OWNED = OWNED_NAMESPACES
# Secrets the charts name: (namespace, name, keys, chart that needs it)
SECRETS = [
    ("camkit-vms", "vms-tls", ("tls.crt", "tls.key"), "vms"),
    ("camkit-vms", "camkit-service-client", ("secret",), "vms"),  # only with relays (see needs_secret)
    ("camkit-iva", "camkit-service-client", ("secret",), "iva"),
    ("camkit-sso", "sso-service-clients", (), "sso"),  # one key per service client of the city (values)
    ("camkit-vms", "city-backup-credentials", ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"), "archive"),
    ("camkit-sso", "sso-tls", ("tls.crt", "tls.key"), "sso"),
    ("camkit-sso", "keycloak-db", ("username", "password"), "sso"),
    ("camkit-sso", "keycloak-admin", ("username", "password"), "sso"),
]


@dataclass
class SiteInputs:
    site_id: str
    tier: int
    kind: str
    values: dict[str, dict[str, Any]]  # chart -> values (as camkit rendered them)
    charts_dir: Path = CHARTS

    @classmethod
    def load(cls, site_id: str, values_dir: str | Path, charts_dir: str | Path | None = None) -> SiteInputs:
        values = {}
        for f in sorted(Path(values_dir).glob("*.values.yaml")):
            text = f.read_text("utf-8")
            values[f.name.removesuffix(".values.yaml")] = json.loads(text.split("\n", 1)[1])  # camkit writes JSON
        if not values:
            raise ValueError(f"{values_dir}: no <chart>.values.yaml; run `camkit render --only helm` first")
        site = next(iter(values.values()))["site"]
        if site["id"] != site_id:
            raise ValueError(f"{values_dir} holds the values of '{site['id']}', not '{site_id}'")
        return cls(site_id, site["tier"], site["kind"], values, Path(charts_dir) if charts_dir else CHARTS)


@dataclass
class DeploySecrets:
    camera_credentials: Any = None  # Output of {camera id: {user, password}}
    relay_fingerprints: dict[str, str] = field(default_factory=dict)
    tls: Any = None  # Output of {"vms-tls": {"tls.crt": ..., "tls.key": ...}, "sso-tls": {...}}
    extra: Any = None  # Output of {secret name: {key: value}} for the other Secrets of SECRETS

    @classmethod
    def from_store(cls, site: SiteInputs, inventory: str | Path, store_dir: str | Path,
                   password: bytes | None = None) -> DeploySecrets:
        """Everything from the secrets store (`camkit.stack_secrets.deploy_secrets`), as Pulumi secrets."""
        from camkit import pipeline
        from camkit.secrets import Store
        from camkit.stack_secrets import deploy_secrets

        got = deploy_secrets(pipeline.load(inventory), Store.open(store_dir, password), site.site_id, site.values)
        return cls(camera_credentials=pulumi.Output.secret(got["camera_credentials"]),
                   relay_fingerprints=got["relay_fingerprints"],  # not secret: certificate fingerprints
                   tls=pulumi.Output.secret(got["tls"]), extra=pulumi.Output.secret(got["extra"]))


class SiteStack(pulumi.ComponentResource):
    """Common part of the tier components."""

    charts: ClassVar[tuple[str, ...]] = ()
    optional: ClassVar[tuple[str, ...]] = ()  # charts a site of this tier may lack (no GPU: no iva; sso: IOC only)
    type_name: ClassVar[str] = ""

    def __init__(self, name: str, site: SiteInputs, secrets: DeploySecrets,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(self.type_name, name, None, opts)
        have = set(site.values)
        missing = set(self.charts) - have
        extra = have - set(self.charts) - set(self.optional)
        if missing or extra:
            raise ValueError(f"site {site.site_id} (tier {site.tier}): charts {sorted(have)} do not fit "
                             f"{type(self).__name__} (needs {sorted(self.charts)}, may add {sorted(self.optional)})")
        child = pulumi.ResourceOptions(parent=self)
        used = sorted({NAMESPACES[c] for c in have} & set(OWNED))
        self.namespace_names = used
        self.namespaces = {
            ns: k8s.core.v1.Namespace(f"{name}-{ns}", metadata={
                "name": ns,
                "labels": {**POD_SECURITY_LABELS,
                           "app.kubernetes.io/part-of": "camkit", "camkit.io/site": site.site_id}}, opts=child)
            for ns in used}
        self.rbac(name, site, child)
        self.secrets = self.make_secrets(name, site, secrets, child)
        self.releases = {}
        for chart in sorted(have):
            values: Any = site.values[chart]
            if chart == "vms":
                values = pulumi.Output.all(secrets.camera_credentials).apply(
                    lambda args, v=values: {**v, "credentials": args[0] or {},
                                            "relayFingerprints": secrets.relay_fingerprints})
            depends = [self.namespaces[NAMESPACES[chart]]] if NAMESPACES[chart] in self.namespaces else []
            depends += [s for (ns, sname), s in self.secrets.items() if ns == NAMESPACES[chart]]
            self.releases[chart] = k8s.helm.v4.Chart(
                f"{name}-{chart}", chart=str(site.charts_dir / chart), namespace=NAMESPACES[chart],
                name=chart, values=values, opts=pulumi.ResourceOptions(parent=self, depends_on=depends))
        self.register_outputs({"namespaces": used, "charts": sorted(have)})

    def rbac(self, name: str, site: SiteInputs, opts: pulumi.ResourceOptions) -> None:
        """The unit's SSO admins may read (not change) the camkit namespaces; changes go through the stack."""
        for ns, res in self.namespaces.items():
            role = k8s.rbac.v1.Role(f"{name}-{ns}-read", metadata={"name": "camkit-read", "namespace": ns}, rules=[
                {"apiGroups": [""], "resources": ["pods", "pods/log", "services", "events", "configmaps",
                                                  "persistentvolumeclaims"], "verbs": ["get", "list", "watch"]},
                {"apiGroups": ["apps", "batch"], "resources": ["deployments", "statefulsets", "jobs", "cronjobs"],
                 "verbs": ["get", "list", "watch"]}], opts=pulumi.ResourceOptions(parent=self, depends_on=[res]))
            k8s.rbac.v1.RoleBinding(f"{name}-{ns}-read", metadata={"name": "camkit-read", "namespace": ns},
                                    role_ref={"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                              "name": "camkit-read"},
                                    subjects=[{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group",
                                               "name": f"oidc:/{site.site_id}/admin"}],
                                    opts=pulumi.ResourceOptions(parent=self, depends_on=[role]))

    def make_secrets(self, name: str, site: SiteInputs, secrets: DeploySecrets,
                     opts: pulumi.ResourceOptions) -> dict[tuple[str, str], k8s.core.v1.Secret]:
        out = {}
        for ns, sname, keys, chart in SECRETS:
            if chart not in site.values:
                continue
            if not needs_secret(site, sname, chart):
                continue
            if sname == "sso-service-clients":
                keys = tuple(c["id"] for c in site.values["sso"]["serviceClients"]["clients"])
            source = secrets.tls if sname.endswith("-tls") else secrets.extra
            data = pulumi.Output.secret(pulumi.Output.from_input(source).apply(
                lambda src, n=sname, k=keys: {key: ((src or {}).get(n) or {}).get(key, "") for key in k}))
            out[(ns, sname)] = k8s.core.v1.Secret(
                f"{name}-{ns}-{sname}", metadata={"name": sname, "namespace": ns},
                type="kubernetes.io/tls" if sname.endswith("-tls") else "Opaque", string_data=data,
                opts=pulumi.ResourceOptions(parent=self, depends_on=[self.namespaces[ns]],
                                            additional_secret_outputs=["stringData", "data"]))
        return out


def needs_secret(site: SiteInputs, name: str, chart: str) -> bool:
    """Whether a site's charts use this Secret: the VMS reads a service token only when it relays another VMS;
    the archive's city credentials only with the tier-2 backup."""
    if chart == "archive":
        return bool(site.values["archive"]["backup"]["enabled"])
    if chart == "vms" and name == "camkit-service-client":
        return any(shard["relays"] for shard in site.values["vms"]["shards"])
    return True


class CityStack(SiteStack):
    type_name = "camkit:tier:City"
    charts = ("vms", "monitoring", "storage", "archive")
    optional = ("iva", "sso")


class DistrictStack(SiteStack):
    type_name = "camkit:tier:District"
    charts = ("vms", "monitoring", "storage", "archive")
    optional = ("iva",)


class WardStack(SiteStack):
    type_name = "camkit:tier:Ward"
    charts = ("vms", "monitoring", "storage")


TIERS: dict[int, type[SiteStack]] = {1: CityStack, 2: DistrictStack, 3: WardStack}
