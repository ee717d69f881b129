"""The per-test restore (tests/conftest.py `TestDatabase`, tests/snapshots.py): what a test writes,
even to the schema, is gone for the next one, and the saved world comes back with its ids."""
from __future__ import annotations

from sqlalchemy import inspect, text

from jifen.platform.db import db


def _names() -> dict:
    rows = db.session.execute(text("SELECT id, display_name FROM users")).all()
    return {str(r[0]).replace("-", ""): r[1] for r in rows}


def test_rows_a_test_writes_are_gone_and_the_world_is_back_with_its_ids(app, world, test_database):
    admin = world.a.user_id().hex
    with app.app_context():
        before = _names()
        assert before[admin] == "龙窝镇管理员"
        db.session.execute(text("UPDATE users SET display_name = 'changed'"))
        db.session.execute(text("DELETE FROM user_sessions"))
        db.session.execute(text("DELETE FROM residents"))
        db.session.commit()
        assert set(_names().values()) == {"changed"}

    test_database.restore("world")
    with app.app_context():
        assert _names() == before
        assert db.session.execute(text("SELECT count(*) FROM residents")).scalar() == 2  # a head per township


def test_a_changed_schema_is_restored_too(app, test_database):
    with app.app_context():
        db.session.execute(text("DROP TABLE user_tokens"))
        db.session.commit()
        assert "user_tokens" not in inspect(db.engine).get_table_names()

    test_database.restore("world")
    with app.app_context():
        assert "user_tokens" in inspect(db.engine).get_table_names()
        assert db.session.execute(text("SELECT count(*) FROM users")).scalar() > 0
