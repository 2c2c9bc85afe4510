"""Offline fakes for the backups: the vault's ARN, which the restore tests and policies refer to."""

from __future__ import annotations

from collections.abc import Mapping

from infra.fakes import OutputFake, named_arn

OUTPUT_FAKES: Mapping[str, OutputFake] = {
    "aws:backup/vault:Vault": named_arn("arn:aws:backup:{region}:{account}:backup-vault:{name}"),
}
