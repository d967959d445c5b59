"""Pulumi program: `pulumi up --stack <site> --config-file build/<city>/stacks/Pulumi.<site>.yaml`.

Configuration comes from the file camkit generates per site. Secrets come from the secrets store when
CAMKIT_SECRETS_DIR, CAMKIT_INVENTORY and CAMKIT_VAULT_PASSWORD_FILE are set (`camkit.stack_secrets`), else
from `pulumi config set --secret` (the generated file lists them) — never from a file in the repository.
"""

import json
import os

import pulumi

from camkit_stacks import TIERS, DeploySecrets, SiteInputs

cfg = pulumi.Config("camkit")
site = SiteInputs.load(cfg.require("site"), cfg.require("valuesDir"), cfg.get("chartsDir"))
if os.environ.get("CAMKIT_SECRETS_DIR"):  # from the vault: CAMKIT_INVENTORY, CAMKIT_VAULT_PASSWORD_FILE as well
    secrets = DeploySecrets.from_store(site, os.environ["CAMKIT_INVENTORY"], os.environ["CAMKIT_SECRETS_DIR"])
else:
    secrets = DeploySecrets(
        camera_credentials=cfg.require_secret_object("cameraCredentials") if "vms" in site.values else None,
        relay_fingerprints=json.loads(cfg.get("relayFingerprints") or "{}"),
        tls=cfg.get_secret_object("tls"),
        extra=cfg.get_secret_object("secrets"),
    )
stack = TIERS[site.tier](site.site_id, site, secrets)
pulumi.export("namespaces", stack.namespace_names)
pulumi.export("charts", sorted(site.values))
