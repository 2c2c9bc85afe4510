"""Policy pack entry point for `pulumi preview --policy-pack policy`."""

import sys
from pathlib import Path

from pulumi_policy import EnforcementLevel, PolicyPack

# The CLI runs this file with policy/ as the working directory; the policies live in the concern packages of infra/.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from infra.policy_pack import sdk_policies

PolicyPack(
    name="secure-tenant-baseline",
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=sdk_policies(),
)
