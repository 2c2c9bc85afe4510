"""AuditTrail: CloudTrail, GuardDuty, Security Hub and AWS Config for the tenant, and alerts on serious findings.

Everything lands in the tenant's log archive or in tenant-key encrypted log groups kept 12 months; GuardDuty
findings of severity 7 or more and Security Hub findings rated HIGH or CRITICAL are published to an SNS topic
encrypted with the tenant logs key.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from infra.baseline import MIN_BACKUP_DAILY_RETENTION_DAYS, MIN_LOG_RETENTION_DAYS, Control
from infra.concerns import terraform_types
from infra.iam import assume_role_policy
from infra.logs import encrypted_log_group
from infra.naming import Naming

# The Terraform type of each resource type this component creates, for the checkov export of the stack
# (review/terraform_plan.py refuses a type no concern declares).
TERRAFORM_TYPES = terraform_types(
    "aws:cfg/deliveryChannel:DeliveryChannel",
    "aws:cloudwatch/eventRule:EventRule",
    "aws:cloudwatch/eventTarget:EventTarget",
    "aws:cloudwatch/logGroup:LogGroup",
    "aws:guardduty/detector:Detector",
    "aws:guardduty/detectorFeature:DetectorFeature",
    "aws:iam/role:Role",
    "aws:iam/rolePolicy:RolePolicy",
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
    "aws:securityhub/account:Account",
    "aws:securityhub/standardsSubscription:StandardsSubscription",
    "aws:sns/topic:Topic",
    "aws:sns/topicPolicy:TopicPolicy",
    "aws:sns/topicSubscription:TopicSubscription",
    irregular={
        "aws:cfg/recorder:Recorder": "aws_config_configuration_recorder",
        "aws:cfg/recorderStatus:RecorderStatus": "aws_config_configuration_recorder_status",
        "aws:cfg/rule:Rule": "aws_config_config_rule",
        "aws:cloudtrail/trail:Trail": "aws_cloudtrail",
    },
)

GUARDDUTY_MIN_ALERT_SEVERITY = 7  # GuardDuty's "High" band starts at 7.0
SECURITY_HUB_ALERT_LABELS = ("HIGH", "CRITICAL")
GUARDDUTY_FEATURES = ("S3_DATA_EVENTS", "EBS_MALWARE_PROTECTION")
GUARDDUTY_RUNTIME_MONITORING = "RUNTIME_MONITORING"
# Standards ARNs as Security Hub lists them (DescribeStandards); both are regional.
SECURITY_HUB_STANDARDS = {
    "cis-aws-foundations-benchmark": "cis-aws-foundations-benchmark/v/3.0.0",
    "aws-foundational-security-best-practices": "aws-foundational-security-best-practices/v/1.0.0",
}
# Object writes to the log buckets the trail records (eventName prefixes): deleting, unlocking, re-permissioning.
RECORDED_OBJECT_WRITES = (
    "Delete",
    "PutObjectRetention",
    "PutObjectLegalHold",
    "PutObjectAcl",
    "RestoreObject",
)

CONFIG_ROLE_POLICY = "arn:aws:iam::aws:policy/service-role/AWS_ConfigRole"

# AWS Config managed rules matching the policy: identifier -> (control id, input parameters). The thresholds are
# the policy's minimums, not the stack's values, so a stack running on an exception shows up as non-compliant.
CONFIG_RULES: dict[str, tuple[str, dict[str, str]]] = {
    "CLOUD_TRAIL_ENABLED": (Control.LOG_01, {}),
    "MULTI_REGION_CLOUD_TRAIL_ENABLED": (Control.LOG_01, {}),
    "CLOUD_TRAIL_LOG_FILE_VALIDATION_ENABLED": (Control.LOG_01, {}),
    "CLOUD_TRAIL_ENCRYPTION_ENABLED": (Control.LOG_01, {}),
    "CLOUD_TRAIL_CLOUD_WATCH_LOGS_ENABLED": (Control.LOG_01, {}),
    "GUARDDUTY_ENABLED_CENTRALIZED": (Control.LOG_01, {}),
    "SECURITYHUB_ENABLED": (Control.LOG_01, {}),
    "CW_LOGGROUP_RETENTION_PERIOD_CHECK": (Control.LOG_02, {"MinRetentionTime": str(MIN_LOG_RETENTION_DAYS)}),
    "CLOUDWATCH_LOG_GROUP_ENCRYPTED": (Control.CRY_01, {}),
    "CMK_BACKING_KEY_ROTATION_ENABLED": (Control.CRY_01, {}),
    "ENCRYPTED_VOLUMES": (Control.CRY_01, {}),
    "S3_DEFAULT_ENCRYPTION_KMS": (Control.CRY_01, {}),
    "S3_BUCKET_SSL_REQUESTS_ONLY": (Control.CRY_03, {}),
    "S3_BUCKET_LEVEL_PUBLIC_ACCESS_PROHIBITED": (Control.CRY_03, {}),
    "ELB_TLS_HTTPS_LISTENERS_ONLY": (Control.EDGE_03, {}),
    "ALB_WAF_ENABLED": (Control.EDGE_01, {}),
    "INCOMING_SSH_DISABLED": (Control.ACC_04, {}),
    "RESTRICTED_INCOMING_TRAFFIC": (Control.NET_06, {}),
    "VPC_DEFAULT_SECURITY_GROUP_CLOSED": (Control.NET_06, {}),
    "VPC_FLOW_LOGS_ENABLED": (Control.NET_05, {"trafficType": "ALL"}),
    "EC2_IMDSV2_CHECK": (Control.HST_01, {}),
    "ROOT_ACCOUNT_MFA_ENABLED": (Control.ACC_03, {}),
    "MFA_ENABLED_FOR_IAM_CONSOLE_ACCESS": (Control.ACC_03, {}),
    "BACKUP_PLAN_MIN_FREQUENCY_AND_MIN_RETENTION_CHECK": (
        Control.BAK_01,
        {
            "requiredFrequencyValue": "1",
            "requiredFrequencyUnit": "days",
            "requiredRetentionDays": str(MIN_BACKUP_DAILY_RETENTION_DAYS),
        },
    ),
}


@dataclass(frozen=True)
class AuditTrailArgs:
    naming: Naming
    region: str
    trail_name: str
    logs_key_arn: pulumi.Input[str]
    archive_bucket_name: pulumi.Input[str]
    archive_bucket_arn: pulumi.Input[str]
    # The archive's bucket policy: CloudTrail and Config test their access when they are created.
    archive_ready: Sequence[pulumi.Resource]
    log_retention_days: int
    # Buckets whose object reads and deletions the trail records (S3 data events): the log buckets.
    data_event_bucket_arns: Sequence[pulumi.Input[str]] = ()
    runtime_monitoring: bool = True
    alert_emails: tuple[str, ...] = ()


def event_selectors(bucket_arns: Sequence[str]) -> list[aws.cloudtrail.TrailAdvancedEventSelectorArgs]:
    """Every management event, and who reads, deletes or unlocks objects in these buckets (S3 data events).

    Writes that create objects are left out: CloudTrail's own deliveries into the archive are PutObject calls, each
    of which would be logged into the archive again (recursive events; the trail's RecursiveLogging switch is not
    in pulumi-aws). Versioning and object lock keep what an overwrite replaces.
    """
    field = aws.cloudtrail.TrailAdvancedEventSelectorFieldSelectorArgs
    selectors = [
        aws.cloudtrail.TrailAdvancedEventSelectorArgs(
            name="Management events, read and write",
            field_selectors=[field(field="eventCategory", equals=["Management"])],
        )
    ]
    if not bucket_arns:
        return selectors
    objects = [
        field(field="eventCategory", equals=["Data"]),
        field(field="resources.type", equals=["AWS::S3::Object"]),
        field(field="resources.ARN", starts_withs=[f"{arn}/" for arn in bucket_arns]),
    ]
    return [
        *selectors,
        aws.cloudtrail.TrailAdvancedEventSelectorArgs(
            name="Reads of the log buckets' objects",
            field_selectors=[*objects, field(field="readOnly", equals=["true"])],
        ),
        aws.cloudtrail.TrailAdvancedEventSelectorArgs(
            name="Deletions and retention changes in the log buckets",
            field_selectors=[
                *objects,
                field(field="readOnly", equals=["false"]),
                field(field="eventName", starts_withs=list(RECORDED_OBJECT_WRITES)),
            ],
        ),
    ]


def guardduty_alert_pattern() -> dict[str, Any]:
    return {
        "source": ["aws.guardduty"],
        "detail-type": ["GuardDuty Finding"],
        "detail": {"severity": [{"numeric": [">=", GUARDDUTY_MIN_ALERT_SEVERITY]}]},
    }


def security_hub_alert_pattern() -> dict[str, Any]:
    return {
        "source": ["aws.securityhub"],
        "detail-type": ["Security Hub Findings - Imported"],
        "detail": {
            "findings": {
                "Severity": {"Label": list(SECURITY_HUB_ALERT_LABELS)},
                "Workflow": {"Status": ["NEW"]},
                "RecordState": ["ACTIVE"],
            }
        },
    }


def alert_topic_policy(topic_arn: str, rule_arns: list[str], alarm_prefix: str) -> dict[str, Any]:
    """Only this tenant's EventBridge rules and CloudWatch alarms (the DDoS alarms) publish; nobody without TLS."""
    _, _, _, region, account, _ = topic_arn.split(":", 5)
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "TenantAlarmsPublish",
                "Effect": "Allow",
                "Principal": {"Service": "cloudwatch.amazonaws.com"},
                "Action": "sns:Publish",
                "Resource": topic_arn,
                "Condition": {
                    "ArnLike": {
                        "aws:SourceArn": f"arn:aws:cloudwatch:{region}:{account}:alarm:{alarm_prefix}*"
                    },
                    "StringEquals": {"aws:SourceAccount": account},
                },
            },
            {
                "Sid": "TenantFindingRulesPublish",
                "Effect": "Allow",
                "Principal": {"Service": "events.amazonaws.com"},
                "Action": "sns:Publish",
                "Resource": topic_arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": rule_arns}},
            },
            {
                "Sid": "DenyPublishWithoutTls",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "sns:Publish",
                "Resource": topic_arn,
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            },
        ],
    }


def cloudtrail_to_logs_policy(log_group_arn: str) -> dict[str, Any]:
    """CloudTrail may write its events into its own log group and nowhere else."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "WriteTrailEventsToItsLogGroup",
                "Effect": "Allow",
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": f"{log_group_arn}:log-stream:*",
            }
        ],
    }


def config_delivery_policy(bucket_arn: str, account_id: str, key_arn: str) -> dict[str, Any]:
    """AWS Config may deliver snapshots into this account's prefix of the archive, encrypted with the logs key."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DeliverSnapshots",
                "Effect": "Allow",
                "Action": "s3:PutObject",
                "Resource": f"{bucket_arn}/AWSLogs/{account_id}/Config/*",
                "Condition": {"StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control"}},
            },
            {"Sid": "CheckBucket", "Effect": "Allow", "Action": "s3:GetBucketAcl", "Resource": bucket_arn},
            {
                "Sid": "EncryptWithTheLogsKey",
                "Effect": "Allow",
                "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
                "Resource": key_arn,
            },
        ],
    }


class AuditTrail(pulumi.ComponentResource):
    """The tenant's audit services and the topic its serious findings are published to (`alert_topic`)."""

    trail: aws.cloudtrail.Trail
    detector: aws.guardduty.Detector
    security_hub: aws.securityhub.Account
    recorder: aws.cfg.Recorder
    alert_topic: aws.sns.Topic

    def __init__(self, name: str, args: AuditTrailArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("secure-tenant:audit:AuditTrail", name, None, opts)
        self._args = args
        self._account_id = aws.get_caller_identity_output(
            opts=pulumi.InvokeOutputOptions(parent=self)
        ).account_id
        self.trail = self._cloudtrail()
        self.detector = self._guardduty()
        self.security_hub = self._security_hub()
        self.recorder = self._config()
        self.alert_topic = self._alerts()
        self.register_outputs(
            {
                "trailArn": self.trail.arn,
                "detectorId": self.detector.id,
                "alertTopicArn": self.alert_topic.arn,
            }
        )

    def _cloudtrail(self) -> aws.cloudtrail.Trail:
        args, naming = self._args, self._args.naming
        log_group = encrypted_log_group(
            naming.name("cloudtrail-logs"),
            log_group_name=f"/{naming.prefix}/cloudtrail",
            kms_key_arn=args.logs_key_arn,
            retention_days=args.log_retention_days,
            parent=self,
        )
        role = aws.iam.Role(
            naming.name("cloudtrail-to-logs"),
            # CloudTrail cannot be narrowed by aws:SourceArn here (AWS docs: not supported for this role).
            assume_role_policy=assume_role_policy("cloudtrail.amazonaws.com"),
            opts=pulumi.ResourceOptions(parent=self),
        )
        role_policy = aws.iam.RolePolicy(
            naming.name("cloudtrail-to-logs-access"),
            role=role.id,
            policy=log_group.arn.apply(lambda arn: json.dumps(cloudtrail_to_logs_policy(arn))),
            opts=pulumi.ResourceOptions(parent=role),
        )
        return aws.cloudtrail.Trail(
            naming.name("trail"),
            name=args.trail_name,
            s3_bucket_name=args.archive_bucket_name,
            is_multi_region_trail=True,
            include_global_service_events=True,
            enable_log_file_validation=True,
            enable_logging=True,
            kms_key_id=args.logs_key_arn,
            cloud_watch_logs_group_arn=log_group.arn.apply(lambda arn: f"{arn}:*"),
            cloud_watch_logs_role_arn=role.arn,
            advanced_event_selectors=pulumi.Output.all(*args.data_event_bucket_arns).apply(event_selectors),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*args.archive_ready, role_policy]),
        )

    def _guardduty(self) -> aws.guardduty.Detector:
        naming = self._args.naming
        detector = aws.guardduty.Detector(
            naming.name("guardduty"),
            enable=True,
            finding_publishing_frequency="FIFTEEN_MINUTES",
            opts=pulumi.ResourceOptions(parent=self),
        )
        child = pulumi.ResourceOptions(parent=detector)
        for feature in GUARDDUTY_FEATURES:
            aws.guardduty.DetectorFeature(
                naming.name(f"guardduty-{feature.lower().replace('_', '-')}"),
                detector_id=detector.id,
                name=feature,
                status="ENABLED",
                opts=child,
            )
        if self._args.runtime_monitoring:
            aws.guardduty.DetectorFeature(
                naming.name("guardduty-runtime-monitoring"),
                detector_id=detector.id,
                name=GUARDDUTY_RUNTIME_MONITORING,
                status="ENABLED",
                # GuardDuty installs and updates its agent on the instances itself (through SSM).
                additional_configurations=[
                    aws.guardduty.DetectorFeatureAdditionalConfigurationArgs(
                        name="EC2_AGENT_MANAGEMENT", status="ENABLED"
                    )
                ],
                opts=child,
            )
        return detector

    def _security_hub(self) -> aws.securityhub.Account:
        args, naming = self._args, self._args.naming
        hub = aws.securityhub.Account(
            naming.name("security-hub"),
            # Standards are subscribed explicitly below, so the set is reviewable and does not drift.
            enable_default_standards=False,
            control_finding_generator="SECURITY_CONTROL",
            auto_enable_controls=True,
            opts=pulumi.ResourceOptions(parent=self),
        )
        for short_name, standard in SECURITY_HUB_STANDARDS.items():
            aws.securityhub.StandardsSubscription(
                naming.name(f"security-hub-{short_name}"),
                standards_arn=f"arn:aws:securityhub:{args.region}::standards/{standard}",
                opts=pulumi.ResourceOptions(parent=hub, depends_on=[hub]),
            )
        return hub

    def _config(self) -> aws.cfg.Recorder:
        args, naming = self._args, self._args.naming
        role = aws.iam.Role(
            naming.name("config"),
            assume_role_policy=self._account_id.apply(
                lambda account: assume_role_policy(
                    "config.amazonaws.com", {"StringEquals": {"aws:SourceAccount": account}}
                )
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        role_child = pulumi.ResourceOptions(parent=role)
        aws.iam.RolePolicyAttachment(
            naming.name("config-read"), role=role.name, policy_arn=CONFIG_ROLE_POLICY, opts=role_child
        )
        delivery_policy = aws.iam.RolePolicy(
            naming.name("config-delivery-access"),
            role=role.id,
            policy=pulumi.Output.all(args.archive_bucket_arn, self._account_id, args.logs_key_arn).apply(
                lambda values: json.dumps(config_delivery_policy(values[0], values[1], values[2]))
            ),
            opts=role_child,
        )
        recorder = aws.cfg.Recorder(
            naming.name("config-recorder"),
            name=naming.name("config-recorder"),
            role_arn=role.arn,
            recording_group=aws.cfg.RecorderRecordingGroupArgs(
                all_supported=True, include_global_resource_types=True
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        channel = aws.cfg.DeliveryChannel(
            naming.name("config-delivery"),
            name=naming.name("config-delivery"),
            s3_bucket_name=args.archive_bucket_name,
            s3_kms_key_arn=args.logs_key_arn,
            snapshot_delivery_properties=aws.cfg.DeliveryChannelSnapshotDeliveryPropertiesArgs(
                delivery_frequency="TwentyFour_Hours"
            ),
            opts=pulumi.ResourceOptions(
                parent=recorder, depends_on=[recorder, delivery_policy, *args.archive_ready]
            ),
        )
        aws.cfg.RecorderStatus(
            naming.name("config-recorder-status"),
            name=recorder.name,
            is_enabled=True,
            opts=pulumi.ResourceOptions(parent=recorder, depends_on=[channel]),
        )
        for identifier, (control, parameters) in CONFIG_RULES.items():
            aws.cfg.Rule(
                naming.name(identifier.lower().replace("_", "-")),
                name=naming.name(identifier.lower().replace("_", "-")),
                source=aws.cfg.RuleSourceArgs(owner="AWS", source_identifier=identifier),
                input_parameters=json.dumps(parameters) if parameters else None,
                tags={"control": control},
                opts=pulumi.ResourceOptions(parent=recorder, depends_on=[recorder]),
            )
        return recorder

    def _alerts(self) -> aws.sns.Topic:
        args, naming = self._args, self._args.naming
        topic = aws.sns.Topic(
            naming.name("security-alerts"),
            name=naming.name("security-alerts"),
            kms_master_key_id=args.logs_key_arn,
            opts=pulumi.ResourceOptions(parent=self),
        )
        child = pulumi.ResourceOptions(parent=topic)
        findings = {
            "guardduty-findings": (
                f"GuardDuty findings of severity {GUARDDUTY_MIN_ALERT_SEVERITY} or more",
                guardduty_alert_pattern(),
            ),
            "security-hub-findings": (
                f"Security Hub findings rated {' or '.join(SECURITY_HUB_ALERT_LABELS)}",
                security_hub_alert_pattern(),
            ),
        }
        rules = {
            purpose: aws.cloudwatch.EventRule(
                naming.name(purpose),
                name=naming.name(purpose),
                description=description,
                event_pattern=json.dumps(pattern),
                opts=child,
            )
            for purpose, (description, pattern) in findings.items()
        }
        topic_policy = aws.sns.TopicPolicy(
            naming.name("security-alerts-policy"),
            arn=topic.arn,
            policy=pulumi.Output.all(topic.arn, *[rule.arn for rule in rules.values()]).apply(
                lambda arns: json.dumps(alert_topic_policy(arns[0], list(arns[1:]), f"{naming.prefix}-"))
            ),
            opts=child,
        )
        for purpose, rule in rules.items():
            aws.cloudwatch.EventTarget(
                naming.name(f"{purpose}-to-alerts"),
                rule=rule.name,
                arn=topic.arn,
                # Publishing fails until the topic policy lets EventBridge in.
                opts=pulumi.ResourceOptions(parent=rule, depends_on=[topic_policy]),
            )
        for position, email in enumerate(args.alert_emails):
            aws.sns.TopicSubscription(
                naming.name(f"security-alerts-email-{position}"),
                topic=topic.arn,
                protocol="email",
                endpoint=email,
                opts=child,
            )
        return topic
