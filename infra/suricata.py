"""The tenant's Suricata rules for AWS Network Firewall: typed rules, generated from config, checked against AWS.

Three stateful rule groups, evaluated by AWS in STRICT_ORDER (group priority, then rule order in the group):

1. `baseline`: intrusion signatures and protocol enforcement (fixed rules, fixed SIDs).
2. `tenant`: the tenant's own rules from `firewall.extraRulesFile` (SIDs in TENANT_SID_RANGE).
3. `allow`: pass rules for the egress domain allow-list and for the ingress the stack serves (ALB, VPN).

Whatever no rule passes is dropped by the policy's default action (aws:drop_established). SIDs increase along
the strict evaluation order (baseline < tenant < allow, and within each group), which is also the order in which
Suricata sorts rules of one action: the tests rely on that to reproduce STRICT_ORDER with `action-order`.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

import yaml

if TYPE_CHECKING:
    from infra.config import TenantConfig

Action = Literal["pass", "drop", "reject", "alert"]
ACTIONS: tuple[Action, ...] = get_args(Action)
Option = tuple[str, str | None]
GroupKey = Literal["baseline", "tenant", "allow"]

# AWS Network Firewall quotas that cannot be raised (developer guide, "AWS Network Firewall quotas").
MAX_RULE_CHARS = 8_192  # per rule, with every variable expanded to its value
MAX_RULES_STRING_BYTES = 2_000_000  # per rule group
MAX_GROUP_CAPACITY = 30_000  # per stateful rule group
MAX_POLICY_CAPACITY = 30_000  # stateful rules per firewall policy, summed over its groups' capacities
MAX_GROUPS_PER_POLICY = 20

# The policy reserves each group's capacity, which cannot change without replacing the group: leave room.
MIN_GROUP_CAPACITY = 100

BASELINE_PRIORITY, TENANT_PRIORITY, ALLOW_PRIORITY = 100, 200, 300
TENANT_SID_RANGE = range(1_000_000, 2_000_000)  # the conventional range for local rules
ALLOW_SID_BASE, ALLOW_SID_SPAN = 2_000_000_000, 100_000_000  # below 2**31, above every tenant SID

HTTPS_PORT, HTTP_PORT = 443, 80  # the ALB listens on both; 80 only answers with a redirect to HTTPS
EGRESS_PORTS = {"tls": HTTPS_PORT, "http": HTTP_PORT}

# Network Firewall's "Limitations and caveats for stateful rules": features it does not support.
UNSUPPORTED_KEYWORDS = {
    "dataset": "datasets are not supported",
    "datarep": "datasets are not supported",
    "iprep": "IP reputation is not supported",
    "lua": "Lua scripting is not supported",
    "luajit": "Lua scripting is not supported",
    "geoip": "GeoIP is not supported",
    "threshold": "thresholding is not supported",
    "detection_filter": "thresholding is not supported",
    "filestore": "file extraction is not supported",
    "filename": "file keywords are not allowed",
    "fileext": "file keywords are not allowed",
    "filemagic": "file keywords are not allowed",
    "filemd5": "file keywords are not allowed",
    "filesha1": "file keywords are not allowed",
    "filesha256": "file keywords are not allowed",
    "filesize": "file keywords are not allowed",
    "file.name": "file keywords are not allowed",
    "file.magic": "file keywords are not allowed",
    "cip_service": "ENIP/CIP keywords are not supported",
    "enip_command": "ENIP/CIP keywords are not supported",
    "hostbits": "hostbits track hosts, which is not supported",
    "priority": "the priority keyword is not allowed in STRICT_ORDER rule groups",
    # Not in the caveats list, but classtype carries a priority and AWS refuses it in STRICT_ORDER groups
    # ("RuleString invalid", AWS answer on re:Post); it would also reorder rules in Suricata.
    "classtype": "classtype implies a priority, which STRICT_ORDER rule groups refuse",
}
UNSUPPORTED_KEYWORD_PREFIXES = {"ike.": "the IKEv2 protocol is not supported"}
UNSUPPORTED_PROTOCOLS = {
    "sctp": "the SCTP protocol is not supported",
    "ftp-data": "FTP-data protocol detection is not supported",
    "ike": "the IKEv2 protocol is not supported",
    "ikev2": "the IKEv2 protocol is not supported",
    "enip": "ENIP/CIP is not supported",
}
# "pcre is only allowed with content, tls.sni, http.host and dns.query".
PCRE_BUFFERS = frozenset({"tls.sni", "http.host", "dns.query"})
_HOST_TRACKING = re.compile(r"\btrack\s+ip_(src|dst|pair)\b")
_VARIABLE = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")
# Sticky buffers set the buffer the following content/pcre inspect; they are keywords without a value.
_STICKY_BUFFER = re.compile(r"[a-z0-9_]+(\.[a-z0-9_]+)+")
# What Suricata says about its rules file as a whole, once a rule failed: no news for whoever fixes the rule.
_ENGINE_NOISE = re.compile(r"rule files specified, but no rules were loaded|Loading signatures failed")
_ENGINE_FILE_LINE = re.compile(r"from file \S+ at line (\d+)")


class RuleError(ValueError):
    """A rule or rule set AWS would refuse or that cannot work; `key` is the firewall config key to fix."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


@dataclass(frozen=True)
class Rule:
    """One Suricata rule: header fields and options in order (msg, sid and rev are options like any other)."""

    action: str
    protocol: str
    source: str
    source_port: str
    direction: str
    destination: str
    destination_port: str
    options: tuple[Option, ...]

    @classmethod
    def build(
        cls,
        action: Action,
        protocol: str,
        header: tuple[str, str, str, str, str],
        msg: str,
        sid: int,
        matchers: Iterable[Option] = (),
        rev: int = 1,
    ) -> Rule:
        """A generated rule: msg first, then what it matches, then its identity."""
        if '"' in msg or ";" in msg or "\\" in msg:
            raise ValueError(f"rule message {msg!r} may not contain quotes, semicolons or backslashes")
        return cls(
            action,
            protocol,
            *header,
            options=(("msg", f'"{msg}"'), *matchers, ("sid", str(sid)), ("rev", str(rev))),
        )

    def option(self, keyword: str) -> str | None:
        return next((value for name, value in self.options if name == keyword), None)

    @property
    def msg(self) -> str | None:
        value = self.option("msg")
        return value[1:-1] if value and len(value) >= 2 and value[0] == value[-1] == '"' else value

    @property
    def sid(self) -> int | None:
        value = self.option("sid")
        return int(value) if value is not None and value.isdigit() else None

    @property
    def rev(self) -> int | None:
        value = self.option("rev")
        return int(value) if value is not None and value.isdigit() else None

    @property
    def variables(self) -> set[str]:
        header = (self.source, self.source_port, self.destination, self.destination_port)
        return {name for part in header for name in _VARIABLE.findall(part)}

    def text(self) -> str:
        header = (
            self.action,
            self.protocol,
            self.source,
            self.source_port,
            self.direction,
            self.destination,
            self.destination_port,
        )
        options = " ".join(
            f"{name};" if value is None else f"{name}:{value};" for name, value in self.options
        )
        return f"{' '.join(header)} ({options})"


@dataclass(frozen=True)
class RuleGroup:
    """One stateful rule group as AWS gets it: rules in evaluation order, variables, priority in the policy."""

    key: GroupKey
    description: str
    priority: int
    rules: tuple[Rule, ...]
    ip_sets: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def rules_string(self) -> str:
        return "\n".join(rule.text() for rule in self.rules) + "\n"

    @property
    def needed_capacity(self) -> int:
        # A bidirectional rule is two signatures in Suricata; count it twice to be safe.
        return sum(2 if rule.direction == "<>" else 1 for rule in self.rules)

    @property
    def capacity(self) -> int:
        """Twice what the rules need, in hundreds: capacity is fixed when AWS creates the group."""
        wanted = -(-2 * self.needed_capacity // 100) * 100
        return min(MAX_GROUP_CAPACITY, max(MIN_GROUP_CAPACITY, wanted))

    def expanded_length(self, rule: Rule) -> int:
        """The rule's length as AWS counts it: with every variable replaced by its value."""
        return len(_VARIABLE.sub(lambda m: _ip_set_text(self.ip_sets.get(m.group(1), ())), rule.text()))


@dataclass(frozen=True)
class FirewallPolicyRules:
    """Everything the stateful engine gets: the rule groups in priority order and the policy's HOME_NET."""

    home_net: tuple[str, ...]
    groups: tuple[RuleGroup, ...]

    @property
    def rules(self) -> tuple[Rule, ...]:
        """Every rule in the order AWS evaluates them under STRICT_ORDER."""
        return tuple(rule for group in self.groups for rule in group.rules)


def _ip_set_text(definitions: Sequence[str]) -> str:
    return "[" + ",".join(definitions) + "]"


# --- Parsing ---------------------------------------------------------------------------------------------------


def parse_rule(text: str) -> Rule:
    """Parse one rule line into header and options; raise ValueError saying what is malformed."""
    text = text.strip()
    start = text.find("(")
    if start < 0 or not text.endswith(")"):
        raise ValueError("a rule is `action protocol source port -> destination port (options;)`")
    header = _split_header(text[:start])
    if len(header) != 7:
        raise ValueError(
            f"the header has {len(header)} fields, not 7 (action protocol source port direction destination port)"
        )
    if header[4] not in ("->", "<>"):
        raise ValueError(f"direction {header[4]!r} is neither -> nor <>")
    action, protocol, source, source_port, direction, destination, destination_port = header
    return Rule(
        action,
        protocol,
        source,
        source_port,
        direction,
        destination,
        destination_port,
        options=_split_options(text[start + 1 : -1]),
    )


def _split_header(text: str) -> list[str]:
    fields: list[str] = []
    current, depth = "", 0
    for char in text.strip():
        depth += {"[": 1, "]": -1}.get(char, 0)
        if depth < 0:
            raise ValueError("unbalanced ] in the header")
        if char.isspace() and depth == 0:
            if current:
                fields.append(current)
            current = ""
        else:
            current += char
    if depth:
        raise ValueError("unbalanced [ in the header")
    return [*fields, current] if current else fields


def _split_options(text: str) -> tuple[Option, ...]:
    options: list[Option] = []
    current, quoted, escaped = "", False, False
    for char in text:
        if escaped:
            current, escaped = current + char, False
        elif char == "\\":
            current, escaped = current + char, True
        elif char == '"':
            current, quoted = current + char, not quoted
        elif char == ";" and not quoted:
            options.append(_option(current))
            current = ""
        else:
            current += char
    if quoted:
        raise ValueError("a quoted option value is not closed")
    if current.strip():
        raise ValueError(f"option {current.strip()!r} does not end with ;")
    return tuple(options)


def _option(text: str) -> Option:
    keyword, colon, value = text.partition(":")
    keyword = keyword.strip()
    if not re.fullmatch(r"[a-z0-9_.-]+", keyword):
        raise ValueError(f"{keyword!r} is not a rule keyword")
    return (keyword, value.strip() if colon else None)


def parse_rules_file(path: Path, shown_as: str) -> tuple[tuple[int, Rule], ...]:
    """Every rule of a rules file with its line number; comments and blank lines are skipped."""
    rules = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if line.rstrip().endswith("\\"):
            raise RuleError("extraRulesFile", f"{shown_as} line {number}: write each rule on one line")
        try:
            rules.append((number, parse_rule(line)))
        except ValueError as error:
            raise RuleError("extraRulesFile", f"{shown_as} line {number}: {error}") from None
    return tuple(rules)


# --- What AWS accepts ------------------------------------------------------------------------------------------


def aws_problems(rule: Rule) -> list[str]:
    """Why AWS Network Firewall would refuse this rule in a STRICT_ORDER group (empty if it would not)."""
    problems = []
    if rule.action not in ACTIONS:
        problems.append(f"action {rule.action!r} is not supported: use one of {', '.join(ACTIONS)}")
    if rule.protocol in UNSUPPORTED_PROTOCOLS:
        problems.append(UNSUPPORTED_PROTOCOLS[rule.protocol])
    for required in ("msg", "sid", "rev"):
        if rule.option(required) is None:
            problems.append(f"it has no {required}")
    if rule.option("sid") is not None and (rule.sid is None or rule.sid < 1):
        problems.append(f"sid {rule.option('sid')} is not a positive number")
    if rule.option("rev") is not None and (rule.rev is None or rule.rev < 1):
        problems.append(f"rev {rule.option('rev')} is not a positive number")
    buffer, has_content = None, rule.option("content") is not None
    for keyword, value in rule.options:
        if keyword in UNSUPPORTED_KEYWORDS:
            problems.append(f"{keyword}: {UNSUPPORTED_KEYWORDS[keyword]}")
        problems += [
            f"{keyword}: {why}"
            for prefix, why in UNSUPPORTED_KEYWORD_PREFIXES.items()
            if keyword.startswith(prefix)
        ]
        if keyword == "xbits" and value and _HOST_TRACKING.search(value):
            problems.append("xbits: tracking by IP address is not supported")
        if keyword == "tag" and value and value.split(",")[0].strip() == "host":
            problems.append("tag:host is not supported")
        if keyword == "app-layer-protocol" and value and value.lstrip("!") in UNSUPPORTED_PROTOCOLS:
            problems.append(f"app-layer-protocol:{value}: {UNSUPPORTED_PROTOCOLS[value.lstrip('!')]}")
        if value is None and _STICKY_BUFFER.fullmatch(keyword):
            buffer = keyword
        if keyword == "pcre" and not has_content and buffer not in PCRE_BUFFERS:
            problems.append("pcre is only allowed with content or on tls.sni, http.host or dns.query")
    return problems


def check_group(group: RuleGroup, inherited: Iterable[str] = ("EXTERNAL_NET",)) -> None:
    """Refuse a group AWS would refuse: unsupported rules, undefined variables, size and capacity quotas."""
    # The baseline is fixed (and tested): only the tenant's rules and the allow-list vary with the config.
    key = "extraRulesFile" if group.key == "tenant" else "egressDomains"
    defined = {*group.ip_sets, *inherited}
    for rule in group.rules:
        where = f"rule sid {rule.sid} ({rule.msg})"
        problems = aws_problems(rule)
        problems += [
            f"${name} is not defined: use {', '.join(sorted(defined))}" for name in rule.variables - defined
        ]
        if group.expanded_length(rule) > MAX_RULE_CHARS:
            problems.append(f"it is longer than {MAX_RULE_CHARS} characters with its variables expanded")
        if problems:
            raise RuleError(key, f"{where}: " + "; ".join(problems))
    if len(group.rules_string.encode()) > MAX_RULES_STRING_BYTES:
        raise RuleError(
            key, f"the {group.key} rules exceed {MAX_RULES_STRING_BYTES} bytes: AWS refuses the group"
        )
    if group.needed_capacity > MAX_GROUP_CAPACITY:
        raise RuleError(
            key, f"the {group.key} group needs {group.needed_capacity} capacity, over {MAX_GROUP_CAPACITY}"
        )


def check_policy(policy: FirewallPolicyRules) -> None:
    """Check every group, then what the policy as a whole must respect: unique SIDs, capacity, group count."""
    for group in policy.groups:
        check_group(group)
    sids = [rule.sid for rule in policy.rules]
    duplicates = sorted({sid for sid in sids if sid is not None and sids.count(sid) > 1})
    if duplicates:
        raise RuleError("extraRulesFile", f"SIDs {duplicates} are used twice: every rule needs its own sid")
    if len(policy.groups) > MAX_GROUPS_PER_POLICY:
        raise RuleError("extraRulesFile", f"more than {MAX_GROUPS_PER_POLICY} stateful rule groups")
    total = sum(group.capacity for group in policy.groups)
    if total > MAX_POLICY_CAPACITY:
        raise RuleError(
            "egressDomains",
            f"the rule groups reserve {total} capacity, over the policy's {MAX_POLICY_CAPACITY}",
        )


def check_tenant_rules(rules: Sequence[tuple[int, Rule]], shown_as: str) -> None:
    """The tenant's own rules: what AWS accepts, SIDs in the tenant range and increasing down the file.

    Increasing SIDs make the order AWS evaluates them in (the file's) the order Suricata sorts them in (by SID),
    so alert logs read in evaluation order and the tests can reproduce it.
    """
    previous: tuple[int, int] | None = None
    for number, rule in rules:
        problems = aws_problems(rule)
        if rule.sid is not None and rule.sid not in TENANT_SID_RANGE:
            problems.append(
                f"sid {rule.sid} is outside {TENANT_SID_RANGE.start}-{TENANT_SID_RANGE.stop - 1}, "
                "the range kept for tenant rules so they never collide with generated ones"
            )
        if rule.sid is not None and previous is not None and rule.sid <= previous[0]:
            problems.append(
                f"sid {rule.sid} does not follow sid {previous[0]} of line {previous[1]}: "
                "number the rules in increasing order down the file, each sid once"
            )
        if problems:
            raise RuleError("extraRulesFile", f"{shown_as} line {number}: " + "; ".join(problems))
        if rule.sid is not None:
            previous = (rule.sid, number)


# --- Generation ------------------------------------------------------------------------------------------------


def _baseline_rules() -> tuple[Rule, ...]:
    """Intrusion signatures and protocol enforcement; fixed SIDs, increasing in evaluation order."""
    return (
        Rule.build(
            "alert",
            "ssh",
            ("!$VPN_NET", "any", "->", "$HOME_NET", "any"),
            "ACC-04 SSH into the tenant from outside the VPN range",
            100_001,
            [("flow", "to_server")],
        ),
        Rule.build(
            "drop",
            "tcp",
            ("$HOME_NET", "any", "->", "$EXTERNAL_NET", str(HTTPS_PORT)),
            "EDGE-03 egress on port 443 that is not TLS",
            100_002,
            [("flow", "to_server,established"), ("app-layer-protocol", "!tls")],
        ),
        Rule.build(
            "drop",
            "tls",
            ("any", "any", "->", "any", "any"),
            "EDGE-03 TLS client offering nothing newer than TLS 1.1",
            100_003,
            [("flow", "to_server,established"), ("ssl_version", "sslv2,sslv3,tls1.0,tls1.1")],
        ),
        Rule.build(
            "drop",
            "ssh",
            ("$HOME_NET", "any", "->", "$EXTERNAL_NET", "any"),
            "ACC-04 SSH out of the tenant",
            100_004,
            [("flow", "to_server")],
        ),
        Rule.build(
            "drop",
            "http",
            ("$HOME_NET", "any", "->", "$EXTERNAL_NET", f"!{HTTP_PORT}"),
            "EDGE-03 plain HTTP out of the tenant on a port other than 80",
            100_005,
            [("flow", "to_server,established")],
        ),
    )


def allow_sid(identity: str) -> int:
    """A SID that depends only on what the rule allows, so adding or removing others never renumbers it."""
    return ALLOW_SID_BASE + zlib.crc32(identity.encode()) % ALLOW_SID_SPAN


def _egress_rule(domain: str, protocol: Literal["tls", "http"]) -> Rule:
    # A leading dot means the domain and all its subdomains, as in AWS domain lists: `dotprefix` puts a dot in
    # front of the name so ".example.com" matches "example.com" and "a.example.com", never "badexample.com".
    name = domain.lstrip(".")
    if domain.startswith("."):
        match: list[Option] = [("dotprefix", None), ("content", f'"{domain}"'), ("endswith", None)]
        what = f"{name} and its subdomains"
    else:
        match = [("content", f'"{domain}"'), ("startswith", None), ("endswith", None)]
        what = name
    # The HTTP host buffer is already lowercase in Suricata; the TLS SNI is compared without case.
    buffer: list[Option] = [("tls.sni", None)] if protocol == "tls" else [("http.host", None)]
    return Rule.build(
        "pass",
        protocol,
        ("$HOME_NET", "any", "->", "$EXTERNAL_NET", str(EGRESS_PORTS[protocol])),
        f"NET-03 egress {protocol.upper()} to {what}",
        allow_sid(f"egress {protocol} {domain}"),
        [
            ("flow", "to_server,established"),
            *buffer,
            *match,
            *([("nocase", None)] if protocol == "tls" else []),
        ],
    )


def _ingress_rules(vpn_protocol: str, vpn_port: int) -> list[Rule]:
    # A pass applies to the whole flow only when it matches application-layer state; a plain header match
    # passes the matching packets alone, and the server's replies would meet the default drop. Hence the
    # ClientHello state for TLS and the request's protocol field for HTTP.
    web = [
        Rule.build(
            "pass",
            "tls",
            ("$EXTERNAL_NET", "any", "->", "$HOME_NET", str(HTTPS_PORT)),
            "NET-03 ingress HTTPS to the load balancer",
            allow_sid(f"ingress tls {HTTPS_PORT}"),
            [("flow", "to_server,established"), ("ssl_state", "client_hello")],
        ),
        Rule.build(
            "pass",
            "http",
            ("$EXTERNAL_NET", "any", "->", "$HOME_NET", str(HTTP_PORT)),
            "NET-03 ingress HTTP to the load balancer, which only redirects to HTTPS",
            allow_sid(f"ingress http {HTTP_PORT}"),
            [
                ("flow", "to_server,established"),
                ("http.protocol", None),
                ("content", '"HTTP/1."'),
                ("startswith", None),
            ],
        ),
    ]
    # OpenVPN has no Suricata parser: a port rule, matching both directions so that every packet of the flow
    # is passed, not only the client's.
    vpn = Rule.build(
        "pass",
        vpn_protocol,
        ("$EXTERNAL_NET", "any", "<>", "$HOME_NET", str(vpn_port)),
        f"ACC-01 ingress OpenVPN {vpn_protocol.upper()} {vpn_port} to the bastion",
        allow_sid(f"ingress {vpn_protocol} {vpn_port}"),
    )
    return [*web, vpn]


def firewall_rules(config: TenantConfig) -> FirewallPolicyRules:
    """The rule groups of the tenant's firewall policy, generated from its validated config."""
    home_net = (str(config.vpc_cidr),)
    ip_sets = {"HOME_NET": home_net, "VPN_NET": (str(config.vpn_client_cidr),)}
    allow = [
        _egress_rule(entry.domain, protocol)
        for entry in config.firewall.egress_domains
        for protocol in entry.protocols
    ]
    allow += _ingress_rules(config.bastion.vpn_protocol, config.bastion.vpn_port)
    groups = [
        RuleGroup(
            "baseline",
            "Intrusion signatures and protocol enforcement",
            BASELINE_PRIORITY,
            _baseline_rules(),
            ip_sets,
        )
    ]
    tenant = config.firewall.extra_rules
    if tenant:
        groups.append(
            RuleGroup(
                "tenant",
                "The tenant's own rules",
                TENANT_PRIORITY,
                tuple(rule for _, rule in tenant),
                ip_sets,
            )
        )
    sids = [rule.sid for rule in allow]
    if len(set(sids)) != len(sids):
        raise RuleError(
            "egressDomains", "two allow-list entries map to one SID: report this, it is a hash collision"
        )
    groups.append(
        RuleGroup(
            "allow",
            "Egress domain allow-list and the ingress the stack serves",
            ALLOW_PRIORITY,
            tuple(sorted(allow, key=lambda rule: rule.sid or 0)),
            ip_sets,
        )
    )
    policy = FirewallPolicyRules(home_net, tuple(groups))
    check_policy(policy)
    return policy


# --- The engine ------------------------------------------------------------------------------------------------


def engine_config(ip_sets: Mapping[str, Sequence[str]]) -> dict[str, Any]:
    """A minimal suricata.yaml for checking rules: the variables as AWS defines them, no outputs, no stats."""
    groups = {name: _ip_set_text(definitions) for name, definitions in ip_sets.items()}
    # AWS always defines EXTERNAL_NET as the negation of the policy's HOME_NET.
    groups.setdefault("EXTERNAL_NET", "!$HOME_NET")
    return {
        "vars": {"address-groups": groups, "port-groups": {}},
        "stats": {"enabled": False},
        "outputs": [],
        "logging": {"default-log-level": "notice", "outputs": [{"console": {"enabled": True}}]},
        "app-layer": {
            "protocols": {"tls": {"enabled": True}, "http": {"enabled": True}, "ssh": {"enabled": True}}
        },
    }


def write_engine_config(path: Path, config: Mapping[str, Any]) -> Path:
    path.write_text("%YAML 1.1\n---\n" + yaml.safe_dump(dict(config), sort_keys=False))
    return path


def suricata_binary() -> str:
    found = shutil.which("suricata")
    if found is None:
        raise FileNotFoundError(
            "suricata is not installed: run scripts/apt-deps (Suricata 7 from bookworm-backports)"
        )
    return found


def engine_problems(
    rules: str, ip_sets: Mapping[str, Sequence[str]], line_names: Sequence[str] | None = None
) -> list[str]:
    """What the real Suricata says loading these rules strictly (`suricata -T`); empty when they all load.

    `line_names` say where each line of `rules` comes from (e.g. "acme.rules line 4"), for the messages.
    """
    with tempfile.TemporaryDirectory(prefix="secure-tenant-suricata-") as directory:
        work = Path(directory)
        (work / "rules").write_text(rules)
        result = subprocess.run(
            [
                suricata_binary(),
                "-T",
                "--init-errors-fatal",
                "-c",
                str(write_engine_config(work / "suricata.yaml", engine_config(ip_sets))),
                "-S",
                str(work / "rules"),
                "-l",
                str(work),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def where(match: re.Match[str]) -> str:
        number = int(match.group(1))
        return (
            f"at {line_names[number - 1]}"
            if line_names and number <= len(line_names)
            else f"at line {number}"
        )

    said = [
        _ENGINE_FILE_LINE.sub(where, line)
        for line in (result.stdout + result.stderr).splitlines()
        if line.startswith(("E:", "W:")) and not _ENGINE_NOISE.search(line)
    ]
    if result.returncode != 0:
        return said or [f"suricata -T exited with {result.returncode}"]
    return said
