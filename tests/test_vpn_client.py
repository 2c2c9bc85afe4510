"""lab/vpn_client.py's guard against a profile of another server: two demos sharing ~/.secure-tenant/pki rewrite
each other's profiles, and a test would then see a handshake timeout ("tls-crypt unwrapping failed" on the server)
instead of the refusal it looks for."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import pytest

from lab.vpn_client import SERVER_TLS_CRYPT_KEY, ForeignProfileError, VpnProbe, replace_block

KEY = "-----BEGIN OpenVPN Static key V1-----\n0123abcd\n-----END OpenVPN Static key V1-----"
PROFILE = f"client\n<ca>\nCA\n</ca>\n<tls-crypt>\n{KEY}\n</tls-crypt>\n"


class FakeServer:
    """The two calls the probe makes to the server host before any connection attempt."""

    class ansible:  # testinfra names it so
        @staticmethod
        def get_variables() -> dict[str, Any]:
            return {"ansible_host": "10.77.1.2"}

    def check_output(self, command: str) -> str:
        assert command == f"sudo cat {SERVER_TLS_CRYPT_KEY}"
        return KEY + "\n"


def probe_with(tmp_path: Path, profile: str) -> VpnProbe:
    (tmp_path / "alice-laptop.ovpn").write_text(profile)
    return VpnProbe(cast(Any, None), cast(Any, FakeServer()), tmp_path)


def test_a_profile_with_the_servers_tls_crypt_key_is_returned_as_rendered(tmp_path: Path) -> None:
    assert probe_with(tmp_path, PROFILE).profile("alice-laptop") == PROFILE


@pytest.mark.parametrize(
    "profile",
    [
        replace_block(PROFILE, "tls-crypt", KEY.replace("0123abcd", "0123abce")),  # one digit of another key
        replace_block(PROFILE, "tls-crypt", None),  # no tls-crypt block at all
    ],
)
def test_a_profile_with_another_or_no_tls_crypt_key_is_refused_naming_the_file(
    tmp_path: Path, profile: str
) -> None:
    with pytest.raises(ForeignProfileError, match=r"alice-laptop\.ovpn carries a tls-crypt key other than"):
        probe_with(tmp_path, profile).profile("alice-laptop")
