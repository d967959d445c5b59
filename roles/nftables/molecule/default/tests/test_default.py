"""The ruleset is installed, loaded, persistent, and nothing else was flushed."""


def test_ruleset_file(host):
    f = host.file("/etc/nftables.d/camkit.nft")
    assert f.exists and f.mode == 0o600 and f.user == "root"
    assert "table inet camkit" in f.content_string


def test_ruleset_is_loaded_with_drop_policies(host):
    out = host.run("nft list table inet camkit")
    assert out.rc == 0, out.stderr
    assert "hook input priority filter; policy drop;" in out.stdout
    assert "hook forward priority filter; policy drop;" in out.stdout
    assert "@ioc_management tcp dport 22" in out.stdout


def test_service_enabled(host):
    assert host.service("nftables").is_enabled


def test_conf_does_not_flush(host):
    conf = host.file("/etc/nftables.conf").content_string
    assert "flush ruleset" not in conf and 'include "/etc/nftables.d/*.nft"' in conf
