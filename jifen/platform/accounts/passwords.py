"""argon2id hashing with rehash-on-login, and the rule for what counts as a weak password."""
from __future__ import annotations

from functools import lru_cache
from importlib.resources import files

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app
from flask_babel import gettext as _
from pypinyin import lazy_pinyin

MIN_LENGTH = 10

COMMON_FILE = "common_passwords.txt"  # package data beside this module


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    """The most used passwords of public leaks and Chinese favourites (see the file's header)."""
    text = files(__package__).joinpath(COMMON_FILE).read_text(encoding="utf-8")
    return frozenset(line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#"))


def place_words(name: str, slug: str) -> tuple[str, ...]:
    """What a password of this township (or county) must not be built on: its name (with and without
    the 镇/乡/县 ending), its slug and the pinyin of its name ('龙窝镇' -> 'longwozhen', 'longwo')."""
    name = (name or "").strip()
    short = name[:-1] if len(name) > 2 and name[-1] in "镇乡县区村" else name
    words = {name, short, (slug or "").strip()} | {"".join(lazy_pinyin(n)) for n in (name, short) if n}
    return tuple(w.lower() for w in words if w)


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


def weakness(password: str, *, username: str = "", display_name: str = "", places: tuple[str, ...] = ()) -> str | None:
    """A message saying why `password` is too weak, or None. `places`: see `place_words`."""
    if len(password) < MIN_LENGTH:
        return _("Use at least %(n)d characters.", n=MIN_LENGTH)
    low = password.lower()
    common = common_passwords()
    if low in common or low.rstrip("!.@#0123456789") in common:
        return _("This password is too common; choose another.")
    if len(set(password)) < 4:
        return _("This password repeats too few characters.")
    for word in (username, display_name):
        if word and len(word) >= 3 and word.lower() in low:
            return _("The password must not contain your name or username.")
    if any(len(word) >= (3 if word.isascii() else 2) and word in low for word in places):
        return _("The password must not contain the name of your township or county.")
    return None
