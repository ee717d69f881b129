"""Statements that fan out across townships on Citus (platform/citus/fan_out.py): Citus's own notice
says which run on more than one shard; Jifen's are allowed only by name. The whole Citus pass runs
with `CITUS_FAN_OUT=raise`, so every test there also proves its requests and jobs stay on one
township's shard; these tests prove the watch itself catches and names what it should. Citus pass
only (scripts/test-citus)."""
from __future__ import annotations

import logging

import pytest
from sqlalchemy import func, select, text

from jifen.platform.accounts.models import Operator
from jifen.platform.accounts.service import actor_for
from jifen.platform.citus import fan_out
from jifen.platform.db import db
from jifen.platform.townships import service as townships_service
from jifen.platform.townships.service import list_townships
from jifen.tenants.households.models import Household
from tests.conftest import CITUS

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not CITUS, reason="Citus pass only: scripts/test-citus (JIFEN_TEST_CITUS=1, a Citus cluster)"),
]


def _operator():
    return actor_for(db.session.execute(select(Operator).where(Operator.username == "op")).scalar_one())


def test_the_county_list_fans_out_by_name_and_counts_every_township(ctx, world):
    rows = {t.slug: n for t, n in list_townships(_operator())}
    assert set(rows) == {"alpha", "beta"} and all(n > 0 for n in rows.values())


def _forget_the_name(monkeypatch):
    """The county list's statement as if written without its name: the guard's escape hatch only."""
    monkeypatch.setattr(townships_service, "fan_out", lambda name: {"all_tenants": True})


def test_a_fan_out_not_on_the_list_is_raised_naming_the_code_and_statement(ctx, world, monkeypatch):
    _forget_the_name(monkeypatch)
    with pytest.raises(fan_out.UnlistedFanOut) as caught:
        list_townships(_operator())
    assert "jifen/platform/townships/service.py" in str(caught.value)
    assert "FROM users" in str(caught.value)


def test_a_name_not_on_the_list_cannot_be_used():
    with pytest.raises(KeyError):
        fan_out.fan_out("county.everything")


def test_in_log_mode_the_statement_answers_and_the_log_names_it(make_app, world, monkeypatch, caplog):
    app = make_app(CITUS_FAN_OUT="log")
    _forget_the_name(monkeypatch)
    with app.app_context(), caplog.at_level(logging.WARNING, logger="jifen.platform.citus.fan_out"):
        rows = list_townships(_operator())
        db.session.rollback()
    assert len(rows) == 2
    assert any("not in citus.fan_out.ALLOWED (jifen/platform/townships/service.py" in r.getMessage()
               for r in caplog.records)


def test_statements_of_tests_and_scripts_are_not_reported(ctx, world):
    """Counting every township's households from outside Jifen's code is a fan-out, not Jifen's."""
    assert db.session.execute(select(func.count()).select_from(Household).execution_options(all_tenants=True)
                              ).scalar() > 0
    assert db.session.execute(text("SELECT count(*) FROM households")).scalar() > 0


def test_a_scoped_query_goes_to_one_shard(ctx, world):
    """The tenant guard's filter is what keeps a township's statements on its worker: EXPLAIN shows
    one task for a scoped read, every shard for an unscoped one."""
    scoped = db.session.execute(text("EXPLAIN SELECT count(*) FROM households WHERE tenant_id = :t"),
                                {"t": world.a.tenant_id}).scalars().all()
    unscoped = db.session.execute(text("EXPLAIN SELECT count(*) FROM households")).scalars().all()
    assert "Task Count: 1" in "\n".join(scoped)
    assert "Task Count: 1" not in "\n".join(unscoped)
