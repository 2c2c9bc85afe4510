"""CRY-04 on a real Debian 12 host: the OpenSSL floor and the system-wide TLS policy, shown by live handshakes.

TLS servers run on the host as transient systemd units. Every refusal is paired with a control: the same probe
against (or from) an OpenSSL without our policy succeeds, so none of these assertions could pass on an
unhardened host. Server-side checks use a client with the unhardened configuration, so a refusal can only come
from the server's system policy.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from ansible.plugins.test.core import version_compare  # the `is version(...)` test the role uses

SCENARIO = Path(__file__).resolve().parents[1]
ROLE = SCENARIO.parents[1]
POLICY = "/etc/ssl/openssl.cnf"
PROBE = "/run/openssl-probe"
# An OpenSSL configuration without any system TLS policy: what the host had before the role.
UNHARDENED = f"{PROBE}/unhardened.cnf"
# Upstream OpenSSL's default security level (1), which accepts 1024-bit RSA keys; Debian builds default to 2.
LEVEL1 = f"{PROBE}/level1.cnf"
WEAKEST_CIPHERS = "DEFAULT:@SECLEVEL=0"
TLS13_SUITES = {"TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256", "TLS_AES_128_GCM_SHA256"}

# name -> (port, OPENSSL_CONF of the server or None for the system policy, certificate, extra s_server args)
SERVERS = {
    "hardened": (4433, None, "rsa2048", []),
    "hardened-cipher-override": (4434, None, "rsa2048", ["-cipher", WEAKEST_CIPHERS]),
    "unhardened": (4435, UNHARDENED, "rsa2048", ["-cipher", WEAKEST_CIPHERS]),
    "unhardened-rsa1024": (4436, UNHARDENED, "rsa1024", ["-cipher", WEAKEST_CIPHERS]),
}


def _load_filter() -> Callable[[str], str]:
    spec = importlib.util.spec_from_file_location(
        "openssl_version", ROLE / "filter_plugins/openssl_version.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.openssl_comparable_version  # type: ignore[no-any-return]


def _write(host, path: str, lines: list[str]) -> None:
    host.run_expect([0], shlex.join(["printf", "%s\\n", *lines]) + " > " + shlex.quote(path))


@pytest.fixture(scope="module")
def probe(host) -> Iterator[str]:
    """Certificates (RSA 2048 and 1024) and the two reference configurations, under /run on the host."""
    with host.sudo():
        host.run_expect([0], shlex.join(["install", "-d", "-m", "0755", PROBE]))
        for name, bits in (("rsa2048", 2048), ("rsa1024", 1024)):
            host.run_expect(
                [0],
                shlex.join(
                    ["openssl", "req", "-x509", "-newkey", f"rsa:{bits}", "-nodes", "-days", "1"]
                    + [
                        "-subj",
                        "/CN=localhost",
                        "-keyout",
                        f"{PROBE}/{name}.key",
                        "-out",
                        f"{PROBE}/{name}.crt",
                    ]
                ),
            )
            host.run_expect([0], shlex.join(["chmod", "0644", f"{PROBE}/{name}.crt"]))
        _write(host, UNHARDENED, ["openssl_conf = openssl_init", "[openssl_init]"])
        _write(
            host,
            LEVEL1,
            ["openssl_conf = openssl_init", "[openssl_init]", "ssl_conf = ssl_sect", "[ssl_sect]"]
            + ["system_default = level1", "[level1]", "CipherString = DEFAULT:@SECLEVEL=1"],
        )
    yield PROBE
    with host.sudo():
        host.run(shlex.join(["rm", "-rf", PROBE]))


@pytest.fixture(scope="module")
def servers(host, probe: str) -> Iterator[dict[str, int]]:
    """Start every probe server as a transient unit, wait until each listens, stop them afterwards."""
    units = [f"openssl-probe-{name}.service" for name in SERVERS]
    try:
        with host.sudo():
            for unit, (port, conf, cert, extra) in zip(units, SERVERS.values(), strict=True):
                setenv = [f"--setenv=OPENSSL_CONF={conf}"] if conf else []
                server = ["/usr/bin/openssl", "s_server", "-quiet", "-www", "-accept", f"127.0.0.1:{port}"]
                server += ["-cert", f"{probe}/{cert}.crt", "-key", f"{probe}/{cert}.key", *extra]
                host.run_expect(
                    [0],
                    shlex.join(["systemd-run", "--quiet", "--collect", f"--unit={unit}", *setenv, *server]),
                )
        for name, (port, *_rest) in SERVERS.items():
            deadline = time.monotonic() + 10
            while not host.socket(f"tcp://127.0.0.1:{port}").is_listening:
                assert time.monotonic() < deadline, f"probe server {name} never listened on port {port}"
                time.sleep(0.2)
        yield {name: port for name, (port, *_rest) in SERVERS.items()}
    finally:
        with host.sudo():
            host.run(shlex.join(["systemctl", "stop", *units]))


def s_client(host, port: int, *args: str, conf: str | None = None):
    """One TLS handshake from the host to itself; `conf` replaces the system policy for this client only."""
    env = f"OPENSSL_CONF={shlex.quote(conf)} " if conf else ""
    client = ["openssl", "s_client", "-brief", "-connect", f"127.0.0.1:{port}", *args]
    return host.run(env + shlex.join(client) + " </dev/null")


def library_package(host) -> str:
    """The OpenSSL library package of the host's Debian release (renamed in Debian 13's time_t transition)."""
    return {"12": "libssl3", "13": "libssl3t64"}[host.system_info.release.split(".")[0]]


def test_openssl_is_the_distributions_newest_build(host):
    policy = host.check_output(f"apt-cache policy openssl {library_package(host)}")
    installed = re.findall(r"Installed: (\S+)", policy)
    candidates = re.findall(r"Candidate: (\S+)", policy)
    assert len(installed) == 2 and installed == candidates, policy


def test_policy_file_is_the_managed_one_and_loads_strictly(host):
    policy = host.file(POLICY)
    assert (policy.user, policy.group, policy.mode) == ("root", "root", 0o644)
    assert "Ansible managed" in policy.content_string
    check = host.run(
        shlex.join(["openssl", "req", "-config", POLICY, "-new", "-x509", "-newkey", "ed25519", "-nodes"])
        + " -keyout /dev/null -out /dev/null -subj /CN=policy-check"
    )
    assert check.rc == 0, check.stderr


@pytest.mark.parametrize("server", ["hardened", "hardened-cipher-override"])
def test_server_refuses_tls_1_1_even_from_a_client_at_security_level_0(host, servers, server):
    refused = s_client(host, servers[server], "-tls1_1", "-cipher", WEAKEST_CIPHERS, conf=UNHARDENED)
    assert refused.rc != 0
    assert "alert protocol version" in refused.stderr


def test_control_unhardened_server_accepts_that_tls_1_1_client(host, servers):
    accepted = s_client(host, servers["unhardened"], "-tls1_1", "-cipher", WEAKEST_CIPHERS, conf=UNHARDENED)
    assert accepted.rc == 0, accepted.stderr
    assert "Protocol version: TLSv1.1" in accepted.stderr


@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_server_accepts_tls_1_2_and_1_3(host, servers, version):
    accepted = s_client(host, servers["hardened"], f"-tls{version.replace('.', '_')}")
    assert accepted.rc == 0, accepted.stderr
    assert f"Protocol version: TLSv{version}" in accepted.stderr
    if version == "1.3":
        suite = re.search(r"Ciphersuite: (\S+)", accepted.stderr)
        assert suite is not None and suite.group(1) in TLS13_SUITES


def test_client_under_system_policy_will_not_speak_tls_1_1(host, servers):
    refused = s_client(host, servers["unhardened"], "-max_protocol", "TLSv1.1", "-cipher", WEAKEST_CIPHERS)
    assert refused.rc != 0
    assert "no protocols available" in refused.stderr


def test_control_client_without_the_policy_speaks_tls_1_1(host, servers):
    accepted = s_client(
        host, servers["unhardened"], "-max_protocol", "TLSv1.1", "-cipher", WEAKEST_CIPHERS, conf=UNHARDENED
    )
    assert accepted.rc == 0, accepted.stderr
    assert "Protocol version: TLSv1.1" in accepted.stderr


def test_client_under_system_policy_refuses_a_1024_bit_rsa_certificate(host, servers, probe):
    refused = s_client(
        host, servers["unhardened-rsa1024"], "-verify_return_error", "-CAfile", f"{probe}/rsa1024.crt"
    )
    assert refused.rc != 0
    assert "EE certificate key too weak" in refused.stderr


def test_control_client_at_security_level_1_accepts_that_certificate(host, servers, probe):
    accepted = s_client(
        host,
        servers["unhardened-rsa1024"],
        "-verify_return_error",
        "-CAfile",
        f"{probe}/rsa1024.crt",
        conf=LEVEL1,
    )
    assert accepted.rc == 0, accepted.stderr
    assert "Verification: OK" in accepted.stderr


def test_server_under_system_policy_refuses_to_load_a_1024_bit_key(host, probe):
    server = ["openssl", "s_server", "-www", "-accept", "127.0.0.1:4437"]
    with host.sudo():  # the key is readable by root only
        started = host.run(
            shlex.join(
                ["timeout", "10", *server, "-cert", f"{probe}/rsa1024.crt", "-key", f"{probe}/rsa1024.key"]
            )
        )
    assert started.rc == 1, "s_server started (or hung) with a 1024-bit key under the system policy"
    assert "ee key too small" in started.stderr


def _converge(host, extra_vars: dict[str, object], *args: str) -> tuple[int, str]:
    """Apply the real role to this host again through the scenario's converge playbook.

    Returns the exit status and the whole output (stdout and stderr, where ansible reports failures) on one line.
    """
    run = subprocess.run(
        [
            str(Path(sys.executable).parent / "ansible-playbook"),
            "--inventory",
            os.environ["MOLECULE_INVENTORY_FILE"],
            "--limit",
            host.backend.host,
            "--extra-vars",
            json.dumps(extra_vars),
            *args,
            str(SCENARIO / "converge.yml"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        check=False,
    )
    return run.returncode, " ".join(run.stdout.split())


def test_min_version_above_the_installed_library_fails_before_changing_anything(host):
    before = host.file(POLICY).sha256sum
    # Security level 3 would rewrite the policy file if any task after the version check ran.
    status, output = _converge(host, {"openssl_min_version": "99.0", "openssl_security_level": 3})
    assert status != 0
    assert re.search(
        rf"installed OpenSSL library is {library_package(host)} 3\.\d+\.\d+\S*, but openssl_min_version requires "
        r"OpenSSL 99\.0",
        output,
    )
    assert "nothing was changed" in output
    assert re.search(r"changed=0 .*failed=1", output)
    assert host.file(POLICY).sha256sum == before


@pytest.mark.parametrize(
    ("extra_vars", "message"),
    [
        ({"openssl_min_version": "3.x"}, 'openssl_min_version is "3.x": set it to an OpenSSL release'),
        ({"openssl_min_version": "1.0.2u"}, 'openssl_min_version is "1.0.2u": set it to an OpenSSL release'),
        ({"openssl_min_protocol": "TLSv1.1"}, "openssl_min_protocol"),
        ({"openssl_tls13_ciphersuites": ["TLS_AES_128_CCM_8_SHA256"]}, "openssl_tls13_ciphersuites"),
    ],
)
def test_bad_role_variables_are_named_before_anything_runs(host, extra_vars, message):
    status, output = _converge(host, extra_vars)
    assert status != 0
    assert message in output
    assert re.search(r"changed=0 .*failed=1", output)


def test_policy_floor_written_as_a_letter_release_is_met_by_openssl_3(host):
    status, output = _converge(host, {"openssl_min_version": "1.1.1w"}, "--check")
    assert status == 0, output[-3000:]
    assert re.search(r"changed=0 .*failed=0", output)
    # A policy floor below the release's own series does not lower it: Debian 13 still needs OpenSSL 3.5.
    release_floor = {"12": "3.0.0", "13": "3.5.0"}[host.system_info.release.split(".")[0]]
    assert f"meets {release_floor} (openssl_min_version 1.1.1w" in output


def test_a_library_package_that_is_not_installed_is_refused_naming_the_releases_own(host):
    status, output = _converge(host, {"openssl_library_package": "libssl1.1"})
    assert status != 0
    assert "The OpenSSL library package libssl1.1 is not installed; nothing was changed" in output
    assert f"'s own is {library_package(host)})" in output
    assert re.search(r"changed=0 .*failed=1", output)


@pytest.mark.parametrize(
    ("older", "newer"),
    [
        ("1.1.1", "1.1.1a"),
        ("1.1.1v", "1.1.1w"),
        ("1.0.2z", "1.0.2za"),
        ("1.1.1w", "3.0.0"),
        ("3.0.9", "3.0.19"),
        ("3.0.19-1~deb12u2", "3.0.22-1~deb12u2"),
        ("1.1.1w-0+deb11u1", "3.0.0"),
    ],
)
def test_openssl_releases_compare_in_release_order(older, newer):
    comparable = _load_filter()
    assert version_compare(comparable(older), comparable(newer), "<")
    assert version_compare(comparable(newer), comparable(older), ">=")
