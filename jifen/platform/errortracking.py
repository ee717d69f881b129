"""Optional error tracking with the Sentry SDK: on when `SENTRY_DSN` is set, off (not even
initialised) when it is not. Events carry the request id and the job ids of the log lines (as
tags), so a Sentry issue leads to the logs of the same request or job. No personal data is sent
(`send_default_pii=False`: no cookies, no user, no client address)."""
from __future__ import annotations

from jifen.platform import logs


def _tag_ids(event, hint):
    ids = logs.context()
    if ids:
        event.setdefault("tags", {}).update(ids)
    return event


def init_app(app) -> bool:
    """Start the SDK if configured; returns whether it is on."""
    dsn = app.config.get("SENTRY_DSN")
    if not dsn:
        return False
    import sentry_sdk
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.flask import FlaskIntegration

    sentry_sdk.init(
        dsn=dsn,
        environment=app.config["SENTRY_ENVIRONMENT"],
        traces_sample_rate=float(app.config["SENTRY_TRACES_SAMPLE_RATE"]),
        send_default_pii=False,
        integrations=[FlaskIntegration(), CeleryIntegration()],
        before_send=_tag_ids,
    )
    return True
