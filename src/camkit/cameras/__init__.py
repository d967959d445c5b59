"""Camera hardening: per-camera profiles, the ONVIF applier and audit, the compliance criteria."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Awaitable, TypeVar

import yaml

CRITERIA = Path(__file__).resolve().parent.parent / "data" / "camera_criteria.yml"


@lru_cache(maxsize=1)
def criteria() -> list[dict[str, Any]]:
    """The 724/QCVN 135 criteria catalog (camkit/data/camera_criteria.yml)."""
    return list(yaml.safe_load(CRITERIA.read_text("utf-8"))["criteria"])


T = TypeVar("T")


def loop_run(coro: Awaitable[T]) -> T:
    """Run a coroutine on uvloop (libuv's event loop: the ONVIF client and the simulator spend much of their
    time in socket and TLS handling, which uvloop does in C)."""
    import uvloop

    return uvloop.run(coro)  # type: ignore[arg-type,no-any-return]
