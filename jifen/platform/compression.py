"""Responses compressed by the app itself (Flask-Compress): pages, API JSON and static files.

A villager's phone on a weak network pays for every byte (issue 14: a page was 31-43 KB, 70 % of
it an uncompressed stylesheet). The embedded default (./scripts/serve, gunicorn without nginx) has
nothing in front of it, so the app compresses; behind nginx (deploy/nginx.compose.conf) the pages
arrive already compressed and nginx passes them on (it never compresses a response twice), while
it compresses the static files it serves itself. docs/decisions.md, "Issue 14".

Brotli where the browser offers it (Chromium does on HTTPS only), gzip otherwise, for whole and
streamed bodies alike (static files are streamed: Flask-Compress's default leaves gzip out of the
streamed ones, and a browser on plain HTTP would get deflate). Compressing a page with a CSRF token
next to text a stranger controls is what BREACH exploits; the session cookie is SameSite=Lax, so a
foreign site cannot make the victim's browser repeat signed-in requests in bulk.
"""
from __future__ import annotations

from flask import Flask, Response
from flask_compress import Compress

ALGORITHMS = ["br", "gzip"]  # in order of preference when the browser accepts both


def init_app(app: Flask) -> None:
    """Register first among the after-request hooks so that compression runs last (Flask runs them
    in reverse), on the headers every other hook has set."""
    for key, value in (("COMPRESS_ALGORITHM", ALGORITHMS), ("COMPRESS_ALGORITHM_STREAMING", ALGORITHMS),
                       ("COMPRESS_LEVEL", 6), ("COMPRESS_BR_LEVEL", 5), ("COMPRESS_MIN_SIZE", 500)):
        app.config.setdefault(key, value)
    app.config["COMPRESS_REGISTER"] = False  # registered below, with the one exception
    compress = Compress(app)

    @app.after_request
    def _compress(response: Response) -> Response:
        # a range of a file (206) is bytes of the file as it is: Flask-Compress would compress the
        # slice and leave a Content-Range that no longer matches
        return response if response.status_code == 206 else compress.after_request(response)
