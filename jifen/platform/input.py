"""Input, checked once: the marshmallow fields that services declare their input with, so a page's
form and an API body go through the same schema at the service boundary (no hand-written copies
per capability). `load(Schema, data)` returns the clean values or raises `Invalid` with a message
per bad field, in the user's language: the API names the field, a page shows it next to the input.
"""
from __future__ import annotations

import re
from datetime import date

from flask_babel import gettext as _
from marshmallow import EXCLUDE, Schema, ValidationError, fields
from marshmallow.utils import missing

from jifen.platform.errors import Invalid

CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class FieldError(ValueError):
    pass


def check_plain(text: str) -> str:
    """Refuse control characters pasted into a field (PostgreSQL cannot even store NUL)."""
    if CONTROL_RE.search(text):
        raise FieldError(_("Remove the invisible control characters from this field."))
    return text


class Text(fields.Field):
    """Text without surrounding space, at most `limit` characters, no control characters. Missing
    or null reads as "" (as an empty form input does); `required`: it must not be empty
    (`required_message` says what to write instead of "Please fill this in.")."""

    def __init__(self, limit: int, *, required: bool = False, required_message=None, **kwargs):
        super().__init__(allow_none=True, **kwargs)
        self.limit, self.needed, self.required_message = limit, required, required_message

    def deserialize(self, value, attr=None, data=None, **kwargs):
        text = "" if value is None or value is missing else str(value).strip()
        if self.needed and not text:
            raise ValidationError(str(self.required_message or _("Please fill this in.")))
        if len(text) > self.limit:
            raise ValidationError(_("At most %(n)d characters.", n=self.limit))
        try:
            return check_plain(text)
        except FieldError as e:
            raise ValidationError(str(e)) from None


class Day(fields.Field):
    """A day as YYYY-MM-DD (or a date); missing, null or empty reads as None, or is refused when
    `required`."""

    def __init__(self, *, required: bool = False, **kwargs):
        super().__init__(allow_none=True, **kwargs)
        self.needed = required

    def deserialize(self, value, attr=None, data=None, **kwargs):
        if value is None or value is missing or (isinstance(value, str) and not value.strip()):
            if self.needed:
                raise ValidationError(_("Enter the date as YYYY-MM-DD."))
            return None
        if isinstance(value, date):
            return value
        try:
            return date.fromisoformat(str(value).strip())
        except ValueError:
            raise ValidationError(_("Enter the date as YYYY-MM-DD.")) from None


class Whole(fields.Field):
    """A whole number from `low` to `high` (JSON number or form digits); empty reads as None."""

    def __init__(self, low: int, high: int, **kwargs):
        super().__init__(allow_none=True, **kwargs)
        self.low, self.high = low, high

    def deserialize(self, value, attr=None, data=None, **kwargs):
        if value is None or value is missing or (isinstance(value, str) and not value.strip()):
            return None
        try:
            if isinstance(value, (bool, float)):
                raise ValueError
            number = int(str(value).strip())
        except ValueError:
            raise ValidationError(_("Enter a whole number.")) from None
        if not self.low <= number <= self.high:
            raise ValidationError(_("Enter a number from %(low)d to %(high)d.", low=self.low, high=self.high))
        return number


FIRST_YEAR, LAST_YEAR = 2000, 2200  # what a period (calendar year) can be at all


class Period(fields.Field):
    """A period (a calendar year) from a form, a query string or JSON, between `first` and `last`
    (callables allowed: "this year" is the township's); missing, null or empty reads as None."""

    def __init__(self, first=FIRST_YEAR, last=LAST_YEAR, **kwargs):
        super().__init__(allow_none=True, **kwargs)
        self.first, self.last = first, last

    def deserialize(self, value, attr=None, data=None, **kwargs):
        if value is None or value is missing or (isinstance(value, str) and not value.strip()):
            return None
        first = self.first() if callable(self.first) else self.first
        last = self.last() if callable(self.last) else self.last
        raw = str(value).strip()
        if isinstance(value, bool) or not raw.isdigit() or not first <= int(raw) <= last:
            raise ValidationError(_("Give a year between %(first)d and %(last)d.", first=first, last=last))
        return int(raw)


def load(schema: Schema | type[Schema], data) -> dict:
    """`data` (a form or a JSON body; unknown keys ignored) checked by `schema`: the clean values,
    or `Invalid` with every bad field's message."""
    schema = schema() if isinstance(schema, type) else schema
    try:
        return schema.load(dict(data or {}), unknown=EXCLUDE)
    except ValidationError as e:
        messages = e.messages if isinstance(e.messages, dict) else {"_schema": e.messages}
        Invalid.raise_if({k: [str(m) for m in (v if isinstance(v, list) else [v])] for k, v in messages.items()})
        raise


def _first(e: ValidationError) -> str:
    return str(e.messages[0] if isinstance(e.messages, list) else e.messages)


def check(field: fields.Field, raw, name: str, errors: dict):
    """`raw` checked by `field`; a bad value's message goes into `errors[name]` and None is
    returned (a form checks every field, then raises `Invalid` once with all of them)."""
    try:
        return field.deserialize(raw)
    except ValidationError as e:
        errors[name] = [_first(e)]
        return None


def value(field: fields.Field, raw, name: str):
    """One value checked by `field`, named `name` in the error: a query argument, a single input."""
    try:
        return field.deserialize(raw)
    except ValidationError as e:
        raise Invalid.field(name, _first(e)) from None


__all__ = ["Day", "FieldError", "Period", "Schema", "Text", "Whole", "check", "check_plain", "load", "value"]
