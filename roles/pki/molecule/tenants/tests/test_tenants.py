"""Two tenants' bastions after one bastion.yml run: each has its own CA, certificates, CRL, clients and TOTP secrets.

prepare.yml issued every client of both tenants; converge (the same playbook) revoked mallory-laptop (acme) and
victor-laptop (globex). The controller keeps one CA per tenant environment in pki/<stack>/ of the ephemeral
directory.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import testinfra
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.x509.oid import NameOID

from lab.verify import run_playbook

INVENTORY = os.environ["MOLECULE_INVENTORY_FILE"]
EPHEMERAL = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"])
BASTION_PLAYBOOK = Path(os.environ["MOLECULE_PROJECT_DIRECTORY"]).parents[1] / "playbooks" / "bastion.yml"
PUBLISHED = "/etc/ssl/secure-tenant"
STACKS = {"acme-prod": "acme-prod-bastion-a", "globex-prod": "globex-prod-bastion-a"}
PRESENT = {"acme-prod": ["alice-laptop", "alice-phone"], "globex-prod": ["gina-phone"]}
REVOKED = {"acme-prod": ["mallory-laptop"], "globex-prod": ["victor-laptop"]}
PEOPLE = {"acme-prod": ["alice"], "globex-prod": ["gina"]}
OTHER = {"acme-prod": "globex-prod", "globex-prod": "acme-prod"}


def ca_dir(stack: str) -> Path:
    return EPHEMERAL / "pki" / stack


def controller_cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def bastion(stack: str) -> testinfra.host.Host:
    return testinfra.get_host(f"ansible://{STACKS[stack]}?ansible_inventory={INVENTORY}", sudo=True)


def issued_by(cert: x509.Certificate, ca: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, InvalidSignature):
        return False
    return True


@pytest.fixture(scope="module", params=list(STACKS))
def stack(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_the_bastions_have_no_rsyslog_for_the_log_forwarding_handlers_that_pki_notifies(stack: str) -> None:
    """The run (pki and openvpn tags, as an operator's first run on a new bastion) published new certificates, which
    notify log_forwarding's handlers too; they look for rsyslog, find none and stay out, so the run passed."""
    assert not bastion(stack).package("rsyslog").is_installed


def test_each_tenant_environment_has_its_own_ca_on_the_controller(stack: str) -> None:
    ca = controller_cert(ca_dir(stack) / "ca.crt")
    other = controller_cert(ca_dir(OTHER[stack]) / "ca.crt")
    assert ca.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == f"{stack} private CA"
    assert ca.public_key() != other.public_key()
    assert (ca_dir(stack) / "ca.key").read_bytes() != (ca_dir(OTHER[stack]) / "ca.key").read_bytes()


def test_each_bastion_s_server_certificate_chains_to_its_own_tenant_s_ca_and_not_the_other_s(
    stack: str,
) -> None:
    host = bastion(stack)
    server = x509.load_pem_x509_certificate(host.file(f"{PUBLISHED}/vpn.crt").content)
    ca = controller_cert(ca_dir(stack) / "ca.crt")
    assert issued_by(server, ca)
    assert not issued_by(server, controller_cert(ca_dir(OTHER[stack]) / "ca.crt"))
    assert server.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == f"vpn.{stack}.internal"
    # The published CA is the tenant's own, and OpenVPN verifies the chain with it on the host.
    assert host.file(f"{PUBLISHED}/ca.crt").content == (ca_dir(stack) / "ca.crt").read_bytes()
    host.run_expect([0], f"openssl verify -CAfile {PUBLISHED}/ca.crt {PUBLISHED}/vpn.crt")


def test_the_other_tenant_s_ca_does_not_verify_a_bastion_s_certificate_on_the_host(stack: str) -> None:
    host = bastion(stack)
    other_ca = (ca_dir(OTHER[stack]) / "ca.crt").read_text()
    host.run_expect([0], f"printf '%s' '{other_ca}' > /tmp/other-ca.crt")
    assert host.run(f"openssl verify -CAfile /tmp/other-ca.crt {PUBLISHED}/vpn.crt").rc != 0


def test_each_ca_issued_the_server_and_its_own_tenant_s_clients_only(stack: str) -> None:
    ca = controller_cert(ca_dir(stack) / "ca.crt")
    certs = {path.stem: controller_cert(path) for path in (ca_dir(stack) / "certs").glob("*.crt")}
    assert sorted(certs) == sorted(["vpn", *PRESENT[stack], *REVOKED[stack]])
    for name, cert in certs.items():
        assert issued_by(cert, ca), name
    # Private keys of revoked clients are destroyed; present ones stay with their CA.
    assert sorted(path.stem for path in (ca_dir(stack) / "private").glob("*.key")) == sorted(
        ["vpn", *PRESENT[stack]]
    )


def test_each_bastion_s_profiles_are_its_own_tenant_s_present_clients_signed_by_its_ca(stack: str) -> None:
    profiles = ca_dir(stack) / "profiles" / STACKS[stack]
    assert sorted(path.stem for path in profiles.glob("*.ovpn")) == PRESENT[stack]
    ca_pem = (ca_dir(stack) / "ca.crt").read_text().strip()
    for profile in profiles.glob("*.ovpn"):
        assert ca_pem in profile.read_text(), profile


def test_each_crl_is_signed_by_its_own_ca_and_lists_its_own_revoked_clients_only(stack: str) -> None:
    host = bastion(stack)
    crl = x509.load_pem_x509_crl(host.file(f"{PUBLISHED}/crl.pem").content)
    ca = controller_cert(ca_dir(stack) / "ca.crt")
    other = controller_cert(ca_dir(OTHER[stack]) / "ca.crt")
    assert crl.is_signature_valid(ca.public_key())
    assert not crl.is_signature_valid(other.public_key())
    revoked = {
        controller_cert(ca_dir(stack) / "certs" / f"{name}.crt").serial_number for name in REVOKED[stack]
    }
    assert {entry.serial_number for entry in crl} == revoked


def test_each_bastion_checks_totp_codes_of_its_own_tenant_s_certificates_only(stack: str) -> None:
    users = bastion(stack).file("/etc/openvpn/server/server-totp.users").content_string.splitlines()
    assert sorted(line.split()[1] for line in users if line.startswith("HOTP")) == PRESENT[stack]


def test_each_tenant_environment_keeps_its_own_vault_file_of_its_own_people(stack: str) -> None:
    import yaml

    secrets_file = EPHEMERAL / f"secrets-{stack}.vault.yml"
    # `!vault` values load as tagged scalars; only the names matter here.
    yaml.SafeLoader.add_constructor("!vault", lambda loader, node: "<encrypted>")
    assert sorted(yaml.safe_load(secrets_file.read_text())["openvpn_mfa_secrets"]) == PEOPLE[stack]


def test_each_ca_s_audit_log_names_its_own_tenant_s_certificates_only(stack: str) -> None:
    log = (ca_dir(stack) / "audit.log").read_text()
    assert f"ca={stack}" in log
    for name in PRESENT[OTHER[stack]] + REVOKED[OTHER[stack]]:
        assert f"name={name}" not in log


def refused(extra_vars: dict[str, object], *needles: str) -> None:
    """bastion.yml's PKI over both bastions with extra vars stops before anything changes."""
    run, output = run_playbook(BASTION_PLAYBOOK, "--tags", "pki", "--extra-vars", json.dumps(extra_vars))
    assert run.returncode != 0, output[-3000:]
    for needle in needles:
        assert needle in output, output[-3000:]
    assert "changed=0" in output and "changed=1" not in output, output[-3000:]


def test_a_server_certificate_naming_another_tenant_s_bastion_is_refused() -> None:
    refused(
        {"secure_tenant_stack_bastions": list(STACKS.values())},
        "whose certificates come from another CA",
    )


def test_two_tenants_forced_onto_one_ca_with_different_clients_are_refused() -> None:
    shared = EPHEMERAL / "shared-ca"
    refused({"pki_ca_dir": str(shared)}, "share the CA in", "list different")
    assert not shared.exists()
