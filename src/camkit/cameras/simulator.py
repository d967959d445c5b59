"""An ONVIF device SIMULATOR for tests and benchmarks — not a camera.

No real camera can run on a CI machine, so this serves the ONVIF operations camkit uses over real SOAP/HTTP
(aiohttp) with WS-Security UsernameToken digest authentication, from a factory-default state: the vendor's
default accounts with a factory password, HTTP on and HTTPS off, WS-Discovery on, no IP filter, NTP from DHCP,
a vendor time zone, no 802.1X, a vendor encoder setting. Each camera listens on its own loopback ports (HTTP and
HTTPS); turning HTTP off over ONVIF closes its HTTP port, as a camera does.

Per-camera quirks (a JSON object per camera id or "vendor/model"):
    {"unsupported": ["SetDiscoveryMode"], "fault": {"SetNTP": "ter:InvalidArgVal"}, "delay_s": {"GetUsers": 5},
     "no_advanced_security": true, "no_dot1x": true, "firmware": "1.0.0", "stream_path": "/Streaming/Channels/101",
     "stream_port": 8554, "tls_identity": "another device", "https_closed": true}
"tls_identity": its HTTPS presents a certificate of that name instead of the factory one (a replaced camera, or
someone in the middle); "https_closed": its HTTPS port refuses connections whatever its settings say (a camera
whose web server lost HTTPS, or a port blocked on the way). A certificate created over Advanced Security is a
real one (GetCertificate returns its DER), and HTTPS presents it once assigned, as a camera does.

A control endpoint (http://127.0.0.1:<control port>/) lets tests read a camera's state (GET /state/<id>),
factory-reset it (POST /reset/<id>) and change quirks (POST /quirks/<id>, JSON body).
"""

from __future__ import annotations

import asyncio
import base64
import copy
import datetime as dt
import hashlib
import json
import signal
import ssl
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from aiohttp import web
from lxml import etree

from camkit.cameras.profile import CameraProfile

SOAP = "http://www.w3.org/2003/05/soap-envelope"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
TDS = "http://www.onvif.org/ver10/device/wsdl"
TRT = "http://www.onvif.org/ver10/media/wsdl"
TAS = "http://www.onvif.org/ver10/advancedsecurity/wsdl"
TT = "http://www.onvif.org/ver10/schema"
NS = f'xmlns:s="{SOAP}" xmlns:tds="{TDS}" xmlns:trt="{TRT}" xmlns:tas="{TAS}" xmlns:tt="{TT}" ' \
     'xmlns:ter="http://www.onvif.org/ver10/error"'
PRE_AUTH = {"GetSystemDateAndTime"}
MAIN_PROFILE = "prof-main"
# What a simulated camera's GetStreamUri reports when no quirk sets it: `camkit cameras simulate` sets each camera's
# to its model's documented rtsp_path; a model without one (VNPT Technology, Viettel) answers this made-up path,
# which is only ever the SIMULATOR's answer, never a vendor's
SIMULATED_STREAM_PATH = "/simulated/main"
CLOCK_SKEW_S = 300  # WS-Security Created must be within this of the device clock


class Fault(Exception):
    def __init__(self, code: str, reason: str, status: int = 400, sender: bool = True):
        super().__init__(reason)
        self.code, self.reason, self.status, self.sender = code, reason, status, sender


@dataclass
class SimCamera:
    """One simulated device: its factory identity and its current settings."""

    id: str
    vendor: str
    model: str
    firmware: str
    default_accounts: tuple[str, ...]
    factory_password: str
    resolution: tuple[int, int]
    advanced_security: bool = True
    dot1x: bool = True
    http_port: int = 0
    https_port: int = 0
    quirks: dict[str, Any] = field(default_factory=dict)
    factory_encoding: str = "H264"  # the model's default codec
    stream_path: str = SIMULATED_STREAM_PATH  # what GetStreamUri reports for the main profile (quirk "stream_path")
    state: dict[str, Any] = field(default_factory=dict)
    sites: dict[str, web.TCPSite] = field(default_factory=dict)
    identities: dict[str, tuple[ssl.SSLContext, bytes]] = field(default_factory=dict)  # certificate id -> (TLS, DER)

    def factory_reset(self) -> None:
        w, h = self.resolution
        self.identities = {}
        self.state = {
            "users": {name: {"password": self.factory_password, "level": "Administrator"}
                      for name in self.default_accounts},
            "protocols": {"HTTP": {"enabled": True, "port": 80}, "HTTPS": {"enabled": False, "port": 443},
                          "RTSP": {"enabled": True, "port": 554}},
            "discovery": "Discoverable",
            "ip_filter": {"type": "Deny", "ipv4": []},
            "ntp": {"from_dhcp": True, "manual": []},
            "datetime": {"type": "Manual", "dst": False, "tz": "CST-8"},
            "dot1x": [],
            "encoder": {"token": "venc-main", "name": "MainStream", "encoding": self.factory_encoding, "width": w, "height": h,
                        "quality": 4.0, "fps": 30, "interval": 1, "bitrate": 8192, "gov": 60},
            "keys": [], "certificates": [], "paths": {}, "assigned": [],
            "calls": {},
            "http_calls": {},  # the operations received over plain HTTP (tests: no password ever goes that way)
        }


def _text(el: etree._Element | None, path: str, default: str = "") -> str:
    if el is None:
        return default
    found = el.find(path)
    return found.text or default if found is not None else default


def _all(el: etree._Element, path: str) -> list[etree._Element]:
    return list(el.iterfind(path))


def _bool(text: str) -> bool:
    return text.strip().lower() in ("true", "1")


def _tt(tag: str) -> str:
    return f"{{{TT}}}{tag}"


def _tds(tag: str) -> str:
    return f"{{{TDS}}}{tag}"


def envelope(body: str) -> bytes:
    return f'<?xml version="1.0" encoding="UTF-8"?><s:Envelope {NS}><s:Body>{body}</s:Body></s:Envelope>'.encode()


def fault_xml(f: Fault) -> bytes:
    side = "s:Sender" if f.sender else "s:Receiver"
    return envelope(f"<s:Fault><s:Code><s:Value>{side}</s:Value><s:Subcode><s:Value>{f.code}</s:Value></s:Subcode>"
                    f"</s:Code><s:Reason><s:Text xml:lang=\"en\">{escape(f.reason)}</s:Text></s:Reason></s:Fault>")


class Simulator:
    """Serves many simulated cameras from one process (one event loop)."""

    def __init__(self, host: str = "127.0.0.1", base_port: int = 20000):
        # fixed ports below the kernel's ephemeral range (32768+): a port closed when a camera turns a
        # protocol off is never handed to another listener or an outgoing connection meanwhile
        self.host, self.base_port = host, base_port
        self.cameras: dict[str, SimCamera] = {}
        self.by_port: dict[int, tuple[SimCamera, str]] = {}
        self.runners: list[web.AppRunner] = []
        self.control_port = 0
        self._ssl: ssl.SSLContext | None = None
        self._named: dict[str, ssl.SSLContext] = {}  # quirk tls_identity -> its TLS context
        self._app_runner: web.AppRunner | None = None
        self._stopping = False

    # --- set-up ------------------------------------------------------------------------------------

    def add(self, profile: CameraProfile, factory_password: str, quirks: dict[str, Any] | None = None) -> SimCamera:
        q = dict(quirks or {})
        cam = SimCamera(id=profile.id, vendor=profile.vendor, model=profile.model,
                        firmware=q.get("firmware", profile.min_firmware or "1.0.0"),
                        default_accounts=profile.default_accounts, factory_password=factory_password,
                        resolution=(profile.encoder.width, profile.encoder.height),
                        advanced_security=profile.advanced_security and not q.get("no_advanced_security"),
                        dot1x=not q.get("no_dot1x"), quirks=q,
                        factory_encoding=profile.encoder.encoding,
                        stream_path=q.get("stream_path") or SIMULATED_STREAM_PATH)
        n = len(self.cameras)
        cam.http_port, cam.https_port = self.base_port + 2 * n, self.base_port + 2 * n + 1
        cam.factory_reset()
        self.cameras[cam.id] = cam
        return cam

    def _tls(self, cam: SimCamera | None = None) -> ssl.SSLContext:
        """What the camera's HTTPS presents: the certificate assigned over Advanced Security, else the quirk's,
        else the factory certificate (one for every simulated camera)."""
        if cam is not None:
            for pid in reversed(cam.state["assigned"]):
                cid = cam.state["paths"][pid][0]
                if cid in cam.identities:
                    return cam.identities[cid][0]
            name = cam.quirks.get("tls_identity")
            if name:
                if name not in self._named:
                    self._named[name] = self_signed_tls(str(name))
                return self._named[name]
        if self._ssl is None:
            self._ssl = self_signed_tls("onvif-simulator factory certificate")
        return self._ssl

    async def _restart_https(self, cam: SimCamera) -> None:
        """A new certificate or quirk: the HTTPS listener starts again (connections already open stay)."""
        site = cam.sites.pop("https", None)
        if site is not None and site._server is not None and site._server.is_serving():  # type: ignore[union-attr]
            await site.stop()
        await self._sync_listeners(cam)

    async def start(self) -> None:
        app = web.Application(client_max_size=1 << 20)
        app.router.add_post("/onvif/{service}", self._handle)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        self._app_runner = runner
        for cam in self.cameras.values():
            await self._sync_listeners(cam)
        control = web.Application()
        control.router.add_get("/state/{id}", self._ctl_state)
        control.router.add_post("/reset/{id}", self._ctl_reset)
        control.router.add_post("/quirks/{id}", self._ctl_quirks)
        crunner = web.AppRunner(control, access_log=None, handle_signals=False)
        await crunner.setup()
        site = web.TCPSite(crunner, self.host, 0)
        await site.start()
        self.control_port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.runners.append(crunner)

    async def _sync_listeners(self, cam: SimCamera) -> None:
        """A disabled protocol's port refuses connections (its listener is stopped), as on a camera."""
        if self._stopping:
            return  # a protocol change still pending when the simulator is told to stop
        for scheme, proto in (("http", "HTTP"), ("https", "HTTPS")):
            want = cam.state["protocols"][proto]["enabled"] and not (scheme == "https" and cam.quirks.get("https_closed"))
            site = cam.sites.get(scheme)
            running = site is not None and site._server is not None and site._server.is_serving()  # type: ignore[union-attr]
            if want and not running:
                assert self._app_runner is not None
                port = getattr(cam, f"{scheme}_port")
                site = web.TCPSite(self._app_runner, self.host, port,
                                   ssl_context=self._tls(cam) if scheme == "https" else None, backlog=64,
                                   reuse_address=True)
                await site.start()
                cam.sites[scheme] = site
                self.by_port[port] = (cam, scheme)
            elif not want and running and site is not None:
                await site.stop()

    def endpoints(self) -> dict[str, Any]:
        return {"control_port": self.control_port,
                "cameras": {c.id: {"host": self.host, "http_port": c.http_port, "https_port": c.https_port}
                            for c in self.cameras.values()}}

    async def stop(self) -> None:
        self._stopping = True
        if self._app_runner is not None:
            await self._app_runner.cleanup()
        for r in self.runners:
            await r.cleanup()

    # --- control -----------------------------------------------------------------------------------

    def _cam(self, request: web.Request) -> SimCamera:
        cam = self.cameras.get(request.match_info["id"])
        if cam is None:
            raise web.HTTPNotFound(text="no such camera")
        return cam

    async def _ctl_state(self, request: web.Request) -> web.Response:
        cam = self._cam(request)
        state = copy.deepcopy(cam.state)
        state["firmware"] = cam.firmware
        state["ports"] = {"http": cam.http_port, "https": cam.https_port}
        return web.json_response(state)

    async def _ctl_reset(self, request: web.Request) -> web.Response:
        cam = self._cam(request)
        cam.factory_reset()
        await self._restart_https(cam)
        await self._sync_listeners(cam)
        return web.json_response({"reset": cam.id})

    async def _ctl_quirks(self, request: web.Request) -> web.Response:
        cam = self._cam(request)
        cam.quirks = await request.json()
        if "firmware" in cam.quirks:
            cam.firmware = cam.quirks["firmware"]
        await self._restart_https(cam)
        return web.json_response({"quirks": cam.quirks})

    # --- SOAP --------------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.Response:
        sock = request.transport.get_extra_info("sockname") if request.transport else None
        entry = self.by_port.get(sock[1]) if sock else None
        if entry is None:
            raise web.HTTPNotFound()
        cam, scheme = entry
        proto = "HTTPS" if scheme == "https" else "HTTP"
        if not cam.state["protocols"][proto]["enabled"]:  # a request already on a kept-alive connection
            raise web.HTTPServiceUnavailable()
        body = await request.read()
        try:
            root = etree.fromstring(body)
            soap_body = root.find(f"{{{SOAP}}}Body")
            if soap_body is None or len(soap_body) == 0:
                raise Fault("ter:InvalidArgs", "no SOAP body")
            op_el = soap_body[0]
            op = etree.QName(op_el).localname
            cam.state["calls"][op] = cam.state["calls"].get(op, 0) + 1
            if scheme == "http":
                cam.state["http_calls"][op] = cam.state["http_calls"].get(op, 0) + 1
            delay = cam.quirks.get("delay_s", {})
            if op in delay or "*" in delay:
                await asyncio.sleep(float(delay.get(op, delay.get("*", 0))))
            if op not in PRE_AUTH:
                self._authenticate(cam, root, op)
            if op in cam.quirks.get("unsupported", ()):
                raise Fault("ter:ActionNotSupported", f"{op} is not supported by this device", sender=False)
            if op in cam.quirks.get("fault", {}):
                raise Fault(cam.quirks["fault"][op], f"{op} failed", sender=False)
            handler = getattr(self, f"op_{op}", None)
            if handler is None:
                raise Fault("ter:ActionNotSupported", f"{op} is not supported by this device", sender=False)
            out = handler(cam, op_el, request)
            if asyncio.iscoroutine(out):
                out = await out
            return web.Response(body=envelope(out), content_type="application/soap+xml", charset="utf-8")
        except etree.XMLSyntaxError:
            return web.Response(status=400, body=fault_xml(Fault("ter:WellFormed", "not well-formed XML")),
                                content_type="application/soap+xml")
        except Fault as f:
            return web.Response(status=f.status, body=fault_xml(f), content_type="application/soap+xml")

    def _authenticate(self, cam: SimCamera, root: etree._Element, op: str) -> None:
        token = root.find(f"{{{SOAP}}}Header/{{{WSSE}}}Security/{{{WSSE}}}UsernameToken")
        if token is None:
            raise Fault("ter:NotAuthorized", "Sender not Authorized", status=400)
        user = _text(token, f"{{{WSSE}}}Username")
        digest = _text(token, f"{{{WSSE}}}Password")
        nonce = _text(token, f"{{{WSSE}}}Nonce")
        created = _text(token, f"{{{WSU}}}Created")
        account = cam.state["users"].get(user)
        ok = False
        if account is not None and nonce and created:
            expect = base64.b64encode(hashlib.sha1(base64.b64decode(nonce) + created.encode()
                                                   + account["password"].encode()).digest()).decode()
            ok = expect == digest
            try:
                when = dt.datetime.fromisoformat(created.replace("Z", "+00:00"))
                if when.tzinfo is None:
                    when = when.replace(tzinfo=dt.timezone.utc)
                ok = ok and abs((dt.datetime.now(dt.timezone.utc) - when).total_seconds()) <= CLOCK_SKEW_S
            except ValueError:
                ok = False
        if not ok:
            raise Fault("ter:NotAuthorized", "Sender not Authorized", status=400)
        level = account["level"]  # type: ignore[index]
        admin_only = op.startswith(("Set", "Create", "Delete", "Add", "Remove", "Replace")) or op == "GetUsers"
        if admin_only and level != "Administrator":
            raise Fault("ter:NotAuthorized", "Sender not Authorized", status=400)

    # device management

    def op_GetSystemDateAndTime(self, cam: SimCamera, el: etree._Element, _r: web.Request) -> str:
        now = dt.datetime.now(dt.timezone.utc)
        d = cam.state["datetime"]
        return (f"<tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime><tt:DateTimeType>{d['type']}"
                f"</tt:DateTimeType><tt:DaylightSavings>{str(d['dst']).lower()}</tt:DaylightSavings>"
                f"<tt:TimeZone><tt:TZ>{escape(d['tz'])}</tt:TZ></tt:TimeZone><tt:UTCDateTime><tt:Time>"
                f"<tt:Hour>{now.hour}</tt:Hour><tt:Minute>{now.minute}</tt:Minute><tt:Second>{now.second}</tt:Second>"
                f"</tt:Time><tt:Date><tt:Year>{now.year}</tt:Year><tt:Month>{now.month}</tt:Month><tt:Day>{now.day}"
                f"</tt:Day></tt:Date></tt:UTCDateTime></tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse>")

    def op_SetSystemDateAndTime(self, cam: SimCamera, el: etree._Element, _r: web.Request) -> str:
        d = cam.state["datetime"]
        kind = _text(el, _tds("DateTimeType"))
        if kind not in ("Manual", "NTP"):
            raise Fault("ter:InvalidArgVal", "DateTimeType must be Manual or NTP")
        d["type"] = kind
        d["dst"] = _bool(_text(el, _tds("DaylightSavings"), "false"))
        tz = _text(el, f"{_tds('TimeZone')}/{_tt('TZ')}")
        if tz:
            d["tz"] = tz
        return "<tds:SetSystemDateAndTimeResponse/>"

    def op_GetServices(self, cam: SimCamera, el: etree._Element, request: web.Request) -> str:
        base = f"{request.scheme}://{request.host}/onvif"
        services = [(TDS, "device_service", 2, 40), (TRT, "media_service", 2, 40)]
        if cam.advanced_security:
            services.append((TAS, "security_service", 1, 3))
        return "<tds:GetServicesResponse>" + "".join(
            f"<tds:Service><tds:Namespace>{ns}</tds:Namespace><tds:XAddr>{base}/{path}</tds:XAddr>"
            f"<tds:Version><tt:Major>{ma}</tt:Major><tt:Minor>{mi}</tt:Minor></tds:Version></tds:Service>"
            for ns, path, ma, mi in services) + "</tds:GetServicesResponse>"

    def op_GetDeviceInformation(self, cam: SimCamera, el: etree._Element, _r: web.Request) -> str:
        return (f"<tds:GetDeviceInformationResponse><tds:Manufacturer>{escape(cam.vendor)}</tds:Manufacturer>"
                f"<tds:Model>{escape(cam.model)}</tds:Model><tds:FirmwareVersion>{escape(cam.firmware)}"
                f"</tds:FirmwareVersion><tds:SerialNumber>SIM-{escape(cam.id)}</tds:SerialNumber>"
                f"<tds:HardwareId>sim</tds:HardwareId></tds:GetDeviceInformationResponse>")

    def op_GetUsers(self, cam: SimCamera, el: etree._Element, _r: web.Request) -> str:
        return "<tds:GetUsersResponse>" + "".join(
            f"<tds:User><tt:Username>{escape(u)}</tt:Username><tt:UserLevel>{a['level']}</tt:UserLevel></tds:User>"
            for u, a in sorted(cam.state["users"].items())) + "</tds:GetUsersResponse>"

    @staticmethod
    def _users(el: etree._Element) -> list[tuple[str, str, str]]:
        out = []
        for u in _all(el, _tds("User")):
            name, pw, level = _text(u, _tt("Username")), _text(u, _tt("Password")), _text(u, _tt("UserLevel"))
            if level not in ("Administrator", "Operator", "User"):
                raise Fault("ter:InvalidArgVal", f"UserLevel {level!r} not allowed")
            out.append((name, pw, level))
        return out

    def op_CreateUsers(self, cam: SimCamera, el: etree._Element, _r: web.Request) -> str:
        users = self._users(el)
        for name, pw, level in users:
            if name in cam.state["users"]:
                raise Fault("ter:OperationProhibited/ter:UsernameClash", f"user {name} exists")
            if len(pw) < 8:
                raise Fault("ter:OperationProhibited/ter:PasswordTooWeak", "password too weak")
        for name, pw, level in users:
            cam.state["users"][name] = {"password": pw, "level": level}
        return "<tds:CreateUsersResponse/>"

    def op_SetUser(self, cam: SimCamera, el: etree._Element, _r: web.Request) -> str:
        users = self._users(el)
        for name, pw, level in users:
            if name not in cam.state["users"]:
                raise Fault("ter:InvalidArgVal/ter:UsernameMissing", f"no user {name}")
        for name, pw, level in users:
            acct = cam.state["users"][name]
            acct["level"] = level
            if pw:
                acct["password"] = pw
        return "<tds:SetUserResponse/>"

    def op_DeleteUsers(self, cam: SimCamera, el: etree._Element, _r: web.Request) -> str:
        names = [n.text or "" for n in _all(el, _tds("Username"))]
        for n in names:
            if n not in cam.state["users"]:
                raise Fault("ter:InvalidArgVal/ter:UsernameMissing", f"no user {n}")
        remaining = {u: a for u, a in cam.state["users"].items() if u not in names}
        if not any(a["level"] == "Administrator" for a in remaining.values()):
            raise Fault("ter:OperationProhibited/ter:FixedUser", "the last administrator cannot be deleted")
        cam.state["users"] = remaining
        return "<tds:DeleteUsersResponse/>"

    def op_GetNetworkProtocols(self, cam: SimCamera, el: etree._Element, _r: web.Request) -> str:
        return "<tds:GetNetworkProtocolsResponse>" + "".join(
            f"<tds:NetworkProtocols><tt:Name>{n}</tt:Name><tt:Enabled>{str(p['enabled']).lower()}</tt:Enabled>"
            f"<tt:Port>{p['port']}</tt:Port></tds:NetworkProtocols>"
            for n, p in cam.state["protocols"].items()) + "</tds:GetNetworkProtocolsResponse>"

    async def op_SetNetworkProtocols(self, cam: SimCamera, el: etree._Element, _r: web.Request) -> str:
        new = copy.deepcopy(cam.state["protocols"])
        for p in _all(el, _tds("NetworkProtocols")):
            name = _text(p, _tt("Name"))
            if name not in new:
                raise Fault("ter:InvalidArgVal/ter:ServiceNotSupported", f"protocol {name} not supported")
            new[name]["enabled"] = _bool(_text(p, _tt("Enabled")))
            port = _text(p, _tt("Port"))
            if port:
                new[name]["port"] = int(port)
        if not (new["HTTP"]["enabled"] or new["HTTPS"]["enabled"]):
            raise Fault("ter:InvalidArgVal", "HTTP and HTTPS cannot both be off")
        cam.state["protocols"] = new
        # the reply goes out first; then the listener changes (a camera restarts its web server)
        asyncio.get_running_loop().call_later(0.05, lambda: asyncio.ensure_future(self._sync_listeners(cam)))
        return "<tds:SetNetworkProtocolsResponse/>"

    def op_GetDiscoveryMode(self, cam: SimCamera, el: etree._Element, _r: web.Request) -> str:
        return (f"<tds:GetDiscoveryModeResponse><tds:DiscoveryMode>{cam.state['discovery']}</tds:DiscoveryMode>"
                "</tds:GetDiscoveryModeResponse>")

    def op_SetDiscoveryMode(self, cam: SimCamera, el: etree._Element, _r: web.Request) -> str:
        mode = _text(el, _tds("DiscoveryMode"))
        if mode not in ("Discoverable", "NonDiscoverable"):
            raise Fault("ter:InvalidArgVal", "bad DiscoveryMode")
        cam.state["discovery"] = mode
        return "<tds:SetDiscoveryModeResponse/>"

    def op_GetIPAddressFilter(self, cam: SimCamera, el: etree._Element, _r: web.Request) -> str:
        f = cam.state["ip_filter"]
        return (f"<tds:GetIPAddressFilterResponse><tds:IPAddressFilter><tt:Type>{f['type']}</tt:Type>" + "".join(
            f"<tt:IPv4Address><tt:Address>{a}</tt:Address><tt:PrefixLength>{p}</tt:PrefixLength></tt:IPv4Address>"
            for a, p in f["ipv4"]) + "</tds:IPAddressFilter></tds:GetIPAddressFilterResponse>")

    def op_SetIPAddressFilter(self, cam: SimCamera, el: etree._Element, _r: web.Request) -> str:
        f = el.find(_tds("IPAddressFilter"))
        kind = _text(f, _tt("Type"))
        if kind not in ("Allow", "Deny"):
            raise Fault("ter:InvalidArgVal", "bad filter type")
        addrs = [[_text(a, _tt("Address")), int(_text(a, _tt("PrefixLength"), "32"))]
                 for a in _all(f, _tt("IPv4Address"))] if f is not None else []
        if kind == "Allow" and not addrs:
            raise Fault("ter:InvalidArgVal", "an empty allow list would lock everyone out")
        cam.state["ip_filter"] = {"type": kind, "ipv4": addrs}
        return "<tds:SetIPAddressFilterResponse/>"

    def op_GetNTP(self, cam: SimCamera, el: etree._Element, _r: web.Request) -> str:
        n = cam.state["ntp"]
        return (f"<tds:GetNTPResponse><tds:NTPInformation><tt:FromDHCP>{str(n['from_dhcp']).lower()}</tt:FromDHCP>"
                + "".join(f"<tt:NTPManual><tt:Type>IPv4</tt:Type><tt:IPv4Address>{a}</tt:IPv4Address></tt:NTPManual>"
                          for a in n["manual"]) + "</tds:NTPInformation></tds:GetNTPResponse>")

    def op_SetNTP(self, cam: SimCamera, el: etree._Element, _r: web.Request) -> str:
        manual = [_text(h, _tt("IPv4Address")) or _text(h, _tt("DNSname")) for h in _all(el, _tds("NTPManual"))]
        cam.state["ntp"] = {"from_dhcp": _bool(_text(el, _tds("FromDHCP"))), "manual": manual}
        return "<tds:SetNTPResponse/>"

    def _need_dot1x(self, cam: SimCamera) -> None:
        if not cam.dot1x:
            raise Fault("ter:ActionNotSupported", "802.1X is not supported by this device", sender=False)

    def op_GetDot1XConfigurations(self, cam: SimCamera, el: etree._Element, _r: web.Request) -> str:
        self._need_dot1x(cam)
        return "<tds:GetDot1XConfigurationsResponse>" + "".join(
            f"<tds:Dot1XConfiguration><tt:Dot1XConfigurationToken>{escape(c['token'])}</tt:Dot1XConfigurationToken>"
            f"<tt:Identity>{escape(c['identity'])}</tt:Identity><tt:EAPMethod>{c['eap']}</tt:EAPMethod>"
            + (f"<tt:EAPMethodConfiguration><tt:TLSConfiguration><tt:CertificateID>{escape(c['cert'])}"
               "</tt:CertificateID></tt:TLSConfiguration></tt:EAPMethodConfiguration>" if c.get("cert") else "")
            + "</tds:Dot1XConfiguration>" for c in cam.state["dot1x"]) + "</tds:GetDot1XConfigurationsResponse>"

    @staticmethod
    def _dot1x(el: etree._Element) -> dict[str, Any]:
        c = el.find(_tds("Dot1XConfiguration"))
        if c is None:
            raise Fault("ter:InvalidArgs", "Dot1XConfiguration missing")
        return {"token": _text(c, _tt("Dot1XConfigurationToken")), "identity": _text(c, _tt("Identity")),
                "eap": int(_text(c, _tt("EAPMethod"), "0")),
                "cert": _text(c, f"{_tt('EAPMethodConfiguration')}/{_tt('TLSConfiguration')}/{_tt('CertificateID')}")}

    def op_CreateDot1XConfiguration(self, cam: SimCamera, el: etree._Element, _r: web.Request) -> str:
        self._need_dot1x(cam)
        conf = self._dot1x(el)
        if any(c["token"] == conf["token"] for c in cam.state["dot1x"]):
            raise Fault("ter:InvalidArgVal", "token exists")
        cam.state["dot1x"].append(conf)
        return "<tds:CreateDot1XConfigurationResponse/>"

    def op_SetDot1XConfiguration(self, cam: SimCamera, el: etree._Element, _r: web.Request) -> str:
        self._need_dot1x(cam)
        conf = self._dot1x(el)
        for i, c in enumerate(cam.state["dot1x"]):
            if c["token"] == conf["token"]:
                cam.state["dot1x"][i] = conf
                return "<tds:SetDot1XConfigurationResponse/>"
        raise Fault("ter:InvalidArgVal/ter:NoDot1XConfig", "no such 802.1X configuration")

    # media

    @staticmethod
    def _encoder_body(e: dict[str, Any]) -> str:
        h264 = (f"<tt:H264><tt:GovLength>{e['gov']}</tt:GovLength><tt:H264Profile>High</tt:H264Profile></tt:H264>"
                if e["encoding"] == "H264" else "")
        return (f"<tt:Name>{e['name']}</tt:Name><tt:UseCount>1</tt:UseCount><tt:Encoding>{e['encoding']}</tt:Encoding>"
                f"<tt:Resolution><tt:Width>{e['width']}</tt:Width><tt:Height>{e['height']}</tt:Height></tt:Resolution>"
                f"<tt:Quality>{e['quality']}</tt:Quality><tt:RateControl><tt:FrameRateLimit>{e['fps']}"
                f"</tt:FrameRateLimit><tt:EncodingInterval>{e['interval']}</tt:EncodingInterval><tt:BitrateLimit>"
                f"{e['bitrate']}</tt:BitrateLimit></tt:RateControl>{h264}<tt:Multicast><tt:Address><tt:Type>IPv4"
                "</tt:Type><tt:IPv4Address>0.0.0.0</tt:IPv4Address></tt:Address><tt:Port>0</tt:Port><tt:TTL>1"
                "</tt:TTL><tt:AutoStart>false</tt:AutoStart></tt:Multicast><tt:SessionTimeout>PT60S"
                "</tt:SessionTimeout>")

    def op_GetProfiles(self, cam: SimCamera, el: etree._Element, _r: web.Request) -> str:
        # a sub stream first (as many cameras list them), then the main profile that uses the main encoder
        e = cam.state["encoder"]
        return ("<trt:GetProfilesResponse><trt:Profiles token=\"prof-sub\" fixed=\"true\"><tt:Name>SubStream"
                "</tt:Name></trt:Profiles>"
                f"<trt:Profiles token=\"{MAIN_PROFILE}\" fixed=\"true\"><tt:Name>MainStream</tt:Name>"
                f"<tt:VideoEncoderConfiguration token=\"{e['token']}\">{self._encoder_body(e)}"
                "</tt:VideoEncoderConfiguration></trt:Profiles></trt:GetProfilesResponse>")

    def op_GetStreamUri(self, cam: SimCamera, el: etree._Element, request: web.Request) -> str:
        token = _text(el, f"{{{TRT}}}ProfileToken")
        if token not in (MAIN_PROFILE, "prof-sub"):
            raise Fault("ter:InvalidArgVal/ter:NoProfile", "no such media profile")
        path = cam.stream_path if token == MAIN_PROFILE else cam.stream_path.rstrip("/") + "/sub"
        host = (request.host or "127.0.0.1").rsplit(":", 1)[0]
        # quirk "stream_port": a firmware that serves RTSP on a fixed port whatever SetNetworkProtocols says
        uri = f"rtsp://{host}:{cam.quirks.get('stream_port') or cam.state['protocols']['RTSP']['port']}{path}"
        return (f"<trt:GetStreamUriResponse><trt:MediaUri><tt:Uri>{escape(uri)}</tt:Uri><tt:InvalidAfterConnect>false"
                "</tt:InvalidAfterConnect><tt:InvalidAfterReboot>false</tt:InvalidAfterReboot><tt:Timeout>PT0S"
                "</tt:Timeout></trt:MediaUri></trt:GetStreamUriResponse>")

    def op_GetVideoEncoderConfigurations(self, cam: SimCamera, el: etree._Element, _r: web.Request) -> str:
        e = cam.state["encoder"]
        return (f"<trt:GetVideoEncoderConfigurationsResponse><trt:Configurations token=\"{e['token']}\">"
                f"{self._encoder_body(e)}</trt:Configurations></trt:GetVideoEncoderConfigurationsResponse>")

    def op_SetVideoEncoderConfiguration(self, cam: SimCamera, el: etree._Element, _r: web.Request) -> str:
        c = el.find(f"{{{TRT}}}Configuration")
        e = cam.state["encoder"]
        if c is None or c.get("token") != e["token"]:
            raise Fault("ter:InvalidArgVal/ter:NoConfig", "no such encoder configuration")
        w, h = int(_text(c, f"{_tt('Resolution')}/{_tt('Width')}")), int(_text(c, f"{_tt('Resolution')}/{_tt('Height')}"))
        if w * h > cam.resolution[0] * cam.resolution[1]:
            raise Fault("ter:InvalidArgVal/ter:ConfigModify", "resolution above the sensor's")
        e.update(encoding=_text(c, _tt("Encoding")), width=w, height=h,
                 fps=int(_text(c, f"{_tt('RateControl')}/{_tt('FrameRateLimit')}", str(e["fps"]))),
                 bitrate=int(_text(c, f"{_tt('RateControl')}/{_tt('BitrateLimit')}", str(e["bitrate"]))),
                 gov=int(_text(c, f"{_tt('H264')}/{_tt('GovLength')}", str(e["gov"]))))
        return "<trt:SetVideoEncoderConfigurationResponse/>"

    # advanced security (TLS server certificate)

    def _need_tas(self, cam: SimCamera) -> None:
        if not cam.advanced_security:
            raise Fault("ter:ActionNotSupported", "no Advanced Security service", sender=False)

    def op_GetAssignedServerCertificates(self, cam: SimCamera, el: etree._Element, _r: web.Request) -> str:
        self._need_tas(cam)
        return "<tas:GetAssignedServerCertificatesResponse>" + "".join(
            f"<tas:CertificationPathID>{p}</tas:CertificationPathID>" for p in cam.state["assigned"]
        ) + "</tas:GetAssignedServerCertificatesResponse>"

    def op_CreateRSAKeyPair(self, cam: SimCamera, el: etree._Element, _r: web.Request) -> str:
        self._need_tas(cam)
        length = int(_text(el, f"{{{TAS}}}KeyLength", "0"))
        if length < 2048:
            raise Fault("ter:InvalidArgVal/ter:KeyLength", "key length below 2048")
        kid = f"key-{len(cam.state['keys']) + 1}"
        cam.state["keys"].append(kid)
        return (f"<tas:CreateRSAKeyPairResponse><tas:KeyID>{kid}</tas:KeyID><tas:EstimatedCreationTime>PT0S"
                "</tas:EstimatedCreationTime></tas:CreateRSAKeyPairResponse>")

    def op_CreateSelfSignedCertificate(self, cam: SimCamera, el: etree._Element, _r: web.Request) -> str:
        self._need_tas(cam)
        kid = _text(el, f"{{{TAS}}}KeyID")
        if kid not in cam.state["keys"]:
            raise Fault("ter:InvalidArgVal/ter:KeyID", "no such key")
        cid = f"cert-{len(cam.state['certificates']) + 1}"
        cam.state["certificates"].append(cid)
        cn = next((c.text for c in el.iter() if etree.QName(c).localname == "CommonName" and c.text), cam.id)
        cam.identities[cid] = _identity(cn)
        return f"<tas:CreateSelfSignedCertificateResponse><tas:CertificateID>{cid}</tas:CertificateID>" \
               "</tas:CreateSelfSignedCertificateResponse>"

    def op_CreateCertificationPath(self, cam: SimCamera, el: etree._Element, _r: web.Request) -> str:
        self._need_tas(cam)
        ids = [c.text or "" for c in el.iter(f"{{{TAS}}}CertificateID")]
        if not ids or any(i not in cam.state["certificates"] for i in ids):
            raise Fault("ter:InvalidArgVal/ter:CertificateID", "no such certificate")
        pid = f"path-{len(cam.state['paths']) + 1}"
        cam.state["paths"][pid] = ids
        return f"<tas:CreateCertificationPathResponse><tas:CertificationPathID>{pid}</tas:CertificationPathID>" \
               "</tas:CreateCertificationPathResponse>"

    def op_GetCertificate(self, cam: SimCamera, el: etree._Element, _r: web.Request) -> str:
        self._need_tas(cam)
        cid = _text(el, f"{{{TAS}}}CertificateID")
        if cid not in cam.identities:
            raise Fault("ter:InvalidArgVal/ter:CertificateID", "no such certificate")
        der = base64.b64encode(cam.identities[cid][1]).decode()
        return (f"<tas:GetCertificateResponse><tas:Certificate><tas:CertificateID>{cid}</tas:CertificateID>"
                f"<tas:KeyID>{cam.state['keys'][-1] if cam.state['keys'] else ''}</tas:KeyID>"
                f"<tas:CertificateContent>{der}</tas:CertificateContent></tas:Certificate></tas:GetCertificateResponse>")

    async def op_AddServerCertificateAssignment(self, cam: SimCamera, el: etree._Element, _r: web.Request) -> str:
        self._need_tas(cam)
        pid = _text(el, f"{{{TAS}}}CertificationPathID")
        if pid not in cam.state["paths"]:
            raise Fault("ter:InvalidArgVal/ter:CertificationPathID", "no such certification path")
        if pid not in cam.state["assigned"]:
            cam.state["assigned"].append(pid)
            await self._restart_https(cam)  # new connections get the new certificate from now on
        return "<tas:AddServerCertificateAssignmentResponse/>"


async def serve(profiles: list[CameraProfile], factory_password: str, quirks: dict[str, dict[str, Any]],
                endpoints_file: Path, host: str = "127.0.0.1", base_port: int = 20000,
                stream_paths: dict[str, str] | None = None) -> None:
    """Run until SIGTERM/SIGINT; write the endpoint map once listening (atomically). `stream_paths`: camera id ->
    the path its GetStreamUri reports (its model's documented one) unless a quirk says otherwise."""
    sim = Simulator(host, base_port)
    for p in profiles:
        q = dict(quirks.get(p.id) or quirks.get(f"{p.vendor}/{p.model}") or {})
        if (stream_paths or {}).get(p.id):
            q.setdefault("stream_path", stream_paths[p.id])  # type: ignore[index]
        sim.add(p, factory_password, q)
    await sim.start()
    tmp = endpoints_file.with_name(endpoints_file.name + ".tmp")
    tmp.write_text(json.dumps(sim.endpoints(), indent=1, sort_keys=True), "utf-8")
    tmp.replace(endpoints_file)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await sim.stop()


def self_signed_tls(common_name: str, cert_out: Path | None = None) -> ssl.SSLContext:
    """A server TLS context with a fresh self-signed certificate (a factory camera's, or a test endpoint's);
    `cert_out`: where to write the certificate (PEM) for a client that pins it."""
    ctx, der = _identity(common_name)
    if cert_out is not None:
        from cryptography import x509
        from cryptography.hazmat.primitives import serialization

        cert_out.write_bytes(x509.load_der_x509_certificate(der).public_bytes(serialization.Encoding.PEM))
    return ctx


def _identity(common_name: str) -> tuple[ssl.SSLContext, bytes]:
    """A server TLS context with a fresh self-signed certificate, and that certificate (DER)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30)).sign(key, hashes.SHA256()))
    with tempfile.TemporaryDirectory() as tmp:
        cpath, kpath = Path(tmp) / "c.pem", Path(tmp) / "k.pem"
        cpath.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        kpath.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                            serialization.NoEncryption()))
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)  # a server that asks no client certificate: no CA store
        ctx.load_cert_chain(cpath, kpath)
    return ctx, cert.public_bytes(serialization.Encoding.DER)
