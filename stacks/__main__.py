"""Pulumi program: `pulumi up --stack <site> --config-file build/<city>/stacks/Pulumi.<site>.yaml`.

Configuration comes from the file camkit generates per site; secrets are set by the operator with
`pulumi config set --secret` (the generated file lists them) or come from the vault through the
environment — never from a file in the repository.
"""

import json

import pulumi

from camkit_stacks import TIERS, DeploySecrets, SiteInputs

cfg = pulumi.Config("camkit")
site = SiteInputs.load(cfg.require("site"), cfg.require("valuesDir"), cfg.get("chartsDir"))
secrets = DeploySecrets(
    camera_credentials=cfg.require_secret_object("cameraCredentials") if "vms" in site.values else None,
    relay_fingerprints=json.loads(cfg.get("relayFingerprints") or "{}"),
    tls=cfg.get_secret_object("tls"),
    extra=cfg.get_secret_object("secrets"),
)
stack = TIERS[site.tier](site.site_id, site, secrets)
pulumi.export("namespaces", stack.namespace_names)
pulumi.export("charts", sorted(site.values))
