"""EdgeProtection (ALB, certificate, WAF, Shield Advanced), evaluated through the real program under mocks."""

from __future__ import annotations

import json
from fnmatch import fnmatchcase
from typing import Any

import pytest

from infra.baseline import ALB_TLS_POLICIES
from infra.config import ConfigError, parse_config
from infra.edge.component import MANAGED_RULE_GROUPS
from infra.fakes import MOCK_ACCOUNT_ID
from review.offline import DeclaredResource, StackSnapshot, evaluate_stack
from tests.stacks import VALID, config_error, evaluate_waived, prefix

PREPROD_DOMAIN = "app.preprod.acme.example.com"
# Policies AWS offers that negotiate TLS 1.0 or 1.1, or (Ext) weaken the TLS 1.2 cipher list.
WEAK_TLS_POLICIES = [
    "ELBSecurityPolicy-2016-08",
    "ELBSecurityPolicy-TLS-1-1-2017-01",
    "ELBSecurityPolicy-FS-1-1-2019-08",
    "ELBSecurityPolicy-TLS13-1-0-2021-06",
    "ELBSecurityPolicy-TLS13-1-1-2021-06",
    "ELBSecurityPolicy-TLS13-1-2-Ext2-2021-06",
    "ELBSecurityPolicy-TLS-1-2-Ext-2018-06",
]


@pytest.fixture(scope="module")
def configured_stack() -> StackSnapshot:
    """preprod with every edge setting changed from its default."""
    edge = {
        "domainName": PREPROD_DOMAIN,
        "allowedCountries": ["DE", "AT"],
        "rateLimit": 500,
        "appPort": 8443,
        "healthCheckPath": "/healthz",
        "tlsPolicy": "ELBSecurityPolicy-TLS13-1-3-2021-06",
        "hostedZoneId": "Z0123456789ABCDEFGHIJ",
        "shieldAdvanced": True,
    }
    return evaluate_stack("acme-preprod", {"secure-tenant:edge": edge})


def one(stack: StackSnapshot, resource_type: str) -> DeclaredResource:
    (resource,) = stack.of_type(resource_type)
    return resource


def by_arn(stack: StackSnapshot, arn: str) -> DeclaredResource:
    (resource,) = [r for r in stack.resources if r.custom and r.outputs.get("arn") == arn]
    return resource


def alb_security_group(stack: StackSnapshot) -> DeclaredResource:
    (group_id,) = one(stack, "aws:lb/loadBalancer:LoadBalancer").inputs["securityGroups"]
    (group,) = [
        g for g in stack.of_type("aws:ec2/securityGroup:SecurityGroup") if g.outputs["id"] == group_id
    ]
    return group


def waf_rules(stack: StackSnapshot) -> list[dict[str, Any]]:
    return list(one(stack, "aws:wafv2/webAcl:WebAcl").inputs["rules"])


# --- the load balancer ----------------------------------------------------------------------------------------


def test_alb_is_internet_facing_in_the_public_subnet_of_every_zone(example_stack: StackSnapshot) -> None:
    alb = one(example_stack, "aws:lb/loadBalancer:LoadBalancer")
    public = {
        example_stack.named(f"{prefix(example_stack)}-public-{zone[-1]}").outputs["id"]
        for zone in example_stack.outputs["zones"]
    }
    assert alb.inputs["loadBalancerType"] == "application"
    assert alb.inputs["internal"] is False
    assert set(alb.inputs["subnets"]) == public and len(alb.inputs["subnets"]) == len(public)


def test_alb_has_deletion_protection_and_drops_invalid_headers(example_stack: StackSnapshot) -> None:
    alb = one(example_stack, "aws:lb/loadBalancer:LoadBalancer")
    assert alb.inputs["enableDeletionProtection"] is True
    assert alb.inputs["dropInvalidHeaderFields"] is True


def test_alb_security_group_admits_only_web_ports_and_sends_only_to_the_private_app_port(
    example_stack: StackSnapshot,
) -> None:
    group = alb_security_group(example_stack)
    ingress = {
        (r["protocol"], r["fromPort"], r["toPort"], tuple(r["cidrBlocks"])) for r in group.inputs["ingress"]
    }
    assert ingress == {("tcp", 443, 443, ("0.0.0.0/0",)), ("tcp", 80, 80, ("0.0.0.0/0",))}
    private = {
        example_stack.named(f"{prefix(example_stack)}-private-{zone[-1]}").inputs["cidrBlock"]
        for zone in example_stack.outputs["zones"]
    }
    (egress,) = group.inputs["egress"]
    assert (egress["protocol"], egress["fromPort"], egress["toPort"]) == ("tcp", 443, 443)
    assert set(egress["cidrBlocks"]) == private


def test_https_listener_uses_the_tls13_policy_and_the_issued_certificate(
    example_stack: StackSnapshot,
) -> None:
    (https,) = [
        listener
        for listener in example_stack.of_type("aws:lb/listener:Listener")
        if listener.inputs["protocol"] == "HTTPS"
    ]
    alb = one(example_stack, "aws:lb/loadBalancer:LoadBalancer")
    validation = one(example_stack, "aws:acm/certificateValidation:CertificateValidation")
    certificate = one(example_stack, "aws:acm/certificate:Certificate")
    assert https.inputs["loadBalancerArn"] == alb.outputs["arn"]
    assert https.inputs["port"] == 443
    assert https.inputs["sslPolicy"] == "ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-09"
    # The listener takes the ARN from the validation, so it waits until the certificate is issued.
    assert (
        https.inputs["certificateArn"] == validation.outputs["certificateArn"] == certificate.outputs["arn"]
    )
    assert "certificateArn" in https.property_dependencies
    assert validation.urn in https.property_dependencies["certificateArn"]
    (forward,) = https.inputs["defaultActions"]
    target_group = one(example_stack, "aws:lb/targetGroup:TargetGroup")
    assert forward == {"type": "forward", "targetGroupArn": target_group.outputs["arn"]}


def test_http_listener_only_redirects_to_https_permanently(example_stack: StackSnapshot) -> None:
    (http,) = [
        listener
        for listener in example_stack.of_type("aws:lb/listener:Listener")
        if listener.inputs["protocol"] == "HTTP"
    ]
    assert http.inputs["port"] == 80
    assert http.inputs["defaultActions"] == [
        {"type": "redirect", "redirect": {"protocol": "HTTPS", "port": "443", "statusCode": "HTTP_301"}}
    ]


def test_only_two_listeners_exist(example_stack: StackSnapshot) -> None:
    ports = sorted(listener.inputs["port"] for listener in example_stack.of_type("aws:lb/listener:Listener"))
    assert ports == [80, 443]


def test_target_group_reaches_the_app_over_https_with_a_health_check(example_stack: StackSnapshot) -> None:
    target_group = one(example_stack, "aws:lb/targetGroup:TargetGroup")
    assert target_group.inputs["protocol"] == "HTTPS"
    assert target_group.inputs["port"] == 443
    assert target_group.inputs["vpcId"] == example_stack.outputs["vpcId"]
    health = target_group.inputs["healthCheck"]
    assert health["enabled"] is True and health["protocol"] == "HTTPS" and health["path"] == "/"


def test_app_port_and_health_path_come_from_config(configured_stack: StackSnapshot) -> None:
    stack = configured_stack
    target_group = one(stack, "aws:lb/targetGroup:TargetGroup")
    assert target_group.inputs["port"] == 8443 and target_group.inputs["healthCheck"]["path"] == "/healthz"
    (egress,) = alb_security_group(stack).inputs["egress"]
    assert egress["fromPort"] == egress["toPort"] == 8443


def test_certificate_is_rsa_2048_dns_validated_for_the_configured_domain(
    example_stack: StackSnapshot,
) -> None:
    certificate = one(example_stack, "aws:acm/certificate:Certificate")
    assert certificate.inputs["domainName"] == example_stack.outputs["applicationDomain"]
    assert certificate.inputs["keyAlgorithm"] == "RSA_2048"
    assert certificate.inputs["validationMethod"] == "DNS"


def test_without_a_route53_zone_the_validation_records_are_a_stack_output(
    example_stack: StackSnapshot,
) -> None:
    certificate = one(example_stack, "aws:acm/certificate:Certificate")
    (option,) = certificate.outputs["domainValidationOptions"]
    assert example_stack.outputs["certificateValidationRecords"] == [
        {
            "name": option["resourceRecordName"],
            "type": option["resourceRecordType"],
            "value": option["resourceRecordValue"],
        }
    ]
    assert not example_stack.of_type("aws:route53/record:Record")


def test_with_a_route53_zone_the_certificate_is_validated_and_the_domain_points_at_the_alb(
    configured_stack: StackSnapshot,
) -> None:
    records = {r.inputs["type"]: r for r in configured_stack.of_type("aws:route53/record:Record")}
    certificate = one(configured_stack, "aws:acm/certificate:Certificate")
    (option,) = certificate.outputs["domainValidationOptions"]
    validation = one(configured_stack, "aws:acm/certificateValidation:CertificateValidation")
    alb = one(configured_stack, "aws:lb/loadBalancer:LoadBalancer")
    assert set(records) == {"CNAME", "A"}
    assert all(r.inputs["zoneId"] == "Z0123456789ABCDEFGHIJ" for r in records.values())
    assert records["CNAME"].inputs["name"] == option["resourceRecordName"]
    assert records["CNAME"].inputs["records"] == [option["resourceRecordValue"]]
    assert validation.inputs["validationRecordFqdns"] == [records["CNAME"].outputs["fqdn"]]
    assert records["A"].inputs["name"] == PREPROD_DOMAIN
    assert records["A"].inputs["aliases"] == [
        {"name": alb.outputs["dnsName"], "zoneId": alb.outputs["zoneId"], "evaluateTargetHealth": True}
    ]
    assert "certificateValidationRecords" not in configured_stack.outputs


# --- TLS policy: only TLS 1.3/1.2 can be configured ----------------------------------------------------------


@pytest.mark.parametrize("policy", WEAK_TLS_POLICIES)
def test_a_listener_policy_allowing_old_tls_or_weak_ciphers_is_refused_naming_the_key(policy: str) -> None:
    message = config_error(edge={"domainName": PREPROD_DOMAIN, "tlsPolicy": policy})
    assert "secure-tenant:edge.tlsPolicy" in message
    assert policy in message and "ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-09" in message


def test_every_allowed_policy_negotiates_tls_1_2_or_1_3_only_without_extended_ciphers() -> None:
    for policy in ALB_TLS_POLICIES:
        assert policy.startswith(("ELBSecurityPolicy-TLS13-1-2-", "ELBSecurityPolicy-TLS13-1-3-")), policy
        assert "-Ext" not in policy, policy
        assert parse_config({**VALID, "edge": {"tlsPolicy": policy}}).edge.tls_policy == policy


def test_a_stricter_policy_from_config_reaches_the_listener(configured_stack: StackSnapshot) -> None:
    policies = [
        listener.inputs.get("sslPolicy") for listener in configured_stack.of_type("aws:lb/listener:Listener")
    ]
    assert sorted(policies, key=str) == ["ELBSecurityPolicy-TLS13-1-3-2021-06", None]


@pytest.mark.parametrize(
    ("edge", "key", "hint"),
    [
        ({"domainName": "App.Example.com"}, "edge.domainName", "lowercase DNS name"),
        ({"hostedZoneId": "Z0123456789ABCDEFGHIJ"}, "edge.hostedZoneId", "set the domain"),
        ({"allowedCountries": ["Germany"]}, "edge.allowedCountries", "ISO 3166-1 alpha-2"),
        ({"allowedCountries": ["DE", "DE"]}, "edge.allowedCountries", "listed twice"),
        ({"rateLimit": 5}, "edge.rateLimit", "greater than or equal to 10"),
        ({"healthCheckPath": "health"}, "edge.healthCheckPath", "start it with /"),
    ],
)
def test_bad_edge_settings_are_refused_naming_the_key(edge: dict[str, Any], key: str, hint: str) -> None:
    message = config_error(edge=edge)
    assert f"secure-tenant:{key}" in message and hint in message


# --- WAF ------------------------------------------------------------------------------------------------------


def test_regional_web_acl_is_associated_with_the_alb(example_stack: StackSnapshot) -> None:
    web_acl = one(example_stack, "aws:wafv2/webAcl:WebAcl")
    association = one(example_stack, "aws:wafv2/webAclAssociation:WebAclAssociation")
    alb = one(example_stack, "aws:lb/loadBalancer:LoadBalancer")
    assert web_acl.inputs["scope"] == "REGIONAL"
    assert web_acl.inputs["defaultAction"] == {"allow": {}}
    assert association.inputs["webAclArn"] == web_acl.outputs["arn"]
    assert association.inputs["resourceArn"] == alb.outputs["arn"]


def test_aws_managed_rule_groups_apply_with_their_own_block_actions(example_stack: StackSnapshot) -> None:
    groups = {
        rule["statement"]["managedRuleGroupStatement"]["name"]: rule
        for rule in waf_rules(example_stack)
        if "managedRuleGroupStatement" in rule["statement"]
    }
    assert set(groups) == {
        "AWSManagedRulesCommonRuleSet",
        "AWSManagedRulesKnownBadInputsRuleSet",
        "AWSManagedRulesSQLiRuleSet",
        "AWSManagedRulesLinuxRuleSet",
        "AWSManagedRulesAmazonIpReputationList",
        "AWSManagedRulesAnonymousIpList",
    }
    assert set(groups) == set(MANAGED_RULE_GROUPS)
    for rule in groups.values():
        assert rule["statement"]["managedRuleGroupStatement"]["vendorName"] == "AWS"
        # "none" keeps the group's block actions; "count" would only watch.
        assert rule["overrideAction"] == {"none": {}}


def test_web_acl_rule_priorities_and_names_are_unique(
    example_stack: StackSnapshot, configured_stack: StackSnapshot
) -> None:
    for stack in (example_stack, configured_stack):
        rules = waf_rules(stack)
        priorities = [rule["priority"] for rule in rules]
        names = [rule["name"] for rule in rules]
        assert len(set(priorities)) == len(priorities) == len(rules)
        assert len(set(names)) == len(names)


def test_source_reputation_and_rate_limit_come_before_request_inspection(
    example_stack: StackSnapshot,
) -> None:
    ordered = [rule["name"] for rule in sorted(waf_rules(example_stack), key=lambda rule: rule["priority"])]
    assert ordered.index("rate-limit-per-source-ip") < ordered.index("AWSManagedRulesCommonRuleSet")
    assert ordered.index("AWSManagedRulesAmazonIpReputationList") < ordered.index("rate-limit-per-source-ip")


def test_rate_based_rule_blocks_per_source_ip_at_the_configured_limit(
    example_stack: StackSnapshot, configured_stack: StackSnapshot
) -> None:
    for stack, limit in ((example_stack, 2000), (configured_stack, 500)):
        (rule,) = [rule for rule in waf_rules(stack) if "rateBasedStatement" in rule["statement"]]
        assert rule["action"] == {"block": {}}
        assert rule["statement"]["rateBasedStatement"]["aggregateKeyType"] == "IP"
        assert rule["statement"]["rateBasedStatement"]["limit"] == limit


def test_geo_allow_list_blocks_every_other_country_and_comes_first(configured_stack: StackSnapshot) -> None:
    first = min(waf_rules(configured_stack), key=lambda rule: rule["priority"])
    assert first["action"] == {"block": {}}
    negated = first["statement"]["notStatement"]["statement"]
    assert negated["geoMatchStatement"]["countryCodes"] == ["DE", "AT"]


def test_no_geo_rule_without_an_allow_list(example_stack: StackSnapshot) -> None:
    assert not any("notStatement" in rule["statement"] for rule in waf_rules(example_stack))


def test_metrics_and_sampled_requests_are_on_for_the_acl_and_every_rule(example_stack: StackSnapshot) -> None:
    web_acl = one(example_stack, "aws:wafv2/webAcl:WebAcl")
    for visibility in [
        web_acl.inputs["visibilityConfig"],
        *(r["visibilityConfig"] for r in waf_rules(example_stack)),
    ]:
        assert visibility["cloudwatchMetricsEnabled"] is True
        assert visibility["sampledRequestsEnabled"] is True
        assert visibility["metricName"]


def test_waf_logs_go_to_a_tenant_key_encrypted_group_kept_twelve_months_without_credentials(
    example_stack: StackSnapshot,
) -> None:
    logging = one(example_stack, "aws:wafv2/webAclLoggingConfiguration:WebAclLoggingConfiguration")
    web_acl = one(example_stack, "aws:wafv2/webAcl:WebAcl")
    assert logging.inputs["resourceArn"] == web_acl.outputs["arn"]
    (destination,) = logging.inputs["logDestinationConfigs"]
    group = by_arn(example_stack, destination)
    assert group.inputs["name"] == f"aws-waf-logs-{prefix(example_stack)}"
    assert group.inputs["retentionInDays"] >= 400
    assert group.inputs["kmsKeyId"] == example_stack.named(f"{prefix(example_stack)}-logs-key").outputs["arn"]
    redacted = {field["singleHeader"]["name"] for field in logging.inputs["redactedFields"]}
    assert redacted == {"authorization", "cookie"}


def test_the_logs_key_admits_the_waf_log_group(example_stack: StackSnapshot) -> None:
    policy = json.loads(example_stack.named(f"{prefix(example_stack)}-logs-key").inputs["policy"])
    (logs,) = [s for s in policy["Statement"] if s["Principal"].get("Service", "").startswith("logs.")]
    patterns = logs["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"]
    region = example_stack.outputs["region"]
    group = f"arn:aws:logs:{region}:{MOCK_ACCOUNT_ID}:log-group:aws-waf-logs-{prefix(example_stack)}"
    assert any(fnmatchcase(group, pattern) for pattern in patterns)


# --- Shield Advanced ------------------------------------------------------------------------------------------


def shielded_arns(stack: StackSnapshot) -> set[str]:
    return {p.inputs["resourceArn"] for p in stack.of_type("aws:shield/protection:Protection")}


def bastion_eip_arns(stack: StackSnapshot) -> set[str]:
    eips = [e for e in stack.of_type("aws:ec2/eip:Eip") if "-bastion-ip-" in e.name]
    return {
        f"arn:aws:ec2:{stack.outputs['region']}:{MOCK_ACCOUNT_ID}:eip-allocation/{eip.outputs['id']}"
        for eip in eips
    }


def test_prod_shields_the_alb_and_the_bastion_elastic_ip(prod_stack: StackSnapshot) -> None:
    alb = one(prod_stack, "aws:lb/loadBalancer:LoadBalancer")
    assert prod_stack.outputs["shieldAdvanced"] is True
    assert bastion_eip_arns(prod_stack)
    assert shielded_arns(prod_stack) == {alb.outputs["arn"], *bastion_eip_arns(prod_stack)}


def test_prod_protection_group_holds_every_protected_resource(prod_stack: StackSnapshot) -> None:
    group = one(prod_stack, "aws:shield/protectionGroup:ProtectionGroup")
    assert group.inputs["pattern"] == "ARBITRARY"
    assert group.inputs["protectionGroupId"] == prefix(prod_stack)
    assert set(group.inputs["members"]) == shielded_arns(prod_stack)
    assert len(group.inputs["members"]) == len(shielded_arns(prod_stack))


def test_prod_alarms_on_a_detected_ddos_of_each_protected_resource(prod_stack: StackSnapshot) -> None:
    alarms = prod_stack.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
    ddos = [a for a in alarms if a.inputs.get("namespace") == "AWS/DDoSProtection"]
    assert {a.inputs["dimensions"]["ResourceArn"] for a in ddos} == shielded_arns(prod_stack)
    assert len(ddos) == len(shielded_arns(prod_stack))
    for alarm in ddos:
        assert alarm.inputs["metricName"] == "DDoSDetected"
        assert alarm.inputs["comparisonOperator"] == "GreaterThanOrEqualToThreshold"
        assert alarm.inputs["threshold"] == 1
        (action,) = alarm.inputs["alarmActions"]
        assert action.startswith("arn:aws:sns:") and alarm.inputs["okActions"] == [action]


def test_preprod_has_no_shield_advanced_by_default_and_says_so(preprod_stack: StackSnapshot) -> None:
    assert preprod_stack.outputs["shieldAdvanced"] is False
    assert not preprod_stack.of_type("aws:shield/protection:Protection")
    assert not preprod_stack.of_type("aws:shield/protectionGroup:ProtectionGroup")


def test_preprod_can_turn_shield_advanced_on(configured_stack: StackSnapshot) -> None:
    stack = configured_stack
    alb = one(stack, "aws:lb/loadBalancer:LoadBalancer")
    assert stack.outputs["shieldAdvanced"] is True
    assert shielded_arns(stack) == {alb.outputs["arn"], *bastion_eip_arns(stack)}


def test_prod_without_shield_advanced_needs_a_named_exception() -> None:
    edge = {"domainName": "app.acme.example.com", "shieldAdvanced": False}
    with pytest.raises(ConfigError, match=r"waive noShieldAdvanced \(control EDGE-02\) for prod"):
        evaluate_stack("acme-prod", {"secure-tenant:edge": edge})
    stack = evaluate_waived(
        "acme-prod",
        {"secure-tenant:edge": edge},
        {"noShieldAdvanced": "covered by the CDN's own DDoS service"},
    )
    assert stack.outputs["shieldAdvanced"] is False
    assert not stack.of_type("aws:shield/protection:Protection")


# --- a tenant without a web application ----------------------------------------------------------------------


def test_without_a_domain_there_is_no_web_edge_but_the_bastion_is_still_shielded() -> None:
    stack = evaluate_stack("acme-prod", {"secure-tenant:edge": {}})
    assert not stack.of_type("aws:lb/loadBalancer:LoadBalancer")
    assert not stack.of_type("aws:wafv2/webAcl:WebAcl")
    assert stack.outputs["applicationDomain"] is None
    assert shielded_arns(stack) == bastion_eip_arns(stack)


# --- ALB access logs ------------------------------------------------------------------------------------------


def test_the_albs_log_their_access_into_the_access_log_bucket_once_its_policy_admits_elb(
    example_stack: StackSnapshot,
) -> None:
    stack = example_stack
    alb = one(stack, "aws:lb/loadBalancer:LoadBalancer")
    (bucket,) = [
        b
        for b in stack.of_type("aws:s3/bucket:Bucket")
        if b.outputs["bucket"] == stack.outputs["loadBalancerAccessLogBucket"]
    ]
    (policy,) = [
        p
        for p in stack.of_type("aws:s3/bucketPolicy:BucketPolicy")
        if p.inputs["bucket"] == bucket.outputs["id"]
    ]
    assert alb.inputs["accessLogs"] == {"bucket": policy.outputs["bucket"], "enabled": True}
    assert policy.urn in alb.property_dependencies["accessLogs"]
