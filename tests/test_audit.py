"""AuditTrail, evaluated through the real program under mocks: CloudTrail, GuardDuty, Security Hub, Config, alerts."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra.config import ConfigError
from infra.fakes import MOCK_ACCOUNT_ID
from review.offline import DeclaredResource, StackSnapshot, evaluate_stack
from tests.stacks import named, prefix

# The managed rules the policy asks for by name (the component may add more).
REQUIRED_CONFIG_RULES = {
    "ENCRYPTED_VOLUMES",
    "INCOMING_SSH_DISABLED",
    "RESTRICTED_INCOMING_TRAFFIC",
    "S3_BUCKET_SSL_REQUESTS_ONLY",
    "CLOUD_TRAIL_ENABLED",
    "CMK_BACKING_KEY_ROTATION_ENABLED",
    "VPC_FLOW_LOGS_ENABLED",
    "EC2_IMDSV2_CHECK",
    "CLOUDWATCH_LOG_GROUP_ENCRYPTED",
}


def logs_key_arn(stack: StackSnapshot) -> str:
    return str(named(stack, "logs-key").outputs["arn"])


def trust(role: DeclaredResource) -> dict[str, Any]:
    (statement,) = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    return dict(statement)


def test_one_multi_region_validated_trail_encrypted_with_the_logs_key(example_stack: StackSnapshot) -> None:
    (trail,) = example_stack.of_type("aws:cloudtrail/trail:Trail")
    assert trail.inputs["isMultiRegionTrail"] is True
    assert trail.inputs["includeGlobalServiceEvents"] is True
    assert trail.inputs["enableLogFileValidation"] is True
    assert trail.inputs["enableLogging"] is True
    assert trail.inputs["kmsKeyId"] == logs_key_arn(example_stack)
    assert trail.inputs["s3BucketName"] == example_stack.outputs["logArchiveBucket"]
    assert example_stack.outputs["trailArn"] == trail.outputs["arn"]


def test_trail_events_also_go_to_an_encrypted_log_group_kept_twelve_months(
    example_stack: StackSnapshot,
) -> None:
    (trail,) = example_stack.of_type("aws:cloudtrail/trail:Trail")
    group = named(example_stack, "cloudtrail-logs")
    assert group.inputs["name"] == f"/{prefix(example_stack)}/cloudtrail"
    assert group.inputs["kmsKeyId"] == logs_key_arn(example_stack)
    assert group.inputs["retentionInDays"] >= 400
    assert trail.inputs["cloudWatchLogsGroupArn"] == f"{group.outputs['arn']}:*"

    role = named(example_stack, "cloudtrail-to-logs")
    assert trail.inputs["cloudWatchLogsRoleArn"] == role.outputs["arn"]
    assert trust(role) == {
        "Effect": "Allow",
        "Principal": {"Service": "cloudtrail.amazonaws.com"},
        "Action": "sts:AssumeRole",
    }
    access = named(example_stack, "cloudtrail-to-logs-access")
    assert access.inputs["role"] == role.outputs["id"]
    (statement,) = json.loads(access.inputs["policy"])["Statement"]
    assert set(statement["Action"]) == {"logs:CreateLogStream", "logs:PutLogEvents"}
    assert statement["Resource"] == f"{group.outputs['arn']}:log-stream:*"


def test_guardduty_watches_s3_ebs_malware_and_runtime(example_stack: StackSnapshot) -> None:
    (detector,) = example_stack.of_type("aws:guardduty/detector:Detector")
    assert detector.inputs["enable"] is True
    features = {
        f.inputs["name"]: f for f in example_stack.of_type("aws:guardduty/detectorFeature:DetectorFeature")
    }
    assert set(features) == {"S3_DATA_EVENTS", "EBS_MALWARE_PROTECTION", "RUNTIME_MONITORING"}
    for feature in features.values():
        assert feature.inputs["detectorId"] == detector.outputs["id"]
        assert feature.inputs["status"] == "ENABLED"
    assert features["RUNTIME_MONITORING"].inputs["additionalConfigurations"] == [
        {"name": "EC2_AGENT_MANAGEMENT", "status": "ENABLED"}
    ]


def test_runtime_monitoring_can_be_left_out_where_guardduty_lacks_it() -> None:
    stack = evaluate_stack("acme-preprod", {"secure-tenant:audit": {"guarddutyRuntimeMonitoring": False}})
    names = {f.inputs["name"] for f in stack.of_type("aws:guardduty/detectorFeature:DetectorFeature")}
    assert names == {"S3_DATA_EVENTS", "EBS_MALWARE_PROTECTION"}


def test_security_hub_runs_cis_and_aws_foundational_standards_of_the_region(
    example_stack: StackSnapshot,
) -> None:
    region = example_stack.outputs["region"]
    (hub,) = example_stack.of_type("aws:securityhub/account:Account")
    assert hub.inputs["enableDefaultStandards"] is False
    assert hub.inputs["controlFindingGenerator"] == "SECURITY_CONTROL"
    standards = {
        s.inputs["standardsArn"]
        for s in example_stack.of_type("aws:securityhub/standardsSubscription:StandardsSubscription")
    }
    assert standards == {
        f"arn:aws:securityhub:{region}::standards/cis-aws-foundations-benchmark/v/3.0.0",
        f"arn:aws:securityhub:{region}::standards/aws-foundational-security-best-practices/v/1.0.0",
    }


def test_config_records_everything_and_delivers_into_the_archive_with_the_logs_key(
    example_stack: StackSnapshot,
) -> None:
    (recorder,) = example_stack.of_type("aws:cfg/recorder:Recorder")
    assert recorder.inputs["recordingGroup"] == {"allSupported": True, "includeGlobalResourceTypes": True}
    (channel,) = example_stack.of_type("aws:cfg/deliveryChannel:DeliveryChannel")
    assert channel.inputs["s3BucketName"] == example_stack.outputs["logArchiveBucket"]
    assert channel.inputs["s3KmsKeyArn"] == logs_key_arn(example_stack)
    (status,) = example_stack.of_type("aws:cfg/recorderStatus:RecorderStatus")
    assert status.inputs["isEnabled"] is True and status.inputs["name"] == recorder.outputs["name"]


def test_config_role_is_for_this_accounts_config_only(example_stack: StackSnapshot) -> None:
    (recorder,) = example_stack.of_type("aws:cfg/recorder:Recorder")
    role = named(example_stack, "config")
    assert recorder.inputs["roleArn"] == role.outputs["arn"]
    assert trust(role) == {
        "Effect": "Allow",
        "Principal": {"Service": "config.amazonaws.com"},
        "Action": "sts:AssumeRole",
        "Condition": {"StringEquals": {"aws:SourceAccount": MOCK_ACCOUNT_ID}},
    }
    statements = {
        s["Sid"]: s
        for s in json.loads(named(example_stack, "config-delivery-access").inputs["policy"])["Statement"]
    }
    bucket_arn = named(example_stack, "log-archive-bucket").outputs["arn"]
    assert statements["DeliverSnapshots"]["Resource"] == f"{bucket_arn}/AWSLogs/{MOCK_ACCOUNT_ID}/Config/*"
    assert statements["EncryptWithTheLogsKey"]["Resource"] == logs_key_arn(example_stack)


def test_config_evaluates_the_managed_rules_of_the_policy(example_stack: StackSnapshot) -> None:
    rules = {r.inputs["source"]["sourceIdentifier"]: r for r in example_stack.of_type("aws:cfg/rule:Rule")}
    assert REQUIRED_CONFIG_RULES <= set(rules)
    for rule in rules.values():
        assert rule.inputs["source"]["owner"] == "AWS"
        assert rule.inputs["tags"]["control"], "each rule names the control it checks"
    retention = json.loads(rules["CW_LOGGROUP_RETENTION_PERIOD_CHECK"].inputs["inputParameters"])
    assert retention == {"MinRetentionTime": "400"}
    assert json.loads(rules["VPC_FLOW_LOGS_ENABLED"].inputs["inputParameters"]) == {"trafficType": "ALL"}
    backup = json.loads(rules["BACKUP_PLAN_MIN_FREQUENCY_AND_MIN_RETENTION_CHECK"].inputs["inputParameters"])
    assert backup["requiredRetentionDays"] == "35"


def test_alert_topic_is_encrypted_with_the_logs_key(example_stack: StackSnapshot) -> None:
    topic = named(example_stack, "security-alerts")
    assert topic.inputs["kmsMasterKeyId"] == logs_key_arn(example_stack)
    assert example_stack.outputs["alertTopicArn"] == topic.outputs["arn"]


def test_serious_guardduty_and_security_hub_findings_go_to_the_topic(example_stack: StackSnapshot) -> None:
    topic = named(example_stack, "security-alerts")
    guardduty = json.loads(named(example_stack, "guardduty-findings").inputs["eventPattern"])
    assert guardduty["source"] == ["aws.guardduty"]
    assert guardduty["detail"] == {"severity": [{"numeric": [">=", 7]}]}
    hub = json.loads(named(example_stack, "security-hub-findings").inputs["eventPattern"])
    assert hub["source"] == ["aws.securityhub"]
    assert hub["detail"]["findings"]["Severity"] == {"Label": ["HIGH", "CRITICAL"]}
    targets = {
        t.inputs["rule"]: t.inputs["arn"]
        for t in example_stack.of_type("aws:cloudwatch/eventTarget:EventTarget")
    }
    for purpose in ("guardduty-findings", "security-hub-findings"):
        assert targets[named(example_stack, purpose).outputs["name"]] == topic.outputs["arn"]


def test_only_the_tenant_finding_rules_may_publish_and_only_over_tls(example_stack: StackSnapshot) -> None:
    topic = named(example_stack, "security-alerts")
    policy = named(example_stack, "security-alerts-policy")
    assert policy.inputs["arn"] == topic.outputs["arn"]
    statements = {s["Sid"]: s for s in json.loads(policy.inputs["policy"])["Statement"]}
    publish = statements["TenantFindingRulesPublish"]
    assert publish["Principal"] == {"Service": "events.amazonaws.com"}
    assert (publish["Action"], publish["Resource"]) == ("sns:Publish", topic.outputs["arn"])
    assert set(publish["Condition"]["ArnEquals"]["aws:SourceArn"]) == {
        named(example_stack, purpose).outputs["arn"]
        for purpose in ("guardduty-findings", "security-hub-findings")
    }
    alarms = statements["TenantAlarmsPublish"]
    assert alarms["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    region, own = example_stack.outputs["region"], f"{prefix(example_stack)}-"
    assert alarms["Condition"]["ArnLike"] == {
        "aws:SourceArn": f"arn:aws:cloudwatch:{region}:{MOCK_ACCOUNT_ID}:alarm:{own}*"
    }
    ddos_alarms = example_stack.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
    assert all(alarm.inputs["name"].startswith(own) for alarm in ddos_alarms)
    deny = statements["DenyPublishWithoutTls"]
    assert deny["Effect"] == "Deny" and deny["Principal"] == "*"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_alert_emails_subscribe_to_the_topic() -> None:
    emails = ["soc@acme.example", "oncall@acme.example"]
    stack = evaluate_stack("acme-preprod", {"secure-tenant:audit": {"alertEmails": emails}})
    topic = named(stack, "security-alerts")
    subscriptions = stack.of_type("aws:sns/topicSubscription:TopicSubscription")
    assert sorted(s.inputs["endpoint"] for s in subscriptions) == sorted(emails)
    assert all(
        s.inputs["protocol"] == "email" and s.inputs["topic"] == topic.outputs["arn"] for s in subscriptions
    )


def test_a_malformed_alert_email_is_refused() -> None:
    with pytest.raises(ConfigError) as raised:
        evaluate_stack("acme-preprod", {"secure-tenant:audit": {"alertEmails": ["soc at acme"]}})
    assert "secure-tenant:audit.alertEmails" in str(raised.value) and "not an email address" in str(
        raised.value
    )


def _selectors(stack: StackSnapshot) -> dict[str, dict[str, dict[str, list[str]]]]:
    """The trail's advanced event selectors by name: field -> operator -> values."""
    (trail,) = stack.of_type("aws:cloudtrail/trail:Trail")
    return {
        selector["name"]: {
            field["field"]: {op: values for op, values in field.items() if op != "field"}
            for field in selector["fieldSelectors"]
        }
        for selector in trail.inputs["advancedEventSelectors"]
    }


def test_the_trail_records_who_reads_deletes_or_unlocks_objects_of_the_log_buckets(
    example_stack: StackSnapshot,
) -> None:
    selectors = _selectors(example_stack)
    assert selectors.pop("Management events, read and write") == {"eventCategory": {"equals": ["Management"]}}
    log_buckets = [
        f"{named(example_stack, purpose).outputs['arn']}/"
        for purpose in ("log-archive-bucket", "lb-access-logs-bucket")
    ]
    reads = selectors.pop("Reads of the log buckets' objects")
    writes = selectors.pop("Deletions and retention changes in the log buckets")
    assert selectors == {}
    for data in (reads, writes):
        assert data["eventCategory"] == {"equals": ["Data"]}
        assert data["resources.type"] == {"equals": ["AWS::S3::Object"]}
        assert sorted(data["resources.ARN"]["startsWiths"]) == sorted(log_buckets)
    assert reads["readOnly"] == {"equals": ["true"]}
    assert writes["readOnly"] == {"equals": ["false"]}
    assert {"Delete", "PutObjectRetention", "PutObjectLegalHold"} <= set(writes["eventName"]["startsWiths"])


def test_no_selector_records_the_trails_own_deliveries_into_the_archive(example_stack: StackSnapshot) -> None:
    """A PutObject data event on the archive would be delivered into the archive by another PutObject: a loop."""
    for name, fields in _selectors(example_stack).items():
        if fields["eventCategory"] != {"equals": ["Data"]}:
            continue
        records_writes = fields.get("readOnly") != {"equals": ["true"]}
        names = fields.get("eventName", {}).get("startsWiths", [])
        assert not records_writes or (names and not any("PutObject".startswith(n) for n in names)), name
