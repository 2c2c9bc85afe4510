"""Filter openvpn_totp_uri: a person's TOTP secret as the otpauth:// URI authenticator apps read (Key Uri Format:
base32 secret without padding, issuer in the label and as a parameter, SHA1, 6 digits, 30 s, as pam_oath checks)."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import quote, urlencode

from ansible.errors import AnsibleFilterError


def openvpn_totp_uri(secret_hex: str, issuer: str, account: str) -> str:
    """otpauth://totp/<issuer>:<account>?secret=<base32>&issuer=<issuer>&algorithm=SHA1&digits=6&period=30"""
    try:
        secret = bytes.fromhex(str(secret_hex))
    except ValueError:
        raise AnsibleFilterError("openvpn_totp_uri: the secret is not hex") from None
    parameters = {
        "secret": base64.b32encode(secret).decode().rstrip("="),
        "issuer": str(issuer),
        "algorithm": "SHA1",
        "digits": 6,
        "period": 30,
    }
    label = quote(f"{issuer}:{account}", safe=":@")
    return f"otpauth://totp/{label}?{urlencode(parameters, quote_via=quote)}"


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"openvpn_totp_uri": openvpn_totp_uri}
