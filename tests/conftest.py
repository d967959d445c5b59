"""Shared fixtures: the example inventory, mutable copies of it, and a CLI runner."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Callable

import pytest
from click.testing import CliRunner, Result

from camkit.cli import main

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "inventories" / "example"
HANOI = ROOT / "inventories" / "hanoi"
GOLDENS = Path(__file__).resolve().parent / "goldens"


@pytest.fixture
def inventory(tmp_path: Path) -> Path:
    """A private copy of the example inventory that a test may change."""
    dest = tmp_path / "inv"
    shutil.copytree(EXAMPLE, dest)
    return dest


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Callable[..., Result]:
    monkeypatch.chdir(tmp_path)

    def run(*args: str) -> Result:
        return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)

    return run


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text("utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), "utf-8")


def append_row(csv_path: Path, row: dict[str, str]) -> None:
    header = csv_path.read_text("utf-8").splitlines()[0].split(",")
    with csv_path.open("a", encoding="utf-8") as f:
        f.write(",".join(row.get(h, "") for h in header) + "\n")


def camera(**over: str) -> dict[str, str]:
    base = {
        "id": "new-c01", "name": "Camera mới", "type": "fixed", "purpose": "security", "lat": "21.03",
        "lon": "105.85", "address": "Phố mới", "height_m": "5", "status": "planned", "connection": "leased_line",
        "vendor": "Axis", "model": "P1465-LE", "resolution_mp": "4", "codec": "h265", "fps": "25",
        "mac": "02:ee:00:00:00:01", "dot1x": "eap-tls", "analytics": "motion", "switch": "sw1", "port": "20",
    }
    base.update(over)
    return base
