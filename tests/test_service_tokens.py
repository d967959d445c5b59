"""Service tokens: a VMS relaying another VMS, and an IVA reading its VMS, authenticate with JWTs of the city
SSO that the token refresher (charts/camkit-lib/files/refresh-tokens.sh) fetches and writes into their
configuration.

The realm parts (service clients, one read scope per VMS) are checked against the access model. The refresher
runs for real — under busybox (the shell and tools of its image, curlimages/curl) when installed, with the real
curl — against a local HTTPS token endpoint. That endpoint is a simulator of Keycloak's client-credentials
grant, because Keycloak cannot run here (no image registry or Maven repository is reachable): it issues what
the generated realm defines (client secret check, only the client's optional scopes, the scope's hardcoded
claim, the client's token lifespan, a lightweight access token's claims) and signs with RS256 like Keycloak.
What the composed MediaMTX configuration carries is then checked the way MediaMTX checks a relay's token.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import re
import shutil
import ssl
import subprocess
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from test_charts import objects, rendered

from conftest import EXAMPLE, ROOT

SCRIPT = ROOT / "charts" / "camkit-lib" / "files" / "refresh-tokens.sh"
RTSP_URL_MAX = 2048  # gortsplib: requestMaxURLLength (the request URL carries the JWT as ?jwt=)
SECRET = "s3rvice-client-secret-for-tests-only-0123"


def mediamtx_allows(perms: list[dict[str, str]], action: str, path: str) -> bool:
    """MediaMTX's matchesPermission (internal/auth/manager.go) for read/publish/playback."""
    for p in perms:
        if p["action"] != action:
            continue
        want = p.get("path", "")
        if want == "" or want == path or (want.startswith("~") and re.search(want[1:], path)):
            return True
    return False


# --- the realm follows the access model ---------------------------------------------------------------


def test_service_clients_read_exactly_the_vms_they_pull_from() -> None:
    inv, values = rendered(EXAMPLE)
    sso = values[("ioc", "sso")]
    realm = sso["realm"]
    scopes = {s["name"]: s for s in realm["clientScopes"]}
    clients = {c["clientId"]: c for c in realm["clients"] if c["clientId"].startswith("camkit-svc-")}
    assert sorted(clients) == sorted(c["id"] for c in sso["serviceClients"]["clients"])
    for (sid, chart), v in values.items():
        if chart == "vms":
            sources = {r["site"] for s in v["shards"] for r in s["relays"]}
        elif chart == "iva":
            sources = {sid}  # Frigate reads its own VMS
        else:
            continue
        if not sources:
            continue
        assert v["tokens"]["clientId"] == f"camkit-svc-{sid}"
        client = clients[f"camkit-svc-{sid}"]
        granted = set(client["optionalClientScopes"])
        assert {f"vms-read-{u}" for u in sources} <= granted
        assert client["defaultClientScopes"] == []
        assert client["serviceAccountsEnabled"] and not client["publicClient"]
        assert not client["standardFlowEnabled"] and not client["directAccessGrantsEnabled"]
        assert client["secret"].startswith("$(env:SVC_")  # the import job's environment, never the file
    # a client gets no scope beyond what its VMS relays and its IVA reads
    for cid, client in clients.items():
        unit = cid.removeprefix("camkit-svc-")
        if inv.sites[unit].kind.value == "private_system":  # its recorder publishes, and may do nothing else
            assert client["optionalClientScopes"] == [f"vms-publish-{unit}"]
            claim = json.loads(scopes[f"vms-publish-{unit}"]["protocolMappers"][0]["config"]["claim.value"])
            assert [c["action"] for c in claim] == ["publish"]
            continue
        need = {r["site"] for s in values[(unit, "vms")]["shards"] for r in s["relays"]}
        if (unit, "iva") in values:
            need.add(unit)
        assert set(client["optionalClientScopes"]) == {f"vms-read-{u}" for u in need}
    # each scope reads one VMS: every camera path there, nothing of another unit
    cams_at = {sid: v["shards"][0]["cameras"] for (sid, c), v in values.items() if c == "vms"}
    for name, scope in scopes.items():
        if name.startswith("vms-publish-"):
            continue  # a private system's (test_access_check, test_rtsp_tokens)
        unit = name.removeprefix("vms-read-")
        mapper = scope["protocolMappers"][0]["config"]
        perms = json.loads(mapper["claim.value"])
        assert mapper["lightweight.claim"] == "true" and mapper["claim.name"] == "mediamtx_permissions"
        for cam in cams_at[unit]:
            assert mediamtx_allows(perms, "read", cam["path"])
            assert not mediamtx_allows(perms, "playback", cam["path"])
        for other, cams in cams_at.items():
            if other != unit and cams:
                assert not mediamtx_allows(perms, "read", cams[0]["path"])
    assert "$(env:" not in json.dumps({k: v for k, v in realm.items() if k != "clients"})


def test_the_import_job_reads_each_client_secret_from_the_secret() -> None:
    _, values = rendered(EXAMPLE)
    sso = values[("ioc", "sso")]
    job = next(d for d in objects("sso", sso) if d["kind"] == "Job")
    env = {e["name"]: e for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["IMPORT_VARSUBSTITUTION_ENABLED"]["value"] == "true"
    for c in sso["serviceClients"]["clients"]:
        ref = env[c["env"]]["valueFrom"]["secretKeyRef"]
        assert ref == {"name": "sso-service-clients", "key": c["id"]}
    realm_cm = next(d for d in objects("sso", sso) if d["kind"] == "ConfigMap")
    assert SECRET not in json.dumps(realm_cm)


# --- the refresher, run for real against a token endpoint ------------------------------------------------


class TokenEndpoint:
    """Keycloak's client-credentials grant as the generated realm defines it (a simulator: see the module)."""

    def __init__(self, realm: dict[str, Any], secrets: dict[str, str], tmp: Path) -> None:
        self.realm, self.secrets = realm, secrets
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = "camkit-test-key"
        self.requests: list[dict[str, Any]] = []
        ca_key, ca = _ca()
        leaf_key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.timezone.utc)
        import ipaddress

        leaf = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sso")]))
                .issuer_name(ca.subject).public_key(leaf_key.public_key()).serial_number(2)
                .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
                .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                               critical=False)
                .sign(ca_key, hashes.SHA256()))
        self.ca_file = tmp / "sso-ca.crt"
        self.ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
        (tmp / "sso.crt").write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
        (tmp / "sso.key").write_bytes(leaf_key.private_bytes(serialization.Encoding.PEM,
                                                             serialization.PrivateFormat.PKCS8,
                                                             serialization.NoEncryption()))
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(tmp / "sso.crt", tmp / "sso.key")
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
                status, answer = endpoint.grant(self.path, self.headers.get("Authorization", ""), parse_qs(body))
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.issuer = f"https://127.0.0.1:{self.server.server_port}/realms/{realm['realm']}"
        self.url = self.issuer + "/protocol/openid-connect/token"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)

    def grant(self, path: str, auth: str, form: dict[str, list[str]]) -> tuple[int, dict[str, Any]]:
        self.requests.append({"auth": auth, "form": form})
        if path != urlsplit(self.url).path or form.get("grant_type") != ["client_credentials"]:
            return 400, {"error": "unsupported_grant_type"}
        if not auth.startswith("Basic "):
            return 401, {"error": "invalid_client"}
        cid, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
        client = next((c for c in self.realm["clients"] if c["clientId"] == cid), None)
        env = client["secret"][len("$(env:"):-1] if client and client.get("secret", "").startswith("$(env:") else None
        if client is None or not client.get("serviceAccountsEnabled") or self.secrets.get(env or "") != secret:
            return 401, {"error": "unauthorized_client", "error_description": "Invalid client or Invalid client credentials"}
        asked = form.get("scope", [""])[0].split()
        allowed = set(client.get("optionalClientScopes", [])) | set(client.get("defaultClientScopes", []))
        if any(s not in allowed for s in asked if s != "openid"):
            return 400, {"error": "invalid_scope", "error_description": "Invalid scopes: " + " ".join(asked)}
        now = int(time.time())
        lifespan = int(client["attributes"]["access.token.lifespan"])
        # a lightweight access token: exp iat jti iss typ azp scope, plus claims of mappers marked lightweight
        claims: dict[str, Any] = {"exp": now + lifespan, "iat": now, "jti": f"onrtcc:{uuid.uuid4()}",
                                  "iss": self.issuer, "typ": "Bearer", "azp": cid, "scope": ""}
        scopes = {s["name"]: s for s in self.realm["clientScopes"]}
        for name in asked:
            for m in scopes[name]["protocolMappers"]:
                cfg = m["config"]
                if cfg.get("lightweight.claim") == "true" and cfg.get("access.token.claim") == "true":
                    claims[cfg["claim.name"]] = json.loads(cfg["claim.value"])
        token = jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": self.kid})
        return 200, {"access_token": token, "expires_in": lifespan, "token_type": "Bearer",
                     "not-before-policy": 0, "scope": ""}


def _ca() -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "camkit test SSO CA")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return key, cert


def _shell_env(tmp: Path) -> tuple[list[str], dict[str, str]]:
    """busybox sh with busybox's tools and the real curl only (the refresher image's set), else /bin/sh."""
    bb = shutil.which("busybox")
    if bb is None:
        return ["/bin/sh"], {"PATH": os.environ["PATH"]}
    bin_dir = tmp / "bin"
    if bin_dir.exists():
        return [bb, "sh"], {"PATH": str(bin_dir)}
    bin_dir.mkdir()
    for tool in ("sh", "sed", "grep", "sort", "tr", "cp", "mv", "rm", "date", "sleep", "cat", "printf", "test"):
        (bin_dir / tool).symlink_to(bb)
    curl = shutil.which("curl")
    assert curl, "curl is needed (the refresher image's only non-busybox tool)"
    (bin_dir / "curl").symlink_to(curl)
    return [bb, "sh"], {"PATH": str(bin_dir)}


@pytest.fixture
def endpoint(tmp_path: Path) -> Iterator[tuple[TokenEndpoint, dict[str, Any]]]:
    _, values = rendered(EXAMPLE)
    sso = values[("ioc", "sso")]
    secrets = {c["env"]: SECRET for c in sso["serviceClients"]["clients"]}
    ep = TokenEndpoint(sso["realm"], secrets, tmp_path)
    try:
        yield ep, values
    finally:
        ep.close()


def _refresh(tmp: Path, ep: TokenEndpoint, template: str, client_id: str, secret: str, out: Path
             ) -> subprocess.CompletedProcess[str]:
    (tmp / "template.yml").write_text(template)
    (tmp / "client-secret").write_text(secret + "\n")
    shell, env = _shell_env(tmp)
    env.update(TEMPLATE=str(tmp / "template.yml"), OUT=str(out), TOKEN_URL=ep.url, CLIENT_ID=client_id,
               CLIENT_SECRET_FILE=str(tmp / "client-secret"), CA_FILE=str(ep.ca_file), REFRESH_AT_MINUTE="150",
               TZ="ICT-7", ONCE="1")
    return subprocess.run([*shell, str(SCRIPT)], env=env, capture_output=True, text=True, timeout=120)


def _vms_config(values: dict[str, Any]) -> str:
    docs = objects("vms", values)
    return next(d for d in docs if d["kind"] == "Secret" and d["metadata"]["name"].endswith("-config"))[
        "stringData"]["mediamtx.yml"]


def _credentials_for(v: dict[str, Any]) -> dict[str, Any]:
    return {**v, "credentials": {c["credentials"]: {"user": "u", "password": "p"} for s in v["shards"]
                                 for c in s["cameras"] if "credentials" in c},
            "relayFingerprints": {r["site"]: "ab:cd" for s in v["shards"] for r in s["relays"]}}


def test_refresher_writes_relay_tokens_that_the_source_vms_accepts(
        tmp_path: Path, endpoint: tuple[TokenEndpoint, dict[str, Any]]) -> None:
    ep, values = endpoint
    vms = _credentials_for(values[("so-gtvt", "vms")])
    template = _vms_config(vms)
    assert "@@token:" in template
    out = tmp_path / "run" / "mediamtx.yml"
    out.parent.mkdir()
    done = _refresh(tmp_path, ep, template, vms["tokens"]["clientId"], SECRET, out)
    assert done.returncode == 0, done.stderr
    text = out.read_text()
    assert "@@token:" not in text and SECRET not in text
    paths = yaml.safe_load(text)["paths"]
    relays = {name: p for name, p in paths.items() if name.startswith("~")}
    assert relays
    public = ep.key.public_key()
    seen_tokens = set()
    for name, p in relays.items():
        u = urlsplit(p["source"])
        source_site = u.path.split("/")[1]  # rtsps://host:8322/$G1/$G2?jwt=<jwt>, $G1 = the site
        m = re.match(r"~\^so-gtvt/\(([^)]+)\)/", name)
        assert m and source_site == "$G1"
        site = m.group(1)
        # no credentials in the URL's user part: the JWT travels as the query parameter MediaMTX documents
        assert u.username is None and u.password is None and u.scheme == "rtsps"
        token = parse_qs(u.query)["jwt"][0]
        seen_tokens.add(token)
        claims = jwt.decode(token, public, algorithms=["RS256"], options={"verify_aud": False})
        assert claims["azp"] == "camkit-svc-so-gtvt"
        # the source VMS serves the camera at <site>/<camera>: the token reads there and nowhere else
        recorded = values[(site, "vms")]["shards"][0]["cameras"]
        assert mediamtx_allows(claims["mediamtx_permissions"], "read", recorded[0]["path"])
        assert not mediamtx_allows(claims["mediamtx_permissions"], "read", "so-gtvt/x")
        assert not mediamtx_allows(claims["mediamtx_permissions"], "playback", recorded[0]["path"])
        # the request URL (the longest camera path the relay serves) must fit gortsplib's limit
        longest = max((len(c) for s in values[(site, "vms")]["shards"] for c in
                       (x["path"] for x in s["cameras"])), default=0)
        url = p["source"].replace("$G1/$G2", "x" * longest)
        assert len(url) <= RTSP_URL_MAX, len(url)
        assert claims["exp"] - claims["iat"] == 72 * 3600
    assert len(seen_tokens) == len({r["site"] for s in vms["shards"] for r in s["relays"]})  # a token per source
    # the secret went to the endpoint in the Authorization header only, each request one scope
    assert all(r["auth"].startswith("Basic ") and len(r["form"]["scope"][0].split()) == 1 for r in ep.requests)
    assert not any(SECRET in json.dumps(r["form"]) for r in ep.requests)


def test_refresher_writes_the_iva_configuration_with_its_own_vms_token(
        tmp_path: Path, endpoint: tuple[TokenEndpoint, dict[str, Any]]) -> None:
    ep, values = endpoint
    iva = values[("hoan-kiem", "iva")]
    docs = objects("iva", iva)
    template = next(d for d in docs if d["kind"] == "ConfigMap" and "config.yml" in d.get("data", {}))["data"]["config.yml"]
    out = tmp_path / "config.yml"
    done = _refresh(tmp_path, ep, template, iva["tokens"]["clientId"], SECRET, out)
    assert done.returncode == 0, done.stderr
    cams = yaml.safe_load(out.read_text())["cameras"]
    for cam in cams.values():
        u = urlsplit(cam["ffmpeg"]["inputs"][0]["path"])
        assert u.scheme == "rtsps" and u.password is None  # RTSPS; the JWT as ?jwt=, never a password
        claims = jwt.decode(parse_qs(u.query)["jwt"][0], ep.key.public_key(), algorithms=["RS256"],
                            options={"verify_aud": False})
        assert mediamtx_allows(claims["mediamtx_permissions"], "read", u.path.lstrip("/"))
    # the Frigate container starts from the composed file and is restarted when it changes
    dep = next(d for d in docs if d["kind"] == "Deployment"
               and d["metadata"]["labels"]["app.kubernetes.io/component"] == "iva")
    spec = dep["spec"]["template"]["spec"]
    assert spec["initContainers"][0]["restartPolicy"] == "Always"
    composed = next(v for v in spec["volumes"] if v["name"] == "composed")
    assert composed["emptyDir"]["medium"] == "Memory"  # tokens never reach the node's disk
    frigate = spec["containers"][0]
    assert "/run/camkit/config.yml" in frigate["command"][-1]
    assert frigate["livenessProbe"]["exec"]["command"][:2] == ["cmp", "-s"]


def test_refresher_refused_leaves_the_running_configuration_alone(
        tmp_path: Path, endpoint: tuple[TokenEndpoint, dict[str, Any]]) -> None:
    ep, values = endpoint
    vms = _credentials_for(values[("so-gtvt", "vms")])
    out = tmp_path / "mediamtx.yml"
    out.write_text("the configuration MediaMTX runs with\n")
    done = _refresh(tmp_path, ep, _vms_config(vms), vms["tokens"]["clientId"], "wrong-secret", out)
    assert done.returncode == 1
    assert "refused" in done.stderr and "wrong-secret" not in done.stderr
    assert out.read_text() == "the configuration MediaMTX runs with\n"
    assert not (tmp_path / "mediamtx.yml.tmp").exists()
    # a client asking for a VMS it does not relay gets nothing
    other = _refresh(tmp_path, ep, "source: rtsps://10.0.0.1:8322/x?jwt=@@token:police@@\n",
                     vms["tokens"]["clientId"], SECRET, out)
    assert other.returncode == 1 and "invalid_scope" in other.stderr
    assert out.read_text() == "the configuration MediaMTX runs with\n"


def test_vms_without_relays_runs_without_the_refresher() -> None:
    _, values = rendered(EXAMPLE)
    for (sid, chart), v in values.items():
        if chart != "vms":
            continue
        docs = objects("vms", _credentials_for(v))
        for sts in (d for d in docs if d["kind"] == "StatefulSet"):
            shard = next(s for s in v["shards"] if sts["metadata"]["name"].endswith(f"-{s['name']}"))
            spec = sts["spec"]["template"]["spec"]
            assert bool(spec.get("initContainers")) == bool(shard["relays"]), sid
            arg = spec["containers"][0]["args"][0]
            assert arg == ("/run/camkit/mediamtx.yml" if shard["relays"] else "/config/mediamtx.yml")


def test_pods_that_fetch_tokens_may_reach_the_sso() -> None:
    _, values = rendered(EXAMPLE)
    checked = 0
    for (sid, chart), v in values.items():
        if chart not in ("vms", "iva") or "tokens" not in v:
            continue
        host = urlsplit(v["tokens"]["url"]).hostname
        component = "vms" if chart == "vms" else "iva"
        # other sites: the SSO site's published ingress address; the SSO's own site: its ingress controller pods
        # (inside the cluster the Service address is DNAT'd to them before the NetworkPolicy sees the packet)
        peer = {"namespace": "kube-system", "component": "controller"} if sid == "ioc" else {"cidr": f"{host}/32"}
        allowed = [r for r in v["networkPolicy"]["egress"] if r["component"] == component
                   and peer in r["peers"] and {"port": 443, "protocol": "TCP"} in r["ports"]]
        assert allowed, (sid, chart)
        checked += 1
    assert checked >= 6
