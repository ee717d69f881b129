"""docker-compose.yml's structure (Docker does not run in CI, so its file is read here): the services
and their order, a health check on every long-running one, no default database password, a stop
grace longer than gunicorn's graceful timeout, exactly one beat, nginx in front with gzip and a long
cache for versioned static files, pinned images."""
from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
import yaml
from flask import url_for

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
SERVICES = COMPOSE["services"]
JOBS = {"migrate"}  # one-shot: runs, exits; its health is its exit code


def _seconds(duration: str) -> float:
    total = 0.0
    for amount, unit in re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", duration):
        total += float(amount) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[unit]
    return total


def _default(value: str) -> str:
    """`${NAME:-default}` -> default (what compose uses when NAME is unset)."""
    m = re.fullmatch(r"\$\{\w+:-([^}]*)\}", str(value))
    return m[1] if m else str(value)


def _command(service: dict) -> str:
    cmd = service.get("command", "")
    return " ".join(cmd) if isinstance(cmd, list) else cmd


def test_the_stack_has_its_services_and_starts_in_order():
    assert set(SERVICES) == {"postgres", "redis", "migrate", "web", "worker", "notify-worker", "beat", "nginx"}
    for name in ("web", "worker", "notify-worker", "beat"):
        assert SERVICES[name]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
        assert SERVICES[name]["depends_on"]["redis"] == {"condition": "service_healthy"}
    assert SERVICES["migrate"]["depends_on"]["postgres"] == {"condition": "service_healthy"}
    assert SERVICES["nginx"]["depends_on"]["web"] == {"condition": "service_healthy"}


@pytest.mark.parametrize("name", sorted(set(SERVICES) - JOBS))
def test_every_long_running_service_has_a_health_check(name):
    check = SERVICES[name].get("healthcheck") or {}
    assert not check.get("disable"), name
    assert check.get("test") and check.get("interval") and check.get("retries"), name
    assert SERVICES[name].get("restart") == "unless-stopped", name


def test_migrate_is_a_one_shot_job():
    job = SERVICES["migrate"]
    assert _command(job) == "jifen db upgrade" and job["restart"] == "no"


def test_the_database_password_has_no_default_and_is_required():
    text = (ROOT / "docker-compose.yml").read_text(encoding="utf-8")
    uses = re.findall(r"\$\{POSTGRES_PASSWORD([^}]*)\}", text)
    assert len(uses) >= 2  # the database's own setting and the app's URL
    assert all(u.startswith(":?") for u in uses), uses  # compose refuses to start without it
    assert SERVICES["postgres"]["environment"]["POSTGRES_PASSWORD"].startswith("${POSTGRES_PASSWORD:?")
    assert "${POSTGRES_PASSWORD:?" in SERVICES["web"]["environment"]["JIFEN_DATABASE_URL"]
    assert "${JIFEN_SECRET_KEY:?" in SERVICES["web"]["environment"]["JIFEN_SECRET_KEY"]


def test_web_is_given_longer_to_stop_than_gunicorns_graceful_timeout():
    graceful = float(_default(SERVICES["web"]["environment"]["JIFEN_GRACEFUL_TIMEOUT"]))
    conf = (ROOT / "deploy" / "gunicorn.conf.py").read_text(encoding="utf-8")
    assert re.search(r'graceful_timeout = _env_int\("JIFEN_GRACEFUL_TIMEOUT", (\d+)\)', conf)[1] == f"{graceful:g}"
    assert _seconds(SERVICES["web"]["stop_grace_period"]) > graceful
    assert _seconds(SERVICES["nginx"]["stop_grace_period"]) > graceful  # it drains requests in flight too
    assert _seconds(SERVICES["worker"]["stop_grace_period"]) >= 60


def test_exactly_one_beat():
    beats = [n for n, s in SERVICES.items() if re.search(r"\bcelery\b.*\bbeat\b", _command(s))]
    assert beats == ["beat"]
    assert SERVICES["beat"]["deploy"]["replicas"] == 1
    assert "scale" not in SERVICES["beat"]
    workers = [n for n, s in SERVICES.items() if re.search(r"\bcelery\b.*\bworker\b", _command(s))]
    assert sorted(workers) == ["notify-worker", "worker"]  # nightly jobs apart from deliveries (issue 12)
    for name in workers:
        assert "--beat" not in _command(SERVICES[name]) and " -B" not in _command(SERVICES[name])
    queues = {n: re.search(r"-Q (\S+)", _command(SERVICES[n])).group(1).split(",") for n in workers}
    assert sorted(q for qs in queues.values() for q in qs) == ["celery", "nightly", "notify"]  # each queue once


def test_nginx_fronts_gunicorn_and_only_nginx_is_published():
    assert [n for n, s in SERVICES.items() if s.get("ports")] == ["nginx"]
    assert all(p.endswith(":80") for p in SERVICES["nginx"]["ports"])
    assert SERVICES["nginx"]["build"]["dockerfile"] == "deploy/nginx.Dockerfile"
    dockerfile = (ROOT / "deploy" / "nginx.Dockerfile").read_text(encoding="utf-8")
    assert "COPY jifen/static /srv/jifen/static" in dockerfile
    assert "COPY deploy/nginx.compose.conf /etc/nginx/conf.d/" in dockerfile
    conf = (ROOT / "deploy" / "nginx.compose.conf").read_text(encoding="utf-8")
    assert re.search(r"^\s*gzip on;", conf, re.M) and "text/css" in conf and "application/javascript" in conf
    static = re.search(r"location /static/ \{(.*?)\}", conf, re.S)[1]
    assert "alias /srv/jifen/static/;" in static and "$jifen_static_cache" in static
    assert re.search(r'default\s+"public, max-age=31536000, immutable";', conf)
    assert "server web:8000" in conf and "proxy_pass http://jifen_web;" in conf
    assert "location = /nginx-health" in conf
    # Prometheus scrapes web:8000 inside the network; nginx gives the outside no /metrics
    assert re.search(r"location = /metrics \{\s*(return 404|deny all);\s*\}", conf)


def test_every_worker_serves_its_metrics_on_a_port_of_its_own():
    """The delivery counters live in the notify worker's processes: unscraped if it had no port."""
    workers = [n for n, s in SERVICES.items() if re.search(r"\bcelery\b.*\bworker\b", _command(s))]
    ports = {n: str(SERVICES[n]["environment"]["JIFEN_WORKER_METRICS_PORT"]) for n in workers}
    assert sorted(ports) == ["notify-worker", "worker"]
    defaults = {n: re.fullmatch(r"\$\{\w+:-(\d+)\}", p)[1] for n, p in ports.items()}
    assert len(set(defaults.values())) == 2, defaults
    assert len({re.fullmatch(r"\$\{(\w+):-\d+\}", p)[1] for p in ports.values()}) == 2  # set apart
    assert not any(SERVICES[n].get("ports") for n in workers)  # never published


def test_every_image_is_pinned():
    images = [s["image"] for s in SERVICES.values() if "build" not in s]
    assert images and all(re.fullmatch(r"[\w./-]+:\d+\.\d+(\.\d+)?-\w+(@sha256:[0-9a-f]{64})?", i) for i in images), images
    for dockerfile in ("Dockerfile", "nginx.Dockerfile"):
        base = re.search(r"^FROM (\S+)", (ROOT / "deploy" / dockerfile).read_text(encoding="utf-8"), re.M)[1]
        assert re.fullmatch(r"[\w./-]+:\d+\.\d+\.\d+(-[\w-]+)?(@sha256:[0-9a-f]{64})?", base), base


def test_pages_link_static_files_by_content_hash(app, client):
    """What makes nginx's year-long cache safe: a release that changes jifen.css changes its URL."""
    digest = hashlib.sha256((ROOT / "jifen" / "static" / "jifen.css").read_bytes()).hexdigest()[:12]
    page = client.get("/county/login").get_data(as_text=True)
    url = f"/static/jifen.css?v={digest}"
    assert f'href="{url}"' in page or f'href="http://jifen.test{url}"' in page
    assert client.get(url).status_code == 200
    with app.test_request_context():
        assert "?v=" not in url_for("static", filename="no-such-file.css")
