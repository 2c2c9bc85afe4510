"""VpnBastion: the OpenVPN bastion, the tenant's only admin path (ACC-01).

Pulumi places the host and fences it in; Ansible does all the hardening. The instance starts with nothing an
attacker could use: IMDSv2 only, tenant-key encrypted disks, no key pair (SSM Session Manager is the break-glass
path), a role that can only talk to SSM and write its own log groups, and a security group that admits the VPN
port and, from VPN clients only, SSH.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeVar

import pulumi
import pulumi_aws as aws
import yaml

from infra.baseline import INTERNET, Control
from infra.bastion.config import DEBIAN_CLOUD_TEAM_ACCOUNT
from infra.concerns import terraform_types
from infra.config import TenantConfig
from infra.iam import assume_role_policy
from infra.logs import encrypted_log_group
from infra.naming import Naming
from infra.network.config import Zone

# The Terraform type of each resource type this component creates, for the checkov export of the stack
# (review/terraform_plan.py refuses a type no concern declares).
TERRAFORM_TYPES = terraform_types(
    "aws:cloudwatch/logGroup:LogGroup",
    "aws:ebs/volume:Volume",
    "aws:ec2/eip:Eip",
    "aws:ec2/instance:Instance",
    "aws:ec2/securityGroup:SecurityGroup",
    "aws:ec2/volumeAttachment:VolumeAttachment",
    "aws:iam/instanceProfile:InstanceProfile",
    "aws:iam/role:Role",
    "aws:iam/rolePolicy:RolePolicy",
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
)

DEBIAN_AMI_NAME = "debian-{release}-amd64-*"  # the name pattern of Debian's own amd64 images of a release
SSM_MANAGED_POLICY_ARN = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
AMAZON_TIME_SYNC = "169.254.169.123/32"
# One group per log the bastion ships (CloudWatch agent, set up by Ansible): /<tenant>-<env>/bastion/<name>.
BASTION_LOG_GROUPS = ("syslog", "auth", "openvpn", "audit")
DATA_VOLUME_DEVICE = "/dev/sdf"
# The minimum for Ansible to take over; every hardening step is Ansible's so that it stays idempotent and tested.
CLOUD_CONFIG = {"package_update": True, "packages": ["python3"]}


@dataclass(frozen=True)
class VpnBastionArgs:
    naming: Naming
    config: TenantConfig
    vpc_id: pulumi.Input[str]
    public_subnet_ids: Mapping[Zone, pulumi.Input[str]]
    ebs_key_arn: pulumi.Input[str]
    logs_key_arn: pulumi.Input[str]


@dataclass(frozen=True)
class BastionImage:
    """The image every bastion boots, as a reviewer sees it: the Debian release, the AMI and where it comes from."""

    os_release: int
    ami_id: pulumi.Input[str]
    name: pulumi.Input[str]  # the AMI's name, or how it was chosen when pinned

    def described(self) -> pulumi.Output[dict[str, object]]:
        return pulumi.Output.all(self.ami_id, self.name).apply(
            lambda values: {"osRelease": self.os_release, "amiId": values[0], "name": values[1]}
        )


@dataclass(frozen=True)
class BastionHost:
    """One bastion instance and the Elastic IP VPN clients connect to."""

    zone: Zone
    instance: aws.ec2.Instance
    elastic_ip: aws.ec2.Eip
    shield_arn: pulumi.Output[str]  # the `eip-allocation` ARN Shield Advanced protects


def user_data() -> str:
    """Cloud-init user data: ensure python3 for Ansible, nothing else."""
    return "#cloud-config\n" + yaml.safe_dump(CLOUD_CONFIG, sort_keys=False)


def log_writer_policy(region: str, account_id: str, prefix: str) -> dict[str, object]:
    """Write access to the bastion's own log groups only; no CreateLogGroup, so none can appear unencrypted."""
    groups = f"arn:aws:logs:{region}:{account_id}:log-group:/{prefix}/bastion*"
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "WriteOwnLogGroupsOnly",
                "Effect": "Allow",
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                "Resource": [groups, f"{groups}:log-stream:*"],
            }
        ],
    }


RuleArgs = TypeVar("RuleArgs", aws.ec2.SecurityGroupIngressArgs, aws.ec2.SecurityGroupEgressArgs)


def _rule(kind: type[RuleArgs], protocol: str, port: int, cidrs: list[str], description: str) -> RuleArgs:
    return kind(protocol=protocol, from_port=port, to_port=port, cidr_blocks=cidrs, description=description)


class VpnBastion(pulumi.ComponentResource):
    """The OpenVPN bastion in the public subnet of the first zone (or of every zone), behind an Elastic IP."""

    security_group: aws.ec2.SecurityGroup
    role: aws.iam.Role
    hosts: list[BastionHost]
    image: BastionImage
    log_groups: list[aws.cloudwatch.LogGroup]

    def __init__(self, name: str, args: VpnBastionArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("secure-tenant:bastion:VpnBastion", name, None, opts)
        naming, config = args.naming, args.config
        account_id = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self)).account_id

        self.security_group = self._security_group(naming, config, args.vpc_id)
        self.log_groups = [
            encrypted_log_group(
                naming.name(f"bastion-{log}-logs"),
                log_group_name=f"/{naming.prefix}/bastion/{log}",
                kms_key_arn=args.logs_key_arn,
                retention_days=config.log_retention_days,
                parent=self,
            )
            for log in BASTION_LOG_GROUPS
        ]
        self.role = self._role(naming, config, account_id)
        profile = aws.iam.InstanceProfile(
            naming.name("bastion-profile"), role=self.role.name, opts=pulumi.ResourceOptions(parent=self.role)
        )

        self.image = self._image(config)
        zones = config.availability_zones if config.bastion.per_zone else config.availability_zones[:1]
        self.hosts = [self._host(naming, config, zone, args, profile, account_id) for zone in zones]
        self.register_outputs(
            {
                "securityGroupId": self.security_group.id,
                "instanceIds": [host.instance.id for host in self.hosts],
                "publicIps": [host.elastic_ip.public_ip for host in self.hosts],
            }
        )

    @property
    def shield_arns(self) -> dict[str, pulumi.Output[str]]:
        """What Shield Advanced protects for the bastions, by purpose (`bastion-<zone suffix>`)."""
        return {f"bastion-{host.zone.suffix}": host.shield_arn for host in self.hosts}

    def _security_group(
        self, naming: Naming, config: TenantConfig, vpc_id: pulumi.Input[str]
    ) -> aws.ec2.SecurityGroup:
        bastion = config.bastion
        vpn_sources = [str(cidr) for cidr in config.admin_cidrs] or [INTERNET]
        resolver = f"{config.vpc_resolver}/32"
        # Egress is what the host needs and what the network firewall admits anyway. AWS does not filter a host's
        # traffic to the VPC resolver and the Time Sync service; those rules state the intent for reviewers.
        out = aws.ec2.SecurityGroupEgressArgs
        return aws.ec2.SecurityGroup(
            naming.name("bastion-sg"),
            vpc_id=vpc_id,
            description="OpenVPN bastion: VPN port in, SSH only from VPN clients",
            ingress=[
                _rule(
                    aws.ec2.SecurityGroupIngressArgs,
                    bastion.vpn_protocol,
                    bastion.vpn_port,
                    vpn_sources,
                    f"OpenVPN {bastion.vpn_protocol.upper()} {bastion.vpn_port}",
                ),
                _rule(
                    aws.ec2.SecurityGroupIngressArgs,
                    "tcp",
                    22,
                    [str(config.vpn_client_cidr)],
                    f"SSH from VPN clients only ({Control.ACC_04})",
                ),
            ],
            egress=[
                _rule(
                    out, "tcp", 443, [INTERNET], "HTTPS: AWS APIs (SSM, CloudWatch Logs) and Debian mirrors"
                ),
                _rule(out, "tcp", 80, [INTERNET], "HTTP: Debian mirrors, packages checked by apt signatures"),
                _rule(out, "udp", 53, [resolver], "DNS to the VPC resolver"),
                _rule(out, "tcp", 53, [resolver], "DNS over TCP to the VPC resolver"),
                _rule(out, "udp", 123, [AMAZON_TIME_SYNC], "NTP to the Amazon Time Sync Service"),
                _rule(
                    out,
                    "tcp",
                    22,
                    [str(config.vpc_cidr)],
                    f"SSH of VPN clients into the tenant VPC ({Control.ACC_01})",
                ),
            ],
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _role(self, naming: Naming, config: TenantConfig, account_id: pulumi.Output[str]) -> aws.iam.Role:
        role = aws.iam.Role(
            naming.name("bastion-role"),
            assume_role_policy=assume_role_policy("ec2.amazonaws.com"),
            opts=pulumi.ResourceOptions(parent=self),
        )
        aws.iam.RolePolicyAttachment(
            naming.name("bastion-ssm"),
            role=role.name,
            policy_arn=SSM_MANAGED_POLICY_ARN,
            opts=pulumi.ResourceOptions(parent=role),
        )
        aws.iam.RolePolicy(
            naming.name("bastion-write-logs"),
            role=role.id,
            policy=account_id.apply(
                lambda account: json.dumps(log_writer_policy(config.region, account, naming.prefix))
            ),
            opts=pulumi.ResourceOptions(parent=role),
        )
        return role

    def _image(self, config: TenantConfig) -> BastionImage:
        """Debian's latest image of bastion.osRelease from Debian's own account, unless bastion.amiId pins one."""
        bastion = config.bastion
        if bastion.ami_id is not None:
            return BastionImage(bastion.os_release, bastion.ami_id, "pinned by bastion.amiId")
        image = aws.ec2.get_ami_output(
            owners=[DEBIAN_CLOUD_TEAM_ACCOUNT],
            most_recent=True,
            filters=[
                aws.ec2.GetAmiFilterArgs(
                    name="name", values=[DEBIAN_AMI_NAME.format(release=bastion.os_release)]
                ),
                aws.ec2.GetAmiFilterArgs(name="architecture", values=["x86_64"]),
                aws.ec2.GetAmiFilterArgs(name="virtualization-type", values=["hvm"]),
            ],
            opts=pulumi.InvokeOutputOptions(parent=self),
        )
        return BastionImage(bastion.os_release, image.id, image.name)

    def _host(
        self,
        naming: Naming,
        config: TenantConfig,
        zone: Zone,
        args: VpnBastionArgs,
        profile: aws.iam.InstanceProfile,
        account_id: pulumi.Output[str],
    ) -> BastionHost:
        bastion = config.bastion
        # A newer Debian image must not silently replace the running bastion (and its VPN state): the host is
        # patched in place by Ansible; pin bastion.amiId to roll to a new image deliberately.
        ignore = [] if bastion.ami_id is not None else ["ami"]
        name = naming.name("bastion", zone)
        prod = config.environment == "prod"
        instance = aws.ec2.Instance(
            name,
            ami=self.image.ami_id,
            instance_type=bastion.instance_type,
            subnet_id=args.public_subnet_ids[zone],
            vpc_security_group_ids=[self.security_group.id],
            iam_instance_profile=profile.name,
            key_name=bastion.key_name,
            associate_public_ip_address=False,  # the Elastic IP below is its only public address
            metadata_options=aws.ec2.InstanceMetadataOptionsArgs(
                http_endpoint="enabled",
                http_tokens="required",
                http_put_response_hop_limit=1,
                instance_metadata_tags="disabled",
            ),
            root_block_device=aws.ec2.InstanceRootBlockDeviceArgs(
                encrypted=True,
                kms_key_id=args.ebs_key_arn,
                volume_type="gp3",
                volume_size=bastion.root_volume_gb,
                delete_on_termination=True,
                # The stack transformation tags resources, not a resource's nested blocks.
                tags={**naming.tags, "Name": f"{name}-root"},
            ),
            monitoring=True,
            # Current types are EBS-optimized anyway; declared so reviewers and scanners see it (checkov CKV_AWS_135).
            ebs_optimized=True,
            disable_api_termination=prod,
            user_data=user_data(),
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=ignore),
        )
        if bastion.data_volume_gb is not None:
            volume = aws.ebs.Volume(
                naming.name("bastion-data", zone),
                availability_zone=zone.name,
                size=bastion.data_volume_gb,
                type="gp3",
                encrypted=True,
                kms_key_id=args.ebs_key_arn,
                final_snapshot=True,
                opts=pulumi.ResourceOptions(parent=instance),
            )
            aws.ec2.VolumeAttachment(
                naming.name("bastion-data-attachment", zone),
                device_name=DATA_VOLUME_DEVICE,
                volume_id=volume.id,
                instance_id=instance.id,
                opts=pulumi.ResourceOptions(parent=volume),
            )
        # Admins' VPN profiles point at this address: prod keeps it through a `pulumi destroy` by mistake.
        elastic_ip = aws.ec2.Eip(
            naming.name("bastion-ip", zone),
            domain="vpc",
            instance=instance.id,
            opts=pulumi.ResourceOptions(parent=instance, protect=prod),
        )
        shield_arn = pulumi.Output.all(account_id, elastic_ip.id).apply(
            lambda values: f"arn:aws:ec2:{config.region}:{values[0]}:eip-allocation/{values[1]}"
        )
        return BastionHost(zone, instance, elastic_ip, shield_arn)
