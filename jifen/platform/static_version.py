"""Static file URLs carry their content's hash (`/static/jifen.css?v=3f2a9c01b7de`), so browsers
may keep them a year and a release that changes a file changes its URL: nobody keeps yesterday's
CSS. nginx in front (deploy/nginx.compose.conf) gives a year to any `v`; the app itself (the
embedded default, gunicorn alone) gives it only to the `v` that is the file's own hash, so a page
of one release asking a server of another for its file during a rolling deploy never pins the
wrong content for a year."""
from __future__ import annotations

import hashlib
from pathlib import Path

from flask import Flask, current_app

VERSIONED = "public, max-age=31536000, immutable"  # as deploy/nginx.compose.conf
UNVERSIONED = "public, max-age=3600"  # no `v`: as nginx, an hour
MISMATCHED = "no-cache"  # a `v` that is not this file's hash: kept, but asked again every time


def init_app(app: Flask) -> None:
    folder = Path(app.static_folder)
    digests: dict[str, str | None] = {}

    def digest(filename: str) -> str | None:
        if filename not in digests:  # the files do not change while the process runs
            path = (folder / filename).resolve()
            ok = path.is_file() and folder.resolve() in path.parents
            digests[filename] = hashlib.sha256(path.read_bytes()).hexdigest()[:12] if ok else None
        return digests[filename]

    app.extensions["static_version"] = digest

    @app.url_defaults
    def _static_version(endpoint: str, values: dict) -> None:
        if endpoint == "static" and "v" not in values and values.get("filename"):
            version = digest(values["filename"])
            if version:
                values["v"] = version


def cache_control(filename: str, version: str | None) -> str:
    """The Cache-Control of a static file asked for with `?v=version`."""
    if not version:
        return UNVERSIONED
    return VERSIONED if version == current_app.extensions["static_version"](filename) else MISMATCHED
