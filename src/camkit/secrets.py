"""The secrets store: generated secrets and private keys, encrypted in Ansible Vault format.

Layout of a store (default `secrets/<city id>/`, never inside the inventory or the build tree):
    root-ca.vault.yml         the root CA key         } under the CA password (CAMKIT_CA_PASSWORD_FILE, kept
    ca.<site>.vault.yml       a site's issuing CA key } offline: only `camkit secrets init/rotate` need it)
    <site>.vault.yml          per site: RADIUS server keys, switch RADIUS secrets,
                              camera client keys, camera account passwords (camkit.cameras.accounts);
                              an Ansible Vault file under the site's own vault ID and password
                              (`camkit secrets site-password`, then `ansible-vault view --vault-id <site>@F`)
    camera-bootstrap.vault.yml  factory logins of cameras not hardened yet (`camkit secrets bootstrap`)
    public/                   certificates and CRLs: public, unencrypted

The vault password comes from CAMKIT_VAULT_PASSWORD_FILE (a file) or CAMKIT_VAULT_PASSWORD; the CA keys' password
from CAMKIT_CA_PASSWORD_FILE (without it the CA vaults use the vault password, as stores made before did).
Each site's vault is encrypted with a password of its own, derived from the vault password and the site id
(HKDF-SHA256, one way): whoever holds the store's password opens every site, whoever holds one site's password
opens that site's vault and nothing else. Files written before (format 1.1, no vault ID, the store's password)
still open and are rewritten under the site's password when next saved.
Secrets are generated once and reused; `rotate` replaces them explicitly.
"""

from __future__ import annotations

import os
import secrets as _random
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from camkit.diagnostics import Diagnostic, InventoryError, Position

SECRET_ALPHABET = string.ascii_letters + string.digits


def vault_password() -> bytes:
    path = os.environ.get("CAMKIT_VAULT_PASSWORD_FILE")
    if path:
        try:
            text = Path(path).read_text("utf-8").strip()
        except OSError as exc:
            raise InventoryError([Diagnostic(Position(path), f"cannot read the vault password file: {exc.strerror}",
                                             "point CAMKIT_VAULT_PASSWORD_FILE at a readable file")]) from exc
        if text:
            return text.encode()
    text = os.environ.get("CAMKIT_VAULT_PASSWORD", "")
    if not text:
        raise InventoryError([Diagnostic(Position("CAMKIT_VAULT_PASSWORD_FILE"), "no vault password",
                                         "set CAMKIT_VAULT_PASSWORD_FILE to a file holding the secrets store password")])
    return text.encode()


CA_PASSWORD_ENV = "CAMKIT_CA_PASSWORD_FILE"
ROOT_CA_DOC = "root-ca"


def ca_doc(site: str) -> str:
    """The vault of a site's issuing CA key (a site id has no '.': never a site's own vault)."""
    return f"ca.{site}"


def is_ca_doc(name: str) -> bool:
    return name == ROOT_CA_DOC or name.startswith("ca.")


CAMERA_BOOTSTRAP_DOC = "camera-bootstrap"  # factory logins (camkit.cameras.accounts): the city's, no site's
RESERVED_DOCS = frozenset({ROOT_CA_DOC, CAMERA_BOOTSTRAP_DOC})  # never a site id (camkit.loader refuses them)


def is_site_doc(name: str) -> bool:
    """A site's own vault, under the site's vault ID and derived password."""
    return not is_ca_doc(name) and name not in RESERVED_DOCS


SITE_VAULT_SALT = b"camkit site vault v1"


def site_password(password: bytes, site: str) -> bytes:
    """A site vault's password: HKDF-SHA256 of the store's password with the site id as context. One way: a
    site's password reveals neither the store's password nor another site's."""
    import base64

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=SITE_VAULT_SALT, info=site.encode()).derive(password)
    return base64.urlsafe_b64encode(key).rstrip(b"=")


def ca_password() -> bytes | None:
    """The CA keys' offline password, when CAMKIT_CA_PASSWORD_FILE names one."""
    path = os.environ.get(CA_PASSWORD_ENV)
    if not path:
        return None
    try:
        text = Path(path).read_text("utf-8").strip()
    except OSError as exc:
        raise InventoryError([Diagnostic(Position(path), f"cannot read the CA password file: {exc.strerror}",
                                         f"point {CA_PASSWORD_ENV} at a readable file")]) from exc
    if not text:
        raise InventoryError([Diagnostic(Position(path), "the CA password file is empty",
                                         "write the CA keys' password in it")])
    return text.encode()


def write_private(path: Path, data: bytes) -> None:
    """Write a password file: a new file only (never over an existing file or through a link), mode 600."""
    if path.exists() or path.is_symlink():
        raise InventoryError([Diagnostic(Position(str(path)), "the password file exists",
                                         "give a new path: a password file is never overwritten")])
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def _vault(*secrets: tuple[str, bytes]) -> Any:
    from ansible.parsing.vault import VaultLib, VaultSecret

    return VaultLib([(vault_id, VaultSecret(password)) for vault_id, password in secrets])


def random_secret(length: int = 32) -> str:
    return "".join(_random.choice(SECRET_ALPHABET) for _ in range(length))


@dataclass
class Store:
    """Opened lazily: a vault file is decrypted on first use and written back when changed."""

    root: Path
    password: bytes
    ca_password: bytes | None = None  # the CA vaults' password (None: the vault password)
    _data: dict[str, dict[str, Any]] = field(default_factory=dict)
    _dirty: set[str] = field(default_factory=set)

    @classmethod
    def open(cls, root: Path | str, password: bytes | None = None, create: bool = False) -> Store:
        """Open a store; only `camkit secrets init` creates one (`create`): a mistyped --store must not become a
        new store with new camera passwords that the applier would then log in with."""
        root = Path(root)
        if not create and not root.is_dir():
            raise InventoryError([Diagnostic(Position(str(root)), "no secrets store here",
                                             "create it with `camkit secrets init`, or pass the store you meant "
                                             "(--store, CAMKIT_SECRETS_DIR)")])
        root.mkdir(parents=True, exist_ok=True)
        os.chmod(root, 0o700)
        (root / "public").mkdir(exist_ok=True)
        return cls(root, password if password is not None else vault_password(), ca_password())

    def _password(self, name: str) -> bytes:
        return self.ca_password if is_ca_doc(name) and self.ca_password is not None else self.password

    def _secrets(self, name: str) -> list[tuple[str, bytes]]:
        """(vault ID, password) a file may be under, the one it is written with first: a site's own, then (a
        store written before per-site passwords) the store's."""
        if is_site_doc(name):
            return [(name, site_password(self.password, name)), ("default", self.password)]
        return [("default", self._password(name))]

    def _path(self, name: str) -> Path:
        return self.root / f"{name}.vault.yml"

    def doc(self, name: str) -> dict[str, Any]:
        if name not in self._data:
            path = self._path(name)
            if path.exists():
                from ansible.errors import AnsibleError

                try:
                    plain = _vault(*self._secrets(name)).decrypt(path.read_bytes())
                except AnsibleError as exc:
                    which = (f"the CA password ({CA_PASSWORD_ENV})" if is_ca_doc(name)
                             else "the vault password (CAMKIT_VAULT_PASSWORD_FILE)")
                    raise InventoryError([Diagnostic(Position(str(path)), "cannot decrypt the secrets store file",
                                                     f"wrong or missing {which}?")]) from exc
                self._data[name] = yaml.safe_load(plain) or {}
            else:
                self._data[name] = {}
        return self._data[name]

    def get(self, name: str, key: str) -> Any:
        return self.doc(name).get(key)

    def put(self, name: str, key: str, value: Any) -> None:
        self.doc(name)[key] = value
        self._dirty.add(name)

    def ensure(self, name: str, key: str, make: Any) -> Any:
        doc = self.doc(name)
        if key not in doc:
            self.put(name, key, make())
        return doc[key]

    def public(self, rel: str) -> Path:
        return self.root / "public" / rel

    def write_public(self, rel: str, data: bytes) -> None:
        path = self.public(rel)
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_bytes() != data:
            tmp = path.with_name(path.name + ".tmp")
            tmp.write_bytes(data)
            tmp.replace(path)

    def save(self) -> list[str]:
        written = []
        for name in sorted(self._dirty):
            plain = yaml.safe_dump(self._data[name], sort_keys=True, allow_unicode=True)
            path = self._path(name)
            tmp = path.with_name(path.name + ".tmp")
            vault_id, password = self._secrets(name)[0]
            tmp.write_bytes(_vault((vault_id, password)).encrypt(
                plain.encode(), vault_id=None if vault_id == "default" else vault_id))
            os.chmod(tmp, 0o600)
            tmp.replace(path)
            written.append(path.name)
        self._dirty.clear()
        return written


SERVICE_CLIENT_KEY = "sso_service_client_secret"
SWITCH_SECRETS_KEY = "switch_radius_secrets"  # in a site's vault: switch host -> its RADIUS shared secret


def ensure_service_clients(site_ids: list[str], store: Store) -> list[str]:
    """The secret of each site's SSO service client (`camkit-svc-<site>`: its VMS relays other VMS and its IVA
    reads its VMS with tokens of that client). Kept as `sso_service_client_secret` in the site's vault; the
    stacks put it in the site's Secret `camkit-service-client` and, for the realm import, in the IOC's
    `sso-service-clients`. Existing secrets are never replaced."""
    created = []
    for sid in site_ids:
        if store.get(sid, SERVICE_CLIENT_KEY) is None:
            store.put(sid, SERVICE_CLIENT_KEY, random_secret(40))
            created.append(f"SSO service client {sid}")
    return created
