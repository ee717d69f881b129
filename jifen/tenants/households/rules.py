"""The checks a household or resident field must pass, written once for the forms, the API and the
roster import. Each returns the cleaned value or raises `FieldError` with a message for the user."""
from __future__ import annotations

import re
from operator import mul

from flask_babel import gettext as _

from jifen.platform.input import CONTROL_RE, FieldError, check_plain  # noqa: F401 - the roster rules use them too
from jifen.platform.pinyin import person_pinyin
from jifen.tenants.households.models import RELATIONS

MAX_NAME = 32  # a resident's name (without spaces)
MAX_DOOR_PLATE = 100
MOBILE, LANDLINE = r"1[3-9]\d{9}", r"0\d{2,3}-?\d{7,8}"  # mainland mobile; landline with area code
PHONE_RE = re.compile(f"^{MOBILE}$")
LANDLINE_RE = re.compile(f"^{LANDLINE}$")
# the API document's pattern for a phone: what `clean_phone` keeps (it also takes spaces, brackets
# and a trailing ".0" from a spreadsheet); empty is no phone
PHONE_PATTERN = f"^((\\+86)?({MOBILE}|{LANDLINE}))?$"
ID_SHAPE = r"\d{17}[\dX]"
ID_RE = re.compile(f"^{ID_SHAPE}$")
ID_NUMBER_PATTERN = f"^({ID_SHAPE})?$"  # the API document's, with ID_NUMBER_FORMAT for the check digit
ID_NUMBER_FORMAT = "cn-resident-id"  # the API document's name for a number whose check digit is right
ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK = "10X98765432"

# what people write in the 与户主关系 column -> our relation code
RELATION_WORDS = {
    "户主": "head", "本人": "head", "配偶": "spouse", "妻": "spouse", "夫": "spouse", "妻子": "spouse",
    "丈夫": "spouse", "子": "child", "女": "child", "儿子": "child", "女儿": "child", "长子": "child",
    "次子": "child", "长女": "child", "次女": "child", "儿媳": "child_in_law", "女婿": "child_in_law",
    "孙子": "grandchild", "孙女": "grandchild", "外孙": "grandchild", "外孙女": "grandchild",
    "父亲": "parent", "母亲": "parent", "父": "parent", "母": "parent", "祖父": "grandparent",
    "祖母": "grandparent", "兄弟": "sibling", "姐妹": "sibling", "兄": "sibling", "弟": "sibling",
    "姐": "sibling", "妹": "sibling", "其他": "other",
    "子女": "child", "子女配偶": "child_in_law", "孙子女": "grandchild", "父母": "parent", "祖父母": "grandparent",
    "兄弟姐妹": "sibling",
}
# the word a roster export writes for each relation; clean_relation reads it back to the same code
RELATION_SHEET_WORDS = {
    "head": "户主", "spouse": "配偶", "child": "子女", "child_in_law": "子女配偶", "grandchild": "孙子女",
    "parent": "父母", "grandparent": "祖父母", "sibling": "兄弟姐妹", "other": "其他",
}




def clean_name(value) -> str:
    name = re.sub(r"\s+", "", str(value or ""))
    if not name:
        raise FieldError(_("Enter the name."))
    if len(name) > MAX_NAME:
        raise FieldError(_("A name has at most 32 characters."))
    return check_plain(name)


def clean_door_plate(value) -> str:
    plate = " ".join(str(value or "").split())
    if not plate:
        raise FieldError(_("Enter the door plate (门牌号)."))
    if len(plate) > MAX_DOOR_PLATE:
        raise FieldError(_("A door plate has at most 100 characters."))
    return check_plain(plate)


def clean_phone(value) -> str | None:
    """Optional. Mobile (11 digits starting 1) or landline (0xxx-xxxxxxx)."""
    raw = re.sub(r"[\s()（）]", "", str(value or ""))
    if raw.endswith(".0"):  # Excel stored the number as a float
        raw = raw[:-2]
    if not raw:
        return None
    if raw.startswith("+86"):
        raw = raw[3:]
    if PHONE_RE.match(raw) or LANDLINE_RE.match(raw):
        return raw
    raise FieldError(_("“%(value)s” is not a phone number (11-digit mobile or landline with area code).",
                       value=str(value)[:30]))


def id_check_digit(first17: str) -> str:
    """The 18th character of a resident ID number whose first 17 digits these are (GB 11643)."""
    if len(first17) != 17:
        raise ValueError("an ID number's check digit is computed from 17 digits")
    return ID_CHECK[sum(map(mul, map(int, first17), ID_WEIGHTS)) % 11]  # no generator: 70,000 a roster import


def clean_id_number(value) -> str | None:
    """Optional. An 18-character resident ID number with a valid check digit (GB 11643)."""
    raw = str(value or "").strip().upper().replace(" ", "")
    if not raw:
        return None
    if not ID_RE.match(raw):
        raise FieldError(_("An ID number has 18 characters: 17 digits and a digit or X."))
    if id_check_digit(raw[:17]) != raw[17]:
        raise FieldError(_("This ID number's check digit is wrong; check it against the card."))
    return raw


def clean_relation(value) -> str:
    raw = str(value or "").strip()
    if raw in RELATIONS:
        return raw
    if raw in RELATION_WORDS:
        return RELATION_WORDS[raw]
    raise FieldError(_("Unknown relation “%(value)s” (e.g. 户主, 配偶, 子, 女, 父亲, 母亲).", value=raw[:20]))


def mask_name(name: str | None) -> str:
    """张三伟 -> 张*伟, 李四 -> 李*: how public notices, dividend lists, the honour wall and a
    villager's view of a ranking show other people's names."""
    name = name or ""
    if len(name) <= 1:
        return name
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


def mask_id_number(value: str | None) -> str:
    """'441622199001011234' -> '4416**********1234'."""
    if not value:
        return ""
    return value[:4] + "*" * (len(value) - 8) + value[-4:]


def mask_phone(value: str | None) -> str:
    if not value:
        return ""
    return value[:3] + "****" + value[-4:] if len(value) >= 11 else value


def name_search_keys(name: str) -> tuple[str, str]:
    """(full pinyin without spaces, initials): '张三伟' -> ('zhangsanwei', 'zsw'); surnames are read
    as surnames ('曾' is zeng, not ceng)."""
    syllables = person_pinyin(name)  # once: the roster import computes this for 35,000 names
    return "".join(syllables).lower(), "".join(s[0] for s in syllables if s).lower()
