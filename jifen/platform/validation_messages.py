"""Marshmallow's and webargs' own messages, in the request's language.

Their messages are English constants built when a field or validator is declared (at import,
before any request has a language), so they are translated where a 422 leaves the API: each
message is looked up as it is, or matched against the templates below and the template's
translation is filled with the same values. The templates are marked N_ so `make i18n` extracts
them; messages a schema wrote itself (already translated through _()) match none and pass as they
are.
"""
from __future__ import annotations

import re
from functools import lru_cache

from flask_babel import gettext


def N_(text: str) -> str:  # noqa: N802 - babel's marker for "extract, translate later"
    return text


PLAIN = (
    N_("Missing data for required field."),
    N_("Field may not be null."),
    N_("Unknown field."),
    N_("Invalid input type."),
    N_("Invalid input."),
    N_("Invalid value."),
    N_("Invalid type."),
    N_("Not a valid integer."),
    N_("Not a valid number."),
    N_("Number too large."),
    N_("Special numeric values (nan or infinity) are not permitted."),
    N_("Not a valid string."),
    N_("Not a valid boolean."),
    N_("Not a valid UUID."),
    N_("Not a valid list."),
    N_("Not a valid mapping type."),
    N_("Not a valid date."),
    N_("Not a valid datetime."),
    N_("Not a valid time."),
    N_("Not a valid email address."),
    N_("Not a valid URL."),
    N_("String does not match expected pattern."),
    N_("Invalid JSON body."),
)
TEMPLATES = (
    N_("Shorter than minimum length {min}."),
    N_("Longer than maximum length {max}."),
    N_("Length must be between {min} and {max}."),
    N_("Length must be {equal}."),
    N_("Must be one of: {choices}."),
    N_("Must be greater than or equal to {min} and less than or equal to {max}."),
    N_("Must be greater than or equal to {min}."),
    N_("Must be less than or equal to {max}."),
    N_("Must be greater than {min}."),
    N_("Must be less than {max}."),
)


@lru_cache(maxsize=1)
def _patterns() -> list[tuple[re.Pattern, str]]:
    def pattern(template: str) -> re.Pattern:
        return re.compile("^" + re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>.+?)", re.escape(template)) + "$", re.S)

    return [(pattern(t), t) for t in TEMPLATES]


def translate_message(message: str) -> str:
    if message in PLAIN:
        return gettext(message)
    for pattern, template in _patterns():
        found = pattern.match(message)
        if found:
            return gettext(template).format(**found.groupdict())
    return message


def translated(messages):
    """The same nested errors ({location: {field: [messages]}}, lists, indexes), translated."""
    if isinstance(messages, dict):
        return {key: translated(value) for key, value in messages.items()}
    if isinstance(messages, list):
        return [translated(m) for m in messages]
    if isinstance(messages, str):
        return translate_message(messages)
    return messages
