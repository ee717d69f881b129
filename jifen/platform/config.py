"""Configuration: defaults, then an optional file, then `JIFEN_*` environment variables.

The embedded default needs nothing: SQLite in `instance/`, Celery tasks run inline. Production
(`JIFEN_ENV=production`) refuses to start unless it has a secret key, PostgreSQL, Redis and the ID
number keys (`PRODUCTION_REQUIRED`).
"""
from __future__ import annotations

import json
import os
import secrets
from datetime import time
from pathlib import Path


class ConfigError(RuntimeError):
    """Raised at start-up when the configuration cannot run safely."""


# Environment variable -> Flask config key, for the names people actually type.
ENV_ALIASES = {
    "JIFEN_DATABASE_URL": "SQLALCHEMY_DATABASE_URI",
    "JIFEN_REDIS_URL": "REDIS_URL",
    "JIFEN_SECRET_KEY": "SECRET_KEY",
    "JIFEN_ENV": "JIFEN_ENV",
    "JIFEN_TASKS_EAGER": "TASKS_EAGER",
    "JIFEN_CONFIG_FILE": "CONFIG_FILE",
    "JIFEN_ID_KEYS": "ID_KEYS",
    "JIFEN_ID_HMAC_KEY": "ID_HMAC_KEY",
}
# kept as typed (a token or DSN that happens to parse as JSON stays a string)
RAW_STRINGS = ("SECRET_KEY", "SQLALCHEMY_DATABASE_URI", "REDIS_URL", "METRICS_TOKEN", "SENTRY_DSN", "ID_HMAC_KEY",
               "S3_BUCKET", "S3_PREFIX", "S3_ACCESS_KEY_ID", "S3_SECRET_ACCESS_KEY", "S3_ENDPOINT_URL", "S3_REGION")


def defaults(instance_path: str) -> dict:
    return {
        "JIFEN_ENV": "development",
        "SQLALCHEMY_DATABASE_URI": "sqlite:///" + os.path.join(instance_path, "jifen.db"),
        # pre-ping: a pooled connection that died with a database restart, a failover or
        # pg_terminate_backend is found at checkout, before the request or job has used it, and
        # the pool drops every connection as old as it (one round trip per checkout; see
        # decisions.md, Issue 11: job outbox and dead connections)
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_recycle": 1800, "pool_pre_ping": True},
        "REDIS_URL": None,
        # ID numbers at rest (platform/sealed.py): encryption keys, newest first (all decrypt), and
        # the HMAC key for equality; production must set both, elsewhere they derive from SECRET_KEY
        "ID_KEYS": None,
        "ID_HMAC_KEY": None,
        "TASKS_EAGER": None,  # None: eager unless a Redis URL is configured
        "BABEL_DEFAULT_LOCALE": "zh_CN",
        "BABEL_DEFAULT_TIMEZONE": "Asia/Shanghai",
        "LANGUAGES": ["zh_CN", "en"],
        "WTF_CSRF_TIME_LIMIT": None,  # the token lives as long as the session
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_REFRESH_EACH_REQUEST": False,  # the login session expires server-side anyway
        # proxies in front (nginx: 1) whose X-Forwarded-For/-Proto to trust; the per-IP login
        # limit needs the real client address, or every user shares nginx's
        "PROXY_COUNT": 0,
        "SESSION_LIFETIME_HOURS": 12,
        "TENANT_CACHE_SECONDS": 5,  # see townships/lookup.py
        "CREDENTIAL_CACHE": "auto",  # auto (Redis if configured, else off) | redis | local | off
        "PAGE_CACHE": "auto",  # the dashboards' fragments (platform/page_cache): auto | redis | local | off
        "SETUP_LINK_HOURS": 72,
        "IDEMPOTENCY_KEY_HOURS": 24,  # a repeated Idempotency-Key after this is a new request
        "OFFBOARD_GRACE_DAYS": 30,  # an offboarded township's rows are deleted this long after
        "NOTIFICATION_RETENTION_DAYS": 365,  # older delivered notifications are deleted nightly
        "LOGIN_LIMIT_PER_ACCOUNT": "5 per minute;20 per hour",
        "LOGIN_LIMIT_PER_IP": "30 per minute",
        "RATELIMIT_ENABLED": True,
        "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED": True,  # Redis down: limit per process, keep signing in
        "API_TITLE": "Jifen",
        "API_VERSION": "v1",
        "OPENAPI_VERSION": "3.0.3",
        "OPENAPI_URL_PREFIX": "/api/v1",
        "OPENAPI_JSON_PATH": "openapi.json",
        "OPENAPI_SWAGGER_UI_PATH": "docs",
        "OPENAPI_SWAGGER_UI_URL": "/api/v1/swagger-ui/",
        "MAX_CONTENT_LENGTH": 20 * 1024 * 1024,  # uploads (rosters, photos) stay under 20 MiB
        "JOB_VISIBILITY_TIMEOUT": 6 * 3600,  # longer than any job, or Redis redelivers it
        # per task name, [soft, hard] seconds replacing its kind's limits (workers/__init__.py), e.g.
        # {"jifen.nightly_ranking": [5400, 6000]} for a township too large for the hour
        "TASK_TIME_LIMITS": {},
        "BEAT_TICK_SECONDS": 300,
        # publishing a job (see jobs/outbox.py): one attempt with this connect timeout; after a
        # failure a process leaves publishing to the dispatcher for the backoff; the dispatcher
        # runs on the beat and sends the jobs left pending longer than the grace
        "BROKER_CONNECT_TIMEOUT": 2,
        "BROKER_BACKOFF_SECONDS": 30,
        "OUTBOX_DRAIN_SECONDS": 30,
        "OUTBOX_GRACE_SECONDS": 10,
        # notification delivery: the SMS and WeChat adapters post JSON to these endpoints (a gateway
        # in front of the provider); a channel with no URL writes its messages to the log instead
        "SMS_URL": None,
        "SMS_TOKEN": None,
        "WECHAT_URL": None,
        "WECHAT_TOKEN": None,
        "WECHAT_TEMPLATE_ID": "",
        "NOTIFY_LINK_BASE_URL": None,  # e.g. https://jifen.example.cn: links in texts become absolute
        "NOTIFY_HTTP_TIMEOUT": 5,  # seconds per provider call
        "NOTIFY_MAX_ATTEMPTS": 5,  # failures before a delivery is dead
        "NOTIFY_RETRY_BASE_SECONDS": 60,  # backoff: base, 2x base, 4x base … up to the max
        "NOTIFY_RETRY_MAX_SECONDS": 6 * 3600,
        "NOTIFY_SENDING_TIMEOUT": 600,  # a claim older than this (worker died) is sent again
        "NOTIFY_BATCH": 50,
        "NOTIFY_RUN_SECONDS": 50,  # one delivery task stops taking new batches after this
        "NOTIFY_MAX_AGE_HOURS": 72,  # older undelivered messages stay in the inbox only
        "NOTIFY_DELIVER_SECONDS": 60,  # the beat's delivery interval
        # texts to staff and county operators (digests, job alerts) wait for the end of these hours,
        # township time ("21:00-07:00"; empty: texts go at any hour); the inbox and banners show at once
        "STAFF_QUIET_HOURS": "21:00-07:00",
        # observability (docs/decisions.md, Issue 12: observability)
        "LOG_FORMAT": None,  # json | text; None: json in production, text in development
        "LOG_LEVEL": "INFO",
        "METRICS_TOKEN": None,  # GET /metrics needs "Authorization: Bearer <token>"; unset: /metrics is off
        "SENTRY_DSN": None,  # error tracking (Sentry SDK) only when set
        "SENTRY_ENVIRONMENT": None,  # default: JIFEN_ENV
        "SENTRY_TRACES_SAMPLE_RATE": 0.0,  # share of requests and jobs traced (0 to 1)
        # where new uploads' bytes go (platform/files/storage.py): db (in stored_files, the default)
        # or s3 (an S3-compatible bucket); reading follows each row, so switching never strands a file
        "FILE_STORE": "db",
        "S3_ENDPOINT_URL": None,  # e.g. https://minio.example.cn:9000; None: AWS itself
        "S3_BUCKET": None,
        "S3_REGION": "us-east-1",
        "S3_ACCESS_KEY_ID": None,  # None: boto3's own chain (instance role, ~/.aws, AWS_* variables)
        "S3_SECRET_ACCESS_KEY": None,
        "S3_PREFIX": "",  # keys are <prefix><tenant id>/<file id>
        "S3_ADDRESSING_STYLE": None,  # path | virtual | auto; None: path with an endpoint URL, else auto
        "S3_CONNECT_TIMEOUT": 3,  # seconds; an upload to an unreachable store fails fast (503)
        "S3_READ_TIMEOUT": 30,
        # Citus (platform/citus): JIFEN_CITUS=1 says the database is a distributed Citus one: new
        # townships are placed on the least-loaded worker, statements that fan out across
        # townships are watched; CITUS_FAN_OUT says what the watch does with one not on the list
        # (log | raise: the Citus test pass raises)
        "CITUS": False,
        "CITUS_FAN_OUT": "log",
    }


def _parse(value: str):
    """Environment values are strings; accept JSON literals (true, 5, [..]) where they parse."""
    try:
        return json.loads(value)
    except ValueError:
        return value


def load(app, test_config: dict | None = None) -> None:
    """Fill `app.config`: defaults < file < environment < test_config."""
    cfg = app.config
    cfg.update(defaults(app.instance_path))
    env = {k: v for k, v in os.environ.items() if k.startswith("JIFEN_")}
    file_path = env.get("JIFEN_CONFIG_FILE") or (test_config or {}).get("CONFIG_FILE")
    if file_path:
        if not Path(file_path).is_file():
            raise ConfigError(f"JIFEN_CONFIG_FILE points at {file_path!r}, which does not exist.")
        cfg.from_pyfile(file_path)
    for name, raw in env.items():
        key = ENV_ALIASES.get(name, name[len("JIFEN_"):])
        cfg[key] = raw if key in RAW_STRINGS else _parse(raw)
    if test_config:
        cfg.update(test_config)
    _finish(app)


# What production refuses to start without: (config key, its variable, what to set it to). The
# README's "Running for real" sets each (tests/test_readme_production.py).
PRODUCTION_REQUIRED = (
    ("SECRET_KEY", "JIFEN_SECRET_KEY", "a long random string"),
    ("SQLALCHEMY_DATABASE_URI", "JIFEN_DATABASE_URL", "a postgresql+psycopg:// URL"),
    ("REDIS_URL", "JIFEN_REDIS_URL", "a redis:// URL"),
    ("ID_KEYS", "JIFEN_ID_KEYS", "a JSON list of Fernet keys, newest first"),
    ("ID_HMAC_KEY", "JIFEN_ID_HMAC_KEY", "a long random string, never changed"),
)


def _finish(app) -> None:
    cfg = app.config
    production = cfg["JIFEN_ENV"] == "production"
    if production:
        missing = [f"{variable} ({what})" for key, variable, what in PRODUCTION_REQUIRED
                   if not (str(cfg.get(key) or "").startswith("postgresql") if key == "SQLALCHEMY_DATABASE_URI"
                           else cfg.get(key))]
        if missing:
            raise ConfigError("Production settings are incomplete; set " + ", ".join(missing) + ".")
        cfg["SESSION_COOKIE_SECURE"] = True
        cfg["REMEMBER_COOKIE_SECURE"] = True
        cfg["PREFERRED_URL_SCHEME"] = "https"
    elif not cfg.get("SECRET_KEY"):
        cfg["SECRET_KEY"] = _instance_secret(app.instance_path)
    _observability(cfg, production)
    _caches(cfg)
    _staff_quiet_hours(cfg)
    _id_keys(cfg)
    _file_store(cfg)
    url = cfg["SQLALCHEMY_DATABASE_URI"]
    if url.startswith("postgresql://"):
        cfg["SQLALCHEMY_DATABASE_URI"] = url = "postgresql+psycopg://" + url[len("postgresql://"):]
    if url.startswith("sqlite:"):
        os.makedirs(app.instance_path, exist_ok=True)
    _citus(cfg, url)
    if cfg["TASKS_EAGER"] is None:
        cfg["TASKS_EAGER"] = not cfg.get("REDIS_URL")
    cfg["RATELIMIT_STORAGE_URI"] = cfg.get("REDIS_URL") or "memory://"
    cfg["CELERY"] = {
        "broker_url": cfg.get("REDIS_URL") or "memory://",
        "result_backend": cfg.get("REDIS_URL") or None,
        "task_always_eager": bool(cfg["TASKS_EAGER"]),
        "task_eager_propagates": True,
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "broker_transport_options": {"visibility_timeout": cfg["JOB_VISIBILITY_TIMEOUT"]},
        "result_backend_transport_options": {"visibility_timeout": cfg["JOB_VISIBILITY_TIMEOUT"]},
        "timezone": "UTC",
        "enable_utc": True,
        "broker_connection_retry_on_startup": True,
    }


def _staff_quiet_hours(cfg) -> None:
    """STAFF_QUIET_HOURS "HH:MM-HH:MM" becomes STAFF_QUIET, a (start, end) pair of times, or None."""
    raw = str(cfg.get("STAFF_QUIET_HOURS") or "").strip()
    if not raw:
        cfg["STAFF_QUIET"] = None
        return
    try:
        start, end = (time.fromisoformat(part.strip()) for part in raw.split("-"))
    except ValueError:
        raise ConfigError(f"JIFEN_STAFF_QUIET_HOURS must look like 21:00-07:00 (or be empty), not {raw!r}.") from None
    cfg["STAFF_QUIET"] = None if start == end else (start, end)


CACHE_MODES = ("auto", "redis", "local", "off")
FAN_OUT_MODES = ("log", "raise")


def _citus(cfg, url: str) -> None:
    cfg["CITUS"] = bool(cfg["CITUS"])
    if cfg["CITUS"] and not url.startswith("postgresql"):
        raise ConfigError("JIFEN_CITUS=1 needs JIFEN_DATABASE_URL to be the Citus coordinator's postgresql:// URL.")
    if cfg["CITUS_FAN_OUT"] not in FAN_OUT_MODES:
        raise ConfigError(f"JIFEN_CITUS_FAN_OUT must be one of {', '.join(FAN_OUT_MODES)}.")


def _caches(cfg) -> None:
    """The credential and page caches' settings (platform/versions): a mode, and Redis for "redis"."""
    for key in ("CREDENTIAL_CACHE", "PAGE_CACHE"):
        if cfg[key] not in CACHE_MODES:
            raise ConfigError(f"JIFEN_{key} must be one of {', '.join(CACHE_MODES)}, not {cfg[key]!r}.")
        if cfg[key] == "redis" and not cfg.get("REDIS_URL"):
            raise ConfigError(f"JIFEN_{key}=redis needs JIFEN_REDIS_URL.")


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def _observability(cfg, production: bool) -> None:
    """Logging, metrics and error-tracking settings: checked at start, each error names its variable."""
    if cfg.get("LOG_FORMAT") is None:
        cfg["LOG_FORMAT"] = "json" if production else "text"
    if cfg["LOG_FORMAT"] not in ("json", "text"):
        raise ConfigError(f"JIFEN_LOG_FORMAT must be json or text, not {cfg['LOG_FORMAT']!r}.")
    cfg["LOG_LEVEL"] = str(cfg.get("LOG_LEVEL") or "INFO").upper()
    if cfg["LOG_LEVEL"] not in LOG_LEVELS:
        raise ConfigError(f"JIFEN_LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, not {cfg['LOG_LEVEL']!r}.")
    token = cfg["METRICS_TOKEN"] = cfg.get("METRICS_TOKEN") or None  # empty (compose's default): off
    if token is not None and (not isinstance(token, str) or len(token) < 16):
        raise ConfigError("JIFEN_METRICS_TOKEN must be a string of at least 16 characters "
                          "(e.g. python3 -c \"import secrets; print(secrets.token_urlsafe(32))\").")
    dsn = cfg.get("SENTRY_DSN") or None
    cfg["SENTRY_DSN"] = dsn
    if dsn is not None:
        from sentry_sdk.utils import BadDsn, Dsn

        try:
            Dsn(str(dsn))
        except BadDsn as exc:
            raise ConfigError(f"JIFEN_SENTRY_DSN is not a Sentry DSN ({exc}); unset it to turn error tracking off.")
    rate = cfg.get("SENTRY_TRACES_SAMPLE_RATE")
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate <= 1:
        raise ConfigError(f"JIFEN_SENTRY_TRACES_SAMPLE_RATE must be a number from 0 to 1, not {rate!r}.")
    cfg["SENTRY_ENVIRONMENT"] = cfg.get("SENTRY_ENVIRONMENT") or cfg["JIFEN_ENV"]


def _id_keys(cfg) -> None:
    """ID number keys (platform/sealed.py): checked; outside production, derived from the secret key
    when not configured (so an app restarted with the same secret key reads what it wrote)."""
    from jifen.platform.sealed import check_keys, derived_key

    try:
        cfg["ID_KEYS"] = check_keys(cfg.get("ID_KEYS"))
    except ValueError as e:
        raise ConfigError(str(e)) from e
    if not cfg["ID_KEYS"]:
        cfg["ID_KEYS"] = [derived_key(cfg["SECRET_KEY"], "id-keys")]
    if not cfg.get("ID_HMAC_KEY"):
        cfg["ID_HMAC_KEY"] = derived_key(cfg["SECRET_KEY"], "id-hmac")


def _file_store(cfg) -> None:
    """Where uploads go (platform/files/storage.py): checked at start, each error names its variable."""
    store = str(cfg.get("FILE_STORE") or "db").lower()
    if store not in ("db", "s3"):
        raise ConfigError(f"JIFEN_FILE_STORE must be db or s3, not {cfg.get('FILE_STORE')!r}.")
    cfg["FILE_STORE"] = store
    cfg["S3_REGION"] = cfg.get("S3_REGION") or "us-east-1"  # empty (compose's default): the usual one
    prefix = str(cfg.get("S3_PREFIX") or "").strip("/")
    cfg["S3_PREFIX"] = prefix + "/" if prefix else ""
    if store == "s3" and not cfg.get("S3_BUCKET"):
        raise ConfigError("JIFEN_FILE_STORE=s3 needs JIFEN_S3_BUCKET (the bucket's name; create it first, "
                          "with versioning on: see deploy/README.md, \"Uploads in object storage\").")
    if bool(cfg.get("S3_ACCESS_KEY_ID")) != bool(cfg.get("S3_SECRET_ACCESS_KEY")):
        raise ConfigError("Set both JIFEN_S3_ACCESS_KEY_ID and JIFEN_S3_SECRET_ACCESS_KEY, or neither "
                          "(then boto3's own credentials are used: an instance role, ~/.aws, AWS_* variables).")
    style = cfg.get("S3_ADDRESSING_STYLE")
    if style is None:
        style = "path" if cfg.get("S3_ENDPOINT_URL") else "auto"
    if style not in ("path", "virtual", "auto"):
        raise ConfigError(f"JIFEN_S3_ADDRESSING_STYLE must be path, virtual or auto, not {style!r}.")
    cfg["S3_ADDRESSING_STYLE"] = style


def _instance_secret(instance_path: str) -> str:
    """Development only: a random key kept in instance/ so sessions survive a restart."""
    os.makedirs(instance_path, exist_ok=True)
    path = Path(instance_path) / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()
