"""The tenant stack: one component per concern, wired together. `__main__.py` only calls `build_tenant`."""

from __future__ import annotations

import pulumi

from infra.audit.component import AuditTrail, AuditTrailArgs
from infra.backups.component import Backups, BackupsArgs
from infra.bastion.component import VpnBastion, VpnBastionArgs
from infra.config import TenantConfig
from infra.edge.component import EdgeProtection, EdgeProtectionArgs
from infra.firewall.component import FirewallZone, ZoneFirewall, ZoneFirewallArgs
from infra.keys.component import TenantKeys, TenantKeysArgs
from infra.log_archive.component import LogArchive, LogArchiveArgs
from infra.naming import Naming
from infra.network.component import TenantNetwork, TenantNetworkArgs


def build_tenant(config: TenantConfig) -> None:
    """Declare every resource of one tenant environment and export what Ansible and reviewers need."""
    naming = Naming(config.tenant, config.environment, dict(config.extra_tags))
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
            rules=config.firewall_policy,
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
            data_event_bucket_arns=[
                bucket.arn
                for bucket in (log_archive.bucket, log_archive.access_log_bucket)
                if bucket is not None
            ],
            runtime_monitoring=config.audit.guardduty_runtime_monitoring,
            alert_emails=config.audit.alert_emails,
        ),
    )
    backups = Backups(
        naming.name("backups"),
        BackupsArgs(naming=naming, backups_key_arn=keys.keys["backups"].arn, config=config.backups),
    )
    bastion, edge = _edge_and_bastion(config, naming, keys, network, log_archive, audit)

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
    _export_bastion(bastion, config)
    _export_edge(edge, config)


def _edge_and_bastion(
    config: TenantConfig,
    naming: Naming,
    keys: TenantKeys,
    network: TenantNetwork,
    log_archive: LogArchive,
    audit: AuditTrail,
) -> tuple[VpnBastion, EdgeProtection]:
    """Issues 5 and 6: the VPN bastion, and the web edge with Shield Advanced around both."""
    public_subnets = network.tier("public")
    access_log_policy = log_archive.access_log_policy
    bastion = VpnBastion(
        naming.name("bastion"),
        VpnBastionArgs(
            naming=naming,
            config=config,
            vpc_id=network.vpc.id,
            public_subnet_ids={subnet.zone: subnet.subnet.id for subnet in public_subnets},
            ebs_key_arn=keys.keys["ebs"].arn,
            logs_key_arn=keys.keys["logs"].arn,
        ),
    )
    edge = EdgeProtection(
        naming.name("edge"),
        EdgeProtectionArgs(
            naming=naming,
            config=config,
            vpc_id=network.vpc.id,
            public_subnet_ids=[subnet.subnet.id for subnet in public_subnets],
            logs_key_arn=keys.keys["logs"].arn,
            alert_topic_arn=audit.alert_topic.arn,
            # Through the bucket policy, so the ALB is created only once ELB may write there.
            access_logs_bucket=access_log_policy.bucket if access_log_policy else None,
            shielded_resources=bastion.shield_arns,
        ),
    )
    return bastion, edge


def _export_bastion(bastion: VpnBastion, config: TenantConfig) -> None:
    """What Ansible reads (playbooks/inventory_plugins/secure_tenant.py): every zone's bastion (and the first alone)."""
    first = bastion.hosts[0]
    pulumi.export("bastionPublicIp", first.elastic_ip.public_ip)
    pulumi.export("bastionPrivateIp", first.instance.private_ip)
    pulumi.export("bastionInstanceId", first.instance.id)
    pulumi.export(
        "bastionHosts",
        [
            {
                "zone": host.zone.name,
                "instanceId": host.instance.id,
                "publicIp": host.elastic_ip.public_ip,
                "privateIp": host.instance.private_ip,
            }
            for host in bastion.hosts
        ],
    )
    # The reviewer sees which Debian release and image the bastion boots (a pinned AMI says so).
    pulumi.export("bastionImage", bastion.image.described())
    pulumi.export("bastionLogGroups", [group.name for group in bastion.log_groups])
    pulumi.export("dnsResolver", str(config.vpc_resolver))
    pulumi.export("vpnPort", config.bastion.vpn_port)
    pulumi.export("vpnProtocol", config.bastion.vpn_protocol)


def _export_edge(edge: EdgeProtection, config: TenantConfig) -> None:
    """What a reviewer must see: whether the paid Shield Advanced is in effect, and the web edge if any."""
    pulumi.export("shieldAdvanced", config.shield_advanced)
    pulumi.export("applicationDomain", config.edge.domain_name)
    if edge.load_balancer is not None:
        pulumi.export("albDnsName", edge.load_balancer.dns_name)
        pulumi.export("albTlsPolicy", config.edge.tls_policy)
    if edge.certificate is not None and config.edge.hosted_zone_id is None:
        pulumi.export("certificateValidationRecords", edge.certificate_validation_records)
