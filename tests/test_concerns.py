"""A concern is found by its package (infra/concerns.py): its policies join the pack and its Terraform types the
checkov export, with no list to keep anywhere else."""

from __future__ import annotations

import importlib
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

import infra
from infra.concerns import concern_modules, terraform_types
from infra.policy_pack import all_policies, sdk_policies
from infra.policy_registry import POLICIES
from review import pack_runner, terraform_plan
from review.offline import StackSnapshot
from tests.test_terraform_plan import QUEUE

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def new_concern(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty concern package `infra.zz_queue`, in a temporary folder on infra's package path for one test."""
    package = tmp_path / "zz_queue"
    package.mkdir()
    (package / "__init__.py").write_text('"""Queues."""\n')
    monkeypatch.setattr(infra, "__path__", [*infra.__path__, str(tmp_path)])
    registered = list(POLICIES)
    terraform_plan.declared_terraform_types.cache_clear()  # read again, with the new package
    yield package
    POLICIES[:] = registered
    for name in [module for module in sys.modules if module.startswith("infra.zz_queue")]:
        del sys.modules[name]
    terraform_plan.declared_terraform_types.cache_clear()


def _write(path: Path, source: str) -> None:
    path.write_text(textwrap.dedent(source))
    importlib.invalidate_caches()


def test_the_pack_gathers_the_policies_module_of_every_concern_package() -> None:
    found = {module.__name__ for module in concern_modules("policies")}
    assert found == {f"infra.{path.parent.name}.policies" for path in ROOT.glob("infra/*/policies.py")}
    assert {"infra.network.policies", "infra.keys.policies", "infra.edge.policies"} <= found
    assert [p.name for p in sdk_policies()] == [spec.name for spec in all_policies()]


def test_a_new_concerns_policy_joins_the_pack_and_judges_the_stack(new_concern: Path) -> None:
    _write(
        new_concern / "policies.py",
        '''
        from infra.policy_registry import stack_policy
        from infra.policy_view import StackView


        @stack_policy("queues-encrypted", "CRY-01")
        def queues_encrypted(stack: StackView) -> list[str]:
            """Every queue is encrypted."""
            return [f"queue {q.name} is plain" for q in stack.of("aws:sqs/queue:Queue") if not q.props.get("kmsMasterKeyId")]
        ''',
    )
    assert "queues-encrypted" in {spec.name for spec in all_policies()}
    policy = next(p for p in sdk_policies() if p.name == "queues-encrypted")
    assert policy.description == "[CRY-01] Every queue is encrypted."
    verdicts = pack_runner.run_pack(StackSnapshot(stack="t", config={}, resources=[QUEUE]))
    assert [(v.control, v.message) for v in verdicts if v.policy == "queues-encrypted"] == [
        ("CRY-01", "queue jobs is plain")
    ]


def test_a_new_concerns_terraform_types_join_the_export(new_concern: Path) -> None:
    _write(
        new_concern / "component.py",
        """
        from infra.concerns import terraform_types

        TERRAFORM_TYPES = terraform_types("aws:sqs/queue:Queue")
        """,
    )
    plan = terraform_plan.export(StackSnapshot(stack="t", config={}, resources=[QUEUE]))
    assert [r["address"] for r in plan["planned_values"]["root_module"]["resources"]] == [
        "aws_sqs_queue.jobs"
    ]


def test_two_concerns_naming_one_type_differently_stop_the_export(new_concern: Path) -> None:
    _write(
        new_concern / "component.py",
        """
        from infra.concerns import terraform_types

        TERRAFORM_TYPES = terraform_types(irregular={"aws:kms/key:Key": "aws_kms_custom_key"})
        """,
    )
    with pytest.raises(
        ValueError, match=r"infra.zz_queue.component.*aws:kms/key:Key.*aws_kms_custom_key.*aws_kms_key"
    ):
        terraform_plan.declared_terraform_types()


def test_terraform_types_follow_the_rule_pulumi_aws_names_its_types_by() -> None:
    assert terraform_types(
        "aws:s3/bucketPolicy:BucketPolicy",
        "aws:ec2/eip:Eip",
        "aws:cfg/deliveryChannel:DeliveryChannel",
        irregular={"aws:lb/loadBalancer:LoadBalancer": "aws_lb"},
    ) == {
        "aws:s3/bucketPolicy:BucketPolicy": "aws_s3_bucket_policy",
        "aws:ec2/eip:Eip": "aws_eip",
        "aws:cfg/deliveryChannel:DeliveryChannel": "aws_config_delivery_channel",
        "aws:lb/loadBalancer:LoadBalancer": "aws_lb",
    }
    for token in ("aws:s3:Bucket", "random:index/randomId:RandomId", "aws:s3/bucket:Bucket "):
        with pytest.raises(ValueError, match="is not a pulumi_aws resource type token"):
            terraform_types(token)
