"""The city PKI and per-device secrets, kept in the secrets store (`camkit.secrets`).

Root CA (offline: its key lives in its own vault file) -> one issuing CA per site that runs RADIUS
(each district/department, and tier-1 sites) -> RADIUS server certificates and the client
certificates of every `eap-tls` camera the site's RADIUS serves (CN and SAN = the camera id).
Also a RADIUS shared secret per access switch. All ECDSA P-256 / SHA-256; CRLs for every CA.
Generated once and reused; `rotate_*` replace on purpose (a rotated camera certificate is revoked).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from typing import Any, Callable

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from camkit.ipplan import Plan
from camkit.loader import Inventory
from camkit.model import Camera, NetworkRole, ServerRole
from camkit.secrets import ROOT_CA_DOC, SWITCH_SECRETS_KEY, Store, ca_doc, random_secret

ROOT_DAYS, ISSUING_DAYS, SERVER_DAYS, CLIENT_DAYS, CRL_DAYS = 7300, 3650, 825, 1825, 365
ROOT_DOC = ROOT_CA_DOC


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _pem_key(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def _load_key(pem: str) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return key


def _name(cn: str, city: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, f"camkit {city}"),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


@dataclass
class Issuer:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey


def _ca_cert(subject: x509.Name, key: ec.EllipticCurvePrivateKey, issuer: Issuer | None, days: int,
             path_len: int | None) -> x509.Certificate:
    now = _now()
    builder = (x509.CertificateBuilder().subject_name(subject)
               .issuer_name(issuer.cert.subject if issuer else subject)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=days))
               .add_extension(x509.BasicConstraints(ca=True, path_length=path_len), critical=True)
               .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False))
    if issuer:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()), critical=False)
    return builder.sign(issuer.key if issuer else key, hashes.SHA256())


def _leaf(cn: str, city: str, key: ec.EllipticCurvePrivateKey, issuer: Issuer, server: bool,
          dns: list[str], ips: list[str]) -> x509.Certificate:
    now = _now()
    sans: list[x509.GeneralName] = [x509.DNSName(d) for d in dns]
    sans += [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    eku = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
    return (x509.CertificateBuilder().subject_name(_name(cn, city)).issuer_name(issuer.cert.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=SERVER_DAYS if server else CLIENT_DAYS))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(True, False, True, False, False, False, False, False, False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([eku]), critical=False)
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()), critical=False)
            .sign(issuer.key, hashes.SHA256()))


def _crl(issuer: Issuer, revoked: list[int]) -> bytes:
    now = _now()
    builder = (x509.CertificateRevocationListBuilder().issuer_name(issuer.cert.subject)
               .last_update(now - dt.timedelta(minutes=5)).next_update(now + dt.timedelta(days=CRL_DAYS)))
    for serial in sorted(revoked):
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(now).build())
    return builder.sign(issuer.key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


SERVICE_TLS_KEY = "service_tls_keys"  # in the site's vault: Secret name (vms-tls, sso-tls) -> private key (PEM)


def service_cert_path(site: str, secret: str) -> str:
    """Where the store keeps a site's service certificate and its issuing CA (public: `Store.public`)."""
    return f"sites/{site}/{secret}.pem"


def service_certificates(inv: Inventory, plan: Plan, topo: Any) -> dict[str, dict[str, list[str]]]:
    """site -> the TLS Secret of each service it publishes -> the planned addresses it answers on: `vms-tls`
    (every VMS shard's published address), `sso-tls` (the SSO site's ingress)."""
    out: dict[str, dict[str, list[str]]] = {}
    for sid in inv.sites:
        services = plan.services(sid)
        vms = sorted(plan.vms_addresses(sid))
        if vms:
            out.setdefault(sid, {})["vms-tls"] = vms
        if sid == topo.sso_site and services.get("ingress"):
            out.setdefault(sid, {})["sso-tls"] = [services["ingress"]]
    return out


def radius_area(inv: Inventory) -> dict[str, list[str]]:
    """RADIUS site -> the sites whose switches it serves (the topology's rule)."""
    from camkit.topology import Topology

    return Topology(inv).radius_area


class Pki:
    def __init__(self, inv: Inventory, plan: Plan, store: Store):
        self.inv, self.plan, self.store = inv, plan, store
        self.city = inv.city.id
        self.created: list[str] = []

    # --- CAs -------------------------------------------------------------------------------------

    def root(self) -> Issuer:
        pem = self.store.get(ROOT_DOC, "key")
        if pem is None:
            key = _key()
            cert = _ca_cert(_name(f"camkit {self.city} root CA", self.city), key, None, ROOT_DAYS, 1)
            self.store.put(ROOT_DOC, "key", _pem_key(key))
            self.store.put(ROOT_DOC, "revoked", [])
            self.store.write_public("root-ca.pem", _pem(cert))
            self.created.append("root CA")
            issuer = Issuer(cert, key)
            self.store.write_public("root-ca.crl.pem", _crl(issuer, []))
            return issuer
        cert = x509.load_pem_x509_certificate(self.store.public("root-ca.pem").read_bytes())
        return Issuer(cert, _load_key(pem))

    def issuing(self, site: str) -> Issuer:
        pem = self.store.get(ca_doc(site), "key") or self.store.get(site, "issuing_ca_key")  # (stores before ca.*)
        if pem is None:
            root = self.root()
            key = _key()
            cert = _ca_cert(_name(f"camkit {self.city} {site} issuing CA", self.city), key, root, ISSUING_DAYS, 0)
            self.store.put(ca_doc(site), "key", _pem_key(key))
            self.store.put(site, "revoked", [])
            self.store.write_public(f"sites/{site}/issuing-ca.pem", _pem(cert))
            issuer = Issuer(cert, key)
            self.store.write_public(f"sites/{site}/issuing-ca.crl.pem", _crl(issuer, []))
            self.created.append(f"issuing CA {site}")
            return issuer
        cert = x509.load_pem_x509_certificate(self.store.public(f"sites/{site}/issuing-ca.pem").read_bytes())
        return Issuer(cert, _load_key(pem))

    # --- leaves ----------------------------------------------------------------------------------

    def ensure_all(self, areas: set[str] | None = None,
                   camera_filter: Callable[[Camera], bool] | None = None) -> list[str]:
        """Generate whatever is missing; never replace what exists.

        `areas` limits the work to some RADIUS sites, `camera_filter` to some cameras (benchmarks)."""
        for rsite, served in radius_area(self.inv).items():
            if areas is not None and rsite not in areas:
                continue
            issuer = self.issuing(rsite)
            site = self.inv.sites[rsite]
            for server in site.servers:
                if ServerRole.radius in server.roles:
                    self._server_cert(rsite, site.hostname(server.name), issuer, replace=False)
            for sid in served:
                for sw in self.inv.sites[sid].switches:
                    host = self.inv.sites[sid].hostname(sw.id)
                    keys = self.store.doc(sid).setdefault(SWITCH_SECRETS_KEY, {})
                    if host not in keys:
                        keys[host] = random_secret()
                        self.store._dirty.add(sid)
                        self.created.append(f"RADIUS secret {host}")
                for cam in self.inv.cameras_by_site[sid]:
                    if cam.dot1x == "eap-tls" and (camera_filter is None or camera_filter(cam)):
                        self._camera_cert(sid, cam.id, issuer, replace=False)
        return self.created

    def ensure_services(self) -> list[str]:
        """The TLS certificates of the services each site publishes (`service_certificates`): signed by the
        issuing CA of the site's RADIUS area (its own where it has none), the key in the site's vault
        (`service_tls_keys`), the certificate public (`sites/<site>/<secret>.pem`: the relays and the private
        publishers pin it). Never replaced once made."""
        from camkit.topology import Topology

        topo = Topology.of(self.inv)
        for sid, wanted in service_certificates(self.inv, self.plan, topo).items():
            keys = self.store.doc(sid).setdefault(SERVICE_TLS_KEY, {})
            for secret, ips in wanted.items():
                if secret in keys:
                    continue
                issuer = self.issuing(topo.radius_site(sid) or sid)
                key = _key()
                name = f"{secret.removesuffix('-tls')}.{sid}.{self.city}.camkit"
                cert = _leaf(name, self.city, key, issuer, True, [name], ips)
                keys[secret] = _pem_key(key)
                self.store._dirty.add(sid)
                self.store.write_public(service_cert_path(sid, secret), _pem(cert) + _pem(issuer.cert))
                self.created.append(f"{secret} certificate {sid}")
        return self.created

    def _server_cert(self, rsite: str, host: str, issuer: Issuer, replace: bool) -> None:
        keys = self.store.doc(rsite).setdefault("server_keys", {})
        if host in keys and not replace:
            return
        ip = self.plan.assignments[(NetworkRole.servers, host)].ip
        key = _key()
        cert = _leaf(host, self.city, key, issuer, True, [host], [ip])
        keys[host] = _pem_key(key)
        self.store._dirty.add(rsite)
        self.store.write_public(f"sites/{rsite}/{host}.pem", _pem(cert))
        self.created.append(f"RADIUS server certificate {host}")

    def _camera_cert(self, sid: str, cam_id: str, issuer: Issuer, replace: bool) -> None:
        keys = self.store.doc(sid).setdefault("camera_keys", {})
        if cam_id in keys and not replace:
            return
        key = _key()
        cert = _leaf(cam_id, self.city, key, issuer, False, [cam_id], [])
        keys[cam_id] = _pem_key(key)
        self.store._dirty.add(sid)
        self.store.write_public(f"sites/{sid}/cameras/{cam_id}.pem", _pem(cert))
        self.created.append(f"camera certificate {cam_id}")

    # --- rotation --------------------------------------------------------------------------------

    def rotate_camera(self, cam_id: str) -> None:
        """New key and certificate for a camera; the old certificate is revoked in its CA's CRL."""
        cam = self.inv.camera_index[cam_id]
        rsite = next(r for r, served in radius_area(self.inv).items() if cam.site in served)
        issuer = self.issuing(rsite)
        old = self.store.public(f"sites/{cam.site}/cameras/{cam_id}.pem")
        if old.exists():
            serial = x509.load_pem_x509_certificate(old.read_bytes()).serial_number
            revoked = self.store.doc(rsite).setdefault("revoked", [])
            revoked.append(serial)
            self.store._dirty.add(rsite)
            self.store.write_public(f"sites/{rsite}/issuing-ca.crl.pem", _crl(issuer, revoked))
        self._camera_cert(cam.site, cam_id, issuer, replace=True)

    def rotate_switch_secret(self, host: str) -> None:
        sid, _ = _switch_site(self.inv, host)
        self.store.doc(sid).setdefault(SWITCH_SECRETS_KEY, {})[host] = random_secret()
        self.store._dirty.add(sid)


def _switch_site(inv: Inventory, host: str) -> tuple[str, str]:
    for sid, site in inv.sites.items():
        for sw in site.switches:
            if site.hostname(sw.id) == host:
                return sid, sw.id
    raise KeyError(host)
