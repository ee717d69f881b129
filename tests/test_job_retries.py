"""A failed or killed daily job is tried again with backoff; when it fails for good, or a nightly check
finds a difference, the township admins hear of it (their digest banner, and a text to their phone)."""
from __future__ import annotations

import dataclasses
from datetime import date, datetime, timedelta, timezone

import pytest
from freezegun import freeze_time
from sqlalchemy import select, text

from jifen.platform import clock
from jifen.platform.accounts.models import User
from jifen.platform.accounts.service import actor_for
from jifen.platform.db import db
from jifen.platform.jobs.models import JobRun
from jifen.platform.jobs.schedule import DAILY_JOBS, MAX_ATTEMPTS, retry_after, tick
from jifen.platform.tenancy import tenant_scope
from jifen.platform.townships.models import Tenant
from jifen.tenants.notifications import digest
from jifen.tenants.notifications.models import NotificationDelivery
from jifen.workers import jobs as platform_jobs
from jifen.workers.jobs import AUDIT_CHECK, PURGE
from jifen.workers.points_jobs import BALANCE_CHECK
from tests.conftest import make_world
from tests.test_audit import guard_lifted, tenant_key

DAY = date(2026, 11, 28)


@pytest.fixture(autouse=True)
def on_the_minute(monkeypatch):
    """These tests time retries, not the night's spread: every job starts at its own time."""
    for name, job in list(DAILY_JOBS.items()):
        monkeypatch.setitem(DAILY_JOBS, name, dataclasses.replace(job, spread=False))


@pytest.fixture
def towns(ctx):
    return make_world()  # alpha: Asia/Shanghai, beta: UTC


def _run(tenant, job, day=DAY) -> JobRun:
    with tenant_scope(tenant):
        return db.session.execute(select(JobRun).where(JobRun.job == job, JobRun.local_date == day)).scalar_one()


def _admin_digest(tenant, day=DAY):
    """What the admin sees in the banner of the console home, and whether a text went out."""
    with tenant_scope(tenant):
        admin = db.session.execute(select(User).where(User.username == "admin")).scalar_one()
        with clock.at(clock.local_moment(day, datetime.min.time().replace(hour=12), tenant)):
            found = digest.today_for(actor_for(admin))
        if found is None:
            return None, 0
        d, lines = found
        texts = db.session.execute(select(NotificationDelivery).where(NotificationDelivery.digest_id == d.id)).all()
        return {line["source"]: line["count"] for line in lines}, len(texts)


def _give_the_admin_a_phone(tenant) -> None:
    with tenant_scope(tenant):
        db.session.execute(select(User).where(User.username == "admin")).scalar_one().phone = "13800000000"
    db.session.commit()


def test_backoff_grows_and_is_bounded():
    assert [retry_after(n) for n in (1, 2, 3)] == [timedelta(minutes=5), timedelta(minutes=20), timedelta(minutes=80)]
    assert MAX_ATTEMPTS == 3


def test_a_job_killed_mid_run_is_run_again_by_the_beat_and_finishes(towns, monkeypatch):
    beta = db.session.get(Tenant, towns.b.tenant_id)  # UTC: local time = the frozen time
    real = platform_jobs._purge
    calls = []

    def killed(tenant, day):
        calls.append(day)
        raise SystemExit("worker killed")  # not an Exception: nothing in the runner records it, like a kill

    monkeypatch.setattr(platform_jobs, "_purge", killed)
    with freeze_time("2026-11-28 04:05:00"), pytest.raises(SystemExit):
        platform_jobs.purge_expired_credentials.apply(
            kwargs={"tenant_id": str(beta.id), "local_date": DAY.isoformat()}, throw=True)
    db.session.rollback()  # the dead worker's transaction is gone with it
    run = _run(beta, PURGE)
    assert (run.status, run.attempts) == ("running", 1)

    monkeypatch.setattr(platform_jobs, "_purge", real)
    with freeze_time("2026-11-28 04:50:00"):  # 45 minutes: it may still be working
        tick()
    db.session.expire_all()
    assert _run(beta, PURGE).status == "running"
    with freeze_time("2026-11-28 05:06:00"):  # over an hour: it was killed; the beat runs it again
        tick()
    db.session.expire_all()
    run = _run(beta, PURGE)
    assert (run.status, run.attempts) == ("done", 2)
    assert run.result["removed"] == 0 and run.next_attempt_at is None
    assert _admin_digest(beta)[0] is None  # it finished: nobody is bothered


def test_failed_run_waits_its_backoff_then_gives_up_and_tells_the_admins(towns, monkeypatch):
    beta = db.session.get(Tenant, towns.b.tenant_id)
    _give_the_admin_a_phone(beta)

    def broken(tenant, day):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(platform_jobs, "_purge", broken)
    with freeze_time("2026-11-28 04:00:00"):
        tick()  # first attempt fails (tasks run inline in the tests)
    db.session.expire_all()
    run = _run(beta, PURGE)
    assert (run.status, run.attempts) == ("failed", 1)
    assert run.next_attempt_at == datetime(2026, 11, 28, 4, 5, tzinfo=timezone.utc)
    with freeze_time("2026-11-28 04:04:00"):
        tick()
    db.session.expire_all()
    assert _run(beta, PURGE).attempts == 1  # not yet
    with freeze_time("2026-11-28 04:05:00"):
        tick()
    db.session.expire_all()
    run = _run(beta, PURGE)
    assert (run.status, run.attempts) == ("failed", 2)
    assert run.next_attempt_at == datetime(2026, 11, 28, 4, 25, tzinfo=timezone.utc)
    assert _admin_digest(beta)[0] is None  # attempts left: not yet told
    with freeze_time("2026-11-28 04:25:00"):
        tick()
    db.session.expire_all()
    run = _run(beta, PURGE)
    assert (run.status, run.attempts, run.next_attempt_at) == ("failed", 3, None)
    assert "disk on fire" in run.error and run.alerted_at is not None
    lines, texts = _admin_digest(beta)
    assert lines == {"jobs.problems": 1} and texts == 1
    with freeze_time("2026-11-28 09:00:00"):
        tick()  # given up: not tried again, not told twice
    db.session.expire_all()
    assert _run(beta, PURGE).attempts == 3
    assert _admin_digest(beta) == ({"jobs.problems": 1}, 1)


def test_a_broken_audit_chain_reaches_the_admins_inbox(app, world):
    from tests.conftest import page_login

    with app.app_context():
        alpha = db.session.get(Tenant, world.a.tenant_id)
        with guard_lifted() as conn:
            conn.execute(text("UPDATE audit_entries SET actor_name = 'someone else' WHERE seq = 2 "
                              "AND tenant_id = :t"), {"t": tenant_key(alpha.id)})
        with freeze_time("2026-11-27 19:05:00"):  # 03:05 in Shanghai on the 28th
            tick()
        db.session.expire_all()
        run = _run(alpha, AUDIT_CHECK)
        assert run.status == "done" and run.result["ok"] is False and run.problems == 1
        assert _admin_digest(alpha)[0] == {"jobs.problems": 1}
        beta = db.session.get(Tenant, world.b.tenant_id)
        assert _admin_digest(beta)[0] is None
    # the admin sees it signed in: the banner of the console home links to the job runs
    client = app.test_client()
    with freeze_time("2026-11-28 04:00:00"):
        page_login(client, "alpha", "admin")
        home = client.get("/t/alpha/", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert 'data-source="jobs.problems"' in home and "/t/alpha/jobs/" in home


def test_a_balance_difference_reaches_the_admins_inbox(towns):
    from jifen.tenants.points.models import HouseholdBalance

    beta = db.session.get(Tenant, towns.b.tenant_id)
    with tenant_scope(beta):
        db.session.add(HouseholdBalance(household_id=towns.b.household, period=2026, earned=5, available=5))
    db.session.commit()
    with freeze_time("2026-11-28 03:35:00"):
        tick()
    db.session.expire_all()
    run = _run(beta, BALANCE_CHECK)
    assert run.status == "done" and run.result["differences"] == 1 and run.problems == 1
    assert _admin_digest(beta)[0] == {"jobs.problems": 1}


def test_a_clean_night_tells_nobody(towns):
    with freeze_time("2026-11-28 12:00:00"):
        tick()
    for t in (towns.a, towns.b):
        tenant = db.session.get(Tenant, t.tenant_id)
        assert _admin_digest(tenant)[0] is None


KILLED_WORKER = """
import sys, time
from pathlib import Path
from jifen import create_app
from jifen.platform.jobs.runner import run_daily

tenant_id, day, marker = sys.argv[1:4]

def slow(tenant, local_day):
    Path(marker).write_text("started")
    time.sleep(600)  # killed long before this ends

with create_app().app_context():
    run_daily("jifen.purge_expired_credentials", tenant_id, day, slow)
"""


def test_a_worker_process_killed_mid_run_leaves_a_run_the_beat_finishes(app, world, database_url, tmp_path):
    """A real process runs the job and is killed (SIGKILL) in the middle of the body; an hour later the
    beat claims the run again and it finishes."""
    import os
    import subprocess
    import sys
    import time

    script, marker = tmp_path / "killed_worker.py", tmp_path / "started"
    script.write_text(KILLED_WORKER)
    env = os.environ | {"JIFEN_DATABASE_URL": database_url, "JIFEN_SECRET_KEY": "test-secret"}
    env.pop("JIFEN_ENV", None)
    today = date.today().isoformat()  # the real clock: the killed process runs on it
    proc = subprocess.Popen([sys.executable, str(script), str(world.b.tenant_id), today, str(marker)], env=env,
                            stdout=(tmp_path / "out.log").open("w"), stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert marker.exists(), (tmp_path / "out.log").read_text()
    finally:
        proc.kill()
        proc.wait(timeout=20)
    with app.app_context():
        beta = db.session.get(Tenant, world.b.tenant_id)
        run = _run(beta, PURGE, date.fromisoformat(today))
        assert (run.status, run.attempts) == ("running", 1)
        started = run.started_at
        with freeze_time(started + timedelta(minutes=30)):
            tick()
        db.session.expire_all()
        assert _run(beta, PURGE, date.fromisoformat(today)).status == "running"  # may still be working
        with freeze_time(started + timedelta(minutes=61)):
            tick()
        db.session.expire_all()
        run = _run(beta, PURGE, date.fromisoformat(today))
        assert (run.status, run.attempts) == ("done", 2) and run.result["removed"] == 0


# --- quiet hours, the morning's one text, and the county operator's channel -------------------------

class Phone:
    """A recording SMS channel: what each phone would have received."""

    def __init__(self):
        self.messages = []

    def send(self, message):
        from jifen.tenants.notifications.channels import SendResult

        self.messages.append(message)
        return SendResult("sms", f"ref-{len(self.messages)}")


def _deliver(phone: Phone) -> None:
    from jifen.tenants.notifications import delivery
    from jifen.tenants.notifications.models import SMS

    delivery.deliver_all(channels={SMS: phone})
    db.session.expire_all()


def _break_chain(tenant) -> None:
    with guard_lifted() as conn:
        conn.execute(text("UPDATE audit_entries SET actor_name = 'someone else' WHERE seq = 2 AND tenant_id = :t"),
                     {"t": tenant_key(tenant.id)})


def test_a_night_alert_reaches_the_phone_in_the_morning_as_that_days_one_digest(app, world):
    """03:05 in Shanghai: the audit check finds a broken chain. The banner shows it at once; the
    admin's phone stays silent until the quiet hours end (07:00), then gets one text, and the 07:30
    digest run recounts that digest instead of texting a second."""
    phone = Phone()
    with app.app_context():
        alpha = db.session.get(Tenant, world.a.tenant_id)
        _give_the_admin_a_phone(alpha)
        _break_chain(alpha)
        with freeze_time("2026-11-27 19:05:00"):  # 03:05 in Shanghai on the 28th
            tick()
            _deliver(phone)
        assert _admin_digest(alpha)[0] == {"jobs.problems": 1}  # the banner: at once
        assert phone.messages == []
        with tenant_scope(alpha):
            [d] = db.session.execute(select(NotificationDelivery)).scalars().all()
        assert d.next_attempt_at == datetime(2026, 11, 27, 23, 0, tzinfo=timezone.utc)  # 07:00 Shanghai
        with freeze_time("2026-11-27 23:00:30"):
            _deliver(phone)
        [sms] = phone.messages
        assert sms.to == "13800000000" and "1" in sms.text and sms.kind == "digest"
        with freeze_time("2026-11-27 23:31:00"):  # 07:31: the digest job has run
            tick()
            _deliver(phone)
        assert len(phone.messages) == 1  # the morning's digest is the alert's: no second text
        assert _admin_digest(alpha) == ({"jobs.problems": 1}, 1)


def test_an_alert_after_the_morning_text_sends_the_digest_again(app, world):
    from jifen.tenants.notifications import digest as digests

    phone = Phone()
    with app.app_context():
        alpha = db.session.get(Tenant, world.a.tenant_id)
        _give_the_admin_a_phone(alpha)
        with freeze_time("2026-11-28 02:00:00"), tenant_scope(alpha):  # 10:00 in Shanghai
            digests.job_alert(alpha, _fake_run())
            db.session.commit()
        with freeze_time("2026-11-28 02:00:30"):
            _deliver(phone)
        assert len(phone.messages) == 1
        _break_chain(alpha)
        with freeze_time("2026-11-28 03:00:00"), tenant_scope(alpha):  # 11:00: a check run by hand finds it
            digests.job_alert(alpha, _fake_run())
            db.session.commit()
        with freeze_time("2026-11-28 03:00:30"):
            _deliver(phone)
        assert [m.to for m in phone.messages] == ["13800000000"] * 2


def test_a_staff_text_claimed_inside_the_quiet_hours_waits_for_their_end_with_the_new_count(app, world):
    """A digest text due at 10:00 but not sent by 22:00 (the provider was down, the worker stopped)
    is put back to 07:00 when claimed, not counted as an attempt; a second alert meanwhile sends no
    second text (the waiting one goes, with the digest as it then is)."""
    from jifen.tenants.notifications import digest as digests

    phone = Phone()
    with app.app_context():
        alpha = db.session.get(Tenant, world.a.tenant_id)
        _give_the_admin_a_phone(alpha)
        with freeze_time("2026-11-28 02:00:00"), tenant_scope(alpha):  # 10:00 in Shanghai
            digests.job_alert(alpha, _fake_run())
            db.session.commit()
        with freeze_time("2026-11-28 14:00:00"):  # 22:00: inside the quiet hours
            _deliver(phone)
        assert phone.messages == []
        with tenant_scope(alpha):
            [d] = db.session.execute(select(NotificationDelivery)).scalars().all()
        assert (d.state, d.attempts) == ("pending", 0)
        assert d.next_attempt_at == datetime(2026, 11, 28, 23, 0, tzinfo=timezone.utc)  # 07:00 on the 29th
        _break_chain(alpha)
        with freeze_time("2026-11-28 14:30:00"), tenant_scope(alpha):  # still the 28th: the same digest
            digests.job_alert(alpha, _fake_run())
            db.session.commit()
        with freeze_time("2026-11-28 23:00:30"):
            _deliver(phone)
        [sms] = phone.messages
        assert sms.kind == "digest" and sms.to == "13800000000"


def _fake_run():
    return JobRun(job=AUDIT_CHECK, local_date=date(2026, 11, 28), status="done", result={"problems": 1})


def test_the_county_operators_with_a_phone_get_a_text_naming_the_township_and_the_job(app, world, monkeypatch):
    """A job that fails for good in beta (UTC) at 04:25 is texted to the county's operator who set a
    phone (by the CLI), in their language, once; not to the other county's operator."""
    runner = app.test_cli_runner()
    assert "13900000000" in runner.invoke(args=["operator-phone", "op", "13900000000"]).output
    assert runner.invoke(args=["operator-phone", "op2", "1390000000x"]).exit_code != 0  # names the bad phone
    assert "13700000000" in runner.invoke(args=["operator-phone", "op2", "13700000000"]).output

    def broken(tenant, day):
        raise RuntimeError("disk on fire\nOSError: no space left on device")

    monkeypatch.setattr(platform_jobs, "_purge", broken)
    phone = Phone()
    with app.app_context():
        beta = db.session.get(Tenant, world.b.tenant_id)
        for moment in ("04:00", "04:05", "04:25"):
            with freeze_time(f"2026-11-28 {moment}:00"):
                tick()
        with freeze_time("2026-11-28 04:25:00"):  # UTC township: 04:25 is in the quiet hours
            _deliver(phone)
        assert [m for m in phone.messages if m.tenant == "beta"] == []
        with freeze_time("2026-11-28 07:00:10"):
            _deliver(phone)
            _deliver(phone)
        alerts = [m for m in phone.messages if m.kind == "job_alert" and m.tenant == "beta"]
        [sms] = alerts
        assert sms.to == "13900000000" and sms.locale == "zh_CN"
        assert beta.name in sms.text and "no space left on device" in sms.text and "2026-11-28" in sms.text
        assert sms.link.endswith("/county/jobs")
        with tenant_scope(beta):
            [d] = db.session.execute(select(NotificationDelivery).where(
                NotificationDelivery.operator_id.is_not(None))).scalars().all()
        assert d.state == "sent" and d.job_run_id == _run(beta, PURGE).id
    # the township admin's list of deliveries names the operator and what was sent
    from tests.conftest import page_login

    client = app.test_client()
    with freeze_time("2026-11-28 08:00:00"):
        page_login(client, "beta", "admin")
        page = client.get("/t/beta/notifications/deliveries?show=sent")
    body = page.get_data(as_text=True)
    assert page.status_code == 200 and "县级运营人员：任务告警" in body and "no space left on device" in body
