"""Jifen on a Citus cluster (issue 16): citus-init, where townships' rows live, a new township on the
least-loaded worker, moving a township. Runs in the Citus pass only (scripts/test-citus,
JIFEN_TEST_CITUS=1: the test database is distributed over a coordinator and two workers); there a
missing cluster fails the run (tests/conftest.py `database_url`)."""
from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select, text

from jifen.platform.citus import CitusError, distribute, placement
from jifen.platform.db import db
from jifen.platform.tenancy import tenant_tables
from jifen.platform.townships.models import Tenant
from tests.conftest import CITUS, PASSWORD, api_token, bearer, set_password

pytestmark = pytest.mark.skipif(not CITUS, reason="Citus pass only: scripts/test-citus (JIFEN_TEST_CITUS=1, a Citus cluster)")


def layout(conn) -> list:
    """Every distributed and reference table with its shards and where they are."""
    return conn.execute(text(
        "SELECT table_name::text, shardid, nodename, nodeport FROM citus_shards ORDER BY 1, 2, 3, 4")).all()


def nodes_of(conn, tenant_id) -> dict:
    """table -> worker (host, port) holding that township's shard of it, for every tenant table."""
    rows = conn.execute(text("""
        SELECT t.name, n.nodename, n.nodeport
        FROM unnest(CAST(:tables AS text[])) t(name)
        JOIN pg_dist_placement pl ON pl.shardid = get_shard_id_for_distribution_column(t.name, CAST(:id AS uuid))
        JOIN pg_dist_node n ON n.groupid = pl.groupid"""),
        {"tables": [t.name for t in tenant_tables()], "id": str(tenant_id)}).all()
    return {name: (host, port) for name, host, port in rows}


def test_citus_init_again_says_already_distributed_and_changes_nothing(ctx, runner):
    before = layout(db.session.connection())
    db.session.rollback()
    result = runner.invoke(args=["db", "citus-init"])
    assert result.exit_code == 0, result.output
    assert "already distributed" in result.output
    assert layout(db.session.connection()) == before


def test_status_right_after_init(ctx):
    st = distribute.status(db.session.connection())
    assert st.state == "distributed"
    assert st.wrong == {} and st.missing == [] and st.unknown == []
    assert set(st.right) == set(distribute.expected())


def test_a_half_distributed_database_is_refused_naming_the_table(ctx):
    conn = db.session.connection()
    table = "household_tags" if "household_tags" in distribute.expected() else sorted(
        t.name for t in tenant_tables())[0]
    # undistribute one table by hand (its keys first: Citus refuses while they join it to others),
    # in this transaction only: it is rolled back below
    conn.execute(text("SET LOCAL citus.multi_shard_modify_mode TO 'sequential'"))  # keys to reference tables
    for owner, key in conn.execute(text(
            "SELECT conrelid::regclass::text, conname FROM pg_constraint WHERE contype = 'f' "
            "AND (conrelid = to_regclass(:t) OR confrelid = to_regclass(:t))"), {"t": table}).all():
        conn.execute(text(f'ALTER TABLE "{owner}" DROP CONSTRAINT "{key}"'))
    conn.execute(text("SELECT undistribute_table(:t)"), {"t": table})
    assert distribute.status(conn).wrong == {table: "local"}
    with pytest.raises(CitusError) as refused:
        distribute.init(conn)
    assert "half distributed" in str(refused.value) and f"{table} is local" in str(refused.value)
    db.session.rollback()
    assert distribute.status(db.session.connection()).state == "distributed"


def test_init_refuses_tables_it_does_not_know_and_a_database_not_migrated(ctx):
    """Rather than leave a stray table local (a join with it would fail) or distribute half a schema.
    Both in this transaction only: rolled back."""
    conn = db.session.connection()
    conn.execute(text("CREATE TABLE stray_things (id int)"))
    with pytest.raises(CitusError, match="tables Jifen's schema does not name: stray_things"):
        distribute.init(conn)
    conn.execute(text("ALTER TABLE stray_things RENAME TO stray_old"))
    conn.execute(text("ALTER TABLE household_tags RENAME TO household_tags_old"))
    with pytest.raises(CitusError, match=r"not migrated \(missing household_tags\)"):
        distribute.init(conn)
    db.session.rollback()
    assert distribute.status(db.session.connection()).state == "distributed"


def test_each_township_has_all_its_rows_on_one_worker(ctx, world):
    conn = db.session.connection()
    for township in (world.a, world.b):
        where = nodes_of(conn, township.tenant_id)
        assert set(where) == {t.name for t in tenant_tables()}
        assert len(set(where.values())) == 1, where
        spot = placement.where(conn, township.tenant_id)
        assert set(where.values()) == {(spot["nodename"], spot["nodeport"])}


def _heavier(conn, tenant_id, rows: int = 4000) -> None:
    """About 4 MB of one township's rows (request keys with their stored responses)."""
    user = conn.execute(text("SELECT id FROM users WHERE tenant_id = :t LIMIT 1"), {"t": tenant_id}).scalar()
    conn.execute(text("""
        INSERT INTO idempotency_keys (tenant_id, id, user_id, key, fingerprint, status_code, response, created_at)
        SELECT :t, gen_random_uuid(), :u, 'load-' || g, md5(g::text), 200,
               json_build_object('body', repeat(md5(g::text), 30)), now()
        FROM generate_series(1, :n) g"""), {"t": tenant_id, "u": user, "n": rows})


GOOD = {"name": "九和镇", "timezone": "Asia/Shanghai", "default_locale": "zh_CN",
        "admin_display_name": "九和管理员"}


def test_a_new_township_lands_on_the_least_loaded_worker(app, world):
    """Onboarded through the county API (CITUS on): its tenant id is chosen so that its rows go to
    the worker with the fewest bytes of townships' rows."""
    with app.app_context():
        conn = db.session.connection()
        heavy = placement.where(conn, world.a.tenant_id)
        _heavier(conn, world.a.tenant_id)
        db.session.commit()
        loads = placement.workers(db.session.connection())
        light = loads[0]
        assert (light["nodename"], light["nodeport"]) != (heavy["nodename"], heavy["nodeport"]), loads
    client = app.test_client()
    headers = bearer(api_token(client, None, "op"))
    for i, slug in enumerate(("jiuhe", "yongan", "shangyi")):  # three: a chance placement would pass one in two
        resp = client.post("/api/v1/county/townships", headers=headers,
                           json=GOOD | {"slug": slug, "admin_username": f"admin{i}"})
        assert resp.status_code == 201, resp.get_json()
        with app.app_context():
            tenant = db.session.execute(select(Tenant).where(Tenant.slug == slug)).scalar_one()
            spot = placement.where(db.session.connection(), tenant.id)
        assert (spot["nodename"], spot["nodeport"]) == (light["nodename"], light["nodeport"]), (slug, spot, loads)


def _neighbour_in_group_of(conn, tenant_id) -> uuid.UUID:
    """A tenant id hashing into the same shard group as `tenant_id` (as placement.new_tenant_id draws)."""
    return placement.id_in_group(conn, placement.where(conn, tenant_id)["shardid"])


def _township_with_id(county_id, tenant_id, slug: str) -> None:
    """A township with a chosen id and its admin (what `onboard` writes, the id chosen here)."""
    from jifen.platform.accounts.models import User
    from jifen.platform.roles.models import RoleAssignment
    from jifen.platform.roles.registry import TOWNSHIP_ADMIN
    from jifen.platform.tenancy import tenant_scope

    tenant = Tenant(id=tenant_id, county_id=county_id, slug=slug, name="邻镇", timezone="Asia/Shanghai",
                    default_locale="zh_CN")
    db.session.add(tenant)
    db.session.flush()
    with tenant_scope(tenant):
        admin = User(username="admin", display_name="邻镇管理员", locale="zh_CN")
        set_password(admin)
        db.session.add(admin)
        db.session.flush()
        db.session.add(RoleAssignment(user_id=admin.id, role=TOWNSHIP_ADMIN))
        db.session.flush()


def test_moving_a_township_to_the_other_worker_keeps_it_and_its_old_neighbours_working(app, world, pw):
    a = world.a.tenant_id
    with app.app_context():
        conn = db.session.connection()
        neighbour = _neighbour_in_group_of(conn, a)
        county = db.session.get(Tenant, a).county_id
        _township_with_id(county, neighbour, "linzhen")
        db.session.commit()
        conn = db.session.connection()
        before = placement.where(conn, a)
        target = next(w for w in placement.workers(conn)
                      if (w["nodename"], w["nodeport"]) != (before["nodename"], before["nodeport"]))
        users_before = conn.execute(text("SELECT count(*) FROM users WHERE tenant_id = :t"), {"t": a}).scalar()
        db.session.rollback()
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as auto:
            moved = placement.move(auto, a, target["nodename"], target["nodeport"], mode="block_writes")
            # the old copies are gone (they would hold keys to `tenants`: deleting a township fails)
            assert auto.execute(text("SELECT count(*) FROM pg_dist_cleanup")).scalar() == 0
        assert moved["isolated"] is True
        assert moved["to"] == f"{target['nodename']}:{target['nodeport']}"
        conn = db.session.connection()
        assert set(nodes_of(conn, a).values()) == {(target["nodename"], target["nodeport"])}
        assert placement.where(conn, a)["alone"] is True
        # the neighbour stayed where the group was
        assert set(nodes_of(conn, neighbour).values()) == {(before["nodename"], before["nodeport"])}
        assert conn.execute(text("SELECT count(*) FROM users WHERE tenant_id = :t"), {"t": a}).scalar() == users_before
        db.session.rollback()

    client = app.test_client()
    admin = bearer(api_token(client, "alpha", "admin"))
    villages = client.get("/api/v1/t/alpha/villages/", headers=admin)
    assert villages.status_code == 200 and len(villages.get_json()) == 3
    gridder = bearer(api_token(client, "alpha", "gridder"))
    with app.app_context():
        from jifen.platform import clock
        from jifen.platform.tenancy import tenant_scope

        with tenant_scope(db.session.get(Tenant, a)):
            today = clock.today().isoformat()
    resp = client.post("/api/v1/t/alpha/points/records", headers=gridder,
                       json={"household_id": str(pw.household), "item_id": str(pw.items["S1"]),
                             "occurred_on": today, "description": "巡逻"})
    assert resp.status_code == 201, resp.get_json()
    record = client.get(f"/api/v1/t/alpha/points/applications/{resp.get_json()['id']}", headers=gridder)
    assert record.status_code == 200 and record.get_json()["description"] == "巡逻"

    # the old neighbours: the township that shared the group, and beta wherever it is
    for slug in ("linzhen", "beta"):
        token = bearer(api_token(client, slug, "admin", PASSWORD))
        assert client.get(f"/api/v1/t/{slug}/villages/", headers=token).status_code == 200
