"""CSRF: an HMAC-signed double-submit cookie, and a check of where an unsafe request comes from.

The token's format is Litestar's (``litestar.middleware.csrf``): 64 random hex digits followed by their
HMAC-SHA256 under the settings secret, in hex. Cookies issued before this module replaced Litestar's
middleware keep working, and so do tokens minted with ``generate_csrf_token`` (tests/bench/run.py).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from litestar.datastructures import Cookie
from litestar.exceptions import PermissionDeniedException

from server.settings import Settings

CSRF_COOKIE = "afterglow_csrf"
CSRF_HEADER = "X-CSRFToken"
# The name of the hidden field Litestar's ``csrf_input`` template global writes into every form.
CSRF_FORM_FIELD = "_csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_RANDOM_HEX = 64
CSRF_REFUSED = "CSRF token verification failed"
CROSS_SITE_REFUSED = "Cross-site request refused"


class CsrfTokens:
    """Mint and check tokens signed with the settings secret."""

    def __init__(self, settings: Settings) -> None:
        # Keyed once: copying a keyed HMAC is cheaper than keying a new one on every request.
        self._keyed = hmac.new(settings.secret_key.encode(), digestmod=hashlib.sha256)
        # Not HttpOnly: the page's scripts read it to echo it in X-CSRFToken.
        self._cookie_secure = settings.secure_cookies

    def _signature(self, random_part: str) -> str:
        mac = self._keyed.copy()
        mac.update(random_part.encode())
        return mac.hexdigest()

    def new(self) -> str:
        random_part = secrets.token_hex(_RANDOM_HEX // 2)
        return random_part + self._signature(random_part)

    def is_signed(self, token: str) -> bool:
        if len(token) <= _RANDOM_HEX:
            return False
        # As bytes: compare_digest refuses str with characters beyond ASCII, which a forged cookie may hold.
        return hmac.compare_digest(token[_RANDOM_HEX:].encode(), self._signature(token[:_RANDOM_HEX]).encode())

    def submitted_matches_cookie(self, submitted: str, cookie: str) -> bool:
        """The double-submit check: the same token in the request and the cookie, and signed by us.

        Equal strings, one of them signed, is what checking both signatures and comparing the random parts
        amounts to (the signature is a function of the random part), for one HMAC instead of two.
        """
        return hmac.compare_digest(submitted.encode(), cookie.encode()) and self.is_signed(cookie)

    def cookie_header(self, token: str) -> bytes:
        cookie = Cookie(
            key=CSRF_COOKIE,
            value=token,
            path="/",
            secure=self._cookie_secure,
            httponly=False,
            samesite="lax",
        )
        return cookie.to_header(header="").encode("latin-1")


def refuse_cross_site(allowed_origin: str, scheme: str, host: str, origin: str | None, fetch_site: str | None) -> None:
    """Refuse an unsafe request that a browser says comes from another site.

    Browsers send ``Origin`` on every unsafe request they make, and ``Sec-Fetch-Site`` where supported.
    Clients that send neither (scripts, the test client) still need the CSRF token.
    """
    if fetch_site is not None and fetch_site not in {"same-origin", "none"}:
        raise PermissionDeniedException(CROSS_SITE_REFUSED)
    # Under `Referrer-Policy: no-referrer` browsers send `Origin: null` even on same-site form posts, so
    # "null" proves nothing either way: Sec-Fetch-Site and the CSRF token decide.
    if origin not in (None, "null") and origin not in {allowed_origin, f"{scheme}://{host}"}:
        raise PermissionDeniedException(CROSS_SITE_REFUSED)
