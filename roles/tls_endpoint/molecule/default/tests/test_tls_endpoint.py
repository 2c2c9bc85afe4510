"""The TLS endpoint (EDGE-03, EDGE-04, CRY-03) as a client on this machine sees it: sslyze against the lab host's
address, plain HTTP and HTTPS requests, and the role itself refusing weak certificates."""

from __future__ import annotations

import http.client
import os
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from sslyze import (
    CertificateInfoExtraArgument,
    ScanCommand,
    ScanCommandAttemptStatusEnum,
    ScanCommandsExtraArguments,
    Scanner,
    ServerNetworkLocation,
    ServerScanRequest,
    ServerScanResult,
    ServerScanStatusEnum,
    TlsResumptionSupportEnum,
)
from sslyze.mozilla_tls_profile.tls_config_checker import (
    SCAN_COMMANDS_NEEDED_BY_MOZILLA_CHECKER,
    MozillaTlsConfiguration,
    ServerNotCompliantWithTlsConfiguration,
    TlsConfigurationEnum,
    check_server_against_tls_configuration,
)

from lab.verify import sandboxed_exposure

ROLE_DIR = Path(__file__).resolve().parents[3]
SERVER_NAME = "app.lab.test"
CA_PATH = "/etc/ssl/lab-test/ca.crt"


@pytest.fixture(scope="module")
def address(host: Any) -> str:
    return str(host.ansible.get_variables()["ansible_host"])


@pytest.fixture(scope="module")
def ca_file(host: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The lab test CA, which clients of this endpoint trust (the pki role's CA in production)."""
    path = tmp_path_factory.mktemp("ca") / "ca.crt"
    path.write_text(host.file(CA_PATH).content_string)
    return path


@pytest.fixture(scope="module")
def scan(address: str, ca_file: Path) -> ServerScanResult:
    """One sslyze scan from this machine with everything the Mozilla checker needs, HTTP headers and resumption."""
    scanner = Scanner()
    scanner.queue_scans(
        [
            ServerScanRequest(
                server_location=ServerNetworkLocation(hostname=SERVER_NAME, port=443, ip_address=address),
                scan_commands=SCAN_COMMANDS_NEEDED_BY_MOZILLA_CHECKER
                | {ScanCommand.HTTP_HEADERS, ScanCommand.SESSION_RESUMPTION},
                scan_commands_extra_arguments=ScanCommandsExtraArguments(
                    certificate_info=CertificateInfoExtraArgument(custom_ca_file=ca_file)
                ),
            )
        ]
    )
    (result,) = scanner.get_results()
    assert result.scan_status == ServerScanStatusEnum.COMPLETED, result.connectivity_error_trace
    assert result.scan_result is not None
    return result


def scan_result(scan: ServerScanResult, command: str) -> Any:
    attempt = getattr(scan.scan_result, command)
    assert attempt.status == ScanCommandAttemptStatusEnum.COMPLETED, attempt.error_trace
    return attempt.result


def request(address: str, port: int, path: str, ca_file: Path | None = None) -> http.client.HTTPResponse:
    connection: http.client.HTTPConnection
    if ca_file is None:
        connection = http.client.HTTPConnection(address, port, timeout=10)
    else:
        # The certificate names the host's address too, so the connection verifies it like any client would.
        context = ssl.create_default_context(cafile=str(ca_file))
        connection = http.client.HTTPSConnection(address, port, timeout=10, context=context)
    connection.request("GET", path, headers={"Host": SERVER_NAME})
    response = connection.getresponse()
    response.read()
    connection.close()
    return response


def test_endpoint_complies_with_mozilla_intermediate(scan: ServerScanResult) -> None:
    intermediate = MozillaTlsConfiguration.get(TlsConfigurationEnum.MOZILLA_INTERMEDIATE)
    try:
        check_server_against_tls_configuration(scan, intermediate)
    except ServerNotCompliantWithTlsConfiguration as error:
        pytest.fail(f"not Mozilla intermediate: {error.issues}")


def test_only_tls_1_2_and_1_3_are_accepted(scan: ServerScanResult) -> None:
    for refused in ["ssl_2_0", "ssl_3_0", "tls_1_0", "tls_1_1"]:
        assert not scan_result(scan, f"{refused}_cipher_suites").is_tls_version_supported, refused
    for accepted in ["tls_1_2", "tls_1_3"]:
        assert scan_result(scan, f"{accepted}_cipher_suites").is_tls_version_supported, accepted


def test_tls_1_2_offers_only_ecdhe_aead_suites(scan: ServerScanResult) -> None:
    accepted = {
        suite.cipher_suite.name for suite in scan_result(scan, "tls_1_2_cipher_suites").accepted_cipher_suites
    }
    assert accepted == {
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
    }


def test_sessions_resume_from_the_cache_and_never_from_tickets(scan: ServerScanResult) -> None:
    resumption = scan_result(scan, "session_resumption")
    assert resumption.session_id_resumption_result == TlsResumptionSupportEnum.FULLY_SUPPORTED
    assert resumption.tls_ticket_resumption_result == TlsResumptionSupportEnum.NOT_SUPPORTED


def test_certificate_is_rsa_2048_signed_sha256_and_trusted(scan: ServerScanResult) -> None:
    (deployment,) = scan_result(scan, "certificate_info").certificate_deployments
    leaf = deployment.received_certificate_chain[0]
    assert leaf.public_key().key_size == 2048
    assert leaf.signature_algorithm_oid._name == "sha256WithRSAEncryption"
    assert deployment.verified_certificate_chain is not None, "not trusted through the lab CA"
    names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert SERVER_NAME in names.get_values_for_type(x509.DNSName)


def test_hsts_lasts_two_years(scan: ServerScanResult) -> None:
    hsts = scan_result(scan, "http_headers").strict_transport_security_header
    assert hsts is not None, "no Strict-Transport-Security header"
    assert hsts.max_age == 63072000


def test_plain_http_redirects_permanently_to_https(address: str) -> None:
    response = request(address, 80, "/some/page?query=1")
    assert response.status == 301
    assert response.getheader("Location") == f"https://{SERVER_NAME}/some/page?query=1"
    assert response.getheader("Server") == "nginx"
    assert response.getheader("Strict-Transport-Security") is None


def test_https_serves_the_app_with_security_headers_and_no_version(address: str, ca_file: Path) -> None:
    response = request(address, 443, "/", ca_file)
    assert response.status == 200
    # The app (Python's http.server) announces "SimpleHTTP/... Python/..."; nginx replaces it.
    assert response.getheader("Server") == "nginx"
    defaults = yaml.safe_load((ROLE_DIR / "defaults" / "main.yml").read_text())
    for name, value in defaults["tls_endpoint_security_headers"].items():
        assert response.getheader(name) == value, name
    assert response.getheader("Strict-Transport-Security") == "max-age=63072000"


def test_error_responses_carry_hsts_too(address: str, ca_file: Path) -> None:
    response = request(address, 443, "/does-not-exist", ca_file)
    assert response.status == 404
    assert response.getheader("Strict-Transport-Security") == "max-age=63072000"
    assert response.getheader("Server") == "nginx"


def test_installed_configuration_passes_nginx_test(host: Any) -> None:
    with host.sudo():
        assert host.run("nginx -t -q").rc == 0


@pytest.fixture
def nginx_conf_unchanged(host: Any) -> Iterator[None]:
    with host.sudo():
        before = host.file("/etc/nginx/nginx.conf").sha256sum
    yield
    with host.sudo():
        assert host.file("/etc/nginx/nginx.conf").sha256sum == before
    assert host.service("nginx").is_running


@pytest.mark.usefixtures("nginx_conf_unchanged")
@pytest.mark.parametrize(
    ("certificate", "shown"),
    [("weak-key", "it has RSA 1024"), ("weak-signature", "it has sha1WithRSAEncryption")],
)
def test_role_refuses_a_weak_certificate_before_touching_nginx(
    tmp_path: Path, certificate: str, shown: str
) -> None:
    playbook = tmp_path / "weak.yml"
    playbook.write_text(
        yaml.safe_dump([{"name": "Weak", "hosts": "all", "become": True, "roles": ["tls_endpoint"]}])
    )
    run = subprocess.run(
        [
            str(Path(sys.executable).with_name("ansible-playbook")),
            "--inventory",
            os.environ["MOLECULE_INVENTORY_FILE"],
            "--extra-vars",
            f"tls_endpoint_certificate_path=/etc/ssl/lab-test/{certificate}.crt",
            "--extra-vars",
            f"tls_endpoint_private_key_path=/etc/ssl/lab-test/private/{certificate}.key",
            str(playbook),
        ],
        env={**os.environ, "ANSIBLE_ROLES_PATH": str(ROLE_DIR.parent), "ANSIBLE_FORCE_COLOR": "0"},
        capture_output=True,
        text=True,
        check=False,
    )
    output = run.stdout + run.stderr
    assert run.returncode == 2, output
    assert "tls_endpoint_certificate_path" in output and "EDGE-04" in output, output
    assert shown in output, output
    assert "Install nginx]" not in output


def test_nginx_runs_in_its_sandbox_rated_ok_or_better(host: Any) -> None:
    exposure = sandboxed_exposure(host, "nginx.service")
    print(f"nginx.service: {exposure.value} {exposure.rating}")
    # The master writes its pid file in the runtime directory the sandbox gives it.
    with host.sudo():
        assert host.file("/run/nginx/nginx.pid").content_string.strip() == host.check_output(
            "systemctl show --property=MainPID --value nginx.service"
        )
