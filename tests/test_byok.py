"""BYOK key material wrapping (RSAES_OAEP_SHA_256), tested offline with wrapping keys generated here."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from infra.byok import (
    KEY_MATERIAL_BYTES,
    WrappingError,
    load_wrapping_key,
    main,
    oaep_sha256,
    wrap_key_material,
)


@pytest.fixture(scope="module")
def wrapping_pair() -> rsa.RSAPrivateKey:
    """Stands in for the key pair KMS keeps: only its public half ever leaves KMS."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def der(private_key: rsa.RSAPrivateKey) -> bytes:
    """The public key as `get-parameters-for-import` returns it, once base64-decoded."""
    return private_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def test_wrapped_material_unwraps_to_the_original_with_the_private_key(
    wrapping_pair: rsa.RSAPrivateKey,
) -> None:
    material = os.urandom(KEY_MATERIAL_BYTES)
    wrapped = wrap_key_material(material, load_wrapping_key(der(wrapping_pair)))
    assert wrapped != material and len(wrapped) == 2048 // 8
    assert wrapping_pair.decrypt(wrapped, oaep_sha256()) == material


def test_wrapping_is_randomised_so_equal_material_never_looks_equal(wrapping_pair: rsa.RSAPrivateKey) -> None:
    material = os.urandom(KEY_MATERIAL_BYTES)
    public = wrapping_pair.public_key()
    assert wrap_key_material(material, public) != wrap_key_material(material, public)


def test_a_wrapping_key_below_2048_bits_is_refused() -> None:
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    with pytest.raises(WrappingError, match="1024 bits, fewer than 2048"):
        wrap_key_material(os.urandom(KEY_MATERIAL_BYTES), load_wrapping_key(der(weak)))


@pytest.mark.parametrize("length", [0, 16, 31, 33, 64])
def test_material_that_is_not_256_bits_is_refused(wrapping_pair: rsa.RSAPrivateKey, length: int) -> None:
    with pytest.raises(WrappingError, match=f"{length} bytes, a symmetric KMS key takes 32"):
        wrap_key_material(os.urandom(length), wrapping_pair.public_key())


def test_a_pem_wrapping_key_is_read_as_well(wrapping_pair: rsa.RSAPrivateKey) -> None:
    pem = wrapping_pair.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert load_wrapping_key(pem).public_numbers() == wrapping_pair.public_key().public_numbers()


def test_something_that_is_not_a_public_key_is_refused_with_the_fix() -> None:
    with pytest.raises(WrappingError, match="base64-decode the PublicKey field"):
        load_wrapping_key(b"PublicKey: MIIBIjANBg...")


def test_the_cli_writes_the_wrapped_material_for_import(
    wrapping_pair: rsa.RSAPrivateKey, tmp_path: Path
) -> None:
    material = os.urandom(KEY_MATERIAL_BYTES)
    (tmp_path / "WrappingPublicKey.bin").write_bytes(der(wrapping_pair))
    (tmp_path / "KeyMaterial.bin").write_bytes(material)
    status = main(
        [
            "--wrapping-key",
            str(tmp_path / "WrappingPublicKey.bin"),
            "--key-material",
            str(tmp_path / "KeyMaterial.bin"),
            "--out",
            str(tmp_path / "EncryptedKeyMaterial.bin"),
        ]
    )
    assert status == 0
    assert (
        wrapping_pair.decrypt((tmp_path / "EncryptedKeyMaterial.bin").read_bytes(), oaep_sha256()) == material
    )


def test_the_cli_refuses_short_material_without_writing(
    wrapping_pair: rsa.RSAPrivateKey, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "key.der").write_bytes(der(wrapping_pair))
    (tmp_path / "short.bin").write_bytes(os.urandom(16))
    out = tmp_path / "wrapped.bin"
    argv = ["--wrapping-key", str(tmp_path / "key.der"), "--key-material", str(tmp_path / "short.bin")]
    assert main([*argv, "--out", str(out)]) == 2
    assert not out.exists()
    assert "openssl rand" in capsys.readouterr().err


def test_the_documented_openssl_command_wraps_the_same_way(
    wrapping_pair: rsa.RSAPrivateKey, tmp_path: Path
) -> None:
    """docs/byok.md offers `openssl pkeyutl` for hosts without this repository; it must be KMS's algorithm too."""
    openssl = shutil.which("openssl")
    assert openssl, "openssl is installed by scripts/apt-deps"
    (tmp_path / "WrappingPublicKey.bin").write_bytes(der(wrapping_pair))
    subprocess.run([openssl, "rand", "-out", str(tmp_path / "KeyMaterial.bin"), "32"], check=True)
    subprocess.run(
        [
            openssl,
            "pkeyutl",
            "-encrypt",
            "-in",
            str(tmp_path / "KeyMaterial.bin"),
            "-out",
            str(tmp_path / "EncryptedKeyMaterial.bin"),
            "-inkey",
            str(tmp_path / "WrappingPublicKey.bin"),
            "-keyform",
            "DER",
            "-pubin",
            "-pkeyopt",
            "rsa_padding_mode:oaep",
            "-pkeyopt",
            "rsa_oaep_md:sha256",
            "-pkeyopt",
            "rsa_mgf1_md:sha256",
        ],
        check=True,
    )
    material = (tmp_path / "KeyMaterial.bin").read_bytes()
    assert len(material) == KEY_MATERIAL_BYTES
    assert (
        wrapping_pair.decrypt((tmp_path / "EncryptedKeyMaterial.bin").read_bytes(), oaep_sha256()) == material
    )
