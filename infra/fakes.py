"""What every concern's offline fakes share: the mock account, the fake signatures and the generic answers.

Each concern package fakes, in its `fakes.py`, the outputs AWS computes for its resources (ids, addresses,
ARNs in the shape AWS gives them) that other resources consume; `review.offline` gathers them all. Fakes are
plain functions of the declared inputs: nothing here touches AWS or the review tools.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pulumi

MOCK_ACCOUNT_ID = "123456789012"

OutputFake = Callable[[pulumi.runtime.MockResourceArgs, str], dict[str, Any]]
CallFake = Callable[[dict[str, Any], str], dict[str, Any]]


def named_arn(template: str, name_input: str = "name") -> OutputFake:
    """An ARN in the shape AWS gives it, where policies are built from it (`{region}`, `{account}`, `{name}`)."""

    def fake(args: pulumi.runtime.MockResourceArgs, region: str) -> dict[str, Any]:
        name = args.inputs.get(name_input) or args.name
        return {"arn": template.format(region=region, account=MOCK_ACCOUNT_ID, name=name)}

    return fake


# Resources every concern declares (log groups through infra.logs, service roles through infra.iam).
OUTPUT_FAKES: Mapping[str, OutputFake] = {
    "aws:cloudwatch/logGroup:LogGroup": named_arn("arn:aws:logs:{region}:{account}:log-group:{name}"),
    "aws:iam/role:Role": named_arn("arn:aws:iam::{account}:role/{name}"),
}
CALL_FAKES: Mapping[str, CallFake] = {
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
