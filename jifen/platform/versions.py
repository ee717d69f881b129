"""Version counters shared by all processes, for caches that must let go the moment something they
remember changes: a writer bumps a scope's version after its commit, and a reader keys what it
remembers by the version it read first (credential_cache, page_cache).

Versions live in Redis when one is configured; without Redis (the embedded default may run several
gunicorn workers) there is no shared place for them and such caches are off, unless a cache's
setting says "local": one process (the tests).
"""
from __future__ import annotations

import threading

from flask import current_app


class LocalVersions:
    """Versions in this process only: correct when there is one process (tests)."""

    def __init__(self):
        self._versions: dict[str, int] = {}
        self._lock = threading.Lock()

    def get(self, scope: str) -> int:
        return self._versions.get(scope, 0)

    def bump(self, scope: str) -> None:
        with self._lock:
            self._versions[scope] = self._versions.get(scope, 0) + 1


class RedisVersions:
    def __init__(self, url: str, prefix: str):
        import redis

        self.redis = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self._prefix = prefix

    def key(self, scope: str) -> str:
        return f"{self._prefix}:{scope}"

    def get(self, scope: str) -> int:
        return int(self.redis.get(self.key(scope)) or 0)

    def bump(self, scope: str) -> None:
        self.redis.incr(self.key(scope))


def store(setting: str, prefix: str) -> LocalVersions | RedisVersions | None:
    """The version store a cache's setting asks for: auto (Redis if configured, else off), redis,
    local or off (None)."""
    chosen = current_app.config[setting]
    if chosen == "auto":
        chosen = "redis" if current_app.config.get("REDIS_URL") else "off"
    if chosen == "redis":
        return RedisVersions(current_app.config["REDIS_URL"], prefix)
    return LocalVersions() if chosen == "local" else None
