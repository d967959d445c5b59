"""The deploy-time secrets of a site's Pulumi stack, read from the secrets store: nobody hand-builds JSON.

`stacks/__main__.py` calls `deploy_secrets` when CAMKIT_SECRETS_DIR (the store), CAMKIT_INVENTORY and the vault
password (CAMKIT_VAULT_PASSWORD_FILE) are in its environment; the values become Pulumi secret outputs
(`camkit_stacks.DeploySecrets`), never a file. What it returns, from the site's rendered chart values:

- camera_credentials: the viewer account (`camkit.cameras.accounts`) of every camera the site's VMS pulls;
- relay_fingerprints: the sha256 of the VMS certificate of every site it relays (`camkit.pki`, public);
- tls: the site's service certificates and keys (`vms-tls`, `sso-tls`: `Pki.ensure_services`);
- extra: the SSO service client secret(s) and the generated credentials of `ensure_deploy_secrets`.
"""

from __future__ import annotations

import hashlib
import secrets as _random
import string
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from camkit.diagnostics import Diagnostic, InventoryError, Position
from camkit.loader import Inventory
from camkit.model import SiteKind
from camkit.pki import SERVICE_TLS_KEY, service_cert_path
from camkit.secrets import SERVICE_CLIENT_KEY, Store, random_secret

DEPLOY_KEY = "deploy_secrets"  # in the site's vault: Secret name -> {key: value} (only what is secret)
LOGINS = {"keycloak-db": "keycloak", "keycloak-admin": "camkit-admin"}  # Secret -> its user name (not secret)


def ensure_deploy_secrets(inv: Inventory, store: Store) -> list[str]:
    """Generate the credentials the stacks need and nothing else makes: Keycloak's database and admin logins at
    the SSO site; each district's credentials for the city archive (object store) when tier 2 backs up to the
    city. Existing ones are never replaced. (The city's object store must be given the districts' keys: not
    rendered yet.)"""
    from camkit.topology import Topology

    topo = Topology.of(inv)
    want: dict[str, dict[str, dict[str, str]]] = {}
    if topo.sso_site:
        want[topo.sso_site] = {name: {} for name in LOGINS}
    if inv.city.tiers.tier2.backup_to_city:
        for s in inv.sites.values():
            if s.tier == 2 and s.kind is not SiteKind.private_system:
                key_id = "CK" + "".join(_random.choice(string.ascii_uppercase + string.digits) for _ in range(18))
                want.setdefault(s.id, {})["city-backup-credentials"] = {"AWS_ACCESS_KEY_ID": key_id}
    created = []
    for sid, secrets in sorted(want.items()):
        have = dict(store.get(sid, DEPLOY_KEY) or {})
        new = {name: fixed for name, fixed in secrets.items() if name not in have}
        for name, fixed in new.items():
            secret_key = "AWS_SECRET_ACCESS_KEY" if name == "city-backup-credentials" else "password"
            have[name] = {**fixed, secret_key: random_secret(40)}
            created.append(f"{name} {sid}")
        if new:
            store.put(sid, DEPLOY_KEY, have)
    return created


def _missing(what: str, where: str) -> InventoryError:
    return InventoryError([Diagnostic(Position(where), f"the store has no {what}",
                                      "run `camkit secrets init` (it makes whatever is missing)")])


def fingerprint(store: Store, site: str, secret: str = "vms-tls") -> str:
    """sha256 (hex) of a site's service certificate, as MediaMTX's sourceFingerprint takes it."""
    path = store.public(service_cert_path(site, secret))
    if not path.exists():
        raise _missing(f"{secret} certificate of {site}", str(path))
    cert = x509.load_pem_x509_certificate(path.read_bytes())  # the first PEM block: the leaf
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def deploy_secrets(inv: Inventory, store: Store, sid: str, values: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Everything `camkit_stacks.DeploySecrets` takes for site `sid`, whose rendered chart values are `values`."""
    from camkit.cameras.accounts import credentials
    from camkit.render.helm_values import service_client_id

    out: dict[str, Any] = {"camera_credentials": {}, "relay_fingerprints": {}, "tls": {}, "extra": {}}
    for shard in values.get("vms", {}).get("shards", []):
        for cam in shard["cameras"]:
            if "credentials" in cam:
                viewer = credentials(inv, store, cam["credentials"]).accounts["user"]
                out["camera_credentials"][cam["credentials"]] = {"user": viewer.user, "password": viewer.password}
        for relay in shard["relays"]:
            out["relay_fingerprints"][relay["site"]] = fingerprint(store, relay["site"])
    keys = store.get(sid, SERVICE_TLS_KEY) or {}
    for secret, key in sorted(keys.items()):
        out["tls"][secret] = {"tls.crt": store.public(service_cert_path(sid, secret)).read_text("utf-8"),
                              "tls.key": key}
    if "vms" in values and "vms-tls" not in out["tls"]:
        raise _missing(f"vms-tls certificate of {sid}", str(store.root / f"{sid}.vault.yml"))
    if (mine := store.get(sid, SERVICE_CLIENT_KEY)) is not None:
        out["extra"]["camkit-service-client"] = {"secret": mine}
    if "sso" in values:
        clients = {}
        for c in values["sso"]["serviceClients"]["clients"]:
            unit = next(s for s in inv.sites if service_client_id(s) == c["id"])
            if (secret := store.get(unit, SERVICE_CLIENT_KEY)) is None:
                raise _missing(f"SSO service client secret of {unit}", str(store.root / f"{unit}.vault.yml"))
            clients[c["id"]] = secret
        out["extra"]["sso-service-clients"] = clients
    for name, keys in (store.get(sid, DEPLOY_KEY) or {}).items():
        out["extra"][name] = ({"username": LOGINS[name]} if name in LOGINS else {}) | keys
    return out
