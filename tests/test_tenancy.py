"""The tenancy guard: every query of tenant data is filtered, fails closed, and writes are stamped."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from jifen.platform.accounts.models import User
from jifen.platform.db import db
from jifen.platform.roles.models import RoleAssignment
from jifen.platform.tenancy import (
    CrossTenantWrite,
    TenantNotSet,
    UnfilteredTenantQuery,
    tenant_scope,
    update_known,
)
from jifen.platform.townships.models import Tenant
from jifen.tenants.villages.models import Village
from tests.conftest import make_world


@pytest.fixture
def both(ctx):
    world = make_world()
    return world, db.session.get(Tenant, world.a.tenant_id), db.session.get(Tenant, world.b.tenant_id)


def test_query_without_tenant_raises(both):
    with pytest.raises(TenantNotSet):
        db.session.execute(select(User)).all()
    with pytest.raises(TenantNotSet):
        db.session.execute(select(func.count()).select_from(Village)).scalar()
    with pytest.raises(TenantNotSet):
        db.session.execute(select(Tenant.slug).join(User, User.tenant_id == Tenant.id)).all()


def test_every_query_shape_sees_only_the_current_tenant(both):
    world, a, b = both
    with tenant_scope(a):
        assert {v.name for v in db.session.execute(select(Village)).scalars()} == {"官田村", "礼坑村", "梅园村"}
        assert db.session.execute(select(func.count()).select_from(Village)).scalar() == 3
        assert db.session.execute(select(func.count(Village.id))).scalar() == 3
        joined = db.session.execute(
            select(User.username).join(RoleAssignment, (RoleAssignment.user_id == User.id)
                                       & (RoleAssignment.tenant_id == User.tenant_id))).scalars().all()
        assert sorted(joined) == ["admin", "cadre", "gridder", "keeper", "panel", "vadmin", "villager"]
        sub = select(Village.id).scalar_subquery()
        assert db.session.execute(select(func.count()).where(Village.id.in_(select(Village.id)))).scalar() == 3
        del sub
        # another tenant's row by primary key is simply not there
        assert db.session.execute(select(Village).where(Village.id == world.b.villages[0])).first() is None
    with tenant_scope(b):
        assert db.session.execute(select(func.count()).select_from(Village)).scalar() == 2


def test_bulk_update_and_delete_are_filtered(both):
    world, a, b = both
    with tenant_scope(a):
        db.session.execute(db.update(Village).values(sort_order=7))
        db.session.execute(db.delete(Village).where(Village.name == "彭坊村"))  # beta's name
    with tenant_scope(b):
        orders = db.session.execute(select(Village.sort_order)).scalars().all()
        assert orders == [0, 0] and len(orders) == 2


def test_update_known_writes_only_the_current_tenants_rows_and_refreshes_loaded_copies(both):
    """`update_known` (the posting job's updates by id, past the unit of work) binds the township
    itself: another township's id matches nothing, and a copy already loaded shows what was written."""
    world, a, b = both
    with tenant_scope(a):
        mine = db.session.execute(select(Village).where(Village.id == world.a.villages[0])).scalar_one()
        update_known(Village, [{"id": mine.id, "sort_order": 5}, {"id": world.b.villages[0], "sort_order": 9}])
        assert mine.sort_order == 5
        assert db.session.execute(select(Village.sort_order).where(Village.id == mine.id)).scalar_one() == 5
    with tenant_scope(b):
        theirs = db.session.execute(select(Village.sort_order).where(Village.id == world.b.villages[0])).scalar_one()
        assert theirs == 0
    with pytest.raises(TenantNotSet):
        update_known(Village, [{"id": world.a.villages[0], "sort_order": 1}])


def test_new_rows_get_the_current_tenant(both):
    world, a, b = both
    with tenant_scope(a):
        v = Village(name="新村", code="new")
        db.session.add(v)
        db.session.flush()
        assert v.tenant_id == a.id


def test_writing_without_tenant_or_for_another_tenant_raises(both):
    world, a, b = both
    db.session.add(Village(name="无主村", code="none"))
    with pytest.raises(TenantNotSet):
        db.session.flush()
    db.session.rollback()
    with tenant_scope(a):
        db.session.add(Village(name="越界村", code="x", tenant_id=b.id))
        with pytest.raises(CrossTenantWrite):
            db.session.flush()
        db.session.rollback()


def test_database_refuses_a_row_pointing_at_another_tenants_row(both):
    """The composite foreign key (tenant_id, user_id) makes cross-tenant links impossible."""
    world, a, b = both
    with pytest.raises(IntegrityError):
        db.session.execute(text(
            "INSERT INTO role_assignments (tenant_id, id, user_id, role, created_at) "
            "VALUES (:t, :id, :u, 'township_admin', CURRENT_TIMESTAMP)"),
            {"t": a.id.hex if db.engine.dialect.name == "sqlite" else a.id,
             "id": "0" * 32 if db.engine.dialect.name == "sqlite" else "00000000-0000-0000-0000-000000000000",
             "u": world.b.user_id().hex if db.engine.dialect.name == "sqlite" else world.b.user_id()})
        db.session.flush()
    db.session.rollback()


def test_unique_keys_are_per_tenant(both):
    world, a, b = both
    # both townships have an "admin"; the same village code may exist in two townships
    with tenant_scope(b):
        db.session.add(Village(name="官田村", code="alpha-0"))
        db.session.flush()
    with tenant_scope(a):
        db.session.add(Village(name="官田村", code="dup"))
        with pytest.raises(IntegrityError):
            db.session.flush()
        db.session.rollback()


def test_explicit_all_tenants_escape_hatch(both):
    n = db.session.execute(select(func.count()).select_from(User).execution_options(all_tenants=True)).scalar()
    assert n == 14  # seven users in each of the two townships


@pytest.mark.parametrize("stmt", [
    lambda: select(Village.__table__.c.name),
    lambda: select(func.count()).select_from(Village.__table__),
    lambda: Village.__table__.update().values(name="x"),
])
def test_core_table_statements_on_tenant_tables_are_refused(both, stmt):
    """The guard filters ORM entities; a bare Core table would slip past it, so it is refused."""
    world, a, b = both
    with tenant_scope(a):
        with pytest.raises(UnfilteredTenantQuery):
            db.session.execute(stmt())


def test_reads_run_in_autocommit_and_the_connection_is_transactional_again_afterwards(make_app, clean):
    """GETs skip BEGIN/ROLLBACK (web.py); the pooled connection must come back transactional,
    or a later failing POST could leave half its writes behind."""
    app = make_app(SQLALCHEMY_ENGINE_OPTIONS={"pool_size": 1, "max_overflow": 0})
    with app.app_context():
        make_world()
        default = db.session.connection().get_isolation_level()
        db.session.rollback()
    client = app.test_client()
    assert client.get("/t/alpha/login").status_code == 200
    with app.app_context():
        assert default != "AUTOCOMMIT"
        assert db.session.connection().get_isolation_level() == default


def test_a_get_that_tries_to_write_is_refused(app, world):
    from flask import request

    from jifen.platform.web import _read_only_requests_autocommit

    with app.test_request_context("/t/alpha/login", method="GET"):
        assert request.method == "GET"
        _read_only_requests_autocommit()
        with tenant_scope(db.session.get(Tenant, world.a.tenant_id)):
            db.session.add(Village(name="读请求村", code="ro"))
            with pytest.raises(RuntimeError, match="GET request tried to write"):
                db.session.flush()
            db.session.rollback()
        db.session.info.pop("read_only", None)
