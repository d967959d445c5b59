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
from test_charts import objects
from test_service_tokens import SECRET, RTSP_URL_MAX, TokenEndpoint, _refresh, endpoint  # noqa: F401

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg (Debian package) not installed")


class RtspRecorder:
    """A TLS RTSP endpoint on loopback: answers OPTIONS, records DESCRIBE (request URL and Authorization), then
    refuses the stream (404), or first challenges for Basic credentials when `challenge` is set."""

    def __init__(self, challenge: bool = False) -> None:
        ctx = self_signed_tls("vms-0.camkit-vms")
        self.describes: list[tuple[str, str]] = []  # (request URL, Authorization header)
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
                    if method == "OPTIONS":
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
def recorder() -> Iterator[RtspRecorder]:
    r = RtspRecorder()
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
