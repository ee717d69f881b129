"""The job-runs page and API: a township admin sees their own township's runs (late and missing ones
marked); a county operator sees counts per township of their county; nobody else sees any."""
from __future__ import annotations

from datetime import date, datetime, timezone

from freezegun import freeze_time
from sqlalchemy import select

from jifen.platform.db import db
from jifen.platform.jobs.models import JobRun
from jifen.platform.jobs.schedule import tick
from jifen.platform.tenancy import tenant_scope
from jifen.platform.townships.models import Tenant
from jifen.workers.jobs import AUDIT_CHECK, PURGE
from jifen.workers.points_jobs import BALANCE_CHECK
from tests.conftest import api_token, bearer, page_login

NOW = "2026-11-28 12:00:00"  # 20:00 in Shanghai (alpha), 12:00 in UTC (beta)
DAY = date(2026, 11, 28)


def _setup(app, world):
    """Township creation is back-dated to the 26th; jobs ran on the 28th in both townships, except
    that alpha's purge failed for good and its audit check is still running since 03:00 local."""
    with app.app_context():
        for t in (world.a, world.b):
            tenant = db.session.get(Tenant, t.tenant_id)
            tenant.created_at = datetime(2026, 11, 26, 0, 0, tzinfo=timezone.utc)
        db.session.commit()
        with freeze_time(NOW):
            tick()
        alpha = db.session.get(Tenant, world.a.tenant_id)
        with tenant_scope(alpha):
            runs = {r.job: r for r in db.session.execute(select(JobRun).where(JobRun.local_date == DAY)).scalars()}
            runs[PURGE].status, runs[PURGE].error, runs[PURGE].attempts = "failed", "RuntimeError('disk on fire')", 3
            runs[PURGE].next_attempt_at = None
            runs[AUDIT_CHECK].status = "running"
            runs[AUDIT_CHECK].started_at = datetime(2026, 11, 27, 19, 0, tzinfo=timezone.utc)
            runs[AUDIT_CHECK].finished_at = None
            ids = {job: r.id for job, r in runs.items()}
        db.session.commit()
        beta = db.session.get(Tenant, world.b.tenant_id)
        with tenant_scope(beta):
            beta_run = db.session.execute(select(JobRun).where(JobRun.job == PURGE)).scalar_one().id
    return ids, beta_run


def test_admin_page_and_api_show_own_runs_with_late_and_missing_marked(app, world):
    ids, beta_run = _setup(app, world)
    api = app.test_client()
    with freeze_time(NOW):
        headers = bearer(api_token(api, "alpha", "admin"))
        rows = api.get("/api/v1/t/alpha/jobs/?days=2", headers=headers).get_json()
    by = {(r["job"], r["local_date"]): r for r in rows}
    purge = by[(PURGE, "2026-11-28")]
    assert purge["status"] == "failed" and purge["gave_up"] and "disk on fire" in purge["error"]
    assert purge["needs_attention"] and purge["attempts"] == 3
    audit = by[(AUDIT_CHECK, "2026-11-28")]
    assert audit["status"] == "running" and audit["late"] is True  # 17 hours, usual time unknown: > 10 min
    balance = by[(BALANCE_CHECK, "2026-11-28")]
    assert balance["status"] == "done" and balance["rows"] == 0 and balance["duration_seconds"] is not None
    assert not balance["needs_attention"]
    # the 27th: the township existed, the jobs' times passed, and no run was claimed
    missing = by[(AUDIT_CHECK, "2026-11-27")]
    assert missing["status"] == "missing" and missing["id"] is None and missing["needs_attention"]
    with freeze_time(NOW):
        one = api.get(f"/api/v1/t/alpha/jobs/{ids[PURGE]}", headers=headers)
        other = api.get(f"/api/v1/t/alpha/jobs/{beta_run}", headers=headers)
        bad = api.get("/api/v1/t/alpha/jobs/?days=99", headers=headers)
    assert one.status_code == 200 and one.get_json()["job"] == PURGE
    assert other.status_code == 404  # another township's run
    assert bad.status_code == 422 and "days" in str(bad.get_json())
    web = app.test_client()
    with freeze_time(NOW):
        page_login(web, "alpha", "admin")
        page = web.get("/t/alpha/jobs/?days=2").get_data(as_text=True)
        detail = web.get(f"/t/alpha/jobs/{ids[PURGE]}")
        other_page = web.get(f"/t/alpha/jobs/{beta_run}")
    assert f'data-job="{PURGE}" data-day="2026-11-28" data-state="failed"' in page
    assert f'data-job="{AUDIT_CHECK}" data-day="2026-11-27" data-state="missing"' in page
    assert "disk on fire" in page and 'class="attention"' in page
    assert "处理行数" in page and "未运行" in page  # the township's language (zh_CN)
    assert detail.status_code == 200 and "disk on fire" in detail.get_data(as_text=True)
    assert other_page.status_code == 404


def test_other_roles_see_no_job_runs(app, world):
    ids, _ = _setup(app, world)
    api = app.test_client()
    web = app.test_client()
    with freeze_time(NOW):
        headers = bearer(api_token(api, "alpha", "vadmin"))
        assert api.get("/api/v1/t/alpha/jobs/", headers=headers).status_code == 403
        assert api.get(f"/api/v1/t/alpha/jobs/{ids[PURGE]}", headers=headers).status_code == 403
        assert api.get("/api/v1/county/jobs/", headers=headers).status_code in (401, 403)
        page_login(web, "alpha", "vadmin")
        assert web.get("/t/alpha/jobs/").status_code == 403


def test_county_operator_sees_counts_per_township_in_pinyin_order(app, world):
    _setup(app, world)
    api = app.test_client()
    with freeze_time(NOW):
        headers = bearer(api_token(api, None, "op"))
        rows = api.get("/api/v1/county/jobs/?days=2", headers=headers).get_json()
        assert api.get("/api/v1/t/alpha/jobs/", headers=headers).status_code in (401, 403, 404)
    with app.app_context():
        names = {t.slug: t.name for t in db.session.execute(select(Tenant)).scalars()}
    from jifen.platform.pinyin import pinyin_key

    assert [r["slug"] for r in rows] == sorted(names, key=lambda s: pinyin_key(names[s]))
    by = {r["slug"]: r for r in rows}
    assert set(by["alpha"]) >= {"done", "failed", "running", "late", "missing", "problems"}
    assert "error" not in by["alpha"] and "id" not in by["alpha"]  # counts only
    assert (by["alpha"]["failed"], by["alpha"]["running"], by["alpha"]["late"]) == (1, 1, 1)
    assert by["alpha"]["missing"] > 0 and by["alpha"]["needs_attention"]
    assert by["beta"]["failed"] == 0 and by["beta"]["done"] > 0
    web = app.test_client()
    with freeze_time(NOW):
        page_login(web, None, "op")
        page = web.get("/county/jobs").get_data(as_text=True)
        home = web.get("/county/").get_data(as_text=True)
    assert 'data-township="alpha"' in page and 'data-township="beta"' in page
    assert page.index('data-township="' + rows[0]["slug"]) < page.index('data-township="' + rows[1]["slug"])
    # the operator's inbox: alpha's job that failed for good is on the console home
    assert 'id="job-alerts"' in home and 'data-township="alpha"' in home.split('id="job-alerts"')[1].split("</div>")[0]
    assert 'data-township="beta"' not in home.split('id="job-alerts"')[1].split("</div>")[0]


def test_every_daily_job_says_how_many_rows_it_touched(app, world):
    """The job-runs page's "rows touched" column is never blank for a job that ran: every daily job's
    result counts its rows (a job added later without it fails here)."""
    from jifen.platform.jobs.schedule import DAILY_JOBS

    with app.app_context():
        with freeze_time(NOW):
            tick()
        beta = db.session.get(Tenant, world.b.tenant_id)
        with tenant_scope(beta):
            runs = {r.job: r for r in db.session.execute(select(JobRun).where(JobRun.local_date == DAY)).scalars()}
    assert sorted(runs) == sorted(DAILY_JOBS)
    for job, run in runs.items():
        assert run.status == "done", (job, run.error)
        rows = (run.result or {}).get("rows")
        assert isinstance(rows, int) and not isinstance(rows, bool) and rows >= 0, (job, run.result)
