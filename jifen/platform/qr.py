"""QR codes as inline SVG (segno: pure Python, no image files), for anything printed or shown that
a phone should open or a scanner read: household cards, printed notices, honour-wall posters."""
from __future__ import annotations

import segno


def qr_svg(text: str, scale: int = 3) -> str:
    """An inline SVG of the QR code of `text` (error correction M: survives a crease or a smudge)."""
    return segno.make(text, error="m").svg_inline(scale=scale, border=2, omitsize=True)
