"""The tenant stack: one component per concern, wired together. `__main__.py` only calls `build_tenant`."""

from __future__ import annotations

import pulumi

from infra.audit import AuditTrail, AuditTrailArgs
from infra.backups import Backups, BackupsArgs
from infra.config import TenantConfig
from infra.firewall import FirewallZone, ZoneFirewall, ZoneFirewallArgs
from infra.keys import TenantKeys, TenantKeysArgs
from infra.log_archive import LogArchive, LogArchiveArgs
from infra.naming import Naming
from infra.network import TenantNetwork, TenantNetworkArgs
from infra.suricata import firewall_rules


def build_tenant(config: TenantConfig) -> None:
    """Declare every resource of one tenant environment and export what Ansible and reviewers need."""
    naming = Naming.for_tenant(config)
    naming.register_tagging()

    # The trail's name is needed before the trail exists: the logs key and the archive grant it by ARN.
    trail_name = naming.name("trail")
    keys = TenantKeys(
        naming.name("keys"),
        TenantKeysArgs(
            naming=naming,
            region=config.region,
            trail_name=trail_name,
            admin_role_arns=config.keys.admin_role_arns,
            byok=config.keys.byok,
        ),
    )
    network = TenantNetwork(
        naming.name("network"),
        TenantNetworkArgs(naming=naming, config=config, flow_log_key_arn=keys.keys["logs"].arn),
    )
    firewall = ZoneFirewall(
        naming.name("zone-firewall"),
        ZoneFirewallArgs(
            naming=naming,
            vpc_id=network.vpc.id,
            internet_gateway_id=network.internet_gateway.id,
            zones=[
                FirewallZone(
                    zone=zone,
                    firewall_subnet_id=network.subnets[("firewall", zone.suffix)].subnet.id,
                    firewall_route_table_id=network.subnets[("firewall", zone.suffix)].route_table.id,
                    public_cidr=str(config.subnet_cidr("public", zone)),
                    public_route_table_id=network.subnets[("public", zone.suffix)].route_table.id,
                )
                for zone in config.availability_zones
            ],
            rules=firewall_rules(config),
            encryption_key_arn=keys.keys["data"].arn,
            logs_key_arn=keys.keys["logs"].arn,
            log_retention_days=config.log_retention_days,
        ),
    )
    log_archive = LogArchive(
        naming.name("log-archive"),
        LogArchiveArgs(
            naming=naming,
            region=config.region,
            logs_key_arn=keys.keys["logs"].arn,
            trail_name=trail_name,
            retention_days=config.log_archive.retention_days,
            object_lock=config.log_archive_object_lock,
            load_balancer_access_logs=config.log_archive.load_balancer_access_logs,
        ),
    )
    audit = AuditTrail(
        naming.name("audit"),
        AuditTrailArgs(
            naming=naming,
            region=config.region,
            trail_name=trail_name,
            logs_key_arn=keys.keys["logs"].arn,
            archive_bucket_name=log_archive.bucket.bucket,
            archive_bucket_arn=log_archive.bucket.arn,
            archive_ready=[log_archive.policy],
            log_retention_days=config.log_retention_days,
            runtime_monitoring=config.audit.guardduty_runtime_monitoring,
            alert_emails=config.audit.alert_emails,
        ),
    )
    backups = Backups(
        naming.name("backups"),
        BackupsArgs(naming=naming, backups_key_arn=keys.keys["backups"].arn, config=config.backups),
    )

    pulumi.export("tenant", config.tenant)
    pulumi.export("environment", config.environment)
    pulumi.export("region", config.region)
    pulumi.export("zones", [zone.name for zone in config.availability_zones])
    pulumi.export("vpcId", network.vpc.id)
    pulumi.export("vpcCidr", str(config.vpc_cidr))
    pulumi.export("vpnClientCidr", str(config.vpn_client_cidr))
    pulumi.export("exceptions", config.exceptions)
    pulumi.export("keyRotation", keys.rotation)
    pulumi.export("firewallEndpoints", firewall.endpoint_ids)
    pulumi.export("logArchiveBucket", log_archive.bucket.bucket)
    pulumi.export("logArchiveObjectLock", config.log_archive_object_lock)
    if log_archive.access_log_bucket is not None:
        pulumi.export("loadBalancerAccessLogBucket", log_archive.access_log_bucket.bucket)
    pulumi.export("trailArn", audit.trail.arn)
    pulumi.export("alertTopicArn", audit.alert_topic.arn)
    pulumi.export("backupVault", backups.vault.name)
