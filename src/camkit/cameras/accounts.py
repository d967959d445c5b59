"""Camera credentials in the secrets store: the three camkit accounts per camera and the bootstrap ones.

    <site>.vault.yml   camera_accounts:          {camera id: {administrator: pw, operator: pw, user: pw}}
                       camera_accounts_previous: the set a rotation replaced (the applier still logs in
                                                 with it until the camera carries the new one)
    camera-bootstrap.vault.yml  factory credentials: {cameras: {id: {user, password}},
                                models: {"vendor/model": {...}}, vendors: {vendor: {...}}}

Passwords are generated once, reused, and replaced only by `camkit secrets rotate --camera-accounts`.
"""

from __future__ import annotations

import secrets as _random
import string
from dataclasses import dataclass

from camkit.cameras.profile import LEVELS
from camkit.diagnostics import Diagnostic, InventoryError, Position
from camkit.loader import Inventory
from camkit.secrets import CAMERA_BOOTSTRAP_DOC, Store

BOOTSTRAP_DOC = CAMERA_BOOTSTRAP_DOC
ACCOUNTS_KEY, PREVIOUS_KEY = "camera_accounts", "camera_accounts_previous"  # in the site's vault (above)
PINS_KEY = "camera_tls_pins"  # in the site's vault: camera id -> sha256 of its HTTPS certificate (onvif.Target.pin)
# specials that survive RTSP URLs, XML and vendor web forms unescaped
SPECIALS = "!*+-=_~^"
CLASSES = {"upper": string.ascii_uppercase, "lower": string.ascii_lowercase, "digit": string.digits,
           "special": SPECIALS}


def generate_password(length: int, classes: list[str] | tuple[str, ...]) -> str:
    """Random password holding at least one character of every class (724/QĐ-BTTTT complexity rule)."""
    pools = [CLASSES[c] for c in classes]
    alphabet = "".join(pools)
    chars = [_random.choice(p) for p in pools]
    chars += [_random.choice(alphabet) for _ in range(length - len(chars))]
    _random.SystemRandom().shuffle(chars)
    return "".join(chars)


def meets_policy(password: str, length: int, classes: list[str] | tuple[str, ...]) -> bool:
    return len(password) >= length and all(any(ch in CLASSES[c] for ch in password) for c in classes)


@dataclass(frozen=True)
class Login:
    user: str
    password: str

    def __repr__(self) -> str:  # never print a password, even by accident
        return f"Login({self.user!r}, ***)"


@dataclass(frozen=True)
class CameraCredentials:
    accounts: dict[str, Login]  # level -> login
    previous_admin: Login | None
    bootstrap: Login | None

    def __repr__(self) -> str:
        return f"CameraCredentials(levels={sorted(self.accounts)}, previous={self.previous_admin is not None}, " \
               f"bootstrap={self.bootstrap is not None})"


def ensure_accounts(inv: Inventory, store: Store, sites: list[str] | None = None) -> list[str]:
    """Generate missing camera account passwords; never replace existing ones."""
    base = inv.city.cameras
    created = []
    for sid in sites or list(inv.sites):
        cams = inv.cameras_by_site[sid]
        if not cams:
            continue
        doc = store.doc(sid)
        accounts = doc.setdefault(ACCOUNTS_KEY, {})
        for cam in cams:
            if cam.id not in accounts:
                accounts[cam.id] = {lvl: generate_password(base.password_length, base.password_classes)
                                    for lvl in LEVELS}
                created.append(f"camera accounts {cam.id}")
        if created:
            store._dirty.add(sid)
    return created


def rotate_accounts(inv: Inventory, store: Store, camera_id: str) -> None:
    cam = inv.camera_index[camera_id]
    doc = store.doc(cam.site)
    accounts = doc.setdefault(ACCOUNTS_KEY, {})
    if camera_id in accounts:
        doc.setdefault(PREVIOUS_KEY, {})[camera_id] = accounts[camera_id]
    base = inv.city.cameras
    accounts[camera_id] = {lvl: generate_password(base.password_length, base.password_classes) for lvl in LEVELS}
    store._dirty.add(cam.site)


def set_bootstrap(store: Store, scope: str, key: str, user: str, password: str) -> None:
    """scope: cameras / models / vendors."""
    doc = store.doc(BOOTSTRAP_DOC)
    doc.setdefault(scope, {})[key] = {"user": user, "password": password}
    store._dirty.add(BOOTSTRAP_DOC)


def credentials(inv: Inventory, store: Store, camera_id: str) -> CameraCredentials:
    cam = inv.camera_index[camera_id]
    doc = store.doc(cam.site)
    current = doc.get(ACCOUNTS_KEY, {}).get(camera_id)
    if current is None:
        raise InventoryError([Diagnostic(Position(str(store.root / f"{cam.site}.vault.yml")),
                                         f"no camera account passwords for '{camera_id}'",
                                         "run `camkit secrets init` first")])
    names = inv.city.cameras.accounts
    accounts = {lvl: Login(getattr(names, lvl), current[lvl]) for lvl in LEVELS}
    prev = doc.get(PREVIOUS_KEY, {}).get(camera_id)
    boot_doc = store.doc(BOOTSTRAP_DOC)
    boot = (boot_doc.get("cameras", {}).get(camera_id) or boot_doc.get("models", {}).get(f"{cam.vendor}/{cam.model}")
            or boot_doc.get("vendors", {}).get(cam.vendor))
    return CameraCredentials(
        accounts=accounts,
        previous_admin=Login(names.administrator, prev["administrator"]) if prev else None,
        bootstrap=Login(boot["user"], boot["password"]) if boot else None,
    )
