"""Test fixtures: a real database built by running the migrations, two townships, signed-in clients.

The suite runs against SQLite by default and against PostgreSQL when JIFEN_TEST_DATABASE_URL is set
(a fresh database is created per test process and dropped at the end). With JIFEN_TEST_CITUS=1 that
URL is a Citus coordinator (scripts/test-citus): the database is created on every node of the
cluster, distributed after the migrations (`citus-init`), and the app runs with CITUS on. Each test process builds one
app and the world once, and restores the database before each test (`TestDatabase`,
tests/snapshots.py; docs/decisions.md, "Issue 11: the suite under 10 minutes"). Redis-backed tests read
JIFEN_TEST_REDIS_URL. Under CI (CI=true) a configured service that cannot be reached fails the run;
a developer without the service gets a skip that says so.
"""
from __future__ import annotations

import copy
import os
import re
import uuid
import weakref
from dataclasses import dataclass, field

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from jifen import create_app
from jifen.platform.db import db

PASSWORD = "Quiet-River-2026"
PG_URL = os.environ.get("JIFEN_TEST_DATABASE_URL")


def _redis_of_this_process(url: str | None) -> str | None:
    """Each xdist process its own Redis database (the given one, then the next: gw1 -> +1), so a
    Celery worker started by one process can never take a task another process published (its
    tenant would be unknown in that worker's database)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    if not url or not worker.startswith("gw"):
        return url
    u = make_url(url)
    return u.set(database=str(int(u.database or 0) + int(worker[2:]))).render_as_string(hide_password=False)


CITUS = os.environ.get("JIFEN_TEST_CITUS", "") == "1"
# shards per distributed table in the test databases: few, so that a restore (one TRUNCATE and
# INSERT per shard) stays fast; production keeps Citus's 32 (scripts/citus-cluster)
CITUS_SHARDS = int(os.environ.get("JIFEN_TEST_CITUS_SHARDS", "4"))
REDIS_URL = _redis_of_this_process(os.environ.get("JIFEN_TEST_REDIS_URL"))
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require(service: str, reachable: bool, why: str = "") -> None:
    """A missing service is a failure in CI and a visible skip elsewhere, never a silent pass."""
    if reachable:
        return
    message = f"{service} is needed here but not reachable {why}".strip()
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


def _pg_database(worker: str) -> str:
    base = make_url(PG_URL)
    name = f"jifen_test_{worker}_{uuid.uuid4().hex[:6]}"
    admin = create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    url = base.set(database=name)
    if CITUS:
        _citus_database(url)
    return url.render_as_string(hide_password=False)


def citus_workers(url) -> list[tuple[str, int]]:
    """The cluster's workers, as the coordinator's `postgres` database registers them
    (scripts/citus-cluster does)."""
    admin = create_engine(make_url(url).set(database="postgres"), poolclass=NullPool)
    with admin.connect() as conn:
        rows = conn.execute(text("SELECT nodename, nodeport FROM pg_dist_node WHERE groupid <> 0 "
                                 "AND noderole = 'primary' AND isactive ORDER BY nodeport")).all()
    admin.dispose()
    if not rows:
        raise RuntimeError(f"the Citus coordinator {make_url(url).port} has no worker in pg_dist_node")
    return [(h, p) for h, p in rows]


def _on_node(url, host: str, port: int, database: str, *statements: str) -> None:
    engine = create_engine(make_url(url).set(host=host, port=port, database=database),
                           isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with engine.connect() as conn:
        for sql in statements:
            conn.execute(text(sql))
    engine.dispose()


def _citus_database(url) -> None:
    """The same database on every worker, the extension everywhere, the workers added to the
    coordinator's copy (what `scripts/citus-cluster createdb` does), and few shards."""
    name = url.database
    for host, port in citus_workers(url):
        _on_node(url, host, port, "postgres", f'CREATE DATABASE "{name}"')
        _on_node(url, host, port, name, "CREATE EXTENSION citus")
    statements = ["CREATE EXTENSION citus", f'ALTER DATABASE "{name}" SET citus.shard_count = {CITUS_SHARDS}',
                  f"SELECT citus_set_coordinator_host('{url.host}', {url.port or 5432})"]
    statements += [f"SELECT citus_add_node('{h}', {p})" for h, p in citus_workers(url)]
    _on_node(url, url.host, url.port or 5432, name, *statements)


def _drop_pg(url: str) -> None:
    u = make_url(url)
    nodes = citus_workers(u) if CITUS else []
    for host, port in [(u.host, u.port or 5432)] + nodes:
        _on_node(u, host, port, "postgres", f'DROP DATABASE IF EXISTS "{u.database}" WITH (FORCE)')


def citus_init(conn) -> str:
    """`jifen db citus-init` on the test database (the caller's transaction)."""
    from jifen.platform.citus import distribute

    return distribute.init(conn)


BASE_CONFIG = {
    "TESTING": True,
    "ARGON2_TIME_COST": 1,
    "ARGON2_MEMORY_COST": 8192,
    "ARGON2_PARALLELISM": 1,
    "SERVER_NAME": "jifen.test",
    # one process: every test runs with resolved credentials cached, so each revocation test
    # also proves the cache lets go at once
    "CREDENTIAL_CACHE": "local",
    # and the dashboards' fragments too: every dashboard test also proves a commit lets go of them
    "PAGE_CACHE": "local",
}
if CITUS:  # a distributed database, and a statement fanning out across townships unlisted is an error
    BASE_CONFIG |= {"CITUS": True, "CITUS_FAN_OUT": "raise"}


@pytest.fixture(scope="session")
def database_url(tmp_path_factory, worker_id="main"):
    if CITUS and not PG_URL:
        pytest.fail("JIFEN_TEST_CITUS=1 needs JIFEN_TEST_DATABASE_URL (the coordinator's URL): scripts/test-citus")
    if PG_URL:
        try:
            url = _pg_database(os.environ.get("PYTEST_XDIST_WORKER", "main"))
        except Exception as exc:  # noqa: BLE001 - reported as the failure below
            if CITUS:  # the Citus pass exists to run on the cluster: never a skip
                pytest.fail(f"the Citus cluster is needed here but not usable ({exc.__class__.__name__}: {exc})")
            require("PostgreSQL", False, f"({exc.__class__.__name__}: {exc})")
        yield url
        _drop_pg(url)
    else:
        yield "sqlite:///" + str(tmp_path_factory.mktemp("db") / "jifen.db")


class AppFactory:
    """`make_app()` is the session's one app (building one takes most of a second: every route and
    the whole OpenAPI spec); `make_app(**overrides)` builds another app on the same database, as
    before, for the tests that need other settings or a second "process"."""

    def __init__(self, database_url: str, tmp_path_factory):
        self.database_url = database_url
        self.tmp_path_factory = tmp_path_factory
        self.built: weakref.WeakSet = weakref.WeakSet()  # every app on the test database
        self.default = None
        self._saved: dict = {}

    def __call__(self, **overrides):
        if not overrides and self.default is not None:
            return self.default
        cfg = BASE_CONFIG | {"SQLALCHEMY_DATABASE_URI": self.database_url} | overrides
        cfg.setdefault("SECRET_KEY", "test-secret")
        app = create_app(cfg)
        app.instance_path = str(self.tmp_path_factory.mktemp("instance"))
        self.built.add(app)
        if not overrides:
            from jifen.platform.ratelimit import limiter

            self.default = app
            self._saved = {"config": dict(app.config), "limiter": (limiter._storage, limiter._limiter)}
        return app

    def release(self) -> None:
        """Let go of every pooled connection to the test database (before a restore)."""
        for app in list(self.built):
            with app.app_context():
                for engine in db.engines.values():
                    engine.dispose()

    def reset_process(self) -> None:
        """What one test may leave in this process, put back as a fresh app would have it: the
        default app's settings, its Celery app as the current one and its login counters (both
        are taken by whichever app was built last), an empty credential cache and township
        lookup."""
        from jifen.platform.ratelimit import limiter
        from jifen.platform.townships import lookup

        app = self()
        app.config.clear()
        app.config.update(self._saved["config"])
        app.extensions.pop("credential_cache", None)
        app.extensions.pop("page_cache", None)
        celery = app.extensions["celery"]
        celery.set_current()
        celery.set_default()
        limiter._storage, limiter._limiter = self._saved["limiter"]
        # a test of an unreachable Redis leaves the limiter on its in-memory fallback, which nothing
        # resets: every later sign-in of the process counted there (429s in unrelated tests)
        limiter._storage_dead = False
        if getattr(limiter, "_fallback_storage", None) is not None:
            limiter._fallback_storage.reset()
        limiter.reset()
        lookup.forget_all()


@pytest.fixture(scope="session")
def make_app(database_url, tmp_path_factory):
    """Build an app on the test database with extra config (the schema comes from migrations)."""
    return AppFactory(database_url, tmp_path_factory)


@pytest.fixture(scope="session")
def migrated(make_app):
    from flask_migrate import upgrade

    with make_app().app_context():
        upgrade()
        if CITUS:
            with db.engine.begin() as conn:
                citus_init(conn)
    return True


class TestDatabase:
    """The saved states of the test database, built once per test process on first use: `empty`
    (migrated), `world` (after `make_world()`) and `pw` (after `setup_points(world)`)."""

    def __init__(self, make_app: AppFactory, snapshots):
        self.make_app = make_app
        self.snapshots = snapshots
        self.saved: dict = {}  # state name -> what building it returned (World, PointsWorld)
        self.snapshots.take("empty")
        self.saved["empty"] = None
        self.state = "empty"

    def restore(self, name: str, build=None) -> None:
        """The database in state `name` (built first if need be) and this process as fresh. `build`:
        (base state, function) for a state of one module's own (`longwo`, tests/test_demo_points.py)."""
        if name not in self.saved:
            self._build(name, *(build or self._builds()[name]))
        self.snapshots.restore(name)
        self.state = name
        self.make_app.reset_process()

    def value(self, name: str):
        return copy.deepcopy(self.saved[name])  # a test may change its copy

    def _builds(self) -> dict:
        return {"world": ("empty", lambda: make_world()),
                "pw": ("world", lambda: _setup_points(self.value("world")))}

    def _build(self, name: str, base: str, build) -> None:
        self.restore(base)
        with self.make_app().app_context():
            self.saved[name] = build()
            db.session.commit()
        self.snapshots.take(name)


def _setup_points(world):
    from tests.points_world import setup_points

    return setup_points(world)


@pytest.fixture(scope="session")
def test_database(make_app, migrated, database_url, tmp_path_factory):
    from tests.snapshots import snapshots_for

    def rebuild() -> None:  # the Citus snapshots' fallback: the schema made again from the migrations
        from flask_migrate import upgrade

        with make_app().app_context():
            upgrade()
            with db.engine.begin() as conn:
                citus_init(conn)

    snapshots = snapshots_for(database_url, tmp_path_factory.mktemp("snapshots"), make_app.release,
                              rebuild=rebuild if CITUS else None)
    yield TestDatabase(make_app, snapshots)
    make_app.release()
    snapshots.drop_all()


def _wanted_state(request) -> str:
    names = request.fixturenames
    return "pw" if "pw" in names else "world" if "world" in names else "empty"


@pytest.fixture
def clean(request, test_database):
    """The database restored as the test needs it (`pw`, `world` or empty) and this process's
    caches as a fresh app has them; whatever the test writes is gone for the next one."""
    test_database.restore(_wanted_state(request))


@pytest.fixture(autouse=True)
def _no_leftovers(request):
    """A test that asks only for `migrated` gets an empty database too, as before."""
    if "migrated" in request.fixturenames and "clean" not in request.fixturenames:
        request.getfixturevalue("test_database").restore("empty")


@pytest.fixture
def app(make_app, clean):
    """The app, with no context pushed: each client request gets its own, as in production
    (a shared context would share `g`, and Flask-Login caches the user there)."""
    return make_app()


@pytest.fixture
def ctx(app):
    """An app context for tests that call services or query the database directly."""
    with app.app_context():
        yield app
        db.session.rollback()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


# --- a small world: one county, two townships, staff in each ---------------------------------

@dataclass
class Township:
    """Plain ids and names (no ORM objects, so it outlives the context that built it)."""

    slug: str
    tenant_id: uuid.UUID
    villages: list  # village ids
    staff: dict = field(default_factory=dict)  # role name -> (user id, username)
    grid: list = field(default_factory=list)  # large, medium, small, micro node ids in villages[0]
    store: uuid.UUID | None = None  # a store of villages[0]
    household: uuid.UUID | None = None  # a household on the micro node

    def user_id(self, role="township_admin") -> uuid.UUID:
        return self.staff[role][0]

    def username(self, role="township_admin") -> str:
        return self.staff[role][1]


@dataclass
class World:
    a: Township
    b: Township


def set_password(user, password=PASSWORD):
    from jifen.platform.accounts.passwords import hash_password

    user.password_hash = hash_password(password)


def build_township(operator_actor, slug: str, name: str, villages: list[str], tz="Asia/Shanghai") -> Township:
    from jifen.platform.accounts.service import actor_for
    from jifen.platform.staff import service as staff
    from jifen.platform.tenancy import tenant_scope
    from jifen.platform.townships import service as townships
    from jifen.tenants.villages import service as village_service

    tenant, admin, _ = townships.onboard(operator_actor, {
        "slug": slug, "name": name, "timezone": tz, "admin_username": "admin",
        "admin_display_name": f"{name}管理员"})
    with tenant_scope(tenant):
        set_password(admin)
        admin_actor = actor_for(admin)
        vs = [village_service.create_village(admin_actor, {"name": v, "code": f"{slug}-{i}"}).id
              for i, v in enumerate(villages)]
        t = Township(slug, tenant.id, vs, {"township_admin": (admin.id, admin.username)})
        t.grid, t.store, t.household = _configuration(vs[0])
        for role, username, scope in (("village_admin", "vadmin", [vs[0]]),
                                      ("area_cadre", "cadre", [vs[0], vs[1]]),
                                      ("panel_member", "panel", [vs[1]]),
                                      ("grid_worker", "gridder", [t.grid[1]]),
                                      ("storekeeper", "keeper", [t.store]),
                                      ("villager", "villager", [t.household])):
            user, _ = staff.invite(admin_actor, {"username": username, "display_name": username,
                                                 "roles": [{"role": role, "scope_ids": scope}]})
            set_password(user)
            t.staff[role] = (user.id, user.username)
    return t


def _configuration(village_id) -> tuple[list, uuid.UUID, uuid.UUID]:
    """A four-level grid branch in the first village, a store there and one household on the micro
    node, written straight to the tables so every role has something to be scoped to."""
    from jifen.tenants.households.models import Household, Resident
    from jifen.tenants.store.models import Store
    from jifen.tenants.villages.models import GridNode

    path, parent, grid = "/", None, []
    for level, name in enumerate(("大网格", "中网格", "小网格", "微网格"), start=1):
        node = GridNode(level=level, name=name, village_id=village_id, parent_id=parent, path="")
        db.session.add(node)
        db.session.flush()
        path = node.path = f"{path}{node.id}/"
        parent = node.id
        grid.append(node.id)
    store = Store(name="积分超市", village_id=village_id)
    household = Household(village_id=village_id, grid_node_id=grid[-1], door_plate="1号", head_name="张三伟",
                          head_pinyin="zhangsanwei", head_initials="zsw")
    db.session.add_all([store, household])
    db.session.flush()
    db.session.add(Resident(household_id=household.id, name="张三伟", name_pinyin="zhangsanwei",
                            name_initials="zsw", relation="head"))
    db.session.flush()
    return grid, store.id, household.id


def make_world() -> World:
    """Inside an app context: county 紫金县 (operator `op`) with townships alpha and beta, and a
    second county 和平县 (operator `op2`) with none."""
    from jifen.platform.accounts.service import actor_for, create_operator
    from jifen.platform.townships.service import get_or_create_county

    op = create_operator(get_or_create_county("紫金县", "zijin"), "op", "运营员", PASSWORD)
    create_operator(get_or_create_county("和平县", "heping"), "op2", "和平运营员", PASSWORD)
    db.session.flush()
    a = build_township(actor_for(op), "alpha", "龙窝镇", ["官田村", "礼坑村", "梅园村"])
    b = build_township(actor_for(op), "beta", "九和镇", ["彭坊村", "嶂下村"], tz="UTC")
    db.session.commit()
    return World(a, b)


@pytest.fixture
def world(app, test_database) -> World:
    """The world built once per test process, its rows restored before this test (see `clean`)."""
    if test_database.state == "empty":  # asked for on the way (getfixturevalue): restore it now
        test_database.restore("world")
    return test_database.value("world")


@pytest.fixture
def pw(app, world, test_database):
    """`world` plus an adopted rulebook, a second household and a panel (tests/points_world.py)."""
    if test_database.state != "pw":
        test_database.restore("pw")
    return test_database.value("pw")


CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_token(client, path: str) -> str:
    html = client.get(path).get_data(as_text=True)
    m = CSRF_RE.search(html)
    assert m, f"no csrf token on {path}"
    return m.group(1)


def page_login(client, slug: str | None, username: str, password: str = PASSWORD):
    """Sign in through the real form (county console when slug is None)."""
    path = f"/t/{slug}/login" if slug else "/county/login"
    token = csrf_token(client, path)
    return client.post(path, data={"username": username, "password": password, "csrf_token": token})


def api_token(client, slug: str | None, username: str, password: str = PASSWORD) -> str:
    path = f"/api/v1/t/{slug}/auth/token" if slug else "/api/v1/county/auth/token"
    resp = client.post(path, json={"username": username, "password": password})
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()["token"]


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}
