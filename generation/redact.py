"""Credentials out of anything written: a URL's user:password part and key-like query values.

Users pass endpoints such as `http://user:KEY@host/v1` or `...?api_key=KEY`; the URL is worth
recording (which server made the data), its secret never is.
"""
from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

_SECRET_QUERY = re.compile(r"key|token|secret|password|auth|sig", re.IGNORECASE)
REDACTED = "REDACTED"


def redact_url(url: str | None) -> str | None:
    """The URL with any userinfo removed and secret-looking query values replaced."""
    if not url:
        return url
    try:
        parts = urlsplit(url)
    except ValueError:
        return REDACTED
    netloc = parts.netloc.rsplit("@", 1)[-1]
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(k, REDACTED if _SECRET_QUERY.search(k) else v) for k, v in pairs])
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
