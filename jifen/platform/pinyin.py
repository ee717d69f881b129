"""Chinese names sort by pinyin wherever lists are shown (张 after 王 is wrong in a village)."""
from __future__ import annotations

from functools import lru_cache

from pypinyin import Style, lazy_pinyin


@lru_cache(maxsize=65536)
def pinyin_key(text: str) -> tuple:
    """Sort key: toneless pinyin syllables, then tones, then the text itself for stability."""
    text = text or ""
    plain = lazy_pinyin(text, errors="default")
    tones = lazy_pinyin(text, style=Style.TONE3, errors="default")
    return ([s.lower() for s in plain], tones, text)


def initials(text: str) -> str:
    """'张三伟' -> 'zsw', for search by initials."""
    return "".join(s[0] for s in lazy_pinyin(text or "", errors="default") if s).lower()


def sort_by_pinyin(items, key=lambda x: x):
    return sorted(items, key=lambda item: pinyin_key(key(item)))
