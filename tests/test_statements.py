"""The report's policy statements: IAM, KMS and bucket policies compared statement by statement."""

from __future__ import annotations

import json
from typing import Any

from review import statements
from review.offline import StackSnapshot, evaluate_stack
from review.saved import saved_form
from review.statements import StatementChange

KEY_ADMIN = "arn:aws:iam::123456789012:role/acme-key-admin"


def bucket_policy(*statement: dict[str, Any], as_text: bool = True) -> dict[str, Any]:
    document = {"Version": "2012-10-17", "Statement": list(statement)}
    return {
        "urn:policy": {
            "type": "aws:s3/bucketPolicy:BucketPolicy",
            "name": "logs-policy",
            "inputs": {"policy": json.dumps(document) if as_text else document},
        }
    }


TLS = {"Sid": "DenyWithoutTls", "Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": "*"}
ELB = {
    "Sid": "ElbWrites",
    "Effect": "Allow",
    "Principal": {"AWS": "arn:aws:iam::156460612806:root"},
    "Action": "s3:PutObject",
    "Resource": "arn:aws:s3:::logs/*",
}


def test_a_statement_matched_by_sid_shows_only_the_fields_that_changed_with_their_old_values() -> None:
    wider = {**ELB, "Action": ["s3:PutObject", "s3:DeleteObject"]}
    (change,) = statements.diff(bucket_policy(TLS, ELB), bucket_policy(TLS, wider))
    assert change == StatementChange(
        "changed",
        "bucket policy",
        "logs-policy",
        "ElbWrites",
        'Action=["s3:PutObject","s3:DeleteObject"]',
        ("Action",),
        "Action=s3:PutObject",
    )


def test_added_and_removed_statements_are_named_by_sid() -> None:
    changes = statements.diff(bucket_policy(TLS), bucket_policy(ELB, as_text=False))
    assert [(c.kind, c.sid) for c in changes] == [("removed", "DenyWithoutTls"), ("added", "ElbWrites")]
    assert changes[1].statement.startswith('Effect=Allow Principal={"AWS":"arn:aws:iam::156460612806:root"}')


def test_an_edited_statement_without_sid_is_removed_and_added() -> None:
    plain = {k: v for k, v in ELB.items() if k != "Sid"}
    changes = statements.diff(bucket_policy(plain), bucket_policy({**plain, "Resource": "*"}))
    assert sorted((c.kind, c.sid) for c in changes) == [("added", "(no Sid)"), ("removed", "(no Sid)")]


def test_two_statements_with_one_sid_are_both_compared() -> None:
    twin = {**ELB, "Principal": {"Service": "logdelivery.elasticloadbalancing.amazonaws.com"}}
    (change,) = statements.diff(bucket_policy(ELB), bucket_policy(ELB, twin))
    assert (change.kind, change.sid) == ("added", "ElbWrites")
    assert "logdelivery" in change.statement


def test_a_document_that_is_not_json_is_still_shown_as_changed() -> None:
    before = bucket_policy(TLS)
    after = {"urn:policy": {**before["urn:policy"], "inputs": {"policy": "{not json"}}}
    kinds = {(c.kind, c.sid) for c in statements.diff(before, after)}
    assert kinds == {("removed", "DenyWithoutTls"), ("added", "(no Sid)")}


def test_a_new_role_brings_its_trust_and_a_deleted_one_takes_it_away() -> None:
    role = {
        "urn:role": {
            "type": "aws:iam/role:Role",
            "name": "flow-logs-role",
            "inputs": {"assumeRolePolicy": json.dumps({"Statement": [{"Sid": "Assume", "Effect": "Allow"}]})},
        }
    }
    assert [(c.kind, c.document) for c in statements.diff({}, role)] == [("added", "IAM trust policy")]
    assert [(c.kind, c.document) for c in statements.diff(role, {})] == [("removed", "IAM trust policy")]


def test_naming_a_key_administrator_adds_one_statement_to_every_key_policy(prod_stack: StackSnapshot) -> None:
    administered = evaluate_stack("acme-prod", {"secure-tenant:keys": {"adminRoleArns": [KEY_ADMIN]}})
    changes = statements.diff(saved_form(prod_stack)["resources"], saved_form(administered)["resources"])
    keys = {r.name for r in prod_stack.of_type("aws:kms/key:Key")}
    assert {c.resource for c in changes} == keys
    assert {(c.kind, c.document) for c in changes} == {("added", "KMS key policy")}
    assert all(KEY_ADMIN in c.statement for c in changes)


def test_the_same_stack_twice_changes_no_statement(prod_stack: StackSnapshot) -> None:
    resources = saved_form(prod_stack)["resources"]
    assert statements.diff(resources, resources) == []
    assert statements.diff({}, resources)  # a first preview: every statement is added
