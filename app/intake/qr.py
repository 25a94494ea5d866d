"""QR codes per building (我要上报): each opens the public report page for that building, through a
token signed with the app's secret, so a code cannot be made to point at another place."""

from __future__ import annotations

import segno
from itsdangerous import BadSignature, URLSafeSerializer

SALT = "intake-building-qr"


def _serializer(secret: str) -> URLSafeSerializer:
    return URLSafeSerializer(secret, salt=SALT)


def sign(secret: str, building_code: str) -> str:
    return _serializer(secret).dumps(building_code)


def verify(secret: str, token: str) -> str | None:
    """The building code the token was signed for; None when it was not signed by us."""
    try:
        code = _serializer(secret).loads(token)
    except BadSignature:
        return None
    return code if isinstance(code, str) else None


def svg(url: str) -> str:
    """The QR code of ``url`` as inline SVG, with high error correction (a soiled code still reads)."""
    return str(segno.make(url, error="h", micro=False).svg_inline(scale=4, border=2))
