"""In a container: the ward edge node's netplan is installed and checked, not applied."""


def test_installed_private(host):
    f = host.file("/etc/netplan/60-camkit.yaml")
    assert f.exists and f.mode == 0o600 and f.user == "root"
    assert "10.0.0.228/29" in host.run("cat /etc/netplan/60-camkit.yaml").stdout


def test_checked_by_netplan_generate(host):
    d = "/var/lib/camkit/netplan/check/run/systemd/network"
    assert host.file(f"{d}/10-netplan-vlan20.netdev").exists
    assert "Address=10.0.0.228/29" in host.run(f"cat {d}/10-netplan-vlan20.network").stdout


def test_not_applied_and_no_rollback_armed(host):
    assert "10.0.0.228" not in host.run("ip -o addr show").stdout
    assert host.run("systemctl is-active camkit-netplan-rollback.timer").stdout.strip() != "active"
