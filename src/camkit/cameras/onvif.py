"""ONVIF applier and audit: bring cameras to their hardened profile, and read them back.

Uses onvif-zeep-async (the maintained async ONVIF client). For one camera:

1. log in: the camkit administrator (current password, then the one a rotation replaced), else the
   bootstrap (factory) credentials, over HTTPS with the camera's certificate pinned (`Target.pin`: the sha256
   camkit saw on first contact, kept in the secrets store; a different certificate is refused before any
   request is sent). HTTP only for a camera camkit has never pinned, only with its factory login, and only to
   turn HTTPS on: no account is created or changed, and no camkit password sent, over HTTP;
2. read every setting (`observe`), compare with the profile (`expected` / `compare`);
3. apply only what differs, in an order that never strands the camera: HTTPS on and the session moved to
   it; the camkit administrator created and proven by logging in with it before any default account is
   deleted; operator and viewer accounts; discovery, time, 802.1X, encoder, TLS certificate; the IP filter
   only if this controller's address stays allowed; HTTP off last.

Every operation a camera refuses as unsupported is reported as "not applied", never as success. Secrets stay
in memory: results and logs carry user names and setting names, never passwords.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import hashlib
import ipaddress
import json
import logging
import os
import re
import ssl
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Awaitable, Callable
from urllib.parse import urlsplit

from camkit.cameras.accounts import CameraCredentials, Login
from camkit.cameras.profile import EAP_TLS, LEVELS, ONVIF_LEVEL, CameraProfile, SiteCameraSettings, firmware_ok
from camkit.flows import RTSP
from camkit.loader import url_path
from camkit.model import PROFILE_TOKEN_PATTERN, RTSP_PATH_MAX, RTSP_PATH_PATTERN

for _name in ("onvif", "zeep", "zeep.client", "zeep.transports", "zeep.wsdl", "aiohttp"):
    logging.getLogger(_name).setLevel(logging.WARNING)

TDS_NS = "http://www.onvif.org/ver10/device/wsdl"
TRT_NS = "http://www.onvif.org/ver10/media/wsdl"
TAS_NS = "http://www.onvif.org/ver10/advancedsecurity/wsdl"
CERT_ALIAS = "camkit-https"
SHA256_RSA = "1.2.840.113549.1.1.11"  # sha256WithRSAEncryption


_NONCES = bytearray()


def _nonce() -> str:
    """A fresh WS-Security nonce, cut from a pool filled by os.urandom 64 KiB at a time (one getrandom call
    per 4096 messages instead of one per message: on this kind of sandboxed kernel each call costs ~0.7 ms)."""
    if len(_NONCES) < 16:
        _NONCES.extend(os.urandom(65536))
    chunk = bytes(_NONCES[:16])
    del _NONCES[:16]
    return chunk.hex()


_TOKEN_CLASS: Any = None


def _token(cred: Login) -> Any:
    """A UsernameToken digest that takes a fresh nonce from the pool for every message."""
    global _TOKEN_CLASS
    if _TOKEN_CLASS is None:
        from onvif.client import UsernameDigestTokenDtDiff

        class Token(UsernameDigestTokenDtDiff):  # type: ignore[misc]
            def apply(self, envelope: Any, headers: Any) -> Any:
                self.nonce = _nonce()  # never reused: a new one for every message
                return super().apply(envelope, headers)

        _TOKEN_CLASS = Token
    return _TOKEN_CLASS(cred.user, cred.password, use_digest=True)


class NotAuthorized(Exception):
    pass


class Unsupported(Exception):
    pass


class CameraError(Exception):
    """A failure to report for one camera (message carries no secret)."""


class CertificateChanged(CameraError):
    """The camera's HTTPS certificate is not the pinned one: nothing was sent (never retried)."""


@dataclass(frozen=True)
class Target:
    host: str
    http_port: int = 80
    https_port: int = 443
    pin: str | None = None  # sha256 (hex) of the HTTPS certificate camkit pinned (None: never contacted over HTTPS)


@functools.cache
def _first_contact_tls() -> ssl.SSLContext:
    """Made once per process. Nothing to verify against yet (the answer becomes the pin); no CA store loaded (that costs ~25 ms)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


async def peer_fingerprint(host: str, port: int, timeout: float) -> str:
    """sha256 (hex) of the DER certificate a TLS server presents (trust on first use: the caller pins it)."""
    _, writer = await asyncio.wait_for(asyncio.open_connection(host, port, ssl=_first_contact_tls()), timeout)
    try:
        der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
    finally:
        writer.transport.abort()  # no TLS close_notify exchange: nothing was sent, nothing is awaited
    return hashlib.sha256(der).hexdigest()


def _mismatch(exc: BaseException) -> BaseException | None:
    """The aiohttp fingerprint mismatch behind `exc` (the transport may wrap it), if any."""
    import aiohttp

    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        if isinstance(cur, aiohttp.ServerFingerprintMismatch):
            return cur
        seen.add(id(cur))
        cur = cur.__cause__ or cur.__context__
    return None


def targets_from(settings: SiteCameraSettings, endpoints: dict[str, Any] | None,
                 pins: dict[str, str] | None = None) -> dict[str, Target]:
    """Where each camera is reached: its planned address, or the endpoint map (simulator, NAT); `pins`: camera
    id -> the certificate fingerprint camkit pinned (`camkit.cameras.site.PINS_KEY` in the site's store)."""
    out = {}
    pins = pins or {}
    for p in settings.cameras:
        ep = (endpoints or {}).get("cameras", {}).get(p.id) if endpoints else None
        if ep:
            out[p.id] = Target(ep["host"], int(ep["http_port"]), int(ep["https_port"]), pins.get(p.id))
        elif p.address:
            out[p.id] = Target(p.address, pin=pins.get(p.id))
    return out


def _fault_text(exc: BaseException) -> str:
    parts = [str(getattr(exc, "message", "") or exc)]
    for sc in getattr(exc, "subcodes", None) or []:
        parts.append(str(getattr(sc, "localname", sc)))
    code = getattr(exc, "code", None)
    if code:
        parts.append(str(code))
    return " ".join(parts)


def _classify(exc: BaseException) -> BaseException:
    text = _fault_text(exc)
    if "NotAuthorized" in text or "not authorized" in text.lower():
        return NotAuthorized(text)
    if "ActionNotSupported" in text or "not supported" in text.lower() or "ServiceNotSupported" in text:
        return Unsupported(text)
    return exc


class Session:
    """One connection to one camera (device, media and, if offered, advanced security services).

    The login can be switched in place (`use`): the next calls carry the other account's WS-Security token
    over the same connections, as a client that re-authenticates, without new TLS handshakes."""

    def __init__(self, target: Target, scheme: str, call_timeout: float):
        self.target, self.scheme, self.call_timeout = target, scheme, call_timeout
        self.login: Login | None = None
        self.camera: Any = None
        self.device: Any = None
        self.services: dict[str, str] = {}
        self._extra: dict[str, Any] = {}
        self.pin: str | None = None  # the certificate every HTTPS connection of this session must present

    @property
    def port(self) -> int:
        return self.target.https_port if self.scheme == "https" else self.target.http_port

    async def open(self, logins: list[Login]) -> None:
        """Connect, then log in with the first login that works (NotAuthorized if none does)."""
        from onvif import ONVIFCamera

        first = logins[0]
        host = self.target.host if ":" not in self.target.host else f"[{self.target.host}]"
        if self.scheme == "https":
            try:
                self.pin = self.target.pin or await peer_fingerprint(self.target.host, self.port, self.call_timeout)
            except asyncio.TimeoutError as exc:
                raise CameraError(f"HTTPS: no TLS handshake within {self.call_timeout:g} s") from exc
        self.camera = ONVIFCamera(f"{self.scheme}://{host}", self.port, first.user, first.password, no_cache=True)
        self.device = await self.camera.create_devicemgmt_service()
        self._bind(self.device)
        last: NotAuthorized | None = None
        for cred in logins:
            self.use(cred)
            try:
                resp = await self.call(self.device, "GetServices", {"IncludeCapability": False})
            except NotAuthorized as exc:
                last = exc
                continue
            self.services = {s.Namespace: s.XAddr for s in resp or []}
            return
        raise last or NotAuthorized("no login")

    def _bind(self, svc: Any) -> None:
        """Every new connection of this service must present the pinned certificate (aiohttp checks the
        fingerprint in the handshake, before a request is sent). onvif-zeep-async builds its connector without
        verification and offers no option: its `_ssl` is set here (tests/test_cameras.py fails if that stops
        working: a changed certificate must be refused)."""
        import aiohttp

        if self.scheme == "https" and self.pin is not None:
            svc._connector._ssl = aiohttp.Fingerprint(bytes.fromhex(self.pin))

    def repin(self, fingerprint: str) -> None:
        """The camera now serves another certificate (camkit assigned it over this pinned session)."""
        self.pin = fingerprint
        for svc in [self.device, *self._extra.values()]:
            if svc is not None:
                self._bind(svc)

    def _local(self, xaddr: str) -> str:
        """A service address on this session's scheme, host and port (a camera reports its own view, which
        behind NAT, or on http://, is not the address camkit reached and pinned)."""
        host = self.target.host if ":" not in self.target.host else f"[{self.target.host}]"
        u = urlsplit(xaddr)
        return f"{self.scheme}://{host}:{self.port}{u.path or '/'}" + (f"?{u.query}" if u.query else "")

    def use(self, cred: Login) -> None:
        self.login = cred
        token = _token(cred)
        for svc in [self.device, *self._extra.values()]:
            if svc is not None and svc.zeep_client is not None:
                svc.zeep_client.wsse = token

    async def works(self, cred: Login) -> bool:
        """Does this account log in? (the session goes back to its current login afterwards)"""
        current = self.login
        assert current is not None
        self.use(cred)
        try:
            await self.call(self.device, "GetDeviceInformation")
            return True
        except NotAuthorized:
            return False
        finally:
            self.use(current)

    async def call(self, service: Any, op: str, params: dict[str, Any] | None = None) -> Any:
        try:
            return await asyncio.wait_for(getattr(service, op)(params), self.call_timeout)
        except (NotAuthorized, Unsupported):
            raise
        except asyncio.TimeoutError as exc:
            raise CameraError(f"{op}: no answer within {self.call_timeout:g} s") from exc
        except Exception as exc:  # zeep Fault, ONVIFError, aiohttp errors
            if (bad := _mismatch(exc)) is not None:
                got = getattr(bad, "got", b"").hex()
                raise CertificateChanged(
                    f"{op}: the camera's HTTPS certificate (sha256 {got}) is not the one camkit pinned ({self.pin}): "
                    "nothing was sent. If the camera was replaced or factory-reset, check it on site, then "
                    "`camkit cameras unpin --site SITE --camera ID`") from exc
            cls = _classify(exc)
            if cls is exc:
                raise
            raise cls from exc

    async def media(self) -> Any:
        if "media" not in self._extra:
            if TRT_NS not in self.services:
                raise Unsupported("no media service")
            self.camera.xaddrs[TRT_NS] = self._local(self.services[TRT_NS])
            self._extra["media"] = await self.camera.create_media_service()
            self._bind(self._extra["media"])
            assert self.login is not None
            self.use(self.login)
        return self._extra["media"]

    async def security(self, binding: str) -> Any:
        """binding: TLSServerBinding or KeystoreBinding of the Advanced Security service."""
        if binding not in self._extra:
            from onvif.client import _WSDL_PATH, ONVIFService

            if TAS_NS not in self.services:
                raise Unsupported("no Advanced Security service")
            assert self.login is not None
            svc = ONVIFService(self._local(self.services[TAS_NS]), self.login.user, self.login.password,
                               os.path.join(_WSDL_PATH, "advancedsecurity.wsdl"), no_cache=True,
                               binding_name=f"{{{TAS_NS}}}{binding}")
            self._bind(svc)
            await svc.setup()
            self._extra[binding] = svc
            self.use(self.login)
        return self._extra[binding]

    async def close(self) -> None:
        owned = set(map(id, self.camera.services.values())) if self.camera else set()
        for svc in self._extra.values():
            if id(svc) not in owned:
                await svc.close()
        if self.camera is not None:
            await self.camera.close()


async def _open(target: Target, scheme: str, logins: list[Login], call_timeout: float) -> Session:
    """A logged-in session, or the error with nothing left open."""
    s = Session(target, scheme, call_timeout)
    try:
        await s.open(logins)
        return s
    except BaseException:
        await s.close()
        raise


async def login(target: Target, logins: list[Login], call_timeout: float, http_logins: list[Login] | None = None
                ) -> Session:
    """A session over HTTPS (the certificate pinned, or pinned now on first contact), logged in with the first
    login that works. Over HTTP only when HTTPS does not answer, the camera was never pinned, and `http_logins`
    (the factory login) are given: a camera camkit has hardened is never reached over HTTP again."""
    try:
        return await _open(target, "https", logins, call_timeout)
    except NotAuthorized as exc:
        raise CameraError("no credential works (camkit administrator, previous, bootstrap): "
                          "set the camera's factory login with `camkit secrets bootstrap`") from exc
    except CertificateChanged:
        raise
    except Exception as exc:  # connection refused, TLS failure, no handshake in time
        https_error: BaseException = exc
    why = f"{type(https_error).__name__}: {_fault_text(https_error)}".strip()
    if target.pin is not None:
        raise CameraError(f"HTTPS unreachable on port {target.https_port} ({why}); camkit pinned this camera's "
                          "certificate before and never falls back to HTTP to a camera it has hardened "
                          "(is something blocking the port?)")
    if not http_logins:
        raise CameraError(f"HTTPS unreachable on port {target.https_port} ({why}); over HTTP camkit logs in only "
                          "with the camera's factory login, to turn HTTPS on (`camkit secrets bootstrap`)")
    try:
        return await _open(target, "http", http_logins, call_timeout)
    except NotAuthorized as exc:
        raise CameraError(f"no credential works: the factory login is refused over HTTP (HTTPS unreachable: {why}); "
                          "set the camera's factory login with `camkit secrets bootstrap`") from exc
    except Exception as exc:
        raise CameraError(f"camera unreachable over HTTPS ({why}) and HTTP: {type(exc).__name__}: "
                          f"{_fault_text(exc)}".strip()) from exc


# --- what the camera should look like, and what it does look like ---------------------------------


def expected(settings: SiteCameraSettings, prof: CameraProfile) -> dict[str, Any]:
    return {
        "users": {settings.accounts[lvl]: ONVIF_LEVEL[lvl] for lvl in LEVELS},
        "protocols": {n: dict(p) for n, p in settings.protocols.items()},
        "discovery": settings.discovery,
        "ip_filter": {"type": "Allow", "ipv4": sorted({*settings.ip_filter, *prof.ip_filter_extra})},
        "ntp": {"from_dhcp": False, "manual": list(settings.ntp)},
        "datetime": {"type": "NTP", "tz": settings.timezone},
        "dot1x": ({"identity": prof.dot1x_identity, "eap": EAP_TLS, "cert": f"camkit-{prof.id}"}
                  if prof.dot1x == "eap-tls" else None),
        "encoder": {"encoding": prof.encoder.encoding, "width": prof.encoder.width, "height": prof.encoder.height,
                    "fps": prof.encoder.fps, "bitrate": prof.encoder.bitrate_kbps,
                    "gov": prof.encoder.gov_length if prof.encoder.encoding == "H264" else None},
        "tls": bool(prof.advanced_security),
        "min_firmware": prof.min_firmware,
        "stream_port": prof.stream_port,
    }


async def _maybe(fn: Callable[[], Awaitable[Any]]) -> Any:
    """Run a read; an unsupported operation reads as the marker 'unsupported'."""
    try:
        return await fn()
    except Unsupported:
        return "unsupported"


async def observe(s: Session, prof: CameraProfile, known: dict[str, Any] | None = None) -> dict[str, Any]:
    """Read every setting the profile governs (`known`: raw replies the caller already has)."""
    d = s.device
    known = known or {}
    info = await _maybe(lambda: s.call(d, "GetDeviceInformation"))
    users = known["users"] if "users" in known else await _maybe(lambda: s.call(d, "GetUsers"))
    protos = known["protocols"] if "protocols" in known else await _maybe(lambda: s.call(d, "GetNetworkProtocols"))
    disc = await _maybe(lambda: s.call(d, "GetDiscoveryMode"))
    filt = await _maybe(lambda: s.call(d, "GetIPAddressFilter"))
    ntp = await _maybe(lambda: s.call(d, "GetNTP"))
    sdt = await _maybe(lambda: s.call(d, "GetSystemDateAndTime"))
    obs: dict[str, Any] = {
        "firmware": None if info == "unsupported" else info.FirmwareVersion,
        "users": "unsupported" if users == "unsupported" else {u.Username: u.UserLevel for u in users or []},
        "protocols": "unsupported" if protos == "unsupported" else {
            p.Name: {"enabled": bool(p.Enabled), "port": int(p.Port[0]) if p.Port else None} for p in protos or []},
        "discovery": disc,
        "ip_filter": "unsupported" if filt == "unsupported" else {
            "type": filt.Type,
            "ipv4": sorted(f"{a.Address}/{a.PrefixLength}" for a in (filt.IPv4Address or []))},
        "ntp": "unsupported" if ntp == "unsupported" else {
            "from_dhcp": bool(ntp.FromDHCP),
            "manual": [h.IPv4Address or h.DNSname for h in (ntp.NTPManual or [])]},
        "datetime": "unsupported" if sdt == "unsupported" else {
            "type": sdt.DateTimeType, "tz": sdt.TimeZone.TZ if sdt.TimeZone is not None else None},
        "dot1x": None, "encoder": None, "tls": None,
    }
    if prof.dot1x == "eap-tls":
        confs = await _maybe(lambda: s.call(d, "GetDot1XConfigurations"))
        obs["dot1x"] = "unsupported" if confs == "unsupported" else [
            {"token": c.Dot1XConfigurationToken, "identity": c.Identity, "eap": c.EAPMethod,
             "cert": (c.EAPMethodConfiguration.TLSConfiguration.CertificateID
                      if c.EAPMethodConfiguration is not None and c.EAPMethodConfiguration.TLSConfiguration is not None
                      else None)} for c in confs or []]
    try:
        media = await s.media()
        confs = await s.call(media, "GetVideoEncoderConfigurations")
        c = confs[0]
        obs["encoder"] = {"token": c.token, "encoding": c.Encoding, "width": c.Resolution.Width,
                          "height": c.Resolution.Height,
                          "fps": c.RateControl.FrameRateLimit if c.RateControl is not None else None,
                          "bitrate": c.RateControl.BitrateLimit if c.RateControl is not None else None,
                          "gov": c.H264.GovLength if c.H264 is not None else None, "_raw": c}
    except Unsupported:
        obs["encoder"] = "unsupported"
    obs["stream"] = "unsupported" if obs["encoder"] == "unsupported" else await _maybe(
        lambda: _main_stream(s, obs["encoder"]["token"]))
    if prof.advanced_security:
        try:
            tls = await s.security("TLSServerBinding")
            assigned = await s.call(tls, "GetAssignedServerCertificates")
            obs["tls"] = list(assigned or [])
        except Unsupported:
            obs["tls"] = "unsupported"
    return obs


_PATH_OK = re.compile(RTSP_PATH_PATTERN)
_TOKEN_OK = re.compile(PROFILE_TOKEN_PATTERN)


async def _main_stream(s: Session, encoder_token: str) -> dict[str, Any]:
    """The main profile (the one using the encoder camkit governs; else the first) and its RTSP URI's path and
    query, as GetStreamUri reports them. A path the VMS could not use (empty, '/', spaces, escapes, over-long) is
    reported as such and never recorded."""
    media = await s.media()
    profiles = list(await s.call(media, "GetProfiles") or [])
    if not profiles:
        raise Unsupported("no media profile")
    main = next((p for p in profiles if p.VideoEncoderConfiguration is not None
                 and p.VideoEncoderConfiguration.token == encoder_token), profiles[0])
    resp = await s.call(media, "GetStreamUri", {"StreamSetup": {"Stream": "RTP-Unicast",
                                                                "Transport": {"Protocol": "RTSP"}},
                                                "ProfileToken": main.token})
    uri = str(getattr(resp, "Uri", "") or "")
    try:
        u = urlsplit(uri)
        port = u.port
    except ValueError:
        u, port = urlsplit(""), None
    path = url_path(uri) if u.scheme else ""
    ok = (u.scheme in ("rtsp", "rtsps") and len(path) >= 2 and len(path) <= RTSP_PATH_MAX
          and _PATH_OK.fullmatch(path) is not None and "@" not in u.netloc)
    token = str(main.token)[:64]  # a camera's answer: recorded only if the stream lock can hold it
    return {"path": path if ok else None, "profile": token if _TOKEN_OK.fullmatch(token) else "", "port": port,
            "problem": None if ok else f"GetStreamUri gave no usable RTSP path ({uri[:80]!r})"}


# --- one camera -----------------------------------------------------------------------------------


@dataclass
class CameraResult:
    camera: str
    mode: str  # apply / audit
    status: str = "pending"  # ok, partial (something not applied), drift (audit), failed
    changed: list[str] = field(default_factory=list)
    not_applied: list[dict[str, str]] = field(default_factory=list)
    drift: list[dict[str, Any]] = field(default_factory=list)
    compliance: dict[str, str] = field(default_factory=dict)  # criterion id -> pass / fail / manual / n/a
    firmware: str | None = None
    error: str | None = None
    attempts: int = 0
    seconds: float = 0.0
    profile_sha256: str = ""
    stream: dict[str, Any] | None = None  # the main stream GetStreamUri reported: path, profile, port
    tls_pin: str | None = None  # sha256 of the HTTPS certificate the session ended on (the store keeps it)
    checked: str = ""  # when (UTC) this result was taken

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def profile_digest(common: str, prof: CameraProfile) -> str:
    """What a camera was applied against: the site's common settings (JSON) and its own profile."""
    blob = common + json.dumps(prof.row(), sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


class CameraJob:
    def __init__(self, settings: SiteCameraSettings, prof: CameraProfile, target: Target, creds: CameraCredentials,
                 call_timeout: float, controller: str | None, stream_path: str | None = None):
        self.settings, self.prof, self.target, self.creds = settings, prof, target, creds
        self.call_timeout = call_timeout
        self.controller = controller
        self.want = expected(settings, prof)
        self.want["stream"] = stream_path  # where the VMS pulls it today (stream lock, else the model's path)
        self.allowed = [ipaddress.ip_network(c) for c in self.want["ip_filter"]["ipv4"]]

    # logins, in order of preference
    def admin_logins(self) -> list[Login]:
        out = [self.creds.accounts["administrator"]]
        if self.creds.previous_admin:
            out.append(self.creds.previous_admin)
        if self.creds.bootstrap:
            out.append(self.creds.bootstrap)
        return out

    async def _to_https(self, s: Session) -> Session:
        """The HTTP session's login, now over HTTPS (just turned on: waits for the restarting web server); the
        certificate it presents is pinned on this first contact. CameraError if HTTPS never answers."""
        assert s.login is not None
        cred = s.login
        await s.close()
        delay = 0.05
        for _ in range(8):
            try:
                return await login(self.target, [cred], self.call_timeout)
            except CertificateChanged:
                raise
            except CameraError:
                await asyncio.sleep(delay)
                delay *= 2
        try:
            return await login(self.target, [cred], self.call_timeout)
        except CameraError as exc:
            raise CameraError(f"HTTPS turned on but it does not answer: nothing else was changed ({exc})") from exc

    async def apply(self, r: CameraResult) -> None:
        bootstrap = [self.creds.bootstrap] if self.creds.bootstrap else []
        s = await login(self.target, self.admin_logins(), self.call_timeout, http_logins=bootstrap)
        try:
            s = await self._apply(s, r)
            r.tls_pin = s.pin
        finally:
            await s.close()

    async def _apply(self, s: Session, r: CameraResult) -> Session:
        want = self.want
        admin = self.creds.accounts["administrator"]

        def unsupported(setting: str, why: str) -> None:
            r.not_applied.append({"setting": setting, "reason": why})

        # 1. HTTPS on, and move the session to it; nothing else happens over HTTP
        try:
            protos: dict[str, Any] | None = {p.Name: p for p in await s.call(s.device, "GetNetworkProtocols") or []}
        except Unsupported:
            protos = None
        if s.scheme != "https":
            https = (protos or {}).get("HTTPS")
            if https is None:
                raise CameraError("reachable over HTTP only, and the camera " + (
                    "does not answer GetNetworkProtocols" if protos is None else "offers no HTTPS")
                    + ": nothing was changed (camkit creates and changes accounts only over HTTPS)")
            if not https.Enabled:
                await s.call(s.device, "SetNetworkProtocols", {"NetworkProtocols": [
                    {"Name": "HTTPS", "Enabled": True, "Port": [want["protocols"]["HTTPS"]["port"]]}]})
                r.changed.append("protocols: HTTPS on")
                https.Enabled = True
            s = await self._to_https(s)
        elif protos is None:
            unsupported("protocols", "GetNetworkProtocols not supported: HTTP, HTTPS and RTSP not checked or changed")
        assert s.scheme == "https" and s.pin is not None

        # 2. the camkit administrator, proven before anything else changes
        users = await s.call(s.device, "GetUsers")
        present = {u.Username: u.UserLevel for u in users or []}
        if admin.user not in present:
            await s.call(s.device, "CreateUsers", {"User": [
                {"Username": admin.user, "Password": admin.password, "UserLevel": "Administrator"}]})
            r.changed.append(f"users: created {admin.user} (Administrator)")
        elif s.login != admin or present[admin.user] != "Administrator":
            await s.call(s.device, "SetUser", {"User": [
                {"Username": admin.user, "Password": admin.password, "UserLevel": "Administrator"}]})
            r.changed.append(f"users: set {admin.user} (Administrator, password from the store)")
        if s.login != admin:
            s.use(admin)
            try:  # proof: an administrator-only read with the new login, before any default account goes
                users = await s.call(s.device, "GetUsers")
            except NotAuthorized as exc:
                raise CameraError(f"the camera does not accept {admin.user} after setting it: "
                                  "default accounts kept") from exc
            present = {u.Username: u.UserLevel for u in users or []}
        dev = s.device

        # 3. operator and viewer accounts; then defaults and strangers go
        create, update = [], []
        for lvl in ("operator", "user"):
            acct = self.creds.accounts[lvl]
            entry = {"Username": acct.user, "Password": acct.password, "UserLevel": ONVIF_LEVEL[lvl]}
            if acct.user not in present:
                create.append(entry)
            elif present[acct.user] != ONVIF_LEVEL[lvl] or not await s.works(acct):
                update.append(entry)
        if create:
            await s.call(dev, "CreateUsers", {"User": create})
            r.changed += [f"users: created {e['Username']} ({e['UserLevel']})" for e in create]
        if update:
            await s.call(dev, "SetUser", {"User": update})
            r.changed += [f"users: set {e['Username']} ({e['UserLevel']}, password from the store)" for e in update]
        ours = set(want["users"])
        extra = sorted(u for u in present if u not in ours)
        if extra:
            await s.call(dev, "DeleteUsers", {"Username": extra})
            r.changed.append(f"users: deleted {', '.join(extra)}")

        obs = await observe(s, self.prof, {"users": [], "protocols": list(protos.values()) if protos is not None
                                           else "unsupported"})
        r.firmware = obs["firmware"]
        _record_stream(obs, r)
        if r.stream is None and not want.get("stream"):
            unsupported("stream", "GetStreamUri gave no usable main-stream path and none is documented for the model: "
                        "set the camera's stream_url")
        elif (served := _served_elsewhere(want, obs.get("stream"))) is not None:
            unsupported("stream", f"the camera serves its main stream on port {served} after SetNetworkProtocols, "
                        f"but the VMS pulls it from {want['stream_port']} (the only port the firewall and NetworkPolicies "
                        "admit): set its RTSP port by hand, or give the camera a stream_url")

        # 4. discovery
        if obs["discovery"] == "unsupported":
            unsupported("discovery", "GetDiscoveryMode/SetDiscoveryMode not supported")
        elif obs["discovery"] != want["discovery"]:
            try:
                await s.call(dev, "SetDiscoveryMode", {"DiscoveryMode": want["discovery"]})
                r.changed.append(f"discovery: {want['discovery']}")
            except Unsupported:
                unsupported("discovery", "SetDiscoveryMode not supported")

        # 5. time: NTP servers and time zone
        if obs["ntp"] == "unsupported":
            unsupported("ntp", "GetNTP/SetNTP not supported")
        elif obs["ntp"] != want["ntp"]:
            try:
                await s.call(dev, "SetNTP", {"FromDHCP": False, "NTPManual": [
                    {"Type": "IPv4", "IPv4Address": a} for a in want["ntp"]["manual"]]})
                r.changed.append("ntp: " + ", ".join(want["ntp"]["manual"]))
            except Unsupported:
                unsupported("ntp", "SetNTP not supported")
        if obs["datetime"] == "unsupported":
            unsupported("datetime", "GetSystemDateAndTime not supported")
        elif obs["datetime"] != want["datetime"]:
            await s.call(dev, "SetSystemDateAndTime", {"DateTimeType": "NTP", "DaylightSavings": False,
                                                       "TimeZone": {"TZ": want["datetime"]["tz"]}})
            r.changed.append(f"time: NTP, TZ {want['datetime']['tz']}")

        # 6. 802.1X (EAP-TLS cameras; MAB needs nothing on the camera)
        if want["dot1x"] is not None:
            if obs["dot1x"] == "unsupported":
                unsupported("dot1x", "the camera has no 802.1X configuration service")
            else:
                conf = {"Dot1XConfigurationToken": "camkit", "Identity": want["dot1x"]["identity"],
                        "EAPMethod": EAP_TLS,
                        "EAPMethodConfiguration": {"TLSConfiguration": {"CertificateID": want["dot1x"]["cert"]}}}
                mine = [c for c in obs["dot1x"] if c["token"] == "camkit"]
                if not mine:
                    await s.call(dev, "CreateDot1XConfiguration", {"Dot1XConfiguration": conf})
                    r.changed.append("dot1x: EAP-TLS configuration created")
                elif {k: mine[0][k] for k in ("identity", "eap", "cert")} != want["dot1x"]:
                    await s.call(dev, "SetDot1XConfiguration", {"Dot1XConfiguration": conf})
                    r.changed.append("dot1x: EAP-TLS configuration set")

        # 7. encoder within the sizing plan
        enc, we = obs["encoder"], want["encoder"]
        if enc == "unsupported":
            unsupported("encoder", "no media service")
        elif enc is not None and {k: enc[k] for k in we} != we:
            raw = enc["_raw"]
            if we["encoding"] == "H265":
                # Media1 (the client's bundled WSDL) has no H.265 enumeration: the codec stays as the camera
                # streams it; resolution, frame rate and bitrate cap are still enforced
                if enc["encoding"] != "H265":
                    unsupported("encoder.codec", "H.265 is set over ONVIF Media2, which the client's WSDL lacks")
            else:
                raw.Encoding = "H264"
                if raw.H264 is None:
                    raw.H264 = {"GovLength": we["gov"], "H264Profile": "Main"}
                else:
                    raw.H264.GovLength = we["gov"]
            raw.Resolution.Width, raw.Resolution.Height = we["width"], we["height"]
            raw.RateControl.FrameRateLimit = we["fps"]
            raw.RateControl.BitrateLimit = we["bitrate"]
            media = await s.media()
            await s.call(media, "SetVideoEncoderConfiguration", {"Configuration": raw, "ForcePersistence": True})
            r.changed.append(f"encoder: {we['width']}x{we['height']} {we['fps']} fps, cap {we['bitrate']} kb/s")

        # 8. TLS server certificate (Advanced Security)
        if want["tls"]:
            if obs["tls"] == "unsupported":
                unsupported("tls", "the camera offers no Advanced Security service")
            elif not obs["tls"]:
                ks = await s.security("KeystoreBinding")
                key = await s.call(ks, "CreateRSAKeyPair", {"KeyLength": 2048})
                cert = await s.call(ks, "CreateSelfSignedCertificate", {
                    "KeyID": key.KeyID, "Alias": CERT_ALIAS,
                    "Subject": {"CommonName": [self.prof.id]},
                    "SignatureAlgorithm": {"algorithm": SHA256_RSA}})
                path = await s.call(ks, "CreateCertificationPath", {
                    "CertificateIDs": {"CertificateID": [cert]}, "Alias": CERT_ALIAS})
                tls = await s.security("TLSServerBinding")
                # the new certificate, read over the pinned session, becomes the pin before HTTPS switches to it
                try:
                    got = await s.call(ks, "GetCertificate", {"CertificateID": cert})
                    new_pin = hashlib.sha256(bytes(got.CertificateContent)).hexdigest()
                except Unsupported:
                    new_pin = None
                await s.call(tls, "AddServerCertificateAssignment", {"CertificationPathID": path})
                r.changed.append("tls: device key and certificate assigned to HTTPS")
                if new_pin is not None:
                    s.repin(new_pin)
                else:
                    unsupported("tls.pin", "GetCertificate not supported: the new certificate is pinned on first use "
                                "at the next contact")

        # 9. IP filter, only if this controller stays allowed
        if obs["ip_filter"] == "unsupported":
            unsupported("ip_filter", "GetIPAddressFilter/SetIPAddressFilter not supported")
        elif obs["ip_filter"] != want["ip_filter"]:
            nets = self.allowed
            me = self.controller
            if me is None or not any(ipaddress.ip_address(me) in n for n in nets):
                unsupported("ip_filter", f"this controller ({me or 'unknown address'}) would be locked out: run from "
                            "the site's management network or pass --controller-address")
            else:
                try:
                    await s.call(dev, "SetIPAddressFilter", {"IPAddressFilter": {"Type": "Allow", "IPv4Address": [
                        {"Address": c.split("/")[0], "PrefixLength": int(c.split("/")[1])}
                        for c in want["ip_filter"]["ipv4"]]}})
                    r.changed.append(f"ip_filter: allow {len(nets)} networks")
                except Unsupported:
                    unsupported("ip_filter", "SetIPAddressFilter not supported")

        # 10. HTTP off, last (the session is on HTTPS)
        changes = []
        for name, wantp in (want["protocols"] if protos is not None else {}).items():
            p = protos.get(name)
            if p is None:
                continue
            port = int(p.Port[0]) if p.Port else None
            if bool(p.Enabled) != wantp["enabled"] or (wantp["enabled"] and port != wantp["port"]):
                changes.append({"Name": name, "Enabled": wantp["enabled"], "Port": [wantp["port"]]})
        if changes:
            await s.call(dev, "SetNetworkProtocols", {"NetworkProtocols": changes})
            r.changed.append("protocols: " + ", ".join(f"{c['Name']} {'on' if c['Enabled'] else 'off'}"
                                                       for c in changes))
        return s

    async def audit(self, r: CameraResult, criteria: list[dict[str, Any]]) -> None:
        s = await login(self.target, [self.creds.accounts["administrator"]], self.call_timeout)  # HTTPS only
        try:
            obs = await observe(s, self.prof)
            logins = {lvl: await s.works(self.creds.accounts[lvl]) for lvl in ("operator", "user")}
            r.tls_pin = s.pin
        finally:
            await s.close()
        r.firmware = obs["firmware"]
        _record_stream(obs, r)
        evaluate(self.want, obs, logins, self.creds, self.settings, self.prof, r, criteria)


def _served_elsewhere(want: dict[str, Any], st: Any) -> int | None:
    """The port the camera's GetStreamUri serves its main stream on, when that is not where the VMS pulls it
    (and the firewall admits it): rtsp:// without a port is 554 (RFC 2326)."""
    if not isinstance(st, dict) or not st.get("path") or want.get("stream_port") is None:
        return None
    served = st.get("port") or int(RTSP[1])
    return served if served != want["stream_port"] else None


def _record_stream(obs: dict[str, Any], r: CameraResult) -> None:
    st = obs.get("stream")
    if isinstance(st, dict) and st["path"]:
        r.stream = {k: st[k] for k in ("path", "profile", "port")}


def evaluate(want: dict[str, Any], obs: dict[str, Any], logins: dict[str, bool], creds: CameraCredentials,
             settings: SiteCameraSettings, prof: CameraProfile, r: CameraResult,
             criteria: list[dict[str, Any]]) -> None:
    """Drift against the profile, and each criterion as pass / fail / manual / n/a."""
    from camkit.cameras.accounts import meets_policy

    def drift(setting: str, want_v: Any, got: Any) -> None:
        r.drift.append({"setting": setting, "expected": want_v, "actual": got})

    checks: dict[str, str] = {}
    users = obs["users"]
    if users == "unsupported":
        checks["accounts"] = checks["default_accounts"] = "fail"
    else:
        ok = all(users.get(u) == lvl for u, lvl in want["users"].items())
        checks["accounts"] = "pass" if ok else "fail"
        if not ok:
            drift("users", want["users"], users)
        extra = sorted(set(users) - set(want["users"]))
        checks["default_accounts"] = "fail" if extra else "pass"
        if extra:
            drift("users.extra", [], extra)
    bad_logins = [lvl for lvl, ok in logins.items() if not ok]
    checks["passwords"] = "pass" if not bad_logins else "fail"
    for lvl in bad_logins:
        drift(f"password.{lvl}", "the store's password", "login refused")
    checks["password_policy"] = "pass" if all(
        meets_policy(a.password, settings.password_length, settings.password_classes)
        for a in creds.accounts.values()) else "fail"
    if obs["protocols"] == "unsupported":
        checks["protocols"] = "fail"
        drift("protocols", want["protocols"], "not supported by the camera")
    else:
        checks["protocols"] = "pass" if all(
            obs["protocols"].get(n, {}).get("enabled") == p["enabled"] for n, p in want["protocols"].items()) else "fail"
        if checks["protocols"] == "fail":
            drift("protocols", want["protocols"], obs["protocols"])
    if want["tls"]:
        checks["tls_certificate"] = ("manual" if obs["tls"] == "unsupported"
                                     else "pass" if obs["tls"] else "fail")
        if obs["tls"] == []:
            drift("tls", "a certificate assigned to HTTPS", "none")
    else:
        checks["tls_certificate"] = "manual"
    for key in ("discovery", "ip_filter", "ntp"):
        if obs[key] == "unsupported":
            checks[key if key != "ntp" else "time"] = "fail"
            drift(key, want[key], "not supported by the camera")
        elif obs[key] != want[key]:
            drift(key, want[key], obs[key])
    checks["discovery"] = checks.get("discovery") or ("pass" if obs["discovery"] == want["discovery"] else "fail")
    checks["ip_filter"] = checks.get("ip_filter") or ("pass" if obs["ip_filter"] == want["ip_filter"] else "fail")
    if obs["datetime"] != want["datetime"]:
        drift("datetime", want["datetime"], "not supported by the camera" if obs["datetime"] == "unsupported"
              else obs["datetime"])
    checks["time"] = checks.get("time") or ("pass" if obs["ntp"] == want["ntp"] and obs["datetime"] == want["datetime"]
                                            else "fail")
    if want["dot1x"] is None:
        checks["dot1x"] = "pass" if prof.dot1x == "mab" else "n/a"
    elif obs["dot1x"] == "unsupported":
        checks["dot1x"] = "fail"
        drift("dot1x", want["dot1x"], "not supported by the camera")
    else:
        mine = [c for c in obs["dot1x"] if c["token"] == "camkit"]
        got = {k: mine[0][k] for k in ("identity", "eap", "cert")} if mine else None
        checks["dot1x"] = "pass" if got == want["dot1x"] else "fail"
        if got != want["dot1x"]:
            drift("dot1x", want["dot1x"], got)
    enc = obs["encoder"]
    if enc == "unsupported" or enc is None:
        checks["encoder"] = "fail"
    else:
        got = {k: enc[k] for k in want["encoder"]}
        differs = {k for k in want["encoder"] if got[k] != want["encoder"][k]}
        if want["encoder"]["encoding"] == "H265" and differs == {"encoding"}:
            differs = set()  # see apply: H.265 is not settable over Media1; the rest matches
        checks["encoder"] = "fail" if differs else "pass"
        if differs:
            drift("encoder", {k: want["encoder"][k] for k in sorted(differs)}, {k: got[k] for k in sorted(differs)})
    st = obs.get("stream")
    if st == "unsupported" or st is None:
        drift("stream", want.get("stream"), "GetStreamUri not supported: set the camera's stream_url")
    elif st["path"] is None:
        drift("stream", want.get("stream"), st["problem"])
    elif want.get("stream") and st["path"] != want["stream"]:
        drift("stream", want["stream"], st["path"])  # recorded in the stream lock: the next render pulls this
    if (served := _served_elsewhere(want, st)) is not None:
        drift("stream port", want["stream_port"], served)
    if want["min_firmware"] is None:
        checks["firmware"] = "manual"
    else:
        checks["firmware"] = "pass" if firmware_ok(obs["firmware"] or "", want["min_firmware"]) else "fail"
        if checks["firmware"] == "fail":
            drift("firmware", f">= {want['min_firmware']}", obs["firmware"])
    for c in criteria:
        r.compliance[c["id"]] = "manual" if c["check"] == "manual" else checks.get(c["check"], "manual")


# --- many cameras ---------------------------------------------------------------------------------


async def warm_up() -> None:
    """Parse each WSDL once before the cameras start: the client caches parsed documents, but cameras
    starting together would otherwise each parse them (seconds of CPU apiece)."""
    from onvif.client import _WSDL_PATH, ONVIFService

    for wsdl, binding in (("devicemgmt.wsdl", f"{{{TDS_NS}}}DeviceBinding"), ("media.wsdl", f"{{{TRT_NS}}}MediaBinding"),
                          ("advancedsecurity.wsdl", f"{{{TAS_NS}}}TLSServerBinding")):
        svc = ONVIFService("http://127.0.0.1:9/onvif/warm-up", None, None, os.path.join(_WSDL_PATH, wsdl),
                           no_cache=True, binding_name=binding)
        await svc.setup()
        await svc.close()


@dataclass
class RunOptions:
    mode: str  # apply / audit
    concurrency: int = 50
    call_timeout: float = 10.0
    camera_timeout: float = 120.0
    retries: int = 2
    out: Path | None = None  # per-camera result files; a rerun skips cameras already done
    resume: bool = True
    controller: str | None = None


def _unfinished(summary: Path) -> bool:
    """Resume only after a run that did not finish every camera (a complete run is followed by a full one:
    cameras may have been reset since)."""
    try:
        doc = json.loads(summary.read_text("utf-8"))
    except (OSError, ValueError):
        return True  # interrupted before the summary was written
    return set(doc.get("summary", {}).get("by_status", {})) != {"ok"}


async def run(settings: SiteCameraSettings, profiles: list[CameraProfile], targets: dict[str, Target],
              creds: Callable[[str], CameraCredentials], opts: RunOptions, criteria: list[dict[str, Any]],
              progress: Callable[[CameraResult], None] | None = None,
              streams: dict[str, str | None] | None = None) -> list[CameraResult]:
    """`streams`: camera id -> the path the VMS pulls it from today (audit reports a camera that says otherwise)."""
    await warm_up()
    sem = asyncio.Semaphore(opts.concurrency)
    common = json.dumps(settings.common(), sort_keys=True, default=str)
    if opts.out is not None:
        opts.out.mkdir(parents=True, exist_ok=True)
    resume = opts.resume and opts.out is not None and _unfinished(opts.out / f"{opts.mode}.json")

    async def one(prof: CameraProfile) -> CameraResult:
        r = CameraResult(prof.id, opts.mode, profile_sha256=profile_digest(common, prof))
        path = opts.out / f"{prof.id}.json" if opts.out is not None else None
        if opts.mode == "apply" and resume and path is not None and path.exists():
            try:
                prev = json.loads(path.read_text("utf-8"))
            except ValueError:
                prev = {}
            if prev.get("status") == "ok" and prev.get("profile_sha256") == r.profile_sha256:
                r.status, r.changed, r.firmware = "ok", [], prev.get("firmware")
                r.error = None
                r.attempts = 0
                r.checked = str(prev.get("checked", ""))  # when it was done: this run did not touch it
                if progress:
                    progress(r)
                return r
        target = targets.get(prof.id)
        async with sem:
            t0 = time.perf_counter()
            if target is None:
                r.status, r.error = "failed", "no address: the camera has no planned address and no endpoint"
            else:
                for attempt in range(1, opts.retries + 2):
                    r.attempts = attempt
                    r.changed, r.not_applied, r.drift, r.compliance, r.error = [], [], [], {}, None
                    r.stream = None
                    job = CameraJob(settings, prof, target, creds(prof.id), opts.call_timeout, opts.controller,
                                    (streams or {}).get(prof.id))
                    try:
                        if opts.mode == "apply":
                            await asyncio.wait_for(job.apply(r), opts.camera_timeout)
                            r.status = "partial" if r.not_applied else "ok"
                        else:
                            await asyncio.wait_for(job.audit(r, criteria), opts.camera_timeout)
                            r.status = "ok" if not r.drift else "drift"
                        break
                    except asyncio.TimeoutError:
                        r.status, r.error = "failed", f"no result within {opts.camera_timeout:g} s"
                    except (CameraError, NotAuthorized, Unsupported) as exc:
                        r.status, r.error = "failed", str(exc)
                        if isinstance(exc, (Unsupported, CertificateChanged)) or str(exc).startswith("no credential"):
                            break  # the same answer again; a wrong password only feeds the camera's lockout
                    except Exception as exc:  # noqa: BLE001 - one camera never stops the others
                        r.status, r.error = "failed", f"{type(exc).__name__}: {_fault_text(exc)}"[:500]
                    await asyncio.sleep(min(2.0, 0.2 * attempt))
            r.seconds = round(time.perf_counter() - t0, 3)
            r.checked = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        if path is not None:
            tmp = path.with_name(path.name + ".tmp")
            tmp.write_text(json.dumps(r.as_json(), indent=1, sort_keys=True, default=str), "utf-8")
            tmp.replace(path)
        if progress:
            progress(r)
        return r

    return list(await asyncio.gather(*(one(p) for p in profiles)))
