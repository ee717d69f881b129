"""Chinese names sort by pinyin wherever lists are shown (张 after 王 is wrong in a village)."""
from __future__ import annotations

from functools import lru_cache

from pypinyin import Style, lazy_pinyin
from pypinyin.constants import PHRASES_DICT, RE_HANS


@lru_cache(maxsize=65536)
def pinyin_key(text: str) -> tuple:
    """Sort key: toneless pinyin syllables, then tones, then the text itself for stability."""
    text = text or ""
    plain = lazy_pinyin(text, errors="default")
    tones = lazy_pinyin(text, style=Style.TONE3, errors="default")
    return ([s.lower() for s in plain], tones, text)


# Characters read differently as a surname than pypinyin's most common reading (曾 is common in
# Hakka villages: 曾 zēng, not céng).
SURNAME_READINGS = {"曾": "zeng", "单": "shan", "解": "xie", "仇": "qiu", "区": "ou", "查": "zha", "朴": "piao",
                    "盖": "ge", "缪": "miao", "覃": "qin", "翟": "zhai", "乐": "yue", "秘": "bi", "种": "chong",
                    "召": "shao"}


@lru_cache(maxsize=65536)
def _char_pinyin(char: str) -> str:
    return lazy_pinyin(char, errors="default")[0]


def _name_syllables(name: str) -> list[str]:
    """lazy_pinyin(name), from a cache per character where that is the same answer: a name of Chinese
    characters none of whose substrings is one of pypinyin's phrases is read character by character
    (its segmenter only joins characters into a phrase it knows). pypinyin's pipeline costs ~65 µs a
    name, 1.6 s for the 25,000 distinct names of a 10,000-household roster; this is a few µs."""
    if RE_HANS.match(name) and not any(name[i:j] in PHRASES_DICT
                                       for i in range(len(name) - 1) for j in range(i + 2, len(name) + 1)):
        return [_char_pinyin(c) for c in name]
    return lazy_pinyin(name, errors="default")


def person_pinyin(name: str) -> list[str]:
    """Toneless syllables of a person's name, its first character read as a surname."""
    name = name or ""
    syllables = _name_syllables(name)
    if name[:1] in SURNAME_READINGS and syllables:
        syllables[0] = SURNAME_READINGS[name[0]]
    return syllables


def initials(text: str) -> str:
    """'张三伟' -> 'zsw', for search by initials."""
    return "".join(s[0] for s in lazy_pinyin(text or "", errors="default") if s).lower()


def sort_by_pinyin(items, key=lambda x: x):
    return sorted(items, key=lambda item: pinyin_key(key(item)))
