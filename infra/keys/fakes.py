"""Offline fakes for the keys: key ids and ARNs in the shape KMS gives them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi

from infra.fakes import MOCK_ACCOUNT_ID, OutputFake


def _kms_key(args: pulumi.runtime.MockResourceArgs, region: str) -> dict[str, Any]:
    return {"keyId": f"{args.name}-id", "arn": f"arn:aws:kms:{region}:{MOCK_ACCOUNT_ID}:key/{args.name}-id"}


OUTPUT_FAKES: Mapping[str, OutputFake] = {
    "aws:kms/key:Key": _kms_key,
    "aws:kms/externalKey:ExternalKey": _kms_key,
}
