"""The roster import's confirm step as a job (issue 15): the page shows the progress and the result,
a chunk that fails leaves the import failed with its reason and what was written stays, confirming
again resumes it with exactly the sheet's rows, a confirm of an import being imported is the same
job, and a lost job is resumed once stalled."""
from __future__ import annotations

import io
from datetime import timedelta

from sqlalchemy import delete, func, select, text

from jifen.platform import clock
from jifen.platform.db import db
from jifen.platform.jobs.models import OutboxJob
from jifen.tenants.households.models import Household, Resident, RosterImport
from tests.conftest import csrf_token, page_login
from tests.test_roster import GOOD, admin_api, alpha, english, in_alpha, snapshot, upload, xlsx  # noqa: F401  (fixtures)

API = "/api/v1/t/alpha/roster"
FAIL_PLATE = "下屋组3号"  # the second household of GOOD


def _trigger(sql_dialect: str, on: bool) -> list[str]:
    """A database that refuses one household's insert (a real failure of the second chunk)."""
    if sql_dialect == "sqlite":
        return [f"CREATE TRIGGER roster_test_fail BEFORE INSERT ON households WHEN NEW.door_plate = '{FAIL_PLATE}' "
                "BEGIN SELECT RAISE(ABORT, 'refused by the test trigger'); END"] if on else \
            ["DROP TRIGGER roster_test_fail"]
    if on:
        return ["CREATE FUNCTION roster_test_fail() RETURNS trigger AS $$ BEGIN "
                f"IF NEW.door_plate = '{FAIL_PLATE}' THEN RAISE EXCEPTION 'refused by the test trigger'; END IF; "
                "RETURN NEW; END $$ LANGUAGE plpgsql",
                "CREATE TRIGGER roster_test_fail BEFORE INSERT ON households FOR EACH ROW "
                "EXECUTE FUNCTION roster_test_fail()"]
    return ["DROP TRIGGER roster_test_fail ON households", "DROP FUNCTION roster_test_fail()"]


def _sql(app, statements) -> None:
    with app.app_context():
        for s in statements:
            db.session.execute(text(s))
        db.session.commit()


def _counts(app, world):
    return in_alpha(app, world, lambda: (
        db.session.execute(select(func.count()).select_from(Household)).scalar(),
        db.session.execute(select(func.count()).select_from(Resident)).scalar()))


def test_failed_chunk_shows_its_reason_then_resume_imports_exactly_the_rows(app, alpha):  # noqa: F811
    app.config["ROSTER_CHUNK_HOUSEHOLDS"] = 1
    client = app.test_client()
    page_login(client, "alpha", "admin")
    english(client)
    token = csrf_token(client, "/t/alpha/roster/")
    resp = client.post("/t/alpha/roster/", data={"file": (io.BytesIO(xlsx(GOOD)), "花名册.xlsx"), "csrf_token": token},
                       content_type="multipart/form-data")
    url = resp.headers["Location"]
    households, residents = _counts(app, alpha)
    with app.app_context():
        dialect = db.engine.dialect.name
    _sql(app, _trigger(dialect, True))
    try:
        assert client.post(url + "/confirm", data={"csrf_token": token}).status_code == 302
    finally:
        _sql(app, _trigger(dialect, False))
    html = client.get(url).get_data(as_text=True)
    assert "The import stopped" in html and "3 of 5 rows are imported" in html and "Resume the import" in html
    assert _counts(app, alpha) == (households + 1, residents + 3)  # the first chunk stays
    assert client.post(url + "/confirm", data={"csrf_token": token}).status_code == 302
    html = client.get(url).get_data(as_text=True)
    assert "Imported on" in html and "The import stopped" not in html
    assert _counts(app, alpha) == (households + 2, residents + 5)  # exactly the sheet's rows, none twice

    def imported():
        imp = db.session.execute(select(RosterImport)).scalar_one()
        assert (imp.status, imp.rows_done, imp.failure) == ("imported", 5, None)
        assert imp.summary["households_created"] == 2 and imp.summary["residents_created"] == 5  # the first count
        plates = db.session.execute(select(Household.door_plate, func.count()).group_by(Household.door_plate)
                                    .having(func.count() > 1)).all()
        assert plates == []
    in_alpha(app, alpha, imported)


def test_page_shows_progress_while_importing_and_a_lost_job_resumes_once_stalled(app, alpha, admin_api):  # noqa: F811
    client, headers = admin_api
    imp = upload(client, headers, xlsx(GOOD)).get_json()
    before = snapshot(app, alpha)

    def lose_the_job():  # the worker died before taking the message: the import stays importing
        from jifen.platform.accounts.models import User
        from jifen.platform.accounts.service import actor_for
        from jifen.tenants.households import roster

        admin = actor_for(db.session.get(User, (alpha.a.tenant_id, alpha.a.user_id())))
        roster.confirm(admin, imp["id"])
        db.session.flush()
        db.session.execute(delete(OutboxJob))
    in_alpha(app, alpha, lose_the_job)
    page = app.test_client()
    page_login(page, "alpha", "admin")
    english(page)
    html = page.get(f"/t/alpha/roster/{imp['id']}").get_data(as_text=True)
    assert 'http-equiv="refresh"' in html and "Importing: 0 of 5 rows (0%)" in html and "<progress" in html
    again = client.post(f"{API}/imports/{imp['id']}/confirm", headers=headers)  # the same job: nothing new
    assert again.status_code == 202 and again.get_json()["status"] == "importing"
    assert in_alpha(app, alpha, lambda: db.session.execute(select(func.count()).select_from(OutboxJob)).scalar()) == 0
    assert snapshot(app, alpha) == before

    def stall():
        row = db.session.execute(select(RosterImport)).scalar_one()
        row.progress_at = clock.now() - timedelta(minutes=10)
    in_alpha(app, alpha, stall)
    assert client.post(f"{API}/imports/{imp['id']}/confirm", headers=headers).status_code == 202
    done = client.get(f"{API}/imports/{imp['id']}", headers=headers).get_json()
    assert done["status"] == "imported" and done["percent"] == 100
    assert len(snapshot(app, alpha)[1]) == len(before[1]) + 5
    html = page.get(f"/t/alpha/roster/{imp['id']}").get_data(as_text=True)
    assert "Imported on" in html and 'http-equiv="refresh"' not in html
    assert client.post(f"{API}/imports/{imp['id']}/confirm", headers=headers).status_code == 409
