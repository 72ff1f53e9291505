"""Secrets owners hand the platform (a Telegram bot token, a Discord webhook URL), sealed.

``SecretBox`` encrypts with AES-256-GCM under a key derived from the deployment's JWT
secret with a label of its own (HMAC-SHA256(jwt_secret, label), as the cursor codec
derives its key with another label), so no second secret has to be deployed and the two
keys never coincide. Each sealed value is bound to where it is used (the ``context``: owner,
rule and field, as GCM's associated data), so a value copied to another rule or field does
not open. A sealed value reads ``v1.<base64url(nonce | ciphertext | tag)>``.

Rotating the JWT secret makes sealed values unreadable: their channels then fail with a
message asking the owner to set them again. Without a JWT secret (unit tests) the key is
per process, like the cursor codec's.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from functions.settings import Settings

_KEY_LABEL = b"xenblocks alert channel secrets v1"
_VERSION = "v1."
_NONCE_BYTES = 12
_PROCESS_KEY = os.urandom(32)


class SealBroken(ValueError):
    """A sealed value that does not open with this key and context."""


def hint(secret: str) -> str:
    """What an owner is shown of a secret: its last four characters."""
    return f"…{secret[-4:]}"


class SecretBox:
    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError("the key is 32 bytes (AES-256)")
        self._aead = AESGCM(key)

    @classmethod
    def from_secret(cls, secret: str | None) -> SecretBox:
        if not secret:
            return cls(_PROCESS_KEY)
        return cls(hmac.new(secret.encode(), _KEY_LABEL, hashlib.sha256).digest())

    @classmethod
    def from_settings(cls, settings: Settings) -> SecretBox:
        secret = settings.jwt_secret
        return cls.from_secret(secret.get_secret_value() if secret is not None else None)

    def seal(self, plaintext: str, *, context: str) -> str:
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, plaintext.encode(), context.encode())
        return _VERSION + base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")

    def open(self, sealed: str, *, context: str) -> str:
        if not sealed.startswith(_VERSION):
            raise SealBroken("not a sealed value")
        body = sealed[len(_VERSION) :]
        try:
            raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
            opened = self._aead.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], context.encode())
        except (binascii.Error, ValueError, InvalidTag):
            raise SealBroken("the sealed value does not open with this key") from None
        return opened.decode()


def seal_context(owner: str, rule_id: str, field: str) -> str:
    """Where a sealed value belongs: it opens only for this owner, rule and field."""
    return f"alert-rule/{owner}/{rule_id}/{field}"
