"""The server's VAPID key pair (RFC 8292), made on first start and kept under ./var/ (mode 0600).

Browsers bind a push subscription to this public key, so it must survive restarts and be the same in
every worker process: the first process to start writes it, atomically, and the others read that one.
"""

from __future__ import annotations

import base64
import functools
import os
import secrets
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

KEY_FILE_NAME = "vapid_private_key.pem"


class VapidKeys:
    def __init__(self, private_key: ec.EllipticCurvePrivateKey) -> None:
        self.private_key = private_key

    @property
    def public_key(self) -> str:
        """The uncompressed public point, base64url without padding: the browser's applicationServerKey."""
        raw = self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@functools.cache
def load_or_create(var_dir: Path) -> VapidKeys:
    path = var_dir / KEY_FILE_NAME
    try:
        pem = path.read_bytes()
    except FileNotFoundError:
        pem = _publish_new_key(path)
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise ValueError(f"{path} does not hold a P-256 private key")
    return VapidKeys(key)


def _publish_new_key(path: Path) -> bytes:
    """Write a new key unless another process got there first; return the key in force.

    Written and synced in a private temporary file, then hard-linked into place: atomic, never overwriting,
    so a reader sees no file or the whole key (the same way settings.py publishes the secret key).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    temp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(temp, path)
        except FileExistsError:
            return path.read_bytes()
    finally:
        temp.unlink(missing_ok=True)
    return pem
