"""A bastion's logs reach the collector over mutually authenticated TLS, and only a permitted sender's do.

Both hosts were configured by the role (bastion: sender, collector: receiver). Every refusal is checked against a
line a permitted sender wrote after it: once that one has arrived, the refused one had every chance to arrive too.
"""

from __future__ import annotations

import base64
import os
import time
import uuid
from collections.abc import Callable, Iterator

import pytest
import testinfra

INVENTORY = os.environ["MOLECULE_INVENTORY_FILE"]
REMOTE_DIR = "/var/log/remote"
TLS_DIR = "/etc/ssl/secure-tenant"
SPOOL = "/var/spool/rsyslog"
PORT = 2514
# Longer than rsyslog's resume interval (10 s) a few times over: a suspended action retries with a growing delay.
ARRIVAL_SECONDS = 120


def lab_host(name: str) -> testinfra.host.Host:
    return testinfra.get_host(f"ansible://{name}?ansible_inventory={INVENTORY}")


@pytest.fixture(scope="module")
def bastion() -> testinfra.host.Host:
    return lab_host("log-bastion")


@pytest.fixture(scope="module")
def collector() -> testinfra.host.Host:
    return lab_host("log-collector")


@pytest.fixture(scope="module")
def collector_address(collector: testinfra.host.Host) -> str:
    return str(collector.ansible.get_variables()["ansible_host"])


def marker(what: str) -> str:
    return f"st-{what}-{uuid.uuid4().hex[:12]}"


def received(collector: testinfra.host.Host) -> str:
    """Every line the collector has received, from every sender."""
    with collector.sudo():
        result = collector.run("find %s -type f -name '*.log' -exec cat {} +", REMOTE_DIR)
    return result.stdout


def wait_until(condition: Callable[[], bool], seconds: float = ARRIVAL_SECONDS) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(2)
    return condition()


def arrives(collector: testinfra.host.Host, *markers: str) -> list[str]:
    """Wait for the markers at the collector; return those that never arrived."""
    wait_until(lambda: all(m in received(collector) for m in markers))
    text = received(collector)
    return [m for m in markers if m not in text]


def log(
    host: testinfra.host.Host, message: str, *, tag: str = "st-test", priority: str = "user.notice"
) -> None:
    host.check_output("logger -t %s -p %s %s", tag, priority, message)


# --- what the hosts run --------------------------------------------------------------------------------------
def test_the_collector_listens_for_syslog_over_tls_only(collector: testinfra.host.Host) -> None:
    assert (
        collector.socket(f"tcp://0.0.0.0:{PORT}").is_listening
        or collector.socket(f"tcp://:::{PORT}").is_listening
    )
    assert not collector.socket("tcp://0.0.0.0:514").is_listening
    assert not collector.socket("udp://0.0.0.0:514").is_listening


def test_the_collector_presents_its_certificate_and_refuses_old_tls(
    bastion: testinfra.host.Host, collector_address: str
) -> None:
    connect = f"openssl s_client -connect {collector_address}:{PORT} -brief"
    modern = bastion.run(
        f"{connect} -CAfile {TLS_DIR}/ca.crt -verify_return_error -verify_hostname logs.acme-lab.internal </dev/null"
    )
    assert "Verification: OK" in modern.stderr, modern.stderr
    old = bastion.run(f"{connect} -tls1_1 -cipher DEFAULT:@SECLEVEL=0 </dev/null")
    assert "CONNECTION ESTABLISHED" not in old.stderr, old.stderr


# --- a line logged on the bastion arrives ------------------------------------------------------------------------
def test_syslog_auth_journal_and_audit_lines_of_the_bastion_arrive_at_the_collector(
    bastion: testinfra.host.Host, collector: testinfra.host.Host
) -> None:
    system, auth, journal, audit = (marker(kind) for kind in ("system", "auth", "journal", "audit"))
    log(bastion, system, priority="daemon.info")
    log(bastion, auth, tag="sshd", priority="authpriv.notice")
    # Through journald, as OpenVPN logs (its unit writes to the journal, which hands every line to rsyslog).
    bastion.check_output("echo %s | systemd-cat -t openvpn -p info", journal)
    # auditd writes its file itself (a lab host shares the machine's kernel audit, so the line is appended here).
    with bastion.sudo():
        bastion.check_output(
            "echo %s >> /var/log/audit/audit.log",
            f"type=USER_CMD msg=audit({time.time():.3f}:1): pid=1 uid=0 msg='cmd={audit}'",
        )
    assert arrives(collector, system, auth, journal, audit) == []
    hostname = bastion.check_output("hostname")
    with collector.sudo():
        assert collector.file(f"{REMOTE_DIR}/{hostname}/sshd.log").contains(auth)
        assert collector.file(f"{REMOTE_DIR}/{hostname}/openvpn.log").contains(journal)
        assert collector.file(f"{REMOTE_DIR}/{hostname}/auditd.log").contains(audit)


def test_received_lines_stay_out_of_the_collector_s_own_logs(
    bastion: testinfra.host.Host, collector: testinfra.host.Host
) -> None:
    line = marker("apart")
    log(bastion, line)
    assert arrives(collector, line) == []
    with collector.sudo():
        assert not collector.file("/var/log/syslog").contains(line)


# --- a sender without a valid certificate is refused ------------------------------------------------------------
@pytest.fixture(scope="module")
def impostor_files(bastion: testinfra.host.Host) -> dict[str, str]:
    """A self-signed certificate carrying the permitted sender's very name, made on the bastion."""
    with bastion.sudo():
        bastion.check_output(
            "openssl req -x509 -newkey rsa:2048 -sha256 -days 2 -nodes -subj /CN=a.bastion.acme-lab.internal "
            "-addext subjectAltName=DNS:a.bastion.acme-lab.internal -addext extendedKeyUsage=clientAuth "
            "-keyout /root/impostor.key -out /root/impostor.crt"
        )
    return {"cert": "/root/impostor.crt", "key": "/root/impostor.key"}


def relp_session(line: str) -> bytes:
    """A whole RELP session by hand (open, one syslog message, close), as librelp frames it."""
    offer = b"relp_version=0\nrelp_software=secure-tenant-test\ncommands=syslog"
    message = f"<13>1 - impostor.example by-hand - - - {line}".encode()
    frames = [(1, b"open", offer), (2, b"syslog", message), (3, b"close", b"")]
    return b"".join(
        b"%d %s %d%s\n" % (number, command, len(data), b" " + data if data else b"")
        for number, command, data in frames
    )


def send_raw(
    bastion: testinfra.host.Host, address: str, line: str, client_files: dict[str, str] | None
) -> str:
    """Send one message over RELP in TLS with openssl s_client; return what openssl said. The session goes base64
    encoded through the command line, which sudo logs (and the bastion forwards): the marker itself must not."""
    session = base64.b64encode(relp_session(line)).decode()
    credentials = f"-cert {client_files['cert']} -key {client_files['key']}" if client_files else ""
    with bastion.sudo():
        result = bastion.run(
            f"(echo {session} | base64 -d; sleep 3) | "
            f"timeout 20 openssl s_client -connect {address}:{PORT} -CAfile {TLS_DIR}/ca.crt {credentials} -quiet"
        )
    return result.stdout + result.stderr


@pytest.mark.parametrize(
    "client",
    [
        "no certificate",
        "self-signed with the permitted name",
        "our CA, name not permitted",
        "our CA, permitted name, server-only",
    ],
)
def test_a_sender_without_a_valid_certificate_is_refused(
    bastion: testinfra.host.Host,
    collector: testinfra.host.Host,
    collector_address: str,
    impostor_files: dict[str, str],
    client: str,
) -> None:
    files = {
        "no certificate": None,
        "self-signed with the permitted name": impostor_files,
        "our CA, name not permitted": {
            "cert": f"{TLS_DIR}/syslog-intruder.crt",
            "key": f"{TLS_DIR}/private/syslog-intruder.key",
        },
        # Our CA and a permitted name, but a server's certificate (serverAuth only), not one to log in with.
        "our CA, permitted name, server-only": {
            "cert": f"{TLS_DIR}/syslog-server-only.crt",
            "key": f"{TLS_DIR}/private/syslog-server-only.key",
        },
    }[client]
    refused, control = marker("refused"), marker("control")
    said = send_raw(bastion, collector_address, refused, files)
    log(bastion, control)
    assert arrives(collector, control) == [], "the permitted sender's control line did not arrive"
    time.sleep(3)
    assert refused not in received(collector), f"{client}: the collector accepted it; openssl said:\n{said}"


def test_the_permitted_certificate_sent_by_hand_is_accepted(
    bastion: testinfra.host.Host, collector: testinfra.host.Host, collector_address: str
) -> None:
    """The refusals above are the certificates', not the hand-made frame's: the same frame with the bastion's
    own certificate arrives."""
    line = marker("by-hand")
    send_raw(
        bastion,
        collector_address,
        line,
        {"cert": f"{TLS_DIR}/syslog-bastion.crt", "key": f"{TLS_DIR}/private/syslog-bastion.key"},
    )
    assert arrives(collector, line) == []


# --- a collector outage queues on disk and delivers after it comes back -----------------------------------------
# rsyslog.service is also started by syslog.socket on the next local message; stopping both is a real outage.
STOP_RSYSLOG = "systemctl stop syslog.socket rsyslog.service"


@pytest.fixture
def collector_outage(collector: testinfra.host.Host) -> Iterator[None]:
    """The collector is away for the test's body, and back (so the tests after it find it) whatever happens."""
    with collector.sudo():
        collector.check_output(STOP_RSYSLOG)
    try:
        yield
    finally:
        with collector.sudo():
            collector.check_output("systemctl start rsyslog")


def test_a_collector_outage_queues_and_delivers_every_line_when_it_is_back(
    bastion: testinfra.host.Host, collector: testinfra.host.Host, collector_outage: None
) -> None:
    lines = [marker(f"outage-{i}") for i in range(40)]
    for line in lines:
        log(bastion, line)
    time.sleep(10)
    assert not any(line in received(collector) for line in lines)
    with collector.sudo():
        collector.check_output("systemctl start rsyslog")
    assert arrives(collector, *lines) == []


def test_the_queue_of_a_collector_outage_is_kept_on_disk_across_a_restart_of_the_sender(
    bastion: testinfra.host.Host, collector: testinfra.host.Host, collector_outage: None
) -> None:
    """What rsyslog queued survives the sender's restart. Lines handed to RELP in the instant the collector went
    away (before the sender saw the connection break) wait in librelp's window of unacknowledged messages, which
    a restart of the sender does not keep; so the sender first notices the outage, as it does after one message."""
    since = "@" + bastion.check_output("date +%s")
    with bastion.sudo():
        log(bastion, marker("notice-the-outage"))
        noticed = bastion.run(
            f'timeout 30 sh -c \'until journalctl -u rsyslog --since {since} | grep -q "secure_tenant_forward. suspended";'
            " do sleep 1; done'"
        )
    assert noticed.rc == 0, "the bastion's rsyslog never suspended forwarding"
    lines = [marker(f"spooled-{i}") for i in range(40)]
    for line in lines:
        log(bastion, line)
    time.sleep(3)
    with bastion.sudo():
        # Stopping rsyslog while the collector is away writes the queue to disk (saveOnShutdown)...
        bastion.check_output(STOP_RSYSLOG)
        spooled = bastion.check_output("find %s -name 'secure_tenant_forward.*' -size +0", SPOOL)
        on_disk = bastion.check_output("cat %s/secure_tenant_forward.0*", SPOOL)
        bastion.check_output("systemctl start rsyslog")
        # ...and its next start reads it back.
        reloaded = bastion.check_output("journalctl -u rsyslog --no-pager --since %s", since)
    assert f"{SPOOL}/secure_tenant_forward.qi" in spooled.split(), spooled
    assert all(line in on_disk for line in lines)
    assert "secure_tenant_forward queue[DA]: queue files exist on disk" in reloaded, reloaded
    assert not any(line in received(collector) for line in lines)
    with collector.sudo():
        collector.check_output("systemctl start rsyslog")
    assert arrives(collector, *lines) == []
