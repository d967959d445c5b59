"""Service tokens arrive whole: the real ffmpeg (the RTSP client inside Frigate) opens the IVA input URL the chart
and the token refresher compose — RTSPS, the JWT as `?jwt=` — at a local RTSPS endpoint this test controls.

MediaMTX cannot run here; the endpoint stands in for it and only records what the client sends (and, for the
comparison, asks for Basic credentials the way a server does when a JWT is sent as the password).
"""

from __future__ import annotations

import base64
import shutil
import socket
import socketserver
import subprocess
import threading
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import parse_qs, urlsplit, urlunsplit

import jwt
import pytest
import yaml

from camkit.cameras.simulator import self_signed_tls
from camkit.verify.access_check import _tunnels
from conftest import EXAMPLE, HANOI, ROOT
from test_charts import objects
from test_service_tokens import SECRET, RTSP_URL_MAX, TokenEndpoint, _refresh, endpoint  # noqa: F401

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg (Debian package) not installed")


class RtspRecorder:
    """A TLS RTSP endpoint on loopback: answers OPTIONS, records DESCRIBE (request URL and Authorization), then
    refuses the stream (404), or first challenges for Basic credentials when `challenge` is set."""

    def __init__(self, challenge: bool = False, cert_out: Path | None = None) -> None:
        ctx = self_signed_tls("vms-0.camkit-vms", cert_out)
        self.cert = cert_out  # its certificate (PEM), what a client pins
        self.describes: list[tuple[str, str]] = []  # (request URL, Authorization header)
        self.announces: list[str] = []  # request URLs of publishers
        recorder = self

        class Handler(socketserver.StreamRequestHandler):
            timeout = 10

            def handle(self) -> None:
                while True:
                    head = []
                    while (line := self.rfile.readline(8192)) not in (b"\r\n", b"\n", b""):
                        head.append(line.decode("latin-1").rstrip("\r\n"))
                    if not head:
                        return
                    method, url, _ = head[0].split(" ", 2)
                    fields = {k.lower(): v.strip() for k, _, v in (h.partition(":") for h in head[1:])}
                    cseq = fields.get("cseq", "0")
                    if method == "ANNOUNCE":  # a publisher (ffmpeg -f rtsp): record the URL, refuse the stream
                        self.rfile.read(int(fields.get("content-length", "0")))
                        recorder.announces.append(url)
                        reply = f"RTSP/1.0 404 Not Found\r\nCSeq: {cseq}\r\n\r\n"
                    elif method == "OPTIONS":
                        reply = f"RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\nPublic: OPTIONS, DESCRIBE, SETUP, PLAY\r\n\r\n"
                    elif method == "DESCRIBE":
                        recorder.describes.append((url, fields.get("authorization", "")))
                        if challenge and "authorization" not in fields:
                            reply = (f"RTSP/1.0 401 Unauthorized\r\nCSeq: {cseq}\r\n"
                                     'WWW-Authenticate: Basic realm="mediamtx"\r\n\r\n')
                        else:
                            reply = f"RTSP/1.0 404 Not Found\r\nCSeq: {cseq}\r\n\r\n"
                    else:
                        reply = f"RTSP/1.0 405 Method Not Allowed\r\nCSeq: {cseq}\r\n\r\n"
                    self.wfile.write(reply.encode())
                    self.wfile.flush()

        class Server(socketserver.ThreadingTCPServer):
            allow_reuse_address = True
            daemon_threads = True

            def get_request(self) -> tuple[socket.socket, Any]:
                sock, addr = super().get_request()
                sock.settimeout(10)
                return ctx.wrap_socket(sock, server_side=True), addr

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def composed_input(tmp_path: Path, endpoint: tuple[TokenEndpoint, dict[str, Any]]) -> tuple[TokenEndpoint, str]:  # noqa: F811
    """The Frigate input URL of hoan-kiem's first analysed camera, composed by the real token refresher."""
    ep, values = endpoint
    iva = values[("hoan-kiem", "iva")]
    template = next(d for d in objects("iva", iva) if d["kind"] == "ConfigMap"
                    and "config.yml" in d.get("data", {}))["data"]["config.yml"]
    out = tmp_path / "config.yml"
    done = _refresh(tmp_path, ep, template, iva["tokens"]["clientId"], SECRET, out)
    assert done.returncode == 0, done.stderr
    cams = yaml.safe_load(out.read_text())["cameras"]
    return ep, next(iter(cams.values()))["ffmpeg"]["inputs"][0]["path"]


@pytest.fixture
def recorder(tmp_path: Path) -> Iterator[RtspRecorder]:
    r = RtspRecorder(cert_out=tmp_path / "vms.crt")
    yield r
    r.close()


def _ffmpeg(url: str) -> subprocess.CompletedProcess[str]:
    # Frigate's preset-rtsp-restream: RTSP over TCP; bounded: the endpoint refuses the stream, ffmpeg exits
    return subprocess.run(["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-rtsp_transport", "tcp",
                           "-timeout", "5000000", "-i", url, "-t", "1", "-f", "null", "-"],
                          capture_output=True, text=True, timeout=30)


def _local(url: str, port: int, netloc_user: str = "") -> str:
    u = urlsplit(url)
    return urlunsplit((u.scheme, f"{netloc_user}127.0.0.1:{port}", u.path, u.query, ""))


def test_ffmpeg_sends_the_whole_token_as_the_jwt_query_parameter(
        composed_input: tuple[TokenEndpoint, str], recorder: RtspRecorder) -> None:
    ep, url = composed_input
    u = urlsplit(url)
    assert u.scheme == "rtsps" and u.port == 8322 and u.username is None
    token = parse_qs(u.query)["jwt"][0]
    claims = jwt.decode(token, ep.key.public_key(), algorithms=["RS256"], options={"verify_aud": False})
    assert claims["azp"] == "camkit-svc-hoan-kiem"
    assert len(token) > 500  # the length the generated realm's lightweight service tokens have (RS256)
    _ffmpeg(_local(url, recorder.port))
    assert recorder.describes, "ffmpeg sent no DESCRIBE"
    sent, auth = recorder.describes[0]
    assert parse_qs(urlsplit(sent).query)["jwt"] == [token]  # whole, byte for byte
    assert urlsplit(sent).path == u.path and not auth
    assert len(sent) <= RTSP_URL_MAX


def test_the_same_token_as_an_rtsp_password_does_not_arrive_whole(
        composed_input: tuple[TokenEndpoint, str]) -> None:
    """Why camkit never puts a JWT in the password (MediaMTX issue 5359): ffmpeg cuts the credentials short."""
    ep, url = composed_input
    token = parse_qs(urlsplit(url).query)["jwt"][0]
    rec = RtspRecorder(challenge=True)
    try:
        plain = urlunsplit(("rtsps", f"camkit:{token}@127.0.0.1:{rec.port}", urlsplit(url).path, "", ""))
        _ffmpeg(plain)
    finally:
        rec.close()
    auths = [a for _, a in rec.describes if a]
    assert auths, "ffmpeg did not answer the Basic challenge"
    user, _, password = base64.b64decode(auths[-1].split(" ", 1)[1]).decode().partition(":")
    # ffmpeg 5.1 (Debian 12): a 751-character token arrives as its first 120 characters
    assert user == "camkit" and password != token and token.startswith(password), (len(token), len(password))


# --- a private system's publisher -------------------------------------------------------------------------


@pytest.mark.skipif(shutil.which("stunnel") is None, reason="stunnel (Debian package stunnel4) not installed")
def test_a_private_system_pushes_with_a_token_that_publishes_exactly_its_cameras(
        tmp_path: Path, endpoint: tuple[TokenEndpoint, dict[str, Any]], recorder: RtspRecorder) -> None:  # noqa: F811
    """The publisher's template, composed by the real token refresher with the rendered environment, then the real
    ffmpeg publishing (ANNOUNCE) to the push URL: the token arrives whole, and its claim lets it publish the
    system's own camera paths at its target VMS and nothing else."""
    import re

    from camkit import pipeline
    from camkit.topology import Topology
    from test_service_tokens import _shell_env

    ep, values = endpoint
    inv = pipeline.load(EXAMPLE)
    plan = pipeline.plan(inv)
    files = {p: a.content.decode() for p, (_, a) in pipeline.render(inv, plan, ["publisher"]).artifacts.items()}
    ps = "toa-nha-hang-bac"
    target, cams = Topology.of(inv).publishers[ps]
    assert target == "hang-bac" and cams
    env_file = dict(line.split("=", 1) for line in files[f"sites/{ps}/publisher/refresher.env"].splitlines()
                    if line and not line.startswith("#"))
    assert env_file["TOKEN_URL"].startswith(f"https://{plan.service_ip('ioc', 'ingress')}/realms/")
    (tmp_path / "template.yml").write_text(files[f"sites/{ps}/publisher/mediamtx.yml.tmpl"])
    (tmp_path / "client-secret").write_text(SECRET + "\n")
    shell, env = _shell_env(tmp_path)
    env.update(TEMPLATE=str(tmp_path / "template.yml"), OUT=str(tmp_path / "mediamtx.yml"), TOKEN_URL=ep.url,
               CLIENT_ID=env_file["CLIENT_ID"], SCOPE_PREFIX=env_file["SCOPE_PREFIX"],
               CLIENT_SECRET_FILE=str(tmp_path / "client-secret"), CA_FILE=str(ep.ca_file),
               REFRESH_AT_MINUTE=env_file["REFRESH_AT_MINUTE"], TZ=env_file["TZ"], ONCE="1")
    done = subprocess.run([*shell, str(ROOT / "charts" / "camkit-lib" / "files" / "refresh-tokens.sh")], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert ep.requests[-1]["form"]["scope"] == [f"vms-publish-{ps}"]
    config = yaml.safe_load((tmp_path / "mediamtx.yml").read_text())
    assert set(config["paths"]) == set(cams) and "@@token" not in (tmp_path / "mediamtx.yml").read_text()
    cam = cams[0]
    push = config["paths"][cam]["runOnReady"].split()[-1]
    u = urlsplit(push)
    # ffmpeg pushes to a loopback TLS tunnel (stunnel.conf) that pins the target VMS's certificate
    assert u.scheme == "rtsp" and u.hostname == "127.0.0.1" and u.path == f"/{target}/{cam}" and u.username is None
    conf = files[f"sites/{ps}/publisher/stunnel.conf"]
    host, port, pinned = _tunnels(conf)[u.port]
    assert port == 8322 and pinned and host in plan.vms_addresses(target)  # a published address of its VMS
    token = parse_qs(u.query)["jwt"][0]
    claims = jwt.decode(token, ep.key.public_key(), algorithms=["RS256"], options={"verify_aud": False})
    assert claims["azp"] == f"camkit-svc-{ps}"
    perms = claims["mediamtx_permissions"]
    assert [p["action"] for p in perms] == ["publish"]  # no read, no playback, no api
    rx = re.compile(perms[0]["path"][1:])  # '~' marks a regular expression (MediaMTX)
    assert all(rx.fullmatch(f"{target}/{c}") for c in cams)
    others = [c.id for c in inv.cameras if c.id not in cams] + [f"{cams[0]}x", f"{cams[0]}/sub", ""]
    assert not any(rx.fullmatch(f"{target}/{c}") for c in others)
    assert not any(rx.fullmatch(f"{site}/{c}") for site in inv.sites if site != target for c in cams)
    # the real ffmpeg publishes to that URL through the real stunnel with the rendered tunnel (the recorder stands in
    # for the VMS): the token arrives whole
    res, sent_to = _push_through_tunnel(tmp_path, conf, push, recorder, pinned=recorder.cert)
    assert recorder.announces, res.stderr + sent_to
    sent = urlsplit(recorder.announces[0])
    assert sent.path == u.path and parse_qs(sent.query)["jwt"] == [token]
    assert len(recorder.announces[0]) <= RTSP_URL_MAX


@pytest.mark.skipif(shutil.which("stunnel") is None, reason="stunnel (Debian package stunnel4) not installed")
def test_the_push_tunnel_refuses_a_vms_that_is_not_the_pinned_one(tmp_path: Path) -> None:
    """A server with another certificate where the VMS should be (a spoofed address on the tunnel's way): the
    rendered tunnel refuses it, and nothing of the stream or the token reaches it."""
    from camkit import pipeline

    inv = pipeline.load(EXAMPLE)
    files = {p: a.content.decode() for p, (_, a) in pipeline.render(inv, pipeline.plan(inv), ["publisher"]).artifacts.items()}
    ps = "toa-nha-hang-bac"
    config = yaml.safe_load(files[f"sites/{ps}/publisher/mediamtx.yml.tmpl"])
    push = next(iter(config["paths"].values()))["runOnReady"].split()[-1].replace("@@token:" + ps + "@@", "a.b.c")
    impostor = RtspRecorder(cert_out=tmp_path / "impostor.crt")
    try:
        self_signed_tls("vms-0.camkit-vms", tmp_path / "real-vms.crt")  # the VMS's own, pinned
        res, log = _push_through_tunnel(tmp_path, files[f"sites/{ps}/publisher/stunnel.conf"], push, impostor,
                                        pinned=tmp_path / "real-vms.crt")
        assert impostor.announces == [] and impostor.describes == [], impostor.announces
        assert res.returncode != 0 and "Rejected by CERT" in log, log
    finally:
        impostor.close()


def _push_through_tunnel(tmp_path: Path, conf: str, push: str, recorder: RtspRecorder,
                         pinned: Path | None) -> tuple[subprocess.CompletedProcess[str], str]:
    """Run the rendered stunnel.conf for real (its tunnel re-pointed at the recorder on loopback, its accept port
    a free one, its CAfile the given pinned certificate), push one second of video through it with ffmpeg, and
    return ffmpeg's result and stunnel's log."""
    import re
    import socket
    import time

    u = urlsplit(push)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        local = sock.getsockname()[1]
    text = re.sub(rf"accept = 127\.0\.0\.1:{u.port}\n", f"accept = 127.0.0.1:{local}\n", conf)
    text = re.sub(r"connect = [0-9.]+:8322\n", f"connect = 127.0.0.1:{recorder.port}\n", text)
    text = re.sub(r"CAfile = \S+\n", f"CAfile = {pinned}\n", text)
    assert f"accept = 127.0.0.1:{local}" in text and f"127.0.0.1:{recorder.port}" in text
    (tmp_path / "stunnel.conf").write_text(text)
    tunnel = subprocess.Popen(["stunnel", str(tmp_path / "stunnel.conf")], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    try:
        for _ in range(50):  # until the tunnel listens
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", local)) == 0:
                    break
            time.sleep(0.1)
        res = subprocess.run(["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-re", "-f", "lavfi", "-i",
                              "testsrc=size=160x120:rate=5", "-t", "1", "-c:v", "mpeg4", "-f", "rtsp",
                              "-rtsp_transport", "tcp", _local(push, local)], capture_output=True, text=True, timeout=60)
    finally:
        tunnel.terminate()
        log = tunnel.communicate(timeout=10)[0]
    return res, log


@pytest.mark.slow
@pytest.mark.parametrize("root", [EXAMPLE, HANOI], ids=["example", "hanoi"])
def test_every_publish_url_with_its_token_fits_an_rtsp_request(root: Path, tmp_path: Path) -> None:
    """The publish claim names each camera (compactly): with the token the realm's endpoint issues, every private
    system's push URL still fits gortsplib's request-URL limit."""
    from camkit import pipeline

    from test_charts import rendered

    inv, values = rendered(root)
    sso = next(v for (_, chart), v in values.items() if chart == "sso")
    secrets = {c["env"]: SECRET for c in sso["serviceClients"]["clients"]}
    ep = TokenEndpoint(sso["realm"], secrets, tmp_path)
    try:
        plan = pipeline.plan(inv)
        files = pipeline.render(inv, plan, ["publisher"]).artifacts
        templates = {p.split("/")[1]: a.content.decode() for p, (_, a) in files.items() if p.endswith(".tmpl")}
        assert templates
        for ps, text in templates.items():
            auth = "Basic " + base64.b64encode(f"camkit-svc-{ps}:{SECRET}".encode()).decode()
            status, answer = ep.grant(urlsplit(ep.url).path, auth, {"grant_type": ["client_credentials"],
                                                                   "scope": [f"vms-publish-{ps}"]})
            assert status == 200, answer
            for p in yaml.safe_load(text)["paths"].values():
                url = p["runOnReady"].split()[-1].replace(f"@@token:{ps}@@", answer["access_token"])
                assert len(url) <= RTSP_URL_MAX, (ps, len(url))
    finally:
        ep.close()
