"""The report's internet exposure: every way in, judged by effect as the pack judges it, and what a change adds."""

from __future__ import annotations

import json
from typing import Any

from review import exposure
from review.exposure import Exposure
from review.offline import StackSnapshot, evaluate_stack
from review.saved import saved_form


def group(name: str, *ingress: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "aws:ec2/securityGroup:SecurityGroup",
        "name": name,
        "id": f"{name}-id",
        "inputs": {"ingress": list(ingress)},
    }


def tcp(port: int, *cidrs: str) -> dict[str, Any]:
    return {"protocol": "tcp", "fromPort": port, "toPort": port, "cidrBlocks": list(cidrs)}


def test_the_example_stacks_expose_the_alb_on_80_and_443_and_the_vpn_to_the_admin_ranges(
    example_stack: StackSnapshot,
) -> None:
    prefix = f"acme-{example_stack.outputs['environment']}"
    found = exposure.exposures(saved_form(example_stack)["resources"])
    alb, alb_sg = f"load balancer {prefix}-alb", f"security group {prefix}-alb-sg"
    assert Exposure("tcp", "443", "internet", alb_sg, alb) in found
    assert Exposure("tcp", "80", "internet", alb_sg, alb) in found
    assert Exposure("https", "443", "internet", f"listener {prefix}-https", alb) in found
    assert Exposure("http", "80", "internet", f"listener {prefix}-http-redirect", alb) in found
    # The VPN admits the stack's adminCidrs, or the internet where it names none (preprod).
    admin_ranges = json.loads(example_stack.config.get("secure-tenant:adminCidrs", "[]"))
    vpn = [e for e in found if e.target.startswith("VPN on instance")]
    assert [(e.protocol, e.ports, e.source, e.path) for e in vpn] == [
        ("udp", "1194", ", ".join(admin_ranges) or "internet", f"security group {prefix}-bastion-sg")
    ]
    nat = [e for e in found if "NAT gateway" in e.target]
    assert nat and all(e.ports == "none" and e.target.endswith("(outbound only)") for e in nat)
    # SSH (from the VPN clients' private range) and the endpoints (from the VPC) are not reachable from outside.
    assert not any(e.ports == "22" for e in found)
    assert not any("endpoints-sg" in e.path for e in found)


def test_two_halves_of_the_internet_in_two_rules_are_the_internet() -> None:
    split = group("split-sg", tcp(8080, "0.0.0.0/1"), tcp(8080, "128.0.0.0/1"))
    assert Exposure(
        "tcp", "8080", "internet", "security group split-sg", "no resource of this stack uses it"
    ) in (exposure.exposures({"urn:sg": split}))


def test_a_routable_office_range_is_shown_with_its_ranges_and_private_ranges_are_not() -> None:
    found = exposure.exposures(
        {"urn:sg": group("mixed-sg", tcp(22, "10.0.0.0/8", "198.51.100.0/24"), tcp(5432, "172.16.0.0/12"))}
    )
    assert [(e.ports, e.source) for e in found] == [("22", "198.51.100.0/24")]


def test_ssh_from_the_internet_on_the_bastion_is_not_called_the_vpn() -> None:
    resources = {
        "urn:sg": group(
            "bastion-sg",
            {"protocol": "udp", "fromPort": 1194, "toPort": 1194, "cidrBlocks": ["0.0.0.0/0"]},
            tcp(22, "0.0.0.0/0"),
        ),
        "urn:i": {
            "type": "aws:ec2/instance:Instance",
            "name": "bastion",
            "id": "i-1",
            "inputs": {"vpcSecurityGroupIds": ["bastion-sg-id"]},
        },
        "urn:eip": {"type": "aws:ec2/eip:Eip", "name": "bastion-ip", "inputs": {"instance": "i-1"}},
    }
    targets = {(e.path, e.protocol, e.ports): e.target for e in exposure.exposures(resources)}
    assert targets[("security group bastion-sg", "udp", "1194")] == "VPN on instance bastion"
    assert targets[("security group bastion-sg", "tcp", "22")] == "instance bastion"
    assert targets[("Elastic IP bastion-ip", "tcp", "22")] == "instance bastion"


def test_a_listener_of_an_internal_load_balancer_is_not_reachable() -> None:
    resources = {
        "urn:lb": {
            "type": "aws:lb/loadBalancer:LoadBalancer",
            "name": "inner",
            "arn": "arn:lb:inner",
            "inputs": {"internal": True},
        },
        "urn:l": {
            "type": "aws:lb/listener:Listener",
            "name": "l",
            "inputs": {"loadBalancerArn": "arn:lb:inner", "port": 8443, "protocol": "HTTPS"},
        },
    }
    assert exposure.exposures(resources) == []


def test_a_malformed_rule_is_named_rather_than_crashing_the_report() -> None:
    (found,) = exposure.exposures({"urn:sg": group("bad-sg", tcp(443, "not-a-range"))})
    assert found.path == "cannot be judged" and "not-a-range" in found.target


def test_moving_the_vpn_port_shows_the_new_port_as_new_and_the_old_one_as_removed(
    prod_stack: StackSnapshot,
) -> None:
    moved = evaluate_stack("acme-prod", {"secure-tenant:bastion": {"dataVolumeGb": 20, "vpnPort": 443}})
    change = exposure.diff(saved_form(prod_stack)["resources"], saved_form(moved)["resources"])
    assert {(e.protocol, e.ports, e.path) for e in change.added} == {
        ("udp", "443", "security group acme-prod-bastion-sg"),
        ("udp", "443", "Elastic IP acme-prod-bastion-ip-a"),
    }
    assert {(e.protocol, e.ports) for e in change.removed} == {("udp", "1194")}
    assert all(change.status(e) == "" for e in change.now if e.ports != "443" or e.protocol != "udp")


def test_the_same_stack_twice_adds_and_removes_nothing(prod_stack: StackSnapshot) -> None:
    resources = saved_form(prod_stack)["resources"]
    change = exposure.diff(resources, resources)
    assert change.added == frozenset() and change.removed == [] and change.now
