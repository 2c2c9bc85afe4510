"""The concern packages of infra/, and what each declares for the pack and the review tools.

A concern (network, firewall, keys...) is a package of infra/ with its config, component, fakes and policies. The
pack finds every concern's policies (`<concern>/policies.py`) and the checkov export every concern's Terraform
types (`TERRAFORM_TYPES` of `<concern>/component.py`) by walking these packages: a new concern, control or
resource type is picked up by adding it to its package, with no list to keep anywhere else.
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
import re
from collections.abc import Mapping
from types import ModuleType

import infra

# pulumi-aws names most modules after Terraform's resource prefix; these two differ (EC2's resources have none).
TERRAFORM_PREFIXES = {"ec2": "", "cfg": "config"}


def concern_modules(name: str) -> list[ModuleType]:
    """`infra.<concern>.<name>` of every concern package that has one, in the order of the concerns' names."""
    modules = []
    for concern in pkgutil.iter_modules(infra.__path__, "infra."):
        if concern.ispkg and importlib.util.find_spec(f"{concern.name}.{name}") is not None:
            modules.append(importlib.import_module(f"{concern.name}.{name}"))
    return modules


def terraform_types(*tokens: str, irregular: Mapping[str, str] | None = None) -> dict[str, str]:
    """The Terraform type of each pulumi_aws type token, by the rule pulumi-aws derived its tokens from Terraform's
    names (`aws:s3/bucketPolicy:BucketPolicy` is `aws_s3_bucket_policy`, `aws:ec2/eip:Eip` is `aws_eip`), and
    the `irregular` ones as given (`aws:lb/loadBalancer:LoadBalancer` is `aws_lb`)."""
    types = dict(irregular or {})
    for token in tokens:
        match = re.fullmatch(r"aws:(\w+)/(\w+):\w+", token)
        if not match:
            raise ValueError(f"{token} is not a pulumi_aws resource type token (aws:<module>/<name>:<Name>)")
        prefix = TERRAFORM_PREFIXES.get(match[1], match[1])
        name = re.sub(r"(?<!^)(?=[A-Z])", "_", match[2]).lower()
        types[token] = f"aws_{prefix}_{name}" if prefix else f"aws_{name}"
    return types
