"""Evaluate the real tenant program offline, under Pulumi's documented mocks, and record what it declares.

Used by the unit tests, the reviewer's preview and the policy pack runner: the code evaluated is exactly what
`pulumi up` runs (`infra.stack.build_tenant` after `infra.config.load_config`), only the engine is mocked.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network
from itertools import islice
from pathlib import Path
from typing import Any
from zlib import crc32

import pulumi
import yaml
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import settings as pulumi_settings
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from infra.config import PROJECT

ROOT = Path(__file__).resolve().parent.parent
MOCK_ACCOUNT_ID = "123456789012"

OutputFake = Callable[[pulumi.runtime.MockResourceArgs, str], dict[str, Any]]
# Outputs AWS computes that other resources consume, per resource type (extended by the components' authors).
OUTPUT_FAKES: dict[str, OutputFake] = {}
CALL_FAKES: dict[str, Callable[[dict[str, Any], str], dict[str, Any]]] = {
    "aws:index/getCallerIdentity:getCallerIdentity": lambda _args, _region: {
        "accountId": MOCK_ACCOUNT_ID,
        "arn": f"arn:aws:iam::{MOCK_ACCOUNT_ID}:user/preview",
        "userId": "AIDAPREVIEW",
        "id": MOCK_ACCOUNT_ID,
    },
    "aws:index/getPartition:getPartition": lambda _args, _region: {
        "partition": "aws",
        "dnsSuffix": "amazonaws.com",
    },
    "aws:index/getRegion:getRegion": lambda _args, region: {"name": region, "region": region, "id": region},
}


# --- EdgeProtection and VpnBastion fakes ------------------------------------------------------------------------
PREVIEW_DEBIAN_AMI = "ami-0deb1200000000000"
# Free addresses of each declared subnet (AWS reserves the first four), so a fake instance gets one of its subnet.
_SUBNET_ADDRESSES: dict[str, Iterator[IPv4Address]] = {}


def _subnet_addresses(args: pulumi.runtime.MockResourceArgs, _region: str) -> dict[str, Any]:
    _SUBNET_ADDRESSES[f"{args.name}-id"] = islice(IPv4Network(args.inputs["cidrBlock"]), 4, None)
    return {}


def _instance(args: pulumi.runtime.MockResourceArgs, _region: str) -> dict[str, Any]:
    # Without a declared subnet (a program that leaves it to AWS) the address stays unknown, as in a preview.
    addresses = _SUBNET_ADDRESSES.get(args.inputs.get("subnetId", ""))
    return {"privateIp": str(next(addresses))} if addresses else {}


def _elastic_ip(args: pulumi.runtime.MockResourceArgs, _region: str) -> dict[str, Any]:
    # TEST-NET-2 (RFC 5737): plainly not a real address in a preview.
    return {
        "publicIp": f"198.51.100.{crc32(args.name.encode()) % 254 + 1}",
        "allocationId": f"{args.name}-id",
    }


def _load_balancer(args: pulumi.runtime.MockResourceArgs, region: str) -> dict[str, Any]:
    return {"dnsName": f"{args.name}-preview.{region}.elb.amazonaws.com", "zoneId": "ZPREVIEWELB"}


def _certificate(args: pulumi.runtime.MockResourceArgs, _region: str) -> dict[str, Any]:
    domain = args.inputs["domainName"]
    return {
        "domainValidationOptions": [
            {
                "domainName": domain,
                "resourceRecordName": f"_preview.{domain}.",
                "resourceRecordType": "CNAME",
                "resourceRecordValue": "_preview.acm-validations.aws.",
            }
        ]
    }


OUTPUT_FAKES.update(
    {
        "aws:ec2/subnet:Subnet": _subnet_addresses,
        "aws:ec2/instance:Instance": _instance,
        "aws:ec2/eip:Eip": _elastic_ip,
        "aws:lb/loadBalancer:LoadBalancer": _load_balancer,
        "aws:acm/certificate:Certificate": _certificate,
        "aws:route53/record:Record": lambda args, _region: {"fqdn": args.inputs["name"].rstrip(".")},
    }
)
CALL_FAKES["aws:ec2/getAmi:getAmi"] = lambda _args, _region: {
    "id": PREVIEW_DEBIAN_AMI,
    "imageId": PREVIEW_DEBIAN_AMI,
    "name": "debian-12-amd64-preview",
    "ownerId": "136693071363",
    "architecture": "x86_64",
}
# --- end EdgeProtection and VpnBastion fakes ----------------------------------------------------------------------


@dataclass(frozen=True)
class DeclaredResource:
    """One resource the program declared: what a reviewer and a policy need to judge it."""

    urn: str
    type: str
    name: str
    parent_urn: str
    custom: bool
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    property_dependencies: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class StackSnapshot:
    """Everything one offline evaluation of the program declared."""

    stack: str
    config: dict[str, str]
    resources: list[DeclaredResource] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)

    def of_type(self, resource_type: str) -> list[DeclaredResource]:
        return [r for r in self.resources if r.type == resource_type]

    def named(self, name: str) -> DeclaredResource:
        matches = [r for r in self.resources if r.name == name]
        if len(matches) != 1:
            raise KeyError(f"{len(matches)} resources named {name!r}")
        return matches[0]

    def by_urn(self) -> dict[str, DeclaredResource]:
        return {r.urn: r for r in self.resources}

    def ancestors(self, resource: DeclaredResource) -> list[DeclaredResource]:
        """Parents from the nearest up to the top-level component."""
        index, chain = self.by_urn(), []
        parent = index.get(resource.parent_urn)
        while parent is not None:
            chain.append(parent)
            parent = index.get(parent.parent_urn)
        return chain

    def component_of(self, resource: DeclaredResource) -> DeclaredResource | None:
        """The top-level component a resource belongs to (None for resources declared at stack level)."""
        components = [r for r in [resource, *self.ancestors(resource)] if not r.custom]
        return components[-1] if components else None


def _arn(resource_type: str, name: str, region: str) -> str:
    service = resource_type.split(":")[1].split("/")[0]
    return f"arn:aws:{service}:{region}:{MOCK_ACCOUNT_ID}:{name}"


class _RecordingMocks(pulumi.runtime.Mocks):
    def __init__(self, region: str) -> None:
        self.region = region

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        resource_id = f"{args.name}-id"
        state = {"id": resource_id, "arn": _arn(args.typ, args.name, self.region), **args.inputs}
        state.setdefault("name", args.name)
        fake = OUTPUT_FAKES.get(args.typ)
        if fake is not None:
            state.update(fake(args, self.region))
        return resource_id, state

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict[str, Any]:  # type: ignore[override]
        fake = CALL_FAKES.get(args.token)
        if fake is None:
            raise NotImplementedError(
                f"no offline answer for {args.token}: add one to infra.offline.CALL_FAKES"
            )
        return fake(dict(args.args), self.region)


class _RecordingMonitor(pulumi_mocks.MockMonitor):
    def __init__(self, mocks: _RecordingMocks) -> None:
        super().__init__(mocks)
        self.declared: list[tuple[str, Any]] = []

    def RegisterResource(self, request: Any) -> Any:
        response = super().RegisterResource(request)  # type: ignore[no-untyped-call]
        if request.type != "pulumi:pulumi:Stack":
            self.declared.append((response.urn, request))
        return response


def stack_config(stack: str, overrides: Mapping[str, Any] | None = None) -> dict[str, str]:
    """The config a `pulumi` CLI would hand the program for `Pulumi.<stack>.yaml`, plus overrides."""
    path = ROOT / f"Pulumi.{stack}.yaml"
    values: dict[str, Any] = (
        (yaml.safe_load(path.read_text()) or {}).get("config", {}) if path.exists() else {}
    )
    values.update(overrides or {})
    # The CLI passes structured values as JSON text and scalars as strings.
    return {
        key: value
        if isinstance(value, str)
        else json.dumps(value)
        if isinstance(value, (list, dict))
        else str(value).lower()
        if isinstance(value, bool)
        else str(value)
        for key, value in values.items()
        if value is not None
    }


def evaluate(
    config: Mapping[str, str],
    stack: str = "offline",
    program: Callable[[], None] | None = None,
) -> StackSnapshot:
    """Run the tenant program under mocks with this stack config and return what it declared."""
    region = config.get("aws:region", "eu-west-1")
    mocks = _RecordingMocks(region)
    monitor = _RecordingMonitor(mocks)
    pulumi.runtime.set_all_config(dict(config))
    pulumi_settings.set_root_resource(None)  # type: ignore[arg-type]  # a fresh Stack per evaluation
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=stack, preview=False, monitor=monitor)
    settings = pulumi_settings.SETTINGS
    settings.rpc_manager.clear()
    settings.outputs.clear()

    def run() -> None:
        if program is not None:
            program()
            return
        from infra.config import load_config
        from infra.stack import build_tenant

        build_tenant(load_config())

    _sync_await(run_pulumi_func(run))
    root = pulumi_settings.get_root_resource()
    raw_outputs = dict(getattr(root, "outputs", {}))
    outputs = _sync_await(pulumi.Output.from_input(raw_outputs).future()) if raw_outputs else {}

    snapshot = StackSnapshot(stack=stack, config=dict(config), outputs=outputs or {})
    states = {urn: registration.state for urn, registration in monitor.resources.items()}
    for urn, request in monitor.declared:
        inputs = pulumi.runtime.rpc.deserialize_properties(request.object)
        snapshot.resources.append(
            DeclaredResource(
                urn=urn,
                type=request.type,
                name=request.name,
                parent_urn=request.parent,
                custom=bool(request.custom),
                inputs=_plain(inputs),
                outputs=_plain(states.get(urn, {})),
                property_dependencies={
                    prop: list(deps.urns) for prop, deps in request.propertyDependencies.items() if deps.urns
                },
            )
        )
    return snapshot


def _plain(value: Any) -> Any:
    """Deserialised protobuf values as plain Python (dicts, lists, str, float, bool)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def evaluate_stack(stack: str, overrides: Mapping[str, Any] | None = None) -> StackSnapshot:
    """Evaluate the program for an example stack file, optionally with some config values changed."""
    return evaluate(stack_config(stack, overrides), stack=stack)


# --- TenantKeys, LogArchive, AuditTrail, Backups fakes (issue 4) ------------------------------------------------
# ARNs in the shape AWS gives them, where policies are built from them (bucket and key ARNs, the trail's ARN).
def _named_arn(template: str, name_input: str = "name") -> OutputFake:
    def fake(args: pulumi.runtime.MockResourceArgs, region: str) -> dict[str, Any]:
        name = args.inputs.get(name_input) or args.name
        return {"arn": template.format(region=region, account=MOCK_ACCOUNT_ID, name=name)}

    return fake


def _kms_key(args: pulumi.runtime.MockResourceArgs, region: str) -> dict[str, Any]:
    return {"keyId": f"{args.name}-id", "arn": f"arn:aws:kms:{region}:{MOCK_ACCOUNT_ID}:key/{args.name}-id"}


OUTPUT_FAKES.update(
    {
        "aws:kms/key:Key": _kms_key,
        "aws:kms/externalKey:ExternalKey": _kms_key,
        "aws:s3/bucket:Bucket": _named_arn("arn:aws:s3:::{name}", "bucket"),
        "aws:cloudtrail/trail:Trail": _named_arn("arn:aws:cloudtrail:{region}:{account}:trail/{name}"),
        "aws:cloudwatch/logGroup:LogGroup": _named_arn("arn:aws:logs:{region}:{account}:log-group:{name}"),
        "aws:cloudwatch/eventRule:EventRule": _named_arn("arn:aws:events:{region}:{account}:rule/{name}"),
        "aws:backup/vault:Vault": _named_arn("arn:aws:backup:{region}:{account}:backup-vault:{name}"),
        "aws:iam/role:Role": _named_arn("arn:aws:iam::{account}:role/{name}"),
    }
)
# --- end TenantKeys, LogArchive, AuditTrail, Backups fakes --------------------------------------------------------


# --- ZoneFirewall fakes (issue 3) -------------------------------------------------------------------------------
# AWS reports each firewall endpoint with the zone of its subnet; a fake needs the zones of the declared subnets.
_SUBNET_ZONES: dict[str, str] = {}
_other_subnet_fake = OUTPUT_FAKES.get("aws:ec2/subnet:Subnet")


def _subnet_zone(args: pulumi.runtime.MockResourceArgs, region: str) -> dict[str, Any]:
    _SUBNET_ZONES[f"{args.name}-id"] = args.inputs["availabilityZone"]  # the id _RecordingMocks gives it
    return _other_subnet_fake(args, region) if _other_subnet_fake else {}


def _firewall_statuses(args: pulumi.runtime.MockResourceArgs, _region: str) -> dict[str, Any]:
    # One endpoint per subnet mapping, listed in reverse: AWS returns the sync states as a set in no order, so
    # nothing may pick an endpoint by position.
    sync_states = [
        {
            "availabilityZone": _SUBNET_ZONES[mapping["subnetId"]],
            "attachments": [
                {"endpointId": f"vpce-preview-{mapping['subnetId']}", "subnetId": mapping["subnetId"]}
            ],
        }
        for mapping in reversed(args.inputs["subnetMappings"])
    ]
    return {"firewallStatuses": [{"syncStates": sync_states}]}


OUTPUT_FAKES["aws:ec2/subnet:Subnet"] = _subnet_zone
OUTPUT_FAKES["aws:networkfirewall/firewall:Firewall"] = _firewall_statuses
# --- end ZoneFirewall fakes --------------------------------------------------------------------------------------
