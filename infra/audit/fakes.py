"""Offline fakes for the audit trail: the trail's and the alert rules' ARNs, which policies are built from."""

from __future__ import annotations

from collections.abc import Mapping

from infra.fakes import OutputFake, named_arn

OUTPUT_FAKES: Mapping[str, OutputFake] = {
    "aws:cloudtrail/trail:Trail": named_arn("arn:aws:cloudtrail:{region}:{account}:trail/{name}"),
    "aws:cloudwatch/eventRule:EventRule": named_arn("arn:aws:events:{region}:{account}:rule/{name}"),
}
