"""Jifen (积分): the app factory, the one place that wires platform, tenants and workers together."""
from __future__ import annotations

from pathlib import Path

from flask import Flask, g, render_template, send_from_directory
from flask_migrate import Migrate
from werkzeug.middleware.proxy_fix import ProxyFix

from jifen.platform import config

migrate = Migrate()
MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def create_app(test_config: dict | None = None) -> Flask:
    app = Flask(__name__, instance_relative_config=True)
    config.load(app, test_config)
    from jifen.platform import logs

    logs.configure(app.config)
    if app.config["PROXY_COUNT"]:  # behind nginx: the client's address and scheme come from it
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=app.config["PROXY_COUNT"],
                                x_proto=app.config["PROXY_COUNT"], x_host=app.config["PROXY_COUNT"])

    from jifen.platform import (
        api,
        charts,
        compression,
        errortracking,
        i18n,
        metrics,
        ratelimit,
        static_version,
        type_size,
        web,
    )
    from jifen.platform.citus import fan_out
    from jifen.platform.db import db

    compression.init_app(app)  # first: its after-request hook then runs last
    errortracking.init_app(app)
    db.init_app(app)
    fan_out.init_app(app)
    metrics.init_app(app)
    migrate.init_app(app, db, directory=str(MIGRATIONS))
    i18n.init_app(app)
    type_size.init_app(app)
    static_version.init_app(app)
    charts.init_app(app)
    web.init_app(app)
    ratelimit.init_app(app)
    api.init_app(app)
    _register_pages(app)
    _register_api(api.api)

    from jifen.workers import celery_init_app

    celery_init_app(app)

    from jifen import cli

    cli.init_app(app)
    from jifen.platform.roles.authz import check_actions
    from jifen.platform.tenancy import check_url_objects

    check_url_objects(app)
    check_actions(app)
    return app


def _register_pages(app: Flask) -> None:
    from jifen.platform.accounts import views as accounts_views
    from jifen.platform.audit import views as audit_views
    from jifen.platform.files import views as files_views
    from jifen.platform.health import bp as health
    from jifen.platform.jobs import views as job_views
    from jifen.platform.staff import views as staff_views
    from jifen.platform.townships import views as county_views
    from jifen.tenants.activities import views as activity_views
    from jifen.tenants.cockpit import county_views as county_cockpit_views
    from jifen.tenants.cockpit import views as cockpit_views
    from jifen.tenants.dividends import views as dividend_views
    from jifen.tenants.funds import views as fund_views
    from jifen.tenants.honours import views as honour_views
    from jifen.tenants.households import roster_views
    from jifen.tenants.households import views as household_views
    from jifen.tenants.integrity import views as integrity_views
    from jifen.tenants.notifications import delivery_views
    from jifen.tenants.notifications import views as inbox_views
    from jifen.tenants.points import (
        apply_views,
        field_views,
        home_views,  # noqa: F401 - registers the villager's own home
        ledger_views,
        notice_views,
        period_views,
        review_views,
    )
    from jifen.tenants.rankings import views as ranking_views
    from jifen.tenants.rulebook import views as rulebook_views
    from jifen.tenants.store import order_views
    from jifen.tenants.store import views as store_views
    from jifen.tenants.trend import views as trend_views
    from jifen.tenants.villages import grid_views
    from jifen.tenants.villages import views as village_views

    for bp in (health, accounts_views.bp, accounts_views.lang_bp, county_views.bp, staff_views.bp,
               village_views.bp, grid_views.bp, household_views.bp, roster_views.bp, rulebook_views.bp, store_views.bp,
               apply_views.bp, field_views.bp, review_views.bp, notice_views.bp, ledger_views.bp, activity_views.bp, inbox_views.bp,
               order_views.bp, ranking_views.bp, cockpit_views.bp, honour_views.bp, dividend_views.bp, fund_views.bp,
               delivery_views.bp,
               period_views.bp, files_views.bp, audit_views.bp, job_views.bp, county_cockpit_views.bp,
               integrity_views.bp):
        app.register_blueprint(bp)
    app.register_blueprint(trend_views.bp)

    wants_slug = {}  # endpoint -> does its rule take a tenant_slug (cached: url_for is hot in templates)

    @app.url_defaults
    def _tenant_slug(endpoint, values):
        """Links inside a township's pages keep its slug without every url_for naming it."""
        if "tenant_slug" in values or not g.get("tenant_slug"):
            return
        if endpoint not in wants_slug:
            wants_slug[endpoint] = app.url_map.is_endpoint_expecting(endpoint, "tenant_slug")
        if wants_slug[endpoint]:
            values["tenant_slug"] = g.tenant_slug

    @app.get("/")
    def landing():
        return render_template("landing.html")

    landing.jifen_public = True

    import swagger_ui_bundle

    @app.get("/api/v1/swagger-ui/<path:filename>")
    def swagger_ui(filename):
        return send_from_directory(swagger_ui_bundle.swagger_ui_path, filename)

    swagger_ui.jifen_public = True


def _register_api(api) -> None:
    from jifen.platform.accounts.api import blp as account_api
    from jifen.platform.audit.api import blp as audit_api
    from jifen.platform.files.api import blp as files_api
    from jifen.platform.jobs.api import blp as jobs_api
    from jifen.platform.jobs.api import county_blp as county_jobs_api
    from jifen.platform.staff.api import blp as staff_api
    from jifen.platform.townships.api import blp as county_api
    from jifen.tenants.activities.api import blp as activities_api
    from jifen.tenants.cockpit.api import blp as cockpit_api
    from jifen.tenants.cockpit.county_api import blp as county_cockpit_api
    from jifen.tenants.dividends.api import blp as dividends_api
    from jifen.tenants.funds.api import blp as funds_api
    from jifen.tenants.honours.api import blp as honours_api
    from jifen.tenants.households.api import blp as households_api
    from jifen.tenants.households.roster_api import blp as roster_api
    from jifen.tenants.integrity.api import blp as integrity_api
    from jifen.tenants.notifications.api import blp as inbox_api
    from jifen.tenants.notifications.delivery_api import blp as delivery_api
    from jifen.tenants.points.api import blp as points_api
    from jifen.tenants.points.ledger_api import blp as ledger_api
    from jifen.tenants.points.notice_api import blp as notices_api
    from jifen.tenants.points.period_api import blp as periods_api
    from jifen.tenants.rankings.api import blp as rankings_api
    from jifen.tenants.rulebook.api import blp as rulebook_api
    from jifen.tenants.store.api import blp as store_api
    from jifen.tenants.store.order_api import blp as orders_api
    from jifen.tenants.villages.api import blp as villages_api
    from jifen.tenants.villages.grid_api import blp as grid_api

    for blp in (county_api, account_api, staff_api, villages_api, grid_api, households_api, roster_api, rulebook_api,
                store_api, points_api, notices_api, ledger_api, activities_api, inbox_api, orders_api, rankings_api,
                cockpit_api, honours_api, dividends_api, funds_api, delivery_api, periods_api, files_api, audit_api,
                jobs_api, county_jobs_api, county_cockpit_api, integrity_api):
        api.register_blueprint(blp)

