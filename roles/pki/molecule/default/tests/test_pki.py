"""The PKI role on a real host: policy-grade certificates, revocation, key destruction, renewal and its audit log.

prepare.yml issued a first generation (kept in first-generation/): `web` valid for 10 days, `old-web` and
`mallory-laptop` still valid. converge then ran with the scenario's inventory: `web` crossed the 30-day renewal
threshold, `old-web` and `mallory-laptop` are revoked, `alice-phone` is new.
"""

from __future__ import annotations

import datetime
import os
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, SignatureAlgorithmOID

from lab.verify import run_playbook

EPHEMERAL = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"])
CA_DIR = EPHEMERAL / "pki"
FIRST_GENERATION = EPHEMERAL / "first-generation"
PUBLISHED = "/etc/ssl/secure-tenant"


def controller_cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def host_cert(host, path: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate(host.file(path).content)


@pytest.fixture(scope="module")
def ca() -> x509.Certificate:
    return controller_cert(CA_DIR / "ca.crt")


@pytest.fixture(scope="module")
def audit_log() -> list[str]:
    return (CA_DIR / "audit.log").read_text().splitlines()


def assert_policy_grade(cert: x509.Certificate, ca: x509.Certificate) -> None:
    """RSA-2048, sha256WithRSAEncryption, issued and signed by the tenant CA (EDGE-04)."""
    key = cert.public_key()
    assert isinstance(key, rsa.RSAPublicKey) and key.key_size == 2048
    assert cert.signature_algorithm_oid == SignatureAlgorithmOID.RSA_WITH_SHA256
    assert cert.issuer == ca.subject
    cert.verify_directly_issued_by(ca)


def test_ca_directory_and_every_private_key_are_readable_by_the_owner_only() -> None:
    for directory in (CA_DIR, CA_DIR / "private", CA_DIR / "certs", CA_DIR / "csr"):
        assert directory.stat().st_mode & 0o777 == 0o700, directory
    keys = [CA_DIR / "ca.key", *(CA_DIR / "private").iterdir()]
    assert len(keys) >= 4
    for key in keys:
        assert key.stat().st_mode & 0o777 == 0o600, key


def test_ca_is_a_4096_bit_rsa_ca_signed_sha256_with_rsa(ca: x509.Certificate) -> None:
    assert isinstance(ca.public_key(), rsa.RSAPublicKey) and ca.public_key().key_size == 4096
    assert ca.signature_algorithm_oid == SignatureAlgorithmOID.RSA_WITH_SHA256
    constraints = ca.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical and constraints.value.ca


def test_server_certificate_on_the_host_is_rsa_2048_sha256_with_its_sans_and_server_usage(host, ca) -> None:
    cert = host_cert(host, f"{PUBLISHED}/vpn.crt")
    assert_policy_grade(cert, ca)
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "vpn.acme.example"
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["vpn.acme.example"]
    assert [str(ip) for ip in sans.get_values_for_type(x509.IPAddress)] == ["192.0.2.10"]
    assert list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.SERVER_AUTH
    ]
    assert host.file(f"{PUBLISHED}/ca.crt").content == (CA_DIR / "ca.crt").read_bytes()


def test_server_key_on_the_host_is_root_only_and_matches_its_certificate(host) -> None:
    private = host.file(f"{PUBLISHED}/private")
    assert (private.user, private.mode) == ("root", 0o700)
    with host.sudo():
        key_file = host.file(f"{PUBLISHED}/private/vpn.key")
        assert (key_file.user, key_file.mode) == ("root", 0o600)
        key = serialization.load_pem_private_key(key_file.content, password=None)
    cert = host_cert(host, f"{PUBLISHED}/vpn.crt")
    assert key.public_key().public_numbers() == cert.public_key().public_numbers()


@pytest.mark.parametrize(("name", "person"), [("alice-laptop", "alice"), ("alice-phone", "alice")])
def test_each_person_and_device_gets_its_own_client_certificate(ca, name: str, person: str) -> None:
    cert = controller_cert(CA_DIR / "certs" / f"{name}.crt")
    assert_policy_grade(cert, ca)
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == name
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)[0].value == person
    assert list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.CLIENT_AUTH
    ]


def test_published_crl_is_signed_by_the_ca_and_lists_exactly_the_revoked_serials(host, ca) -> None:
    crl = x509.load_pem_x509_crl(host.file(f"{PUBLISHED}/crl.pem").content)
    assert crl.is_signature_valid(ca.public_key())
    assert crl.signature_algorithm_oid == SignatureAlgorithmOID.RSA_WITH_SHA256
    revoked = {
        controller_cert(FIRST_GENERATION / f"{name}.crt").serial_number
        for name in ("old-web", "mallory-laptop")
    }
    assert {entry.serial_number for entry in crl} == revoked
    assert crl.next_update_utc > datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=60)


def test_revoked_private_keys_are_gone_from_the_ca_and_the_host(host) -> None:
    assert not (CA_DIR / "private" / "mallory-laptop.key").exists()
    assert not (CA_DIR / "private" / "old-web.key").exists()
    with host.sudo():
        assert not host.file(f"{PUBLISHED}/private/old-web.key").exists
    assert not host.file(f"{PUBLISHED}/old-web.crt").exists
    # The public certificates stay on the CA: the CRL is rebuilt from them.
    assert (CA_DIR / "certs" / "mallory-laptop.crt").exists()


def test_certificate_inside_the_renewal_threshold_was_reissued_with_a_new_key(host, ca) -> None:
    before = controller_cert(FIRST_GENERATION / "web.crt")
    after = host_cert(host, f"{PUBLISHED}/web.crt")
    assert_policy_grade(after, ca)
    assert after.serial_number != before.serial_number
    assert after.public_key().public_numbers() != before.public_key().public_numbers()
    assert after.not_valid_after_utc - datetime.datetime.now(datetime.UTC) > datetime.timedelta(days=360)


def test_certificate_outside_the_renewal_threshold_was_kept() -> None:
    before = controller_cert(FIRST_GENERATION / "vpn.crt")
    assert controller_cert(CA_DIR / "certs" / "vpn.crt").serial_number == before.serial_number


def test_audit_log_records_revocation_destruction_and_renewal_with_serials(audit_log: list[str]) -> None:
    def serial(name: str) -> int:
        return controller_cert(FIRST_GENERATION / f"{name}.crt").serial_number

    expected = [
        f"event=key-destroyed name=mallory-laptop reason=revoked serial={serial('mallory-laptop')}",
        f"event=revoked name=mallory-laptop kind=client serial={serial('mallory-laptop')}",
        f"event=key-destroyed name=old-web reason=revoked serial={serial('old-web')}",
        "event=key-destroyed name=old-web reason=revoked where=pki-host:/etc/ssl/secure-tenant/private",
        f"event=key-destroyed name=web reason=renewal serial={serial('web')}",
        "event=renewed name=web kind=server",
        "event=issued name=alice-phone kind=client person=alice device=phone",
    ]
    for fragment in expected:
        assert [line for line in audit_log if fragment in line], fragment
    assert all(line.split()[1] == "ca=acme-lab" for line in audit_log)


def test_key_size_below_2048_is_refused_before_any_task_runs() -> None:
    run, output = run_playbook(
        Path(os.environ["MOLECULE_SCENARIO_DIRECTORY"]) / "converge.yml", "-e", "pki_key_size=1024"
    )
    assert run.returncode != 0
    assert "pki_key_size" in output and "2048" in output
    assert "changed=0" in run.stdout


# Re-runs: the CA host's work is skipped only while the CA directory and the inputs are exactly as the last complete
# run recorded them (tasks/unchanged.yml). These run last: each changes what the tests above read.
SIGN_TASK = "TASK [pki : CRY-05, ACC-02, EDGE-04 | Sign each certificate with the CA]"
RECORD = CA_DIR / ".converged"


def converge_again(*args: str) -> tuple[bool, str]:
    """Run converge.yml once more; whether the CA host's work ran (the signing task was not skipped), and stdout."""
    run, output = run_playbook(Path(os.environ["MOLECULE_SCENARIO_DIRECTORY"]) / "converge.yml", *args)
    assert run.returncode == 0, output
    section = run.stdout.split(SIGN_TASK, 1)[1].split("\nTASK [", 1)[0]
    return any(line.startswith(("ok:", "changed:")) for line in section.splitlines()), run.stdout


def test_a_rerun_with_nothing_changed_skips_the_ca_work_and_changes_nothing() -> None:
    ran, stdout = converge_again()
    assert not ran
    assert "changed=0" in stdout


def _open_a_key_to_others_and_swap_its_certificate_for_another_valid_one() -> None:
    (CA_DIR / "private" / "alice-laptop.key").chmod(0o644)
    (CA_DIR / "certs" / "alice-laptop.crt").write_bytes((CA_DIR / "certs" / "alice-phone.crt").read_bytes())


def _age_the_record_past_the_hour() -> None:
    fingerprint, _ = RECORD.read_text().split()
    RECORD.write_text(f"{fingerprint} {int(datetime.datetime.now(datetime.UTC).timestamp()) - 3601}\n")


# Each kind of change on its own (mode, owner, content, link, change time, a garbled or future record) is in
# tests/test_role_filters.py; these prove the role reads the directory, the clock and the variables it hashes.
@pytest.mark.parametrize(
    ("change", "extra_args"),
    [
        (_open_a_key_to_others_and_swap_its_certificate_for_another_valid_one, ()),
        (_age_the_record_past_the_hour, ()),
        # As an operator types it: key=value extra vars are strings.
        (lambda: None, ("-e", "pki_crl_valid_days=91")),
    ],
    ids=["tampered-directory", "aged-record", "variable"],
)
def test_any_change_since_the_last_complete_run_runs_the_ca_work_again(
    change, extra_args: tuple[str, ...]
) -> None:
    # Each case starts from the record the case before wrote (the first from converge's), so that only this change
    # stands between the run and a skip.
    change()
    started = datetime.datetime.now(datetime.UTC).timestamp()
    assert converge_again(*extra_args)[0]
    assert int(RECORD.read_text().split()[1]) >= int(started), "the complete run wrote no new record"


def test_the_complete_run_put_back_the_key_mode_and_the_swapped_certificate(ca: x509.Certificate) -> None:
    assert (CA_DIR / "private" / "alice-laptop.key").stat().st_mode & 0o777 == 0o600
    cert = controller_cert(CA_DIR / "certs" / "alice-laptop.crt")
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "alice-laptop"
    assert_policy_grade(cert, ca)
    key = serialization.load_pem_private_key((CA_DIR / "private" / "alice-laptop.key").read_bytes(), None)
    assert cert.public_key().public_numbers() == key.public_key().public_numbers()
