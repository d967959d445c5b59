"""JSON Schema of every inventory document, generated from the pydantic models."""

from __future__ import annotations

from typing import Any

from camkit.model import CAMERA_OPTIONAL, CAMERA_REQUIRED, Camera, CameraModels, City, Profile, Site, StreamRecord


def schemas() -> dict[str, dict[str, Any]]:
    camera = Camera.model_json_schema()
    camera["properties"].pop("site", None)
    camera["required"] = [r for r in camera.get("required", []) if r != "site"]
    camera["description"] = ("One row of cameras/<site id>.csv. Columns: " + ", ".join(CAMERA_REQUIRED)
                             + "; optional: " + ", ".join(CAMERA_OPTIONAL)
                             + ". analytics is a ';'-separated list; empty cells mean 'not set'.")
    out = {
        "city": City.model_json_schema(),
        "profile": Profile.model_json_schema(),
        "site": Site.model_json_schema(),
        "camera": camera,
        "camera-models": CameraModels.model_json_schema(),
        "stream": StreamRecord.model_json_schema(),
    }
    out["stream"]["description"] = ("One row of streams.lock.csv (columns id, path, source, profile, observed), "
                                    "written by `camkit cameras apply|audit` from ONVIF GetStreamUri")
    for name, doc in out.items():
        doc["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        doc["$id"] = f"https://camkit.invalid/schema/{name}.schema.json"
    return out
