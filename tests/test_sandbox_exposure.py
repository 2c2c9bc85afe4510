"""Reading `systemd-analyze security` (systemd 252): the overall exposure line and its rating bands."""

from __future__ import annotations

import pytest

from lab.verify import Exposure, parse_exposure, rating_of

OUTPUT = """\
✗ IPAddressDeny=      Service does not define an IP address allow list        0.2
✓ NotifyAccess=       Service child processes cannot alter service state

→ Overall exposure level for openvpn-server@server.service: 2.2 OK 🙂
"""


def test_overall_exposure_line_is_read_with_its_rating() -> None:
    assert parse_exposure("openvpn-server@server.service", OUTPUT) == Exposure(
        "openvpn-server@server.service", 2.2, "OK"
    )


def test_exposure_of_another_unit_is_not_taken() -> None:
    with pytest.raises(ValueError, match="no overall exposure for openvpn-server@client.service"):
        parse_exposure("openvpn-server@client.service", OUTPUT)


@pytest.mark.parametrize(
    ("value", "rating"),
    [
        (0.0, "PERFECT"),
        (0.1, "SAFE"),
        (0.9, "SAFE"),
        (1.0, "OK"),
        (4.9, "OK"),
        (5.0, "MEDIUM"),
        (7.4, "MEDIUM"),
        (7.5, "EXPOSED"),
        (8.9, "EXPOSED"),
        (9.0, "UNSAFE"),
        (9.9, "UNSAFE"),
        (10.0, "DANGEROUS"),
    ],
)
def test_ratings_follow_systemd_252_bands(value: float, rating: str) -> None:
    assert rating_of(value) == rating
