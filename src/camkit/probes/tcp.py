"""Bounded TCP probes for network tests, run inside a test namespace.

    python -m camkit.probes.tcp listen ADDR PORT SECONDS   accept connections for SECONDS, answer "ok"
    python -m camkit.probes.tcp connect ADDR PORT [SRC]    one connection, 1 s timeout; prints ok or fail:<why>
    python -m camkit.probes.tcp udp-listen ADDR PORT SECONDS   answer every datagram with "ok"
    python -m camkit.probes.tcp udp-send ADDR PORT         one datagram, 1 s for the answer; ok or fail:<why>

Stdlib only: it is copied into test containers as a plain script.
"""

from __future__ import annotations

import socket
import sys
import time


def listen(addr: str, port: int, seconds: float) -> None:
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((addr, port))
    srv.listen(16)
    srv.settimeout(0.2)
    print("listening", flush=True)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            conn, _ = srv.accept()
        except TimeoutError:
            continue
        conn.sendall(b"ok")
        conn.close()
    srv.close()


def connect(addr: str, port: int, src: str | None) -> None:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(1.0)
    try:
        if src:
            s.bind((src, 0))
        s.connect((addr, port))
        data = s.recv(2)
        print("ok" if data == b"ok" else f"fail:unexpected {data!r}")
    except OSError as exc:
        print(f"fail:{exc.__class__.__name__}:{exc}")
    finally:
        s.close()


def udp_listen(addr: str, port: int, seconds: float) -> None:
    srv = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    srv.bind((addr, port))
    srv.settimeout(0.2)
    print("listening", flush=True)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            _, peer = srv.recvfrom(2048)
        except TimeoutError:
            continue
        srv.sendto(b"ok", peer)
    srv.close()


def udp_send(addr: str, port: int) -> None:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(1.0)
    try:
        s.sendto(b"probe", (addr, port))
        data, _ = s.recvfrom(16)
        print("ok" if data == b"ok" else f"fail:unexpected {data!r}")
    except OSError as exc:
        print(f"fail:{exc.__class__.__name__}:{exc}")
    finally:
        s.close()


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "listen":
        listen(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]))
    elif mode == "udp-listen":
        udp_listen(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]))
    elif mode == "udp-send":
        udp_send(sys.argv[2], int(sys.argv[3]))
    else:
        connect(sys.argv[2], int(sys.argv[3]), sys.argv[4] if len(sys.argv) > 4 else None)
