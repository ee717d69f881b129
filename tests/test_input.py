"""Input is checked by one set of declared fields (`jifen.platform.input`): what each field
accepts and says, and that no capability writes its own copy again."""
from __future__ import annotations

import ast
import uuid
from datetime import date

import pytest
from flask_babel import force_locale
from hypothesis import given, settings
from hypothesis import strategies as st
from marshmallow import ValidationError

from jifen.platform.errors import Invalid
from jifen.platform.input import Day, Period, Text, Uuid, Whole, check, text, value, whole
from tests.test_imports import MODULES


def checked(fields_and_values: dict) -> tuple[dict, dict]:
    errors: dict = {}
    clean = {name: check(field, raw, name, errors) for name, (field, raw) in fields_and_values.items()}
    return clean, errors


def test_fields_clean_or_name_the_bad_field(app):
    with app.app_context(), force_locale("en"):
        assert checked({"reason": (Text(10, required=True), "  修正 "), "on": (Day(), "2026-03-01"),
                        "year": (Period(2020, 2030), " 2025"), "n": (Whole(1, 9), "3"),
                        "id": (Uuid(), " 01a24a65-daad-7fd0-8a7e-4f04e9479e10 ")}) == (
            {"reason": "修正", "on": date(2026, 3, 1), "year": 2025, "n": 3,
             "id": uuid.UUID("01a24a65-daad-7fd0-8a7e-4f04e9479e10")}, {})
        assert checked({"note": (Text(5), None), "on": (Day(), ""), "year": (Period(), None), "n": (Whole(1, 9), ""),
                        "id": (Uuid(), "")})[0] == {"note": "", "on": None, "year": None, "n": None, "id": None}
        assert checked({"reason": (Text(10, required=True), None), "note": (Text(5), "太长了太长了"),
                        "on": (Day(), "2026-13-01"), "year": (Period(2020, 2030), "2019"), "n": (Whole(1, 9), True),
                        "id": (Uuid(), "x")})[1] == {
            "reason": ["Please fill this in."], "note": ["At most 5 characters."],
            "on": ["Enter the date as YYYY-MM-DD."], "year": ["Give a year between 2020 and 2030."],
            "n": ["Enter a whole number."], "id": ["Not a valid id."]}
        errors: dict = {}
        assert check(Text(10), "a\x00b", "name", errors) is None
        assert errors == {"name": ["Remove the invisible control characters from this field."]}
        assert check(Text(3, required=True, required_message="Enter the name."), None, "name", errors) is None
        assert errors["name"] == ["Enter the name."]
        with pytest.raises(Invalid) as out:
            value(Whole(0, 4), "5", "levels.0.stars")
        assert out.value.errors == {"levels.0.stars": ["Enter a number from 0 to 4."]}
        assert value(Period(2000, lambda: 2026), "2026", "period") == 2026
    with app.app_context(), force_locale("zh_CN"):  # in the user's language
        errors = {}
        assert check(Text(2, required=True), "", "reason", errors) is None
        assert errors == {"reason": ["请填写此项。"]}


def _accepts(field, raw) -> bool:
    try:
        field.deserialize(raw)
    except ValidationError:
        return False
    return True


@settings(max_examples=300, deadline=None)
@given(raw=st.text(alphabet=st.sampled_from(" \t\n\r\x00\x07\x1f\x7f\u3000\u00a0a中"), max_size=6),
       required=st.booleans())
def test_the_api_document_twin_of_a_text_field_accepts_exactly_what_the_service_accepts(raw, required):
    """`text()` is what the API document says; `Text` is what the service checks: a request that
    fits the document is never refused by the service for its text (nor the other way)."""
    assert _accepts(text(6, required=required), raw) == _accepts(Text(6, required=required), raw)


@given(number=st.integers(min_value=-5, max_value=15))
def test_the_api_document_twin_of_a_whole_field_accepts_exactly_what_the_service_accepts(number):
    assert _accepts(whole(0, 9), number) == _accepts(Whole(0, 9), number)


COPIES = {"_text", "_day", "_int", "_whole", "_uuid"}  # the hand-written checkers the fields replaced


def test_no_capability_writes_its_own_input_checker():
    found = sorted(f"{name}.{node.name}" for name, tree in MODULES.items() for node in ast.walk(tree)
                   if isinstance(node, ast.FunctionDef) and node.name in COPIES)
    assert found == []
    control = [name for name, tree in MODULES.items() for node in ast.walk(tree)
               if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "CONTROL_RE" for t in node.targets)]
    assert control == ["jifen.platform.input"]
