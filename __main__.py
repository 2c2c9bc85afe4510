"""Pulumi entry point: read the stack config once, build the tenant."""

from infra.config import load_config
from infra.stack import build_tenant

build_tenant(load_config())
