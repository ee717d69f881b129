"""Uploaded workbooks are parsed with defusedxml (declared in pyproject, locked): an .xlsx whose XML
declares entities (the "billion laughs" bomb, external entities reading server files) is refused
as unreadable, and nothing in it is expanded."""
from __future__ import annotations

import io
import zipfile

import pytest
from defusedxml import EntitiesForbidden

from jifen.tenants.households.roster_excel import Unreadable, read_rows
from tests.test_roster import GOOD, admin_api, alpha, upload, xlsx  # noqa: F401 - fixtures used below

LAUGHS = ('<?xml version="1.0"?><!DOCTYPE worksheet [<!ENTITY lol "lol">'
          + "".join(f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">' for i in range(1, 10))
          + ']>')
EXTERNAL = '<?xml version="1.0"?><!DOCTYPE worksheet [<!ENTITY leak SYSTEM "file:///etc/passwd">]>'


def with_entities(prolog: str, entity: str) -> bytes:
    """A real roster workbook whose sheet XML starts with `prolog` and uses `&entity;` in a cell."""
    source = zipfile.ZipFile(io.BytesIO(xlsx(GOOD)))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                text = data.decode("utf-8")
                body = text[text.index("<worksheet"):]
                body = body.replace("<t>", f"<t>&{entity};", 1)
                data = (prolog + body).encode("utf-8")
            target.writestr(item, data)
    return out.getvalue()


@pytest.mark.parametrize("prolog,entity", [(LAUGHS, "lol9"), (EXTERNAL, "leak")], ids=["billion-laughs", "external"])
def test_a_workbook_declaring_xml_entities_is_refused_unexpanded(prolog, entity):
    with pytest.raises(Unreadable) as refused:
        read_rows(with_entities(prolog, entity))
    chain, exc = [], refused.value
    while exc is not None:
        chain.append(exc)
        exc = exc.__cause__ or exc.__context__
    assert any(isinstance(e, EntitiesForbidden) for e in chain), chain  # defusedxml said no, not a parse slip


def test_the_upload_of_an_entity_bomb_is_a_field_error(app, admin_api):  # noqa: F811
    client, headers = admin_api
    resp = upload(client, headers, with_entities(LAUGHS, "lol9"))
    assert resp.status_code == 422
    assert "file" in resp.get_json()["errors"]["json"]
