"""Property: any one change to a valid stack config is either refused with a message naming the key, or gives a
stack the policy pack passes. Never a traceback, never "config ok, pack fails" (the config and the pack agree).

Each example evaluates the real program under mocks (a few seconds), so the example count is modest; the changes
are drawn where mistakes and attacks happen: ranges, ports, retention, regions, TLS policies, flags, misspelt keys.
"""

from __future__ import annotations

import copy
import re
from typing import Any

import yaml
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from infra.config import ConfigError
from review.offline import ROOT, evaluate_stack
from review.pack_runner import mandatory, run_pack

STACK = "acme-prod"
BASE: dict[str, Any] = yaml.safe_load((ROOT / f"Pulumi.{STACK}.yaml").read_text())["config"]

CIDRS = st.sampled_from(
    ["0.0.0.0/0", "0.0.0.0/1", "128.0.0.0/1", "10.20.0.0/16", "10.20.0.0/24", "10.0.0.0/8", "192.168.1.0/24",
     "172.16.0.0/12", "10.250.0.0/24", "203.0.113.0/28", "::/0", "10.0.0.0/33", "not-a-cidr", "", "10.20.0.1"]
)  # fmt: skip
NUMBERS = st.one_of(st.integers(min_value=-5, max_value=70_000), st.sampled_from([0, 1, 30, 365, 400, 3653]))
ODD = st.one_of(st.none(), st.booleans(), st.text(max_size=8), st.lists(st.integers(), max_size=2))
TOP_LEVEL: dict[str, st.SearchStrategy[Any]] = {
    "aws:region": st.sampled_from(
        ["eu-west-1", "eu-central-1", "eu-west-2", "us-east-1", "eu-central-2", "x"]
    ),
    "secure-tenant:vpcCidr": CIDRS,
    "secure-tenant:zones": NUMBERS,
    "secure-tenant:adminCidrs": st.lists(CIDRS, max_size=3),
    "secure-tenant:vpnClientCidr": CIDRS,
    "secure-tenant:logRetentionDays": NUMBERS,
    "secure-tenant:environment": st.sampled_from(["prod", "preprod", "dev", "PROD", ""]),
    "secure-tenant:tenant": st.sampled_from(["acme", "Acme", "a", "acme-corp", "x" * 13, ""]),
}
NESTED: dict[str, dict[str, st.SearchStrategy[Any]]] = {
    "secure-tenant:edge": {
        "tlsPolicy": st.sampled_from(
            [
                "ELBSecurityPolicy-TLS13-1-2-2021-06",
                "ELBSecurityPolicy-2016-08",
                "ELBSecurityPolicy-TLS-1-0-2015-04",
            ]
        ),
        "shieldAdvanced": st.booleans(),
        "appPort": NUMBERS,
        "rateLimit": NUMBERS,
    },
    "secure-tenant:bastion": {"vpnPort": NUMBERS, "vpnProtocol": st.sampled_from(["udp", "tcp", "icmp"])},
    "secure-tenant:logArchive": {"objectLock": st.booleans(), "retentionDays": NUMBERS},
    "secure-tenant:backups": {
        "dailyRetentionDays": NUMBERS,
        "monthlyRetentionMonths": NUMBERS,
        "vaultLock": st.sampled_from(["governance", "compliance", "none", "off"]),
    },
}


@st.composite
def one_change(draw: st.DrawFn) -> tuple[str, str, Any]:
    """(the key as messages name it, the stack config key, its new value)."""
    kind = draw(st.sampled_from(["top", "nested", "misspelt", "odd"]))
    if kind == "top":
        key = draw(st.sampled_from(sorted(TOP_LEVEL)))
        return key, key, draw(TOP_LEVEL[key])
    if kind == "odd":
        key = draw(st.sampled_from(sorted(TOP_LEVEL)))
        return key, key, draw(ODD)
    section = draw(st.sampled_from(sorted(NESTED)))
    value = copy.deepcopy(BASE.get(section) or {})
    if kind == "misspelt":
        field = draw(st.sampled_from(sorted(NESTED[section])))
        value[field[:-1]] = draw(NESTED[section][field])  # the last letter lost
        return f"{section}.{field[:-1]}", section, value
    field = draw(st.sampled_from(sorted(NESTED[section])))
    value[field] = draw(NESTED[section][field])
    return f"{section}.{field}", section, value


# No shrinking: each example costs seconds; the failing change is printed as drawn, which is already small.
@settings(
    max_examples=20,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow],
)
@given(change=one_change())
def test_a_changed_config_is_refused_naming_its_key_or_passes_the_pack(change: tuple[str, str, Any]) -> None:
    named, key, value = change
    try:
        snapshot = evaluate_stack(STACK, {key: value})
    except ConfigError as error:
        message = str(error)
        # Named as written (`edge.tlsPolic`, `zones`), under its section or under the exception it needs.
        field = named.split(":")[-1].split(".")[-1]
        assert re.search(rf"\b{re.escape(field)}\b", message), f"the refusal does not name {named}: {message}"
        return
    violations = mandatory(run_pack(snapshot))
    assert not violations, f"config accepted {key}={value!r} but the pack fails: {violations}"
