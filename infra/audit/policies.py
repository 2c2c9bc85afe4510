"""AuditTrail's policies: CloudTrail, GuardDuty, AWS Config and Security Hub on; trails, topics and log groups
encrypted with a key of this stack; log groups keep 12 full months."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from infra.baseline import (
    MIN_LOG_RETENTION_DAYS,
)
from infra.keys.policies import encryption_policy, prop_key
from infra.policy_registry import resource_policy, stack_policy
from infra.policy_view import LOG_GROUP, RECORDER, TRAIL, StackView, dig, to_number

log_groups_encrypted = encryption_policy(
    "log-groups-encrypted-with-stack-key",
    "Every log group is encrypted with a key of this stack.",
    (LOG_GROUP,),
    prop_key("kmsKeyId"),
)


sns_topics_encrypted = encryption_policy(
    "sns-topics-encrypted-with-stack-key",
    "Every SNS topic is encrypted with a key of this stack.",
    ("aws:sns/topic:Topic",),
    prop_key("kmsMasterKeyId"),
)


cloudtrail_encrypted = encryption_policy(
    "cloudtrail-encrypted-with-stack-key",
    "Every CloudTrail trail encrypts its log files with a key of this stack.",
    (TRAIL,),
    prop_key("kmsKeyId"),
)


# --- audit: trails, detectors, recorders ------------------------------------------------------------------------


@resource_policy("cloudtrail-validated", "LOG-01")
def cloudtrail_validated(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    """CloudTrail trails log, in every region, global services too, with log file validation."""
    if resource_type != TRAIL:
        return []
    wanted = {"enableLogFileValidation": True, "isMultiRegionTrail": True}
    problems = [f"{key} is not {value}" for key, value in wanted.items() if props.get(key) is not value]
    for key in ("enableLogging", "includeGlobalServiceEvents"):  # both default to true
        if props.get(key) is False:
            problems.append(f"{key} is off")
    return problems


@stack_policy("cloudtrail-enabled", "LOG-01")
def cloudtrail_enabled(stack: StackView) -> list[str]:
    """The stack has a multi-region trail (no trail at all is no audit)."""
    trails = [t for t in stack.of(TRAIL) if t.props.get("isMultiRegionTrail") is True]
    return [] if trails else ["no multi-region CloudTrail trail in the stack"]


@stack_policy("guardduty-enabled", "LOG-01")
def guardduty_enabled(stack: StackView) -> list[str]:
    """GuardDuty is on, with S3 data events and EBS malware protection; no declared feature is disabled."""
    detectors = [d for d in stack.of("aws:guardduty/detector:Detector") if d.props.get("enable") is not False]
    if not detectors:
        return ["no enabled GuardDuty detector in the stack"]
    features = [
        f
        for f in stack.of("aws:guardduty/detectorFeature:DetectorFeature")
        if any(stack.refers(f, "detectorId", d) for d in detectors)
    ]
    problems = [
        f"GuardDuty feature {f.props.get('name')} is {f.props.get('status')}"
        for f in features
        if f.props.get("status") != "ENABLED"
    ]
    enabled = {f.props.get("name") for f in features if f.props.get("status") == "ENABLED"}
    problems += [
        f"GuardDuty feature {name} is not enabled"
        for name in ("S3_DATA_EVENTS", "EBS_MALWARE_PROTECTION")
        if name not in enabled
    ]
    return problems


@stack_policy("config-recorder-on", "LOG-01")
def config_recorder_on(stack: StackView) -> list[str]:
    """AWS Config records every supported resource type, is switched on and delivers its snapshots."""
    recorders = stack.of(RECORDER)
    if not recorders:
        return ["no AWS Config recorder in the stack"]
    problems = []
    statuses = stack.of("aws:cfg/recorderStatus:RecorderStatus")
    for recorder in recorders:
        if dig(recorder.props, "recordingGroup", "allSupported") is False:
            problems.append(f"recorder {recorder.name} records only some resource types")
        if not any(stack.refers(s, "name", recorder) and s.props.get("isEnabled") is True for s in statuses):
            problems.append(f"recorder {recorder.name} is not switched on (no enabled recorder status)")
    if not stack.of("aws:cfg/deliveryChannel:DeliveryChannel"):
        problems.append("AWS Config has no delivery channel")
    return problems


@stack_policy("security-hub-enabled", "LOG-01")
def security_hub_enabled(stack: StackView) -> list[str]:
    """Security Hub is on with at least one standard subscribed."""
    if not stack.of("aws:securityhub/account:Account"):
        return ["Security Hub is not enabled in the stack"]
    if not stack.of("aws:securityhub/standardsSubscription:StandardsSubscription"):
        return ["Security Hub runs no standard"]
    return []


@resource_policy("log-retention-12-months", "LOG-02")
def log_retention(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    """Log groups keep logs at least 400 days (12 full months); never-expiring is kept too."""
    if resource_type == LOG_GROUP:
        days = props.get("retentionInDays")
        if days is None or days == 0:  # CloudWatch keeps such logs forever
            return []
        if to_number(days, "retentionInDays") < MIN_LOG_RETENTION_DAYS:
            return [f"retention {days} days is below {MIN_LOG_RETENTION_DAYS}"]
    return []
