"""Offline fakes for the log archive: bucket ARNs, which its policies are built from."""

from __future__ import annotations

from collections.abc import Mapping

from infra.fakes import OutputFake, named_arn

OUTPUT_FAKES: Mapping[str, OutputFake] = {"aws:s3/bucket:Bucket": named_arn("arn:aws:s3:::{name}", "bucket")}
