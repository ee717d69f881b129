"""Input, checked once: the fields services check their input with (a page's form and an API body
alike, no hand-written copies per capability), and the API-document twins of the same rules.

Two kinds of refusal (docs/decisions.md, "422 or 409"):
- a rule about the input alone (a length, a range, a pattern, a required field) is declared in the
  API's schema with `text()`, `whole()`, `period()` below, built from the same limits the service
  checks with `Text`, `Whole`, `Period`; a request that breaks it is a 422 naming the field, and a
  request that fits the document never is;
- a rule that depends on the township's data or the date (a name already taken, an id that names
  nothing of the township, a year not yet over) is the service's, checked after the first kind,
  and refused with `Conflict` (409), fields named the same way.
"""
from __future__ import annotations

import re
from datetime import date

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from marshmallow import Schema, ValidationError, fields, validate
from marshmallow.utils import missing

from jifen.platform.db import parse_uuid
from jifen.platform.errors import Invalid

CONTROLS = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f"  # what no text field takes (PostgreSQL cannot store NUL)
CONTROL_RE = re.compile(f"[{CONTROLS}]")
PLAIN_PATTERN = f"^[^{CONTROLS}]*$"  # the API document's twin of `check_plain`
FILLED_PATTERN = f"^[^{CONTROLS}]*[^\\s{CONTROLS}][^{CONTROLS}]*$"  # ... and of `Text(required=True)`


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
        raw = "" if value is None or value is missing else str(value)
        try:
            text = check_plain(raw).strip()  # before stripping: some control characters count as space
        except FieldError as e:
            raise ValidationError(str(e)) from None
        if self.needed and not text:
            raise ValidationError(str(self.required_message or _("Please fill this in.")))
        if len(text) > self.limit:
            raise ValidationError(_("At most %(n)d characters.", n=self.limit))
        return text


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


class Month(fields.Field):
    """A month as YYYY-MM (read as its first day); missing, null or empty reads as None."""

    def __init__(self, **kwargs):
        super().__init__(allow_none=True, **kwargs)

    def deserialize(self, value, attr=None, data=None, **kwargs):
        if value is None or value is missing or (isinstance(value, str) and not value.strip()):
            return None
        raw = str(value).strip()
        try:
            year, month = raw.split("-")
            if len(year) != 4 or not FIRST_YEAR <= int(year) <= LAST_YEAR:
                raise ValueError
            return date(int(year), int(month), 1)
        except ValueError:
            raise ValidationError(_("Enter the month as YYYY-MM.")) from None


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


class Uuid(fields.Field):
    """An id (a UUID) from a form or JSON; missing, null or empty reads as None."""

    def __init__(self, message=None, **kwargs):
        super().__init__(allow_none=True, **kwargs)
        self.message = message

    def deserialize(self, value, attr=None, data=None, **kwargs):
        if value is None or value is missing or (isinstance(value, str) and not value.strip()):
            return None
        found = parse_uuid(value)
        if found is None:
            raise ValidationError(str(self.message or _("Not a valid id.")))
        return found


# --- the API document's twins: the same limits, declared where schemathesis and clients read them

def text(limit: int, *, required: bool = False, **kwargs) -> fields.String:
    """An API string field for what the service checks with `Text(limit, required=...)`: at most
    `limit` characters, no control characters and, when required, not blank (nor null)."""
    return fields.String(
        required=required, allow_none=not required,
        validate=[validate.Length(max=limit),
                  validate.Regexp(FILLED_PATTERN if required else PLAIN_PATTERN,
                                  error=_l("Fill this in, without invisible control characters.") if required
                                  else _l("Remove the invisible control characters from this field."))],
        **kwargs)


def whole(low: int, high: int, *, strict: bool = True, **kwargs) -> fields.Integer:
    """An API integer field for what the service checks with `Whole(low, high)`; a JSON number
    (`strict=False` in a query string, where every value is text)."""
    return fields.Integer(strict=strict, validate=validate.Range(min=low, max=high), **kwargs)


MONTH_PATTERN = r"^2[01]\d\d-(0[1-9]|1[0-2])$"  # YYYY-MM, 2000-2199: what the API document promises


def month(**kwargs) -> fields.String:
    """An API month field (YYYY-MM) for what the service reads with `Month`."""
    return fields.String(validate=validate.Regexp(MONTH_PATTERN, error=_l("Enter the month as YYYY-MM.")), **kwargs)


def period(**kwargs) -> fields.Integer:
    """An API year field: the static bounds of `Period` (whether the year has begun, or ended, is
    the service's rule, and a 409)."""
    return whole(FIRST_YEAR, LAST_YEAR, **kwargs)


__all__ = ["Day", "FieldError", "Month", "Period", "Schema", "Text", "Uuid", "Whole", "check", "check_plain",
           "month", "period", "text", "value", "whole"]
