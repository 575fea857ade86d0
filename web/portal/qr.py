"""QR codes for authenticator apps, rendered on the server as an SVG data URI (no script)."""
from __future__ import annotations

import base64

import qrcode
from qrcode.image.svg import SvgPathFillImage


def qr_data_uri(text: str) -> str:
    image = qrcode.make(text, image_factory=SvgPathFillImage, box_size=10, border=4)
    svg = image.to_string(encoding="unicode").encode()
    return "data:image/svg+xml;base64," + base64.b64encode(svg).decode()
