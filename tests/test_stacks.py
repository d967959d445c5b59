"""Pulumi stacks under mocks (no Pulumi CLI can run here): which resources each tier's site gets, that the
Kubernetes objects' inputs pass kubernetes-validate --strict, and that deploy-time secrets stay secret."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pulumi
import pytest
import yaml

from camkit import pipeline

from conftest import EXAMPLE, ROOT

SECRET_SIG = "4dabf18193072939515e22adb298388d"  # pulumi's marker of a secret value in mock inputs
KUBE = "1.33.0"


class Mocks(pulumi.runtime.Mocks):
    def __init__(self) -> None:
        self.resources: list[tuple[str, str, dict[str, Any]]] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        self.resources.append((args.typ, args.name, args.inputs))
        return f"{args.name}-id", args.inputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict[str, Any]:
        return {}


MOCKS = Mocks()
pulumi.runtime.set_mocks(MOCKS, preview=False)
sys.path.insert(0, str(ROOT / "stacks"))
import camkit_stacks as cs  # noqa: E402


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("build")
    inv = pipeline.load(EXAMPLE)
    pipeline.write(pipeline.render(inv, pipeline.plan(inv), ["helm", "stacks"]), out / inv.city.id)
    return out / inv.city.id


def _plain(x: Any) -> Any:
    """Mock inputs as a Kubernetes object: secrets unwrapped, whole floats back to integers."""
    if isinstance(x, dict):
        if SECRET_SIG in x:
            return _plain(x["value"])
        return {k: _plain(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_plain(v) for v in x]
    if isinstance(x, float) and x.is_integer():
        return int(x)
    return x


def deploy(build: Path, site: str, secrets: Any = None) -> dict[str, tuple[str, dict[str, Any]]]:
    """Run the site's tier component under mocks; returns name -> (type, inputs) of its resources."""
    MOCKS.resources.clear()
    inputs = cs.SiteInputs.load(site, build / "sites" / site / "helm")
    creds = {c["credentials"]: {"user": "ck-viewer", "password": "s3cret-from-vault"}
             for s in inputs.values["vms"]["shards"] for c in s["cameras"] if "credentials" in c}
    secrets = secrets or cs.DeploySecrets(
        camera_credentials=pulumi.Output.secret(creds), relay_fingerprints={"x": "0" * 64},
        tls=pulumi.Output.secret({"vms-tls": {"tls.crt": "CRT", "tls.key": "KEY"}}),
        extra=pulumi.Output.secret({"camkit-service-client": {"secret": "T"},
                                    "sso-service-clients": {"camkit-svc-ioc": "T"}}))

    @pulumi.runtime.test
    def run() -> pulumi.Output[Any]:
        stack = cs.TIERS[inputs.tier](site, inputs, secrets)
        return pulumi.Output.all(*[r.urn for r in stack.releases.values()])

    run()
    return {name: (typ, args) for typ, name, args in MOCKS.resources}


@pytest.mark.parametrize("site, component, charts", [
    ("ioc", "City", {"vms", "iva", "monitoring", "storage", "archive", "sso"}),
    ("police", "City", {"vms", "iva", "monitoring", "storage", "archive"}),
    ("hoan-kiem", "District", {"vms", "iva", "monitoring", "storage", "archive"}),
    ("hang-bac", "Ward", {"vms", "monitoring", "storage"}),
])
def test_each_tier_gets_its_resources(build: Path, site: str, component: str, charts: set[str]) -> None:
    res = deploy(build, site)
    assert res[site][0] == f"camkit:tier:{component}"
    releases = {args["name"]: args for typ, args in res.values() if typ == "kubernetes:helm.sh/v4:Chart"}
    assert set(releases) == charts
    values_dir = build / "sites" / site / "helm"
    for chart, args in releases.items():
        assert args["chart"] == str(ROOT / "charts" / chart) and Path(args["chart"], "Chart.yaml").exists()
        rendered = json.loads((values_dir / f"{chart}.values.yaml").read_text().split("\n", 1)[1])
        got = _plain(args["values"])
        for key in rendered:  # the chart gets camkit's values unchanged (plus deploy-time keys for the VMS)
            assert got[key] == _plain(rendered[key]), (chart, key)
    namespaces = {_plain(a)["metadata"]["name"]: _plain(a) for t, a in res.values() if t == "kubernetes:core/v1:Namespace"}
    assert set(namespaces) == {cs.NAMESPACES[c] for c in charts} - {"rook-ceph"}
    for ns in namespaces.values():
        assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    roles = [a for t, a in res.values() if t == "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding"]
    assert len(roles) == len(namespaces)
    assert {_plain(r)["subjects"][0]["name"] for r in roles} == {f"oidc:/{site}/admin"}


@pytest.mark.parametrize("site", ["ioc", "hoan-kiem", "hang-bac"])
def test_kubernetes_inputs_pass_strict_validation(build: Path, site: str) -> None:
    res = deploy(build, site)
    checked = 0
    for name, (typ, args) in res.items():
        if not typ.startswith("kubernetes:") or typ.startswith("kubernetes:helm.sh"):
            continue
        kubernetes_validate.validate(_plain(args), KUBE, strict=True)
        checked += 1
    assert checked >= 4


def test_secrets_stay_secret(build: Path) -> None:
    res = deploy(build, "hoan-kiem")
    vms = next(a for t, a in res.values() if t == "kubernetes:helm.sh/v4:Chart" and a["name"] == "vms")
    # the camera credentials reach the chart as a secret value, not as plain text
    assert SECRET_SIG in vms["values"] and "s3cret-from-vault" in json.dumps(vms["values"])
    secrets = {(_plain(a)["metadata"]["namespace"], _plain(a)["metadata"]["name"]): a
               for t, a in res.values() if t == "kubernetes:core/v1:Secret"}
    # the district relays its wards and runs an IVA: a service client secret for the VMS and for the IVA
    assert set(secrets) == {("camkit-vms", "vms-tls"), ("camkit-vms", "camkit-service-client"),
                            ("camkit-iva", "camkit-service-client"), ("camkit-vms", "city-backup-credentials")}
    for s in secrets.values():
        assert SECRET_SIG in s["stringData"]
    # nothing secret is in the generated stack configuration
    text = (build / "stacks" / "Pulumi.hoan-kiem.yaml").read_text()
    assert "s3cret" not in text and "password:" not in text
    cfg = yaml.safe_load(text)["config"]
    assert cfg["camkit:site"] == "hoan-kiem" and not any("credential" in k.lower() for k in cfg)


def test_a_component_refuses_values_of_another_tier(build: Path) -> None:
    inputs = cs.SiteInputs.load("hang-bac", build / "sites" / "hang-bac" / "helm")
    with pytest.raises(ValueError, match="do not fit DistrictStack"):
        cs.DistrictStack("x", inputs, cs.DeploySecrets())
    with pytest.raises(ValueError, match="holds the values of 'hang-bac'"):
        cs.SiteInputs.load("ioc", build / "sites" / "hang-bac" / "helm")


def test_every_site_has_a_stack_config(build: Path) -> None:
    inv = pipeline.load(EXAMPLE)
    files = {p.name for p in (build / "stacks").glob("Pulumi.*.yaml")}
    assert files == {f"Pulumi.{s}.yaml" for s in inv.sites if inv.sites[s].kind.value != "private_system"}
    program = (ROOT / "stacks" / "Pulumi.yaml").read_text()
    assert yaml.safe_load(program)["runtime"]["name"] == "python"


def test_service_client_secrets_go_where_tokens_are_fetched(build: Path) -> None:
    # the IOC: one key per service client of the city in the realm import's Secret
    res = deploy(build, "ioc")
    by_name = {(_plain(a)["metadata"]["namespace"], _plain(a)["metadata"]["name"]): a
               for t, a in res.values() if t == "kubernetes:core/v1:Secret"}
    sso = json.loads((build / "sites" / "ioc" / "helm" / "sso.values.yaml").read_text().split("\n", 1)[1])
    clients = {c["id"] for c in sso["serviceClients"]["clients"]}
    assert "camkit-svc-ioc" in clients and len(clients) > 3
    assert SECRET_SIG in by_name[("camkit-sso", "sso-service-clients")]["stringData"]
    keys = _plain(by_name[("camkit-sso", "sso-service-clients")])["stringData"]
    assert set(keys) == clients
    # a ward that relays nothing and has no IVA fetches no token: no service client Secret
    ward = deploy(build, "hang-bac")
    assert not any(_plain(a)["metadata"]["name"] == "camkit-service-client"
                   for t, a in ward.values() if t == "kubernetes:core/v1:Secret")


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bytes]:
    """A secrets store made by `camkit secrets init` for the example (a throwaway password)."""
    import os
    import secrets as _secrets
    import subprocess

    tmp = tmp_path_factory.mktemp("store")
    password = _secrets.token_urlsafe(24)
    (tmp / "pw").write_text(password + "\n")
    env = dict(os.environ) | {"CAMKIT_VAULT_PASSWORD_FILE": str(tmp / "pw")}
    subprocess.run([sys.executable, "-m", "camkit.cli", "secrets", "init", str(EXAMPLE), "--store", str(tmp / "s")],
                   check=True, capture_output=True, env=env, timeout=600)
    return tmp / "s", password.encode()


@pytest.mark.parametrize("site", ["ioc", "hoan-kiem", "hang-bac"])
def test_the_stack_takes_every_deploy_secret_from_the_store(build: Path, store: tuple[Path, bytes],
                                                            site: str) -> None:
    """No hand-built JSON: camera credentials, TLS, relay fingerprints and the other Secrets come from the vault."""
    import hashlib

    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    from camkit.secrets import Store

    inputs = cs.SiteInputs.load(site, build / "sites" / site / "helm")
    res = deploy(build, site, cs.DeploySecrets.from_store(inputs, EXAMPLE, store[0], store[1]))
    made = {(_plain(a)["metadata"]["namespace"], _plain(a)["metadata"]["name"]): _plain(a)
            for t, a in res.values() if t == "kubernetes:core/v1:Secret"}
    assert made
    for (ns, name), sec in made.items():
        data = sec["stringData"]
        assert data and all(isinstance(v, str) and v for v in data.values()), f"{ns}/{name}: an empty key"
    vms = _plain(next(a for t, a in res.values() if t == "kubernetes:helm.sh/v4:Chart" and a["name"] == "vms")["values"])
    pulled = {c["credentials"] for s in inputs.values["vms"]["shards"] for c in s["cameras"] if "credentials" in c}
    assert set(vms["credentials"]) == pulled
    inv = pipeline.load(EXAMPLE)
    assert {c["user"] for c in vms["credentials"].values()} <= {inv.city.cameras.accounts.user}
    st = Store.open(store[0], store[1])
    for relay in (r for s in inputs.values["vms"]["shards"] for r in s["relays"]):
        cert = x509.load_pem_x509_certificate(st.public(f"sites/{relay['site']}/vms-tls.pem").read_bytes())
        assert vms["relayFingerprints"][relay["site"]] == hashlib.sha256(
            cert.public_bytes(serialization.Encoding.DER)).hexdigest()
    # the VMS certificate answers on the site's published VMS addresses, from the city's PKI
    cert = x509.load_pem_x509_certificate(made[("camkit-vms", "vms-tls")]["stringData"]["tls.crt"].encode())
    sans = {str(ip) for ip in cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            .get_values_for_type(x509.IPAddress)}
    assert sans == set(pipeline.plan(inv).vms_addresses(site)) and "issuing CA" in cert.issuer.rfc4514_string()
    if site == "ioc":
        assert {("camkit-sso", n) for n in ("sso-tls", "keycloak-db", "keycloak-admin", "sso-service-clients")} <= set(made)
    if site == "hoan-kiem":
        assert made[("camkit-vms", "city-backup-credentials")]["stringData"]["AWS_ACCESS_KEY_ID"].startswith("CK")
