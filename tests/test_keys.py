"""TenantKeys, evaluated through the real program under mocks: rotation, aliases, key policies, BYOK."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from infra.config import ConfigError, parse_config
from infra.fakes import MOCK_ACCOUNT_ID
from infra.keys.component import KEY_CLASSES
from infra.keys.policies import kms_key_deletion_window
from review.offline import DeclaredResource, StackSnapshot, evaluate_stack
from tests.stacks import prefix
from tests.test_policy import Mutation, assert_flags, changed, compliant, judge

ADMIN_ROLES = [
    f"arn:aws:iam::{MOCK_ACCOUNT_ID}:role/kms-admin",
    f"arn:aws:iam::{MOCK_ACCOUNT_ID}:role/break-glass",
]
ROOT = f"arn:aws:iam::{MOCK_ACCOUNT_ID}:root"
# What may use each data class's key, besides the root account and the named administrators.
SERVICES_BY_CLASS = {
    "logs": {
        "logs.{region}.amazonaws.com",
        "cloudtrail.amazonaws.com",
        "config.amazonaws.com",
        "events.amazonaws.com",
        "cloudwatch.amazonaws.com",
    },
    "data": set(),
    "backups": set(),
    "ebs": set(),
    "secrets": set(),
}
VIA_SERVICES_BY_CLASS = {
    "logs": set(),
    "data": {"s3"},
    "backups": {"backup"},
    "ebs": {"ec2", "autoscaling"},
    "secrets": {"secretsmanager", "ssm"},
}
USING_ACTIONS = {"kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:*"}


@pytest.fixture(scope="module")
def admin_stack() -> StackSnapshot:
    return evaluate_stack("acme-prod", {"secure-tenant:keys": {"adminRoleArns": ADMIN_ROLES}})


@pytest.fixture(scope="module")
def byok_stack() -> StackSnapshot:
    return evaluate_stack("acme-preprod", {"secure-tenant:keys": {"byok": True}})


def key_of(stack: StackSnapshot, key_class: str) -> DeclaredResource:
    return stack.named(f"{prefix(stack)}-{key_class}-key")


def statements(key: DeclaredResource) -> list[dict[str, Any]]:
    return list(json.loads(key.inputs["policy"])["Statement"])


def by_sid(key: DeclaredResource) -> dict[str, dict[str, Any]]:
    return {statement["Sid"]: statement for statement in statements(key)}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_one_rotating_customer_managed_key_per_data_class(example_stack: StackSnapshot) -> None:
    keys = example_stack.of_type("aws:kms/key:Key")
    assert sorted(k.name for k in keys) == sorted(f"{prefix(example_stack)}-{c}-key" for c in KEY_CLASSES)
    for key in keys:
        assert key.inputs["enableKeyRotation"] is True
        assert key.inputs["rotationPeriodInDays"] <= 365
        assert key.inputs["deletionWindowInDays"] == 30


def test_every_key_has_its_tenant_alias(example_stack: StackSnapshot) -> None:
    aliases = {a.inputs["name"]: a for a in example_stack.of_type("aws:kms/alias:Alias")}
    for key_class in KEY_CLASSES:
        alias = aliases[f"alias/{prefix(example_stack)}-{key_class}"]
        assert alias.inputs["targetKeyId"] == key_of(example_stack, key_class).outputs["keyId"]


def test_key_policies_grant_only_the_root_admins_and_the_services_of_their_class(
    admin_stack: StackSnapshot,
) -> None:
    region = admin_stack.outputs["region"]
    for key_class in KEY_CLASSES:
        services = {s.format(region=region) for s in SERVICES_BY_CLASS[key_class]}
        via = {f"{s}.{region}.amazonaws.com" for s in VIA_SERVICES_BY_CLASS[key_class]}
        for statement in statements(key_of(admin_stack, key_class)):
            assert statement["Effect"] == "Allow"
            principal = statement["Principal"]
            if "Service" in principal:
                assert principal["Service"] in services, (key_class, principal)
                assert statement["Condition"], f"{principal} is not narrowed by a condition"
            elif principal["AWS"] == "*":
                # Anyone of this account, but only through the services of this data class.
                condition = statement["Condition"]["StringEquals"]
                assert via and condition["kms:CallerAccount"] == MOCK_ACCOUNT_ID
                assert set(condition["kms:ViaService"]) == via
            else:
                assert set(as_list(principal["AWS"])) <= {ROOT, *ADMIN_ROLES}


def test_only_the_root_account_may_do_everything(admin_stack: StackSnapshot) -> None:
    for key_class in KEY_CLASSES:
        everything = [s for s in statements(key_of(admin_stack, key_class)) if s["Action"] == "kms:*"]
        assert [s["Principal"] for s in everything] == [{"AWS": ROOT}]


def test_named_admin_roles_manage_the_keys_but_cannot_use_them(admin_stack: StackSnapshot) -> None:
    for key_class in KEY_CLASSES:
        admins = by_sid(key_of(admin_stack, key_class))["NamedKeyAdministratorsManageButCannotUse"]
        assert sorted(admins["Principal"]["AWS"]) == sorted(ADMIN_ROLES)
        assert "kms:ImportKeyMaterial" in admins["Action"] and "kms:ScheduleKeyDeletion" in admins["Action"]
        assert not USING_ACTIONS & set(admins["Action"])


def test_without_admin_roles_no_admin_statement(example_stack: StackSnapshot) -> None:
    for key_class in KEY_CLASSES:
        assert "NamedKeyAdministratorsManageButCannotUse" not in by_sid(key_of(example_stack, key_class))


def test_logs_key_lets_cloudtrail_encrypt_for_the_tenant_trail_only(example_stack: StackSnapshot) -> None:
    (trail,) = example_stack.of_type("aws:cloudtrail/trail:Trail")
    policy = by_sid(key_of(example_stack, "logs"))
    encrypt = policy["CloudTrailEncryptsThisTrailOnly"]
    assert encrypt["Principal"] == {"Service": "cloudtrail.amazonaws.com"}
    assert encrypt["Action"] == ["kms:GenerateDataKey*"]
    assert encrypt["Condition"]["StringEquals"] == {
        "aws:SourceArn": trail.outputs["arn"],
        "kms:EncryptionContext:aws:cloudtrail:arn": trail.outputs["arn"],
    }
    describe = policy["CloudTrailDescribesKeyForThisTrail"]
    assert describe["Action"] == ["kms:DescribeKey"]
    assert describe["Condition"]["StringEquals"] == {"aws:SourceArn": trail.outputs["arn"]}


@pytest.mark.parametrize(
    ("sid", "service"),
    [
        ("ConfigDeliversSnapshotsOfThisAccount", "config.amazonaws.com"),
        ("EventBridgePublishesAlertsOfThisAccount", "events.amazonaws.com"),
        ("CloudWatchAlarmsPublishAlertsOfThisAccount", "cloudwatch.amazonaws.com"),
    ],
)
def test_logs_key_serves_config_and_eventbridge_of_this_account_only(
    example_stack: StackSnapshot, sid: str, service: str
) -> None:
    statement = by_sid(key_of(example_stack, "logs"))[sid]
    assert statement["Principal"] == {"Service": service}
    assert statement["Condition"] == {"StringEquals": {"aws:SourceAccount": MOCK_ACCOUNT_ID}}
    assert not {"kms:*", "kms:Encrypt", "kms:ReEncrypt*"} & set(statement["Action"])


def test_ebs_key_grants_only_for_aws_resources_through_ec2_and_autoscaling(
    example_stack: StackSnapshot,
) -> None:
    region = example_stack.outputs["region"]
    grants = by_sid(key_of(example_stack, "ebs"))["GrantsOnlyForAwsResourcesOfTheseServices"]
    assert set(grants["Action"]) == {"kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"}
    assert grants["Condition"]["Bool"] == {"kms:GrantIsForAWSResource": "true"}
    assert set(grants["Condition"]["StringEquals"]["kms:ViaService"]) == {
        f"ec2.{region}.amazonaws.com",
        f"autoscaling.{region}.amazonaws.com",
    }


def test_new_volumes_of_the_region_are_encrypted_by_default_with_the_ebs_key(
    example_stack: StackSnapshot,
) -> None:
    (switch,) = example_stack.of_type("aws:ebs/encryptionByDefault:EncryptionByDefault")
    (default,) = example_stack.of_type("aws:ebs/defaultKmsKey:DefaultKmsKey")
    assert switch.inputs["enabled"] is True
    assert default.inputs["keyArn"] == key_of(example_stack, "ebs").outputs["arn"]


def test_byok_makes_the_imported_ebs_key_the_default_for_new_volumes(byok_stack: StackSnapshot) -> None:
    (default,) = byok_stack.of_type("aws:ebs/defaultKmsKey:DefaultKmsKey")
    assert default.inputs["keyArn"] == key_of(byok_stack, "ebs").outputs["arn"]
    assert key_of(byok_stack, "ebs").type == "aws:kms/externalKey:ExternalKey"


def test_admin_roles_must_be_iam_roles_of_one_account() -> None:
    base = {"tenant": "acme", "environment": "prod", "region": "eu-west-1", "vpcCidr": "10.20.0.0/16"}
    for roles, hint in [
        ([f"arn:aws:iam::{MOCK_ACCOUNT_ID}:user/alice"], "is not an IAM role ARN"),
        (
            ["arn:aws:iam::111111111111:role/a", "arn:aws:iam::222222222222:role/b"],
            "roles of several accounts",
        ),
        ([ADMIN_ROLES[0], ADMIN_ROLES[0]], "listed twice"),
    ]:
        with pytest.raises(ConfigError) as raised:
            parse_config({**base, "keys": {"adminRoleArns": roles}})
        assert "secure-tenant:keys.adminRoleArns" in str(raised.value) and hint in str(raised.value)


def test_admin_roles_of_another_account_than_the_keys_are_refused() -> None:
    foreign = "arn:aws:iam::999999999999:role/kms-admin"
    with pytest.raises(
        ConfigError, match=rf"keys\.adminRoleArns: {foreign} not in account {MOCK_ACCOUNT_ID}"
    ):
        evaluate_stack("acme-preprod", {"secure-tenant:keys": {"adminRoleArns": [foreign]}})


def test_byok_creates_external_keys_with_the_same_policies(
    byok_stack: StackSnapshot, preprod_stack: StackSnapshot
) -> None:
    assert not byok_stack.of_type("aws:kms/key:Key")
    external = {k.name: k for k in byok_stack.of_type("aws:kms/externalKey:ExternalKey")}
    assert sorted(external) == sorted(f"{prefix(byok_stack)}-{c}-key" for c in KEY_CLASSES)
    aliases = {a.inputs["name"]: a.inputs["targetKeyId"] for a in byok_stack.of_type("aws:kms/alias:Alias")}
    for key_class in KEY_CLASSES:
        key = external[f"{prefix(byok_stack)}-{key_class}-key"]
        assert "keyMaterialBase64" not in key.inputs, "key material must never pass through the stack"
        assert statements(key) == statements(key_of(preprod_stack, key_class))
        assert aliases[f"alias/{prefix(byok_stack)}-{key_class}"] == key.outputs["id"]


def test_byok_preview_says_the_keys_do_not_rotate_automatically(
    byok_stack: StackSnapshot, preprod_stack: StackSnapshot
) -> None:
    assert set(byok_stack.outputs["keyRotation"]) == set(KEY_CLASSES)
    for rotation in byok_stack.outputs["keyRotation"].values():
        assert rotation.startswith("none automatic") and "docs/byok.md" in rotation
    assert all(r.startswith("automatic every") for r in preprod_stack.outputs["keyRotation"].values())


def test_the_byok_procedure_targets_exactly_the_keys_and_aliases(byok_stack: StackSnapshot) -> None:
    """docs/byok.md creates the keys first with `pulumi up --target`: its URNs must be the program's."""
    doc = (Path(__file__).resolve().parent.parent / "docs" / "byok.md").read_text()
    templates = re.findall(r'--target "(urn:[^"]+)"', doc)
    targets = {
        template.replace("\\$", "$")
        .replace("${STACK}", byok_stack.stack)
        .replace("${PREFIX}", prefix(byok_stack))
        .replace("${class}", key_class)
        for template in templates
        for key_class in KEY_CLASSES
    }
    wanted = {
        r.urn
        for r in byok_stack.resources
        if r.type in ("aws:kms/externalKey:ExternalKey", "aws:kms/alias:Alias")
    }
    assert targets == wanted


# The pack's kms-key-deletion-window (CRY-07), read by its meta tests too (tests/test_policy.py).
DELETION_WINDOW = "kms-key-deletion-window"
POLICY_CASES: list[tuple[str, str, Mutation, str]] = [
    (DELETION_WINDOW, "violating", changed("key", deletionWindowInDays=7.0), "7 days is below 30"),
    (DELETION_WINDOW, "violating", changed("key", deletionWindowInDays=29.5), "29.5 days is below 30"),
    (DELETION_WINDOW, "bypass", changed("key", deletionWindowInDays="30"), "'30' is not a number of days"),
    (DELETION_WINDOW, "bypass", changed("key", deletionWindowInDays=True), "True is not a number of days"),
]
# The broken program's key leaves the window unset, which is AWS's default: 30 days.
PASSED_BY_BROKEN_STACK = {DELETION_WINDOW: "the broken key keeps AWS's default window of 30 days"}


@pytest.mark.parametrize(
    ("policy", "kind", "mutation", "expected"), POLICY_CASES, ids=[case[3] for case in POLICY_CASES]
)
def test_the_pack_refuses_a_key_deletion_window_below_30_days(
    policy: str, kind: str, mutation: Mutation, expected: str
) -> None:
    assert_flags(policy, mutation, expected)


def test_a_key_without_a_deletion_window_waits_the_30_days_aws_defaults_to() -> None:
    assert DELETION_WINDOW not in judge(changed("key", deletionWindowInDays=None)(compliant()))
    assert DELETION_WINDOW not in judge(changed("key", deletionWindowInDays=30.0)(compliant()))


def test_every_key_of_the_program_waits_30_days_before_deletion_byok_too(
    example_stack: StackSnapshot, byok_stack: StackSnapshot
) -> None:
    keys = [
        key
        for stack in (example_stack, byok_stack)
        for key in stack.resources
        if key.type in ("aws:kms/key:Key", "aws:kms/externalKey:ExternalKey")
    ]
    assert {key.type for key in keys} == {"aws:kms/key:Key", "aws:kms/externalKey:ExternalKey"}
    for key in keys:
        assert key.inputs["deletionWindowInDays"] == 30
        assert kms_key_deletion_window(key.type, key.inputs) == []
