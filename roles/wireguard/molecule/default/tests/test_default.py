"""The district hub's tunnel is up with its planned address, port, peer and routes."""


def test_interface_and_address(host):
    out = host.run("ip -br addr show wg-camkit")
    assert out.rc == 0, out.stderr
    assert "100.64.0.8/31" in out.stdout


def test_listen_port_and_peer(host):
    assert host.run("wg show wg-camkit listen-port").stdout.strip() == "51820"
    peers = host.run("wg show wg-camkit peers").stdout.split()
    assert len(peers) == 1 and len(peers[0]) == 44
    allowed = host.run("wg show wg-camkit allowed-ips").stdout
    for net in ("100.64.0.9/32", "10.0.1.0/28", "10.0.1.16/29"):
        assert net in allowed


def test_routes_to_the_private_system(host):
    assert "dev wg-camkit" in host.run("ip route show 10.0.1.0/28").stdout


def test_config_is_private_and_filled(host):
    f = host.file("/etc/wireguard/wg-camkit.conf")
    assert f.mode == 0o600 and f.user == "root"
    text = host.run("cat /etc/wireguard/wg-camkit.conf").stdout
    assert "{{" not in text and "PrivateKey = " in text and "Address = 100.64.0.8/31" in text


def test_service_enabled(host):
    svc = host.service("wg-quick@wg-camkit")
    assert svc.is_enabled and svc.is_running
