"""MAB probe run inside the test network namespace: sends Access-Requests from a switch address.

Usage: python -m camkit.probes.radius_mab SERVER SOURCE SECRET MAC [MAC ...]; prints one JSON line per MAC
with the result, the reply attributes and the round-trip time in milliseconds.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from pyrad.client import Client, Timeout
from pyrad.dictionary import Dictionary
from pyrad.packet import AccessAccept, AccessRequest


def main() -> None:
    server, source, secret, *macs = sys.argv[1:]
    client = Client(server=server, secret=secret.encode(), authport=1812,
                    dict=Dictionary(str(Path(__file__).parent / "radius.dict")))
    client.bind((source, 0))
    client.timeout, client.retries = 3, 1
    for mac in macs:
        plain = mac.replace(":", "").replace("-", "").lower()
        req = client.CreateAuthPacket(code=AccessRequest, User_Name=plain)
        req["User-Password"] = req.PwCrypt(plain)
        req["Service-Type"] = "Call-Check"
        req["Calling-Station-Id"] = "-".join(plain[i:i + 2] for i in range(0, 12, 2)).upper()
        req["NAS-Port-Type"] = "Ethernet"
        req["NAS-IP-Address"] = source
        req.add_message_authenticator()
        start = time.perf_counter()
        try:
            reply = client.SendPacket(req)
        except Timeout:
            print(json.dumps({"mac": mac, "result": "timeout"}))
            continue
        ms = (time.perf_counter() - start) * 1000
        attrs = {k: [v if isinstance(v, (str, int)) else str(v) for v in reply[k]] for k in reply.keys()}
        print(json.dumps({"mac": mac, "result": "accept" if reply.code == AccessAccept else "reject",
                          "attrs": attrs, "ms": round(ms, 3)}, default=str), flush=True)


if __name__ == "__main__":
    main()
