"""The fleet's tenants: one folder per tenant, `tenants/<tenant>/`, holding everything about it.

A tenant folder holds its stack file per environment (`Pulumi.<tenant>-<env>.yaml`), its VPN clients
(`vpn-clients.yml`), its firewall rules and its exceptions. Pulumi looks for a stack's file next to `Pulumi.yaml`, so
each stack file is linked from the project root (`Pulumi.acme-prod.yaml -> tenants/acme/Pulumi.acme-prod.yaml`):
`pulumi stack init`, `pulumi config set` (which writes through the link) and every tool that reads the root keep
working. `new_tenant` writes a tenant's starting configuration with a VPC range from the pool in
`tenants/fleet.yaml` that no other stack uses.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from ipaddress import IPv4Network
from pathlib import Path
from typing import Any, get_args

import yaml

from infra.baseline import EU_REGIONS, PROJECT, Environment
from infra.config import ConfigError, TenantConfig, parse_config
from infra.model import is_private

ROOT = Path(__file__).resolve().parent.parent
ENVIRONMENTS: tuple[str, ...] = get_args(Environment)
POOL_FILE = "tenants/fleet.yaml"
# What a new stack lets out of its VPC from day one: Debian's mirrors, which every host role installs from.
STARTING_EGRESS = (
    {"domain": "deb.debian.org", "protocols": ["http", "tls"]},
    {"domain": "security.debian.org", "protocols": ["http", "tls"]},
)
VPN_CLIENTS_TEMPLATE = """\
---
# {tenant}'s administrators allowed through the VPN bastion: one certificate per person and device (ACC-02), and one
# TOTP secret per person (ACC-03). Add an entry per device, e.g.
#   - {{name: alice-laptop, person: alice, device: laptop}}
# and set `state: revoked` on a device to revoke it (see tenants/acme/vpn-clients.yml and the README).
secure_tenant_vpn_clients: []
"""


class TenantError(Exception):
    """A tenant request or a tenant folder is wrong; the message names the input and the fix."""


@dataclass(frozen=True)
class StackFile:
    """One tenant environment: its stack name, where its settings live, and the region it deploys to."""

    stack: str
    tenant: str
    environment: str
    path: Path
    region: str
    vpc_cidr: IPv4Network | None


def stack_name(tenant: str, environment: str) -> str:
    return f"{tenant}-{environment}"


def stack_settings(path: Path) -> dict[str, Any]:
    """The `config:` mapping of a stack file, as written (namespaced keys)."""
    try:
        document = yaml.safe_load(path.read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise TenantError(f"{path}: not a readable YAML stack file ({' '.join(str(error).split())}): fix it")
    config = document.get("config") if isinstance(document, dict) else None
    if not isinstance(config, dict):
        raise TenantError(f"{path}: a stack file is a mapping with a `config:` mapping: fix its structure")
    return config


def _network(value: Any) -> IPv4Network | None:
    try:
        return IPv4Network(str(value)) if value is not None else None
    except ValueError:
        return None  # the program refuses it with the key's own message; the fleet only needs valid ranges


def stack_files(root: Path = ROOT) -> list[StackFile]:
    """Every tenant environment of the project, from the tenant folders, in stack-name order.

    A stack file whose name, tenant or environment does not match its folder is refused: the folder is what
    decides whose VPN clients, firewall rules and exceptions a stack gets.
    """
    found = []
    for path in sorted((root / "tenants").glob("*/Pulumi.*.yaml")):
        tenant = path.parent.name
        stack = path.name.removeprefix("Pulumi.").removesuffix(".yaml")
        environment = stack.removeprefix(f"{tenant}-")
        where = path.relative_to(root)
        if environment not in ENVIRONMENTS or stack != stack_name(tenant, environment):
            raise TenantError(
                f"{where}: a tenant's stack file is named Pulumi.{tenant}-<environment>.yaml with environment "
                f"{' or '.join(ENVIRONMENTS)}: rename it"
            )
        config = stack_settings(path)
        for key, expected in (("tenant", tenant), ("environment", environment)):
            if config.get(f"{PROJECT}:{key}") != expected:
                raise TenantError(
                    f"{where}: {PROJECT}:{key} is {config.get(f'{PROJECT}:{key}')!r}, but the file is {tenant}'s "
                    f"{environment} stack: set it to {expected!r}"
                )
        found.append(
            StackFile(
                stack,
                tenant,
                environment,
                path,
                str(config.get("aws:region", "")),
                _network(config.get(f"{PROJECT}:vpcCidr")),
            )
        )
    return found


def link_problems(root: Path = ROOT) -> list[str]:
    """Root stack files that are not links to their tenant folder's file, and tenant stack files without one."""
    problems = []
    tenant_files = {f"Pulumi.{stack.stack}.yaml": stack.path for stack in stack_files(root)}
    for name, target in tenant_files.items():
        link = root / name
        if not link.is_symlink() or link.resolve() != target.resolve():
            problems.append(
                f"{name} is not a link to {target.relative_to(root)}: run `secure-tenant tenant link`"
            )
    for path in sorted(root.glob("Pulumi.*.yaml")):
        if path.name not in tenant_files:
            problems.append(
                f"{path.name} belongs to no tenant folder: move it to tenants/<tenant>/ and run `secure-tenant "
                "tenant link`"
            )
    return problems


def link_stack_files(root: Path = ROOT) -> list[Path]:
    """Link each tenant stack file from the project root, where Pulumi looks for it; returns the links made."""
    made = []
    for stack in stack_files(root):
        link = root / f"Pulumi.{stack.stack}.yaml"
        target = stack.path.relative_to(root)
        if link.is_symlink() and Path(os.readlink(link)) == target:
            continue
        if link.exists() and not link.is_symlink():
            raise TenantError(
                f"{link.name} is a file of its own at the project root and {target} exists too: keep one (move "
                f"the root file's settings into {target}), then run `secure-tenant tenant link` again"
            )
        link.unlink(missing_ok=True)
        link.symlink_to(target)
        made.append(link)
    return made


@dataclass(frozen=True)
class Pool:
    """Where new tenant environments take their VPC range from (tenants/fleet.yaml)."""

    ranges: tuple[IPv4Network, ...]
    prefix: int


def load_pool(root: Path = ROOT) -> Pool:
    path = root / POOL_FILE
    try:
        document = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as error:
        raise TenantError(f"{POOL_FILE}: cannot read it ({' '.join(str(error).split())}): restore it")
    ranges, prefix = document.get("vpcPool"), document.get("vpcPrefix")
    if not isinstance(ranges, list) or not ranges:
        raise TenantError(f"{POOL_FILE}: vpcPool must list private ranges, e.g. [10.64.0.0/12]")
    if not isinstance(prefix, int) or not 16 <= prefix <= 24:
        raise TenantError(f"{POOL_FILE}: vpcPrefix must be a prefix length from 16 to 24, e.g. 20")
    networks = []
    for value in ranges:
        network = _network(value)
        if network is None or not is_private(network):
            raise TenantError(
                f"{POOL_FILE}: vpcPool entry {value!r} is not a private (RFC 1918) range: fix it"
            )
        if network.prefixlen > prefix:
            raise TenantError(
                f"{POOL_FILE}: vpcPool entry {network} is smaller than one /{prefix} VPC: widen it or raise vpcPrefix"
            )
        networks.append(network)
    return Pool(tuple(networks), prefix)


def taken_ranges(root: Path = ROOT) -> list[IPv4Network]:
    """Every VPC and VPN client range a stack of the project uses, tenant folder or root file alike."""
    taken = []
    paths = {path.resolve() for path in [*root.glob("tenants/*/Pulumi.*.yaml"), *root.glob("Pulumi.*.yaml")]}
    for path in sorted(paths):
        config = stack_settings(path)
        for key in ("vpcCidr", "vpnClientCidr"):
            if (network := _network(config.get(f"{PROJECT}:{key}"))) is not None:
                taken.append(network)
    return taken


def free_range(pool: Pool, taken: Sequence[IPv4Network]) -> IPv4Network:
    """The first /prefix block of the pool that overlaps no taken range."""
    for block in pool.ranges:
        for candidate in block.subnets(new_prefix=pool.prefix):
            if not any(candidate.overlaps(used) for used in taken):
                return candidate
    raise TenantError(
        f"{POOL_FILE}: no free /{pool.prefix} left in vpcPool {', '.join(map(str, pool.ranges))} "
        f"({len(taken)} ranges taken by the fleet): add a range to vpcPool"
    )


def overlaps(stacks: Sequence[StackFile]) -> list[str]:
    """Pairs of stacks whose VPC ranges overlap: two tenants never share addresses."""
    return [
        f"{a.stack} {a.vpc_cidr} overlaps {b.stack} {b.vpc_cidr}"
        for i, a in enumerate(stacks)
        for b in stacks[i + 1 :]
        if a.vpc_cidr is not None and b.vpc_cidr is not None and a.vpc_cidr.overlaps(b.vpc_cidr)
    ]


@contextmanager
def _locked(root: Path) -> Iterator[None]:
    """One `tenant new` at a time per checkout: two at once would take the same free range."""
    with open(root / "tenants" / ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _defaults_note() -> str:
    fields = TenantConfig.model_fields
    bastion = fields["bastion"].default
    return (
        f"# Everything not set here is the baseline's default: vpnClientCidr {fields['vpn_client_cidr'].default}, "
        f"logRetentionDays {fields['log_retention_days'].default},\n# bastion {bastion.instance_type} on "
        f"{bastion.vpn_port}/{bastion.vpn_protocol}, Shield Advanced and object lock in prod, no exceptions (README: "
        "Stack configuration).\n# No domain yet, so no load balancer: `pulumi config set --path "
        f"{PROJECT}:edge.domainName app.example.com`.\n"
    )


class _BlockDumper(yaml.SafeDumper):
    """Lists indented under their key, as yamllint (and every stack file here) writes them."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def stack_file_text(header: str, config: dict[str, Any]) -> str:
    body = yaml.dump({"config": config}, Dumper=_BlockDumper, sort_keys=False, default_flow_style=None)
    return f"{header}---\n{body}"


def starting_config(
    tenant: str, environment: str, region: str, vpc_cidr: IPv4Network, zones: int
) -> dict[str, Any]:
    return {
        "aws:region": region,
        f"{PROJECT}:tenant": tenant,
        f"{PROJECT}:environment": environment,
        f"{PROJECT}:vpcCidr": str(vpc_cidr),
        f"{PROJECT}:zones": zones,
        f"{PROJECT}:firewall": {"egressDomains": [dict(entry) for entry in STARTING_EGRESS]},
    }


def _check_request(tenant: str, environments: Sequence[str], region: str, zones: int) -> None:
    """The request as the program would judge it, before the file system is touched."""
    if not environments or len(set(environments)) != len(environments):
        raise TenantError(f"--env: name each environment once ({' or '.join(ENVIRONMENTS)})")
    for environment in environments:
        if environment not in ENVIRONMENTS:
            raise TenantError(f"--env {environment!r}: use {' or '.join(ENVIRONMENTS)}")
    if region not in EU_REGIONS:
        raise TenantError(f"--region {region!r} is not in the EU: use one of {', '.join(sorted(EU_REGIONS))}")
    try:
        # The program's own rules for the tenant id (which also keep it a plain folder name) and the zones.
        parse_config(
            {
                "tenant": tenant,
                "environment": environments[0],
                "region": region,
                "vpcCidr": "10.0.0.0/16",
                "zones": zones,
            }
        )
    except ConfigError as error:
        message = str(error).removeprefix("invalid stack configuration:\n  ")
        raise TenantError(
            message.replace(f"{PROJECT}:tenant: ", "NAME: ").replace(f"{PROJECT}:zones: ", "--zones: ")
        ) from None


def new_tenant(
    tenant: str, environments: Sequence[str], region: str, zones: int = 2, root: Path = ROOT
) -> list[Path]:
    """Write tenants/<tenant>/ with a valid starting stack file per environment, linked from the root."""
    _check_request(tenant, environments, region, zones)
    folder = root / "tenants" / tenant
    with _locked(root):
        if folder.exists():
            raise TenantError(f"NAME: tenant {tenant!r} exists (tenants/{tenant}/): pick another name")
        if existing := sorted(p.name for p in root.glob(f"Pulumi.{tenant}-*.yaml")):
            raise TenantError(
                f"NAME: {', '.join(existing)} at the project root already belong to tenant {tenant!r}: move them "
                f"into tenants/{tenant}/ and run `secure-tenant tenant link`, or pick another name"
            )
        pool, taken = load_pool(root), taken_ranges(root)
        documents = {}
        for environment in environments:
            vpc_cidr = free_range(pool, taken)
            taken.append(vpc_cidr)
            config = starting_config(tenant, environment, region, vpc_cidr, zones)
            parse_config(_program_view(config))  # the program's own rules, before anything is written
            documents[environment] = config
        folder.mkdir(parents=True)
        written = []
        for environment, config in documents.items():
            path = folder / f"Pulumi.{stack_name(tenant, environment)}.yaml"
            header = (
                f"# Tenant {tenant}, {environment}: written by `secure-tenant tenant new`. Its vpcCidr comes from "
                f"{POOL_FILE}\n# and overlaps no other stack's ranges.\n{_defaults_note()}"
            )
            path.write_text(stack_file_text(header, config))
            written.append(path)
        clients = folder / "vpn-clients.yml"
        clients.write_text(VPN_CLIENTS_TEMPLATE.format(tenant=tenant))
        written.append(clients)
        written += link_stack_files(root)
    return written


def _program_view(config: dict[str, Any]) -> dict[str, Any]:
    """A stack file's settings as the program's config model reads them (keys without namespace)."""
    return {
        ("region" if key == "aws:region" else key.removeprefix(f"{PROJECT}:")): value
        for key, value in config.items()
    }


def select(
    stacks: Sequence[StackFile], tenants: Sequence[str], environments: Sequence[str]
) -> list[StackFile]:
    """The stacks of these tenants and environments (all when none is named); a name that matches none is refused."""
    for option, wanted, known in (
        ("--tenant", tenants, {s.tenant for s in stacks}),
        ("--env", environments, {s.environment for s in stacks}),
    ):
        unknown = sorted(set(wanted) - known)
        if unknown:
            raise TenantError(
                f"{option} {', '.join(unknown)}: no such stack in tenants/: use one of {', '.join(sorted(known))}"
            )
    return [
        s
        for s in stacks
        if (not tenants or s.tenant in tenants) and (not environments or s.environment in environments)
    ]
