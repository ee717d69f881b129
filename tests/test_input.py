"""Input is checked by one set of declared fields (`jifen.platform.input`): what each field
accepts and says, and that no capability writes its own copy again."""
from __future__ import annotations

import ast
from datetime import date

import pytest
from flask_babel import force_locale

from jifen.platform.errors import Invalid
from jifen.platform.input import Day, Period, Schema, Text, Whole, check, load, value
from tests.test_imports import MODULES


class Sample(Schema):
    reason = Text(10, required=True)
    note = Text(5)
    on = Day()
    year = Period(2020, 2030)
    n = Whole(1, 9)


def test_fields_clean_or_name_the_bad_field(app):
    with app.app_context(), force_locale("en"):
        assert load(Sample, {"reason": "  修正 ", "on": "2026-03-01", "year": " 2025", "n": "3", "x": 1}) == {
            "reason": "修正", "note": "", "on": date(2026, 3, 1), "year": 2025, "n": 3}
        assert load(Sample, {"reason": "x", "on": "", "year": None, "n": ""}) == {
            "reason": "x", "note": "", "on": None, "year": None, "n": None}
        with pytest.raises(Invalid) as bad:
            load(Sample, {"note": "太长了太长了", "on": "2026-13-01", "year": "2019", "n": True})
        assert bad.value.errors == {
            "reason": ["Please fill this in."], "note": ["At most 5 characters."],
            "on": ["Enter the date as YYYY-MM-DD."], "year": ["Give a year between 2020 and 2030."],
            "n": ["Enter a whole number."]}
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


COPIES = {"_text", "_day", "_int"}  # the hand-written checkers the fields replaced


def test_no_capability_writes_its_own_input_checker():
    found = sorted(f"{name}.{node.name}" for name, tree in MODULES.items() for node in ast.walk(tree)
                   if isinstance(node, ast.FunctionDef) and node.name in COPIES)
    assert found == []
    control = [name for name, tree in MODULES.items() for node in ast.walk(tree)
               if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "CONTROL_RE" for t in node.targets)]
    assert control == ["jifen.platform.input"]
