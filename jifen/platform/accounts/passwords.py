"""argon2id hashing with rehash-on-login, and the rule for what counts as a weak password."""
from __future__ import annotations

from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app
from flask_babel import gettext as _

MIN_LENGTH = 10

# The most used passwords in Chinese and international leaks, plus obvious local patterns.
COMMON = {
    "123456", "123456789", "12345678", "1234567890", "111111", "000000", "123123", "666666",
    "888888", "112233", "121212", "654321", "7758521", "5201314", "woaini", "woaini1314",
    "woaini520", "iloveyou", "password", "password1", "password123", "passw0rd", "qwerty",
    "qwerty123", "qwertyuiop", "1q2w3e4r", "1qaz2wsx", "1qaz2wsx3edc", "zxcvbnm", "abc123",
    "abc123456", "a123456", "a123456789", "aa123456", "asd123", "asdfghjkl", "admin", "admin123",
    "admin12345", "administrator", "root", "toor", "welcome", "welcome1", "letmein", "monkey",
    "dragon", "football", "baseball", "sunshine", "princess", "superman", "1234qwer", "q1w2e3r4",
    "qazwsxedc", "147258369", "123321", "159357", "987654321", "11111111", "00000000", "88888888",
    "12341234", "20082008", "19491001", "jifen123", "jifen123456", "longwo123", "zijin123",
    "changeme", "changeme123", "test1234", "test123456", "mima123456", "wodemima", "aini1314",
    "zhang123", "wang123456", "li123456", "liu123456", "chen123456", "huang123", "zhao123",
    "1234567890a", "a1234567890", "password1234", "qwe123456", "asd123456", "zxc123456",
}


@lru_cache(maxsize=8)
def _hasher(time_cost: int, memory_cost: int, parallelism: int) -> PasswordHasher:
    return PasswordHasher(time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism)


def hasher() -> PasswordHasher:
    cfg = current_app.config
    return _hasher(
        cfg.get("ARGON2_TIME_COST", 3), cfg.get("ARGON2_MEMORY_COST", 65536), cfg.get("ARGON2_PARALLELISM", 2)
    )


def hash_password(password: str) -> str:
    return hasher().hash(password)


def verify(stored: str | None, password: str) -> tuple[bool, str | None]:
    """(matches, new hash if the parameters changed and the hash should be replaced)."""
    if not stored:
        hasher().hash(password)  # spend the same time as a real check
        return False, None
    ph = hasher()
    try:
        ph.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False, None
    return True, (ph.hash(password) if ph.check_needs_rehash(stored) else None)


def weakness(password: str, *, username: str = "", display_name: str = "") -> str | None:
    """A message saying why `password` is too weak, or None."""
    if len(password) < MIN_LENGTH:
        return _("Use at least %(n)d characters.", n=MIN_LENGTH)
    low = password.lower()
    if low in COMMON or low.rstrip("!.@#0123456789") in COMMON:
        return _("This password is too common; choose another.")
    if len(set(password)) < 4:
        return _("This password repeats too few characters.")
    for word in (username, display_name):
        if word and len(word) >= 3 and word.lower() in low:
            return _("The password must not contain your name or username.")
    return None
