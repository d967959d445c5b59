#!/usr/bin/env python3
"""Install the Ansible collections the roles and Molecule need, without Galaxy (unreachable here).

containers.podman (Molecule's podman driver and connection), ansible.posix and community.general ship
inside the `ansible` wheel on PyPI; this downloads that pinned wheel, checks its sha256, and unpacks
only those collections into .cache/collections (point ANSIBLE_COLLECTIONS_PATH there).
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".cache"
WHEEL = "ansible-12.3.0-py3-none-any.whl"  # matches ansible-core 2.19.x
SHA256 = "cd156f82fa87f7a899212b0efa9f7ca3a24d609212de9f78428a572eb01e5414"
COLLECTIONS = ("containers/podman", "ansible/posix", "community/general")


def main() -> None:
    CACHE.mkdir(exist_ok=True)
    wheel = CACHE / WHEEL
    if not wheel.exists():
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(CACHE),
                        "ansible==12.3.0"], check=True)
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    if digest != SHA256:
        raise SystemExit(f"{wheel}: sha256 {digest} is not the pinned {SHA256}")
    dest = CACHE / "collections"
    marker = dest / ".installed"
    if marker.exists() and marker.read_text() == digest:
        print(f"collections in {dest}")
        return
    with zipfile.ZipFile(wheel) as z:
        for name in z.namelist():
            if any(name.startswith(f"ansible_collections/{c}/") for c in COLLECTIONS):
                z.extract(name, dest)
    marker.write_text(digest)
    print(f"collections in {dest}")


if __name__ == "__main__":
    main()
