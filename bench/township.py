"""A large township for the HTTP bench: cockpit_bench's generator (villages, a four-level grid,
households, villager accounts, a year of ledger entries and balances) plus the ranking snapshots
the retention policy keeps over that year, a grid worker, and credentials minted in the database
(sessions and API tokens of many accounts: signing in through the form would hit the login rate
limit long before the bench had its hundreds of random villagers).

Built once per database; `http_bench.py --keep` leaves it for the next run (`--database NAME`).
"""
from __future__ import annotations

import random
import time
from argparse import Namespace
from datetime import date, datetime, timedelta, timezone
from datetime import time as dtime

from bench.scratch import log

GRID_WORKER = "gridworker"


def build(app, dsn: str, households: int, transactions: int, villages: int) -> None:
    """Onboard the township `bench` and fill it (about 2-4 min for 100,000 households on 2 cores)."""
    from bench.cockpit_bench import generate
    from bench.ranking_bench import onboard
    from jifen.platform import clock
    from jifen.platform.db import db
    from jifen.platform.townships.models import Tenant

    t0 = time.perf_counter()
    tenant_id, _slug = onboard(app)
    with app.app_context():
        today = clock.today(db.session.get(Tenant, tenant_id))
        db.engine.dispose()
    log(f"generating {households:,} households, {transactions:,} transactions")
    generate(dsn, tenant_id, Namespace(households=households, transactions=transactions, villages=villages),
             today - timedelta(days=365))
    snapshots(app, tenant_id, today)
    grid_worker(app, tenant_id)
    log(f"township built in {time.perf_counter() - t0:.0f} s")


def snapshots(app, tenant_id, today: date) -> None:
    """The nights the retention policy keeps after a year: each month's last day (ranked as the
    ledger stood that night) and the last three nights."""
    from jifen.platform.db import db
    from jifen.platform.tenancy import tenant_scope
    from jifen.platform.townships.models import Tenant
    from jifen.tenants.rankings import service as rankings

    month_ends = []
    d = date(today.year - 1, today.month, 1)
    while d < today:
        nxt = date(d.year + (d.month == 12), d.month % 12 + 1, 1)
        if nxt - timedelta(days=1) < today - timedelta(days=3):
            month_ends.append(nxt - timedelta(days=1))
        d = nxt
    nights = [*month_ends, *(today - timedelta(days=n) for n in (3, 2, 1))]
    with app.app_context():
        tenant = db.session.get(Tenant, tenant_id)
        for day in nights:
            t0 = time.perf_counter()
            with tenant_scope(tenant):
                as_of = None if day == today - timedelta(days=1) else \
                    datetime.combine(day + timedelta(days=1), dtime(), tzinfo=timezone.utc)
                out = rankings.take_snapshot(day, as_of=as_of)
                db.session.commit()
            log(f"  ranking snapshot {day}: {out['households']:,} households ({time.perf_counter() - t0:.1f} s)")
        db.engine.dispose()


def grid_worker(app, tenant_id) -> None:
    """A grid worker over the first village's large grid node (the queue page's reader)."""
    from sqlalchemy import select

    from jifen.platform.accounts.models import User
    from jifen.platform.accounts.service import actor_for
    from jifen.platform.db import db
    from jifen.platform.staff import service as staff
    from jifen.platform.tenancy import tenant_scope
    from jifen.platform.townships.models import Tenant
    from jifen.tenants.villages.models import GridNode, Village

    with app.app_context():
        with tenant_scope(db.session.get(Tenant, tenant_id)):
            admin = db.session.execute(select(User).where(User.username == "admin")).scalar_one()
            village = db.session.execute(select(Village.id).order_by(Village.code)).scalars().first()
            node = db.session.execute(select(GridNode.id).where(GridNode.village_id == village,
                                                                GridNode.level == 1)).scalars().first()
            staff.invite(actor_for(admin), {"username": GRID_WORKER, "display_name": "网格员",
                                            "roles": [{"role": "grid_worker", "scope_ids": [node]}]})
            db.session.commit()
        db.engine.dispose()


def sample(app, slug: str, n: int, seed: int = 15) -> dict:
    """Random rows to read: ids of households, villages and villager accounts (with their household)."""
    from sqlalchemy import text

    from jifen.platform.db import db

    rnd = random.Random(seed)
    with app.app_context():
        tid = db.session.execute(text("SELECT id FROM tenants WHERE slug = :s"), {"s": slug}).scalar_one()
        q = lambda sql: [tuple(r) for r in db.session.execute(text(sql), {"t": tid, "n": n})]  # noqa: E731
        out = {
            "tenant_id": str(tid),
            "households": [str(r[0]) for r in q("SELECT id FROM households WHERE tenant_id = :t "
                                               "AND status = 'active' ORDER BY random() LIMIT :n")],
            "villages": [str(r[0]) for r in q("SELECT id FROM villages WHERE tenant_id = :t ORDER BY code")],
            "villagers": [(str(u), str(h)) for u, h in q(
                "SELECT a.user_id, s.scope_id FROM role_assignments a JOIN role_scopes s "
                "ON s.tenant_id = a.tenant_id AND s.assignment_id = a.id WHERE a.tenant_id = :t "
                "AND a.role = 'villager' AND s.scope_kind = 'household' ORDER BY random() LIMIT :n")],
        }
        db.engine.dispose()
    rnd.shuffle(out["households"])
    return out


def credentials(app, slug: str, user_ids: list[str], api: bool) -> dict:
    """user id -> a fresh session cookie value (signed with `app`'s secret key) or API token, made
    the way sign-in makes them (`start_session` / `create_token`), committed."""
    from sqlalchemy import select

    from jifen.platform.accounts import service as accounts
    from jifen.platform.accounts.models import User
    from jifen.platform.db import db
    from jifen.platform.tenancy import tenant_scope
    from jifen.platform.townships.models import Tenant

    out = {}
    with app.app_context():
        tenant = db.session.execute(select(Tenant).where(Tenant.slug == slug)).scalar_one()
        serializer = app.session_interface.get_signing_serializer(app)
        with tenant_scope(tenant):
            users = db.session.execute(select(User).where(User.id.in_(user_ids))).scalars().all()
            for user in users:
                if api:
                    out[str(user.id)] = accounts.create_token(accounts.actor_for(user), "bench")[1]
                else:
                    token = accounts.start_session(user)
                    out[str(user.id)] = serializer.dumps({"auth": token, "_permanent": True})
            db.session.commit()
        db.engine.dispose()
    return out


def user_ids(app, slug: str, usernames: list[str]) -> dict:
    from sqlalchemy import select

    from jifen.platform.accounts.models import User
    from jifen.platform.db import db
    from jifen.platform.tenancy import tenant_scope
    from jifen.platform.townships.models import Tenant

    with app.app_context():
        tenant = db.session.execute(select(Tenant).where(Tenant.slug == slug)).scalar_one()
        with tenant_scope(tenant):
            rows = db.session.execute(select(User.username, User.id).where(User.username.in_(usernames))).all()
        db.engine.dispose()
    return {u: str(i) for u, i in rows}
