"""Offline fakes for the web edge: the load balancer's DNS name, the certificate's validation record, DNS."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi

from infra.fakes import OutputFake


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


OUTPUT_FAKES: Mapping[str, OutputFake] = {
    "aws:lb/loadBalancer:LoadBalancer": _load_balancer,
    "aws:acm/certificate:Certificate": _certificate,
    "aws:route53/record:Record": lambda args, _region: {"fqdn": args.inputs["name"].rstrip(".")},
}
