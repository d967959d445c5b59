"""The simulated cameras carry the hardened profile; nothing of the run's secrets is left on the host."""

import json


def _state(host, cam):
    ep = json.loads(host.file("/srv/onvif-sim/endpoints.json").content_string)
    out = host.check_output(
        "python3 -c 'import sys,urllib.request;print(urllib.request.urlopen(sys.argv[1]).read().decode())' "
        f"http://127.0.0.1:{ep['control_port']}/state/{cam}")
    return json.loads(out)


def _cameras(host):
    return sorted(json.loads(host.file("/srv/onvif-sim/endpoints.json").content_string)["cameras"])


def test_every_camera_is_hardened(host):
    cams = _cameras(host)
    assert len(cams) == 6  # hk-c01..05 and the police camera hk-ca01 on the district's switch
    for cam in cams:
        st = _state(host, cam)
        assert sorted(st["users"]) == ["ck-admin", "ck-operator", "ck-viewer"]
        assert st["protocols"]["HTTP"]["enabled"] is False and st["protocols"]["HTTPS"]["enabled"] is True
        assert st["discovery"] == "NonDiscoverable"
        assert st["ip_filter"]["type"] == "Allow"
        assert st["datetime"]["tz"] == "ICT-7"


def test_no_secret_is_left_on_the_host(host):
    leftovers = host.run("ls -d /tmp/camkit-cameras-* 2>/dev/null")
    assert leftovers.stdout.strip() == ""
    found = host.run("find /tmp /var /opt /root /srv /home -name '*.vault.yml' -o -name vault-password 2>/dev/null")
    assert found.stdout.strip() == ""


def test_camkit_is_installed_offline(host):
    assert host.file("/opt/camkit/venv/bin/camkit").is_file
    assert host.run("/opt/camkit/venv/bin/camkit cameras --help").rc == 0


def test_no_account_was_touched_over_http(host):
    for cam in _cameras(host):
        assert not {"CreateUsers", "SetUser", "DeleteUsers"} & set(_state(host, cam)["http_calls"]), cam


def test_the_pins_came_back_to_the_controller_store():
    """Each camera's HTTPS certificate, pinned on the host's run, is in the controller's vault afterwards."""
    import os
    from pathlib import Path

    from camkit.cameras.site import PINS_KEY
    from camkit.secrets import Store

    password = Path(os.environ["CAMKIT_MOLECULE_VAULT_PASSWORD_FILE"]).read_text().strip().encode()
    store = Store.open(Path(os.environ["CAMKIT_MOLECULE_WORK"]) / "store", password)
    pins = store.get("hoan-kiem", PINS_KEY) or {}
    assert sorted(pins) == ["hk-c01", "hk-c02", "hk-c03", "hk-c04", "hk-c05", "hk-ca01"]
    assert all(len(v) == 64 and int(v, 16) >= 0 for v in pins.values())
