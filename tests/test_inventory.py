"""The fleet inventory (playbooks/inventory_plugins/secure_tenant.py), read by the real `ansible-inventory`.

The saved outputs in tests/fixtures are the offline evaluator's outputs of three stacks of two tenants:
`python -m tests.test_inventory` writes them again after the program's outputs change.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.stacks import waiver, write_waivers

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
FLEET = ROOT / "playbooks" / "inventory" / "fleet.secure_tenant.yml"
BIN = Path(sys.executable).parent

# Saved stack -> (example stack file it is evaluated from, config overrides): multi-zone stacks of two tenants.
FIXTURE_STACKS: dict[str, tuple[str, dict[str, Any]]] = {
    "acme-prod": ("acme-prod", {"secure-tenant:bastion": {"perZone": True, "dataVolumeGb": 20}}),
    "acme-preprod": ("acme-preprod", {}),
    "globex-prod": (
        "acme-prod",
        {
            "secure-tenant:tenant": "globex",
            "secure-tenant:vpcCidr": "10.30.0.0/16",
            "secure-tenant:vpnClientCidr": "10.252.0.0/24",
            "secure-tenant:zones": 2,
            "secure-tenant:bastion": {"perZone": True, "vpnPort": 443, "vpnProtocol": "tcp"},
            "secure-tenant:edge": {"domainName": "app.globex.example.com"},
            "secure-tenant:audit": {"alertEmails": ["soc@globex.example.com"]},
            # Without ALB access logs: their SSE-S3 bucket needs a waiver, and globex takes none (ACME's is ACME's).
            "secure-tenant:logArchive": {"objectLock": True, "retentionDays": 400},
            # Without ACME's rules file: a tenant's rules live in its own folder.
            "secure-tenant:firewall": {
                "egressDomains": [{"domain": ".debian.org", "protocols": ["http", "tls"]}]
            },
        },
    ),
}
ALL_HOSTS = [
    "acme-preprod-bastion-a",
    "acme-prod-bastion-a",
    "acme-prod-bastion-b",
    "acme-prod-bastion-c",
    "globex-prod-bastion-a",
    "globex-prod-bastion-b",
]
CLIENTS = {
    "acme": [{"name": "alice-laptop", "person": "alice", "device": "laptop"}],
    "globex": [{"name": "gina-phone", "person": "gina", "device": "phone"}],
}


def saved(stack: str) -> Path:
    return FIXTURES / f"{stack}-outputs.json"


def ansible_env(**env: str) -> dict[str, str]:
    """The project's Ansible configuration, without the caller's stack selection (SECURE_TENANT_*, PULUMI_STACK)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SECURE_TENANT_", "PULUMI_STACK"))}
    return {**clean, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), **env}


def ansible_inventory(source: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "ansible-inventory"), "-i", str(source), *(args or ["--list"])],
        env=ansible_env(**env),
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )


def listed(source: Path, **env: str) -> dict[str, Any]:
    result = ansible_inventory(source, **env)
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout))


def config(tmp_path: Path, **options: Any) -> Path:
    """A fleet configuration in tmp_path, reading the saved fixtures and tmp_path's tenants folder by default."""
    tenants = tmp_path / "tenants"
    for tenant, clients in CLIENTS.items():
        (tenants / tenant).mkdir(parents=True, exist_ok=True)
        (tenants / tenant / "vpn-clients.yml").write_text(
            yaml.safe_dump({"secure_tenant_vpn_clients": clients})
        )
    path = tmp_path / "fleet.secure_tenant.yml"
    settings = {
        "plugin": "secure_tenant",
        "outputs": [str(FIXTURES / "*-outputs.json")],
        "tenants_dir": "tenants",
        **options,
    }
    path.write_text(yaml.safe_dump(settings))
    return path


def refused(source: Path, *needles: str, **env: str) -> str:
    """Assert the inventory stops with a message holding every needle, and no traceback; return the message."""
    result = ansible_inventory(source, **env)
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr, result.stderr
    first = result.stderr.split("<<< caused by >>>")[0]
    for needle in needles:
        assert needle in first, result.stderr
    return first


def hosts_of(inventory: dict[str, Any], group: str) -> list[str]:
    return sorted(inventory.get(group, {}).get("hosts", []))


# --- what the fleet lists -------------------------------------------------------------------------------------
def test_every_bastion_of_every_saved_stack_is_a_host_grouped_by_tenant_environment_and_zone(
    tmp_path: Path,
) -> None:
    inventory = listed(config(tmp_path))
    assert hosts_of(inventory, "bastions") == ALL_HOSTS
    assert hosts_of(inventory, "tenant_acme") == ALL_HOSTS[:4]
    assert hosts_of(inventory, "tenant_globex") == ALL_HOSTS[4:]
    assert hosts_of(inventory, "env_prod") == ALL_HOSTS[1:]
    assert hosts_of(inventory, "env_preprod") == ["acme-preprod-bastion-a"]
    assert hosts_of(inventory, "acme_prod") == ALL_HOSTS[1:4]
    assert hosts_of(inventory, "globex_prod") == ALL_HOSTS[4:]
    assert hosts_of(inventory, "zone_eu_west_1a") == ["acme-prod-bastion-a", "globex-prod-bastion-a"]
    assert hosts_of(inventory, "zone_eu_west_1c") == ["acme-prod-bastion-c"]
    assert hosts_of(inventory, "zone_eu_central_1a") == ["acme-preprod-bastion-a"]


def test_each_zone_s_bastion_carries_its_own_address_and_its_stack_s_facts(tmp_path: Path) -> None:
    hostvars = listed(config(tmp_path))["_meta"]["hostvars"]
    for stack in ("acme-prod", "globex-prod"):
        outputs = json.loads(saved(stack).read_text())
        for bastion in outputs["bastionHosts"]:
            host = hostvars[f"{stack}-bastion-{bastion['zone'][-1]}"]
            assert host["ansible_host"] == bastion["publicIp"] == host["secure_tenant_bastion_public_ip"]
            assert host["secure_tenant_bastion_private_ip"] == bastion["privateIp"]
            assert host["secure_tenant_bastion_instance_id"] == bastion["instanceId"]
            assert host["secure_tenant_zone"] == bastion["zone"]
            assert host["secure_tenant_stack"] == stack
            assert host["secure_tenant_vpc_cidr"] == outputs["vpcCidr"]
            assert host["secure_tenant_vpn_client_cidr"] == outputs["vpnClientCidr"]
            assert host["secure_tenant_dns_resolver"] == outputs["dnsResolver"]
            assert host["secure_tenant_log_groups"] == outputs["bastionLogGroups"]
    assert hostvars["acme-prod-bastion-b"]["secure_tenant_bastion_private_ip"] == "10.20.16.4"
    assert (
        hostvars["acme-prod-bastion-a"]["secure_tenant_vpn_port"],
        hostvars["acme-prod-bastion-a"]["secure_tenant_vpn_protocol"],
    ) == (1194, "udp")
    assert (
        hostvars["globex-prod-bastion-b"]["secure_tenant_vpn_port"],
        hostvars["globex-prod-bastion-b"]["secure_tenant_vpn_protocol"],
    ) == (443, "tcp")
    assert hostvars["globex-prod-bastion-a"]["secure_tenant_tenant"] == "globex"


def test_each_tenant_s_hosts_carry_that_tenant_s_vpn_clients_only(tmp_path: Path) -> None:
    hostvars = listed(config(tmp_path))["_meta"]["hostvars"]
    for host in ALL_HOSTS:
        tenant = hostvars[host]["secure_tenant_tenant"]
        assert hostvars[host]["secure_tenant_vpn_clients"] == CLIENTS[tenant], host


def test_a_tenant_without_a_clients_file_gets_no_clients_from_another_tenant(tmp_path: Path) -> None:
    path = config(tmp_path)
    (tmp_path / "tenants" / "globex" / "vpn-clients.yml").unlink()
    hostvars = listed(path)["_meta"]["hostvars"]
    assert "secure_tenant_vpn_clients" not in hostvars["globex-prod-bastion-a"]
    assert hostvars["acme-prod-bastion-a"]["secure_tenant_vpn_clients"] == CLIENTS["acme"]


def test_each_host_carries_the_role_waivers_of_its_tenant_environment_only(tmp_path: Path) -> None:
    path = config(tmp_path)
    no_mfa = waiver(
        "openvpn_mfa_waiver", "the preprod bastion is reached from the lab network only", ("preprod",)
    )
    short_audit = waiver("audit_logging_retention_exception", "disks are small; rsyslog forwards to the SIEM")
    stack_side = waiver("shortLogRetention", "flow logs copied to the SOC's own archive for 13 months")
    write_waivers(tmp_path / "tenants", no_mfa, short_audit, stack_side)
    hostvars = listed(path)["_meta"]["hostvars"]
    statement = (
        f"{short_audit['justification']} (approved by Dana Ruiz, CISO, expires {short_audit['expires']})"
    )
    preprod = hostvars["acme-preprod-bastion-a"]
    assert preprod["openvpn_mfa_waiver"].startswith(no_mfa["justification"] + " (approved by Dana Ruiz, CISO")
    assert preprod["audit_logging_retention_exception"] == statement
    assert set(preprod["secure_tenant_waivers"]) == {
        "openvpn_mfa_waiver",
        "audit_logging_retention_exception",
    }
    for host in ALL_HOSTS[1:4]:
        assert "openvpn_mfa_waiver" not in hostvars[host], host
        assert hostvars[host]["secure_tenant_waivers"] == {"audit_logging_retention_exception": statement}
    for host in ALL_HOSTS:
        assert "shortLogRetention" not in hostvars[host]  # the stack's side: the program reads it
    for host in ALL_HOSTS[4:]:  # globex has no waiver file
        assert hostvars[host]["secure_tenant_waivers"] == {}
        assert "audit_logging_retention_exception" not in hostvars[host]


@pytest.mark.parametrize(
    ("entry", "needles"),
    [
        (
            {"expires": "2026-01-31"},
            (
                "tenants/acme/waivers.yaml: the waiver of openvpn_mfa_waiver (ACC-03) expired on 2026-01-31",
                "Renew it",
            ),
        ),
        (
            {"control": "ACC-3"},
            ("waivers[0].control: 'ACC-3' is not a control of controls.yaml: did you mean ACC-03?",),
        ),
        ({"control": "LOG-02"}, ("setting openvpn_mfa_waiver weakens control ACC-03, not LOG-02",)),
    ],
)
def test_a_bad_or_expired_waiver_stops_the_inventory_naming_it(
    tmp_path: Path, entry: dict[str, Any], needles: tuple[str, ...]
) -> None:
    path = config(tmp_path)
    no_mfa = waiver("openvpn_mfa_waiver", "the preprod bastion is reached from the lab network only")
    write_waivers(tmp_path / "tenants", {**no_mfa, **entry})
    refused(path, *needles)


def test_a_role_waiver_set_outside_the_waiver_file_stops_the_bastion_play_before_any_change(
    tmp_path: Path,
) -> None:
    path = config(tmp_path, stacks=["acme-preprod"])

    def play(*extra_vars: str) -> subprocess.CompletedProcess[str]:
        """Only the play's waiver check (tag `waivers`), on this controller instead of the bastion."""
        local = (
            "ansible_connection=local",
            "ansible_become=false",
            f"ansible_python_interpreter={sys.executable}",
        )
        return subprocess.run(
            [str(BIN / "ansible-playbook"), "-i", str(path), "playbooks/bastion.yml", "--tags", "waivers"]
            + [arg for extra in (*local, *extra_vars) for arg in ("-e", extra)],
            env={**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_GATHERING": "explicit"},
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )

    assert play().returncode == 0
    sneaked = play("openvpn_mfa_waiver=accepted by me, trust me on this one")
    assert sneaked.returncode != 0
    assert (
        "openvpn_mfa_waiver on acme-preprod-bastion-a is set outside tenants/acme/waivers.yaml"
        in sneaked.stdout
    )
    no_mfa = waiver(
        "openvpn_mfa_waiver", "the preprod bastion is reached from the lab network only", ("preprod",)
    )
    write_waivers(tmp_path / "tenants", no_mfa)
    assert play().returncode == 0
    assert play("openvpn_mfa_waiver=a justification of my own, longer than the file's").returncode != 0


def test_each_bastion_lists_every_zone_s_bastion_of_its_own_stack_and_no_other(tmp_path: Path) -> None:
    hostvars = listed(config(tmp_path))["_meta"]["hostvars"]
    for host in ALL_HOSTS:
        stack = hostvars[host]["secure_tenant_stack"]
        assert hostvars[host]["secure_tenant_stack_bastions"] == [
            name for name in ALL_HOSTS if name.startswith(f"{stack}-bastion-")
        ], host
    assert hostvars["acme-prod-bastion-b"]["secure_tenant_stack_bastions"] == ALL_HOSTS[1:4]


def bastion_role_vars(source: Path) -> dict[str, dict[str, Any]]:
    """Per host, the pki and openvpn variables bastion.yml's roles get (playbooks/group_vars/bastions.yml applied
    to the plugin's host variables), templated by Ansible itself."""
    wanted = (
        "pki_tenant",
        "pki_env",
        "pki_server_certs",
        "pki_clients",
        "openvpn_clients",
        "openvpn_mfa_secrets_file",
    )
    result = subprocess.run(
        [
            str(BIN / "ansible"),
            "bastions",
            "-i",
            str(source),
            "--playbook-dir",
            str(ROOT / "playbooks"),
            "-m",
            "ansible.builtin.debug",
            "-a",
            "msg={{ {" + ", ".join(f"'{name}': {name}" for name in wanted) + "} }}",
        ],
        env=ansible_env(ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json"),
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    # The json callback's document, whatever other enabled callbacks (profile_tasks) print after it. Under Mitogen
    # (ansible.cfg's strategy) the one ad-hoc task is reported once per host, under Ansible's linear strategy once.
    report, _ = json.JSONDecoder().raw_decode(result.stdout[result.stdout.index("{") :])
    return {
        host: outcome["msg"]
        for task in report["plays"][0]["tasks"]
        for host, outcome in task["hosts"].items()
    }


def test_bastion_playbook_gives_each_bastion_its_own_tenant_s_ca_clients_and_vault_file(
    tmp_path: Path,
) -> None:
    roles = bastion_role_vars(config(tmp_path))
    assert sorted(roles) == ALL_HOSTS
    for host, role_vars in roles.items():
        stack = host.rsplit("-bastion-", 1)[0]
        tenant, env = stack.rsplit("-", 1)
        assert (role_vars["pki_tenant"], role_vars["pki_env"]) == (tenant, env), host
        # One server certificate per stack, issued to that stack's bastions only (not the fleet's).
        assert [cert["hosts"] for cert in role_vars["pki_server_certs"]] == [
            [name for name in ALL_HOSTS if name.startswith(f"{stack}-bastion-")]
        ], host
        assert role_vars["pki_server_certs"][0]["common_name"] == f"vpn.{stack}.internal"
        assert role_vars["pki_clients"] == role_vars["openvpn_clients"] == CLIENTS[tenant], host
        assert role_vars["openvpn_mfa_secrets_file"] == str(
            ROOT / "tenants" / tenant / f"secrets-{env}.vault.yml"
        )


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"tenants": ["globex"]}, ALL_HOSTS[4:]),
        ({"environments": ["preprod"]}, ALL_HOSTS[:1]),
        ({"tenants": ["acme"], "environments": ["prod"]}, ALL_HOSTS[1:4]),
        ({"stacks": ["acme-prod", "globex-prod"], "environments": ["prod"]}, ALL_HOSTS[1:]),
    ],
)
def test_tenant_environment_and_stack_options_select_stacks(
    tmp_path: Path, options: dict[str, Any], expected: list[str]
) -> None:
    assert hosts_of(listed(config(tmp_path, **options)), "bastions") == expected


def test_address_overrides_map_each_listed_bastion_to_a_lab_or_vpn_address(tmp_path: Path) -> None:
    overrides = {"acme-prod-bastion-b": "10.77.3.2", "globex-prod-bastion-a": "10.77.4.2"}
    hostvars = listed(config(tmp_path, address_overrides=overrides))["_meta"]["hostvars"]
    assert hostvars["acme-prod-bastion-b"]["ansible_host"] == "10.77.3.2"
    assert hostvars["globex-prod-bastion-a"]["ansible_host"] == "10.77.4.2"
    # The address clients dial stays the stack's public one.
    assert hostvars["acme-prod-bastion-b"]["secure_tenant_bastion_public_ip"] == "198.51.100.144"
    assert hostvars["acme-prod-bastion-a"]["ansible_host"] == "198.51.100.80"


def test_the_single_stack_environment_variables_keep_working_with_the_shipped_configuration() -> None:
    inventory = listed(
        FLEET,
        SECURE_TENANT_STACK_OUTPUTS=str(saved("acme-preprod")),
        SECURE_TENANT_BASTION_HOST="10.77.9.2",
        SECURE_TENANT_MANAGEMENT_CIDRS="10.77.9.1/32, 192.0.2.0/28",
    )
    assert hosts_of(inventory, "bastions") == ["acme-preprod-bastion-a"]
    host = inventory["_meta"]["hostvars"]["acme-preprod-bastion-a"]
    assert host["ansible_host"] == "10.77.9.2"
    assert host["secure_tenant_bastion_public_ip"] != "10.77.9.2"
    assert host["secure_tenant_management_cidrs"] == ["10.77.9.1/32", "192.0.2.0/28"]
    # The project's own tenants/acme/vpn-clients.yml.
    shipped = yaml.safe_load((ROOT / "tenants" / "acme" / "vpn-clients.yml").read_text())
    assert host["secure_tenant_vpn_clients"] == shipped["secure_tenant_vpn_clients"]


def test_saved_outputs_of_several_stacks_can_be_named_in_the_environment_as_files_or_globs() -> None:
    outputs = f"{saved('acme-preprod')},{FIXTURES / 'globex-*-outputs.json'}"
    inventory = listed(FLEET, SECURE_TENANT_STACK_OUTPUTS=outputs)
    assert hosts_of(inventory, "bastions") == [ALL_HOSTS[0], *ALL_HOSTS[4:]]
    assert hosts_of(inventory, "tenant_globex") == ALL_HOSTS[4:]


def test_stacks_are_read_with_pulumi_stack_output_per_stack_of_the_project(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "Pulumi.yaml").write_text("name: secure-tenant\n")
    for stack in ("acme-prod", "globex-prod"):
        (project / f"Pulumi.{stack}.yaml").write_text("config: {}\n")
    log = tmp_path / "calls.log"
    fake = tmp_path / "pulumi"
    # Stands in for the Pulumi CLI (not installable here): answers `stack output` from the saved fixtures.
    fake.write_text(
        "#!/bin/sh\n"
        f'echo "$*" >> {log}\n'
        f'file="{FIXTURES}/$6-outputs.json"\n'
        '[ -f "$file" ] || { echo "error: no stack named \'$6\' found" >&2; exit 255; }\n'
        'cat "$file"\n'
    )
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    path = config(tmp_path, outputs=[], project_dir="project", pulumi_command=str(fake))
    assert hosts_of(listed(path), "bastions") == ALL_HOSTS[1:]
    assert sorted(log.read_text().splitlines()) == [
        f"stack output --json --show-secrets --stack {stack}" for stack in ("acme-prod", "globex-prod")
    ]
    (project / "Pulumi.initech-prod.yaml").write_text("config: {}\n")
    refused(path, "--stack initech-prod", "no stack named 'initech-prod' found", "pulumi login")
    refused(
        config(tmp_path, outputs=[], project_dir="project", pulumi_command=str(tmp_path / "none")),
        "cannot run",
        "install the Pulumi CLI",
        "SECURE_TENANT_STACK_OUTPUTS",
    )


# --- refusals ---------------------------------------------------------------------------------------------------
def write_outputs(tmp_path: Path, stack: str, content: str) -> Path:
    path = tmp_path / "saved" / f"{stack}-outputs.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(content)
    return path


@pytest.mark.parametrize(
    ("content", "needles"),
    [
        (
            '{"tenant": "acme",',
            ["is not JSON", "pulumi stack output --json --show-secrets --stack acme-prod"],
        ),
        ("[]", ["JSON list, not the stack's outputs object"]),
        ("", ["is not JSON"]),
    ],
)
def test_malformed_outputs_are_refused_naming_the_file_and_how_to_save_it_again(
    tmp_path: Path, content: str, needles: list[str]
) -> None:
    path = write_outputs(tmp_path, "acme-prod", content)
    refused(FLEET, str(path), *needles, SECURE_TENANT_STACK_OUTPUTS=str(path))


@pytest.mark.parametrize("key", ["bastionHosts", "vpnClientCidr", "tenant", "no bastion"])
def test_outputs_missing_what_the_hosts_need_are_refused_with_pulumi_up(tmp_path: Path, key: str) -> None:
    outputs = {k: v for k, v in json.loads(saved("acme-prod").read_text()).items() if k != key}
    if key == "no bastion":
        outputs["bastionHosts"], key = [], "bastionHosts"
    path = write_outputs(tmp_path, "acme-prod", json.dumps(outputs))
    refused(FLEET, str(path), key, "pulumi up", SECURE_TENANT_STACK_OUTPUTS=str(path))


def test_a_bastion_without_its_address_is_refused(tmp_path: Path) -> None:
    outputs = json.loads(saved("acme-prod").read_text())
    del outputs["bastionHosts"][1]["publicIp"]
    path = write_outputs(tmp_path, "acme-prod", json.dumps(outputs))
    refused(
        FLEET,
        "bastionHosts must be a list of {zone, publicIp, privateIp",
        SECURE_TENANT_STACK_OUTPUTS=str(path),
    )


def test_two_bastions_in_one_zone_are_refused_rather_than_merged(tmp_path: Path) -> None:
    outputs = json.loads(saved("globex-prod").read_text())
    outputs["bastionHosts"][1]["zone"] = outputs["bastionHosts"][0]["zone"]
    path = write_outputs(tmp_path, "globex-prod", json.dumps(outputs))
    refused(
        FLEET,
        "more than one bastion would be named globex-prod-bastion-a",
        SECURE_TENANT_STACK_OUTPUTS=str(path),
    )


def test_two_saved_files_of_one_stack_are_refused(tmp_path: Path) -> None:
    path = write_outputs(tmp_path, "acme-prod", saved("acme-prod").read_text())
    outputs = f"{path},{saved('acme-prod')}"
    refused(FLEET, "two files for stack acme-prod", SECURE_TENANT_STACK_OUTPUTS=outputs)


def test_a_symlinked_file_holding_another_stack_s_outputs_is_refused(tmp_path: Path) -> None:
    link = tmp_path / "globex-prod-outputs.json"
    link.symlink_to(saved("acme-prod"))
    refused(FLEET, "holds the outputs of acme-prod, not globex-prod", SECURE_TENANT_STACK_OUTPUTS=str(link))


def test_a_saved_file_holding_another_stack_s_outputs_is_refused(tmp_path: Path) -> None:
    path = write_outputs(tmp_path, "globex-prod", saved("acme-prod").read_text())
    refused(FLEET, "holds the outputs of acme-prod, not globex-prod", SECURE_TENANT_STACK_OUTPUTS=str(path))


def test_a_missing_outputs_file_is_refused(tmp_path: Path) -> None:
    refused(
        FLEET, "no such file", "pulumi stack output", SECURE_TENANT_STACK_OUTPUTS=str(tmp_path / "x.json")
    )


@pytest.mark.parametrize(
    ("options", "needles"),
    [
        ({"stacks": ["acme-prdo"]}, ["no stack acme-prdo", "found: acme-preprod, acme-prod, globex-prod"]),
        ({"tenants": ["globx"]}, ["tenants names globx, which has no stack"]),
        ({"tenants": ["acme"], "environments": ["prod", "stage"]}, ["environments names stage"]),
        ({"outputs": [str(FIXTURES / "nothing-*-outputs.json")]}, ["no such file"]),
        (
            {"address_overrides": {"acme-prod-bastion-d": "10.77.3.2"}},
            ["acme-prod-bastion-d, which is not a listed"],
        ),
        ({"bastion_host": "10.77.9.2"}, ["one address but 6 bastions are listed", "address_overrides"]),
        ({"management_cidrs": ["10.77.9.1/33"]}, ["management_cidrs", "10.77.9.1/33"]),
        ({"parallel": "many"}, ["parallel"]),
    ],
)
def test_options_that_would_list_the_wrong_hosts_are_refused(
    tmp_path: Path, options: dict[str, Any], needles: list[str]
) -> None:
    refused(config(tmp_path, **options), *needles)


def test_a_tenant_clients_file_of_the_wrong_shape_is_refused(tmp_path: Path) -> None:
    path = config(tmp_path)
    (tmp_path / "tenants" / "globex" / "vpn-clients.yml").write_text(
        "secure_tenant_vpn_clients: gina-phone\n"
    )
    refused(path, "globex/vpn-clients.yml must be a mapping whose secure_tenant_vpn_clients is a list")


def test_a_tenant_clients_file_that_is_not_yaml_is_refused(tmp_path: Path) -> None:
    path = config(tmp_path)
    (tmp_path / "tenants" / "acme" / "vpn-clients.yml").write_text("secure_tenant_vpn_clients: [alice\n")
    refused(path, "acme/vpn-clients.yml is not valid YAML", "fix the file")


def test_a_saved_file_that_is_not_text_is_refused(tmp_path: Path) -> None:
    path = write_outputs(tmp_path, "acme-prod", "")
    path.write_bytes(b"\xff\xfe{}")
    refused(FLEET, "cannot be read", "--stack acme-prod >", SECURE_TENANT_STACK_OUTPUTS=str(path))


def test_the_plugin_options_are_documented_for_ansible_doc() -> None:
    result = subprocess.run(
        [str(BIN / "ansible-doc"), "-t", "inventory", "secure_tenant"],
        env={**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg")},
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    for option in ("stacks", "tenants", "environments", "outputs", "address_overrides", "management_cidrs"):
        assert option in result.stdout


def test_the_saved_fixtures_are_what_the_program_exports_today() -> None:
    from review.offline import evaluate_stack

    for stack, (example, overrides) in FIXTURE_STACKS.items():
        fresh = json.loads(json.dumps(evaluate_stack(example, overrides).outputs, default=str))
        assert fresh == json.loads(saved(stack).read_text()), (
            f"run `python -m tests.test_inventory` ({stack})"
        )


def write_fixtures() -> None:
    """Evaluate the fixture stacks offline and save their outputs as `pulumi stack output --json` would."""
    from review.offline import evaluate_stack

    for stack, (example, overrides) in FIXTURE_STACKS.items():
        outputs = evaluate_stack(example, overrides).outputs
        saved(stack).write_text(json.dumps(outputs, indent=2, default=str) + "\n")


if __name__ == "__main__":
    write_fixtures()
