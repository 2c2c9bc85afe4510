"""The policy pack: every policy with a compliant and a non-compliant input, then the pack on whole stacks."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest

from infra.offline import StackSnapshot, evaluate, stack_config
from policy import baseline
from policy.baseline import StackResource
from policy.runner import enforcement_levels, mandatory, run_pack
from tests.fixtures.broken_stack import broken_program

TAGS = {"tenant": "acme", "environment": "prod"}
CMK = "arn:aws:kms:eu-west-1:123456789012:key/1234"
TLS_DENY = json.dumps(
    {
        "Statement": [
            {
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ]
    }
)

CASES: list[tuple[str, str, Mapping[str, Any], Mapping[str, Any]]] = [
    (
        "eu_region_only",
        "aws:ec2/subnet:Subnet",
        {"availabilityZone": "eu-west-1a"},
        {"availabilityZone": "eu-west-2a"},
    ),
    ("eu_region_only", "aws:kms/key:Key", {"region": "eu-north-1"}, {"region": "us-east-1"}),
    ("tenant_tags", "aws:ec2/vpc:Vpc", {"tags": TAGS}, {"tags": {"tenant": "acme"}}),
    ("kms_key_rotation", "aws:kms/key:Key", {"enableKeyRotation": True}, {"enableKeyRotation": False}),
    ("customer_managed_encryption", "aws:cloudwatch/logGroup:LogGroup", {"kmsKeyId": CMK}, {}),
    (
        "customer_managed_encryption",
        "aws:sns/topic:Topic",
        {"kmsMasterKeyId": CMK},
        {"kmsMasterKeyId": "alias/aws/sns"},
    ),
    ("customer_managed_encryption", "aws:backup/vault:Vault", {"kmsKeyArn": CMK}, {}),
    (
        "customer_managed_encryption",
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        {
            "rules": [
                {"applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": CMK}}
            ]
        },
        {"rules": [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}]},
    ),
    (
        "ebs_encrypted",
        "aws:ec2/instance:Instance",
        {"rootBlockDevice": {"encrypted": True, "kmsKeyId": CMK}},
        {"rootBlockDevice": {"encrypted": True}},
    ),
    (
        "imdsv2_required",
        "aws:ec2/instance:Instance",
        {"metadataOptions": {"httpTokens": "required"}},
        {"metadataOptions": {"httpTokens": "optional"}},
    ),
    ("log_retention", "aws:cloudwatch/logGroup:LogGroup", {"retentionInDays": 400}, {"retentionInDays": 365}),
    (
        "s3_public_access_blocked",
        "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
        dict.fromkeys(
            ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"), True
        ),
        {"blockPublicAcls": True, "blockPublicPolicy": True, "ignorePublicAcls": True},
    ),
    (
        "s3_tls_only",
        "aws:s3/bucketPolicy:BucketPolicy",
        {"policy": TLS_DENY},
        {"policy": json.dumps({"Statement": []})},
    ),
    (
        "no_world_ingress",
        "aws:ec2/securityGroup:SecurityGroup",
        {"ingress": [{"protocol": "udp", "fromPort": 1194, "toPort": 1194, "cidrBlocks": ["0.0.0.0/0"]}]},
        {"ingress": [{"protocol": "tcp", "fromPort": 22, "toPort": 22, "ipv6CidrBlocks": ["::/0"]}]},
    ),
    (
        "no_world_ingress",
        "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
        {"ipProtocol": "tcp", "fromPort": 443, "toPort": 443, "cidrIpv4": "0.0.0.0/0"},
        {"ipProtocol": "tcp", "fromPort": 0, "toPort": 65535, "cidrIpv4": "0.0.0.0/0"},
    ),
    (
        "alb_tls",
        "aws:lb/listener:Listener",
        {"protocol": "HTTPS", "sslPolicy": "ELBSecurityPolicy-TLS13-1-2-2021-06"},
        {"protocol": "HTTPS", "sslPolicy": "ELBSecurityPolicy-TLS-1-1-2017-01"},
    ),
    (
        "alb_tls",
        "aws:lb/listener:Listener",
        {
            "protocol": "HTTP",
            "defaultActions": [
                {"type": "redirect", "redirect": {"protocol": "HTTPS", "statusCode": "HTTP_301"}}
            ],
        },
        {"protocol": "HTTP", "defaultActions": [{"type": "forward", "targetGroupArn": "arn"}]},
    ),
    (
        "cloudtrail_validated",
        "aws:cloudtrail/trail:Trail",
        {"enableLogFileValidation": True, "isMultiRegionTrail": True},
        {"enableLogFileValidation": True},
    ),
    (
        "network_firewall_protected",
        "aws:networkfirewall/firewall:Firewall",
        {"deleteProtection": True, "subnetChangeProtection": True},
        {"deleteProtection": True},
    ),
]


@pytest.mark.parametrize(
    ("policy", "resource_type", "compliant", "violating"),
    CASES,
    ids=[f"{c[0]}-{c[1].rsplit(':', 1)[-1]}" for c in CASES],
)
def test_resource_policy_accepts_the_compliant_and_flags_the_violating_input(
    policy: str, resource_type: str, compliant: Mapping[str, Any], violating: Mapping[str, Any]
) -> None:
    check = getattr(baseline, policy)
    assert check(resource_type, compliant) == []
    assert check(resource_type, violating) != []


def resource(type_: str, name: str, **props: Any) -> StackResource:
    return StackResource(type_, name, f"urn:{name}", props)


def test_stack_policy_flow_logs_on_every_vpc() -> None:
    vpc = resource("aws:ec2/vpc:Vpc", "vpc", id="vpc-1")
    assert (
        baseline.flow_logs_on_every_vpc([vpc, resource("aws:ec2/flowLog:FlowLog", "fl", vpcId="vpc-1")]) == []
    )
    assert baseline.flow_logs_on_every_vpc([vpc]) == ["VPC vpc has no flow log"]


def test_stack_policy_waf_follows_property_dependencies_while_arns_are_unknown() -> None:
    alb = resource("aws:lb/loadBalancer:LoadBalancer", "alb", internal=False)
    association = StackResource(
        "aws:wafv2/webAclAssociation:WebAclAssociation", "waf", "urn:waf", {}, {"resourceArn": ["urn:alb"]}
    )
    assert baseline.waf_on_every_public_alb([alb, association]) == []
    assert baseline.waf_on_every_public_alb([alb]) == ["public load balancer alb has no WAF web ACL"]


def test_stack_policy_shield_only_demanded_in_prod() -> None:
    prod = resource(
        "aws:lb/loadBalancer:LoadBalancer", "alb", internal=False, arn="arn:alb", tags={"environment": "prod"}
    )
    preprod = resource(
        "aws:lb/loadBalancer:LoadBalancer",
        "alb2",
        internal=False,
        arn="arn:alb2",
        tags={"environment": "preprod"},
    )
    protection = resource("aws:shield/protection:Protection", "shield", resourceArn="arn:alb")
    assert baseline.shield_in_prod([prod, preprod, protection]) == []
    assert baseline.shield_in_prod([prod, preprod]) == ["public entry alb has no Shield protection"]


def test_stack_policy_shield_names_an_elastic_ip_by_its_allocation() -> None:
    eip = resource(
        "aws:ec2/eip:Eip",
        "bastion-ip",
        instance="i-1",
        allocationId="eipalloc-1",
        arn="arn:aws:ec2:eu-west-1:1:elastic-ip/eipalloc-1",
        tags={"environment": "prod"},
    )
    by_allocation = resource(
        "aws:shield/protection:Protection",
        "p",
        resourceArn="arn:aws:ec2:eu-west-1:1:eip-allocation/eipalloc-1",
    )
    by_elastic_ip_arn = resource(
        "aws:shield/protection:Protection", "p", resourceArn="arn:aws:ec2:eu-west-1:1:elastic-ip/eipalloc-1"
    )
    assert baseline.shield_in_prod([eip, by_allocation]) == []
    assert baseline.shield_in_prod([eip, by_elastic_ip_arn]) == [
        "public entry bastion-ip has no Shield protection"
    ]


def test_stack_policy_public_subnet_routed_to_another_zones_endpoint_is_flagged() -> None:
    subnets = [
        resource(
            "aws:ec2/subnet:Subnet",
            f"public-{z}",
            id=f"subnet-{z}",
            availabilityZone=f"eu-west-1{z}",
            tags={"tier": "public"},
        )
        for z in "ab"
    ]
    fw_subnets = [
        resource("aws:ec2/subnet:Subnet", f"fw-{z}", id=f"fw-{z}", availabilityZone=f"eu-west-1{z}")
        for z in "ab"
    ]
    firewall = resource(
        "aws:networkfirewall/firewall:Firewall",
        "fw",
        subnetMappings=[{"subnetId": "fw-a"}, {"subnetId": "fw-b"}],
        firewallStatuses=[
            {
                "syncStates": [
                    {"availabilityZone": f"eu-west-1{z}", "attachments": [{"endpointId": f"vpce-{z}"}]}
                    for z in "ab"
                ]
            }
        ],
    )
    associations = [
        resource(
            "aws:ec2/routeTableAssociation:RouteTableAssociation",
            f"rta-{z}",
            subnetId=f"subnet-{z}",
            routeTableId=f"rt-{z}",
        )
        for z in "ab"
    ]

    def routes(endpoint_of: dict[str, str]) -> list[StackResource]:
        return [
            resource(
                "aws:ec2/route:Route",
                f"default-{z}",
                routeTableId=f"rt-{z}",
                destinationCidrBlock="0.0.0.0/0",
                vpcEndpointId=endpoint_of[z],
            )
            for z in "ab"
        ]

    same_zone = [*subnets, *fw_subnets, firewall, *associations, *routes({"a": "vpce-a", "b": "vpce-b"})]
    crossed = [*subnets, *fw_subnets, firewall, *associations, *routes({"a": "vpce-a", "b": "vpce-a"})]
    assert baseline.firewall_in_every_zone(same_zone) == []
    assert baseline.firewall_in_every_zone(crossed) == [
        "public subnet public-b in eu-west-1b is routed to vpce-a, not its zone's endpoint"
    ]


def test_every_policy_names_a_control_and_has_a_unique_name() -> None:
    names = [spec.name for spec in baseline.POLICIES]
    assert len(names) == len(set(names))
    assert all(spec.control for spec in baseline.POLICIES)


def test_example_stacks_pass_every_mandatory_policy(example_stack: StackSnapshot) -> None:
    assert mandatory(run_pack(example_stack)) == []


@pytest.fixture(scope="module")
def broken_stack() -> StackSnapshot:
    return evaluate(stack_config("acme-prod"), stack="broken", program=broken_program)


def test_broken_stack_fails_with_the_expected_violations(broken_stack: StackSnapshot) -> None:
    violated = {v.policy for v in mandatory(run_pack(broken_stack))}
    assert violated == {
        "eu-region-only",
        "tenant-tags",
        "kms-key-rotation",
        "customer-managed-encryption",
        "ebs-encrypted",
        "imdsv2-required",
        "log-retention-12-months",
        "s3-public-access-blocked",
        "s3-tls-only",
        "no-world-ingress",
        "alb-tls-1-2-and-redirects",
        "cloudtrail-validated",
        "flow-logs-on-every-vpc",
        "firewall-in-every-zone",
        "waf-on-every-public-alb",
        "shield-on-public-entries-in-prod",
    }


def test_enforcement_levels_are_configurable_per_policy(broken_stack: StackSnapshot) -> None:
    violations = run_pack(
        broken_stack,
        {"all": "mandatory", "kms-key-rotation": "advisory", "s3-tls-only": {"enforcementLevel": "disabled"}},
    )
    assert {v.enforcement for v in violations if v.policy == "kms-key-rotation"} == {"advisory"}
    assert not [v for v in violations if v.policy == "s3-tls-only"]
    with pytest.raises(ValueError, match="tenant-tags: 'blocking' is not mandatory, advisory or disabled"):
        enforcement_levels({"tenant-tags": "blocking"})
