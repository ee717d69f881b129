"""Where a closed year is read: the links the period pages and the period API both give."""
from __future__ import annotations

from flask import g, url_for
from werkzeug.routing import BuildError


def year_url(kind: str, period: int) -> str:
    """The rankings or honours page of a year: its endpoint if the app has it, else its path."""
    try:
        return url_for(f"{kind}.index", period=period)
    except BuildError:
        return f"/t/{g.tenant_slug}/{kind}/?period={period}"
