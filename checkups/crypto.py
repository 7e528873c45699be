"""Encryption at rest for phone numbers and message bodies, and keyed hashes to find them.

``CHECKUPS_ENCRYPTION_KEY`` holds one or more Fernet keys separated by commas: the first encrypts, all
decrypt (rotate by putting a new key first). The lookup hash is an HMAC-SHA256 under a key derived from
the first key with HKDF, so equal numbers can be found without decrypting every row.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Callable
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


class EncryptionKeyError(ValueError):
    """The encryption key is missing or not valid."""


class Vault:
    """Encrypts, decrypts and hashes personal data with the configured keys."""

    def __init__(self, keys: str) -> None:
        parts = [k.strip() for k in keys.split(",") if k.strip()]
        if not parts:
            raise EncryptionKeyError("no encryption key given")
        try:
            self._fernet = MultiFernet([Fernet(k.encode("ascii")) for k in parts])
        except (ValueError, UnicodeEncodeError):
            raise EncryptionKeyError(
                "each key must be 32 url-safe base64-encoded bytes; make one with: "
                'python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"'
            ) from None
        self._hash_key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"checkups lookup hash v1").derive(
            parts[0].encode("ascii")
        )

    def encrypt(self, text: str) -> bytes:
        return self._fernet.encrypt(text.encode("utf-8"))

    def decrypt(self, token: bytes) -> str:
        try:
            return self._fernet.decrypt(bytes(token)).decode("utf-8")
        except InvalidToken:
            raise EncryptionKeyError(
                "cannot decrypt: the data was encrypted with a key that is not configured"
            ) from None

    def lookup_hash(self, text: str) -> str:
        return hmac.new(self._hash_key, text.encode("utf-8"), hashlib.sha256).hexdigest()


def generate_key() -> str:
    return Fernet.generate_key().decode("ascii")


def embedded_key(directory: Path, name: str = "encryption.key", make: Callable[[], str] | None = None) -> str:
    """A key of an embedded (SQLite) install: made once and kept beside the database, mode 0600.

    Only for the no-account default; a production install sets ``CHECKUPS_ENCRYPTION_KEY`` (and
    ``CHECKUPS_SECRET_KEY`` for sessions).
    """
    path = directory / name
    if path.exists():
        return path.read_text().strip()
    directory.mkdir(parents=True, exist_ok=True)
    key = (make or generate_key)()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    return key
