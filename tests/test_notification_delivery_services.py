"""A real Celery worker process on Redis delivers the outbox to the fake SMS gateway: three delivery
tasks published at once, run by three worker threads, send each message once."""
from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from jifen.platform.accounts.models import User
from jifen.platform.accounts.service import actor_for
from jifen.platform.db import db
from jifen.platform.tenancy import tenant_scope
from jifen.platform.townships.models import Tenant
from jifen.tenants.notifications import preferences, service
from jifen.tenants.notifications.models import NotificationDelivery
from tests.celery_worker import start_worker, stop_worker
from tests.conftest import make_world
from tests.fake_provider import FakeProvider
from tests.points_world import setup_points
from tests.test_services import queued_app, services  # noqa: F401 - fixtures

pytestmark = pytest.mark.services


@pytest.fixture
def gateway():
    p = FakeProvider().start()
    yield p
    p.stop()


@pytest.fixture
def delivery_worker(database_url, services, tmp_path, gateway):  # noqa: F811 - the fixture above
    log = tmp_path / "worker.log"
    proc = start_worker(database_url, services, log, pool="threads",
                        args=("--concurrency=3", "--without-gossip", "--without-mingle"),
                        JIFEN_SMS_URL=gateway.url("/sms"), JIFEN_SMS_TOKEN="sms-secret", JIFEN_NOTIFY_HTTP_TIMEOUT="2")
    yield proc, log
    stop_worker(proc)


def test_a_worker_process_delivers_each_message_once(queued_app, delivery_worker, gateway):  # noqa: F811
    proc, log = delivery_worker
    with queued_app.app_context():
        world = make_world()
        pw = setup_points(world)
        tenant = db.session.get(Tenant, world.a.tenant_id)
        with tenant_scope(tenant):
            admin = actor_for(db.session.execute(select(User).where(User.username == "admin")).scalar_one())
            preferences.update_preferences(admin, pw.household2, {"channel": "sms"})
            for i in range(12):
                service.notify(pw.household2, "verified", f"worker-{i}", "", item="测试项A2", points=3)
            db.session.commit()
        celery = queued_app.extensions["celery"]
        for _ in range(3):  # the beat's minute ticks may overlap: three tasks at once
            celery.send_task("jifen.deliver_notifications")
        deadline = time.monotonic() + 60
        states: list = []
        while time.monotonic() < deadline:
            db.session.rollback()
            with tenant_scope(tenant):
                states = db.session.execute(select(NotificationDelivery.state)).scalars().all()
            if len(states) == 13 and set(states) == {"sent"}:
                break
            time.sleep(0.3)
        assert states.count("sent") == 13, (states, log.read_text()[-3000:])
    keys = [r["headers"]["Idempotency-Key"] for r in gateway.sent()]
    assert len(keys) == 13 and len(set(keys)) == 13  # twelve messages and the confirmation, each once
    assert all(r["headers"]["Authorization"] == "Bearer sms-secret" for r in gateway.sent())
    assert proc.poll() is None
