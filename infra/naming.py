"""Resource names and tags, derived once, so single tenancy is visible on every resource."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi

from infra.baseline import PROJECT
from infra.network.config import Zone


def tenant_prefix(tenant: str, environment: str) -> str:
    """`<tenant>-<env>`: what every resource name of one tenant environment starts with."""
    return f"{tenant}-{environment}"


@dataclass(frozen=True)
class Naming:
    """`<tenant>-<env>-<purpose>[-<zone>]` names and the tenant tags every taggable resource carries."""

    tenant: str
    environment: str
    extra_tags: dict[str, str] = field(default_factory=dict)

    @property
    def prefix(self) -> str:
        return tenant_prefix(self.tenant, self.environment)

    def name(self, purpose: str, zone: Zone | None = None) -> str:
        return f"{self.prefix}-{purpose}" + (f"-{zone.suffix}" if zone else "")

    @property
    def tags(self) -> dict[str, str]:
        return {
            **self.extra_tags,
            "tenant": self.tenant,
            "environment": self.environment,
            "project": PROJECT,
            "managed-by": "pulumi",
        }

    def register_tagging(self) -> None:
        """Tag every taggable resource of the stack in one place, so none can be forgotten.

        A stack transformation rather than the provider's default_tags: the tags are then real inputs of each
        resource, which the policy pack and the reviewer's preview can see before anything is deployed.
        """

        def tag(args: pulumi.ResourceTransformationArgs) -> pulumi.ResourceTransformationResult | None:
            if not _is_taggable(args.resource, args.props):
                return None
            own_tags: dict[str, str] = dict(args.props.get("tags") or {})  # type: ignore[arg-type]
            tags = {**self.tags, "Name": args.name, **own_tags}
            return pulumi.ResourceTransformationResult({**args.props, "tags": tags}, args.opts)

        pulumi.runtime.register_stack_transformation(tag)


def _is_taggable(resource: pulumi.Resource, props: Mapping[str, object]) -> bool:
    # Generated pulumi_aws classes expose `tags_all` exactly when the AWS resource takes a tags map.
    return (
        isinstance(resource, pulumi.CustomResource)
        and hasattr(type(resource), "tags_all")
        and (props.get("tags") is None or isinstance(props.get("tags"), dict))
    )
