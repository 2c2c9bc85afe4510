"""Action openvpn_mfa_secrets: the people's TOTP secrets, kept in an ansible-vault file on the controller.

The file is YAML with one key, `openvpn_mfa_secrets`, mapping a person to a hex secret encrypted on its own
(`!vault`), so a review sees who was added, rotated or removed without seeing a secret. The action runs on the
controller with the vault password the play was given (ANSIBLE_VAULT_PASSWORD_FILE, --vault-id, a password script):

- a person in `people` without a secret gets a new random one (160 bits, the RFC 4226 recommendation);
- a person in `rotate` gets a new one in place of the old;
- a person in `forget` loses theirs (their last device was revoked);
- every other entry keeps its ciphertext byte for byte, so an unchanged set rewrites nothing;
- a plaintext value found in the file (hand-edited, or a whole-file vault) is encrypted on its own.

It returns the secrets of `people`, still encrypted (templating decrypts them where they are used), and the names
generated, rotated and removed.
"""

from __future__ import annotations

import os
import re
import secrets
import tempfile
from pathlib import Path
from typing import Any

from ansible import constants as C
from ansible.errors import AnsibleActionFail, AnsibleError
from ansible.module_utils.common.text.converters import to_bytes, to_text
from ansible.parsing.utils.yaml import from_yaml
from ansible.parsing.vault import (
    EncryptedString,
    VaultHelper,
    VaultLib,
    VaultSecretsContext,
    is_encrypted,
    match_encrypt_secret,
)
from ansible.plugins.action import ActionBase

KEY = "openvpn_mfa_secrets"
SECRET_BYTES = 20
HEX_SECRET = re.compile(r"([0-9a-f]{2}){20,64}")
HEADER = """\
# TOTP secrets of the VPN's people, one per person, each encrypted with ansible-vault. Written by the openvpn role
# (action openvpn_mfa_secrets): generated with a person's first device, replaced by -e openvpn_mfa_rotate=<person>,
# removed with their last device. Names are in clear, secrets are not; the people enrol from the QR codes the role
# writes next to their VPN profiles on the controller.
"""

ARGUMENT_SPEC = {
    "path": {"type": "path", "required": True},
    "people": {"type": "list", "elements": "str", "default": []},
    "rotate": {"type": "list", "elements": "str", "default": []},
    "forget": {"type": "list", "elements": "str", "default": []},
}


def _fail(path: str, problem: str, fix: str) -> AnsibleActionFail:
    return AnsibleActionFail(f"openvpn_mfa_secrets_file {path}: {problem}. Nothing was changed. Fix: {fix}")


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result: dict[str, Any] = super().run(tmp, task_vars)
        _, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        path, people, rotate, forget = args["path"], args["people"], args["rotate"], args["forget"]
        if set(rotate) - set(people) or set(forget) & set(people):
            raise _fail(
                path, f"rotate {rotate} must name people of {people} and forget {forget} none", "fix the task"
            )

        vault = VaultLib(self._vault_secrets(path))
        stored = self._read(path, vault)
        kept = {
            name: ciphertext
            for name, ciphertext in stored.items()
            if name not in forget and name not in rotate
        }
        generated = sorted(set(people) - set(stored))
        rotated = sorted(set(rotate) & set(stored))
        removed = sorted(set(forget) & set(stored))
        for value in kept.values():
            self._decrypt(path, vault, value)  # a wrong password or a damaged entry stops the run here
        new = {name: secrets.token_hex(SECRET_BYTES) for name in [*generated, *rotated]}
        encrypted = {
            **{name: self._encrypt(path, vault, value) for name, value in new.items()},
            # a plaintext entry (hand-edited file or whole-file vault) is encrypted on its own
            **{
                name: self._encrypt(path, vault, value)
                for name, value in kept.items()
                if not is_encrypted(value)
            },
        }
        entries = {**kept, **encrypted}
        text = self._render({name: entries[name] for name in sorted(entries)})
        current = Path(path).read_text() if os.path.exists(path) else None
        changed = text != current

        if changed and not self._task.check_mode:
            self._write(path, text)
        result.update(
            changed=changed,
            path=path,
            # Still encrypted: templating decrypts a value where it is used, and the run's output only ever shows
            # ciphertext, so the task needs no no_log and its errors stay readable.
            secrets={name: EncryptedString(ciphertext=entries[name]) for name in people},
            generated=generated,
            rotated=rotated,
            removed=removed,
        )
        if self._task.diff and changed:
            result["diff"] = {
                "before_header": path,
                "after_header": path,
                "before": "".join(f"{name}: <encrypted>\n" for name in sorted(stored)),
                "after": "".join(f"{name}: <encrypted>\n" for name in sorted(entries)),
            }
        return result

    @staticmethod
    def _vault_secrets(path: str) -> list[Any]:
        context = VaultSecretsContext.current(optional=True)
        found = list(context.secrets) if context else []
        if not found:
            raise _fail(
                path,
                "no vault password was given, and the TOTP secrets are kept encrypted with ansible-vault",
                "set ANSIBLE_VAULT_PASSWORD_FILE to a file holding the tenant's vault password or to a password "
                "manager script printing it (or pass --vault-id / --vault-password-file / --ask-vault-pass)",
            )
        return found

    @staticmethod
    def _read(path: str, vault: VaultLib) -> dict[str, str]:
        """The store as {person: ciphertext, or plaintext for an entry that was not encrypted}."""
        if not os.path.exists(path):
            return {}
        text = Path(path).read_text()
        if is_encrypted(text):
            text = ActionModule._decrypt_text(path, vault, text)
        data = from_yaml(text, file_name=path, show_content=False) or {}
        entries = data.get(KEY) if isinstance(data, dict) else None
        if not isinstance(entries, dict) or set(data) != {KEY}:
            raise _fail(
                path, f"the file must hold one mapping, {KEY}: {{person: secret}}", "repair or remove it"
            )
        return {
            str(name): VaultHelper.get_ciphertext(value, with_tags=False) or str(value)
            for name, value in entries.items()
        }

    @staticmethod
    def _decrypt_text(path: str, vault: VaultLib, ciphertext: str) -> str:
        try:
            return to_text(vault.decrypt(ciphertext))
        except AnsibleError as error:
            raise _fail(
                path,
                f"cannot decrypt it with the vault password given ({error})",
                "give the password it was encrypted with (ANSIBLE_VAULT_PASSWORD_FILE)",
            ) from None

    @staticmethod
    def _decrypt(path: str, vault: VaultLib, value: str) -> str:
        """The hex secret of one entry, checked."""
        plain = ActionModule._decrypt_text(path, vault, value) if is_encrypted(value) else value
        plain = plain.strip().lower()
        if not HEX_SECRET.fullmatch(plain):
            raise _fail(
                path,
                "an entry is not a hex secret of 20 to 64 bytes",
                "remove the entry (the person gets a new secret on the next run)",
            )
        return plain

    @staticmethod
    def _encrypt(path: str, vault: VaultLib, plaintext: str) -> str:
        secret = match_encrypt_secret(vault.secrets, C.DEFAULT_VAULT_ENCRYPT_IDENTITY)
        if not secret:
            raise _fail(path, "no vault password to encrypt with", "set ANSIBLE_VAULT_PASSWORD_FILE")
        vault_id, vault_secret = secret
        return to_text(vault.encrypt(to_bytes(plaintext), vault_secret, vault_id=vault_id))

    @staticmethod
    def _render(entries: dict[str, str]) -> str:
        lines = [HEADER, f"{KEY}:" + ("" if entries else " {}")]
        for name, ciphertext in entries.items():
            lines.append(f"  {name}: !vault |")
            lines.extend(f"    {line}" for line in ciphertext.strip().splitlines())
        return "\n".join(lines) + "\n"

    @staticmethod
    def _write(path: str, text: str) -> None:
        """Replace the file atomically, readable by its owner only."""
        directory = os.path.dirname(os.path.abspath(path))
        os.makedirs(directory, mode=0o700, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=directory, prefix=".openvpn-mfa-")
        try:
            with os.fdopen(handle, "w") as output:
                output.write(text)
            os.chmod(temporary, 0o600)
            os.replace(temporary, path)
        except BaseException:
            os.unlink(temporary)
            raise
