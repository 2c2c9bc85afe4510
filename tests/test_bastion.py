"""VpnBastion, evaluated through the real program under mocks: placement, instance hardening, fences, outputs."""

from __future__ import annotations

import json
from fnmatch import fnmatchcase
from ipaddress import IPv4Network
from typing import Any

import pytest
import yaml

from infra.baseline import INTERNET
from infra.config import ConfigError, parse_config
from infra.fakes import MOCK_ACCOUNT_ID
from review import offline, report
from review.offline import DeclaredResource, StackSnapshot, evaluate_stack
from review.preview import render_text
from tests.stacks import prefix

PINNED_AMI = "ami-0123456789abcdef0"


@pytest.fixture(scope="module")
def configured_stack() -> StackSnapshot:
    """preprod with one bastion per zone, OpenVPN on TCP 443, a pinned AMI and a break-glass key pair."""
    bastion = {
        "perZone": True,
        "vpnProtocol": "tcp",
        "vpnPort": 443,
        "amiId": PINNED_AMI,
        "keyName": "acme-breakglass",
        "instanceType": "t3.medium",
    }
    return evaluate_stack("acme-preprod", {"secure-tenant:bastion": bastion})


def instances(stack: StackSnapshot) -> list[DeclaredResource]:
    return [i for i in stack.of_type("aws:ec2/instance:Instance") if "-bastion-" in i.name]


def first_bastion(stack: StackSnapshot) -> DeclaredResource:
    return stack.named(f"{prefix(stack)}-bastion-{stack.outputs['zones'][0][-1]}")


def security_group(stack: StackSnapshot) -> DeclaredResource:
    return stack.named(f"{prefix(stack)}-bastion-sg")


def rules(group: DeclaredResource, direction: str) -> set[tuple[str, int, tuple[str, ...]]]:
    for rule in group.inputs[direction]:
        assert rule["fromPort"] == rule["toPort"], "port ranges are not used"
    return {(r["protocol"], r["fromPort"], tuple(r["cidrBlocks"])) for r in group.inputs[direction]}


def key_arn(stack: StackSnapshot, key_class: str) -> str:
    return str(stack.named(f"{prefix(stack)}-{key_class}-key").outputs["arn"])


# --- placement ------------------------------------------------------------------------------------------------


def test_one_bastion_in_the_public_subnet_of_the_first_zone(example_stack: StackSnapshot) -> None:
    (bastion,) = instances(example_stack)
    public = example_stack.named(f"{prefix(example_stack)}-public-{example_stack.outputs['zones'][0][-1]}")
    assert bastion.inputs["subnetId"] == public.outputs["id"]
    assert bastion.inputs["vpcSecurityGroupIds"] == [security_group(example_stack).outputs["id"]]


def test_one_bastion_per_zone_when_asked(configured_stack: StackSnapshot) -> None:
    subnets = {
        configured_stack.named(f"{prefix(configured_stack)}-public-{zone[-1]}").outputs["id"]
        for zone in configured_stack.outputs["zones"]
    }
    assert {i.inputs["subnetId"] for i in instances(configured_stack)} == subnets
    assert len(instances(configured_stack)) == len(subnets)
    hosts = configured_stack.outputs["bastionHosts"]
    assert [host["zone"] for host in hosts] == configured_stack.outputs["zones"]


def test_each_bastion_has_its_own_elastic_ip_and_no_other_public_address(
    configured_stack: StackSnapshot,
) -> None:
    eips = {
        e.inputs["instance"]: e for e in configured_stack.of_type("aws:ec2/eip:Eip") if "instance" in e.inputs
    }
    for bastion in instances(configured_stack):
        assert bastion.inputs["associatePublicIpAddress"] is False
        assert eips[bastion.outputs["id"]].inputs["domain"] == "vpc"
    assert len(eips) == len(instances(configured_stack))


# --- the instance ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bastion", "release"), [({}, 13), ({"osRelease": 12}, 12), ({"osRelease": "13"}, 13)]
)
def test_the_latest_ami_of_the_chosen_debian_release_is_looked_up_from_debians_account(
    monkeypatch: pytest.MonkeyPatch, bastion: dict[str, Any], release: int
) -> None:
    lookups: list[dict[str, Any]] = []
    answer = offline.CALL_FAKES["aws:ec2/getAmi:getAmi"]

    def recording(args: dict[str, Any], region: str) -> dict[str, Any]:
        lookups.append(args)
        return answer(args, region)

    monkeypatch.setitem(offline.CALL_FAKES, "aws:ec2/getAmi:getAmi", recording)
    stack = evaluate_stack("acme-preprod", {"secure-tenant:bastion": bastion})
    (lookup,) = lookups
    assert lookup["owners"] == ["136693071363"]
    assert lookup["mostRecent"] is True
    filters = {f["name"]: f["values"] for f in lookup["filters"]}
    assert filters["name"] == [f"debian-{release}-amd64-*"]
    assert filters["architecture"] == ["x86_64"]
    image = answer(lookup, "eu-central-1")
    assert fnmatchcase(image["name"], f"debian-{release}-amd64-*")
    assert first_bastion(stack).inputs["ami"] == image["id"]
    assert stack.outputs["bastionImage"] == {
        "osRelease": release,
        "amiId": image["id"],
        "name": image["name"],
    }


def test_each_release_boots_its_own_image() -> None:
    images = {
        release: evaluate_stack("acme-preprod", {"secure-tenant:bastion": {"osRelease": release}}).outputs[
            "bastionImage"
        ]
        for release in (12, 13)
    }
    assert images[12]["amiId"] != images[13]["amiId"]
    assert images[12]["name"].startswith("debian-12-") and images[13]["name"].startswith("debian-13-")


def test_the_preview_and_the_report_say_which_release_and_image_the_bastion_boots(
    example_stack: StackSnapshot, configured_stack: StackSnapshot
) -> None:
    image = example_stack.outputs["bastionImage"]
    shown = f"Debian 13, {image['amiId']} ({image['name']})"
    assert f"Bastion image: {shown}" in render_text(example_stack).splitlines()
    assert f"**Bastion image:** {shown}" in report.render_markdown(report.Review(example_stack, []))
    assert f"Debian 13, {PINNED_AMI} (pinned by bastion.amiId)" in render_text(configured_stack)


def test_a_pinned_ami_replaces_the_lookup(configured_stack: StackSnapshot) -> None:
    assert {i.inputs["ami"] for i in instances(configured_stack)} == {PINNED_AMI}


def test_instance_metadata_needs_imdsv2_tokens_and_stays_on_the_host(example_stack: StackSnapshot) -> None:
    metadata = first_bastion(example_stack).inputs["metadataOptions"]
    assert metadata["httpTokens"] == "required"
    assert metadata["httpPutResponseHopLimit"] == 1
    assert metadata["httpEndpoint"] == "enabled"


def test_root_and_data_volumes_are_encrypted_with_the_tenant_ebs_key(prod_stack: StackSnapshot) -> None:
    ebs_key = key_arn(prod_stack, "ebs")
    bastion = first_bastion(prod_stack)
    root = bastion.inputs["rootBlockDevice"]
    assert root["encrypted"] is True and root["kmsKeyId"] == ebs_key
    assert root["tags"]["tenant"] == prod_stack.outputs["tenant"]
    (volume,) = prod_stack.of_type("aws:ebs/volume:Volume")
    assert volume.inputs["encrypted"] is True and volume.inputs["kmsKeyId"] == ebs_key
    assert volume.inputs["availabilityZone"] == prod_stack.outputs["zones"][0]
    (attachment,) = prod_stack.of_type("aws:ec2/volumeAttachment:VolumeAttachment")
    assert attachment.inputs["volumeId"] == volume.outputs["id"]
    assert attachment.inputs["instanceId"] == bastion.outputs["id"]


def test_no_data_volume_unless_configured(preprod_stack: StackSnapshot) -> None:
    assert not preprod_stack.of_type("aws:ebs/volume:Volume")


def test_detailed_monitoring_always_and_termination_protection_in_prod_only(
    prod_stack: StackSnapshot, preprod_stack: StackSnapshot
) -> None:
    assert first_bastion(prod_stack).inputs["monitoring"] is True
    assert first_bastion(preprod_stack).inputs["monitoring"] is True
    assert first_bastion(prod_stack).inputs["disableApiTermination"] is True
    assert first_bastion(preprod_stack).inputs["disableApiTermination"] is False


def test_no_key_pair_by_default_and_one_only_when_configured(
    example_stack: StackSnapshot, configured_stack: StackSnapshot
) -> None:
    assert first_bastion(example_stack).inputs.get("keyName") is None
    assert {i.inputs["keyName"] for i in instances(configured_stack)} == {"acme-breakglass"}


def test_user_data_only_makes_sure_python3_is_there_for_ansible(example_stack: StackSnapshot) -> None:
    user_data = first_bastion(example_stack).inputs["userData"]
    assert user_data.startswith("#cloud-config\n")
    assert yaml.safe_load(user_data) == {"package_update": True, "packages": ["python3"]}


# --- the instance profile -------------------------------------------------------------------------------------


def test_the_profile_role_has_only_ssm_core_and_its_own_log_writer(example_stack: StackSnapshot) -> None:
    role = example_stack.named(f"{prefix(example_stack)}-bastion-role")
    profile = example_stack.named(f"{prefix(example_stack)}-bastion-profile")
    assert first_bastion(example_stack).inputs["iamInstanceProfile"] == profile.outputs["name"]
    assert profile.inputs["role"] == role.outputs["name"]
    trust = json.loads(role.inputs["assumeRolePolicy"])
    assert [s["Principal"] for s in trust["Statement"]] == [{"Service": "ec2.amazonaws.com"}]
    attached = [
        a.inputs["policyArn"]
        for a in example_stack.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
        if a.inputs["role"] == role.outputs["name"]
    ]
    assert attached == ["arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"]
    inline = [
        p
        for p in example_stack.of_type("aws:iam/rolePolicy:RolePolicy")
        if p.inputs["role"] == role.outputs["id"]
    ]
    (policy,) = inline
    (statement,) = json.loads(policy.inputs["policy"])["Statement"]
    assert statement["Effect"] == "Allow"
    assert set(statement["Action"]) == {
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "logs:DescribeLogStreams",
    }
    region = example_stack.outputs["region"]
    own = f"arn:aws:logs:{region}:{MOCK_ACCOUNT_ID}:log-group:/{prefix(example_stack)}/bastion"
    assert all(resource.startswith(own) for resource in statement["Resource"])


def test_the_log_writer_reaches_exactly_the_bastion_log_groups(example_stack: StackSnapshot) -> None:
    role = example_stack.named(f"{prefix(example_stack)}-bastion-role")
    (policy,) = [
        p
        for p in example_stack.of_type("aws:iam/rolePolicy:RolePolicy")
        if p.inputs["role"] == role.outputs["id"]
    ]
    (statement,) = json.loads(policy.inputs["policy"])["Statement"]
    region = example_stack.outputs["region"]

    def writable(group: str) -> bool:
        arn = f"arn:aws:logs:{region}:{MOCK_ACCOUNT_ID}:log-group:{group}"
        return any(fnmatchcase(arn, pattern) for pattern in statement["Resource"])

    groups = example_stack.outputs["bastionLogGroups"]
    assert groups and all(writable(group) for group in groups)
    assert not writable(f"/{prefix(example_stack)}/vpc-flow-logs")
    assert not writable(f"aws-waf-logs-{prefix(example_stack)}")


def test_bastion_log_groups_are_tenant_key_encrypted_and_kept_twelve_months(
    example_stack: StackSnapshot,
) -> None:
    groups = {
        g.inputs["name"]: g
        for g in example_stack.of_type("aws:cloudwatch/logGroup:LogGroup")
        if g.inputs["name"] in example_stack.outputs["bastionLogGroups"]
    }
    assert set(groups) == set(example_stack.outputs["bastionLogGroups"])
    for group in groups.values():
        assert group.inputs["kmsKeyId"] == key_arn(example_stack, "logs")
        assert group.inputs["retentionInDays"] >= 400


# --- the security group ---------------------------------------------------------------------------------------


def test_only_the_vpn_port_is_open_to_the_internet_when_no_admin_ranges_are_set(
    preprod_stack: StackSnapshot,
) -> None:
    ingress = rules(security_group(preprod_stack), "ingress")
    assert ingress == {("udp", 1194, (INTERNET,)), ("tcp", 22, (preprod_stack.outputs["vpnClientCidr"],))}


def test_admin_ranges_restrict_the_vpn_port(prod_stack: StackSnapshot) -> None:
    ingress = rules(security_group(prod_stack), "ingress")
    assert ingress == {
        ("udp", 1194, ("203.0.113.0/28",)),
        ("tcp", 22, (prod_stack.outputs["vpnClientCidr"],)),
    }


def test_no_port_but_the_vpn_port_is_open_to_the_internet(
    example_stack: StackSnapshot, configured_stack: StackSnapshot
) -> None:
    for stack in (example_stack, configured_stack):
        vpn = (stack.outputs["vpnProtocol"], stack.outputs["vpnPort"])
        for protocol, port, cidrs in rules(security_group(stack), "ingress"):
            if any(IPv4Network(cidr).prefixlen == 0 for cidr in cidrs):
                assert (protocol, port) == vpn


def test_ssh_is_admitted_only_from_the_vpn_client_range(
    example_stack: StackSnapshot, configured_stack: StackSnapshot
) -> None:
    for stack in (example_stack, configured_stack):
        ssh = [cidrs for protocol, port, cidrs in rules(security_group(stack), "ingress") if port == 22]
        assert ssh == [(stack.outputs["vpnClientCidr"],)]


def test_openvpn_over_tcp_443_is_an_option(configured_stack: StackSnapshot) -> None:
    ingress = rules(security_group(configured_stack), "ingress")
    assert ("tcp", 443, (INTERNET,)) in ingress
    assert not any(protocol == "udp" for protocol, _, _ in ingress)
    assert (configured_stack.outputs["vpnProtocol"], configured_stack.outputs["vpnPort"]) == ("tcp", 443)


def test_egress_is_limited_to_web_dns_time_and_admin_ssh_into_the_vpc(example_stack: StackSnapshot) -> None:
    resolver = f"{example_stack.outputs['dnsResolver']}/32"
    assert rules(security_group(example_stack), "egress") == {
        ("tcp", 443, (INTERNET,)),
        ("tcp", 80, (INTERNET,)),
        ("udp", 53, (resolver,)),
        ("tcp", 53, (resolver,)),
        ("udp", 123, ("169.254.169.123/32",)),
        ("tcp", 22, (example_stack.outputs["vpcCidr"],)),
    }


@pytest.mark.parametrize(
    ("bastion", "key", "hint"),
    [
        ({"vpnProtocol": "tcp", "vpnPort": 22}, "bastion.vpnPort", "use e.g. 443"),
        ({"vpnProtocol": "icmp"}, "bastion.vpnProtocol", "'udp' or 'tcp'"),
        ({"amiId": "debian-12"}, "bastion.amiId", "not an AMI id"),
        ({"osRelease": 11}, "bastion.osRelease", "use 13 or 12 (default 13)"),
        ({"osRelease": "14"}, "bastion.osRelease", "use 13 or 12"),
        ({"osRelease": "trixie"}, "bastion.osRelease", "use 13 or 12"),
        ({"osRelease": 13.0}, "bastion.osRelease", "use 13 or 12"),
        ({"osRelease": True}, "bastion.osRelease", "use 13 or 12"),
        ({"osRelease": "1 3"}, "bastion.osRelease", "use 13 or 12"),
        ({"instanceType": "small"}, "bastion.instanceType", "not an EC2 instance type"),
        ({"vpnPort": 70000}, "bastion.vpnPort", "less than or equal to 65535"),
    ],
)
def test_bad_bastion_settings_are_refused_naming_the_key(
    bastion: dict[str, Any], key: str, hint: str
) -> None:
    base = {"tenant": "acme", "environment": "preprod", "region": "eu-central-1", "vpcCidr": "10.21.0.0/20"}
    with pytest.raises(ConfigError) as raised:
        parse_config({**base, "bastion": bastion})
    assert f"secure-tenant:{key}" in str(raised.value) and hint in str(raised.value)


# --- what Ansible reads -----------------------------------------------------------------------------------------


def test_stack_outputs_give_ansible_the_bastion_and_its_network(example_stack: StackSnapshot) -> None:
    outputs = example_stack.outputs
    bastion = first_bastion(example_stack)
    (eip,) = [
        e
        for e in example_stack.of_type("aws:ec2/eip:Eip")
        if e.inputs.get("instance") == bastion.outputs["id"]
    ]
    assert outputs["bastionInstanceId"] == bastion.outputs["id"]
    assert outputs["bastionPublicIp"] == eip.outputs["publicIp"]
    assert outputs["bastionPrivateIp"] == bastion.outputs["privateIp"]
    assert outputs["dnsResolver"] == str(IPv4Network(outputs["vpcCidr"]).network_address + 2)
    assert (outputs["vpnProtocol"], outputs["vpnPort"]) == ("udp", 1194)
    for key in ("tenant", "environment", "vpcCidr", "vpnClientCidr"):
        assert outputs[key]
