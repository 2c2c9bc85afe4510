"""ZoneFirewall, evaluated through the real program under mocks, for 2 and 3 zones, and its config checks."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from infra.config import ConfigError, parse_config
from infra.firewall import config as firewall_config
from infra.firewall.component import endpoint_in_zone
from review import offline
from review.offline import DeclaredResource, StackSnapshot, evaluate_stack
from tests.stacks import VALID, config_error, named

RULES_FIXTURES = Path(__file__).parent / "fixtures" / "suricata"
ALERT_RULE = 'alert tcp any any -> any any (msg:"first"; sid:1000001; rev:1;)\n'


def zones_of(stack: StackSnapshot) -> list[str]:
    return list(stack.outputs["zones"])


def the_firewall(stack: StackSnapshot) -> DeclaredResource:
    (firewall,) = stack.of_type("aws:networkfirewall/firewall:Firewall")
    return firewall


def endpoint_of_zone(stack: StackSnapshot, zone: str) -> tuple[str, str]:
    """(endpoint id, subnet id) of the endpoint AWS reports in this zone, read from the firewall's own outputs."""
    (sync,) = [
        state
        for status in the_firewall(stack).outputs["firewallStatuses"]
        for state in status["syncStates"]
        if state["availabilityZone"] == zone
    ]
    (attachment,) = sync["attachments"]
    return attachment["endpointId"], attachment["subnetId"]


def routes_in(stack: StackSnapshot, table: DeclaredResource) -> list[DeclaredResource]:
    return [
        r for r in stack.of_type("aws:ec2/route:Route") if r.inputs["routeTableId"] == table.outputs["id"]
    ]


def edge_route_table(stack: StackSnapshot) -> DeclaredResource:
    (association,) = [
        a
        for a in stack.of_type("aws:ec2/routeTableAssociation:RouteTableAssociation")
        if a.inputs.get("gatewayId") == named(stack, "igw").outputs["id"]
    ]
    (table,) = [
        t
        for t in stack.of_type("aws:ec2/routeTable:RouteTable")
        if t.outputs["id"] == association.inputs["routeTableId"]
    ]
    return table


# --- The firewall ----------------------------------------------------------------------------------------------


def test_firewall_has_an_endpoint_subnet_in_every_zone(example_stack: StackSnapshot) -> None:
    firewall = the_firewall(example_stack)
    mapped = [mapping["subnetId"] for mapping in firewall.inputs["subnetMappings"]]
    expected = [named(example_stack, "firewall", zone).outputs["id"] for zone in zones_of(example_stack)]
    assert sorted(mapped) == sorted(expected)
    assert firewall.inputs["vpcId"] == named(example_stack, "vpc").outputs["id"]
    for zone in zones_of(example_stack):
        assert named(example_stack, "firewall", zone).inputs["availabilityZone"] == zone


def test_firewall_is_protected_against_deletion_and_subnet_changes(example_stack: StackSnapshot) -> None:
    firewall = the_firewall(example_stack)
    assert firewall.inputs["deleteProtection"] is True
    assert firewall.inputs["subnetChangeProtection"] is True


def test_firewall_policy_and_rule_groups_are_encrypted_with_the_tenant_data_key(
    example_stack: StackSnapshot,
) -> None:
    data_key = named(example_stack, "data-key").outputs["arn"]
    encrypted = [
        the_firewall(example_stack),
        *example_stack.of_type("aws:networkfirewall/firewallPolicy:FirewallPolicy"),
        *example_stack.of_type("aws:networkfirewall/ruleGroup:RuleGroup"),
    ]
    for resource in encrypted:
        assert resource.inputs["encryptionConfiguration"] == {"type": "CUSTOMER_KMS", "keyId": data_key}, (
            resource.name
        )


def test_policy_forwards_everything_to_the_stateful_engine_in_strict_order_with_default_drop(
    example_stack: StackSnapshot,
) -> None:
    (policy,) = example_stack.of_type("aws:networkfirewall/firewallPolicy:FirewallPolicy")
    assert the_firewall(example_stack).inputs["firewallPolicyArn"] == policy.outputs["arn"]
    settings = policy.inputs["firewallPolicy"]
    assert settings["statelessDefaultActions"] == ["aws:forward_to_sfe"]
    assert settings["statelessFragmentDefaultActions"] == ["aws:forward_to_sfe"]
    assert not settings.get("statelessRuleGroupReferences")
    assert settings["statefulEngineOptions"]["ruleOrder"] == "STRICT_ORDER"
    assert settings["statefulDefaultActions"] == ["aws:drop_established", "aws:alert_established"]
    (home_net,) = settings["policyVariables"]["ruleVariables"]
    assert home_net == {"key": "HOME_NET", "ipSet": {"definitions": [example_stack.outputs["vpcCidr"]]}}


def test_policy_uses_every_rule_group_once_each_in_strict_order_with_its_own_priority(
    example_stack: StackSnapshot,
) -> None:
    (policy,) = example_stack.of_type("aws:networkfirewall/firewallPolicy:FirewallPolicy")
    references = policy.inputs["firewallPolicy"]["statefulRuleGroupReferences"]
    groups = example_stack.of_type("aws:networkfirewall/ruleGroup:RuleGroup")
    assert sorted(ref["resourceArn"] for ref in references) == sorted(
        group.outputs["arn"] for group in groups
    )
    assert len({ref["priority"] for ref in references}) == len(references)
    for group in groups:
        assert group.inputs["type"] == "STATEFUL"
        assert group.inputs["ruleGroup"]["statefulRuleOptions"] == {"ruleOrder": "STRICT_ORDER"}


# --- Routing: every zone through its own endpoint, both ways ------------------------------------------------------


def test_public_subnet_in_each_zone_routes_through_its_own_firewall_endpoint(
    example_stack: StackSnapshot,
) -> None:
    edge = edge_route_table(example_stack)
    for zone in zones_of(example_stack):
        endpoint, endpoint_subnet = endpoint_of_zone(example_stack, zone)
        public = named(example_stack, "public", zone)
        # Inbound: the IGW sends traffic for the zone's public subnet to the zone's endpoint ...
        (inbound,) = [
            r
            for r in routes_in(example_stack, edge)
            if r.inputs["destinationCidrBlock"] == public.inputs["cidrBlock"]
        ]
        # ... and outbound: the public subnet's default route goes to the same endpoint.
        (outbound,) = [
            r
            for r in routes_in(example_stack, named(example_stack, "public-rt", zone))
            if r.inputs["destinationCidrBlock"] == "0.0.0.0/0"
        ]
        assert inbound.inputs["vpcEndpointId"] == outbound.inputs["vpcEndpointId"] == endpoint
        assert endpoint_subnet == named(example_stack, "firewall", zone).outputs["id"]


def test_no_route_crosses_into_another_zones_endpoint(example_stack: StackSnapshot) -> None:
    endpoint_zone = {endpoint_of_zone(example_stack, zone)[0]: zone for zone in zones_of(example_stack)}
    public_cidr_zone = {
        named(example_stack, "public", z).inputs["cidrBlock"]: z for z in zones_of(example_stack)
    }
    table_zone = {
        t.outputs["id"]: t.inputs["tags"]["zone"]
        for t in example_stack.of_type("aws:ec2/routeTable:RouteTable")
        if "zone" in t.inputs["tags"]
    }
    to_endpoints = [r for r in example_stack.of_type("aws:ec2/route:Route") if r.inputs.get("vpcEndpointId")]
    assert len(to_endpoints) == 2 * len(zones_of(example_stack))
    for route in to_endpoints:
        # A zone's route table, or the edge table's route for a zone's public subnet: the zone it serves.
        served = (
            table_zone.get(route.inputs["routeTableId"])
            or public_cidr_zone[route.inputs["destinationCidrBlock"]]
        )
        assert endpoint_zone[route.inputs["vpcEndpointId"]] == served, route.name


def test_edge_route_table_is_associated_with_the_internet_gateway_and_covers_only_public_subnets(
    example_stack: StackSnapshot,
) -> None:
    edge = edge_route_table(example_stack)
    assert edge.inputs["vpcId"] == named(example_stack, "vpc").outputs["id"]
    destinations = sorted(r.inputs["destinationCidrBlock"] for r in routes_in(example_stack, edge))
    assert destinations == sorted(
        named(example_stack, "public", z).inputs["cidrBlock"] for z in zones_of(example_stack)
    )


def test_firewall_subnets_reach_the_internet_gateway_directly(example_stack: StackSnapshot) -> None:
    for zone in zones_of(example_stack):
        (route,) = routes_in(example_stack, named(example_stack, "firewall-rt", zone))
        assert route.inputs["destinationCidrBlock"] == "0.0.0.0/0"
        assert route.inputs["gatewayId"] == named(example_stack, "igw").outputs["id"]


def test_private_subnets_leave_through_a_nat_that_sits_behind_their_zones_firewall_endpoint(
    example_stack: StackSnapshot,
) -> None:
    for zone in zones_of(example_stack):
        (private_default,) = routes_in(example_stack, named(example_stack, "private-rt", zone))
        nat = named(example_stack, "nat", zone)
        assert private_default.inputs["natGatewayId"] == nat.outputs["id"]
        assert nat.inputs["subnetId"] == named(example_stack, "public", zone).outputs["id"]
        (public_default,) = routes_in(example_stack, named(example_stack, "public-rt", zone))
        assert public_default.inputs["vpcEndpointId"] == endpoint_of_zone(example_stack, zone)[0]


def test_endpoint_ids_are_picked_by_zone_whatever_order_aws_lists_them_in() -> None:
    def status(*zones: str) -> SimpleNamespace:
        return SimpleNamespace(
            sync_states=[
                SimpleNamespace(availability_zone=z, attachments=[SimpleNamespace(endpoint_id=f"vpce-{z}")])
                for z in zones
            ]
        )

    statuses = [status("eu-west-1c", "eu-west-1a", "eu-west-1b")]
    assert [endpoint_in_zone(statuses, z) for z in ("eu-west-1a", "eu-west-1b")] == [
        "vpce-eu-west-1a",
        "vpce-eu-west-1b",
    ]
    with pytest.raises(ValueError, match="no endpoint in eu-west-1d"):
        endpoint_in_zone(statuses, "eu-west-1d")


def test_endpoints_are_exported_per_zone(example_stack: StackSnapshot) -> None:
    exported = example_stack.outputs["firewallEndpoints"]
    assert exported == {
        zone[-1]: endpoint_of_zone(example_stack, zone)[0] for zone in zones_of(example_stack)
    }


# --- Logging ------------------------------------------------------------------------------------------------------


def test_alert_and_flow_logs_go_to_tenant_key_encrypted_groups_kept_twelve_months(
    example_stack: StackSnapshot,
) -> None:
    (logging,) = example_stack.of_type("aws:networkfirewall/loggingConfiguration:LoggingConfiguration")
    assert logging.inputs["firewallArn"] == the_firewall(example_stack).outputs["arn"]
    destinations = logging.inputs["loggingConfiguration"]["logDestinationConfigs"]
    assert sorted(d["logType"] for d in destinations) == ["ALERT", "FLOW"]
    groups = {g.outputs["name"]: g for g in example_stack.of_type("aws:cloudwatch/logGroup:LogGroup")}
    logs_key = named(example_stack, "logs-key").outputs["arn"]
    for destination in destinations:
        assert destination["logDestinationType"] == "CloudWatchLogs"
        group = groups[destination["logDestination"]["logGroup"]]
        assert group.inputs["kmsKeyId"] == logs_key
        assert group.inputs["retentionInDays"] >= 400


# --- Config: bad input stops the program before any resource ------------------------------------------------------


def firewall_error(**firewall: Any) -> str:
    return config_error(firewall=firewall)


@pytest.mark.parametrize("protocol", ["ftp", "https", "TLS", "quic"])
def test_unknown_egress_protocol_is_refused(protocol: str) -> None:
    message = firewall_error(egressDomains=[{"domain": "deb.debian.org", "protocols": [protocol]}])
    assert "secure-tenant:firewall.egressDomains.0.protocols.0" in message and "'tls' or 'http'" in message


@pytest.mark.parametrize(
    "domain",
    ["*.example.com", "Deb.Debian.org", "debian", "deb debian.org", 'a".example.com', "deb.debian.org."],
)
def test_invalid_egress_domain_is_refused(domain: str) -> None:
    message = firewall_error(egressDomains=[{"domain": domain}])
    assert "secure-tenant:firewall.egressDomains.0.domain" in message and "not a domain name" in message


def test_egress_domain_listed_twice_is_refused() -> None:
    message = firewall_error(egressDomains=[{"domain": "deb.debian.org"}, {"domain": "deb.debian.org"}])
    assert "secure-tenant:firewall.egressDomains" in message and "listed twice" in message


def test_egress_domain_without_protocols_is_refused() -> None:
    assert "list tls, http or both" in firewall_error(egressDomains=[{"domain": "a.org", "protocols": []}])


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project root of the test's own, with an empty tenants/acme/ folder (VALID's tenant)."""
    monkeypatch.setattr(firewall_config, "PROJECT_ROOT", tmp_path)
    (tmp_path / "tenants" / "acme").mkdir(parents=True)
    return tmp_path


def tenant_rules(project: Path, name: str, text: str) -> str:
    (project / "tenants" / "acme" / name).write_text(text)
    return f"tenants/acme/{name}"


@pytest.mark.parametrize(
    ("path", "hint"),
    [
        ("tenants/acme/missing.rules", "does not exist"),
        ("tenants/other/firewall.rules", "is not inside tenants/acme/"),
        ("tenants/firewall.rules", "is not inside tenants/acme/"),
        ("/etc/suricata/rules/app-layer-events.rules", "not inside the project"),
        ("../outside.rules", "not inside the project"),
    ],
)
def test_rules_file_that_is_missing_or_outside_the_tenants_folder_is_refused(
    project: Path, path: str, hint: str
) -> None:
    (project / "tenants" / "other").mkdir()
    (project / "tenants" / "other" / "firewall.rules").write_text(ALERT_RULE)
    (project / "tenants" / "firewall.rules").write_text(ALERT_RULE)
    message = firewall_error(extraRulesFile=path)
    assert "secure-tenant:firewall.extraRulesFile" in message and hint in message, message


@pytest.mark.parametrize("target", ["/etc/passwd", "../other/firewall.rules", "../../secret.rules"])
def test_a_link_out_of_the_tenants_folder_is_refused_before_the_file_is_read(
    project: Path, target: str
) -> None:
    (project / "tenants" / "other").mkdir()
    (project / "tenants" / "other" / "firewall.rules").write_text(ALERT_RULE)
    (project / "secret.rules").write_text("MUST-NOT-LEAK:x:0:0\n")
    (project / "tenants" / "acme" / "firewall.rules").symlink_to(target)
    message = firewall_error(extraRulesFile="tenants/acme/firewall.rules")
    assert "is not inside tenants/acme/ (links followed" in message, message
    assert "MUST-NOT-LEAK" not in message


def test_a_tenant_folder_that_is_a_link_elsewhere_is_refused(
    project: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    (elsewhere / "firewall.rules").write_text(ALERT_RULE)
    (project / "tenants" / "acme").rmdir()
    (project / "tenants" / "acme").symlink_to(elsewhere)
    assert "is not inside tenants/acme/" in firewall_error(extraRulesFile="tenants/acme/firewall.rules")


def test_a_link_inside_the_tenants_own_folder_is_followed(project: Path) -> None:
    tenant_rules(project, "2026.rules", ALERT_RULE)
    (project / "tenants" / "acme" / "firewall.rules").symlink_to("2026.rules")
    config = parse_config({**VALID, "firewall": {"extraRulesFile": "tenants/acme/firewall.rules"}})
    assert [group.key for group in config.firewall_policy.groups] == ["baseline", "tenant", "allow"]


@pytest.mark.parametrize("kind", ["directory", "fifo"])
def test_a_rules_path_that_is_not_a_regular_file_is_refused(project: Path, kind: str) -> None:
    path = project / "tenants" / "acme" / "firewall.rules"
    path.mkdir() if kind == "directory" else os.mkfifo(path)
    assert "is not a regular file" in firewall_error(extraRulesFile="tenants/acme/firewall.rules")


@pytest.mark.parametrize(
    "rule",
    [
        'pass ip any any -> any any (msg:"everything"; sid:1000002; rev:1;)',
        'pass tls $HOME_NET any -> $EXTERNAL_NET 443 (msg:"one more"; tls.sni; content:"x.example"; sid:1000002; rev:1;)',
        'pass tcp $EXTERNAL_NET any -> $HOME_NET 22 (msg:"ssh from anywhere"; sid:1000002; rev:1;)',
        'pass udp any any <> any any (msg:"both ways"; sid:1000002; rev:1;)',
    ],
)
def test_a_tenant_rule_that_passes_traffic_is_refused_with_its_line(project: Path, rule: str) -> None:
    message = firewall_error(
        extraRulesFile=tenant_rules(project, "firewall.rules", f"{ALERT_RULE}\n{rule}\n")
    )
    assert "tenants/acme/firewall.rules line 3:" in message
    assert "tenant rules may only narrow" in message and "firewall.egressDomains" in message


@pytest.mark.parametrize("action", ["PASS", "pass "])
def test_a_pass_rule_in_another_spelling_is_refused_too(project: Path, action: str) -> None:
    rule = f'{action} ip any any -> any any (msg:"x"; sid:1000001; rev:1;)'
    message = firewall_error(extraRulesFile=tenant_rules(project, "firewall.rules", rule + "\n"))
    assert "line 1:" in message and ("may only narrow" in message or "is not supported" in message), message


def test_narrowing_rules_are_accepted(project: Path) -> None:
    rules = (
        'drop tls $HOME_NET any -> $EXTERNAL_NET 443 (msg:"a"; tls.sni; content:"x.example"; sid:1000001; rev:1;)\n'
        'reject tcp $HOME_NET any -> $EXTERNAL_NET 25 (msg:"b"; sid:1000002; rev:1;)\n'
        'alert http $HOME_NET any -> $EXTERNAL_NET any (msg:"c"; sid:1000003; rev:1;)\n'
    )
    config = parse_config(
        {**VALID, "firewall": {"extraRulesFile": tenant_rules(project, "firewall.rules", rules)}}
    )
    (_, tenant, _) = config.firewall_policy.groups
    assert [rule.action for rule in tenant.rules] == ["drop", "reject", "alert"]


@pytest.mark.parametrize(
    ("fixture", "hint"),
    [
        ("unparsable.rules", "unparsable.rules line 2: a quoted option value is not closed"),
        ("lua.rules", "line 2: lua: Lua scripting is not supported"),
        ("threshold.rules", "line 1: threshold: thresholding is not supported"),
        ("no-rev.rules", "line 1: it has no rev"),
        ("generated-sid.rules", "sid 100003 is outside 1000000-1999999"),
        ("sids-out-of-order.rules", "line 2: sid 1000001 does not follow sid 1000002 of line 1"),
        ("empty.rules", "has no rules"),
        ("unknown-keyword.rules", "unknown rule keyword 'smtp_evil_detector'"),
        ("bad-value.rules", "sideways"),
        ("undefined-variable.rules", "$SMTP_SERVERS is not defined"),
    ],
)
def test_tenant_rules_that_do_not_parse_or_that_aws_would_refuse_are_refused(
    project: Path, fixture: str, hint: str
) -> None:
    path = tenant_rules(project, fixture, (RULES_FIXTURES / fixture).read_text())
    message = firewall_error(extraRulesFile=path)
    assert "secure-tenant:firewall.extraRulesFile" in message and hint in message, message


def test_example_tenant_rules_are_accepted() -> None:
    config = parse_config({**VALID, "firewall": {"extraRulesFile": "tenants/acme/firewall.rules"}})
    (_, tenant, _) = config.firewall_policy.groups
    assert [rule.sid for rule in tenant.rules] == [1_000_001, 1_000_002]


def test_bad_firewall_config_stops_the_program_before_any_resource() -> None:
    with pytest.raises(ConfigError, match="secure-tenant:firewall.extraRulesFile"):
        evaluate_stack("acme-prod", {"secure-tenant:firewall": {"extraRulesFile": "missing.rules"}})


def test_a_preview_reads_the_tenant_rules_and_runs_suricata_once_before_any_resource(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    events: list[str] = []

    def recording(event: str, real: Callable[..., Any]) -> Callable[..., Any]:
        def record(*args: Any) -> Any:
            events.append(event)
            return real(*args)

        return record

    monkeypatch.setattr(
        firewall_config, "parse_rules_file", recording("parse", firewall_config.parse_rules_file)
    )
    monkeypatch.setattr(
        firewall_config, "engine_problems", recording("engine", firewall_config.engine_problems)
    )
    mocks = offline._RecordingMocks
    monkeypatch.setattr(mocks, "new_resource", recording("resource", mocks.new_resource))
    evaluate_stack("acme-prod")
    assert events[:2] == ["parse", "engine"]
    assert events.count("parse") == events.count("engine") == 1
    assert events.count("resource") > 100
