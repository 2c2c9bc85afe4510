"""BYOK: wrap locally generated key material for import into a KMS key created with origin EXTERNAL.

KMS hands out a one-time RSA public wrapping key (`aws kms get-parameters-for-import`). The 256-bit material is
encrypted with it (RSAES_OAEP_SHA_256) on the machine that generated it, so it never travels in clear; only KMS
holds the private half. docs/byok.md has the whole procedure.

    python -m infra.byok --wrapping-key WrappingPublicKey.bin --key-material KeyMaterial.bin \\
        --out EncryptedKeyMaterial.bin
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

WRAPPING_ALGORITHM = "RSAES_OAEP_SHA_256"
# KMS offers RSA_2048/3072/4096 wrapping keys; anything smaller would be the weakest link of the import.
MIN_WRAPPING_KEY_BITS = 2048
# Symmetric (SYMMETRIC_DEFAULT) KMS keys take exactly 256 bits of material.
KEY_MATERIAL_BYTES = 32


class WrappingError(ValueError):
    """The wrapping key or the key material cannot be used for a KMS import."""


def oaep_sha256() -> padding.OAEP:
    """RSAES_OAEP_SHA_256 as KMS defines it: OAEP with SHA-256 and MGF1 over SHA-256, no label."""
    return padding.OAEP(mgf=padding.MGF1(algorithm=hashes.SHA256()), algorithm=hashes.SHA256(), label=None)


def load_wrapping_key(data: bytes) -> rsa.RSAPublicKey:
    """The public wrapping key as KMS returns it (DER SubjectPublicKeyInfo, once base64-decoded) or as PEM."""
    try:
        key = (
            serialization.load_pem_public_key(data)
            if data.lstrip().startswith(b"-----BEGIN")
            else serialization.load_der_public_key(data)
        )
    except ValueError as error:
        raise WrappingError(
            f"not a public key in DER or PEM form ({error}): base64-decode the PublicKey field of "
            "`aws kms get-parameters-for-import`"
        ) from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise WrappingError(f"the wrapping key is {type(key).__name__}, not RSA: request an RSA wrapping key")
    return key


def wrap_key_material(material: bytes, wrapping_key: rsa.RSAPublicKey) -> bytes:
    """Encrypt key material for `aws kms import-key-material` with the KMS public wrapping key."""
    if wrapping_key.key_size < MIN_WRAPPING_KEY_BITS:
        raise WrappingError(
            f"the wrapping key has {wrapping_key.key_size} bits, fewer than {MIN_WRAPPING_KEY_BITS}: "
            "request --wrapping-key-spec RSA_2048 or larger"
        )
    if len(material) != KEY_MATERIAL_BYTES:
        raise WrappingError(
            f"key material is {len(material)} bytes, a symmetric KMS key takes {KEY_MATERIAL_BYTES}: "
            f"generate it with `openssl rand -out KeyMaterial.bin {KEY_MATERIAL_BYTES}`"
        )
    return wrapping_key.encrypt(material, oaep_sha256())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m infra.byok", description="Wrap BYOK key material for a KMS key import."
    )
    parser.add_argument("--wrapping-key", type=Path, required=True, help="public key from KMS (DER or PEM)")
    parser.add_argument("--key-material", type=Path, required=True, help=f"{KEY_MATERIAL_BYTES} raw bytes")
    parser.add_argument("--out", type=Path, required=True, help="wrapped material for import-key-material")
    args = parser.parse_args(argv)
    try:
        wrapped = wrap_key_material(
            args.key_material.read_bytes(), load_wrapping_key(args.wrapping_key.read_bytes())
        )
    except (OSError, WrappingError) as error:
        print(f"infra.byok: {error}", file=sys.stderr)
        return 2
    args.out.write_bytes(wrapped)
    print(f"wrapped {KEY_MATERIAL_BYTES} bytes with {WRAPPING_ALGORITHM} into {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
