"""Personal numbers sealed at rest (National ID numbers, 身份证号): encrypted by the application with a
key from configuration, never from the database, and a keyed hash (HMAC) beside them for equality.

- `seal(number)` encrypts with the newest key of `ID_KEYS` (Fernet: AES-128-CBC + HMAC-SHA256, random
  IV, so the same number seals differently each time; equality goes through `blind`).
- `unseal(token)` decrypts with any key of `ID_KEYS`: rotation is "put the new key first, keep the
  old ones until `flask --app jifen reseal-ids` has re-encrypted every row, then drop them".
- `blind(number)` is HMAC-SHA256 with `ID_HMAC_KEY` (a separate key that does not rotate with the
  encryption keys, or every stored hash would have to be recomputed from the plain numbers): what
  the per-township unique index and look-ups compare.

Production refuses to start without `JIFEN_ID_KEYS` and `JIFEN_ID_HMAC_KEY` (config.py); elsewhere
both are derived from the secret key so development and tests need nothing.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import current_app


class SealError(RuntimeError):
    """A stored number no configured key opens (a key was dropped before re-sealing)."""


def derived_key(secret: str, purpose: str) -> str:
    """A Fernet key (urlsafe base64 of 32 bytes) derived from the secret key: development and tests only."""
    return base64.urlsafe_b64encode(hashlib.sha256(f"jifen:{purpose}:{secret}".encode()).digest()).decode()


def check_keys(keys) -> list[str]:
    """The configured encryption keys as a list (newest first); raises ValueError naming the bad one."""
    if isinstance(keys, str):
        keys = [k for k in keys.replace(",", " ").split() if k]
    keys = list(keys or [])
    for n, key in enumerate(keys):
        try:
            Fernet(key)
        except (ValueError, TypeError) as e:
            raise ValueError(f"JIFEN_ID_KEYS[{n}] is not a Fernet key (urlsafe base64 of 32 bytes; "
                             f"make one with `python -c 'from cryptography.fernet import Fernet; "
                             f"print(Fernet.generate_key().decode())'`)") from e
    return keys


@lru_cache(maxsize=8)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(k) for k in keys])


def _keys() -> MultiFernet:
    return _fernet(tuple(current_app.config["ID_KEYS"]))


def _hmac_key() -> bytes:
    return str(current_app.config["ID_HMAC_KEY"]).encode()


def seal(value: str | None) -> str | None:
    if not value:
        return None
    return _keys().encrypt(value.encode()).decode("ascii")


def unseal(token: str | None) -> str | None:
    if not token:
        return None
    try:
        return _keys().decrypt(token.encode("ascii")).decode()
    except InvalidToken as e:
        raise SealError("A stored ID number can't be decrypted with the configured JIFEN_ID_KEYS "
                        "(was an old key removed before `reseal-ids` ran?).") from e


def reseal(token: str | None) -> str | None:
    """The same number sealed with the newest key (a token already under it is sealed afresh too)."""
    if not token:
        return None
    try:
        return _keys().rotate(token.encode("ascii")).decode("ascii")
    except InvalidToken as e:
        raise SealError("A stored ID number can't be decrypted with the configured JIFEN_ID_KEYS.") from e


def seal_bytes(data: bytes) -> bytes:
    """A whole file sealed (an uploaded roster: it holds ID numbers)."""
    return _keys().encrypt(data)


def unseal_bytes(token: bytes) -> bytes:
    try:
        return _keys().decrypt(token)
    except InvalidToken as e:
        raise SealError("A stored file can't be decrypted with the configured JIFEN_ID_KEYS.") from e


def reseal_bytes(token: bytes) -> bytes:
    try:
        return _keys().rotate(token)
    except InvalidToken as e:
        raise SealError("A stored file can't be decrypted with the configured JIFEN_ID_KEYS.") from e


def sealed_with_newest(token: str) -> bool:
    try:
        Fernet(current_app.config["ID_KEYS"][0]).decrypt(token.encode("ascii"))
    except InvalidToken:
        return False
    return True


def blind(value: str | None) -> str | None:
    """The keyed hash of a number (64 hex characters), or None for no number."""
    if not value:
        return None
    return hmac.new(_hmac_key(), value.encode(), hashlib.sha256).hexdigest()
