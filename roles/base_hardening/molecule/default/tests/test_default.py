"""The effective settings, read back from the daemons themselves where they can say."""


def sshd_effective(host):
    out = host.run("sshd -T -C user=operator,host=h,addr=127.0.0.1")
    assert out.rc == 0, out.stderr
    return dict(line.split(" ", 1) for line in out.stdout.splitlines() if " " in line)


def test_sshd_effective_settings(host):
    eff = sshd_effective(host)
    assert eff["permitrootlogin"] == "no"
    assert eff["passwordauthentication"] == "no"
    assert eff["kbdinteractiveauthentication"] == "no"
    assert int(eff["maxauthtries"]) <= 4
    assert eff["clientaliveinterval"] == "300" and eff["clientalivecountmax"] == "1"
    assert eff["x11forwarding"] == "no"
    assert eff["banner"] == "/etc/issue.net"
    assert eff["allowgroups"] == "camkit-admins"
    assert not any(c.endswith("-cbc") for c in eff["ciphers"].split(","))
    assert all("etm" in m for m in eff["macs"].split(","))
    assert "diffie-hellman-group1-sha1" not in eff["kexalgorithms"]
    assert eff["disableforwarding"] == "yes"
    assert eff["hostkeyalgorithms"].split(",") == ["ssh-ed25519", "ecdsa-sha2-nistp256", "rsa-sha2-512", "rsa-sha2-256"]


def test_sshd_running_and_listening(host):
    assert host.service("ssh").is_running and host.service("ssh").is_enabled
    assert host.socket("tcp://0.0.0.0:22").is_listening


def test_chrony_uses_only_the_site_servers(host):
    assert host.service("chrony").is_running and host.service("chrony").is_enabled
    out = host.run("chronyc -n sources")
    assert out.rc == 0, out.stderr
    assert "127.0.0.1" in out.stdout
    directives = [line.split()[0] for line in host.file("/etc/chrony/chrony.conf").content_string.splitlines()
                  if line.strip() and not line.startswith("#")]
    assert "pool" not in directives and directives.count("server") == 1
    # no NTP service port and no UDP command port
    assert not host.socket("udp://0.0.0.0:123").is_listening
    assert not host.socket("udp://127.0.0.1:323").is_listening


def test_time_zone(host):
    assert host.file("/etc/localtime").linked_to == "/usr/share/zoneinfo/Asia/Ho_Chi_Minh"


def test_rsyslog_forwards_over_tls(host):
    assert host.service("rsyslog").is_running
    conf = host.file("/etc/rsyslog.d/90-camkit-forward.conf").content_string
    assert 'target="127.0.0.1" port="6514"' in conf and 'StreamDriver="gtls"' in conf
    assert host.run("rsyslogd -N1").rc == 0


def test_audit_rules(host):
    rules = host.file("/etc/audit/rules.d/50-camkit.rules").content_string
    for key in ("identity", "time-change", "logins", "session", "scope", "privileged"):
        assert f"-k {key}" in rules, key
    assert "-F path=/usr/bin/sudo -F perm=x" in rules
    assert host.package("auditd").is_installed  # not started in a container (see the role)


def test_sysctl_file(host):
    conf = host.file("/etc/sysctl.d/60-camkit-hardening.conf").content_string
    assert "net.ipv4.conf.all.accept_redirects = 0" in conf
    assert "kernel.randomize_va_space = 2" in conf


def test_automatic_security_updates(host):
    assert 'Unattended-Upgrade "1"' in host.file("/etc/apt/apt.conf.d/20auto-upgrades").content_string
    assert "security" in host.file("/etc/apt/apt.conf.d/52camkit-unattended-upgrades").content_string


def test_file_permissions(host):
    assert host.file("/etc/shadow").mode == 0o640
    assert host.file("/etc/ssh/sshd_config").mode == 0o600
