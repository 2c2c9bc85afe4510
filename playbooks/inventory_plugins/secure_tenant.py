"""Ansible inventory plugin: every bastion of every selected secure-tenant stack, one host per zone.

Configured by a `*.secure_tenant.yml` file (playbooks/inventory/fleet.secure_tenant.yml); its options are documented
and type-checked by Ansible from DOCUMENTATION below.
"""

from __future__ import annotations

import glob
import ipaddress
import json
import os
import re
import subprocess
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from ansible.errors import AnsibleError, AnsibleParserError
from ansible.plugins.inventory import BaseInventoryPlugin

from infra.baseline import RoleWaiver
from infra.waivers import WaiverError, statements, waivers_in_force

DOCUMENTATION = r"""
name: secure_tenant
short_description: Bastions of secure-tenant stacks, from Pulumi stack outputs or saved outputs files
description:
  - Lists every bastion of every selected stack, one host per availability zone, named
    C(<tenant>-<env>-bastion-<zone suffix>) (e.g. C(acme-prod-bastion-a)).
  - Groups C(bastions), C(tenant_<tenant>), C(env_<env>), C(<tenant>_<env>) and C(zone_<zone>) (e.g.
    C(zone_eu_west_1a)); dashes in names become underscores.
  - Host variables are the stack's facts as C(secure_tenant_*), among them C(secure_tenant_stack_bastions) (the names
    of every bastion of the host's stack), mapped onto the roles by
    playbooks/group_vars/bastions.yml), plus every variable of the tenant's C(tenants/<tenant>/vpn-clients.yml)
    (its C(secure_tenant_vpn_clients)), so one run over several tenants keeps each tenant's clients.
  - The role-side waivers of the host's tenant environment, from C(tenants/<tenant>/waivers.yaml)
    (infra/waivers.py); each sets its role variable (e.g. C(openvpn_mfa_waiver)) to its justification and
    approval, C(secure_tenant_waivers) maps them all and C(secure_tenant_waiver_variables) lists every role waiver
    variable (playbooks/bastion.yml refuses one set any other way). A waiver file with a bad entry, or with an
    expired waiver for the environment, is refused.
  - Outputs come from C(pulumi stack output --json --show-secrets --stack <stack>) for each stack, or, offline, from
    saved outputs files (option O(outputs)).
  - Relative paths in the configuration file are relative to that file; paths from environment variables are
    relative to the working directory.
options:
  plugin:
    description: Marks the file as this plugin's configuration.
    required: true
    choices: [secure_tenant]
  stacks:
    description:
      - Stacks to list, named C(<tenant>-<env>). Empty lists every stack found (saved outputs files when
        O(outputs) is set, else the C(Pulumi.<stack>.yaml) files of O(project_dir)).
      - A named stack that is not found is refused.
    type: list
    elements: str
    default: []
    env:
      - name: PULUMI_STACK
  tenants:
    description: Only the stacks of these tenants; a tenant with no stack is refused (a typo lists nothing).
    type: list
    elements: str
    default: []
  environments:
    description: Only the stacks of these environments; an environment with no stack is refused.
    type: list
    elements: str
    default: []
  outputs:
    description:
      - Saved outputs files (paths or globs), each C(<stack>-outputs.json) as written by
        C(pulumi stack output --json --show-secrets --stack <stack> > <stack>-outputs.json). When set, Pulumi is not
        called. The file's tenant and environment must match its name.
    type: list
    elements: str
    default: []
    env:
      - name: SECURE_TENANT_STACK_OUTPUTS
  project_dir:
    description: The Pulumi project (holding C(Pulumi.yaml)); by default the nearest one above the configuration file.
    type: str
  tenants_dir:
    description: Folder of one sub-folder per tenant; by default C(tenants) in O(project_dir).
    type: str
  pulumi_command:
    description: The Pulumi CLI.
    type: str
    default: pulumi
  parallel:
    description: How many C(pulumi stack output) commands run at once.
    type: int
    default: 4
  bastion_host:
    description:
      - Address Ansible connects to, when exactly one bastion is listed (e.g. over the VPN, or a lab host); refused
        when more are listed (use O(address_overrides)).
    type: str
    env:
      - name: SECURE_TENANT_BASTION_HOST
  address_overrides:
    description:
      - Address Ansible connects to, per host name (e.g. C(acme-prod-bastion-a) to C(10.77.3.2)), for a lab or a VPN
        path; a name that is not a listed bastion is refused.
    type: dict
    default: {}
  management_cidrs:
    description:
      - Networks that may reach SSH besides the VPN client range (a break-glass admin network, the lab's controller);
        comma-separated in the environment variable.
    type: list
    elements: str
    default: []
    env:
      - name: SECURE_TENANT_MANAGEMENT_CIDRS
"""

EXAMPLES = r"""
# playbooks/inventory/fleet.secure_tenant.yml: every stack of the project, from `pulumi stack output`.
plugin: secure_tenant

# Offline, from saved outputs, only ACME's production:
plugin: secure_tenant
outputs: [../../build/fleet/*-outputs.json]
tenants: [acme]
environments: [prod]
"""

REQUIRED_OUTPUTS = ("tenant", "environment", "vpnClientCidr", "vpcCidr", "dnsResolver", "bastionHosts")
REQUIRED_HOST_OUTPUTS = ("zone", "publicIp", "privateIp")
OUTPUTS_SUFFIX = "-outputs.json"
CLIENTS_FILE = "vpn-clients.yml"


class StackError(Exception):
    """A stack or file whose outputs cannot become hosts; the message names it and the fix."""


def _group(*parts: str) -> str:
    return "_".join(re.sub(r"[^A-Za-z0-9_]", "_", part) for part in parts)


def _split_stack(stack: str) -> tuple[str, str]:
    """`<tenant>-<env>` split at the last dash (tenant names may hold dashes, environment names do not)."""
    tenant, _, env = stack.rpartition("-")
    return tenant, env


def parse_outputs(text: str, source: str, fix: str) -> dict[str, Any]:
    """A stack's outputs JSON, checked for what the hosts need."""
    try:
        outputs = json.loads(text)
    except json.JSONDecodeError as error:
        raise StackError(f"{source} is not JSON ({error}); {fix}") from None
    if not isinstance(outputs, dict):
        raise StackError(
            f"{source} holds a JSON {type(outputs).__name__}, not the stack's outputs object; {fix}"
        )
    missing = [key for key in REQUIRED_OUTPUTS if outputs.get(key) in (None, "", [])]
    if missing:
        raise StackError(
            f"{source} lacks the outputs {', '.join(missing)}: run `pulumi up` for the stack (its bastion "
            f"outputs are written by the current program), then {fix}"
        )
    hosts = outputs["bastionHosts"]
    if not isinstance(hosts, list) or not all(
        isinstance(host, dict) and all(host.get(key) for key in REQUIRED_HOST_OUTPUTS) for host in hosts
    ):
        raise StackError(
            f"{source}: bastionHosts must be a list of {{{', '.join(REQUIRED_HOST_OUTPUTS)}, instanceId}} "
            f"objects, got {json.dumps(hosts)[:200]}; run `pulumi up` for the stack, then {fix}"
        )
    return outputs


def _save_fix(stack: str) -> str:
    return f"save them again with `pulumi stack output --json --show-secrets --stack {stack} > {stack}{OUTPUTS_SUFFIX}`"


class InventoryModule(BaseInventoryPlugin):  # type: ignore[misc]  # ansible-core ships no type information
    """The fleet's bastions as hosts."""

    NAME = "secure_tenant"
    # The values are the operator's own stack outputs and repository files, trusted as the script inventory's were;
    # untrusted values would reach `ansible-inventory --list` readers (testinfra's ansible backend) wrapped.
    trusted_by_default = True

    def verify_file(self, path: str) -> bool:
        return bool(super().verify_file(path)) and path.endswith(
            (".secure_tenant.yml", ".secure_tenant.yaml")
        )

    def parse(self, inventory: Any, loader: Any, path: str, cache: bool = True) -> None:
        super().parse(inventory, loader, path, cache)
        self._read_config_data(path)
        self._config_dir = Path(path).resolve().parent
        try:
            stacks = self._stack_outputs()
            overrides = self._address_overrides(stacks)
            cidrs = self._management_cidrs()
            for stack, outputs in stacks.items():
                self._add_stack(stack, outputs, overrides, cidrs)
        except StackError as error:
            raise AnsibleParserError(f"secure_tenant inventory ({path}): {error}") from None

    # --- options ---------------------------------------------------------------------------------------------
    def _path(self, option: str, value: str) -> Path:
        """An option's path: from the configuration file relative to it, from the environment relative to the cwd."""
        _, origin = self.get_option_and_origin(option)
        expanded = Path(os.path.expanduser(value))
        if expanded.is_absolute() or str(origin).startswith("env:"):
            return expanded
        return self._config_dir / expanded

    def _project_dir(self) -> Path:
        configured = self.get_option("project_dir")
        if configured:
            return self._path("project_dir", configured)
        for directory in (self._config_dir, *self._config_dir.parents):
            if (directory / "Pulumi.yaml").is_file():
                return directory
        raise StackError(f"no Pulumi.yaml above {self._config_dir}: set project_dir to the Pulumi project")

    def _tenants_dir(self) -> Path:
        configured = self.get_option("tenants_dir")
        return self._path("tenants_dir", configured) if configured else self._project_dir() / "tenants"

    def _management_cidrs(self) -> list[str]:
        cidrs = [cidr.strip() for cidr in self.get_option("management_cidrs") if cidr.strip()]
        for cidr in cidrs:
            try:
                ipaddress.ip_network(cidr)
            except ValueError as error:
                raise StackError(
                    f"management_cidrs (SECURE_TENANT_MANAGEMENT_CIDRS): {error}; name networks such as 10.77.9.1/32"
                ) from None
        return cidrs

    # --- which stacks, and their outputs ---------------------------------------------------------------------
    def _select(self, found: list[str], where: str) -> list[str]:
        """The found stacks the options select; a named stack, tenant or environment with no stack is refused."""
        named: list[str] = self.get_option("stacks")
        unknown = sorted(set(named) - set(found))
        if unknown:
            raise StackError(
                f"no stack {', '.join(unknown)} in {where} (found: {', '.join(sorted(found)) or 'none'}); fix the "
                f"name in stacks (PULUMI_STACK) or add the stack"
            )
        selected = named or found
        for option, index in (("tenants", 0), ("environments", 1)):
            wanted: list[str] = self.get_option(option)
            have = {_split_stack(stack)[index] for stack in selected}
            if missing := sorted(set(wanted) - have):
                raise StackError(
                    f"{option} names {', '.join(missing)}, which has no stack among {', '.join(sorted(selected))} "
                    f"in {where}; fix the name or add the stack"
                )
            if wanted:
                selected = [stack for stack in selected if _split_stack(stack)[index] in wanted]
        return sorted(selected)

    def _stack_outputs(self) -> dict[str, dict[str, Any]]:
        patterns: list[str] = self.get_option("outputs")
        if patterns:
            return self._saved_outputs(patterns)
        project = self._project_dir()
        found = [path.name[len("Pulumi.") : -len(".yaml")] for path in project.glob("Pulumi.*.yaml")]
        selected = self._select(found, f"{project} (Pulumi.<stack>.yaml)")
        with ThreadPoolExecutor(max_workers=max(1, self.get_option("parallel"))) as pool:
            results = list(pool.map(lambda stack: self._pulumi_outputs(project, stack), selected))
        return dict(zip(selected, results, strict=True))

    def _saved_outputs(self, patterns: list[str]) -> dict[str, dict[str, Any]]:
        files: dict[str, Path] = {}
        for pattern in patterns:
            path = self._path("outputs", pattern)
            matches = sorted(glob.glob(str(path))) if glob.has_magic(str(path)) else [str(path)]
            if not matches or not Path(matches[0]).is_file():
                raise StackError(
                    f"outputs {pattern}: no such file ({path}); save a stack's outputs with `pulumi stack output "
                    f"--json --show-secrets --stack <stack> > <stack>{OUTPUTS_SUFFIX}` or fix the path"
                )
            for match in matches:
                name = Path(match).name
                stack = name[: -len(OUTPUTS_SUFFIX)] if name.endswith(OUTPUTS_SUFFIX) else Path(match).stem
                if stack in files and files[stack] != Path(match):
                    raise StackError(
                        f"outputs names two files for stack {stack} ({files[stack]}, {match}); keep one"
                    )
                files[stack] = Path(match)
        selected = self._select(list(files), " ".join(patterns))
        outputs = {}
        for stack in selected:
            outputs[stack] = parse_outputs(
                self._read(files[stack], stack), str(files[stack]), _save_fix(stack)
            )
            named = f"{outputs[stack]['tenant']}-{outputs[stack]['environment']}"
            if named != stack:
                raise StackError(
                    f"{files[stack]} holds the outputs of {named}, not {stack} as its name says; rename the file "
                    f"to {named}{OUTPUTS_SUFFIX} or {_save_fix(stack)}"
                )
        return outputs

    @staticmethod
    def _read(path: Path, stack: str) -> str:
        try:
            return path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise StackError(f"{path} cannot be read ({error}); {_save_fix(stack)}") from None

    def _pulumi_outputs(self, project: Path, stack: str) -> dict[str, Any]:
        command = [
            self.get_option("pulumi_command"),
            "stack",
            "output",
            "--json",
            "--show-secrets",
            "--stack",
            stack,
        ]
        try:
            completed = subprocess.run(command, cwd=project, capture_output=True, text=True, check=False)
        except OSError as error:
            raise StackError(
                f"`{' '.join(command)}` cannot run ({error}); install the Pulumi CLI, or set outputs "
                f"(SECURE_TENANT_STACK_OUTPUTS) to saved outputs files"
            ) from None
        if completed.returncode != 0:
            raise StackError(
                f"`{' '.join(command)}` failed: {completed.stderr.strip() or completed.stdout.strip()}; check the "
                f"stack name and `pulumi login`, or set outputs to saved outputs files"
            )
        return parse_outputs(completed.stdout, f"`pulumi stack output` of {stack}", "run the inventory again")

    # --- hosts -----------------------------------------------------------------------------------------------
    @staticmethod
    def host_name(outputs: Mapping[str, Any], zone: str) -> str:
        region = str(outputs.get("region") or "")
        suffix = zone[len(region) :] if region and zone.startswith(region) and zone != region else zone
        return f"{outputs['tenant']}-{outputs['environment']}-bastion-{suffix}"

    def _address_overrides(self, stacks: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
        names = [self.host_name(o, host["zone"]) for o in stacks.values() for host in o["bastionHosts"]]
        if twice := sorted({name for name in names if names.count(name) > 1}):
            raise StackError(
                f"more than one bastion would be named {', '.join(twice)} (one bastion per zone and stack); run "
                f"`pulumi up` for the stack and save its outputs again"
            )
        overrides = {
            str(name): str(address) for name, address in self.get_option("address_overrides").items()
        }
        if unknown := sorted(set(overrides) - set(names)):
            raise StackError(
                f"address_overrides names {', '.join(unknown)}, which is not a listed bastion "
                f"({', '.join(names)}); fix the host name"
            )
        single = self.get_option("bastion_host")
        if single:
            if len(names) != 1:
                raise StackError(
                    f"bastion_host (SECURE_TENANT_BASTION_HOST={single}) is one address but {len(names)} bastions "
                    f"are listed ({', '.join(names)}); select one stack with one bastion, or map each host in "
                    f"address_overrides"
                )
            overrides.setdefault(names[0], single)
        return overrides

    def _tenant_vars(self, tenant: str) -> dict[str, Any]:
        """Every variable of tenants/<tenant>/vpn-clients.yml; none when the tenant has no such file."""
        path = self._tenants_dir() / tenant / CLIENTS_FILE
        if not path.is_file():
            return {}
        try:
            data = self.loader.load_from_file(str(path), cache="none")
        except AnsibleError as error:
            raise StackError(f"{path} is not valid YAML ({error.message}); fix the file") from None
        if data is None:
            return {}
        clients = data.get("secure_tenant_vpn_clients", []) if isinstance(data, dict) else None
        if not isinstance(clients, list):
            raise StackError(
                f"{path} must be a mapping whose secure_tenant_vpn_clients is a list of "
                f"{{name, person, device}}; fix the file"
            )
        return dict(data)

    def _waiver_vars(self, tenant: str, env: str) -> dict[str, Any]:
        """The roles' waiver variables of the tenant environment, also as secure_tenant_waivers."""
        try:
            variables = statements(
                waivers_in_force(tenant, env, tenants=self._tenants_dir()), role_variables=True
            )
        except WaiverError as error:
            raise StackError(str(error)) from None
        return {
            **variables,
            "secure_tenant_waivers": variables,
            "secure_tenant_waiver_variables": [str(variable) for variable in RoleWaiver],
        }

    def _add_stack(
        self, stack: str, outputs: Mapping[str, Any], overrides: Mapping[str, str], cidrs: list[str]
    ) -> None:
        tenant, env = str(outputs["tenant"]), str(outputs["environment"])
        stack_vars = {
            "secure_tenant_stack": stack,
            "secure_tenant_tenant": tenant,
            "secure_tenant_environment": env,
            "secure_tenant_region": outputs.get("region"),
            "secure_tenant_vpc_cidr": outputs["vpcCidr"],
            "secure_tenant_vpn_client_cidr": outputs["vpnClientCidr"],
            "secure_tenant_dns_resolver": outputs["dnsResolver"],
            "secure_tenant_vpn_port": int(outputs.get("vpnPort") or 1194),
            "secure_tenant_vpn_protocol": outputs.get("vpnProtocol") or "udp",
            "secure_tenant_management_cidrs": cidrs,
            # The CloudWatch log groups the stack made for its bastions, named exactly as the stack named them.
            "secure_tenant_log_groups": list(outputs.get("bastionLogGroups") or []),
            **self._tenant_vars(tenant),
            **self._waiver_vars(tenant, env),
        }
        groups = ["bastions", _group("tenant", tenant), _group("env", env), _group(tenant, env)]
        # The stack's bastions by name, on each of them: the hosts its tenant environment's server certificate
        # is issued to (and no other tenant's).
        names = [self.host_name(outputs, host["zone"]) for host in outputs["bastionHosts"]]
        for name, host in zip(names, outputs["bastionHosts"], strict=True):
            self.inventory.add_host(name)
            for group in [*groups, _group("zone", host["zone"])]:
                self.inventory.add_child(self.inventory.add_group(group), name)
            host_vars = {
                **stack_vars,
                "ansible_host": overrides.get(name, host["publicIp"]),
                "secure_tenant_stack_bastions": names,
                "secure_tenant_zone": host["zone"],
                "secure_tenant_bastion_public_ip": host["publicIp"],
                "secure_tenant_bastion_private_ip": host["privateIp"],
                "secure_tenant_bastion_instance_id": host.get("instanceId"),
            }
            for key, value in host_vars.items():
                self.inventory.set_variable(name, key, value)
