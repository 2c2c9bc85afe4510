#!/usr/bin/env python3
"""A throwaway ansible-vault password for the demo and the tests, and the checks they make on the secrets it guards.

A real tenant's vault password lives in a password manager, handed to Ansible with ANSIBLE_VAULT_PASSWORD_FILE (a
file, or a script printing it). The lab makes its own, random, kept in `<directory>/vault-password` (0600):

- `ThrowawayVault(directory)`: the password file (created on first use) and the environment that hands it and a
  secrets file of the lab's own to playbooks/bastion.yml, for a caller that runs ansible-playbook itself
  (lab/demo.py);
- this file run as a vault password script (ANSIBLE_VAULT_PASSWORD_FILE=lab/vault.py with SECURE_TENANT_VAULT_DIR
  set), for runners that start Ansible before a file could be written (molecule's create step).

Standard library only: Ansible runs the script with whatever python3 is first on PATH.
"""

from __future__ import annotations

import base64
import os
import secrets
import sys
from dataclasses import dataclass
from pathlib import Path

PASSWORD_FILE = "vault-password"
DIRECTORY_VARIABLE = "SECURE_TENANT_VAULT_DIR"
# Read by playbooks/group_vars/bastions.yml in place of tenants/<tenant>/secrets-<env>.vault.yml.
SECRETS_FILE_VARIABLE = "SECURE_TENANT_SECRETS_FILE"


def password_file(directory: Path) -> Path:
    """`<directory>/vault-password`, created once with 32 random bytes (base64), readable by its owner only."""
    path = directory / PASSWORD_FILE
    directory.mkdir(parents=True, exist_ok=True)
    try:
        handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path
    with os.fdopen(handle, "w") as output:
        output.write(base64.b64encode(secrets.token_bytes(32)).decode() + "\n")
    return path


@dataclass(frozen=True)
class ThrowawayVault:
    """A vault password of the lab's own under `directory`, and the secrets file it encrypts next to it."""

    directory: Path

    @property
    def password_file(self) -> Path:
        return password_file(self.directory)

    def secrets_file(self, name: str) -> Path:
        """`<directory>/<name>.secrets.vault.yml`; dropped when it predates the password (it could not be read)."""
        path = self.directory / f"{name}.secrets.vault.yml"
        if path.exists() and path.stat().st_mtime < self.password_file.stat().st_mtime:
            path.unlink()
        return path

    def ansible_env(self, name: str) -> dict[str, str]:
        """The password for Ansible, and the secrets file of `name` (e.g. the stack) for playbooks/bastion.yml."""
        return {
            "ANSIBLE_VAULT_PASSWORD_FILE": str(self.password_file),
            SECRETS_FILE_VARIABLE: str(self.secrets_file(name)),
        }


def read_secrets(store: Path, password: Path) -> dict[str, str]:
    """The {person: hex secret} of a secrets file of the openvpn role (`!vault` values), decrypted with `password`.

    Imports Ansible (the tests have it); the password script above must not need it.
    """
    import yaml
    from ansible.parsing.vault import VaultLib, VaultSecret

    class Loader(yaml.SafeLoader):
        pass

    def ciphertext(loader: yaml.SafeLoader, node: yaml.Node) -> str:
        return str(loader.construct_scalar(node))  # type: ignore[arg-type]

    Loader.add_constructor("!vault", ciphertext)
    vault = VaultLib([("default", VaultSecret(password.read_bytes().strip()))])
    entries = yaml.load(store.read_text(), Loader=Loader)["openvpn_mfa_secrets"] or {}
    return {name: vault.decrypt(ciphertext).decode() for name, ciphertext in entries.items()}


def secret_forms(secret_hex: str) -> set[str]:
    """The ways a TOTP secret can be written down: hex (either case) and base32 (with and without padding)."""
    raw = bytes.fromhex(secret_hex)
    base32 = base64.b32encode(raw).decode()
    return {secret_hex.lower(), secret_hex.upper(), base32, base32.rstrip("=")}


def leaks(secrets_hex: list[str], texts: dict[str, str]) -> list[str]:
    """`where: form` for every form of every secret found in `texts` ({where: text})."""
    return [
        f"{where}: {form[:6]}..."
        for secret in secrets_hex
        for form in sorted(secret_forms(secret))
        for where, text in texts.items()
        if form in text
    ]


def repository_texts(root: Path) -> dict[str, str]:
    """Every file of the checkout that git would see (tracked, or untracked and not ignored), as text."""
    # Imported here: run as Ansible's vault password script, this file has lab/ and not the project on its path.
    from lab.checkout import checkout_files

    return {
        name: (root / name).read_bytes().decode(errors="replace")
        for name in checkout_files(root)
        if not (root / name).is_symlink()
    }


def main() -> int:
    """Vault password script: print the throwaway password of $SECURE_TENANT_VAULT_DIR."""
    directory = os.environ.get(DIRECTORY_VARIABLE)
    if not directory:
        print(
            f"lab/vault.py: set {DIRECTORY_VARIABLE} to the directory of the throwaway vault", file=sys.stderr
        )
        return 2
    sys.stdout.write(password_file(Path(directory)).read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
