"""A prepared RKE2 server node without an air-gap bundle: configured, not installed."""

import yaml


def test_rke2_config(host):
    f = host.file("/etc/rancher/rke2/config.yaml")
    assert f.mode == 0o600 and f.user == "root"
    conf = yaml.safe_load(f.content_string)
    assert conf["profile"] == "cis" and conf["protect-kernel-defaults"] is True
    assert conf["node-ip"] == "10.0.0.228"
    assert conf["cluster-cidr"] == "10.42.0.0/16" and conf["service-cidr"] == "10.43.0.0/16"
    assert conf["secrets-encryption"] is True
    assert "camkit.io/site=hang-trong" in conf["node-label"] and "camkit.io/tier=3" in conf["node-label"]
    assert "server" not in conf  # the first server does not join another


def test_registry_mirror(host):
    reg = yaml.safe_load(host.file("/etc/rancher/rke2/registries.yaml").content_string)
    assert reg["mirrors"]["*"]["endpoint"] == ["https://registry.ioc.example.invalid:5000"]


def test_kernel_settings_written(host):
    assert "br_netfilter" in host.file("/etc/modules-load.d/camkit-rke2.conf").content_string
    sysctl = host.file("/etc/sysctl.d/90-camkit-rke2.conf").content_string
    assert "vm.overcommit_memory = 1" in sysctl and "kernel.panic_on_oops = 1" in sysctl


def test_etcd_user_for_the_cis_profile(host):
    u = host.user("etcd")
    assert u.exists and u.shell == "/usr/sbin/nologin"


def test_rke2_not_installed_without_a_bundle(host):
    assert not host.file("/usr/local/bin/rke2").exists
