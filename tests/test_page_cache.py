"""The dashboards' fragments are kept until their township commits (platform/page_cache): served
again without recomputing while nothing changed, shared by readers with the same grants and never
shown to another view, let go by any commit made
in the township's scope, in this process or another, and the page still answers when Redis cannot be
reached."""
from __future__ import annotations

from contextlib import contextmanager
from datetime import date

import pytest
from sqlalchemy import event, select

from jifen.platform import clock
from jifen.platform.db import db
from jifen.platform.tenancy import tenant_scope
from jifen.platform.townships.models import Tenant
from jifen.tenants.villages.models import Village
from tests.conftest import page_login
from tests.test_cockpit_dashboard import NOW, _earn, board  # noqa: F401 - the dashboard's world
from tests.test_services import services  # noqa: F401 - Redis, for the shared store

JUNE = "/t/{slug}/cockpit/?month=2026-06"


@contextmanager
def statements(app):
    """Counts the SQL statements the app runs meanwhile."""
    seen = []
    with app.app_context():
        engine = db.engine

    def count(*_args):
        seen.append(1)
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", count)


def _post(app, slug, points):
    """A posting committed in the township's scope (today's: shown live on the dashboard)."""
    from jifen.tenants.households.models import Household

    with app.app_context():
        tenant = db.session.execute(select(Tenant).where(Tenant.slug == slug)).scalar_one()
        with tenant_scope(tenant), clock.at(NOW):
            household = db.session.execute(select(Household.id).order_by(Household.created_at)).scalars().first()
            _earn(household, points, date(2026, 6, 20))
            db.session.commit()


def test_the_dashboard_is_served_again_until_the_township_commits(app, board):  # noqa: F811
    client = app.test_client()
    page_login(client, board.slug, "admin")
    url = JUNE.format(slug=board.slug)
    with statements(app) as first:
        assert 'id="ck-issued">12<' in client.get(url).get_data(as_text=True)
    with statements(app) as again:
        assert 'id="ck-issued">12<' in client.get(url).get_data(as_text=True)
    assert len(again) < len(first) / 3, (len(first), len(again))  # the figures were not read again
    _post(app, board.slug, 7)
    with statements(app) as after:
        assert 'id="ck-issued">19<' in client.get(url).get_data(as_text=True)
    assert len(after) > len(again)


def test_the_whole_ranking_is_kept_like_the_dashboard(app, board):  # noqa: F811
    client = app.test_client()
    page_login(client, board.slug, "admin")
    url = f"/t/{board.slug}/cockpit/ranking?month=2026-06"
    with statements(app) as first:
        page = client.get(url).get_data(as_text=True)
    with statements(app) as again:
        again_page = client.get(url).get_data(as_text=True)
    ranking = lambda html: html[html.index('<div class="cockpit">'):html.index("</main>")]  # noqa: E731
    assert ranking(again_page) == ranking(page) and 'id="ck-ranking"' in ranking(page)
    assert len(again) < len(first), (len(first), len(again))  # the ranking was not read again
    _post(app, board.slug, 7)
    with statements(app) as after:
        client.get(url)
    assert len(after) > len(again)


def test_a_readers_kept_page_is_never_anothers(app, board):  # noqa: F811
    with app.app_context():
        tenant = db.session.execute(select(Tenant).where(Tenant.slug == board.slug)).scalar_one()
        with tenant_scope(tenant):
            other = db.session.execute(select(Village.id).where(Village.id != board.village)).scalars().first()
            name = db.session.execute(select(Village.name).where(Village.id == board.village)).scalar_one()
    admin, vadmin = app.test_client(), app.test_client()
    page_login(admin, board.slug, "admin")
    page_login(vadmin, board.slug, "vadmin")
    url = f"/t/{board.slug}/cockpit/?month=2026-06&village={other}"
    assert admin.get(url).status_code == 200
    assert vadmin.get(url).status_code == 404  # not the admin's page of a village the reader does not reach
    township = admin.get(JUNE.format(slug=board.slug)).get_data(as_text=True)
    own = vadmin.get(JUNE.format(slug=board.slug)).get_data(as_text=True)  # the same URL: their village
    assert f"· {name} <small>" in own and f"· {name} <small>" not in township


def test_readers_with_the_same_grants_share_the_kept_page(app, board):  # noqa: F811
    """A second village admin of the same village is served the page the first one's request kept
    (the view is the grants, not the person); the township admin's own page was not theirs."""
    from jifen.platform.accounts.models import User
    from jifen.platform.accounts.service import actor_for
    from jifen.platform.staff import service as staff
    from tests.conftest import set_password

    with app.app_context():
        tenant = db.session.execute(select(Tenant).where(Tenant.slug == board.slug)).scalar_one()
        with tenant_scope(tenant):
            admin = db.session.execute(select(User).where(User.username == "admin")).scalar_one()
            user, _ = staff.invite(actor_for(admin), {"username": "vadmin2", "display_name": "vadmin2", "roles": [
                {"role": "village_admin", "scope_ids": [board.village]}]})
            set_password(user)
            db.session.commit()
    first, second, township = app.test_client(), app.test_client(), app.test_client()
    for client, name in ((first, "vadmin"), (second, "vadmin2"), (township, "admin")):
        page_login(client, board.slug, name)
    url = JUNE.format(slug=board.slug)
    with statements(app) as township_reads:
        township_page = township.get(url).get_data(as_text=True)
    with statements(app) as first_reads:
        own = first.get(url).get_data(as_text=True)
    with statements(app) as second_reads:
        again = second.get(url).get_data(as_text=True)
    assert len(first_reads) > 10 and len(second_reads) < len(first_reads) / 3, (len(first_reads), len(second_reads))
    board_of = lambda html: html[html.index('<div class="cockpit">'):html.index("</main>")]  # noqa: E731
    assert board_of(own) == board_of(again) != board_of(township_page)
    assert len(township_reads) > 10


def test_the_page_answers_when_redis_cannot_be_reached(make_app, board):  # noqa: F811
    app = make_app(REDIS_URL="redis://127.0.0.1:1/0", PAGE_CACHE="redis")
    client = app.test_client()
    page_login(client, board.slug, "admin")
    url = JUNE.format(slug=board.slug)
    assert 'id="ck-issued">12<' in client.get(url).get_data(as_text=True)
    _post(app, board.slug, 7)  # the version cannot be published: the commit stands all the same
    assert 'id="ck-issued">19<' in client.get(url).get_data(as_text=True)


@pytest.mark.parametrize("settings, named", [
    ({"PAGE_CACHE": "sometimes"}, "JIFEN_PAGE_CACHE must be one of"),
    ({"CREDENTIAL_CACHE": "yes"}, "JIFEN_CREDENTIAL_CACHE must be one of"),
    ({"PAGE_CACHE": "redis", "REDIS_URL": None}, "JIFEN_PAGE_CACHE=redis needs JIFEN_REDIS_URL"),
])
def test_a_cache_setting_that_cannot_work_stops_the_start(tmp_path, settings, named):
    from jifen import create_app
    from jifen.platform.config import ConfigError
    from tests.conftest import BASE_CONFIG

    with pytest.raises(ConfigError, match=named):
        create_app(BASE_CONFIG | {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/x.db"} | settings)


@pytest.mark.services
def test_two_processes_share_the_kept_page_and_let_go_of_it_together(make_app, board, services):  # noqa: F811
    """Production's store: Redis, shared by every web process. A page kept by one is served by the
    other, and a commit in either lets go of it in both."""
    web1, web2 = (make_app(REDIS_URL=services, PAGE_CACHE="redis") for _ in range(2))
    c1, c2 = web1.test_client(), web2.test_client()
    page_login(c1, board.slug, "admin")
    page_login(c2, board.slug, "admin")
    url = JUNE.format(slug=board.slug)
    with statements(web1) as first:
        assert 'id="ck-issued">12<' in c1.get(url).get_data(as_text=True)
    with statements(web2) as other:
        assert 'id="ck-issued">12<' in c2.get(url).get_data(as_text=True)
    assert len(other) < len(first) / 3, (len(first), len(other))  # kept by web1, served by web2
    _post(web2, board.slug, 7)
    assert 'id="ck-issued">19<' in c1.get(url).get_data(as_text=True)
    assert 'id="ck-issued">19<' in c2.get(url).get_data(as_text=True)


def test_a_fragment_that_carries_a_per_request_value_is_refused(app, board):  # noqa: F811
    """A kept fragment is served to later requests: this request's CSP nonce or CSRF token in it
    would be wrong there (a blocked style, a refused form)."""
    from flask import g

    from jifen.platform import page_cache
    from jifen.platform.headers import csp_nonce
    from jifen.platform.roles.authz import Actor

    with app.test_request_context(JUNE.format(slug=board.slug)):
        tenant = db.session.execute(select(Tenant).where(Tenant.slug == board.slug)).scalar_one()
        with tenant_scope(tenant):
            reader = Actor("user", None, "someone", tenant.id)
            with pytest.raises(RuntimeError, match="nonce or CSRF token"):
                page_cache.fragment("t", reader, lambda: f'<style nonce="{csp_nonce()}"></style>')
            assert g.csp_nonce
            assert page_cache.fragment("t", reader, lambda: "<p>plain</p>") == "<p>plain</p>"
