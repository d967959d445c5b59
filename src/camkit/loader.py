"""Loading an inventory folder into the model, with every problem reported at its file:line:col.

Layout of an inventory (the folder decides the document type):
    city.yml              the City document
    profiles/<id>.yml     site profiles (shared defaults per kind)
    sites/**/<any>.yml    one Site per file
    cameras/**/<site>.csv the camera registry of one site (file stem = site id)
    camera-models.yml     the camera model catalog: minimum firmware and ONVIF capabilities per model
    ipplan.lock.yml       allocations kept stable across runs (written by `camkit plan --write-lock`)
    streams.lock.csv      each camera's main-stream path as the camera reported it over ONVIF GetStreamUri
                          (written by `camkit cameras apply|audit`)
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Callable, get_args, get_origin
from urllib.parse import urlsplit

from pydantic import BaseModel, ValidationError

from camkit.diagnostics import Collector, Diagnostic, InventoryError, Position, closest, suggest
from camkit.model import (
    CAMERA_OPTIONAL,
    CAMERA_REQUIRED,
    Camera,
    CameraModels,
    CameraModelSpec,
    City,
    PARKING_VLAN,
    Dot1xMode,
    NetworkRole,
    Profile,
    Site,
    SiteKind,
    StreamRecord,
    UplinkType,
)
from camkit.ipplan import LOCK_NAME, LockFile, read_lock
from camkit.secrets import RESERVED_DOCS
from camkit.sources import Document, SourceError, diagnostics_of, display_name, load_csv, load_yaml

MODELS_NAME = "camera-models.yml"
STREAMS_NAME = "streams.lock.csv"
STREAM_COLUMNS = ["id", "path", "source", "profile", "observed"]
MERGED_KEYS = ("uplink", "servers", "switches", "operators")


@dataclass(frozen=True)
class Inventory:
    """The validated city: immutable, indexed, what the planners and renderers read."""

    root: Path
    city: City
    profiles: dict[str, Profile]
    sites: dict[str, Site]  # sorted by (tier, id)
    cameras: tuple[Camera, ...]  # sorted by (site, id)
    lock: LockFile = field(default_factory=LockFile)
    models: dict[str, CameraModelSpec] = field(default_factory=dict)  # "vendor/model" (camera-models.yml)
    positions: dict[str, Position] = field(default_factory=dict)  # "city.<key>", "site.<id>[.networks.<role>]"
    streams: dict[str, StreamRecord] = field(default_factory=dict)  # camera id -> streams.lock.csv row

    def stream_path(self, cam: Camera) -> str | None:
        """The camera's main-stream path: what the camera reported (streams.lock.csv), else its model's documented
        path; None if neither is known (validation refuses such a camera unless it has a stream_url)."""
        return stream_path(cam, self.streams, self.models)

    def pull_path(self, cam: Camera) -> str | None:
        """The path the VMS pulls the camera from: an explicit stream_url's, else `stream_path`."""
        return url_path(cam.stream_url) if cam.stream_url else self.stream_path(cam)

    @cached_property
    def cameras_by_site(self) -> dict[str, tuple[Camera, ...]]:
        out: dict[str, list[Camera]] = defaultdict(list)
        for cam in self.cameras:
            out[cam.site].append(cam)
        return {sid: tuple(out.get(sid, ())) for sid in self.sites}

    @cached_property
    def camera_index(self) -> dict[str, Camera]:
        return {c.id: c for c in self.cameras}

    @cached_property
    def children(self) -> dict[str, tuple[str, ...]]:
        out: dict[str, list[str]] = defaultdict(list)
        for site in self.sites.values():
            if site.parent:
                out[site.parent].append(site.id)
        return {sid: tuple(sorted(out.get(sid, ()))) for sid in self.sites}

    def ancestors(self, site_id: str) -> list[str]:
        chain = []
        parent = self.sites[site_id].parent
        while parent:
            chain.append(parent)
            parent = self.sites[parent].parent
        return chain

    def descendants(self, site_id: str) -> list[str]:
        out, stack = [], list(self.children[site_id])
        while stack:
            sid = stack.pop()
            out.append(sid)
            stack.extend(self.children[sid])
        return sorted(out)

    def tier2_of(self, site_id: str) -> str | None:
        """The district/department a site belongs to (itself if tier 2)."""
        for sid in [site_id, *self.ancestors(site_id)]:
            if self.sites[sid].tier == 2:
                return sid
        return None

    @cached_property
    def hosts(self) -> dict[str, tuple[str, str]]:
        """hostname -> (site id, server name) for every server."""
        return {s.hostname(v.name): (s.id, v.name) for s in self.sites.values() for v in s.servers}


QUOTE_LIMIT = 40  # characters of a bad value a message quotes (escaped): enough to find it, not a dump


def quote(value: object) -> str:
    """A value from the inventory as a message shows it: repr (control characters escaped), at most QUOTE_LIMIT
    characters of it."""
    if not isinstance(value, str) or len(value) <= QUOTE_LIMIT:
        return repr(value)
    return repr(value[:QUOTE_LIMIT]) + "..."


def _keys_at(model: type[BaseModel] | None, loc: tuple[Any, ...]) -> list[str]:
    """The keys the model allows where `loc` points (loc ends with the key itself): for "did you mean"."""
    tp: Any = model
    for part in loc[:-1]:
        tp = _step(tp, part)
        if tp is None:
            return []
    tp = _unwrap_model(tp)
    return list(tp.model_fields) if tp is not None else []


def _unwrap_model(tp: Any) -> type[BaseModel] | None:
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return tp
    for arg in get_args(tp):
        if (found := _unwrap_model(arg)) is not None:
            return found
    return None


def _step(tp: Any, part: Any) -> Any:
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        field = tp.model_fields.get(part) if isinstance(part, str) else None
        return field.annotation if field is not None else None
    origin = get_origin(tp)
    if origin in (list, tuple, set, frozenset):
        return get_args(tp)[0]
    if origin is dict:
        return get_args(tp)[1]
    for arg in get_args(tp):  # X | None, Annotated[X, ...]
        if arg is not type(None) and (found := _step(arg, part)) is not None:
            return found
    return None


def _format_pydantic(err: dict[str, Any], model: type[BaseModel] | None = None) -> tuple[str, str]:
    loc = ".".join(str(p) for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
    kind = err["type"]
    msg = err["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    if kind == "extra_forbidden":
        key = str(err["loc"][-1])
        known = _keys_at(model, tuple(err["loc"]))
        close = suggest(key, known) if known else ""
        if close.startswith("did you mean"):
            return f"unknown key {quote(key)}", f"{close} Else remove it (the keys: `camkit schema`)"
        return f"unknown key {quote(key)}", "remove it or check its spelling against `camkit schema`"
    if kind == "missing":
        return f"missing required key '{loc}'", "add it (site keys may also come from the site's profile)"
    where = f"{loc}: " if loc else ""
    value = err.get("input")
    shown = f" (got {quote(value)})" if isinstance(value, (str, int, float, bool)) and kind != "value_error" else ""
    return f"{where}{msg}{shown}", ""


def validate_doc(model: type[BaseModel], data: Any, where: Callable[[tuple[Any, ...], bool], Position],
                 out: Collector) -> Any | None:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        # a misspelled key is one mistake: its "did you mean" covers the required key it then leaves missing
        meant = {(tuple(e["loc"][:-1]), m) for e in errors if e["type"] == "extra_forbidden"
                 for m in closest(str(e["loc"][-1]), _keys_at(model, tuple(e["loc"])))[:1]}
        for err in errors:
            if err["type"] == "missing" and (tuple(err["loc"][:-1]), str(err["loc"][-1])) in meant:
                continue
            loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and "[" in p and p not in ("",)))
            message, hint = _format_pydantic(err, model)
            out.add(where(loc, err["type"] in ("extra_forbidden",)), message, hint)
        return None


def _doc_where(doc: Document) -> Callable[[tuple[Any, ...], bool], Position]:
    def where(loc: tuple[Any, ...], key: bool) -> Position:
        return doc.position(loc, key=key)
    return where


def load(root: Path | str, progress: Callable[[str, int, int], None] | None = None) -> Inventory:
    """Load and validate an inventory folder; raise InventoryError listing every problem.

    `progress(stage, done, total)` is called as files are read (the CLI draws a bar with it)."""
    root = Path(root)
    out = Collector(root)
    if not root.is_dir():
        raise InventoryError([Diagnostic(Position(str(root)), "inventory folder not found",
                                         "pass the folder that holds city.yml, e.g. inventories/example")])
    name = lambda p: display_name(p, root)  # noqa: E731

    def read(path: Path) -> Document | None:
        try:
            return load_yaml(path, name(path))
        except SourceError as exc:
            out.extend(diagnostics_of(exc))
            return None

    # city
    city_path = root / "city.yml"
    city: City | None = None
    city_doc: Document | None = None
    if not city_path.exists():
        out.add(Position(name(city_path)), "city.yml is missing", "every inventory starts with a city document")
    else:
        city_doc = read(city_path)
        if city_doc is not None:
            city = validate_doc(City, city_doc.data, _doc_where(city_doc), out)

    # a linked folder or file under the inventory's folders would be skipped (or read from anywhere): refuse it
    for sub in ("profiles", "sites", "cameras"):
        for path in sorted((root / sub).rglob("*")) if (root / sub).is_dir() else ():
            if path.is_symlink():
                out.add(Position(name(path)), "is a symbolic link",
                        "commit the file or folder itself: inventory files must be regular files inside the inventory")

    # profiles
    profiles: dict[str, Profile] = {}
    profile_docs: dict[str, Document] = {}
    broken: set[str] = set()  # ids of documents already reported: no follow-up errors about them
    for path in sorted((root / "profiles").glob("*.yml")):
        doc = read(path)
        if doc is None:
            continue
        prof = validate_doc(Profile, doc.data, _doc_where(doc), out)
        if prof is None:
            if isinstance(doc.data, dict) and isinstance(doc.data.get("id"), str):
                broken.add("profile:" + doc.data["id"])
            continue
        if prof.id in profiles:
            out.add(doc.position(("id",)), f"duplicate profile id '{prof.id}'",
                    f"also defined in {profile_docs[prof.id].file}")
            continue
        profiles[prof.id] = prof
        profile_docs[prof.id] = doc

    # sites, merged over their profile
    sites: dict[str, Site] = {}
    site_docs: dict[str, Document] = {}
    site_paths = sorted((root / "sites").rglob("*.yml"))
    if not site_paths:
        out.add(Position(name(root / "sites")), "no site files found", "add sites/<id>.yml files")
    for n, path in enumerate(site_paths):
        if progress is not None:
            progress("reading sites", n, len(site_paths))
        doc = read(path)
        if doc is None:
            broken.add(path.stem)  # unreadable: its id is unknown, the file name is the usual one
            continue
        if not isinstance(doc.data, dict):
            out.add(doc.position(()), "a site file must be a mapping of keys", "see `camkit schema`")
            continue
        raw_id = doc.data.get("id")
        profile_ref = doc.data.get("profile") or doc.data.get("kind")
        if isinstance(profile_ref, str) and "profile:" + profile_ref in broken:
            if isinstance(raw_id, str):
                broken.add(raw_id)
            continue  # its profile is already reported
        site = _merge_site(doc, profiles, profile_docs, out)
        if site is None:
            if isinstance(raw_id, str):
                broken.add(raw_id)
            continue
        if site.id in sites:
            out.add(doc.position(("id",)), f"duplicate site id '{site.id}'", f"also defined in {site_docs[site.id].file}")
            continue
        if site.id in RESERVED_DOCS:  # the secrets store keeps the city's own vaults under these names
            out.add(doc.position(("id",)), f"site id '{site.id}' is reserved",
                    f"choose another id: {', '.join(sorted(RESERVED_DOCS))} name the secrets store's city vaults")
            broken.add(site.id)
            continue
        sites[site.id] = site
        site_docs[site.id] = doc

    # cameras
    cameras: list[Camera] = []
    camera_lines: dict[str, Position] = {}
    camera_paths = sorted((root / "cameras").rglob("*.csv"))
    for n, path in enumerate(camera_paths):
        if progress is not None:
            progress("reading camera registries", n, len(camera_paths))
        site_id = path.stem
        fname = name(path)
        if site_id in broken:
            continue
        if site_id not in sites:
            out.add(Position(fname), f"camera file for unknown site '{site_id}'",
                    "name the file <site id>.csv; " + suggest(site_id, sites.keys()))
            continue
        _load_cameras(path, fname, site_id, cameras, camera_lines, out)

    # camera model catalog (optional: without it no firmware minimums are known)
    models: dict[str, CameraModelSpec] = {}
    models_path = root / MODELS_NAME
    if models_path.exists():
        doc = read(models_path)
        catalog = validate_doc(CameraModels, doc.data, _doc_where(doc), out) if doc is not None else None
        if catalog is not None and doc is not None:
            for i, spec in enumerate(catalog.models):
                if spec.key in models:
                    out.add(doc.position(("models", i, "model")), f"camera model '{spec.key}' is listed twice",
                            "keep one entry per vendor and model")
                models[spec.key] = spec
            site_kinds = {sid: site.kind for sid, site in sites.items()}
            for cam in cameras:
                key, pos = f"{cam.vendor}/{cam.model}", camera_lines[cam.id + "\0" + cam.site]
                model = models.get(key)
                if model is None:
                    out.add(pos, f"camera '{cam.id}': model '{key}' is not in {MODELS_NAME}",
                            "add it with its minimum firmware, or " + suggest(key, models.keys()))
                elif cam.dot1x == Dot1xMode.eap_tls.value and not model.dot1x_eap_tls:
                    out.add(pos, f"camera '{cam.id}': {cam.vendor} {cam.model} has no 802.1X EAP-TLS client",
                            f"use dot1x 'mab' for this model, or set dot1x_eap_tls: true in {MODELS_NAME}")
                elif cam.codec not in model.codecs:
                    out.add(pos, f"camera '{cam.id}': {cam.vendor} {cam.model} does not support codec '{cam.codec}'",
                            f"{MODELS_NAME} lists {', '.join(model.codecs)}")
                elif cam.connection in UNTRUSTED and site_kinds.get(cam.site) is not SiteKind.private_system \
                        and not pulled_over_tls(cam, model, city):
                    # VII.2.2.5: cameras over the Internet or 4G/5G only once encrypted (a private system's are
                    # pushed through the WireGuard tunnel camkit generates; others are pulled: RTSPS)
                    out.add(pos, f"camera '{cam.id}': a '{cam.connection}' camera must be pulled over RTSPS "
                            f"(master plan VII.2.2.5), and {_why_plain(cam, model, city)}",
                            "use a model with RTSPS, an rtsps:// stream_url, or put the camera behind a private "
                            "system (its tunnel is generated)")

    # stream lock (machine-written by `camkit cameras apply|audit`, but committed: checked like a registry)
    streams = _load_streams(root / STREAMS_NAME, name(root / STREAMS_NAME), camera_lines, out)
    kinds = {sid: s.kind for sid, s in sites.items()}
    for cam in cameras:
        if cam.stream_url or kinds.get(cam.site) is SiteKind.private_system or stream_path(cam, streams, models):
            continue  # a private system's cameras are pushed by its recorder, not pulled
        out.add(camera_lines[cam.id + "\0" + cam.site],
                f"camera '{cam.id}': no RTSP path is known for {cam.vendor} {cam.model}",
                f"record the camera's own with `camkit cameras audit --site {cam.site}` (ONVIF GetStreamUri, "
                f"written to {STREAMS_NAME}), set its stream_url, or give the model rtsp_path and rtsp_path_source "
                f"in {MODELS_NAME} from the vendor's documentation")

    # lock file (machine-written, read by schema only)
    lock = LockFile()
    try:
        lock = read_lock(root / LOCK_NAME, name(root / LOCK_NAME))
    except InventoryError as exc:
        out.extend(exc.diagnostics)

    if progress is not None:
        progress("checking across documents", 0, 0)
    # one pass: the checks across files run on every document and row that passed its schema, even when
    # city.yml did not (then the rules that need the city's figures wait for it)
    _cross_checks(city, city_doc, sites, site_docs, cameras, camera_lines, out, broken)
    out.raise_if_any()
    assert city is not None
    ordered_sites = dict(sorted(sites.items(), key=lambda kv: (kv[1].tier, kv[0])))
    positions: dict[str, Position] = {}
    if city_doc is not None:
        for key in ("address_space", "transit_space"):
            positions[f"city.{key}"] = city_doc.position((key,))
        for i in range(len(city.reserved)):
            positions[f"city.reserved.{i}"] = city_doc.position(("reserved", i))
        for key in ("pod_cidr", "service_cidr"):
            positions[f"city.kubernetes.{key}"] = city_doc.position(("kubernetes", key))
        for tier in ("tier1", "tier2", "tier3"):  # capacity findings point at the tier's figures
            positions[f"city.tiers.{tier}"] = city_doc.position(("tiers", tier))
    for key, pos in camera_lines.items():
        positions["camera." + key.split("\0")[0]] = pos
    for sid, doc in site_docs.items():
        positions[f"site.{sid}"] = doc.position(("id",))
        site = sites[sid]
        pdoc = profile_docs.get(site.profile or site.kind.value)
        for key in ("servers", "uplink"):  # the site's own key, else its profile's, else the site's id line
            if key in doc.data:
                positions[f"site.{sid}.{key}"] = doc.position((key,), key=True)
            elif pdoc is not None and isinstance(pdoc.data, dict) and key in pdoc.data:
                positions[f"site.{sid}.{key}"] = pdoc.position((key,), key=True)
            else:
                positions[f"site.{sid}.{key}"] = positions[f"site.{sid}"]
        for role in sites[sid].networks:
            positions[f"site.{sid}.networks.{role.value}"] = doc.position(("networks", role.value, "subnet"))
    return Inventory(root=root, city=city, profiles=profiles, sites=ordered_sites,
                     cameras=tuple(sorted(cameras, key=lambda c: (c.site, c.id))), lock=lock, models=models,
                     positions=positions, streams=streams)


SITE_KINDS = tuple(k.value for k in SiteKind)
UNTRUSTED = frozenset({UplinkType.internet_vpn.value, UplinkType.cellular.value})


def pulled_over_tls(cam: Camera, model: CameraModelSpec | None, city: City | None) -> bool:
    """Whether the VMS pulls this camera over TLS: its stream_url's scheme, else RTSPS where the model supports it
    and the city has not turned it off (the VMS values read this; the loader refuses an untrusted link without)."""
    if cam.stream_url:
        return cam.stream_url.startswith("rtsps://")
    return bool(model and model.rtsps and (city is None or city.cameras.rtsps))


def _why_plain(cam: Camera, model: CameraModelSpec, city: City | None) -> str:
    if cam.stream_url:
        return "its stream_url is rtsp://"
    if not model.rtsps:
        return f"{cam.vendor} {cam.model} has no RTSPS"
    return "city.yml cameras.rtsps is off"


def stream_path(cam: Camera, streams: dict[str, StreamRecord], models: dict[str, CameraModelSpec]) -> str | None:
    """The one rule: the camera's own report (the stream lock) wins over its model's documented path."""
    rec = streams.get(cam.id)
    if rec is not None:
        return rec.path
    spec = models.get(f"{cam.vendor}/{cam.model}")
    return spec.rtsp_path if spec is not None and spec.rtsp_path else None


def url_path(url: str) -> str:
    """Path and query of an RTSP URL, as a VMS source names them."""
    u = urlsplit(url)
    return (u.path or "/") + (f"?{u.query}" if u.query else "")


def _load_streams(path: Path, fname: str, camera_lines: dict[str, Position],
                  out: Collector) -> dict[str, StreamRecord]:
    if not path.exists() and not path.is_symlink():
        return {}
    try:
        table = load_csv(path, fname, STREAM_COLUMNS[:3], STREAM_COLUMNS[3:])
    except SourceError as exc:
        out.extend(diagnostics_of(exc))
        return {}
    col = {h: i + 1 for i, h in enumerate(table.header)}
    known = {key.split("\0")[0] for key in camera_lines}
    streams: dict[str, StreamRecord] = {}
    for line, row in table.rows:
        try:
            rec = StreamRecord.model_validate(row)
        except ValidationError as exc:
            for err in exc.errors(include_url=False):
                field_name = str(err["loc"][0]) if err["loc"] else ""
                message, hint = _format_pydantic(err)
                out.add(Position(fname, line, col.get(field_name, 1)),
                        f"stream of '{row.get('id', '?')}': {message}",
                        hint or f"rows are written by `camkit cameras audit`; restore {fname} from version control")
            continue
        if rec.id in streams:
            out.add(Position(fname, line, 1), f"camera '{rec.id}' is listed twice", "keep one row per camera")
        elif rec.id not in known:
            continue  # the camera left the registry: its row is harmless, the next `cameras audit` drops it
        else:
            streams[rec.id] = rec
    return streams


def _merge_site(doc: Document, profiles: dict[str, Profile], profile_docs: dict[str, Document],
                out: Collector) -> Site | None:
    data = dict(doc.data)
    profile_id = data.get("profile") or data.get("kind")
    from_profile: set[str] = set()
    prof = profiles.get(profile_id) if isinstance(profile_id, str) else None
    if "profile" in data and prof is None:
        out.add(doc.position(("profile",)), f"profile '{data['profile']}' is not defined",
                suggest(str(data["profile"]), profiles.keys()))
        return None
    if prof is not None:
        for key in MERGED_KEYS:
            value = getattr(prof, key)
            if key not in data and value is not None:
                data[key] = value.model_dump(mode="json") if hasattr(value, "model_dump") else (
                    [v.model_dump(mode="json") for v in value] if isinstance(value, list) else value)
                from_profile.add(key)
    elif "profile" not in data and data.get("kind") not in SITE_KINDS:
        # no profile to merge: report the kind alone, not every key its profile would have given
        kind = data.get("kind")
        if kind is None:
            out.add(doc.position(()), "the site has no 'kind'", "add 'kind:' one of " + ", ".join(SITE_KINDS))
        else:
            close = closest(str(kind), list(SITE_KINDS))
            out.add(doc.position(("kind",)), f"kind {quote(kind)} is not a site kind",
                    (f"did you mean {close[0]!r}? " if close else "") + "one of " + ", ".join(SITE_KINDS))
        return None
    pdoc = profile_docs.get(prof.id) if prof else None

    def where(loc: tuple[Any, ...], key: bool) -> Position:
        if loc and loc[0] in from_profile and pdoc is not None:
            return pdoc.position(loc, key=key)
        return doc.position(loc, key=key)

    return validate_doc(Site, data, where, out)


def _load_cameras(path: Path, fname: str, site_id: str, cameras: list[Camera],
                  camera_lines: dict[str, Position], out: Collector) -> None:
    try:
        table = load_csv(path, fname, CAMERA_REQUIRED, CAMERA_OPTIONAL)
    except SourceError as exc:
        out.extend(diagnostics_of(exc))
        return
    col = {h: i + 1 for i, h in enumerate(table.header)}
    validate = Camera.model_validate
    for line, row in table.rows:
        data: dict[str, Any] = row
        data["site"] = site_id
        try:
            cam = validate(data)
        except ValidationError as exc:
            for err in exc.errors(include_url=False):
                field_name = err["loc"][0] if err["loc"] else ""
                message, hint = _format_pydantic(err)
                if err["type"] == "missing":
                    message = f"column '{field_name}' is empty"
                    hint = "every camera needs it"
                prefix = f"camera '{row.get('id', '?')}': "
                out.add(Position(fname, line, col.get(str(field_name), 1)), prefix + message, hint)
            continue
        cameras.append(cam)
        camera_lines[cam.id + "\0" + site_id] = Position(fname, line, 1)


def _distinct_vlans(city: City, city_doc: Document, out: Collector) -> None:
    """Every role VLAN, the quarantine VLAN and the parking VLAN are pairwise distinct: a quarantine VLAN equal to
    the management VLAN puts every device that fails 802.1X on management."""
    seen: dict[int, str] = {PARKING_VLAN: "the parking VLAN of unused switch ports (fixed)"}
    named = [(("networks", role.value, "vlan"), f"networks.{role.value}.vlan", getattr(city.networks, role.value).vlan)
             for role in NetworkRole]
    if city.services.quarantine_vlan is not None:
        named.append((("services", "quarantine_vlan"), "services.quarantine_vlan", city.services.quarantine_vlan))
    for path, name, vlan in named:
        if vlan in seen:
            out.add(city_doc.position(path), f"{name} {vlan} is also {seen[vlan]}",
                    "give every network role, the quarantine and the parking VLAN its own VLAN id")
        else:
            seen[vlan] = name


def _city_services(city: City, city_doc: Document, sites: dict[str, Site], docs: dict[str, Document],
                   hostnames: dict[str, str], out: Collector) -> None:
    """The checks that need city.yml: its services name real servers, RADIUS reaches every switch, a known zone."""
    # shared services name real servers
    for svc in ("ntp", "dns", "syslog"):
        ref = getattr(city.services, svc)
        for j, name in enumerate(ref.servers):
            if name not in hostnames:
                out.add(city_doc.position(("services", svc, "servers", j)), f"services.{svc}: server '{name}' is not defined in any site",
                        suggest(name, hostnames.keys()))

    # RADIUS placement: every site with switches must reach a radius server (the topology's rule)
    from camkit.topology import POSIX_TZ, radius_site_of

    for site in sites.values():
        if site.switches and radius_site_of(sites, city.services.radius_placement, site.id) is None:
            out.add(docs[site.id].position(("switches",), key=True),
                    f"site '{site.id}' has access switches but no RADIUS server serves it",
                    "give this site or its district/department a server with role 'radius'")

    # the time zone cameras and schedules are given (POSIX TZ)
    if city.timezone not in POSIX_TZ:
        out.add(city_doc.position(("timezone",)), f"city.timezone '{city.timezone}' is not a zone camkit can give "
                "cameras and schedules (POSIX TZ)", "known zones: " + ", ".join(sorted(POSIX_TZ)))


def _cross_checks(city: City | None, city_doc: Document | None, sites: dict[str, Site], docs: dict[str, Document],
                  cameras: list[Camera], camera_lines: dict[str, Position], out: Collector, broken: set[str]) -> None:
    if city is not None and city_doc is not None:
        _distinct_vlans(city, city_doc, out)
    area = city.area if city is not None else None
    hostnames: dict[str, str] = {}
    for site in sites.values():
        doc = docs[site.id]
        if site.tier == 1:
            if site.parent:
                out.add(doc.position(("parent",)), f"tier-1 site '{site.id}' must not have a parent", "remove 'parent'")
        elif not site.parent:
            out.add(doc.position(("kind",)), f"tier-{site.tier} site '{site.id}' needs a parent", "add 'parent: <site id>'")
        elif site.parent in broken:
            pass
        elif site.parent not in sites:
            want = 2 if site.tier == 3 else 1
            known = [s.id for s in sites.values() if s.tier == want]
            out.add(doc.position(("parent",)), f"parent '{site.parent}' is not a site",
                    f"known tier-{want} sites: {', '.join(sorted(known)) or 'none'}")
        else:
            parent = sites[site.parent]
            ok = parent.tier < site.tier or (site.kind is SiteKind.private_system and parent.kind is SiteKind.ward)
            if not ok:
                out.add(doc.position(("parent",)),
                        f"parent '{parent.id}' is tier {parent.tier}; a tier-{site.tier} {site.kind.value} needs a "
                        "parent of a lower tier number", "private systems may also hang under a ward")
            if site.kind in (SiteKind.ward, SiteKind.private_system) and parent.kind is SiteKind.department_oc:
                pass  # department wards are unusual but allowed (e.g. industrial zones)
        if area is not None and not area.contains(site.location.lat, site.location.lon):
            out.add(doc.position(("location",)),
                    f"location {site.location.lat}, {site.location.lon} is outside the city area",
                    f"lat {area.min_lat}..{area.max_lat}, lon {area.min_lon}..{area.max_lon} (city.yml area)")
        for i, share in enumerate(site.shares):
            if share.to in broken:
                continue
            if share.to not in sites:
                out.add(doc.position(("shares", i, "to")), f"share target '{share.to}' is not a site",
                        suggest(share.to, sites.keys()))
            elif share.to == site.id:
                out.add(doc.position(("shares", i, "to")), "a site cannot share with itself")
        for i, server in enumerate(site.servers):
            host = site.hostname(server.name)
            if host in hostnames:
                out.add(doc.position(("servers", i, "name")), f"hostname '{host}' is also used by site '{hostnames[host]}'",
                        "rename the server or the site")
            hostnames[host] = site.id
        for i, sw in enumerate(site.switches):
            host = site.hostname(sw.id)
            if host in hostnames:
                out.add(doc.position(("switches", i, "id")), f"hostname '{host}' is also used in site '{hostnames[host]}'",
                        "switch ids and server names share one namespace per site")
            hostnames[host] = site.id

    if city is not None and city_doc is not None:
        _city_services(city, city_doc, sites, docs, hostnames, out)

    # cameras: ids, MACs, owners, switch ports, coordinates
    switch_index = {(sid, sw.id): sw for sid, s in sites.items() for sw in s.switches}
    seen_ids: dict[str, Position] = {}
    seen_macs: dict[str, tuple[str, Position]] = {}
    ports: dict[tuple[str, str, int], Position] = {}
    for cam in cameras:
        pos = camera_lines[cam.id + "\0" + cam.site]
        site = sites[cam.site]
        if cam.id in seen_ids:
            out.add(pos, f"duplicate camera id '{cam.id}'", f"first used at {seen_ids[cam.id]}")
        else:
            seen_ids[cam.id] = pos
        if cam.mac in seen_macs:  # each row reported, naming the other the same way: camera id, file:line
            first, first_pos = seen_macs[cam.mac]
            for here, there in (((cam.id, pos), (first, first_pos)), ((first, first_pos), (cam.id, pos))):
                out.add(here[1], f"camera '{here[0]}': MAC {cam.mac} is also that of camera '{there[0]}' at {there[1]}",
                        "every camera has its own MAC: correct the mistyped one")
        else:
            seen_macs[cam.mac] = (cam.id, pos)
        if area is not None and not area.contains(cam.lat, cam.lon):
            out.add(pos, f"camera '{cam.id}': coordinates {cam.lat}, {cam.lon} are outside the city area",
                    f"lat {area.min_lat}..{area.max_lat}, lon {area.min_lon}..{area.max_lon}; check for swapped lat/lon")
        if cam.owner is not None and cam.owner not in sites and cam.owner not in broken:
            out.add(pos, f"camera '{cam.id}': owner '{cam.owner}' is not a unit (site id)", suggest(cam.owner, sites.keys()))
        if cam.dot1x == Dot1xMode.mab.value and city is not None and not city.security.allow_mab:
            out.add(pos, f"camera '{cam.id}': MAB is disabled by city.yml security.allow_mab", "use eap-tls")
        if cam.switch is not None and cam.port is not None:
            switch = switch_index.get((site.id, cam.switch))
            if switch is None:
                out.add(pos, f"camera '{cam.id}': switch '{cam.switch}' is not a switch of site '{site.id}'",
                        suggest(cam.switch, [s.id for s in site.switches]))
                continue
            if cam.port > switch.ports:
                out.add(pos, f"camera '{cam.id}': port {cam.port} does not exist on '{switch.id}' ({switch.ports} ports)")
            elif cam.port in switch.uplink_ports:
                out.add(pos, f"camera '{cam.id}': port {cam.port} of '{switch.id}' is an uplink port",
                        f"uplink ports: {switch.uplink_ports}")
            key = (site.id, switch.id, cam.port)
            if key in ports:
                out.add(pos, f"camera '{cam.id}': port {cam.port} of switch '{switch.id}' is already taken",
                        f"by the camera at {ports[key]}")
            else:
                ports[key] = pos

