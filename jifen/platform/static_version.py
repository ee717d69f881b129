"""Static file URLs carry their content's hash (`/static/jifen.css?v=3f2a9c01b7de`), so nginx can
let browsers cache them for a year (deploy/nginx.compose.conf: `immutable` when `v` is present)
and a release that changes a file changes its URL: nobody keeps yesterday's CSS."""
from __future__ import annotations

import hashlib
from pathlib import Path

from flask import Flask


def init_app(app: Flask) -> None:
    folder = Path(app.static_folder)
    digests: dict[str, str | None] = {}

    def digest(filename: str) -> str | None:
        if filename not in digests:  # the files do not change while the process runs
            path = (folder / filename).resolve()
            ok = path.is_file() and folder.resolve() in path.parents
            digests[filename] = hashlib.sha256(path.read_bytes()).hexdigest()[:12] if ok else None
        return digests[filename]

    @app.url_defaults
    def _static_version(endpoint: str, values: dict) -> None:
        if endpoint == "static" and "v" not in values and values.get("filename"):
            version = digest(values["filename"])
            if version:
                values["v"] = version
